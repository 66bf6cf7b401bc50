"""Denoising diffusion (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models").

Forward process. A fixed schedule beta_1..beta_T adds Gaussian noise step by step; with
alpha_t = 1 - beta_t and abar_t = prod_{s<=t} alpha_s every marginal is closed-form:

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),  so  x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.

Training. A U-Net eps_theta(x_t, t) predicts the noise; the "simple" loss is
E_{t ~ U{1..T}, eps} ||eps - eps_theta(x_t, t)||^2 (Ho et al. eq. 14). The shipped recipes weight
each image's term by min(SNR_t, gamma) / SNR_t (Min-SNR, gamma = 50; see `loss`): the nearly clean
steps, which dominate the simple loss's gradient and the bound alike, count for less, the steps that
decide the object's shape and colour for more. Samples reach the world in about two thirds of the
steps; the bound, made mostly of those nearly clean steps, worsens.

Reverse process. p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I) has the mean of the true posterior
q(x_{t-1} | x_t, x_0) with x_0 replaced by its prediction x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t)
(clipped to [-1, 1]). The variance is FIXED to the posterior's, sigma_t^2 = beta_tilde_t =
beta_t (1 - abar_{t-1}) / (1 - abar_t); beta_tilde_1 = 0, so the decoder at t = 1 uses beta_tilde_2
("fixedsmall" with clipping, as in Nichol & Dhariwal's code).

Likelihood. For the discrete image x_0 (Ho et al. sec. 3.3),
    -log p(x_0) <= L_T + sum_{t=2}^T L_{t-1} + L_0, with
    L_T     = KL(q(x_T | x_0) || N(0, I))                         (the prior term, no network)
    L_{t-1} = E_q KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))   (Gaussian KLs, one draw of x_t each)
    L_0     = -log p(x_0 | x_1), a Gaussian integrated over each pixel's bin of width 2/255,
              with the end bins stretched to +-infinity: a probability mass, hence a bound in nats.
Since sigma_t^2 = beta_tilde_t, L_{t-1} = 1/2 (SNR_{t-1} - SNR_t) E||x_0 - x0_hat||^2 with SNR = abar / (1 - abar)
(Kingma et al. 2021, "Variational Diffusion Models"): for data of unit scale the terms follow
log(1 + SNR_{t-1}) - log(1 + SNR_t) = log((1 - abar_t) / (1 - abar_{t-1})), large at small t.
`log_prob(x, terms=K)` therefore estimates the T - 1 KL terms by stratified importance sampling:
q(t) is proportional to that log-ratio, u_k = (k + U_k) / K for k < K with U_k ~ U(0, 1), t_k is
q's inverse CDF at u_k, and sum_k L_{t_k-1} / (K q(t_k)) is unbiased for the sum, with K network
passes instead of T - 1 (L_T and L_0 are always exact).

Sampling. Ancestral sampling x_T ~ N(0, I), x_{t-1} ~ p(x_{t-1} | x_t). With `steps=S` it runs on S
evenly spaced timesteps tau_1 < ... < tau_S with respaced betas 1 - abar_{tau_i} / abar_{tau_{i-1}}
(Nichol & Dhariwal 2021, "Improved DDPM", sec. 4; equal to DDIM with eta = 1).

Conditioning and guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance"): the condition
vector is added to the time embedding and replaced by a learned null vector with probability
`guidance_dropout` while training; sampling mixes eps = eps_null + w (eps_cond - eps_null).
The network, the diffusion process and the trainer (playground.models.train.fit) are separate, as in
lucidrains/denoising-diffusion-pytorch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import Model, averaged, check_image_size, from_unit, init_average, to_unit
from .text import ConditionEncoder

GROUPS = 8  # GroupNorm groups: every width must be a multiple of this
MAX_SAMPLES = 1024  # images per sample call
ROWS_PER_PASS = 256  # network batch when the bound evaluates many timesteps at once


# --- noise schedules: betas (T,) in float64


def linear_schedule(timesteps: int) -> torch.Tensor:
    """Ho et al. 2020 (sec. 4): beta rises linearly from 1e-4 to 0.02 over T = 1000 steps; for
    other T both ends are scaled by 1000 / T so the total noise stays the same (Nichol & Dhariwal)."""
    scale = 1000.0 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64).clamp(max=0.999)


def cosine_schedule(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal 2021 (eq. 17): abar_t = f(t) / f(0), f(t) = cos((t/T + s) / (1 + s) * pi/2)^2,
    betas = 1 - abar_t / abar_{t-1} clipped at 0.999; it destroys information more slowly than
    the linear schedule, which suits small images."""
    f = torch.cos((torch.arange(timesteps + 1, dtype=torch.float64) / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


SCHEDULES = {"linear": linear_schedule, "cosine": cosine_schedule}
PREDICTIONS = ("eps", "v")


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) per element, in nats."""
    return 0.5 * (logvar2 - logvar1 - 1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def discretized_gaussian_log_likelihood(x, mean, logvar) -> torch.Tensor:
    """log of the N(mean, e^logvar) mass of each pixel's bin [x - 1/255, x + 1/255] (x in [-1, 1]);
    the bins at -1 and 1 reach out to -inf and +inf (Ho et al. eq. 13)."""
    inv_std = torch.exp(-0.5 * logvar)
    upper, lower = inv_std * (x - mean + 1 / 255), inv_std * (x - mean - 1 / 255)
    log_below_upper = torch.special.log_ndtr(upper)  # log Phi(upper): the bin at -1
    log_above_lower = torch.special.log_ndtr(-lower)  # log (1 - Phi(lower)): the bin at +1
    log_inside = torch.log((torch.special.ndtr(upper) - torch.special.ndtr(lower)).clamp(min=1e-12))
    return torch.where(x < -0.999, log_below_upper, torch.where(x > 0.999, log_above_lower, log_inside))


def posterior(x0, x_t, abar, abar_prev):
    """Mean and variance of q(x_{t-1} | x_t, x_0) (Ho et al. eq. 7) for per-row abar_t, abar_{t-1} (float64)."""
    beta = 1 - abar / abar_prev
    coef_x0 = (abar_prev.sqrt() * beta / (1 - abar)).float().view(-1, 1, 1, 1)
    coef_xt = ((1 - beta).sqrt() * (1 - abar_prev) / (1 - abar)).float().view(-1, 1, 1, 1)
    return coef_x0 * x0 + coef_xt * x_t, (beta * (1 - abar_prev) / (1 - abar)).float().view(-1, 1, 1, 1)


# --- the network: eps_theta(x_t, t, condition vector)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids of the integer timestep (Vaswani et al. 2017): (B,) -> (B, dim)."""
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(dim // 2, device=t.device) / (dim // 2))
    angles = t.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, dim)


class ResidualBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, plus the (time + condition) embedding, twice, around a skip."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(GROUPS, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.embed = nn.Linear(embed_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(GROUPS, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.embed(F.silu(emb))[:, :, None, None]  # the timestep shifts every channel
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class SelfAttention(nn.Module):
    """One-head self-attention over all positions, with a residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm, self.qkv = nn.GroupNorm(GROUPS, channels), nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(2, 3).unbind(1)  # 3 x (B, HW, C)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C)
        return x + self.out(a.transpose(1, 2).reshape(b, c, h, w))


class UNet(nn.Module):
    """A residual block per resolution on the way down and up (with skip concatenation),
    halving the size between levels; block, attention, block at the bottom."""

    def __init__(self, channels: int, widths: tuple[int, ...], attention: bool):
        super().__init__()
        self.embed_dim = 4 * widths[0]
        self.time = nn.Sequential(
            nn.Linear(widths[0], self.embed_dim), nn.SiLU(), nn.Linear(self.embed_dim, self.embed_dim)
        )
        self.stem = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList(ResidualBlock(w, w, self.embed_dim) for w in widths)
        self.shrink = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths, widths[1:]))
        self.bottom1 = ResidualBlock(widths[-1], widths[-1], self.embed_dim)
        self.attention = SelfAttention(widths[-1]) if attention else nn.Identity()
        self.bottom2 = ResidualBlock(widths[-1], widths[-1], self.embed_dim)
        self.up = nn.ModuleList(ResidualBlock(2 * w, w, self.embed_dim) for w in widths)
        self.grow = nn.ModuleList(nn.Conv2d(b, a, 3, padding=1) for a, b in zip(widths, widths[1:]))
        self.head = nn.Sequential(
            nn.GroupNorm(GROUPS, widths[0]), nn.SiLU(), nn.Conv2d(widths[0], channels, 3, padding=1)
        )
        # GroupNorm removes each group's spatial mean, so the layers above cannot pass on the mean
        # colour of x_t, yet at high noise the mean of eps is the mean of x_t / sqrt(1 - abar_t); an
        # affine skip from x_t with a per-channel, time-dependent scale and shift carries it (as the
        # c_skip of Karras et al. 2022, but learned). Without it the samples' ground drifts in colour.
        self.skip = nn.Linear(self.embed_dim, 2 * channels)
        for layer in (self.head[-1], self.skip):
            nn.init.zeros_(layer.weight)  # predict eps = 0 at first
            nn.init.zeros_(layer.bias)

    def forward(self, x, t, context=None):
        emb = self.time(timestep_embedding(t, self.stem.out_channels))  # (B, E)
        if context is not None:
            emb = emb + context  # the condition joins the time embedding
        h, skips = self.stem(x), []  # (B, w0, H, W)
        for level, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if level < len(self.shrink):
                h = self.shrink[level](h)  # (B, w_{l+1}, H/2^(l+1), W/2^(l+1))
        h = self.bottom2(self.attention(self.bottom1(h, emb)), emb)  # (B, w_last, H, W) at the lowest H, W
        for level in reversed(range(len(self.up))):
            h = self.up[level](torch.cat([h, skips[level]], dim=1), emb)
            if level > 0:
                h = self.grow[level - 1](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        scale, shift = self.skip(emb)[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1) each
        return self.head(h) + scale * x + shift  # (B, C, H, W): the predicted noise


# --- the diffusion process around it


@dataclass
class DiffusionConfig:
    image_size: int = 32  # square images of this side; divisible by 2^(len(widths) - 1)
    channels: int = 3  # colour channels
    condition: str = "none"  # "none", "class" (shape, colour) or "caption"
    timesteps: int = 1000  # T, the number of noising steps
    schedule: str = "cosine"  # "linear" (Ho et al.) or "cosine" (Nichol & Dhariwal)
    widths: tuple[int, ...] = (16, 32, 64)  # U-Net channels per resolution level, multiples of 8
    attention: bool = True  # a self-attention block at the lowest resolution
    guidance_dropout: float = 0.1  # P(condition -> null) in training, for classifier-free guidance
    ema_decay: float = 0.995  # d of the weight average used to sample and score; 0 = last weights
    prediction: str = "eps"  # what the network predicts: "eps" (Ho et al.) or "v" (Salimans & Ho)
    min_snr: float = 0.0  # gamma of the Min-SNR loss weight min(SNR, gamma) / SNR; 0 = off


class Diffusion(Model):
    Config = DiffusionConfig
    family = "diffusion"
    likelihood = "bound"
    average_warmup = False  # the plain average (Model.train_step moves it), as the shipped recipe was trained

    def __init__(self, config: DiffusionConfig):
        super().__init__(config)
        widths = tuple(config.widths)
        if config.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {config.schedule!r}")
        if not 2 <= config.timesteps <= 4000:
            raise ValueError(f"timesteps must be in 2..4000, got {config.timesteps}")
        if not widths or any(w <= 0 or w % GROUPS for w in widths):
            raise ValueError(f"widths must be positive multiples of {GROUPS}, got {widths}")
        check_image_size(config.image_size, 2 ** (len(widths) - 1), f"{len(widths)} resolution levels")
        if not 0.0 <= config.guidance_dropout < 1.0:
            raise ValueError(f"guidance_dropout must be in [0, 1), got {config.guidance_dropout}")
        if not 0.0 <= config.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
        if config.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {config.prediction!r}")
        if not 0.0 <= config.min_snr <= 1e4:
            raise ValueError(f"min_snr must be in [0, 1e4] (0 = off), got {config.min_snr}")
        self.net = UNet(config.channels, widths, config.attention)
        self.encoder = ConditionEncoder(config.condition, self.net.embed_dim)
        self.null = nn.Parameter(torch.zeros(self.net.embed_dim)) if config.condition != "none" else None
        abar = torch.cumprod(1 - SCHEDULES[config.schedule](config.timesteps), dim=0)  # (T,) float64
        # the schedule is rebuilt from the config, so these buffers stay out of checkpoints
        self.register_buffer("abar", abar, persistent=False)
        self.register_buffer("abar_prev", torch.cat([abar.new_ones(1), abar[:-1]]), persistent=False)
        variance = (1 - abar / self.abar_prev) * (1 - self.abar_prev) / (1 - abar)  # beta_tilde_t, 0 at t = 1
        self.register_buffer("log_variance", torch.cat([variance[1:2], variance[1:]]).log(), persistent=False)
        if config.ema_decay:
            init_average(self)

    def _context(self, condition, n: int, drop: float = 0.0):
        """The condition vector (n, E) — or None — with rows replaced by the null vector w.p. `drop`."""
        condition = self._check_condition(condition, n)
        if condition is None:
            return None
        context = self.encoder(condition)  # (n, E)
        if drop > 0:
            dropped = torch.rand(n, 1, device=context.device) < drop
            context = torch.where(dropped, self.null.expand_as(context), context)
        return context

    def _check_images(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) images of this model's size -> floats in [-1, 1]."""
        c, size = self.config.channels, self.config.image_size
        if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != (c, size, size):
            raise ValueError(f"expected uint8 images (B, {c}, {size}, {size}), got {x.dtype} {tuple(x.shape)}")
        return to_unit(x)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, for 0-based step indices t (B,)."""
        abar = self.abar[t].float().view(-1, 1, 1, 1)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def _predict_x0(self, x_t, out, abar):
        """x0_hat from the network's output, clipped to the data range [-1, 1]. For eps-prediction
        x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar); for v = sqrt(abar) eps - sqrt(1 - abar) x0
        (Salimans & Ho 2022, "Progressive Distillation", app. D) x0 = sqrt(abar) x_t - sqrt(1 - abar) v,
        which stays well conditioned as abar -> 0, where dividing by sqrt(abar) amplifies eps's errors."""
        abar = abar.float().view(-1, 1, 1, 1)
        if self.config.prediction == "v":
            return (abar.sqrt() * x_t - (1 - abar).sqrt() * out).clamp(-1, 1)
        return ((x_t - (1 - abar).sqrt() * out) / abar.sqrt()).clamp(-1, 1)

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The "simple" loss ||target - net(x_t, t)||^2, target eps or v, averaged over pixels; with
        `min_snr` = gamma each image's term is weighted by min(SNR_t, gamma) / SNR_t for eps and
        min(SNR_t, gamma) / (SNR_t + 1) for v (Hang et al. 2023, "Efficient Diffusion Training via
        Min-SNR Weighting"): both equal the x0-error weighted by min(SNR, gamma), so the many
        nearly-clean steps stop dominating the gradient, and training converges several times faster."""
        x0 = self._check_images(x)  # (B, C, H, W) in [-1, 1]
        context = self._context(condition, x0.shape[0], drop=self.config.guidance_dropout)
        t = torch.randint(self.config.timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        abar = self.abar[t].float().view(-1, 1, 1, 1)
        target = noise if self.config.prediction == "eps" else abar.sqrt() * noise - (1 - abar).sqrt() * x0
        error = (self.net(self.q_sample(x0, t, noise), t, context) - target).pow(2).mean((1, 2, 3))  # (B,)
        if self.config.min_snr:
            snr = abar.flatten() / (1 - abar.flatten())
            error = error * snr.clamp(max=self.config.min_snr) / (snr + (self.config.prediction == "v"))
        return error.mean()

    # --- the variational bound

    @torch.no_grad()
    def bound_terms(
        self,
        x: torch.Tensor,
        condition: torch.Tensor | None = None,
        *,
        steps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict:
        """The bound's terms in nats per image: "prior" L_T (B,), "decoder" L_0 (B,) and "diffusion"
        (B, k): L_{t-1} at the 0-based indices `steps` (default all 1..T-1, i.e. t = 2..T).
        Scored with the averaged weights."""
        with averaged(self):
            return self._bound_terms(x, condition, steps=steps, generator=generator)

    def _bound_terms(self, x, condition, *, steps, generator) -> dict:
        x0 = self._check_images(x)  # (B, C, H, W)
        b, T = x0.shape[0], self.config.timesteps
        context = self._context(condition, b)
        steps = torch.arange(1, T) if steps is None else steps.cpu().long()
        if steps.ndim != 1 or len(steps) and not 1 <= int(steps.min()) <= int(steps.max()) <= T - 1:
            raise ValueError(f"steps must be a 1-d tensor of indices in 1..{T - 1}")
        abar_T = self.abar[-1].float()
        zero = x0.new_zeros(())
        prior = normal_kl(abar_T.sqrt() * x0, (1 - abar_T).log(), zero, zero).sum((1, 2, 3))  # vs N(0, I)
        columns = []
        indices = torch.cat([torch.zeros(1, dtype=torch.long), steps])  # index 0 is the decoder
        per_pass = max(1, ROWS_PER_PASS // b)
        for chunk in indices.split(per_pass):
            t = chunk.to(x0.device).repeat_interleave(b)  # (k B,)
            x0_rows = x0.repeat(len(chunk), 1, 1, 1)  # (k B, C, H, W)
            noise = torch.randn(x0_rows.shape, generator=generator).to(x0.device)
            x_t = self.q_sample(x0_rows, t, noise)
            ctx = None if context is None else context.repeat(len(chunk), 1)
            x0_hat = self._predict_x0(x_t, self.net(x_t, t, ctx), self.abar[t])
            model_mean, _ = posterior(x0_hat, x_t, self.abar[t], self.abar_prev[t])
            true_mean, _ = posterior(x0_rows, x_t, self.abar[t], self.abar_prev[t])
            logvar = self.log_variance[t].float().view(-1, 1, 1, 1)
            kl = normal_kl(true_mean, logvar, model_mean, logvar).sum((1, 2, 3))
            nll = -discretized_gaussian_log_likelihood(x0_rows, model_mean, logvar).sum((1, 2, 3))
            columns.append(torch.where(t == 0, nll, kl).view(len(chunk), b).T)  # (B, k)
        terms = torch.cat(columns, dim=1)  # (B, 1 + len(steps))
        return {"prior": prior, "decoder": terms[:, 0], "diffusion": terms[:, 1:]}

    @torch.no_grad()
    def log_prob(
        self,
        x: torch.Tensor,
        condition: torch.Tensor | None = None,
        *,
        terms: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The ELBO (B,) in nats of the discrete image: every term when `terms` is None (T network
        passes per image), else the T - 1 KL terms estimated from `terms` importance-sampled strata
        (see the module doc); either way each term uses one draw of x_t. The draws come from `generator`,
        or without one from a generator seeded with 0, so the result is deterministic."""
        T = self.config.timesteps
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        if terms is None:
            parts = self.bound_terms(x, condition, generator=generator)
            return -(parts["prior"] + parts["decoder"] + parts["diffusion"].sum(1))
        if not 1 <= terms <= T - 1:
            raise ValueError(f"terms must be in 1..{T - 1} (or None for the exact sum), got {terms}")
        growth = torch.log((1 - self.abar[1:]) / (1 - self.abar_prev[1:])).cpu()  # (T-1,) for t = 2..T
        q = growth / growth.sum()  # the proposal over the KL terms
        u = (torch.arange(terms) + torch.rand(terms, generator=generator, dtype=torch.float64)) / terms
        picks = torch.searchsorted(q.cumsum(0), u, right=True).clamp(max=T - 2)  # one t per stratum of u
        parts = self.bound_terms(x, condition, steps=picks + 1, generator=generator)
        diffusion = (parts["diffusion"] / (terms * q[picks]).to(parts["diffusion"])).sum(1)  # importance weights
        return -(parts["prior"] + parts["decoder"] + diffusion)

    # --- sampling

    @torch.no_grad()
    def sample_steps(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        guidance: float = 1.0,
        every: int = 10,
    ):
        """Yield uint8 (n, C, H, W) predictions of x_0 every `every` steps; the last yield is the sample.
        Sampled with the averaged weights."""
        with averaged(self):
            yield from self._sample_steps(
                n, condition, generator=generator, steps=steps, guidance=guidance, every=every
            )

    def _sample_steps(self, n, condition, *, generator, steps, guidance, every):
        T, size, device = self.config.timesteps, self.config.image_size, self.abar.device
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        if steps is not None and not 1 <= steps <= T:
            raise ValueError(f"steps must be in 1..{T} (or None for all {T}), got {steps}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if not math.isfinite(guidance) or guidance < 0:
            raise ValueError(f"guidance must be a finite number >= 0, got {guidance}")
        if guidance != 1.0 and self.config.condition == "none":
            raise ValueError("guidance needs a conditional model; this one is unconditional")
        context = self._context(condition, n)
        if guidance != 1.0:
            context = torch.cat([context, self.null.expand_as(context)])  # (2n, E): cond, then null
        taus = torch.arange(T) if steps is None else torch.linspace(T - 1, 0, steps).round().long().flip(0)
        abar = self.abar[taus.to(device)]  # respaced: abar at the kept steps
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        x = torch.randn(n, self.config.channels, size, size, generator=generator).to(device)  # x_T
        for k in reversed(range(len(taus))):
            t = taus[k].to(device).expand(n)
            if guidance == 1.0:
                out = self.net(x, t, context)
            else:
                out_cond, out_null = self.net(x.repeat(2, 1, 1, 1), t.repeat(2), context).chunk(2)
                out = out_null + guidance * (out_cond - out_null)  # classifier-free guidance (eps or v: linear)
            x0_hat = self._predict_x0(x, out, abar[k])
            mean, variance = posterior(x0_hat, x, abar[k : k + 1], abar_prev[k : k + 1])
            noise = torch.randn(x.shape, generator=generator).to(device) if k > 0 else 0.0
            x = mean + variance.sqrt() * noise  # x_{tau_{k-1}} ~ p(. | x_{tau_k})
            if k == 0 or (len(taus) - k) % every == 0:
                yield from_unit(x0_hat)  # at the last step x is x0_hat itself

    def sample(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        guidance: float = 1.0,
    ) -> torch.Tensor:
        """uint8 (n, C, H, W): ancestral sampling over all T steps, or `steps` respaced ones."""
        *_, images = self.sample_steps(
            n, condition, generator=generator, steps=steps, guidance=guidance, every=self.config.timesteps
        )  # only the final yield
        return images
