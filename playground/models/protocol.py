"""The one protocol every generative family speaks.

Images cross the protocol as uint8 tensors (B, 3, H, W) in 0..255, in and out: each
family turns them into what its mathematics needs (integers for PixelCNN, dequantized
reals for the flow, [-1, 1] for VAE, GAN and diffusion, bits for the RBM).

    loss(x, condition=None)     -> scalar tensor to minimise (what the family trains on)
    sample(n, condition=None, generator=...) -> uint8 (n, 3, H, W)
    log_prob(x, condition=None) -> (B,) log p(x) in nats; its meaning is `likelihood`:
        "exact"        the model's exact (discrete) log-likelihood,
        "bound"        a lower bound on it (ELBO, or a dequantized density),
        "estimate"     a stochastic estimate (AIS for the RBM),
        "unnormalized" -E(x), the log-density up to an unknown constant,
        "none"         the family has no likelihood: log_prob raises NoLikelihood.
    encode(x)                   -> latent codes, for families with a representation.
    finish_training(x, condition, generator)   optional: the training loop calls it once after the last
                                  step with all the training images (a VAE fits its mixture prior there).

A condition is an integer tensor: class labels (B, 2) = (shape index, colour index) for
`condition="class"`, or caption token ids (B, T) for `condition="caption"`.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import torch
from torch import nn

LIKELIHOOD_KINDS = ("exact", "bound", "estimate", "unnormalized", "none")
CONDITIONS = ("none", "class", "caption")


class NoLikelihood(NotImplementedError):
    """The family defines no likelihood (a GAN), so log_prob cannot be computed."""


class NoRepresentation(NotImplementedError):
    """The family has no latent code to encode into."""


@runtime_checkable
class GenerativeModel(Protocol):
    family: str
    likelihood: str

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor: ...

    def sample(
        self, n: int, condition: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...

    def log_prob(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor: ...


class Model(nn.Module):
    """Shared behaviour: config storage, the likelihood contract, and default verbs."""

    family: str = ""
    likelihood: str = "none"
    conditions: tuple[str, ...] = CONDITIONS  # the condition kinds its config may name

    average_warmup: bool = True  # the weight average's decay warms up (update_average's step); diffusion's does not

    def __init__(self, config):
        super().__init__()
        condition = getattr(config, "condition", "none")
        if condition not in self.conditions:
            allowed = f"one of {', '.join(self.conditions)}" if len(self.conditions) > 1 else repr(self.conditions[0])
            raise ValueError(f"unknown condition {condition!r} for the {self.family}: condition must be {allowed}")
        self.config = config
        self.updates = 0  # train_step calls (not saved)

    def log_prob(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        raise NoLikelihood(f"{self.family} has no likelihood (its kind is '{self.likelihood}')")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NoRepresentation(f"{self.family} has no latent representation to encode into")

    def bits_per_dim(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """-log2 p(x) / D per image, D = 3 H W: the standard likelihood score."""
        return -self.log_prob(x, condition) / (math.log(2.0) * x[0].numel())

    def train_step(self, x: torch.Tensor, condition: torch.Tensor | None, optimizer) -> dict:
        """One optimisation step: the loss's gradient, clipped to the config's `max_grad_norm` where a family
        has one (a rare batch's huge gradient can throw a flow's density off for good), then, where
        `init_average` gave the model a weight average, the average moves towards the new weights.
        Families with more than one loss (GAN, EBM, RBM) override it."""
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x, condition)
        loss.backward()
        clip = getattr(self.config, "max_grad_norm", 0.0)
        if clip:
            nn.utils.clip_grad_norm_(self.parameters(), clip)
        optimizer.step()
        self.updates += 1
        if hasattr(self, "_average_depth"):
            update_average(self, self.config.ema_decay, self.updates if self.average_warmup else None)
        return {"loss": float(loss.detach())}

    def configure_optimizer(self, lr: float):
        return torch.optim.Adam(self.parameters(), lr=lr)

    def _check_condition(self, condition: torch.Tensor | None, n: int | None = None) -> torch.Tensor | None:
        kind = getattr(self.config, "condition", "none")
        if kind == "none":
            if condition is not None:
                raise ValueError(f"this {self.family} model is unconditional; pass condition=None")
            return None
        if condition is None:
            raise ValueError(f"this {self.family} model is {kind}-conditional; pass a condition")
        if condition.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"condition must be an integer tensor, got {condition.dtype}")
        if n is not None and condition.shape[0] not in (1, n):
            raise ValueError(f"condition has {condition.shape[0]} rows for {n} samples")
        return condition.long().expand(n, *condition.shape[1:]) if n is not None else condition.long()


def check_image_size(size: int, multiple: int, why: str) -> None:
    """A network that halves its feature maps k times needs an image side that 2^k divides."""
    if size < multiple or size % multiple:
        raise ValueError(f"image_size must be a positive multiple of {multiple} ({why}), got {size}")


def channels_last(images: torch.Tensor):
    """uint8 images as they cross the protocol, (N, 3, H, W), -> a numpy array (N, H, W, 3) for
    pictures (worlds.images.image_grid) and files."""
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {tuple(images.shape)} {images.dtype}")
    return images.permute(0, 2, 3, 1).numpy()


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float in [-1, 1]."""
    return x.float() / 127.5 - 1.0


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 0..255 (clipped, rounded)."""
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


# --- weight averaging (Polyak averaging / EMA of the weights, used for sampling and scoring) ---------

AVERAGE_PREFIX = "average__"


def init_average(model: nn.Module) -> None:
    """Give `model` a buffer per parameter holding an exponential moving average of it (saved in
    checkpoints): theta_avg <- d theta_avg + (1 - d) theta after every step. Averaged weights sample far
    better than the last iterate of a noisy optimiser (Polyak & Juditsky 1992; Ho et al. 2020 use d = 0.9999)."""
    for name, p in list(model.named_parameters()):
        model.register_buffer(AVERAGE_PREFIX + name.replace(".", "__"), p.detach().clone())
    model._average_depth = 0


def _pairs(model: nn.Module):
    buffers = dict(model.named_buffers())
    return [(p, buffers[AVERAGE_PREFIX + name.replace(".", "__")]) for name, p in model.named_parameters()]


@torch.no_grad()
def update_average(model: nn.Module, decay: float, step: int | None = None) -> None:
    """theta_avg <- d theta_avg + (1 - d) theta. With `step` (1 after the first update) the decay warms
    up as d = min(decay, (1 + step) / (10 + step)), TensorFlow's ExponentialMovingAverage with num_updates:
    the average forgets its start (the initial weights, before any data-dependent init) within a short
    run instead of lagging 1 / (1 - decay) steps behind from the first step."""
    if step is not None:
        decay = min(decay, (1.0 + step) / (10.0 + step))
    for p, average in _pairs(model):
        average.lerp_(p, 1.0 - decay)


@torch.no_grad()
def _swap(model: nn.Module) -> None:
    """Exchange every parameter with its average."""
    for p, average in _pairs(model):
        tmp = p.detach().clone()
        p.copy_(average)
        average.copy_(tmp)


@contextmanager
def averaged(model: nn.Module):
    """Inside the block the model's parameters hold their averages (re-entrant; restored after)."""
    if not hasattr(model, "_average_depth"):  # no average kept: the weights as they are
        yield model
        return
    model._average_depth += 1
    if model._average_depth == 1:
        _swap(model)
    try:
        yield model
    finally:
        model._average_depth -= 1
        if model._average_depth == 0:
            _swap(model)
