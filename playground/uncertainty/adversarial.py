"""Adversarial noise: a little noise, chosen by the gradient, flips a classifier's label (the lecture's Fig. 1.1).

Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing Adversarial Examples" (FGSM);
Madry, Makelov, Schmidt, Tsipras & Vladu 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks" (PGD).

The classifier. `ShapeClassifier` is a small CNN that reads a uint8 image and names the shape of
the exact world's one object (cube, cylinder or sphere). It is trained by the shared loop
(`playground.models.train.fit`) like every family: its condition is the class labels (shape, colour) and
it learns column 0.

The attacks. All of them work in pixel units: images are 0..255 and eps is in grey levels, so
eps = 4 lets every subpixel move by at most 4 levels (an L-infinity ball of radius eps). Every
attack returns a real image: uint8, in [0, 255], within eps of the input.
  * FGSM linearises the loss around x: L(x + d) ~ L(x) + d . g with g = grad_x L. Over the ball
    |d|_inf <= eps this is largest at d = eps sign(g), and it gains eps |g|_1 — a sum over all
    D = 3 H W subpixels, so even a tiny eps moves the loss a lot in high dimension (Goodfellow's
    "linearity" explanation).
  * PGD repeats small FGSM steps and projects back after each: x <- P(x + a sign(grad_x L)),
    where P clips every subpixel to [x0 - eps, x0 + eps] and [0, 255] (for an L-infinity ball
    and a box the projection is coordinate-wise clipping). Madry et al. start at a random point
    of the ball; a = 2.5 eps / steps lets the walk cross the ball and come back.
  * `smallest_flip` scans eps = 1, 2, ... and reports the first one whose (rounded) attacked
    image gets another predicted label than the clean one.

The likelihood check ("does a likelihood model notice?"). The perturbed image is no image of
the world: its true probability is 0, and the shipped PixelCNN (exact likelihood) and flow (a
dequantized bound) of the exact world give it many more bits per dimension than the clean one
(PGD at eps = 4: 0.15 -> 19 bits/dim under the PixelCNN), although to the eye it is the same image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.models.protocol import Model
from worlds.scene import SHAPES

METHODS = ("fgsm", "pgd")
MAX_EPS = 255  # a perturbation larger than the whole grey range means nothing
MAX_STEPS = 1000  # PGD steps
LIKELIHOOD_MODELS = ("pixelcnn", "flow")  # shipped exact-world models whose bits/dim are compared
LIKELIHOOD_BATCH = 32  # images per PixelCNN pass: its logits are (B, 256, 3, H, W) floats


# --- the classifier -----------------------------------------------------------------------------


@dataclass
class ClassifierConfig:
    image_size: int = 32  # square input images of this side (a multiple of 8: three 2x poolings)
    channels: int = 3  # colour channels
    classes: int = len(SHAPES)  # output classes: the shapes, in the order of worlds.scene.SHAPES
    width: int = 32  # channels of the first conv layer (doubled after the first pooling)
    condition: str = "class"  # what the training loop passes: (B, 2) labels, of which column 0 is learned


class ShapeClassifier(Model):
    """image -> which shape: three conv + pool stages, then a linear layer on the 4x4 feature grid."""

    Config = ClassifierConfig
    family = "classifier"
    likelihood = "none"
    conditions = ("class",)  # (shape, colour) labels, of which it learns the shape

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        if config.classes != len(SHAPES):
            raise ValueError(f"classes must be {len(SHAPES)} (the shapes {', '.join(SHAPES)}), got {config.classes}")
        if not 8 <= config.image_size <= 256 or config.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 in 8..256, got {config.image_size}")
        if not 1 <= config.width <= 512 or not 1 <= config.channels <= 4:
            raise ValueError(f"width must be in 1..512 and channels in 1..4, got {config.width} and {config.channels}")
        c, w, side = config.channels, config.width, config.image_size // 8
        self.features = nn.Sequential(
            nn.Conv2d(c, w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, w, S/2, S/2)
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 2w, S/4, S/4)
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )  # (B, 2w, S/8, S/8)
        self.head = nn.Linear(2 * w * side * side, config.classes)

    def check_images(self, x: torch.Tensor) -> None:
        """Raise a ValueError unless x is (B, C, S, S) of this model, uint8 or float in 0..255."""
        c, s = self.config.channels, self.config.image_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, s, s) or x.shape[0] == 0:
            raise ValueError(f"expected images (B, {c}, {s}, {s}) with B >= 1, got {tuple(x.shape)}")
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise ValueError(f"images must be uint8 or float in 0..255, got {x.dtype}")
        if x.is_floating_point() and not (x.min() >= 0 and x.max() <= 255):  # also refuses NaN
            raise ValueError("float images must lie in 0..255 (pixel units, not [0, 1] or [-1, 1])")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, classes) scores of images x (B, C, S, S): uint8, or float in 0..255 when a gradient
        with respect to the pixels is wanted."""
        self.check_images(x)
        h = x.to(self.head.weight.device).float() / 255.0  # (B, C, S, S) in [0, 1]
        return self.head(self.features(h).flatten(1))  # (B, classes)

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of the shape index, column 0 of the class condition (B, 2)."""
        condition = self._check_condition(condition)
        if condition.ndim != 2 or condition.shape[0] != x.shape[0]:
            raise ValueError(
                f"the condition must be class labels (B, 2) for B = {x.shape[0]} images, got {tuple(condition.shape)}"
            )
        return F.cross_entropy(self.logits(x), condition[:, 0].to(self.head.weight.device))

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, classes) softmax of the logits: p(shape | image)."""
        return self.logits(x).softmax(dim=1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) int64: the most probable shape index."""
        return self.logits(x).argmax(dim=1)


# --- attacks ------------------------------------------------------------------------------------


def _check_eps(eps, name: str = "eps") -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps <= MAX_EPS:
        raise ValueError(f"{name} must be a number of grey levels in 0..{MAX_EPS}, got {eps!r}")
    return float(eps)


def _check_inputs(model: ShapeClassifier, x: torch.Tensor, labels: torch.Tensor | None):
    """uint8 images (B, C, S, S) on the model's device and their labels (B,); labels=None means the
    model's own predictions (attack whatever it says)."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        raise ValueError(f"attacks take uint8 image tensors (B, C, H, W), got {getattr(x, 'dtype', type(x))}")
    model.check_images(x)
    x = x.to(model.head.weight.device)
    if labels is None:
        return x, model.predict(x)
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dtype not in (torch.int64, torch.int32)
        or tuple(labels.shape) != (x.shape[0],)
    ):
        raise ValueError(
            f"labels must be an integer tensor ({x.shape[0]},) of shape indices, "
            f"got {getattr(labels, 'dtype', type(labels))} {tuple(getattr(labels, 'shape', ()))}"
        )
    if labels.min() < 0 or labels.max() >= model.config.classes:
        raise ValueError(f"labels must lie in 0..{model.config.classes - 1}")
    return x, labels.long().to(x.device)


def loss_gradient(model: ShapeClassifier, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """grad_x of the cross-entropy (B, C, H, W) at images x (float, pixel units), one image at a time:
    the loss is summed over the batch, so each image's gradient is that of its own loss. Only the
    input gets a gradient; the model's parameters are left untouched.

    The loss is taken in float64. Its gradient with respect to the logits z is p - onehot(y), so
    grad_x CE = sum_{j != y} p_j (grad_x z_j - grad_x z_y). Once the model is sure (p_y > 1 - 6e-8),
    p_y - 1 rounds to 0 in float32 and the -grad_x z_y part is lost: the attack then only pushes the
    other logits up, which on this world pushes the true one up too. The shipped classifier is that sure
    of 39% of the spheres, and a float32 PGD left a third of the spheres standing at every eps from 8 to
    32 (a numerical form of gradient masking); in float64 the difference survives."""
    with torch.enable_grad():
        x = x.detach().float().requires_grad_(True)  # (B, C, H, W)
        loss = F.cross_entropy(model.logits(x).double(), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad  # (B, C, H, W)


def _to_image(x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> torch.Tensor:
    """Round an attacked image to integers without leaving the ball: the change d = x_adv - x is rounded
    and clipped to the integer ball |d| <= floor(eps). x_adv already lies in [0, 255] and x and the
    bounds are integers, so x + d does too."""
    bound = math.floor(eps)
    delta = (x_adv - x.float()).round().clamp(-bound, bound)  # (B, C, H, W) integers
    return (x.float() + delta).to(torch.uint8)


def _fgsm_step(x: torch.Tensor, direction: torch.Tensor, eps: float) -> torch.Tensor:
    """x + eps sign(g) in [0, 255] as an image, for a precomputed direction sign(g)."""
    return _to_image(x, (x.float() + eps * direction).clamp(0, 255), eps)


def fgsm(model: ShapeClassifier, x: torch.Tensor, labels: torch.Tensor | None, eps: float) -> torch.Tensor:
    """The fast gradient sign method: uint8 (B, C, H, W) images x + eps sign(grad_x CE(labels)), clipped
    to [0, 255] and rounded. labels=None attacks the model's own predictions."""
    eps = _check_eps(eps)
    x, labels = _check_inputs(model, x, labels)
    return _fgsm_step(x, loss_gradient(model, x, labels).sign(), eps)


def pgd(
    model: ShapeClassifier,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    eps: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent on the loss (ascent, to be exact): uint8 (B, C, H, W), within eps of x.

    `steps` signed-gradient steps of `step_size` (default 2.5 eps / steps), each followed by the
    projection onto the ball and [0, 255]. With a `generator` the walk starts at a uniform random
    point of the ball (Madry et al.), else at x itself; the last iterate is returned, rounded."""
    eps = _check_eps(eps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in 1..{MAX_STEPS}, got {steps!r}")
    if step_size is not None and (
        isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or not 0 < step_size <= MAX_EPS
    ):
        raise ValueError(f"step_size must be in (0, {MAX_EPS}] grey levels, got {step_size!r}")
    alpha = 2.5 * eps / steps if step_size is None else float(step_size)
    x, labels = _check_inputs(model, x, labels)
    lo = (x.float() - eps).clamp(min=0)  # (B, C, H, W) the box
    hi = (x.float() + eps).clamp(max=255)  # ball ∩ [0, 255]
    x_t = x.float()
    if generator is not None:
        noise = torch.rand(x.shape, generator=generator, device=generator.device)  # (B, C, H, W) in [0, 1)
        x_t = (x_t + eps * (2 * noise.to(x.device) - 1)).clamp(lo, hi)
    for _ in range(steps):
        x_t = x_t + alpha * loss_gradient(model, x_t, labels).sign()
        x_t = x_t.clamp(lo, hi)  # projection onto the box is coordinate-wise clipping
    return _to_image(x, x_t, eps)


def _attack(model, x, labels, eps: float, method: str, steps: int, generator=None) -> torch.Tensor:
    if method not in METHODS:
        raise ValueError(f"unknown attack {method!r}; choose one of {', '.join(METHODS)}")
    if method == "fgsm":
        return fgsm(model, x, labels, eps)
    return pgd(model, x, labels, eps, steps=steps, generator=generator)


def smallest_flip(
    model: ShapeClassifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    method: str = "fgsm",
    max_eps: int = 64,
    steps: int = 10,
) -> torch.Tensor:
    """(B,) int64: per image, the smallest integer eps in 1..max_eps whose attacked (rounded) image is
    predicted as another class than the clean image; 0 (the clean image itself) when none is.

    Flipping need not be monotone in eps (FGSM at eps = 3 may flip and at eps = 5 not: the longer step
    overshoots the other class's region and lands where the answer is the old one again), so "smallest"
    means the smallest on the grid 1, 2, ..., max_eps, found by a scan upwards that drops each image as
    soon as it flips. A bisection assumes monotonicity and misses it: measured on the shipped classifier
    and the 768 exact-world images (one thread), a bisection over 1..64 answered a larger eps than the
    smallest for 10% of the images with FGSM and 2% with PGD. For PGD the scan is also faster (22 s
    against 35 s): it costs e* attacks per image (median 3), a bisection about log2(64) + 1 = 7. For
    FGSM, whose direction sign(g) is the same for every eps (one gradient, then one forward pass per
    eps), the bisection is faster (3 s against 8 s: FGSM never flips a quarter of the images, and the
    scan tries all 64 eps on them), but wrong."""
    if method not in METHODS:
        raise ValueError(f"unknown attack {method!r}; choose one of {', '.join(METHODS)}")
    if isinstance(max_eps, bool) or not isinstance(max_eps, int) or not 1 <= max_eps <= MAX_EPS:
        raise ValueError(f"max_eps must be an integer in 1..{MAX_EPS}, got {max_eps!r}")
    x, labels = _check_inputs(model, x, labels)
    before = model.predict(x)  # (B,)
    direction = loss_gradient(model, x, labels).sign() if method == "fgsm" else None
    found = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)  # (B,) 0 = never flipped
    active = torch.arange(x.shape[0], device=x.device)  # images not flipped yet
    for eps in range(1, max_eps + 1):
        if method == "fgsm":
            x_adv = _fgsm_step(x[active], direction[active], eps)
        else:
            x_adv = pgd(model, x[active], labels[active], eps, steps=steps)
        flipped = model.predict(x_adv) != before[active]
        found[active[flipped]] = eps
        active = active[~flipped]
        if active.numel() == 0:
            break
    return found


# --- does a likelihood model notice? ------------------------------------------------------------


@dataclass(frozen=True)
class LikelihoodChange:
    """Bits per dimension, -log2 p(x) / D, of the clean and the attacked images under one model."""

    kind: str  # "exact" (PixelCNN, the true world), "bound" (the flow's dequantized bound)
    before: np.ndarray  # (B,) bits/dim of the clean images
    after: np.ndarray  # (B,) bits/dim of the attacked images (inf: impossible under the model)

    @property
    def change(self) -> np.ndarray:
        """(B,) extra bits/dim the attack costs (inf when the attacked image is impossible)."""
        return self.after - self.before


@lru_cache(maxsize=None)
def exact_world():
    """The exact world, enumerated once per process (its 768 images render on first use of `.images`)."""
    from worlds import ExactWorld

    return ExactWorld("exact")


def _world_bits_per_dim(x: torch.Tensor) -> np.ndarray:
    """(B,) -log2 p(x) / D under the exact world itself: log2(768) / D for one of its images, +inf for
    any other image (no scene renders to it)."""
    images = x.permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, C)
    return -exact_world().log2_prob(images) / x[0].numel()


@torch.no_grad()
def _model_bits_per_dim(model, x: torch.Tensor) -> np.ndarray:
    return (
        torch.cat([model.bits_per_dim(x[k : k + LIKELIHOOD_BATCH]) for k in range(0, len(x), LIKELIHOOD_BATCH)])
        .cpu()
        .numpy()
        .astype(np.float64)
    )


def likelihood_check(x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, LikelihoodChange]:
    """Bits/dim of clean images x and attacked images x_adv (both uint8 (B, 3, 32, 32) of the exact
    world's size) under the true world ("world") and under each shipped exact-world likelihood model
    present ("pixelcnn": exact; "flow": its dequantized bound, one deterministic draw). The shipped
    models are loaded on first use (`pretrained.load` caches them)."""
    from playground.models import pretrained

    size = exact_world().world.image_size
    for name, images in (("x", x), ("x_adv", x_adv)):
        if (
            not isinstance(images, torch.Tensor)
            or images.dtype != torch.uint8
            or images.ndim != 4
            or tuple(images.shape[1:]) != (3, size, size)
        ):
            raise ValueError(
                f"{name} must be uint8 images (B, 3, {size}, {size}) of the exact world, "
                f"got {getattr(images, 'dtype', type(images))} {tuple(getattr(images, 'shape', ()))}"
            )
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    out = {"world": LikelihoodChange("exact", _world_bits_per_dim(x), _world_bits_per_dim(x_adv))}
    present = pretrained.available()
    for name in LIKELIHOOD_MODELS:
        if name in present:
            model = pretrained.load(name)
            device = next(model.parameters()).device
            out[name] = LikelihoodChange(
                model.likelihood, _model_bits_per_dim(model, x.to(device)), _model_bits_per_dim(model, x_adv.to(device))
            )
    return out


# --- one image, everything a UI shows -----------------------------------------------------------


@dataclass(frozen=True)
class AttackReport:
    method: str  # "fgsm" or "pgd"
    eps: float  # the ball's radius in grey levels
    original: np.ndarray  # uint8 (H, W, 3) the clean image
    perturbation: np.ndarray  # uint8 (H, W, 3) the change, amplified: 128 + 127 d / eps (grey = 0)
    perturbed: np.ndarray  # uint8 (H, W, 3) the attacked image
    probabilities_before: dict[str, float]  # shape name -> p(shape | clean image)
    probabilities_after: dict[str, float]  # shape name -> p(shape | attacked image)
    label_before: str  # the classifier's answer on the clean image
    label_after: str  # ... and on the attacked one
    flipped: bool  # whether the answer changed
    smallest_flip_eps: int | None  # smallest integer eps in 1..max_eps that flips it (PGD: started at
    # the image, no random start); None if none does
    likelihood: dict[str, LikelihoodChange] | None  # bits/dim before and after (B = 1); None when not asked


def _as_chw(image, channels: int, size: int) -> torch.Tensor:
    """uint8 (C, S, S) from an (S, S, C) or (C, S, S) array or tensor."""
    t = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if t.dtype != torch.uint8:
        raise ValueError(f"the image must be uint8, got {t.dtype}")
    if tuple(t.shape) == (size, size, channels):
        return t.permute(2, 0, 1).contiguous()
    if tuple(t.shape) == (channels, size, size):
        return t.contiguous()
    raise ValueError(
        f"the image must be ({size}, {size}, {channels}) or ({channels}, {size}, {size}), got {tuple(t.shape)}"
    )


def attack(
    model: ShapeClassifier,
    image,
    eps: float,
    method: str = "fgsm",
    *,
    steps: int = 10,
    seed: int | None = None,
    max_eps: int = 64,
    check_likelihood: bool = True,
) -> AttackReport:
    """Attack one uint8 image (H, W, 3) or (3, H, W) with eps grey levels of `method` noise. The
    attacked label is the classifier's own answer on the clean image (a user's image has no true
    label), so "flipped" means the answer changed. `seed` gives PGD a random start."""
    eps = _check_eps(eps)
    if method not in METHODS:
        raise ValueError(f"unknown attack {method!r}; choose one of {', '.join(METHODS)}")
    x = _as_chw(image, model.config.channels, model.config.image_size)[None]  # (1, C, S, S)
    x = x.to(model.head.weight.device)
    generator = torch.Generator(device=x.device).manual_seed(seed) if seed is not None else None
    x_adv = _attack(model, x, None, eps, method, steps, generator)  # (1, C, S, S)
    p_before, p_after = model.probabilities(x)[0].tolist(), model.probabilities(x_adv)[0].tolist()
    delta = x_adv.float() - x.float()  # (1, C, S, S) in [-eps, eps]
    shown = 128 + 127 * delta / eps if eps > 0 else torch.full_like(delta, 128)
    flip = int(smallest_flip(model, x, method=method, max_eps=max_eps, steps=steps)[0])
    hwc = lambda t: t[0].permute(1, 2, 0).cpu().numpy()  # (S, S, C)
    before, after = SHAPES[int(np.argmax(p_before))], SHAPES[int(np.argmax(p_after))]
    return AttackReport(
        method=method,
        eps=eps,
        original=hwc(x),
        perturbation=hwc(shown.round().to(torch.uint8)),
        perturbed=hwc(x_adv),
        probabilities_before=dict(zip(SHAPES, p_before)),
        probabilities_after=dict(zip(SHAPES, p_after)),
        label_before=before,
        label_after=after,
        flipped=before != after,
        smallest_flip_eps=flip or None,
        likelihood=likelihood_check(x.cpu(), x_adv.cpu()) if check_likelihood else None,
    )
