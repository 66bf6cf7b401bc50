"""The Uncertainty tab: a discriminative p(y|x) against a generative p(x, y) on the world's layouts
(decision maps with a probe, a training point's scene), on missing data, and under adversarial noise.

The decision view returns: figure, scores table, probe picture, probe text, status.
"""

from __future__ import annotations

import json
import secrets

import gradio as gr

from . import common
from .common import AppError, friendly

# Plotly's click event, forwarded by the browser into a hidden textbox (gr.Plot has no click event).
PLOT_CLICK_JS = """
() => {
  const attach = () => document.querySelectorAll('#uncertainty-plot .js-plotly-plot').forEach((plot) => {
    if (plot.dataset.clickForwarded || !plot.on) return;
    plot.dataset.clickForwarded = '1';
    plot.on('plotly_click', (event) => {
      const point = event.points && event.points[0];
      const box = document.querySelector('#uncertainty-click textarea, #uncertainty-click input');
      if (!point || !box) return;
      box.value = JSON.stringify([point.x, point.y]);
      box.dispatchEvent(new Event('input', { bubbles: true }));
    });
  });
  new MutationObserver(attach).observe(document.body, { childList: true, subtree: true });
}
"""


def _study(layout: str, seed, n, progress):
    views = common.views()
    progress(0.1, desc="Fitting 4 discriminative and 3 generative models (a few seconds, once per layout)")
    return views.study_for(layout, common.seed(seed), common.integer(n, "training points", 20, views.MAX_STUDY_POINTS))


def _decision(study, discriminative: str, generative: str, probe_x, probe_y) -> tuple:
    """The decision figure with the probe's star, the probe's picture and its text."""
    from playground.app.plots import decision_figure

    picture, text = common.views().probe_report(study, probe_x, probe_y, discriminative, generative)
    figure = decision_figure(study, discriminative, generative, probe=(float(probe_x), float(probe_y)))
    return figure, picture, text


@friendly(5)
@common.stop_with_button("uncertainty", 5, " · fit again to see the panels", clear=(0, 1, 2, 3))
def uncertainty_ui(
    layout: str, seed, n, discriminative: str, generative: str, probe_x, probe_y, progress=common.PROGRESS
):
    """The three panels (data, discriminative p(y|x), generative p(y|x) p(known|x)) with a probe point
    (streamed: a ⏳ line while the models fit, which Stop turns into '⏹ stopped')."""
    yield (*[gr.skip()] * 4, common.busy(f"fitting the models of `{layout}`"))
    study = _study(layout, seed, n, progress)
    figure, picture, text = _decision(study, discriminative, generative, probe_x, probe_y)
    yield (
        figure,
        common.views().scores_markdown(study),
        picture,
        text,
        common.done(f"`{layout}`: {len(study.train.scenes)} training scenes"),
    )


@friendly(4)
def probe_ui(layout: str, seed, n, discriminative: str, generative: str, probe_x, probe_y, progress=common.PROGRESS):
    """The probe moved: the figure with the star at its new place, its picture and its text."""
    study = _study(layout, seed, n, progress)
    return (
        *_decision(study, discriminative, generative, probe_x, probe_y),
        common.done(f"probe at ({float(probe_x):g}, {float(probe_y):g})"),
    )


@friendly(6)
def plot_click_ui(clicked: str, layout: str, seed, n, discriminative: str, generative: str, progress=common.PROGRESS):
    """A click on the decision plot (the browser writes '[x, y]'): move the probe there and show it."""
    try:
        x, y = (float(v) for v in json.loads(clicked))
    except (TypeError, ValueError):
        raise AppError(f"could not read the clicked point {clicked!r}") from None
    x, y = (round(min(max(v, -6.0), 6.0), 2) for v in (x, y))
    return (x, y, *probe_ui(layout, seed, n, discriminative, generative, x, y, progress))


@friendly(3)
def data_point_ui(layout: str, seed, n, index, progress=common.PROGRESS):
    study = _study(layout, seed, n, progress)
    return (*common.views().data_point_report(study, index), "✅")


@friendly(3)
def missing_ui(layout: str, seed, n, seen: str, discriminative: str, generative: str, progress=common.PROGRESS):
    """p(y | one coordinate): generative marginalisation against discriminative mean imputation."""
    from playground.app.plots import missing_figure

    views = common.views()
    observed = views.seen_coordinate(seen)
    study = _study(layout, seed, n, progress)
    figure = missing_figure(study, observed, (discriminative, generative))
    return figure, views.missing_markdown(study, seen), common.done(f"`{layout}`, {seen}")


@friendly(6)
def attack_ui(index, eps, method: str, steps, seed):
    """Original, amplified noise, attacked picture, probabilities before/after, summary, status."""
    *panels, figure, text = common.views().attack_view(index, eps, method, steps, seed)
    return (*panels, figure, text, common.done("attacked"))


def build(demo: gr.Blocks) -> None:
    from playground.uncertainty import study as uncertainty

    views = common.views()
    with gr.Tab("Uncertainty", id="uncertainty"):
        gr.Markdown(
            "**Discriminative vs generative.** Each point is a one-object scene: its feature is the "
            "object's position on the ground, its label the object's colour, and each layout is a "
            "world that puts the colours in different places. A discriminative model learns only "
            "p(y|x) and is confidently certain far from any data; a generative model learns "
            "p(x, y) = p(y) p(x|y), so it also knows p(x) and can say *I have not seen this* "
            "(confidence p(y|x)·p(known|x), with p(known|x) = p(x) / (p(x) + a flat background)). "
            "Hover a point for its probabilities."
        )
        with gr.Row():
            layout = gr.Radio(list(uncertainty.LAYOUTS), value="blobs", label="Layout", scale=3)
            seed = common.seed_field(scale=1, elem_id="un-seed")
            n = gr.Slider(20, 1000, value=400, step=10, label="Training points", scale=2)
            disc = gr.Dropdown(
                [(v, k) for k, v in uncertainty.DISCRIMINATIVE.items()],
                value="mlp",
                label="Discriminative model",
                scale=2,
            )
            gen = gr.Dropdown(
                [(v, k) for k, v in uncertainty.GENERATIVE.items()], value="flow", label="Generative model", scale=2
            )
        common.examples(
            {
                "three blobs: MLP vs flow": ["blobs", 0, 400, "mlp", "flow"],
                "two moons: SVM vs kernel density": ["moons", 0, 400, "svm", "kde"],
                "rings: boosting vs flow": ["rings", 1, 600, "boosting", "flow"],
                "overlapping classes: logistic vs mixture": ["overlapping", 0, 200, "logistic", "gmm"],
            },
            [layout, seed, n, disc, gen],
            label="Examples (then press Fit and plot)",
        )
        status = gr.Markdown(elem_id="un-status")
        with gr.Tabs():
            with gr.Tab("Decision uncertainty"):
                with gr.Row():
                    px = gr.Slider(-6, 6, value=4.5, step=0.1, label="Probe x")
                    py = gr.Slider(-6, 6, value=4.5, step=0.1, label="Probe y")
                    fit_btn = gr.Button("Fit and plot", variant="primary", elem_id="un-fit")
                    stop_btn = gr.Button("Stop")
                plot = gr.Plot(
                    label="Data · discriminative decision · generative decision with uncertainty "
                    "(click anywhere to move the probe there)",
                    elem_id="uncertainty-plot",
                )
                click = gr.Textbox(
                    elem_id="uncertainty-click", elem_classes="offscreen", show_label=False, container=False
                )
                with gr.Row():
                    probe_img = common.picture("The probe's scene", height=256)
                    probe_md = gr.Markdown(elem_id="un-probe")
                with gr.Row():
                    index = gr.Number(0, label="Show training point #")
                    point_btn = gr.Button("Show its scene")
                with gr.Row():
                    point_img = common.picture("Training point's scene", height=256)
                    point_md = gr.Markdown()
                scores = gr.Markdown()
            with gr.Tab("Missing data"):
                gr.Markdown(
                    "Hide one coordinate. The generative model sums it out, "
                    "p(y | x₁) ∝ p(y) ∫ p(x₁, x₂ | y) dx₂, and still predicts; the discriminative "
                    "model has no such sum and must be fed a guess (the training mean)."
                )
                with gr.Row():
                    seen = gr.Radio(list(views.MISSING_VIEWS), value="x seen, y hidden", label="What is seen")
                    miss_btn = gr.Button("Plot", variant="primary")
                miss_plot = gr.Plot(label="p(y | the seen coordinate)")
                miss_md = gr.Markdown()
            with gr.Tab("Adversarial"):
                gr.Markdown(
                    "**A little noise flips a label** (the lecture's Fig. 1.1). A small CNN, trained "
                    "by the shared loop, names the shape in an `exact`-world picture. FGSM moves every "
                    "subpixel by ±ε grey levels along the sign of the loss gradient; PGD takes many "
                    "small such steps, staying within ε. Does a likelihood model notice?"
                )
                with gr.Row():
                    adv_scenes = views.attack_scenes()
                    adv_index = gr.Slider(0, adv_scenes - 1, value=0, step=1, label="Exact-world scene", scale=3)
                    adv_random = gr.Button("🎲", scale=0, min_width=60)
                    adv_method = gr.Radio([("FGSM", "fgsm"), ("PGD", "pgd")], value="fgsm", label="Attack", scale=1)
                    adv_eps = gr.Slider(0, views.MAX_ATTACK_EPS, value=4, step=1, label="ε (grey levels)", scale=2)
                    adv_steps = gr.Slider(1, views.MAX_ATTACK_STEPS, value=10, step=1, label="PGD steps", scale=2)
                    adv_btn = gr.Button("Attack", variant="primary", scale=1)
                with gr.Row():
                    adv_original = common.picture("Clean picture", height=256)
                    adv_noise = common.picture("Noise, amplified (grey = 0)", height=256)
                    adv_attacked = common.picture("Attacked picture", height=256)
                with gr.Row():
                    adv_plot = gr.Plot(label="p(shape | picture)")
                    adv_md = gr.Markdown()

    study_inputs = [layout, seed, n]
    fit_btn.click(
        uncertainty_ui,
        [*study_inputs, disc, gen, px, py],
        [plot, scores, probe_img, probe_md, status],
        api_name="uncertainty",
        concurrency_limit=2,
        concurrency_id="models",
    )
    common.stop_button(stop_btn, "uncertainty")
    for control in (px, py):
        control.release(
            probe_ui,
            [*study_inputs, disc, gen, px, py],
            [plot, probe_img, probe_md, status],
            api_visibility="private",
            trigger_mode="always_last",
        )
    click.change(
        plot_click_ui,
        [click, *study_inputs, disc, gen],
        [px, py, plot, probe_img, probe_md, status],
        api_visibility="private",
        trigger_mode="always_last",
    )
    demo.load(None, None, None, js=PLOT_CLICK_JS)
    point_btn.click(data_point_ui, [*study_inputs, index], [point_img, point_md, status], api_name="uncertainty_point")
    miss_btn.click(
        missing_ui,
        [*study_inputs, seen, disc, gen],
        [miss_plot, miss_md, status],
        api_name="missing_data",
        concurrency_limit=2,
        concurrency_id="models",
    )
    adv_inputs = [adv_index, adv_eps, adv_method, adv_steps, seed]
    adv_outputs = [adv_original, adv_noise, adv_attacked, adv_plot, adv_md, status]
    adv_btn.click(attack_ui, adv_inputs, adv_outputs, api_name="attack", concurrency_limit=2, concurrency_id="models")
    adv_random.click(
        lambda: secrets.randbelow(adv_scenes), None, adv_index, api_visibility="private", queue=False
    ).then(attack_ui, adv_inputs, adv_outputs, api_visibility="private")
    adv_eps.release(attack_ui, adv_inputs, adv_outputs, api_visibility="private", trigger_mode="always_last")
