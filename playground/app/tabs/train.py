"""The Train tab: train a fresh model of any family in the session, watch its loss, sample from it."""

from __future__ import annotations

import gradio as gr

from worlds.scene import COLOR_NAMES, SHAPES

from . import common
from .common import friendly
from .generate import generate_samples


@friendly(3)
def train_model(family: str, world: str, condition: str, minutes, seed, progress=common.PROGRESS):
    """Stream (session model, loss plot data, status) while a fresh model trains in this session,
    with a progress bar over the time budget."""
    import pandas as pd

    seed = common.seed(seed)
    minutes = common.number(minutes, "minutes")
    budget = 60.0 * minutes
    progress(0.0, desc="Rendering the training scenes")
    for model, records, status in common.views().train_stream(family, world, minutes, seed, condition):
        progress(min(1.0, records[-1]["seconds"] / budget), desc="Training")
        frame = pd.DataFrame({"step": [r["step"] for r in records], "loss": [r["loss"] for r in records]})
        yield model, frame, common.busy(status)
    yield model, frame, common.done(f"{status}. Press **Sample** to draw from it.")


def sample_trained(model, n, seed, shape, color, text):
    """Samples of the model trained in this session (streamed like the Generate tab's)."""
    if model is None:
        yield gr.skip(), common.warning("train a model first")
        return
    yield from generate_samples(model, n, seed, shape, color, text, None, 1.0)


def build() -> None:
    views = common.views()
    with gr.Tab("Train"):
        gr.Markdown(
            "Train a fresh model of any family on a 32 px world for a short budget, watch its loss, "
            "then sample from it. The model lives in your session only."
        )
        with gr.Row():
            family = gr.Dropdown(
                [(views.FAMILY_NAMES[f], f) for f in views.FAMILY_NAMES], value="vae", label="Family", scale=2
            )
            world = gr.Radio(list(views.TRAIN_WORLDS), value="exact", label="World", scale=2)
            condition = gr.Radio(["none", "class", "caption"], value="none", label="Condition", scale=2)
            minutes = gr.Slider(
                0.1, views.MAX_TRAIN_MINUTES, value=1.0, step=0.1, label="Minutes", scale=2, elem_id="tr-minutes"
            )
            seed = common.seed_field(scale=1)
        with gr.Row():
            train_btn = gr.Button("Train", variant="primary", elem_id="tr-train")
            stop_btn = gr.Button("Stop")
        common.examples(
            {
                "a GAN in 30 seconds": ["gan", "exact", "none", 0.5, 0],
                "a VAE in a minute": ["vae", "exact", "none", 1.0, 0],
                "class-conditional diffusion, red cylinders held out": ["diffusion", "exact-holdout", "class", 2.0, 0],
                "a PixelCNN that reads captions": ["pixelcnn", "exact-holdout", "caption", 2.0, 0],
            },
            [family, world, condition, minutes, seed],
        )
        status = gr.Markdown(elem_id="tr-status")
        plot = gr.LinePlot(
            x="step",
            y="loss",
            title="Training loss",
            x_title="step",
            y_title="loss (the family's objective)",
            height=280,
        )
        model = gr.State(None)
        with gr.Row():
            n = gr.Slider(1, 64, value=16, step=1, label="Samples")
            sample_seed = common.seed_field("Sample seed")
            shape = gr.Dropdown(list(SHAPES), value="cube", label="Shape (class models)")
            color = gr.Dropdown(list(COLOR_NAMES), value="red", label="Colour (class models)")
            text = gr.Textbox("a small red cube", label="Caption (caption models)")
        sample_btn = gr.Button("Sample from my model", elem_id="tr-sample")
        sample_status = gr.Markdown(elem_id="tr-sample-status")
        grid = common.picture("Samples of your model", elem_id="tr-grid")

    event = train_btn.click(
        train_model,
        [family, world, condition, minutes, seed],
        [model, plot, status],
        api_name="train",
        concurrency_limit=1,
        concurrency_id="training",
    )
    common.stops(stop_btn, event)
    sample_btn.click(
        sample_trained,
        [model, n, sample_seed, shape, color, text],
        [grid, sample_status],
        api_name="sample_trained",
        concurrency_limit=2,
        concurrency_id="models",
    )
