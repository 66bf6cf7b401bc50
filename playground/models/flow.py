"""Normalizing flow: a multi-scale Glow on images, and a small RealNVP on vectors.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (affine coupling, squeeze,
multi-scale split, logit preprocessing, dequantization); Kingma & Dhariwal 2018, "Glow: Generative
Flow with Invertible 1x1 Convolutions" (actnorm, LU-parametrised 1x1 convolution, sigmoid scale,
learned conditional prior at each split, temperature); Theis, van den Oord & Bethge 2016, "A note
on the evaluation of generative models" (uniform dequantization gives a bound on the discrete likelihood);
Ho, Chen, Srinivas, Duan & Abbeel 2019, "Flow++" (variational dequantization).

Change of variables. An invertible map f with z = f(y) ~ N(0, I) gives the exact density
    log p(y) = log N(f(y); 0, I) + log |det df/dy|,
and f is a stack of layers whose log-determinants are cheap:
  * logit preprocessing v = logit(a + (1 - 2a) y): log-det sum log(1 - 2a) - log y' - log(1 - y');
  * squeeze (B, C, H, W) -> (B, 4C, H/2, W/2): a permutation, log-det 0;
  * actnorm v -> (v + b) e^s per channel: log-det H W sum s; b, s are set on the first training
    batch so that every channel comes out with zero mean and unit variance (then trained);
  * 1x1 convolution v -> W v with W = P L (U + diag(sign e^s)) (P a fixed permutation, L unit lower,
    U strictly upper triangular): log-det H W sum s, no O(C^3) determinant;
  * affine coupling: split v = (v_a, v_b), (t, r) = NN(v_a, c), v_b -> (v_b + t) g(r) with the
    scale g(r) = m + (1 - m) sigmoid(r + 2) in (m, 1), m = MIN_SCALE; v_a unchanged; the Jacobian is
    triangular, log-det sum log g(r). The scale starts near 0.88, so training starts close to the
    identity and cannot blow up; the floor m keeps the inverse (which divides by g) from running
    away on the unusual inputs that sampling at temperature 1 produces;
  * split: after each level half the channels z leave with a Gaussian prior whose mean and
    log-std come from the kept half h (and the condition): eps = (z - mu(h)) e^(-log sigma(h)),
    log-det -sum log sigma. The last level's prior is learned per position (and per condition);
    log sigma has a soft ceiling LOG_STD_MAX, for the same reason as the floor m.
So the whole model is one bijection y -> eps in R^D with log p(y) = log N(eps) + sum of log-dets;
`encode` returns eps (B, D) and `decode` is the exact inverse; sampling decodes eps ~ N(0, T^2 I).

Dequantization. Images x in {0..255}^D are discrete; the flow models y = (x + u) / 256 with
u in [0, 1)^D drawn from a dequantizer q(u | x). The density of x + u is p(y) / 256^D, and by Jensen
    log P(x) = log E_q[p((x + u) / 256) / (256^D q(u | x))]
            >= E_q[log p((x + u) / 256) - log q(u | x)] - D log 256,
so the bound is in nats of the DISCRETE image and its bits/dim compare with the discrete models'.
"uniform" dequantization takes q = U[0, 1)^D (log q = 0; Theis et al.). Its gap, KL(q || p(u | x)),
is large on images with flat ground: the flow must spread every pixel's mass evenly over its bin.
"variational" dequantization (Flow++) learns q(u | x): a logit-normal per
subpixel, u = sigmoid(m(x) + e^l(x) e), e ~ N(0, 1), with log q = log N(e) - l - log u - log(1 - u);
training the flow and q together on the bound shrinks the gap. Either way it is a lower bound on the
discrete log-likelihood in expectation; the flow's own density is exact, hence likelihood "exact".
`log_prob` takes one draw of u (an unbiased estimate of the bound) from a passed generator, or
from a fixed seed without one; `encode` uses q's median (u = 1/2 for "uniform").

Fewer bits (`bits` = b < 8; Glow's 5-bit CelebA-HQ). The flow models the coarse image k = x >> (8 - b)
in {0..2^b - 1}^D instead: y = (k + u) / 2^b, and the bound is on log P(k), with D log 2^b in place of
D log 256, so its bits/dim are per b-bit subpixel. Each bin is 2^(8 - b) times wider, so the flow need
not squeeze mass into 1/256-wide bins to be sharp, and a sample only has to land in the right coarse
bin to have the right colour: the fine detail of x it no longer models. Samples are shown at the middle
of their bins (k 2^(8-b) + 2^(7-b)). Every scene of the exact world stays distinct at 5 bits, so its
entropy is still log2 768 bits and the gap to it is still a bound on KL(world || model), now in the
space of coarse images. Tried at 5 bits for 10 minutes (docs/models-flow.md): the same faint objects
and blanks as at 8, so the shipped flow models all 8 bits and its bits/dim compare with the others'.

Conditioning. The condition vector is added to the hidden features of every coupling network
and shifts the mean and log-std of every prior (Glow's class-conditional prior).

`VectorFlow` is RealNVP on R^d: affine couplings with alternating binary masks and MLP nets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import Model, averaged, check_image_size, init_average, to_unit
from .text import ConditionEncoder

MAX_SAMPLES = 1024  # images per sample / decode call
MAX_VECTOR_SAMPLES = 100_000  # points per VectorFlow.sample call
DEQUANTIZATIONS = ("uniform", "variational")
MIN_SCALE = 1e-3  # floor of the coupling scale: sampling divides by it, so it bounds the blow-up
LOG_STD_MAX = 5.0  # soft ceiling of the prior log-stds (in-data values stay below ~4)
LOG_2PI = math.log(2 * math.pi)


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block of pixels becomes 4 channels."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)  # (B, C, 2, 2, H/2, W/2)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """(B, 4C, H, W) -> (B, C, 2H, 2W), the inverse of `squeeze`."""
    b, c, h, w = x.shape
    x = x.view(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)  # (B, C, H, 2, W, 2)
    return x.reshape(b, c // 4, 2 * h, 2 * w)


def standard_normal_log_density(eps: torch.Tensor) -> torch.Tensor:
    """log N(eps; 0, I) summed over all but the batch dimension, (B,)."""
    return -0.5 * (eps**2 + LOG_2PI).flatten(1).sum(1)


class ActNorm(nn.Module):
    """Per-channel affine v -> (v + bias) e^log_scale, initialised from the first training batch."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))  # persistent: a loaded model never re-inits

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        """bias = -mean, e^log_scale = 1 / std over (B, H, W): a deterministic function of the batch."""
        mean = x.mean((0, 2, 3), keepdim=True)
        std = x.std((0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor, cond=None):
        if self.training and not self.initialized:
            self._initialize(x)
        logdet = x.shape[2] * x.shape[3] * self.log_scale.sum()
        return (x + self.bias) * torch.exp(self.log_scale), logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor, cond=None) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class InvertibleConv1x1(nn.Module):
    """v -> W v at every pixel, W = P L (U + diag(sign e^log_s)) starting from a random rotation."""

    def __init__(self, channels: int):
        super().__init__()
        rotation = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(rotation)
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", p)
        self.register_buffer("sign", torch.sign(diagonal))
        self.lower = nn.Parameter(lower)  # only the strictly lower part is used
        self.upper = nn.Parameter(upper)  # only the strictly upper part is used
        self.log_s = nn.Parameter(torch.log(diagonal.abs()))

    def weight(self) -> torch.Tensor:
        eye = torch.eye(self.sign.shape[0], dtype=self.log_s.dtype, device=self.log_s.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * torch.exp(self.log_s))
        return self.permutation @ lower @ upper  # (C, C)

    def forward(self, x: torch.Tensor, cond=None):
        logdet = x.shape[2] * x.shape[3] * self.log_s.sum()
        return torch.einsum("oc,bchw->bohw", self.weight(), x), logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor, cond=None) -> torch.Tensor:
        inverse = torch.linalg.inv(self.weight().double()).to(y.dtype)  # in float64: a cleaner inverse
        return torch.einsum("oc,bchw->bohw", inverse, y)


class AffineCoupling(nn.Module):
    """(v_a, v_b) -> (v_a, (v_b + t) g(r)) with (t, r) = NN(v_a, c), g(r) = m + (1 - m) sigmoid(r + 2)."""

    def __init__(self, channels: int, hidden: int, condition_dim: int):
        super().__init__()
        self.half = channels // 2
        self.inp = nn.Conv2d(self.half, hidden, 3, padding=1)
        self.mid = nn.Conv2d(hidden, hidden, 1)
        self.out = nn.Conv2d(hidden, 2 * (channels - self.half), 3, padding=1)
        nn.init.zeros_(self.out.weight)  # starts as v_b -> v_b g(0), g(0) ~ 0.88
        nn.init.zeros_(self.out.bias)
        self.cond = nn.Linear(condition_dim, hidden) if condition_dim else None

    def _shift_and_scale(self, x_a: torch.Tensor, cond):
        h = self.inp(x_a)  # (B, hidden, H, W)
        if cond is not None:
            h = h + self.cond(cond)[:, :, None, None]  # the condition as a per-channel bias
        shift, raw = self.out(F.relu(self.mid(F.relu(h)))).chunk(2, dim=1)  # 2 x (B, C - C/2, H, W)
        return shift, MIN_SCALE + (1 - MIN_SCALE) * torch.sigmoid(raw + 2.0)

    def forward(self, x: torch.Tensor, cond=None):
        x_a, x_b = x[:, : self.half], x[:, self.half :]
        shift, scale = self._shift_and_scale(x_a, cond)
        return torch.cat([x_a, (x_b + shift) * scale], 1), torch.log(scale).flatten(1).sum(1)

    def inverse(self, y: torch.Tensor, cond=None) -> torch.Tensor:
        y_a, y_b = y[:, : self.half], y[:, self.half :]
        shift, scale = self._shift_and_scale(y_a, cond)
        return torch.cat([y_a, y_b / scale - shift], 1)


class FlowStep(nn.Module):
    """One Glow step: actnorm, invertible 1x1 convolution, affine coupling."""

    def __init__(self, channels: int, hidden: int, condition_dim: int):
        super().__init__()
        self.layers = nn.ModuleList(
            [ActNorm(channels), InvertibleConv1x1(channels), AffineCoupling(channels, hidden, condition_dim)]
        )

    def forward(self, x: torch.Tensor, cond=None):
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, layer_logdet = layer(x, cond)
            logdet = logdet + layer_logdet
        return x, logdet

    def inverse(self, y: torch.Tensor, cond=None) -> torch.Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y, cond)
        return y


class GaussianPrior(nn.Module):
    """Mean and log-std of the latents z (B, C, H, W) leaving at a level: from the kept half h by a
    zero-initialised 3x3 convolution (split levels) or a learned map per position (the top), plus a
    zero-initialised linear map of the condition. Everything starts at (very nearly) N(0, I)."""

    def __init__(self, channels: int, side: int, kept: int, condition_dim: int):
        super().__init__()
        self.net = nn.Conv2d(kept, 2 * channels, 3, padding=1) if kept else None
        self.learned = nn.Parameter(torch.zeros(1, 2 * channels, side, side)) if not kept else None
        if self.net is not None:
            nn.init.zeros_(self.net.weight)
            nn.init.zeros_(self.net.bias)
        self.cond = nn.Linear(condition_dim, 2 * channels) if condition_dim else None
        if self.cond is not None:
            nn.init.zeros_(self.cond.weight)
            nn.init.zeros_(self.cond.bias)

    def forward(self, h: torch.Tensor | None, cond, batch: int):
        params = self.net(h) if self.net is not None else self.learned.expand(batch, -1, -1, -1)
        if cond is not None:
            params = params + self.cond(cond)[:, :, None, None]
        mean, raw = params.chunk(2, dim=1)  # 2 x (B, C, H, W)
        return mean, LOG_STD_MAX - F.softplus(LOG_STD_MAX - raw)  # ~raw below the ceiling, never above it


class Dequantizer(nn.Module):
    """q(u | x) on (0, 1)^D: u = sigmoid(m + e^l e), e ~ N(0, I), with (m, l) from a small conv net on x."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, 2 * channels, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)  # starts as u = sigmoid(e)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor):
        """uint8 x and e (B, C, H, W) -> u (B, C, H, W) and log q(u | x) (B,)."""
        mean, log_std = self.net(to_unit(x)).chunk(2, dim=1)  # 2 x (B, C, H, W)
        t = mean + torch.exp(log_std) * e
        # q(u) = N(e) / |du/de|, du/de = e^l u (1 - u); log u = logsigmoid(t), log(1 - u) = logsigmoid(-t)
        log_q = -0.5 * (e**2 + LOG_2PI) - log_std - F.logsigmoid(t) - F.logsigmoid(-t)
        return torch.sigmoid(t), log_q.flatten(1).sum(1)


@dataclass
class FlowConfig:
    image_size: int = 32  # square images of this side; divisible by 2^levels
    channels: int = 3  # colour channels
    condition: str = "none"  # "none", "class" (shape, colour) or "caption"
    levels: int = 3  # multi-scale levels: squeeze, `steps` flow steps, split (not after the last)
    steps: int = 4  # flow steps (actnorm, 1x1 conv, coupling) per level
    hidden: int = 64  # channels of each coupling network
    condition_dim: int = 64  # size of the condition vector (conditional models only)
    logit_alpha: float = 0.05  # y -> logit(a + (1 - 2a) y) keeps the logit away from 0 and 1
    dequantization: str = "variational"  # "uniform" (u ~ U[0, 1)) or "variational" (u ~ q(u | x), learned)
    dequantizer_hidden: int = 32  # channels of the variational dequantizer's conv net
    bits: int = 8  # bits per subpixel the flow models: 8, or fewer (see "Fewer bits")
    ema_decay: float = 0.0  # d of the weight average that scores, encodes and samples; 0 = last weights
    max_grad_norm: float = 0.0  # clip each step's gradient to this L2 norm (Glow's recipe clips); 0 = no clipping


class Flow(Model):
    Config = FlowConfig
    family = "flow"
    likelihood = "bound"  # the flow density is exact; on integer images, dequantization makes it a bound

    def __init__(self, config: FlowConfig):
        super().__init__(config)
        if config.levels < 1 or config.steps < 1 or config.hidden < 1 or config.channels < 1:
            raise ValueError("levels, steps, hidden and channels must be positive")
        check_image_size(config.image_size, 2**config.levels, "each of the levels squeezes by 2")
        if not 0 <= config.logit_alpha < 0.5:
            raise ValueError(f"logit_alpha must be in [0, 0.5), got {config.logit_alpha}")
        if not 1 <= config.bits <= 8:
            raise ValueError(f"bits must be in 1..8, got {config.bits}")
        if not 0.0 <= config.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
        if not 0.0 <= config.max_grad_norm <= 1e6:
            raise ValueError(f"max_grad_norm must be in [0, 1e6], got {config.max_grad_norm}")
        if config.dequantization not in DEQUANTIZATIONS:
            raise ValueError(
                f"dequantization must be one of {', '.join(DEQUANTIZATIONS)}, got {config.dequantization!r}"
            )
        cond_dim = config.condition_dim if config.condition != "none" else 0
        self.condition_encoder = ConditionEncoder(config.condition, config.condition_dim)
        self.dequantizer = (
            Dequantizer(config.channels, config.dequantizer_hidden) if config.dequantization == "variational" else None
        )
        self.levels, self.priors, self.latent_shapes = nn.ModuleList(), nn.ModuleList(), []
        channels, side = config.channels, config.image_size
        for level in range(config.levels):
            channels, side = 4 * channels, side // 2  # after the squeeze
            self.levels.append(
                nn.ModuleList([FlowStep(channels, config.hidden, cond_dim) for _ in range(config.steps)])
            )
            last = level == config.levels - 1
            kept = 0 if last else channels // 2
            self.priors.append(GaussianPrior(channels - kept, side, kept, cond_dim))
            self.latent_shapes.append((channels - kept, side, side))
            channels = kept
        if config.ema_decay:  # Model.train_step moves it after every step (and clips to max_grad_norm);
            init_average(self)  # its warm-up forgets the actnorms' zeros, which the first batch replaces

    # --- the bijection y <-> eps

    def _condition(self, condition, n: int):
        """The condition vector (n, condition_dim), or None for an unconditional model."""
        condition = self._check_condition(condition, n)
        return None if condition is None else self.condition_encoder(condition)

    def _to_noise(self, y: torch.Tensor, cond):
        """y in [0, 1]^D (B, C, H, W) -> eps (B, D) and log |det d eps / dy| (B,)."""
        a = self.config.logit_alpha
        y = a + (1 - 2 * a) * y  # (B, C, H, W) in (a, 1 - a)
        h = torch.log(y) - torch.log1p(-y)  # logit
        logdet = (math.log(1 - 2 * a) - torch.log(y) - torch.log1p(-y)).flatten(1).sum(1)
        noise = []
        for steps, prior in zip(self.levels, self.priors):
            h = squeeze(h)
            for step in steps:
                h, step_logdet = step(h, cond)
                logdet = logdet + step_logdet
            if prior.net is not None:
                h, z = h.chunk(2, dim=1)  # keep half, the other half leaves
                mean, log_std = prior(h, cond, h.shape[0])
            else:
                z, h = h, None
                mean, log_std = prior(None, cond, z.shape[0])
            noise.append(((z - mean) * torch.exp(-log_std)).flatten(1))  # (B, C_l H_l W_l)
            logdet = logdet - log_std.flatten(1).sum(1)
        return torch.cat(noise, dim=1), logdet  # (B, D), (B,)

    def _from_noise(self, eps: torch.Tensor, cond) -> torch.Tensor:
        """eps (B, D) -> y (B, C, H, W), the inverse of `_to_noise`."""
        pieces = eps.split([c * s * s for c, s, _ in self.latent_shapes], dim=1)
        h = None
        for steps, prior, piece, shape in reversed(list(zip(self.levels, self.priors, pieces, self.latent_shapes))):
            mean, log_std = prior(h, cond, eps.shape[0])
            z = mean + torch.exp(log_std) * piece.view(-1, *shape)  # (B, C_l, H_l, W_l)
            h = z if h is None else torch.cat([h, z], dim=1)
            for step in reversed(steps):
                h = step.inverse(h, cond)
            h = unsqueeze(h)
        a = self.config.logit_alpha
        return (torch.sigmoid(h) - a) / (1 - 2 * a)

    def _log_density(self, y: torch.Tensor, cond) -> torch.Tensor:
        """The flow's exact log-density of y in [0, 1]^D, (B,) nats."""
        eps, logdet = self._to_noise(y, cond)
        return standard_normal_log_density(eps) + logdet

    # --- likelihood

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 x -> its b-bit levels x >> (8 - b) in {0..2^b - 1}, as uint8 (b = `bits`; x itself at 8)."""
        c, s = self.config.channels, self.config.image_size
        if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ValueError(f"images must be uint8 (B, {c}, {s}, {s}), got {x.dtype} {tuple(x.shape)}")
        return x >> (8 - self.config.bits)

    def _dequantize(self, x: torch.Tensor, generator=None, median: bool = False):
        """uint8 x -> y = (k + u) / 2^b in [0, 1)^D (k = x's b-bit levels) and log q(u | x) (B,). u is drawn
        from q with `generator` (the global RNG when None), or is q's median when `median`: 1/2, or sigmoid(m(x))."""
        k, bins = self._levels(x), 2**self.config.bits
        if self.dequantizer is None:
            u = 0.5 if median else torch.rand(x.shape, generator=generator).to(x.device)
            return (k.float() + u) / bins, x.new_zeros(x.shape[0], dtype=torch.float)  # log q = log 1
        e = torch.zeros(x.shape) if median else torch.randn(x.shape, generator=generator)
        u, log_q = self.dequantizer(k << (8 - self.config.bits), e.to(x.device))  # q sees the b-bit image
        return (k.float() + u) / bins, log_q

    def _bound(self, x: torch.Tensor, condition, generator=None) -> torch.Tensor:
        """One draw of log p(y) - log q(u | x) - D log 2^b (B,): the bound on log P(x's b-bit image), in nats."""
        y, log_q = self._dequantize(x, generator)
        cond = self._condition(condition, x.shape[0])
        return self._log_density(y, cond) - log_q - x[0].numel() * self.config.bits * math.log(2)

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The negative bound in nats per dimension (u from the global RNG, which `fit` seeds)."""
        return -self._bound(x, condition).mean() / x[0].numel()

    @torch.no_grad()
    def log_prob(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One draw (B,) nats of the bound on log P(x): an unbiased estimate of it. The noise comes from
        `generator`, or without one from a generator seeded with 0, so the result is deterministic.
        Like `encode` and `decode` (hence `sample`), it uses the averaged weights when there are any."""
        with averaged(self):
            return self._bound(x, condition, generator if generator is not None else torch.Generator().manual_seed(0))

    # --- codes and images

    @torch.no_grad()
    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """eps (B, D): the standard-normal code of the image dequantized at q's median, all levels concatenated."""
        with averaged(self):
            return self._to_noise(self._dequantize(x, median=True)[0], self._condition(condition, x.shape[0]))[0]

    @torch.no_grad()
    def decode(self, eps: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (B, C, H, W): the image whose dequantized value maps to eps (the bin y falls in)."""
        c, s = self.config.channels, self.config.image_size
        if eps.ndim != 2 or eps.shape[1] != c * s * s:
            raise ValueError(f"eps must have shape (n, {c * s * s}), got {tuple(eps.shape)}")
        if not 1 <= eps.shape[0] <= MAX_SAMPLES:
            raise ValueError(f"can decode 1..{MAX_SAMPLES} codes at once, got {eps.shape[0]}")
        with averaged(self):
            y = self._from_noise(eps, self._condition(condition, eps.shape[0]))
        bits = self.config.bits
        k = (y * 2**bits).floor().clamp(0, 2**bits - 1)  # the b-bit level whose bin y falls in
        centre = 2 ** (7 - bits) if bits < 8 else 0  # shown at its bin's middle 8-bit value
        return (k * 2 ** (8 - bits) + centre).to(torch.uint8)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """uint8 (n, C, H, W): eps ~ N(0, T^2 I) through the inverse flow in one pass (T < 1: cleaner, less varied)."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        if not 0 <= temperature <= 10:
            raise ValueError(f"temperature must be in [0, 10], got {temperature}")
        d = self.config.channels * self.config.image_size**2
        eps = temperature * torch.randn(n, d, generator=generator)
        return self.decode(eps.to(self.priors[-1].learned.device), condition)


# --- RealNVP on vectors


@dataclass
class VectorFlowConfig:
    dim: int = 2  # dimension d of the data (>= 2)
    couplings: int = 8  # affine coupling layers; their binary masks alternate
    hidden: int = 64  # width of each coupling's MLP (two hidden layers)


class VectorFlow(nn.Module):
    """RealNVP on R^d: x -> z ~ N(0, I) by couplings x -> m x + (1 - m)(x e^s(m x) + t(m x)), s = tanh(.)."""

    Config = VectorFlowConfig

    def __init__(self, config: VectorFlowConfig):
        super().__init__()
        if config.dim < 2 or config.couplings < 1 or config.hidden < 1:
            raise ValueError("VectorFlow needs dim >= 2 and positive couplings and hidden")
        self.config = config
        first = (torch.arange(config.dim) % 2).float()  # (d,): 0 1 0 1 ...
        self.register_buffer("masks", torch.stack([first if i % 2 else 1 - first for i in range(config.couplings)]))
        self.nets = nn.ModuleList()
        for _ in range(config.couplings):
            net = nn.Sequential(
                nn.Linear(config.dim, config.hidden),
                nn.SiLU(),
                nn.Linear(config.hidden, config.hidden),
                nn.SiLU(),
                nn.Linear(config.hidden, 2 * config.dim),
            )
            nn.init.zeros_(net[-1].weight)  # every coupling starts as the identity
            nn.init.zeros_(net[-1].bias)
            self.nets.append(net)

    def _shift_and_log_scale(self, i: int, x_kept: torch.Tensor):
        log_scale, shift = self.nets[i](x_kept).chunk(2, dim=1)  # 2 x (B, d)
        free = 1 - self.masks[i]  # only the unmasked coordinates change
        return torch.tanh(log_scale) * free, shift * free

    def forward(self, x: torch.Tensor):
        """x (B, d) -> z (B, d) and log |det dz/dx| (B,)."""
        logdet = x.new_zeros(x.shape[0])
        for i, mask in enumerate(self.masks):
            log_scale, shift = self._shift_and_log_scale(i, x * mask)
            x = x * mask + (1 - mask) * (x * torch.exp(log_scale) + shift)
            logdet = logdet + log_scale.sum(1)
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for i in reversed(range(len(self.masks))):
            mask = self.masks[i]
            log_scale, shift = self._shift_and_log_scale(i, z * mask)
            z = z * mask + (1 - mask) * (z - shift) * torch.exp(-log_scale)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density (B,) in nats of float points x (B, d)."""
        if x.ndim != 2 or x.shape[1] != self.config.dim:
            raise ValueError(f"x must have shape (B, {self.config.dim}), got {tuple(x.shape)}")
        z, logdet = self(x)
        return standard_normal_log_density(z) + logdet

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood in nats."""
        return -self.log_prob(x).mean()

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """float (n, d): z ~ N(0, I) through the inverse couplings."""
        if not 1 <= n <= MAX_VECTOR_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_VECTOR_SAMPLES}, got {n}")
        return self.inverse(torch.randn(n, self.config.dim, generator=generator).to(self.masks.device))
