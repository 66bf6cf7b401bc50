"""The Train tab: train a fresh model of any family in the session, watch its loss, sample from it."""

from __future__ import annotations

import gradio as gr

from worlds.scene import COLOR_NAMES, SHAPES

from . import common
from .common import friendly
from .generate import generate_samples


@friendly(4)
@common.stop_with_button(
    "train", 4, " · the unfinished model was let go: press Train for a new one", clear=(1,)
)  # its curve too
def train_model(family: str, world: str, condition: str, minutes, seed):
    """Stream (session model, loss plot data, Sample button, status) while a fresh model trains in this
    session; the status line counts the seconds of the budget (a progress bar over it would hide the plot). The model is None (and Sample disabled) until
    it is finished."""
    from playground.app.plots import loss_figure

    seed = common.seed(seed)
    minutes = common.number(minutes, "minutes")
    waiting = gr.Button(interactive=False)
    yield None, loss_figure(), waiting, common.busy("rendering the training scenes")  # the last run's model and plot go
    for model, records, status in common.views().train_stream(family, world, minutes, seed, condition):
        frame = loss_figure(records)
        if model is None:  # still training (the stream's last report has the finished model)
            yield None, frame, waiting, common.busy(status)
    yield model, frame, gr.Button(interactive=True), common.done(f"{status}. Press **Sample** to draw from it.")


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
                0.1,
                views.MAX_TRAIN_MINUTES,
                value=1.0,
                step=0.1,
                label="Minutes",
                info="the whole run: rendering, steps and any finishing fit",
                scale=2,
                elem_id="tr-minutes",
            )
            seed = common.seed_field(scale=1, elem_id="tr-seed")
        with gr.Row():
            train_btn = gr.Button("Train", variant="primary", elem_id="tr-train")
            stop_btn = gr.Button("Stop", elem_id="tr-stop")
        card = gr.Markdown(views.family_card("vae"), elem_id="tr-card")
        common.examples(
            {
                "a VAE in a minute": ["vae", "exact", "none", 1.0, 0],
                "diffusion in 3 minutes": ["diffusion", "exact", "none", 3.0, 0],
                "class-conditional diffusion, red cylinders held out": ["diffusion", "exact-holdout", "class", 5.0, 0],
                "a GAN in 30 seconds (GANs fail at this budget: expect noise)": ["gan", "exact", "none", 0.5, 0],
            },
            [family, world, condition, minutes, seed],
        )
        status = gr.Markdown(elem_id="tr-status")
        # plotly, not gr.LinePlot: Gradio 6.31's LinePlot throws in the page when its tab is hidden mid-update
        plot = gr.Plot(label="Training loss", elem_id="tr-loss")
        model = gr.State(None)
        with gr.Row():
            n = gr.Slider(1, 64, value=16, step=1, label="Samples")
            sample_seed = common.seed_field("Sample seed")
            shape = gr.Dropdown(list(SHAPES), value="cube", label="Shape (class models)")
            color = gr.Dropdown(list(COLOR_NAMES), value="red", label="Colour (class models)")
            text = gr.Textbox("a small red cube", label="Caption (caption models)")
        sample_btn = gr.Button("Sample from my model", elem_id="tr-sample", interactive=False)
        sample_status = gr.Markdown(elem_id="tr-sample-status")
        grid = common.picture("Samples of your model", elem_id="tr-grid")

    family.change(
        lambda f: common.views().family_card(f) if f in common.views().FAMILY_NAMES else "",
        family,
        card,
        api_visibility="private",
        queue=False,
    )
    train_btn.click(
        train_model,
        [family, world, condition, minutes, seed],
        [model, plot, sample_btn, status],
        api_name="train",
        concurrency_limit=1,
        concurrency_id="training",
        show_progress="minimal",  # the loss plot stays in view while it grows
    )
    common.stop_button(stop_btn, "train")
    sample_btn.click(
        sample_trained,
        [model, n, sample_seed, shape, color, text],
        [grid, sample_status],
        api_name="sample_trained",
        concurrency_limit=2,
        concurrency_id="models",
    )
