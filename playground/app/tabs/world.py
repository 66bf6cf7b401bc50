"""The World tab: a scene of a preset world, edited as a table or as JSON, rendered in both views.

Every handler returns the scene outputs of `scene_table.scene_view` (JSON, table, size, 2D and 3D
renders, masks and depth (None when off), caption, relations, status); the loaders the scene index first.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import gradio as gr

from playground.app.scene_table import (
    DISPLAY_SIZES,
    EXAMPLES,
    SCENE_OUTPUTS,
    TABLE_COLUMNS,
    parse_scene_json,
    resize_scene,
    rows_to_scene,
    scene_view,
)
from worlds import WORLDS, Scene, sample_scene
from worlds.scene import MAX_OBJECTS

from . import common
from .common import friendly

# The scene the page opens on: scene 3498 of clevr3d (seed 0) at 128 px, chosen by eye among the scenes of
# 4-6 objects of three shapes in distinct bright colours, apart and unoccluded: five objects (red, yellow,
# green, cyan, purple; cubes, spheres, a cylinder; matte and metal) spread over the view. It renders, both
# views, in ~0.1 s (~0.6 s for the process's first render, numba's cache loading).
DEFAULT_WORLD, DEFAULT_INDEX, DEFAULT_SIZE = "clevr3d", 3498, 128
N_SCENE_OUTPUTS = len(SCENE_OUTPUTS)


def random_scene(world: str, seed, size, masks=False, depth=False, boxes=False) -> tuple:
    """'Random scene': a random scene index of the world and seed; returns (index, *scene outputs)."""
    return load_scene(world, seed, None, size, masks, depth, boxes)


@friendly(N_SCENE_OUTPUTS + 1)
def load_scene(world: str, seed, index, size, masks=False, depth=False, boxes=False) -> tuple:
    """Scene `index` of `world` with `seed` at `size` px: the scene a dataset with these settings holds."""
    size, seed = common.size(size), common.seed(seed)
    index = secrets.randbelow(100_000) if index is None else common.integer(index, "scene index", 0, 10**9)
    scene = sample_scene(common.world_at(world, size), seed, index)
    return (index, *scene_view(scene, masks, depth, boxes, f"Scene {index} of world `{world}`, seed {seed}."))


@friendly(N_SCENE_OUTPUTS)
def apply_json(text: str, size, masks=False, depth=False, boxes=False) -> tuple:
    """JSON edited: parse it and refresh the table and renders. The JSON's image size wins
    when it is one the app offers; otherwise the chosen size is used."""
    scene, note = parse_scene_json(text), ""
    if scene.image_size[0] != scene.image_size[1] or scene.height not in DISPLAY_SIZES:
        note = (
            f"Image size {list(scene.image_size)} is not one of {list(DISPLAY_SIZES)}; showing {common.size(size)} px."
        )
        scene = resize_scene(scene, common.size(size))
    return scene_view(scene, masks, depth, boxes, note)


_EDITS: OrderedDict[str, tuple] = OrderedDict()  # session -> (its last table edit, when): see `apply_table`
REPEAT_SECONDS = 2.0


def _repeated(request: gr.Request | None, edit: tuple) -> bool:
    """Whether this session sent the very same table edit within REPEAT_SECONDS: Gradio 6.31's table sends
    each committed cell edit twice, and the second would render again and toast the same warning again."""
    session = getattr(request, "session_hash", None)
    if session is None:
        return False
    key, now = repr(edit), time.monotonic()
    last = _EDITS.pop(session, None)
    _EDITS[session] = (key, now)
    while len(_EDITS) > 1_000:  # the oldest sessions go
        _EDITS.popitem(last=False)
    return last is not None and last[0] == key and now - last[1] < REPEAT_SECONDS


@friendly(N_SCENE_OUTPUTS)
def apply_table(
    rows, text: str, size, masks=False, depth=False, boxes=False, request: gr.Request | None = None
) -> tuple:
    """Table edited: rebuild the scene's objects from the rows (keeping the rest of the JSON).
    An edit repeated at once by the browser is skipped (one render, one warning)."""
    if _repeated(request, (rows, text, size, masks, depth, boxes)):
        return (gr.skip(),) * N_SCENE_OUTPUTS
    try:
        base = parse_scene_json(text)
    except ValueError:
        base = Scene()  # the JSON box is broken: start from the defaults
    return scene_view(resize_scene(rows_to_scene(rows, base), common.size(size)), masks, depth, boxes)


@friendly(N_SCENE_OUTPUTS)
def rerender(text: str, size, masks=False, depth=False, boxes=False) -> tuple:
    """Image size or a display toggle changed: render the current JSON at the chosen size."""
    return scene_view(resize_scene(parse_scene_json(text), common.size(size)), masks, depth, boxes)


@dataclass
class WorldTab:
    """What other tabs wire to: the scene outputs, and the controls the scene handlers read after the JSON."""

    outputs: list
    size: gr.Radio
    toggles: list


def build() -> WorldTab:
    # The first scene is rendered now, so the page opens complete (this also warms up numba).
    first = load_scene(DEFAULT_WORLD, 0, DEFAULT_INDEX, DEFAULT_SIZE)
    (_, first_json, first_rows, _, first_2d, first_3d, *_, first_caption, first_relations, first_status) = first
    with gr.Tab("World", id="world"):
        gr.Markdown(
            "**Graphics**: a scene is a small JSON document of objects; the renderer draws it top-down (2D) and "
            "in perspective (3D), with masks, depth, a caption and the relations between objects. Sample one "
            "from a world, or edit the table or the JSON."
        )
        with gr.Row():
            world = gr.Dropdown(
                list(WORLDS), value=DEFAULT_WORLD, label="World", scale=2, info="A preset prior over scenes"
            )
            seed = common.seed_field(scale=1, elem_id="world-seed")
            index = gr.Number(DEFAULT_INDEX, label="Scene index", scale=1)
            size = gr.Radio(list(DISPLAY_SIZES), value=DEFAULT_SIZE, label="Image size (px)", scale=2)
        with gr.Row():
            random_btn = gr.Button("🎲 Random scene", variant="primary", elem_id="world-random")
            load_btn = gr.Button("Show scene (seed, index)")
        with gr.Row():
            masks = gr.Checkbox(False, label="Instance masks")
            depth = gr.Checkbox(False, label="Depth")
            boxes = gr.Checkbox(False, label="Bounding boxes")
        status = gr.Markdown(first_status, elem_id="status")
        buttons = ["download", "fullscreen"]
        with gr.Row():
            render_2d = common.picture("2D (top-down)", first_2d, elem_id="world-2d", buttons=buttons)
            render_3d = common.picture("3D (perspective)", first_3d, buttons=buttons)
        with gr.Row(visible=False) as masks_row:
            masks_2d = common.picture("2D instance masks", buttons=buttons)
            masks_3d = common.picture("3D instance masks", buttons=buttons)
        with gr.Row(visible=False) as depth_row:
            # the top-down view has no depth (a flat panel): kept as an output for the API, never shown
            depth_2d = common.picture("2D depth (none: seen from straight above)", buttons=buttons, visible=False)
            depth_3d = common.picture("3D depth (near = bright)", buttons=buttons)
        caption_md = gr.Markdown(first_caption)
        with gr.Accordion("Relation facts (what the conditional models are told)", open=False):
            relations_md = gr.Markdown(first_relations, max_height=320)
        table = gr.Dataframe(
            first_rows,
            elem_id="world-table",
            headers=list(TABLE_COLUMNS),
            type="array",
            interactive=True,
            datatype=["str", "str", "number", "number", "number", "number", "str"],
            column_count=len(TABLE_COLUMNS),
            show_row_numbers=True,
            label=f"Objects (edit a cell; at most {MAX_OBJECTS} rows)",
        )
        gr.Markdown(
            "**shape** cube / cylinder / sphere · **color** a name (gray, red, blue, green, "
            "brown, purple, cyan, yellow, orange, pink, white, black) or `#rrggbb` · "
            "**x, y** in −8..8 (the 3D camera sees about −4..4) · **size** radius in 0..3 "
            "(small 0.35, large 0.7) · **rotation** degrees · **material** matte / metal"
        )
        code = gr.Code(
            first_json,
            language="json",
            label="Scene JSON (edit, then press Apply JSON)",
            lines=12,
            max_lines=30,
            wrap_lines=True,
        )
        apply_btn = gr.Button("Apply JSON", elem_id="world-apply")
        examples = common.examples(EXAMPLES, [code], label="Example scenes", examples_per_page=len(EXAMPLES))

    outputs = [
        code,
        table,
        size,
        render_2d,
        render_3d,
        masks_2d,
        masks_3d,
        depth_2d,
        depth_3d,
        caption_md,
        relations_md,
        status,
    ]
    toggles = [masks, depth, boxes]
    random_btn.click(random_scene, [world, seed, size, *toggles], [index, *outputs], api_name="random_scene")
    load_btn.click(load_scene, [world, seed, index, size, *toggles], [index, *outputs], api_name="load_scene")
    world.input(load_scene, [world, seed, index, size, *toggles], [index, *outputs], api_visibility="private")
    apply_btn.click(apply_json, [code, size, *toggles], outputs, api_name="render")
    examples.load_input_event.then(apply_json, [code, size, *toggles], outputs, api_visibility="private")
    table.input(apply_table, [table, code, size, *toggles], outputs, api_name="apply_table", trigger_mode="always_last")
    size.input(rerender, [code, size, *toggles], outputs, api_visibility="private")
    for toggle in toggles:
        toggle.input(rerender, [code, size, *toggles], outputs, api_visibility="private")
    masks.change(lambda on: gr.Row(visible=on), masks, masks_row, api_visibility="private", queue=False)
    depth.change(lambda on: gr.Row(visible=on), depth, depth_row, api_visibility="private", queue=False)
    return WorldTab(outputs, size, toggles)
