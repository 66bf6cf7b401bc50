"""The Compare tab: the lecture's Table 1.1 measured, from the shipped evaluation or a small live run.

The handlers return: table rows, figure, lecture-vs-measured Markdown, status.
"""

from __future__ import annotations

import gradio as gr

from . import common
from .common import friendly


def _comparison(result: dict) -> tuple:
    from playground.app.plots import comparison_figure

    views = common.views()
    return views.evaluation_rows(result), comparison_figure(result), views.lecture_markdown(result)


@friendly(4)
def compare_shipped():
    result = common.views().shipped_evaluation_or_error()
    return (*_comparison(result), common.done(f"shipped evaluation: {common.views().shipped_summary(result)}"))


@friendly(4)
def compare_live(families, minutes, seeds, samples, progress=common.PROGRESS):
    """A small evaluation run here and now, one family at a time (Stop cancels between families)."""
    for result, done, total in common.views().evaluation_stream(families, minutes, seeds, samples):
        progress(done / total, desc=f"{done} of {total} families evaluated")
        if result:
            yield (*_comparison(result), common.busy(f"{done} of {total} families evaluated"))
    yield (
        *_comparison(result),
        common.done(f"live evaluation of {total} families ({seeds} seed(s) × {minutes} min each)"),
    )


def build() -> None:
    views = common.views()
    with gr.Tab("Compare", id="compare"):
        gr.Markdown(
            "**The lecture's Table 1.1, measured.** Every family trained for the same budget on the "
            "same data of the `exact` world, three seeds each, then scored: training stability "
            "(spread of the final loss over seeds, diverged runs, loss-curve roughness = total "
            "variation ÷ net fall), likelihood (bits/dim and the gap to the world's true entropy), "
            "sampling speed, compression (ideal code length vs PNG; PixelCNN's real rANS code), "
            "representation (a linear probe from the code to the scene's factors), and what only a "
            "known world allows: the fraction of samples that *are* world images, their attribute "
            "distribution's distance from the prior, and how much of the world they cover."
        )
        with gr.Row():
            show_btn = gr.Button("Show the shipped evaluation", variant="primary", elem_id="cmp-show")
            families = gr.CheckboxGroup(
                list(views.FAMILY_NAMES), value=["gan", "vae"], label="Families for a live run", scale=3
            )
            minutes = gr.Slider(0.05, views.MAX_LIVE_MINUTES, value=0.1, step=0.05, label="Training minutes per run")
            seeds = gr.Slider(1, 3, value=1, step=1, label="Seeds")
            samples = gr.Slider(16, views.MAX_LIVE_SAMPLES, value=64, step=16, label="Samples")
        with gr.Row():
            live_btn = gr.Button("Run a quick evaluation here")
            stop_btn = gr.Button("Stop")
        common.examples(
            {
                "GAN vs VAE, 6 s each": [["gan", "vae"], 0.1, 1, 64],
                "the likelihood families, 12 s each": [["pixelcnn", "flow", "diffusion"], 0.2, 1, 64],
                "every family, two seeds": [list(views.FAMILY_NAMES), 0.1, 2, 32],
            },
            [families, minutes, seeds, samples],
            label="Live-run examples",
        )
        status = gr.Markdown(elem_id="cmp-status")
        plot = gr.Plot(label="Speed, likelihood and samples")
        table = gr.Dataframe(
            headers=list(views.EVALUATION_HEADERS),
            elem_id="cmp-table",
            type="array",
            interactive=False,
            label="Measured, per family",
        )
        lecture = gr.Markdown()

    outputs = [table, plot, lecture, status]
    show_btn.click(compare_shipped, None, outputs, api_name="shipped_evaluation")
    event = live_btn.click(
        compare_live,
        [families, minutes, seeds, samples],
        outputs,
        api_name="evaluate",
        concurrency_limit=1,
        concurrency_id="training",
    )
    common.stops(stop_btn, event)
