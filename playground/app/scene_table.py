"""The scene as the World tab edits it: an editable table — one row per object with the columns
`TABLE_COLUMNS` (shape, color, x, y, size, rotation, material) — and back, with errors that name the
row and the column (`row 3, size: must be > 0, got -1.0`); the JSON editor's text; caption and
relations as Markdown.

    rows = scene_to_rows(scene)                 # [["cube", "blue", 1.0, -0.5, 0.7, 0.0, "matte"], ...]
    scene = rows_to_scene(rows, base=scene)     # SceneError("row 1, color", ...) on bad input
    outputs = scene_view(scene)                 # all the World tab shows: JSON, rows, renders, caption, ...
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from worlds.captions import caption, captions
from worlds.images import render_panels
from worlds.scene import MAX_OBJECTS, Object, Scene, SceneError, brief

TABLE_COLUMNS = ("shape", "color", "x", "y", "size", "rotation", "material")
NUMBER_COLUMNS = ("x", "y", "size", "rotation")
TABLE_DECIMALS = 3  # numbers shown in the table are rounded to this many places
DISPLAY_SIZES = (32, 64, 128, 256)  # image sizes offered by the app

# Where Object reports a problem -> the table column it came from.
_FIELD_TO_COLUMN = {
    "shape": "shape",
    "color": "color",
    "position[0]": "x",
    "position[1]": "y",
    "position": "x",
    "size": "size",
    "rotation": "rotation",
    "material": "material",
}


# --- scene <-> table ---------------------------------------------------------------------


def color_to_text(color: str | tuple[int, int, int]) -> str:
    """A palette name as it is, an RGB colour as '#rrggbb'."""
    if isinstance(color, str):
        return color
    return "#{:02x}{:02x}{:02x}".format(*color)


def _round(value: float) -> float:
    value = round(float(value), TABLE_DECIMALS)
    return 0.0 if value == 0 else value  # no "-0.0" in the table


def object_to_row(obj: Object) -> list:
    """One table row: [shape, color, x, y, size, rotation, material], numbers rounded for display."""
    return [
        obj.shape,
        color_to_text(obj.color),
        _round(obj.position[0]),
        _round(obj.position[1]),
        _round(obj.size),
        _round(obj.rotation),
        obj.material,
    ]


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
        raise SceneError(where, f"must be a number, got {brief(cell)}")
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return float(cell)
    if isinstance(cell, str):
        try:
            return float(cell.strip())
        except ValueError:
            pass
    raise SceneError(where, f"must be a number, got {brief(cell)}")


def row_to_object(row: Any, number: int) -> Object:
    """Parse table row `number` (1-based, for messages). Blank cells take `Object`'s defaults
    (gray, at the origin, large, no rotation, matte), except the shape, which is required."""
    prefix = f"row {number}"
    if isinstance(row, dict):
        row = [row.get(c) for c in TABLE_COLUMNS]
    if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
        raise SceneError(prefix, f"must be a list of {len(TABLE_COLUMNS)} cells ({', '.join(TABLE_COLUMNS)})")
    row = list(row)
    if len(row) > len(TABLE_COLUMNS) and not all(_is_blank(c) for c in row[len(TABLE_COLUMNS) :]):
        raise SceneError(prefix, f"has {len(row)} cells; expected {len(TABLE_COLUMNS)} ({', '.join(TABLE_COLUMNS)})")
    cells = dict(zip(TABLE_COLUMNS, row + [None] * (len(TABLE_COLUMNS) - len(row))))
    if _is_blank(cells["shape"]):
        raise SceneError(f"{prefix}, shape", "missing; expected cube, cylinder or sphere")
    kwargs: dict[str, Any] = {}
    problems: list[SceneError] = []  # every bad cell of the row, not only the first

    def number(column: str) -> float | None:
        try:
            return _cell_number(cells[column], f"{prefix}, {column}")
        except SceneError as err:
            problems.append(err)
            return None

    for column in ("shape", "color", "material"):
        if not _is_blank(cells[column]):
            value = cells[column]
            kwargs[column] = value.strip() if isinstance(value, str) else value
    x = 0.0 if _is_blank(cells["x"]) else number("x")
    y = 0.0 if _is_blank(cells["y"]) else number("y")
    kwargs["position"] = (x or 0.0, y or 0.0)
    size = cells["size"]
    if not _is_blank(size):
        # a number, or a named size ("small", "large") that Object resolves
        kwargs["size"] = size.strip() if isinstance(size, str) and not _looks_numeric(size) else number("size")
    if not _is_blank(cells["rotation"]):
        kwargs["rotation"] = number("rotation")
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    try:
        obj = Object(**kwargs)
    except SceneError:
        obj = None
        for key, value in kwargs.items():  # each field on its own, so every bad one is named
            try:
                Object(**{"shape": "cube", key: value})
            except SceneError as err:
                column = _FIELD_TO_COLUMN.get(err.path, err.path)
                problems.append(SceneError(f"{prefix}, {column}" if column else prefix, err.problem))
    if problems:
        raise joined(problems)
    return obj


def _looks_numeric(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


def joined(problems: list[SceneError]) -> SceneError:
    """One error naming every problem (`row 2, x: ...; row 3, color: ...`)."""
    if len(problems) == 1:
        return problems[0]
    return SceneError("", "; ".join(str(p) for p in problems))


def rows_to_objects(rows: Any) -> list[Object]:
    """Parse table rows into objects; rows whose cells are all blank are skipped. Every bad cell of every
    row is named in the one SceneError raised."""
    if rows is None:
        return []
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    rows = [list(r) if not isinstance(r, dict) else r for r in rows]
    filled = [(i, r) for i, r in enumerate(rows, 1) if not (isinstance(r, list) and all(_is_blank(c) for c in r))]
    if len(filled) > MAX_OBJECTS:
        raise SceneError("table", f"at most {MAX_OBJECTS} objects, got {len(filled)} rows; delete some")
    objects, problems = [], []
    for i, r in filled:
        try:
            objects.append(row_to_object(r, i))
        except SceneError as err:
            problems.append(err)
    if problems:
        raise joined(problems)
    return objects


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
    except (TypeError, ValueError) as err:  # defensive: a field of the wrong kind
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


# --- the World tab's view of a scene ----------------------------------------------------------

SCENE_OUTPUTS = (
    "json",
    "table",
    "size",
    "2d",
    "3d",
    "masks 2d",
    "masks 3d",
    "depth 2d",
    "depth 3d",
    "caption",
    "relations",
    "status",
)


def scene_view(scene: Scene, masks: bool = False, depth: bool = False, boxes: bool = False, note: str = "") -> tuple:
    """Everything the World tab shows for one scene, rendered in both views, in the order of
    SCENE_OUTPUTS: JSON, table rows, image size, 2D and 3D renders, masks and depth (None when off),
    caption, relations, status line. ValueError for a scene with too many objects."""
    if len(scene.objects) > MAX_OBJECTS:
        raise ValueError(f"at most {MAX_OBJECTS} objects, got {len(scene.objects)}")
    views = {
        v: render_panels(dataclasses.replace(scene, view=v), masks=masks, depth=depth, boxes=boxes)
        for v in ("2d", "3d")
    }
    status = f"✅ {len(scene.objects)} object{'s' * (len(scene.objects) != 1)} at {scene.height} px. {note}".strip()
    return (
        scene_to_json(scene),
        scene_to_rows(scene),
        scene.height,
        views["2d"]["image"],
        views["3d"]["image"],
        views["2d"].get("masks"),
        views["3d"].get("masks"),
        views["2d"].get("depth"),
        views["3d"].get("depth"),
        caption_markdown(scene),
        relations_markdown(scene),
        status,
    )


def _example(objects: list[dict], **settings) -> str:
    return scene_to_json(Scene(objects, **settings))


EXAMPLES = {  # the World tab's example scenes, as JSON (benchmarks/load.py renders them)
    "Red cube, blue cylinder": _example(
        [
            {"shape": "cube", "color": "red", "position": [-1.0, 0.0], "size": "large", "rotation": 30},
            {"shape": "cylinder", "color": "blue", "position": [1.2, 0.5], "size": "small"},
        ]
    ),
    "Metal spheres": _example(
        [
            {"shape": "sphere", "color": c, "position": [x, y], "size": s, "material": "metal"}
            for c, x, y, s in [
                ("gray", -1.6, 0.8, 0.7),
                ("yellow", 0.0, -0.6, 0.5),
                ("cyan", 1.6, 0.9, 0.7),
                ("purple", 0.3, 1.9, 0.35),
            ]
        ]
    ),
    "CLEVR classic": _example(
        [
            {"shape": "cylinder", "color": "green", "position": [-2.0, 1.5], "size": 0.7, "material": "metal"},
            {"shape": "cube", "color": "brown", "position": [0.0, 1.0], "size": 0.7, "rotation": 20},
            {"shape": "sphere", "color": "purple", "position": [1.8, 1.8], "size": 0.35},
            {
                "shape": "cube",
                "color": "gray",
                "position": [1.5, -1.5],
                "size": 0.35,
                "material": "metal",
                "rotation": 45,
            },
            {"shape": "sphere", "color": "yellow", "position": [-1.0, -1.5], "size": 0.7},
        ]
    ),
    "Custom colours (hex)": _example(
        [
            {"shape": "cube", "color": "#ff7f0e", "position": [-1.2, -0.4], "size": 0.6, "rotation": 10},
            {"shape": "sphere", "color": "#1f77b4", "position": [0.9, 0.6], "size": 0.6},
            {"shape": "cylinder", "color": "#2ca02c", "position": [0.2, -1.8], "size": 0.4},
        ]
    ),
    "A row of ten": _example(
        [
            {
                "shape": ("cube", "cylinder", "sphere")[i % 3],
                "color": c,
                "position": [-3.0 + i * 2 / 3, 0.0],
                "size": 0.3,
            }
            for i, c in enumerate(
                ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "black"]
            )
        ]
    ),
}
