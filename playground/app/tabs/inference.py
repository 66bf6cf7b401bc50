"""The Inference tab: an encoder reads the scene back out of a picture (a random scene, an upload or
a drawing), then analysis by synthesis refines it.

The reading handler returns: input, re-render, difference (enlarged), table rows, JSON, status.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import gradio as gr

from playground.app.scene_table import TABLE_COLUMNS, scene_to_json, scene_to_rows
from worlds import render, sample_scene
from worlds.images import display_factor, upscale

from . import common
from .common import friendly
from .world import WorldTab, apply_json

N_INFERENCE_OUTPUTS = 6
# Pictures to read on the Inference tab: scene 7 of shapes2d and scene 5 of clevr3d (seed 0, 64 px),
# rendered by this library (tests/test_app.py checks that they still are, to the byte).
EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "docs" / "examples"
INFERENCE_EXAMPLES = {
    "shapes2d": EXAMPLES_DIR / "shapes2d-seed0-scene7.png",
    "clevr3d": EXAMPLES_DIR / "clevr3d-seed0-scene5.png",
}


@friendly(3)
def inference_random(world: str, seed):
    """'Render a random scene' of the encoder's world: the picture to read (kept in the session),
    shown enlarged, and a status line."""
    encoder = common.views().encoder_for(world)
    seed = common.seed(seed)
    index = secrets.randbelow(100_000)
    scene = sample_scene(common.world_at(world, encoder.config.image_size), seed, index)
    picture = render([scene])[0]
    return (
        picture,
        upscale(picture, display_factor(picture.shape[0])),
        common.done(
            f"scene {index} of `{world}` (seed {seed}), {len(scene.objects)} objects: press **Read the scene**"
        ),
    )


@friendly(N_INFERENCE_OUTPUTS)
@common.stop_with_button("inference", N_INFERENCE_OUTPUTS, " · the panels show the reading so far")
def read_scene_ui(world: str, source: str, random_picture, upload, drawing, steps):
    """Stream what the encoder reads from the picture, then the analysis-by-synthesis steps."""
    views = common.views()
    steps = common.integer(steps, "refinement steps", 0, views.MAX_REFINE_STEPS)
    picture = views.chosen_picture(source, random_picture, upload, drawing)
    for reading, step, total in views.read_picture(world, picture, steps):
        finished = step is None or step == total
        mark = ("✅" if reading.explained else "❓") if finished else "⏳"  # ✅ only for a picture the scene explains
        yield (
            *views.reading_panels(reading),
            scene_to_rows(reading.scene),
            scene_to_json(reading.scene),
            f"{mark} {views.reading_summary(reading, step, total)}",
        )


def drawing_canvas(world: str, **options) -> gr.Sketchpad:
    """The sketchpad for the encoder of `world`: its empty ground to draw on, the world's palette as the only
    brush colours and a brush as wide as a small object, so a drawing can be a picture of that world (on
    white, in black, none is). As an event's output it replaces the canvas."""
    views = common.views()
    ground = views.canvas_ground(world)
    brush = gr.Brush(
        default_size=views.canvas_brush_radius(world),
        colors=views.canvas_colors(world),
        default_color=views.canvas_default_color(world),
        color_mode="fixed",
    )
    # png: the ground reaches the browser unchanged (the default webp is lossy)
    return gr.Sketchpad(value=ground, canvas_size=ground.shape[:2], brush=brush, format="png", **options)


def build(tabs: gr.Tabs, world: WorldTab) -> None:
    """The tab; its 'Edit it in the World tab' shows the recovered scene in `world` and switches `tabs` there."""
    views = common.views()
    with gr.Tab("Inference", id="inference"):
        gr.Markdown(
            "**Inference is vision**: an encoder trained on rendered scenes reads the scene back out of "
            "a picture (a set of objects, matched to the truth by the Hungarian algorithm in training), "
            "then **analysis by synthesis** refines it: render the guess, compare with the picture, and "
            "follow the error's gradient (2D: a differentiable copy of the renderer; 3D: finite "
            "differences of the ray tracer). The re-render error says how well the scene explains the "
            "picture: a large one means *this is not a picture I can explain*."
        )
        with gr.Row():
            encoder_world = gr.Radio(list(views.ENCODERS), value="shapes2d", label="World the encoder learned", scale=2)
            source = gr.Radio(list(views.PICTURE_SOURCES), value="random scene", label="Picture", scale=2)
            steps = gr.Slider(
                0,
                views.MAX_REFINE_STEPS,
                value=40,
                step=5,
                label="Refinement steps",
                scale=2,
                info="0 = the encoder's one-pass answer only",
            )
            seed = common.seed_field(scale=1, elem_id="inf-seed")
        with gr.Row():
            random_btn = gr.Button("🎲 Render a random scene", elem_id="inf-random")
            read_btn = gr.Button("Read the scene", variant="primary", elem_id="inf-read")
            stop_btn = gr.Button("Stop")
            send_btn = gr.Button("Edit it in the World tab")
        status = gr.Markdown(elem_id="inf-status")
        random_picture = gr.State(None)
        with gr.Row():
            upload = gr.File(label="Upload a picture (PNG, JPEG, …)", file_types=["image"], type="filepath")
            drawing = drawing_canvas(
                encoder_world.value,
                label="…or draw one in the world's colours (then choose 'drawing')",
                type="numpy",
                image_mode="RGBA",
            )
        common.examples(
            {
                "a top-down scene, 4 objects": ["shapes2d", "upload", str(INFERENCE_EXAMPLES["shapes2d"]), 40],
                "a CLEVR-like scene, 5 objects": ["clevr3d", "upload", str(INFERENCE_EXAMPLES["clevr3d"]), 20],
                "a 3D picture to the top-down encoder: it cannot explain it": [
                    "shapes2d",
                    "upload",
                    str(INFERENCE_EXAMPLES["clevr3d"]),
                    40,
                ],
            },
            [encoder_world, source, upload, steps],
            label="Example pictures (then press Read)",
        )
        with gr.Row():
            shown = common.picture("Picture (as the encoder sees it)")
            rendered = common.picture("Recovered scene, re-rendered", elem_id="inf-render")
            difference = common.picture("Difference (×4)")
        table = gr.Dataframe(headers=list(TABLE_COLUMNS), type="array", interactive=False, label="Recovered objects")
        code = gr.Code(language="json", label="Recovered scene JSON", lines=8, max_lines=20)

    random_btn.click(
        inference_random, [encoder_world, seed], [random_picture, shown, status], api_name="random_picture"
    )
    read_btn.click(
        read_scene_ui,
        [encoder_world, source, random_picture, upload, drawing, steps],
        [shown, rendered, difference, table, code, status],
        api_name="read_scene",
        concurrency_limit=2,
        concurrency_id="models",
    )
    common.stop_button(stop_btn, "inference")
    upload.upload(lambda: "upload", None, source, api_visibility="private", queue=False)
    # a stroke picks the drawing as the source; a fresh canvas (a new world's ground) leaves the choice alone
    drawing.input(
        lambda canvas, chosen: "drawing" if common.views().has_drawing(canvas) else chosen,
        [drawing, source],
        source,
        api_visibility="private",
        queue=False,
    )
    encoder_world.change(drawing_canvas, encoder_world, drawing, api_visibility="private", queue=False)
    send_btn.click(apply_json, [code, world.size, *world.toggles], world.outputs, api_visibility="private").then(
        lambda: gr.Tabs(selected="world"), None, tabs, api_visibility="private", queue=False
    )
