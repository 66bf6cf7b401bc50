"""Pure helpers behind the playground UI (`app.py`): no gradio here, only numpy and the library.

Three groups:

* long work that the user can stop: `stoppable(task)` runs it in a worker thread and streams
  its progress reports; closing the stream (the app's Stop) ends the task at its next report;
* the scene as an editable table — one row per object with the columns `TABLE_COLUMNS`
  (shape, color, x, y, size, rotation, material) — and back, with errors that name the
  row and the column (`row 3, size: must be > 0, got -1.0`);
* images for display — instance masks in distinct colours, depth as a grey ramp,
  bounding boxes, nearest-neighbour upscaling of 32/64 px renders, and grids.

    rows = scene_to_rows(scene)                 # [["cube", "blue", 1.0, -0.5, 0.7, 0.0, "matte"], ...]
    scene = rows_to_scene(rows, base=scene)     # SceneError("row 1, color", ...) on bad input
    panel = render_panels(scene, masks=True, depth=True)   # {"image": ..., "masks": ..., "depth": ...}
"""
from __future__ import annotations

import dataclasses
import json
import math
import queue
import threading
from typing import Any, Callable

import numpy as np

from .captions import caption, captions
from .render import render_layers
from .scene import MAX_OBJECTS, Object, Scene, SceneError


class Stopped(Exception):
    """Raised inside a task given to `stoppable` whose consumer stopped listening."""


def stoppable(task: Callable[[Callable[..., None]], Any]):
    """Run `task(report)` in a worker thread; yield the arguments of each `report(*args)` it makes,
    as a tuple, then return its result (or raise its error).

    Gradio drops a streaming handler whose user pressed Stop, and a thread cannot be killed from
    outside. Closing this generator sets `stop`; the task's next report raises `Stopped` inside the
    worker, and the close waits for the worker to end, so a stopped job ends at its next progress
    step instead of finishing unseen (and nothing it owns is touched after the close returns).
    """
    updates: queue.SimpleQueue = queue.SimpleQueue()
    stop, outcome = threading.Event(), {}

    def report(*args) -> None:
        if stop.is_set():
            raise Stopped
        updates.put(args)

    def run() -> None:
        try:
            outcome["value"] = task(report)
        except BaseException as err:       # handed to the consumer below
            outcome["error"] = err
        finally:
            updates.put(None)

    worker = threading.Thread(target=run, daemon=True, name="toyworld-task")
    worker.start()
    try:
        while (update := updates.get()) is not None:
            yield update
    finally:
        stop.set()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


TABLE_COLUMNS = ("shape", "color", "x", "y", "size", "rotation", "material")
NUMBER_COLUMNS = ("x", "y", "size", "rotation")
TABLE_DECIMALS = 3                      # numbers shown in the table are rounded to this many places
DISPLAY_SIZES = (32, 64, 128, 256)      # image sizes offered by the app

# Where Object reports a problem -> the table column it came from.
_FIELD_TO_COLUMN = {"shape": "shape", "color": "color", "position[0]": "x", "position[1]": "y",
                    "position": "x", "size": "size", "rotation": "rotation", "material": "material"}

# Instance colours: Tableau 10, distinct and readable on the dark ground.
INSTANCE_COLORS = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                            (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (250, 250, 250)],
                           np.uint8)
GROUND_COLOR = np.array((24, 24, 28), np.uint8)       # masks: pixels that show no object
FLAT_DEPTH_COLOR = np.array((40, 44, 64), np.uint8)   # depth: sky, or no depth at all (2D view)


# --- scene <-> table ---------------------------------------------------------------------

def color_to_text(color: str | tuple[int, int, int]) -> str:
    """A palette name as it is, an RGB colour as '#rrggbb'."""
    if isinstance(color, str):
        return color
    return "#{:02x}{:02x}{:02x}".format(*color)


def _round(value: float) -> float:
    value = round(float(value), TABLE_DECIMALS)
    return 0.0 if value == 0 else value      # no "-0.0" in the table


def object_to_row(obj: Object) -> list:
    """One table row: [shape, color, x, y, size, rotation, material], numbers rounded for display."""
    return [obj.shape, color_to_text(obj.color), _round(obj.position[0]), _round(obj.position[1]),
            _round(obj.size), _round(obj.rotation), obj.material]


def scene_to_rows(scene: Scene) -> list[list]:
    """The scene's objects as table rows (see `TABLE_COLUMNS`)."""
    return [object_to_row(obj) for obj in scene.objects]


def _is_blank(cell: Any) -> bool:
    if cell is None:
        return True
    if isinstance(cell, str):
        return not cell.strip()
    if isinstance(cell, (float, np.floating)):
        return math.isnan(cell)
    return False


def _cell_number(cell: Any, where: str) -> float:
    if isinstance(cell, bool):
        raise SceneError(where, f"must be a number, got {cell!r}")
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return float(cell)
    if isinstance(cell, str):
        try:
            return float(cell.strip())
        except ValueError:
            pass
    raise SceneError(where, f"must be a number, got {cell!r}")


def row_to_object(row: Any, number: int) -> Object:
    """Parse table row `number` (1-based, for messages). Blank cells take `Object`'s defaults
    (gray, at the origin, large, no rotation, matte), except the shape, which is required."""
    prefix = f"row {number}"
    if isinstance(row, dict):
        row = [row.get(c) for c in TABLE_COLUMNS]
    if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
        raise SceneError(prefix, f"must be a list of {len(TABLE_COLUMNS)} cells ({', '.join(TABLE_COLUMNS)})")
    row = list(row)
    if len(row) > len(TABLE_COLUMNS) and not all(_is_blank(c) for c in row[len(TABLE_COLUMNS):]):
        raise SceneError(prefix, f"has {len(row)} cells; expected {len(TABLE_COLUMNS)} ({', '.join(TABLE_COLUMNS)})")
    cells = dict(zip(TABLE_COLUMNS, row + [None] * (len(TABLE_COLUMNS) - len(row))))
    if _is_blank(cells["shape"]):
        raise SceneError(f"{prefix}, shape", "missing; expected cube, cylinder or sphere")
    kwargs: dict[str, Any] = {}
    for column in ("shape", "color", "material"):
        if not _is_blank(cells[column]):
            value = cells[column]
            kwargs[column] = value.strip() if isinstance(value, str) else value
    x = 0.0 if _is_blank(cells["x"]) else _cell_number(cells["x"], f"{prefix}, x")
    y = 0.0 if _is_blank(cells["y"]) else _cell_number(cells["y"], f"{prefix}, y")
    kwargs["position"] = (x, y)
    size = cells["size"]
    if not _is_blank(size):
        # a number, or a named size ("small", "large") that Object resolves
        try:
            kwargs["size"] = _cell_number(size, f"{prefix}, size")
        except SceneError:
            if not isinstance(size, str):
                raise
            kwargs["size"] = size.strip()
    if not _is_blank(cells["rotation"]):
        kwargs["rotation"] = _cell_number(cells["rotation"], f"{prefix}, rotation")
    try:
        return Object(**kwargs)
    except SceneError as err:
        column = _FIELD_TO_COLUMN.get(err.path, err.path)
        raise SceneError(f"{prefix}, {column}" if column else prefix, err.problem) from None


def rows_to_objects(rows: Any) -> list[Object]:
    """Parse table rows into objects; rows whose cells are all blank are skipped."""
    if rows is None:
        return []
    if hasattr(rows, "values") and hasattr(rows, "columns"):    # a pandas DataFrame
        rows = rows.values.tolist()
    rows = [list(r) if not isinstance(r, dict) else r for r in rows]
    filled = [(i, r) for i, r in enumerate(rows, 1)
              if not (isinstance(r, list) and all(_is_blank(c) for c in r))]
    if len(filled) > MAX_OBJECTS:
        raise SceneError("table", f"at most {MAX_OBJECTS} objects, got {len(filled)} rows; delete some")
    return [row_to_object(r, i) for i, r in filled]


def rows_to_scene(rows: Any, base: Scene | None = None) -> Scene:
    """The scene `base` (camera, light, image size, ...) with the objects of the table.

    A row that still reads exactly as `base`'s object at the same place keeps that object
    unchanged, so the rounding of numbers in the table never moves an object that was
    not edited.
    """
    base = base if base is not None else Scene()
    objects = rows_to_objects(rows)
    kept = []
    for i, obj in enumerate(objects):
        if i < len(base.objects) and object_to_row(obj) == object_to_row(base.objects[i]):
            obj = base.objects[i]
        kept.append(obj)
    return dataclasses.replace(base, objects=tuple(kept))


def parse_scene_json(text: Any) -> Scene:
    """A scene from the JSON editor; every problem becomes one SceneError with a readable message."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise SceneError("", "the scene JSON is empty; write a scene or click 'Random scene'")
    try:
        return Scene.from_json(text)
    except SceneError:
        raise
    except (TypeError, ValueError) as err:       # defensive: a field of the wrong kind
        raise SceneError("", str(err)) from None


def scene_to_json(scene: Scene) -> str:
    """The scene as the JSON editor shows it: one top-level field per line, one object per line."""
    data = scene.to_dict()
    objects = data.pop("objects")
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in data.items()]
    if objects:
        lines.append('  "objects": [')
        lines.append(",\n".join("    " + json.dumps(o) for o in objects))
        lines.append("  ]")
    else:
        lines.append('  "objects": []')
    return "{\n" + "\n".join(lines) + "\n}"


def resize_scene(scene: Scene, size: int) -> Scene:
    """The same scene rendered at `size` x `size` pixels."""
    return dataclasses.replace(scene, image_size=(int(size), int(size)))


# --- text ---------------------------------------------------------------------------------

def caption_markdown(scene: Scene) -> str:
    """The scene's caption, for display."""
    return f"**Caption:** {caption(scene)}"


def relations_markdown(scene: Scene, max_facts: int = 60) -> str:
    """The pairwise relation sentences (after the caption in `captions`) as a Markdown list."""
    facts = captions(scene)[1:]
    if not facts:
        return "*No relations: the scene has fewer than two objects.*"
    text = "\n".join(f"- {f}" for f in facts[:max_facts])
    if len(facts) > max_facts:
        text += f"\n- … and {len(facts) - max_facts} more"
    return text


def facts_markdown(scene: Scene, max_facts: int = 60) -> str:
    """The caption in bold, then the relation sentences as a list."""
    facts = captions(scene)[1:]
    text = caption_markdown(scene)
    if facts:
        text += f"\n\n**Relations** ({len(facts)}):\n\n" + relations_markdown(scene, max_facts)
    return text


# --- images -------------------------------------------------------------------------------

def colorize_masks(masks: np.ndarray) -> np.ndarray:
    """Instance masks (..., H, W) int (-1 = no object) -> uint8 RGB (..., H, W, 3):
    object k gets `INSTANCE_COLORS[k]`, pixels with no object the dark `GROUND_COLOR`."""
    masks = np.asarray(masks)
    palette = np.concatenate([INSTANCE_COLORS, GROUND_COLOR[None]])    # index -1 -> ground
    index = np.where(masks < 0, len(palette) - 1, masks % len(INSTANCE_COLORS))
    return palette[index]


# A perceptually ordered colour ramp (sampled from matplotlib's "magma"): far/dark -> near/bright.
_DEPTH_RAMP = np.array([(0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122),
                        (229, 80, 100), (251, 135, 97), (254, 194, 135), (252, 253, 191)], np.float64)


def depth_to_image(depth: np.ndarray) -> np.ndarray:
    """Depth (H, W) or (B, H, W) float -> uint8 RGB (..., H, W, 3).

    Each image is normalised on its own, in inverse depth (disparity), which spreads the
    near objects apart from the ground behind them; near is bright, far is dark. Sky
    (inf) and no depth (NaN, the 2D view) are shown in the flat `FLAT_DEPTH_COLOR`."""
    depth = np.asarray(depth, np.float64)
    if depth.ndim == 3:
        return (np.stack([depth_to_image(d) for d in depth]) if len(depth)
                else np.zeros((0,) + depth.shape[1:] + (3,), np.uint8))
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W) or (B, H, W), got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    out = np.empty(depth.shape + (3,), np.uint8)
    out[...] = FLAT_DEPTH_COLOR
    if valid.any():
        disparity = 1.0 / depth[valid]
        lo, hi = float(disparity.min()), float(disparity.max())
        t = (disparity - lo) / (hi - lo) if hi > lo else np.ones_like(disparity)
        x = 0.15 + 0.85 * t                    # keep the far end off black
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


def overlay_boxes(image: np.ndarray, boxes: np.ndarray, scale: int = 1, thickness: int | None = None,
                  colors: np.ndarray = INSTANCE_COLORS) -> np.ndarray:
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
        out[r0:min(r0 + t, r1), c0:c1] = color
        out[max(r1 - t, r0):r1, c0:c1] = color
        out[r0:r1, c0:min(c0 + t, c1)] = color
        out[r0:r1, max(c1 - t, c0):c1] = color
    return out


def image_grid(images, columns: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile equally sized images (a list or an array (N, H, W[, C])) into one image,
    `columns` wide, separated by `pad` pixels of `pad_value`."""
    images = [np.asarray(im) for im in images]
    if not images:
        raise ValueError("image_grid needs at least one image")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"all images must share one shape, got {sorted(shapes)}")
    columns = max(1, min(int(columns), len(images)))
    rows = -(-len(images) // columns)
    h, w = images[0].shape[:2]
    rest = images[0].shape[2:]
    out = np.full((rows * h + (rows - 1) * pad, columns * w + (columns - 1) * pad) + rest, pad_value,
                  images[0].dtype)
    for n, im in enumerate(images):
        r, c = divmod(n, columns)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = im
    return out


def render_panels(scene: Scene, *, masks: bool = False, depth: bool = False, boxes: bool = False,
                  target: int = 256) -> dict[str, np.ndarray]:
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
