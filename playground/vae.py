"""Variational autoencoder with a discrete pixel likelihood, and its importance-weighted bound.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes"; Rezende, Mohamed & Wierstra 2014,
"Stochastic Backpropagation and Approximate Inference in Deep Generative Models"; Burda, Grosse &
Salakhutdinov 2016, "Importance Weighted Autoencoders"; Sohn, Lee & Yan 2015 (conditional VAE);
van den Oord et al. 2016, "Pixel Recurrent Neural Networks" (categorical pixels).

Model. A latent code z ~ p(z) = N(0, I) of `latent_dim` numbers; a convolutional decoder maps it to
the parameters of p(x | z), which is independent over the D = 3 H W subpixels: each subpixel's byte
v = 16 h + l gets two independent 16-way categoricals, one for its high nibble h and one for its low
nibble l, so P(v | z) = P(h | z) P(l | z). That is a normalised distribution over the 256 values (a
log-probability of the integer image, comparable with PixelCNN's bits/dim), it can put all its mass
on one exact byte (the grey ground, a palette colour), it trains by plain cross-entropy (much better
conditioned than a sharp continuous density), its mode is the pair of modes, and it needs 32 logits
per subpixel instead of a 256-way softmax's 256 — eight times less work in the widest layer.

Inference. A convolutional encoder gives q(z | x) = N(m(x), diag s(x)^2). Jensen's inequality gives
the evidence lower bound (ELBO)
    log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || p(z)),
the first term estimated with one reparameterised draw z = m + s * eps, the KL in closed form:
    KL = 1/2 sum_j (m_j^2 + s_j^2 - 1 - log s_j^2).
Training maximises it (the loss is -ELBO per dimension, nats / D, which keeps the learning rate
independent of image size). `free_bits` (Kingma et al. 2016) can stop the KL of each latent from
being pushed below that many nats, a guard against posterior collapse; 0 turns it off.

Importance-weighted bound (Burda et al.). With k draws z_i ~ q(z | x),
    log p(x) >= L_k = E[log 1/k sum_i p(x | z_i) p(z_i) / q(z_i | x)],
L_1 is the ELBO, L_k grows with k and tends to log p(x). `log_prob` returns L_k (default k = 64).

Conditioning (CVAE). The condition vector is appended to the encoder's features and to z before
the decoder: q(z | x, c), p(x | z, c), with the prior N(0, I) independent of c.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import CONDITIONS, Model, to_unit
from .text import ConditionEncoder

MAX_SAMPLES = 1024       # images per sample / decode / interpolate call
MAX_IMPORTANCE = 4096    # importance samples per image in log_prob
ROWS_PER_PASS = 512      # decoder batch when log_prob evaluates many draws at once
NIBBLE = 16              # values of each half of a byte: v = 16 h + l


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag e^log_var), summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + log_var + (z - mean) ** 2 * torch.exp(-log_var)).sum(-1)


@dataclass
class VAEConfig:
    image_size: int = 32          # square images of this side; divisible by 8 (three stride-2 stages)
    channels: int = 3             # colour channels
    condition: str = "none"       # "none", "class" (shape, colour) or "caption"
    latent_dim: int = 16          # size of the code z
    width: int = 32               # channels of the first conv stage; doubled at each of the next two
    condition_dim: int = 64       # size of the condition vector (conditional models only)
    free_bits: float = 0.0        # nats per latent below which its KL is not penalised in training; 0 = off


class VAE(Model):
    Config = VAEConfig
    family = "vae"
    likelihood = "bound"

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        if config.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {config.condition!r}")
        if config.image_size < 8 or config.image_size % 8:
            raise ValueError(f"image_size must be a positive multiple of 8 (three stride-2 stages), "
                             f"got {config.image_size}")
        if min(config.latent_dim, config.width, config.condition_dim) < 1:
            raise ValueError("latent_dim, width and condition_dim must be positive")
        if config.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, got {config.free_bits}")
        c, w, z = config.channels, config.width, config.latent_dim
        self.bottom = config.image_size // 8                     # side of the lowest feature map
        flat = 4 * w * self.bottom ** 2
        cond = config.condition_dim if config.condition != "none" else 0
        self.condition_encoder = ConditionEncoder(config.condition, config.condition_dim)
        self.encoder = nn.Sequential(
            nn.Conv2d(c, w, 4, stride=2, padding=1), nn.SiLU(),          # H/2
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),      # H/4
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),  # H/8
            nn.Flatten())
        self.posterior = nn.Linear(flat + cond, 2 * z)            # -> (m, log s^2)
        self.project = nn.Sequential(nn.Linear(z + cond, flat), nn.SiLU())
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.SiLU(),  # H/4
            nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, w, 3, padding=1), nn.SiLU(),      # H/2
            nn.Upsample(scale_factor=2), nn.Conv2d(w, 2 * w, 3, padding=1), nn.SiLU(),  # H
            nn.Conv2d(2 * w, c * 2 * NIBBLE, 1))                  # per subpixel: 16 + 16 nibble logits
        with torch.no_grad():
            self.posterior.bias[z:].fill_(-6.0)                  # q starts narrow: the code carries information

    # --- the two networks

    def _condition(self, condition, n: int):
        """The condition vector (n, condition_dim), or None for an unconditional model."""
        condition = self._check_condition(condition, n)
        return None if condition is None else self.condition_encoder(condition)

    def _posterior(self, x: torch.Tensor, cond):
        """q(z | x, c): mean and log-variance, each (B, latent_dim)."""
        h = self.encoder(to_unit(x))                              # (B, 4w * bottom^2)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)
        mean, log_var = self.posterior(h).chunk(2, dim=1)
        return mean, log_var.clamp(-12.0, 4.0)

    def _logits(self, z: torch.Tensor, cond) -> torch.Tensor:
        """p(x | z, c): nibble logits (B, C, 2, 16, H, W), [:, :, 0] for the high and [:, :, 1] the low nibble."""
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        h = self.project(z).view(z.shape[0], -1, self.bottom, self.bottom)   # (B, 4w, H/8, W/8)
        return self.decoder(h).unflatten(1, (self.config.channels, 2, NIBBLE))

    def _log_likelihood(self, x: torch.Tensor, z: torch.Tensor, cond) -> torch.Tensor:
        """log p(x | z, c) in nats, (B,): log P(h) + log P(l) summed over subpixels."""
        log_p = self._logits(z, cond).log_softmax(3)                     # (B, C, 2, 16, H, W)
        nibbles = torch.stack([x // NIBBLE, x % NIBBLE], dim=2).long()   # (B, C, 2, H, W)
        return log_p.gather(3, nibbles[:, :, :, None]).flatten(1).sum(1)

    # --- the bounds

    def _elbo_terms(self, x, condition, generator=None):
        """One-draw reconstruction log-likelihood (B,) and the closed-form KL per latent (B, latent_dim)."""
        cond = self._condition(condition, x.shape[0])
        mean, log_var = self._posterior(x, cond)
        eps = torch.randn(mean.shape, generator=generator).to(mean.device)
        z = mean + torch.exp(0.5 * log_var) * eps                 # reparameterised draw from q(z | x)
        kl = 0.5 * (mean ** 2 + log_var.exp() - 1 - log_var)      # KL(N(m, s^2) || N(0, 1)) per latent
        return self._log_likelihood(x, z, cond), kl

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """-ELBO per dimension (nats / D), with each latent's KL floored at `free_bits` nats (batch mean)."""
        reconstruction, kl = self._elbo_terms(x, condition)
        kl = kl.mean(0).clamp(min=self.config.free_bits).sum() if self.config.free_bits else kl.sum(1).mean()
        return (kl - reconstruction.mean()) / x[0].numel()

    @torch.no_grad()
    def elbo(self, x: torch.Tensor, condition: torch.Tensor | None = None, *,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The ELBO (B,) in nats: one draw for the reconstruction term, the KL exactly."""
        reconstruction, kl = self._elbo_terms(x, condition, generator)
        return reconstruction - kl.sum(1)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, condition: torch.Tensor | None = None, *, k: int = 64,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted bound L_k (B,) in nats: log 1/k sum_i p(x, z_i) / q(z_i | x). The draws
        come from `generator`, or without one from a generator seeded with 0, so the result is deterministic."""
        if not 1 <= k <= MAX_IMPORTANCE:
            raise ValueError(f"k must be in 1..{MAX_IMPORTANCE}, got {k}")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        b = x.shape[0]
        cond = self._condition(condition, b)
        mean, log_var = self._posterior(x, cond)                  # (B, L) each
        eps = torch.randn(k, *mean.shape, generator=generator).to(mean.device)
        z = mean + torch.exp(0.5 * log_var) * eps                 # (k, B, L): draws from q(z | x)
        log_prior = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))   # (k, B)
        log_q = gaussian_log_density(z, mean, log_var)            # (k, B)
        per_pass = max(1, ROWS_PER_PASS // b)
        log_lik = torch.cat([self._log_likelihood(x.repeat(len(chunk), 1, 1, 1), chunk.flatten(0, 1),
                                                  None if cond is None else cond.repeat(len(chunk), 1))
                             .view(len(chunk), b) for chunk in z.split(per_pass)])   # (k, B)
        log_weights = log_lik + log_prior - log_q                 # log p(x, z_i) / q(z_i | x)
        return torch.logsumexp(log_weights, dim=0) - math.log(k)

    # --- codes and images

    @torch.no_grad()
    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means m(x) (B, latent_dim)."""
        return self._posterior(x, self._condition(condition, x.shape[0]))[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (B, C, H, W): the most likely image given z, each subpixel's most likely byte."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape (n, {self.config.latent_dim}), got {tuple(z.shape)}")
        if not 1 <= z.shape[0] <= MAX_SAMPLES:
            raise ValueError(f"can decode 1..{MAX_SAMPLES} codes at once, got {z.shape[0]}")
        nibbles = self._logits(z, self._condition(condition, z.shape[0])).argmax(3)   # (B, C, 2, H, W)
        return (NIBBLE * nibbles[:, :, 0] + nibbles[:, :, 1]).to(torch.uint8)          # (B, C, H, W)

    @torch.no_grad()
    def sample(self, n: int, condition: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (n, C, H, W): z ~ N(0, I), then the decoder's most likely image."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.posterior.weight.device)
        return self.decode(z, condition)

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8,
                    condition: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (steps, C, H, W): decodings of (1 - t) m(x_a) + t m(x_b) for t = 0 .. 1.
        x_a and x_b are single images, (C, H, W) or (1, C, H, W); `condition` (1, ...) applies to all."""
        x_a, x_b = (x[None] if x.ndim == 3 else x for x in (x_a, x_b))
        if x_a.ndim != 4 or x_b.ndim != 4 or x_a.shape[0] != 1 or x_b.shape[0] != 1:
            raise ValueError("interpolate takes two single images, each (C, H, W) or (1, C, H, W)")
        if not 2 <= steps <= MAX_SAMPLES:
            raise ValueError(f"steps must be in 2..{MAX_SAMPLES}, got {steps}")
        codes = self.encode(torch.cat([x_a, x_b]), condition)     # (2, L)
        t = torch.linspace(0, 1, steps, device=codes.device)[:, None]   # (steps, 1)
        return self.decode((1 - t) * codes[0] + t * codes[1], condition)
