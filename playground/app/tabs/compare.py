"""The Compare tab: the lecture's Table 1.1 measured, from the shipped evaluation or a small live run.

The handlers return: table rows, figure, lecture-vs-measured Markdown, status. The status names the
training budget the figures come from: the evaluation's own short runs, not the Generate tab's models.
"""

from __future__ import annotations

import time

import gradio as gr

from . import common
from .common import friendly

FAMILY_WIDTH = "120px"  # "diffusion" and a cell's padding, on one line
VALUE_WIDTH = "110px"


def _comparison(result: dict) -> tuple:
    from playground.app.plots import comparison_figure

    views = common.views()
    return views.evaluation_rows(result), comparison_figure(result), views.lecture_markdown(result)


@friendly(4)
def compare_shipped():
    views = common.views()
    result = views.shipped_evaluation_or_error()
    status = f"shipped evaluation: {views.shipped_summary(result)}. {views.budget_note(result)}"
    return (*_comparison(result), common.done(status))


@friendly(4)
@common.stop_with_button("compare", 4, " · the table holds the families evaluated before Stop")
def compare_live(families, minutes, seeds, samples, progress=common.PROGRESS):
    """A small evaluation run here and now, one family at a time (Stop cancels between families)."""
    views = common.views()
    start = time.perf_counter()
    for result, done, total in views.evaluation_stream(families, minutes, seeds, samples):
        progress(done / total, desc=f"{done} of {total} families evaluated")
        if result:
            took = time.perf_counter() - start
            yield (*_comparison(result), common.busy(f"{done} of {total} families evaluated ({took:.0f} s so far)"))
    took = time.perf_counter() - start
    budget = f"{int(float(seeds))} seed(s) × {views.duration(float(minutes))} of training each"
    status = f"live evaluation of {total} families ({budget}) took {took:.0f} s. {views.budget_note(result)}"
    yield (*_comparison(result), common.done(status))


def build() -> None:
    views = common.views()
    shipped = views.shipped_evaluation()
    with gr.Tab("Compare", id="compare"):
        gr.Markdown(
            "**The lecture's Table 1.1, measured.** Every family trains from scratch for the same short budget on "
            "the same data of the `exact` world, then is scored: training stability "
            "(spread of the final loss over seeds, diverged runs, loss-curve roughness = total "
            "variation ÷ net fall), likelihood (bits/dim and the gap to the world's true entropy), "
            "sampling speed, compression (ideal code length vs PNG; PixelCNN's real rANS code), "
            "representation (a linear probe from the code to the scene's factors), and what only a "
            "known world allows: the fraction of samples that *are* world images, their attribute "
            "distribution's distance from the prior, and how much of the world they cover."
            + (
                f"\n\n**The shipped evaluation:** {views.shipped_summary(shipped)}. {views.budget_note(shipped)}"
                if shipped
                else ""
            )
        )
        with gr.Row():
            show_btn = gr.Button("Show the shipped evaluation", variant="primary", elem_id="cmp-show")
            families = gr.CheckboxGroup(
                list(views.FAMILY_NAMES),
                value=["gan", "vae"],
                label="Families for a live run",
                scale=3,
                elem_id="cmp-families",
            )
            minutes = gr.Slider(0.05, views.MAX_LIVE_MINUTES, value=0.1, step=0.05, label="Training minutes per run")
            seeds = gr.Slider(1, 3, value=1, step=1, label="Seeds")
            samples = gr.Slider(16, views.MAX_LIVE_SAMPLES, value=64, step=16, label="Samples")
        with gr.Row():
            live_btn = gr.Button("Run a quick evaluation here", elem_id="cmp-live")
            stop_btn = gr.Button("Stop", elem_id="cmp-stop")
        # each label: the training per run, and how long the whole run takes, measured on the 2-core development
        # machine (timing views.evaluation_stream): scoring, sampling, and the VAE's prior fit and the RBM's log Z
        # after training take longer than the training itself. Gradio cuts labels after about 60 characters.
        likelihood, every = ["pixelcnn", "flow", "diffusion"], list(views.FAMILY_NAMES)
        common.examples(
            {
                "GAN vs VAE: 6 s each, about 40 s in all": [["gan", "vae"], 0.1, 1, 64],
                "3 likelihood families: 12 s each, about 2 min in all": [likelihood, 0.2, 1, 64],
                f"all {len(every)} families, 2 seeds: 6 s each, about 8 min in all": [every, 0.1, 2, 32],
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
            wrap=True,  # the long headers wrap; the widths keep each value, and each family's name, on one line
            column_widths=[FAMILY_WIDTH] + [VALUE_WIDTH] * (len(views.EVALUATION_HEADERS) - 1),
            pinned_columns=1,  # the family stays in view while the wide table scrolls sideways
            label="Measured, per family",
        )
        # the class is for a rule in common.CSS that keeps the first column, the family, on one line:
        # Gradio's Markdown tables break words anywhere ("pixelcn n") when the other columns are long
        lecture = gr.Markdown(elem_classes="lecture-table")

    outputs = [table, plot, lecture, status]
    show_btn.click(compare_shipped, None, outputs, api_name="shipped_evaluation")
    live_btn.click(
        compare_live,
        [families, minutes, seeds, samples],
        outputs,
        api_name="evaluate",
        concurrency_limit=1,
        concurrency_id="training",
    )
    common.stop_button(stop_btn, "compare")
