"""Pictures of scenes for display: instance masks in distinct colours, depth as a colour ramp,
bounding boxes, nearest-neighbour upscaling of 32/64 px renders, and the one image-grid helper.
Pure numpy; every function returns a new uint8 array.

    panel = render_panels(scene, masks=True, depth=True)   # {"image": ..., "masks": ..., "depth": ...}
    grid = image_grid(images, columns=8, scale=3)           # (N, H, W, 3) -> one picture
"""

from __future__ import annotations

import numpy as np

from .render import render_layers
from .scene import Scene

# Instance colours: Tableau 10, distinct and readable on the dark ground.
INSTANCE_COLORS = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (188, 189, 34),
        (23, 190, 207),
        (250, 250, 250),
    ],
    np.uint8,
)
GROUND_COLOR = np.array((24, 24, 28), np.uint8)  # masks: pixels that show no object
FLAT_DEPTH_COLOR = np.array((40, 44, 64), np.uint8)  # depth: sky, or no depth at all (2D view)


def colorize_masks(masks: np.ndarray) -> np.ndarray:
    """Instance masks (..., H, W) int (-1 = no object) -> uint8 RGB (..., H, W, 3):
    object k gets `INSTANCE_COLORS[k]`, pixels with no object the dark `GROUND_COLOR`."""
    masks = np.asarray(masks)
    palette = np.concatenate([INSTANCE_COLORS, GROUND_COLOR[None]])  # index -1 -> ground
    index = np.where(masks < 0, len(palette) - 1, masks % len(INSTANCE_COLORS))
    return palette[index]


# A perceptually ordered colour ramp (sampled from matplotlib's "magma"): far/dark -> near/bright.
_DEPTH_RAMP = np.array(
    [
        (0, 0, 4),
        (28, 16, 68),
        (79, 18, 123),
        (129, 37, 129),
        (181, 54, 122),
        (229, 80, 100),
        (251, 135, 97),
        (254, 194, 135),
        (252, 253, 191),
    ],
    np.float64,
)


def depth_to_image(depth: np.ndarray) -> np.ndarray:
    """Depth (H, W) or (B, H, W) float -> uint8 RGB (..., H, W, 3).

    Each image is normalised on its own, in inverse depth (disparity), which spreads the
    near objects apart from the ground behind them; near is bright, far is dark. Sky
    (inf) and no depth (NaN, the 2D view) are shown in the flat `FLAT_DEPTH_COLOR`."""
    depth = np.asarray(depth, np.float64)
    if depth.ndim == 3:
        return (
            np.stack([depth_to_image(d) for d in depth])
            if len(depth)
            else np.zeros((0,) + depth.shape[1:] + (3,), np.uint8)
        )
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W) or (B, H, W), got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    out = np.empty(depth.shape + (3,), np.uint8)
    out[...] = FLAT_DEPTH_COLOR
    if valid.any():
        disparity = 1.0 / depth[valid]
        lo, hi = float(disparity.min()), float(disparity.max())
        t = (disparity - lo) / (hi - lo) if hi > lo else np.ones_like(disparity)
        x = 0.15 + 0.85 * t  # keep the far end off black
        pos = x * (len(_DEPTH_RAMP) - 1)
        i = np.minimum(pos.astype(int), len(_DEPTH_RAMP) - 2)
        f = (pos - i)[:, None]
        out[valid] = np.round(_DEPTH_RAMP[i] * (1 - f) + _DEPTH_RAMP[i + 1] * f).astype(np.uint8)
    return out


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an image (H, W) or (H, W, C) by an integer factor."""
    image = np.asarray(image)
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    if factor == 1:
        return image.copy()
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def display_factor(side: int, target: int = 256) -> int:
    """The integer upscaling that brings an image side to at least `target` pixels."""
    return max(1, -(-int(target) // max(1, int(side))))


def overlay_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    scale: int = 1,
    thickness: int | None = None,
    colors: np.ndarray = INSTANCE_COLORS,
) -> np.ndarray:
    """A copy of `image` (H, W, 3) with rectangles drawn around `boxes` (K, 4) of
    (row0, col0, row1, col1), end-exclusive, in the coordinates of an image `scale` times
    smaller (so boxes of a 64 px render can be drawn on its upscaled copy). Boxes of -1
    (absent or hidden objects) are skipped; box k is drawn in `colors[k]`."""
    out = np.array(image, np.uint8, copy=True)
    H, W = out.shape[:2]
    t = thickness if thickness is not None else max(1, scale // 4)
    for k, box in enumerate(np.asarray(boxes).reshape(-1, 4)):
        if (box < 0).any():
            continue
        r0, c0, r1, c1 = (int(v) * scale for v in box)
        r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, H), min(c1, W)
        if r1 <= r0 or c1 <= c0:
            continue
        color = colors[k % len(colors)]
        out[r0 : min(r0 + t, r1), c0:c1] = color
        out[max(r1 - t, r0) : r1, c0:c1] = color
        out[r0:r1, c0 : min(c0 + t, c1)] = color
        out[r0:r1, max(c1 - t, c0) : c1] = color
    return out


def image_grid(images, columns: int, pad: int = 2, pad_value: int = 255, scale: int = 1) -> np.ndarray:
    """Tile equally sized images (a list, or an array (N, H, W[, C]), channels last) into one image,
    `columns` wide, each upscaled `scale` times (nearest neighbour) and separated by `pad` pixels of
    `pad_value`. The one grid of the project: sample grids, snapshots and figures all use it."""
    images = [upscale(im, scale) for im in images]
    if not images:
        raise ValueError("image_grid needs at least one image")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"all images must share one shape, got {sorted(shapes)}")
    columns = max(1, min(int(columns), len(images)))
    rows = -(-len(images) // columns)
    h, w = images[0].shape[:2]
    rest = images[0].shape[2:]
    out = np.full((rows * h + (rows - 1) * pad, columns * w + (columns - 1) * pad) + rest, pad_value, images[0].dtype)
    for n, im in enumerate(images):
        r, c = divmod(n, columns)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = im
    return out


def render_panels(
    scene: Scene, *, masks: bool = False, depth: bool = False, boxes: bool = False, target: int = 256
) -> dict[str, np.ndarray]:
    """Render one scene for display: {"image": ...} and, when asked, {"masks": ..., "depth": ...},
    each uint8 RGB upscaled (nearest neighbour) to at least `target` pixels a side. With
    `boxes`, each object's bounding box is drawn on the image in its mask colour."""
    layers = render_layers([scene])
    factor = display_factor(max(scene.image_size), target)
    image = upscale(layers.images[0], factor)
    if boxes:
        image = overlay_boxes(image, layers.boxes[0], scale=factor)
    out = {"image": image}
    if masks:
        out["masks"] = upscale(colorize_masks(layers.masks[0]), factor)
    if depth:
        out["depth"] = upscale(depth_to_image(layers.depth[0]), factor)
    return out
