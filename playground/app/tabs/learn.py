"""The Learn tab: four ideas of the lecture, each with a live element, one call into the library
(`playground.app.learn`) or into what another tab shows."""

from __future__ import annotations

import gradio as gr

from . import common
from .common import friendly


@friendly(3)
def learn_read_back(seed):
    from playground.app import learn

    return learn.read_back("shapes2d", common.seed(seed))


@friendly(2)
def learn_decisions():
    from playground.app import learn
    from playground.app.plots import decision_figure

    return (
        decision_figure(learn.decision_study(), "logistic", "gmm", side=81),
        common.done("logistic regression vs per-class Gaussian mixtures"),
    )


@friendly(2)
def learn_taxonomy(seed):
    from playground.app import learn

    return learn.taxonomy_samples(common.seed(seed)), common.done("one pass each")


@friendly(2)
def learn_table():
    views = common.views()
    return (
        views.lecture_markdown(views.shipped_evaluation_or_error()),
        common.done("the shipped evaluation (Compare tab for the plots)"),
    )


def build() -> None:
    from playground.app import learn

    with gr.Tab("Learn", id="learn"):
        gr.Markdown("Four ideas of the lecture, each with a live element from the other tabs.")
        gr.Markdown(learn.LESSONS["generation vs inference"])
        with gr.Row():
            seed = common.seed_field(scale=1, elem_id="ln-seed")
            read_btn = gr.Button("Render a scene, then read it back", variant="primary", scale=2, elem_id="ln-read-btn")
        with gr.Row():
            drawn = common.picture("Generation: the scene rendered", height=256)
            read = common.picture("Inference: what the encoder read, rendered again", height=256)
            read_md = gr.Markdown(elem_id="ln-read")
        common.examples({"seed 0": [0], "seed 7": [7], "seed 42": [42]}, [seed], label="Seeds to try")
        gr.Markdown(learn.LESSONS["discriminative vs generative"])
        decisions_btn = gr.Button("Show both decision maps", variant="primary", elem_id="ln-dec-btn")
        decisions_status = gr.Markdown(elem_id="ln-dec-status")
        decisions_plot = gr.Plot(label="Data · discriminative p(y|x) · generative p(y|x)·p(known|x)")
        gr.Markdown(learn.LESSONS["the taxonomy"])
        taxonomy_btn = gr.Button("Sample every fast family", variant="primary", elem_id="ln-tax-btn")
        taxonomy_status = gr.Markdown(elem_id="ln-tax-status")
        # No fixed height: the thumbnails are squares as wide as a third of the page, and each caption (the
        # family) sits at a thumbnail's bottom, where a height shorter than the squares would hide it.
        taxonomy = gr.Gallery(
            label="Samples (shipped models of the exact world)", elem_id="ln-tax", columns=3, object_fit="contain"
        )
        gr.Markdown(learn.LESSONS["the table"])
        table_btn = gr.Button("Show the measured table", variant="primary", elem_id="ln-table-btn")
        table_status = gr.Markdown(elem_id="ln-table-status")
        table = gr.Markdown(elem_id="ln-table", elem_classes="lecture-table")

    read_btn.click(
        learn_read_back,
        seed,
        [drawn, read, read_md],
        api_name="learn_read_back",
        concurrency_limit=2,
        concurrency_id="models",
    )
    decisions_btn.click(
        learn_decisions,
        None,
        [decisions_plot, decisions_status],
        api_name="learn_decisions",
        concurrency_limit=2,
        concurrency_id="models",
    )
    taxonomy_btn.click(
        learn_taxonomy,
        seed,
        [taxonomy, taxonomy_status],
        api_name="learn_taxonomy",
        concurrency_limit=2,
        concurrency_id="models",
    )
    table_btn.click(learn_table, None, [table, table_status], api_name="learn_table")
