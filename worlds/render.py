"""`render(scenes)`: a pure, batched function from scenes to pixels.

The same scenes give the same bytes on every call and every machine: the kernels use
only IEEE arithmetic (no fast-math, no randomness), and trigonometry is done once per
object in float64. Scenes of both views may be mixed in one batch; all must share one
image size, since the result is one array.

`render_layers(scenes)` also returns what the renderer knows besides colour: instance
masks, depth (3D), each object's 2D bounding box and its count of visible pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .render2d import render_2d
from .render3d import render_3d
from .scene import MAX_OBJECTS, Scene


@dataclass(frozen=True)
class Rendering:
    """Everything one call of the renderer produces, batched over B scenes."""

    images: np.ndarray  # uint8 (B, H, W, 3)
    masks: np.ndarray  # int16 (B, H, W): index of the object seen at each pixel, -1 for none
    depth: np.ndarray  # float32 (B, H, W): distance along the camera axis (3D); NaN in 2D
    boxes: np.ndarray  # int32 (B, MAX_OBJECTS, 4): (row0, col0, row1, col1) of visible pixels,
    # end-exclusive; all -1 for an object that is absent or hidden
    visible: np.ndarray  # int32 (B, MAX_OBJECTS): number of pixels each object owns in the mask


def _check_batch(scenes) -> list[Scene]:
    if isinstance(scenes, Scene):
        raise TypeError("render() takes a list of scenes; wrap a single scene as [scene]")
    scenes = list(scenes)
    if not scenes:
        raise ValueError("render() needs at least one scene")
    for i, s in enumerate(scenes):
        if not isinstance(s, Scene):
            raise TypeError(f"scenes[{i}] is a {type(s).__name__}, not a Scene")
    sizes = {s.image_size for s in scenes}
    if len(sizes) > 1:
        raise ValueError(f"all scenes in a batch must share one image_size, got {sorted(sizes)}")
    return scenes


def _render(scenes: list[Scene], layers: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Dispatch each view to its renderer and put the results back in batch order.

    Without `layers` only the images are wanted, and the 2D kernel skips its masks.
    """
    H, W = scenes[0].image_size
    B = len(scenes)
    views = [s.view for s in scenes]
    if all(v == "2d" for v in views):
        images, masks = render_2d(scenes, with_masks=layers)
        return images, masks, np.full((B, H, W), np.nan, np.float32) if layers else None
    if all(v == "3d" for v in views):
        return render_3d(scenes)
    images = np.empty((B, H, W, 3), np.uint8)
    masks = np.empty((B, H, W), np.int16) if layers else None
    depth = np.empty((B, H, W), np.float32) if layers else None
    for view in ("2d", "3d"):
        idx = [i for i, v in enumerate(views) if v == view]
        part_images, part_masks, part_depth = _render([scenes[i] for i in idx], layers)
        images[idx] = part_images
        if layers:
            masks[idx], depth[idx] = part_masks, part_depth
    return images, masks, depth


def render(scenes: list[Scene]) -> np.ndarray:
    """Render a list of scenes to a uint8 array (B, H, W, 3)."""
    return _render(_check_batch(scenes), layers=False)[0]


def render_layers(scenes: list[Scene]) -> Rendering:
    """Render with instance masks, depth, bounding boxes and visible-pixel counts."""
    scenes = _check_batch(scenes)
    images, masks, depth = _render(scenes, layers=True)
    visible, boxes = _mask_statistics(masks, MAX_OBJECTS)
    return Rendering(images, masks, depth, boxes, visible)


@numba.njit(parallel=True, cache=True)
def _mask_statistics(masks, num_slots):
    """Visible-pixel counts (B, K) and pixel bounding boxes (B, K, 4) from instance masks."""
    B, H, W = masks.shape
    counts = np.zeros((B, num_slots), np.int32)
    boxes = np.full((B, num_slots, 4), -1, np.int32)
    for b in numba.prange(B):
        for i in range(H):
            for j in range(W):
                k = masks[b, i, j]
                if k < 0:
                    continue
                if counts[b, k] == 0:
                    boxes[b, k, 0], boxes[b, k, 1], boxes[b, k, 2], boxes[b, k, 3] = i, j, i + 1, j + 1
                else:
                    boxes[b, k, 1] = min(boxes[b, k, 1], j)
                    boxes[b, k, 2] = i + 1
                    boxes[b, k, 3] = max(boxes[b, k, 3], j + 1)
                counts[b, k] += 1
    return counts, boxes
