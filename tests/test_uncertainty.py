"""Discriminative vs generative (playground.uncertainty.study, playground.app.plots): Bayes' rule,
marginalisation, the layouts' data, the measured study and its figures."""

import math

import numpy as np
import pytest
import torch

from playground.app.plots import decision_figure, missing_figure
from playground.models.flow import VectorFlow, VectorFlowConfig
from playground.uncertainty.study import (
    FAR_DISTANCE,
    LAYOUTS,
    WORLD_RANGE,
    FlowDensity,
    GaussianMixtureDensity,
    GenerativeClassifier,
    KernelDensity,
    far_points,
    fit_generative,
    grid,
    point_scene,
    run_study,
    sample_points,
)
from worlds import render

pytestmark = pytest.mark.usefixtures("one_thread")


def unit_gaussian(mean):
    return GaussianMixtureDensity([1.0], [mean], [np.eye(2)])


def sigmoid(t):
    return 1 / (1 + np.exp(-t))


# --- Bayes' rule and marginalisation -------------------------------------------------------------


@pytest.mark.parametrize("priors", [(0.5, 0.5), (0.25, 0.75)])
def test_posterior_matches_hand_computed_gaussians(priors):
    # N((-1, 0), I) vs N((1, 0), I): log p(x|1) - log p(x|0) = 2 x_0, so p(1|x) = sigmoid(2 x_0 + log(pi_1/pi_0))
    model = GenerativeClassifier([unit_gaussian([-1, 0]), unit_gaussian([1, 0])], priors)
    x = np.random.default_rng(0).normal(0, 2, (50, 2))
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(proba[:, 1], sigmoid(2 * x[:, 0] + math.log(priors[1] / priors[0])), atol=1e-10)
    # p(x) = sum_k pi_k N(x; mu_k, I)
    dens = [np.exp(-0.5 * ((x - m) ** 2).sum(1)) / (2 * math.pi) for m in ([-1, 0], [1, 0])]
    np.testing.assert_allclose(model.log_px(x), np.log(priors[0] * dens[0] + priors[1] * dens[1]), atol=1e-10)
    # the classes differ only in x_0: seeing x_0 alone gives the same posterior; seeing x_1 alone gives the prior
    np.testing.assert_allclose(model.predict_proba_observed(x[:, 0], 0), proba, atol=1e-10)
    np.testing.assert_allclose(model.predict_proba_observed(x[:, 1], 1), np.tile(priors, (50, 1)), atol=1e-10)


def numeric_marginal(density, values, dim, lo=-15, hi=15, n=3001):
    t = np.linspace(lo, hi, n)
    pts = np.empty((len(values), n, 2))
    pts[:, :, dim], pts[:, :, 1 - dim] = values[:, None], t[None]
    p = np.exp(density.log_prob(pts.reshape(-1, 2))).reshape(len(values), n)
    return np.log(np.trapezoid(p, t, axis=1))


def nudged_flow(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        flow = VectorFlow(VectorFlowConfig(dim=2, couplings=4, hidden=16))
        with torch.no_grad():
            for p in flow.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return FlowDensity(flow.eval(), np.array([0.5, -0.2]), np.array([1.3, 0.7]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianMixtureDensity(
            [0.3, 0.7], [[0, 1], [2, -1]], [[[1, 0.5], [0.5, 2]], [[0.5, -0.2], [-0.2, 0.3]]]
        ),
        lambda: KernelDensity(np.random.default_rng(1).normal(0, 1, (40, 2)), bandwidth=0.4),
        nudged_flow,
    ],
)
@pytest.mark.parametrize("dim", [0, 1])
def test_marginal_sums_the_hidden_coordinate_out(make, dim):
    density = make()
    values = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(
        density.marginal_log_prob(values, dim), numeric_marginal(density, values, dim), atol=2e-3
    )


def test_flow_density_integrates_to_one():
    density = nudged_flow(3)
    axis = np.linspace(-12, 12, 601)
    xx, yy = np.meshgrid(axis, axis)
    p = np.exp(density.log_prob(np.stack([xx.ravel(), yy.ravel()], 1))).reshape(601, 601)
    assert np.trapezoid(np.trapezoid(p, axis, axis=1), axis) == pytest.approx(1.0, abs=0.01)


def test_known_probability_falls_far_from_data():
    model = GenerativeClassifier([unit_gaussian([0, 0]), unit_gaussian([1, 1])], (0.5, 0.5))
    known = model.known_probability(np.array([[0.5, 0.5], [5.5, -5.5]]))
    assert known[0] > 0.9 and known[1] < 1e-3


# --- the data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_are_scenes_seeded_and_balanced(layout):
    a, b = sample_points(layout, 60, seed=3), sample_points(layout, 60, seed=3)
    assert np.array_equal(a.features, b.features) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.features, sample_points(layout, 60, seed=3, split="test").features)
    assert np.abs(a.features).max() <= WORLD_RANGE
    counts = np.bincount(a.labels)
    assert len(counts) == len(LAYOUTS[layout].colors) and counts.max() - counts.min() <= 1
    image = render([a.scenes[0]])[0]
    assert image.shape == (64, 64, 3) and len(np.unique(image.reshape(-1, 3), axis=0)) > 1


def test_point_scene_puts_the_object_at_the_point():
    scene = point_scene((1.25, -2.0), "blue")
    assert scene.objects[0].position == (1.25, -2.0) and scene.objects[0].color == "blue" and scene.view == "2d"


def test_far_points_are_far():
    train = sample_points("blobs", 100, 0).features
    far = far_points(train, 50, seed=0)
    assert far.shape == (50, 2)
    assert np.sqrt(((far[:, None] - train[None]) ** 2).sum(-1)).min() >= FAR_DISTANCE


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown layout"):
        sample_points("spirals", 10, 0)
    with pytest.raises(ValueError, match="number of points"):
        sample_points("blobs", 10**6, 0)
    with pytest.raises(ValueError, match="grid side"):
        grid(5000)
    x = sample_points("blobs", 30, 0)
    with pytest.raises(ValueError, match="unknown generative model"):
        fit_generative("vae", x.features, x.labels)


# --- the study and its figures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def study():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the one_thread fixture (function-scoped) does for the tests
    try:
        return run_study(
            "blobs",
            n_train=150,
            n_test=150,
            n_far=150,
            discriminative=("logistic", "mlp"),
            generative=("gmm", "flow"),
            flow_steps=40,
        )
    finally:
        torch.set_num_threads(threads)


def test_generative_models_know_where_there_is_no_data(study):
    scores = study.scores()
    assert set(scores) == {"logistic", "mlp", "gmm", "flow"}
    assert all(scores[m]["accuracy"] > 0.9 for m in ("logistic", "mlp", "gmm"))
    # max p(y|x) of logistic regression grows away from its boundary: far points look *more* certain
    assert scores["logistic"]["auroc"] < 0.5 < 0.95 < scores["gmm"]["auroc"]
    # x alone separates the three blobs' colours far better once y is summed out than mean-imputed
    assert scores["gmm"]["accuracy_x_only"] > scores["logistic"]["accuracy_x_only"] + 0.1


def test_decision_figure_has_the_three_panels(study):
    fig = decision_figure(study, "mlp", "gmm", side=31, probe=(4.0, 4.0))
    kinds = [t.type for t in fig.data]
    assert kinds.count("heatmap") == 2 * 3 and kinds.count("contour") == 1
    assert sum(t.type == "scatter" and t.name.endswith("(training data)") for t in fig.data) == 3 * 3
    assert sum(t.name == "probe point" for t in fig.data) == 3
    assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.coloraxis1.colorbar.title.text
    heat = np.array(fig.data[3].z, dtype=float)  # the generative map of class 0: never above 1
    assert np.nanmax(heat) <= 1.0
    with pytest.raises(ValueError, match="no discriminative model"):
        decision_figure(study, "svm", "gmm")


def test_missing_figure_plots_both_kinds(study):
    fig = missing_figure(study, observed=1, models=("mlp", "gmm"), side=41)
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(lines) == 2 * 3 and sum(t.type == "histogram" for t in fig.data) == 3
    assert any("marginalised" in t.name for t in lines) and any("mean-imputed" in t.name for t in lines)
    assert "only y is seen" in fig.layout.title.text
    with pytest.raises(ValueError, match="observed"):
        missing_figure(study, observed=2)
