"""Discriminative vs generative: who knows where it has seen no data?

A discriminative model learns p(y | x) only. Nothing in its training asks what it should
say far from the data, so it extrapolates its decision with full confidence: a logistic
regression is *more* certain the further a point lies from its boundary.

A generative model learns the joint p(x, y) = p(y) p(x | y). Its decision follows by
Bayes' rule, p(y | x) = p(y) p(x | y) / sum_k p(k) p(x | k), and it also has p(x) =
sum_k p(k) p(x | k), which is tiny where no data was seen. That answers two questions a
discriminative model cannot:

* **Is this point like my data?**  We make it a decision with an open-world prior: with
  probability 1/2 a point comes from the data, with 1/2 from a flat background u(x) over
  the plotted square. Then p(known | x) = p(x) / (p(x) + u(x)), and the generative
  confidence in class y is p(y | x) p(known | x): high only where p(x) is.
* **What if a feature is missing?**  Marginalise it: p(x1 | y) = integral p(x1, x2 | y) dx2,
  analytic for Gaussian mixtures and kernel densities, numerical (a fine grid) for a flow.
  A discriminative p(y | x1, x2) has no such sum; it needs the hidden value imputed.

The data come from the toy world: every point is a one-object 2D scene, its feature the
object's ground position (x, y) and its label the object's colour; each layout is a prior
that puts the colours in different regions. `point_scene` gives back the scene a point is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from scipy.special import logsumexp

from worlds import Cube, Cylinder, Scene, Sphere
from worlds.scene import Camera

# --- the world's 2D layouts -------------------------------------------------------------------------

WORLD_RANGE = 3.0  # objects stand in [-3, 3]^2, the shapes2d world's ground
PLOT_EXTENT = 6.0  # plots and far-from-data points span [-6, 6]^2: well beyond the data
FAR_DISTANCE = 1.0  # a "far" point is at least this far (world units) from every training point
MAX_POINTS = 5_000  # points per split a user may ask for
GRID_MAX = 300  # grid side of a decision map
SHAPE_TYPES = (Cube, Cylinder, Sphere)


@dataclass(frozen=True)
class Layout:
    """A prior over one-object scenes whose position depends on the object's colour."""

    name: str
    description: str
    colors: tuple[str, ...]  # class k is an object of colour colors[k]

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n positions (n, 2) and labels (n,): classes in equal shares, then the layout's geometry."""
        labels = rng.permutation(np.arange(n) % len(self.colors))
        return np.clip(_GEOMETRY[self.name](rng, labels), -WORLD_RANGE, WORLD_RANGE), labels


def _blobs(rng, labels):
    centres = np.array([[-1.6, -1.0], [1.6, -1.0], [0.0, 1.6]])
    return centres[labels] + 0.45 * rng.standard_normal((len(labels), 2))


def _moons(rng, labels):
    # sklearn's make_moons: an upper half circle and a lower one shifted right by 1, interleaved.
    t = rng.uniform(0, math.pi, len(labels))
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    points = np.where(labels[:, None] == 0, upper, lower) - [0.5, 0.25]
    return 1.7 * points + 0.12 * rng.standard_normal((len(labels), 2))


def _rings(rng, labels):
    radius = np.where(labels == 0, 0.0, 2.0) + 0.3 * rng.standard_normal(len(labels))
    angle = rng.uniform(0, 2 * math.pi, len(labels))
    inner = 0.4 * rng.standard_normal((len(labels), 2))
    ring = np.abs(radius)[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return np.where(labels[:, None] == 0, inner, ring)


def _overlapping(rng, labels):
    centres = np.array([[-0.6, 0.0], [0.6, 0.3]])
    return centres[labels] + 0.7 * rng.standard_normal((len(labels), 2))


_GEOMETRY = {"blobs": _blobs, "moons": _moons, "rings": _rings, "overlapping": _overlapping}
LAYOUTS = {
    layout.name: layout
    for layout in [
        Layout("blobs", "three colours in three separate Gaussian blobs", ("red", "blue", "green")),
        Layout("moons", "two interleaving half-moons (scikit-learn's make_moons)", ("red", "blue")),
        Layout("rings", "a blue ring around a red disc: not linearly separable", ("red", "blue")),
        Layout("overlapping", "two Gaussian blobs that overlap: some points are truly ambiguous", ("red", "blue")),
    ]
}


def get_layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


@dataclass(frozen=True)
class PointData:
    """One split of a layout: each point is a scene, its feature and its label."""

    layout: Layout
    scenes: tuple[Scene, ...]

    @cached_property
    def features(self) -> np.ndarray:
        """float64 (N, 2): the object's ground position."""
        return np.array([s.objects[0].position for s in self.scenes], np.float64).reshape(-1, 2)

    @cached_property
    def labels(self) -> np.ndarray:
        """int64 (N,): the index of the object's colour among the layout's colours."""
        return np.array([self.layout.colors.index(s.objects[0].color) for s in self.scenes], np.int64)


def point_scene(position, color: str, rng: np.random.Generator | None = None) -> Scene:
    """The 2D scene a point stands for: one small object of `color` at `position`
    (shape and turn drawn from `rng`; a cube at 0 degrees without one)."""
    shape, rotation = (SHAPE_TYPES[rng.integers(3)], float(rng.uniform(0, 360))) if rng else (Cube, 0.0)
    obj = shape(color=color, position=tuple(float(v) for v in position), size="small", rotation=rotation)
    return Scene([obj], image_size=64, view="2d", camera=Camera(extent=WORLD_RANGE + 0.5))


def sample_points(layout: str | Layout, n: int, seed: int, split: str = "train") -> PointData:
    """n scenes of a layout; (layout, seed, split) fixes every byte. `train` and `test` are independent."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    if not 1 <= n <= MAX_POINTS:
        raise ValueError(f"the number of points must be in 1..{MAX_POINTS}, got {n}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    key = [int.from_bytes(layout.name.encode(), "little") % 2**32, int(seed), ("train", "test").index(split)]
    rng = np.random.default_rng(np.random.SeedSequence(key))
    points, labels = layout.draw(rng, n)
    return PointData(layout, tuple(point_scene(p, layout.colors[k], rng) for p, k in zip(points, labels)))


def far_points(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n points uniform on the plotted square, each at least FAR_DISTANCE from every training point."""
    rng = np.random.default_rng(np.random.SeedSequence([7, int(seed)]))
    kept = np.empty((0, 2))
    while len(kept) < n:
        candidates = rng.uniform(-PLOT_EXTENT, PLOT_EXTENT, (4 * n, 2))
        nearest = np.sqrt(((candidates[:, None] - train[None]) ** 2).sum(-1)).min(1)
        kept = np.concatenate([kept, candidates[nearest >= FAR_DISTANCE]])
    return kept[:n]


# --- discriminative models: p(y | x) and nothing else -------------------------------------------------

DISCRIMINATIVE = {
    "logistic": "logistic regression",
    "mlp": "MLP (2 x 64, ReLU)",
    "svm": "RBF SVM (Platt probabilities)",
    "boosting": "gradient boosting",
}


def fit_discriminative(name: str, features: np.ndarray, labels: np.ndarray, seed: int = 0):
    """A fitted scikit-learn classifier with predict_proba."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    if name not in DISCRIMINATIVE:
        raise ValueError(f"unknown discriminative model {name!r}; choose one of {', '.join(DISCRIMINATIVE)}")
    model = {
        "logistic": lambda: LogisticRegression(max_iter=1000),
        "mlp": lambda: MLPClassifier((64, 64), max_iter=2000, random_state=seed),
        # Platt scaling: a sigmoid of the SVM's decision value, fitted by cross-validation
        "svm": lambda: CalibratedClassifierCV(SVC(kernel="rbf"), method="sigmoid", ensemble=False),
        "boosting": lambda: GradientBoostingClassifier(random_state=seed),
    }[name]()
    return model.fit(features, labels)


# --- generative models: one density p(x | y) per class ------------------------------------------------


def _normal_log_density(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """log N(x; mean, var) of scalars, broadcast."""
    return -0.5 * (np.log(2 * math.pi * var) + (x - mean) ** 2 / var)


class GaussianMixtureDensity:
    """p(x) = sum_c w_c N(x; mu_c, Sigma_c). A Gaussian's marginal is the Gaussian of the kept
    coordinates, so p(x_d) = sum_c w_c N(x_d; mu_cd, Sigma_cdd): exact marginalisation."""

    def __init__(self, weights, means, covariances):
        self.weights, self.means, self.covariances = (np.asarray(a, np.float64) for a in (weights, means, covariances))

    @classmethod
    def fit(cls, features: np.ndarray, seed: int = 0, components: int = 4) -> "GaussianMixtureDensity":
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(
            min(components, len(features)), covariance_type="full", reg_covar=1e-3, random_state=seed
        ).fit(features)
        return cls(gmm.weights_, gmm.means_, gmm.covariances_)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        diff = x[:, None, :] - self.means[None]  # (N, C, 2)
        precision = np.linalg.inv(self.covariances)  # (C, 2, 2)
        mahalanobis = np.einsum("nci,cij,ncj->nc", diff, precision, diff)  # (N, C)
        log_norm = -0.5 * (np.linalg.slogdet(self.covariances)[1] + 2 * math.log(2 * math.pi))
        return logsumexp(np.log(self.weights) + log_norm - 0.5 * mahalanobis, axis=1)

    def marginal_log_prob(self, values: np.ndarray, dim: int) -> np.ndarray:
        terms = _normal_log_density(values[:, None], self.means[None, :, dim], self.covariances[None, :, dim, dim])
        return logsumexp(np.log(self.weights) + terms, axis=1)


class KernelDensity:
    """p(x) = (1/n) sum_i N(x; x_i, h^2 I), Scott's bandwidth h = sigma n^(-1/6). The kernel is
    isotropic, so the marginal of a coordinate is the 1D kernel density of that coordinate."""

    def __init__(self, points: np.ndarray, bandwidth: float | None = None):
        self.points = np.asarray(points, np.float64)
        self.bandwidth = bandwidth or float(self.points.std(0).mean() * len(self.points) ** (-1 / 6))

    @classmethod
    def fit(cls, features: np.ndarray, seed: int = 0) -> "KernelDensity":
        return cls(features)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        sq = ((x[:, None, :] - self.points[None]) ** 2).sum(-1)  # (N, n)
        return (
            logsumexp(-0.5 * sq / self.bandwidth**2, axis=1)
            - math.log(len(self.points))
            - math.log(2 * math.pi * self.bandwidth**2)
        )

    def marginal_log_prob(self, values: np.ndarray, dim: int) -> np.ndarray:
        terms = _normal_log_density(values[:, None], self.points[None, :, dim], self.bandwidth**2)
        return logsumexp(terms, axis=1) - math.log(len(self.points))


class FlowDensity:
    """The project's RealNVP (`playground.models.flow.VectorFlow`) on standardised points z = (x - m) / s:
    log p(x) = log q(z) - sum log s. Its marginal has no closed form, so it is a sum over a fine
    grid of the hidden coordinate (trapezoid rule over z in [-8, 8], where q's mass is):
    log p(x_d) = log integral q(z_d, z_o) dz_o - log s_d."""

    GRID = np.linspace(-8.0, 8.0, 321)

    def __init__(self, flow, mean: np.ndarray, scale: np.ndarray):
        self.flow, self.mean, self.scale = flow, mean, scale

    @classmethod
    def fit(cls, features: np.ndarray, seed: int = 0, steps: int = 400, lr: float = 5e-3) -> "FlowDensity":
        from playground.models.flow import VectorFlow, VectorFlowConfig

        mean, scale = features.mean(0), features.std(0) + 1e-3
        z = torch.as_tensor((features - mean) / scale, dtype=torch.float32)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            flow = VectorFlow(VectorFlowConfig(dim=2, couplings=6, hidden=32))
            optimizer = torch.optim.Adam(flow.parameters(), lr=lr, weight_decay=1e-4)
            noise = torch.Generator().manual_seed(seed)
            for _ in range(steps):
                optimizer.zero_grad()
                # input noise (0.15 standard deviations) keeps a flow on a few hundred points from
                # collapsing onto them: it fits the data smoothed by a small Gaussian, a smoother p(x)
                loss = flow.loss(z + 0.15 * torch.randn(z.shape, generator=noise))
                loss.backward()
                optimizer.step()
        flow.eval()
        return cls(flow, mean, scale)

    @torch.no_grad()
    def _log_q(self, z: np.ndarray) -> np.ndarray:
        return self.flow.log_prob(torch.as_tensor(z, dtype=torch.float32)).double().numpy()

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        return self._log_q((x - self.mean) / self.scale) - np.log(self.scale).sum()

    def marginal_log_prob(self, values: np.ndarray, dim: int) -> np.ndarray:
        grid = self.GRID
        z = np.empty((len(values), len(grid), 2))
        z[:, :, dim] = ((values - self.mean[dim]) / self.scale[dim])[:, None]
        z[:, :, 1 - dim] = grid[None]
        log_q = self._log_q(z.reshape(-1, 2)).reshape(len(values), len(grid))
        weights = np.full(len(grid), grid[1] - grid[0])
        weights[[0, -1]] /= 2  # trapezoid ends
        return logsumexp(log_q + np.log(weights), axis=1) - math.log(self.scale[dim])


GENERATIVE = {
    "gmm": "Gaussian mixture per class (4 components)",
    "kde": "kernel density per class",
    "flow": "RealNVP flow per class (VectorFlow)",
}
_DENSITIES = {"gmm": GaussianMixtureDensity, "kde": KernelDensity, "flow": FlowDensity}


class GenerativeClassifier:
    """p(x, y) = p(y) p(x | y); p(x), p(y | x) and the missing-feature posterior follow by the sum
    and product rules. `densities[k]` is p(x | y = k), with `log_prob` and `marginal_log_prob`."""

    def __init__(self, densities: list, priors):
        self.densities, self.priors = densities, np.asarray(priors, np.float64)

    def log_joint(self, x: np.ndarray) -> np.ndarray:
        """(N, K): log p(x, y=k) = log p(y=k) + log p(x | y=k)."""
        return np.log(self.priors) + np.stack([d.log_prob(x) for d in self.densities], 1)

    def log_px(self, x: np.ndarray) -> np.ndarray:
        """(N,): log p(x) = log sum_k p(x, y=k)."""
        return logsumexp(self.log_joint(x), axis=1)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, K): p(y | x) = p(x, y) / p(x), Bayes' rule."""
        joint = self.log_joint(x)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def predict_proba_observed(self, values: np.ndarray, observed: int) -> np.ndarray:
        """(N, K): p(y | x_observed), the other coordinate summed out of p(x, y)."""
        joint = np.log(self.priors) + np.stack([d.marginal_log_prob(values, observed) for d in self.densities], 1)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def known_probability(self, x: np.ndarray) -> np.ndarray:
        """(N,): p(known | x) = p(x) / (p(x) + u) with u the flat density over the plotted square."""
        log_u = -math.log((2 * PLOT_EXTENT) ** 2)
        return np.exp(-np.logaddexp(0.0, log_u - self.log_px(x)))


def fit_generative(
    name: str, features: np.ndarray, labels: np.ndarray, seed: int = 0, **kwargs
) -> GenerativeClassifier:
    """One density of family `name` per class, and the class frequencies as p(y)."""
    if name not in GENERATIVE:
        raise ValueError(f"unknown generative model {name!r}; choose one of {', '.join(GENERATIVE)}")
    classes = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=classes)
    if counts.min() < 2:
        raise ValueError("every class needs at least 2 training points")
    densities = [_DENSITIES[name].fit(features[labels == k], seed=seed + k, **kwargs) for k in range(classes)]
    return GenerativeClassifier(densities, counts / counts.sum())


# --- the study: fit everything once, measure, plot --------------------------------------------------


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the ROC curve for telling data (in) from far points (out), higher score = data:
    the probability that a random data point outscores a random far one (ties count half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.ones(len(in_scores)), np.zeros(len(out_scores))], np.r_[in_scores, out_scores]))


@dataclass
class Study:
    """Every model of both kinds fitted on one layout's training points."""

    layout: Layout
    train: PointData
    test: PointData
    far: np.ndarray  # (M, 2) points far from all training data
    discriminative: dict
    generative: dict[str, GenerativeClassifier]
    seed: int

    def mean_imputed(self, values: np.ndarray, observed: int) -> np.ndarray:
        """(N, 2) points with the hidden coordinate set to its training mean (the usual imputation)."""
        points = np.tile(self.train.features.mean(0), (len(values), 1))
        points[:, observed] = values
        return points

    def observed_proba(self, name: str, values: np.ndarray, observed: int) -> np.ndarray:
        """(N, K): model `name`'s p(y | one coordinate): marginalised (generative) or mean-imputed (discriminative)."""
        if name in self.generative:
            return self.generative[name].predict_proba_observed(values, observed)
        return self.discriminative[name].predict_proba(self.mean_imputed(values, observed))

    def models(self) -> dict:
        return {**self.discriminative, **self.generative}

    def scores(self) -> dict[str, dict]:
        """Per model: test accuracy; AUROC of test points vs far points (score: max p(y|x) for a
        discriminative model, log p(x) for a generative one); accuracy when only x (y hidden) or only y is seen."""
        x, y = self.test.features, self.test.labels
        out = {}
        for name, model in self.models().items():
            generative = name in self.generative
            score = model.log_px if generative else (lambda points: model.predict_proba(points).max(1))
            only = [float((self.observed_proba(name, x[:, d], d).argmax(1) == y).mean()) for d in (0, 1)]
            out[name] = dict(
                kind="generative" if generative else "discriminative",
                accuracy=float((model.predict_proba(x).argmax(1) == y).mean()),
                auroc=auroc(score(x), score(self.far)),
                accuracy_x_only=only[0],
                accuracy_y_only=only[1],
                missing_accuracy=float(np.mean(only)),
            )
        return out


def run_study(
    layout: str,
    *,
    n_train: int = 400,
    n_test: int = 400,
    n_far: int = 400,
    seed: int = 0,
    discriminative=tuple(DISCRIMINATIVE),
    generative=tuple(GENERATIVE),
    flow_steps: int = 400,
) -> Study:
    """Sample a layout's train/test scenes and far points, and fit the chosen models."""
    layout = get_layout(layout)
    train, test = sample_points(layout, n_train, seed, "train"), sample_points(layout, n_test, seed, "test")
    if not 1 <= n_far <= MAX_POINTS:
        raise ValueError(f"the number of far points must be in 1..{MAX_POINTS}, got {n_far}")
    fits = {name: fit_discriminative(name, train.features, train.labels, seed) for name in discriminative}
    gens = {
        name: fit_generative(
            name, train.features, train.labels, seed, **({"steps": flow_steps} if name == "flow" else {})
        )
        for name in generative
    }
    return Study(layout, train, test, far_points(train.features, n_far, seed), fits, gens, seed)


def grid(side: int = 121) -> tuple[np.ndarray, np.ndarray]:
    """The plotted axis (side,) and its points (side*side, 2), row-major in y."""
    if not 11 <= side <= GRID_MAX:
        raise ValueError(f"grid side must be in 11..{GRID_MAX}, got {side}")
    axis = np.linspace(-PLOT_EXTENT, PLOT_EXTENT, side)
    xx, yy = np.meshgrid(axis, axis)
    return axis, np.stack([xx.ravel(), yy.ravel()], 1)
