"""Energy-based model of images: a CNN energy trained with Langevin negatives from a replay buffer.

Du & Mordatch (2019) "Implicit Generation and Modeling with Energy-Based Models"; Nijkamp, Hill,
Zhu & Wu (2019) "Learning Non-Convergent Non-Persistent Short-Run MCMC Toward Energy-Based Model";
Welling & Teh (2011) "Bayesian Learning via Stochastic Gradient Langevin Dynamics".

Model. A network E_θ(x) gives every image x in [-1, 1]^D a scalar energy and
    p_θ(x) = exp(-E_θ(x)) / Z(θ),        Z(θ) = ∫ exp(-E_θ(x)) dx.
Z cannot be computed, so `log_prob` returns -E(x): an UNNORMALIZED log-density, good for ranking
images under one model, not for bits per dim or for comparing models.

Training. The maximum-likelihood gradient needs samples of the model itself:
    ∇θ -log p_θ(x) = ∇θ E_θ(x) - E_{x'~p_θ}[∇θ E_θ(x')],
so the loss is E(x+) - E(x-) on data x+ and model samples x- (pushing data energy down and
sample energy up), plus α (E(x+)^2 + E(x-)^2), a light L2 that keeps energies near zero and
training stable (Du & Mordatch, Sec. 3.3). Negatives come from Langevin dynamics
    x <- x - λ ∇x E(x) + σ ε,        ε ~ N(0, I),
which is SGLD targeting p_θ when λ = σ^2 / 2. Like Du & Mordatch we decouple the step λ from the
noise σ (λ >> σ^2 / 2): the chain is a noisy descent on the energy, and Nijkamp et al. show the
model learns to make such short runs produce good samples. Each chain starts from the replay buffer
(95%: a past negative, so chains are effectively long) or fresh uniform noise (5%: new modes).
Because training chains are long, `sample` from noise needs many more steps than one update uses.
Data gets a little Gaussian noise so the energy cannot spike on the 256 exact pixel levels.

Conditions. With condition "class" or "caption" the energy is E(x, c) = e(f(x)) - f(x).g(c), a
projection of the image features f(x) onto the condition vector g(c) (Miyato & Koyama 2018). The
buffer holds images only: a reused start is steered towards the batch's condition by its chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .protocol import Model, check_image_size, from_unit, to_unit
from .text import ConditionEncoder

MAX_SAMPLES = 1024
MAX_LANGEVIN_STEPS = 10_000


@dataclass
class EBMConfig:
    image_size: int = 32  # images are image_size x image_size (a multiple of 8)
    channels: int = 3  # colour channels
    condition: str = "none"  # "none" | "class" | "caption"
    width: int = 16  # channels of the first conv; 2x and 4x that in the deeper convs
    feature_dim: int = 128  # image feature f(x) (and condition vector g(c)) size
    langevin_steps: int = 5  # Langevin steps per training update (from buffer starts)
    sampling_steps: int = 200  # Langevin steps when sampling from uniform noise
    step_size: float = 10.0  # λ: gradient step of Langevin
    noise_scale: float = 0.005  # σ: Langevin noise standard deviation
    buffer_size: int = 512  # replay buffer capacity (negatives kept between updates)
    reinit_fraction: float = 0.05  # share of chains restarted from uniform noise
    energy_l2: float = 0.1  # α: weight of the L2 penalty on energies
    data_noise: float = 0.01  # std of Gaussian noise added to data in [-1, 1]


class EBM(Model):
    Config = EBMConfig
    family = "ebm"
    likelihood = "unnormalized"

    def __init__(self, config: EBMConfig):
        super().__init__(config)
        check_image_size(config.image_size, 8, "three 2x2 poolings")
        if config.langevin_steps < 1 or config.sampling_steps < 1 or config.buffer_size < 1:
            raise ValueError("ebm langevin_steps, sampling_steps and buffer_size must be at least 1")
        w = config.width
        # Every Langevin step runs this net forward and back, so it is lean. Average pooling downsamples
        # (strided convs left a grid pattern in dE/dx, hence in the samples, in our trials); the final
        # spatial mean makes "there is an object" one feature wherever the object is, learnt once.
        self.features = nn.Sequential(  # f(x): (B, C, S, S) -> (B, F)
            nn.Conv2d(config.channels, w, 3, padding=1),
            nn.SiLU(),
            nn.AvgPool2d(2),  # (B, w, S/2, S/2)
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.SiLU(),
            nn.AvgPool2d(2),  # (B, 2w, S/4, S/4)
            nn.Conv2d(2 * w, 4 * w, 3, padding=1),
            nn.SiLU(),
            nn.AvgPool2d(2),  # (B, 4w, S/8, S/8)
            nn.Conv2d(4 * w, 4 * w, 3, padding=1),
            nn.SiLU(),  # (B, 4w, S/8, S/8)
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # (B, 4w)
            nn.Linear(4 * w, config.feature_dim),
            nn.SiLU(),
        )  # (B, F)
        self.head = nn.Linear(config.feature_dim, 1)  # e(f): the unconditional energy
        self.encoder = ConditionEncoder(config.condition, config.feature_dim)
        # replay buffer of past negatives in [-1, 1]: training state only, grows to buffer_size
        self.register_buffer(
            "replay", torch.empty(0, config.channels, config.image_size, config.image_size), persistent=False
        )

    def energy(self, x: torch.Tensor, condition_vector: torch.Tensor | None = None) -> torch.Tensor:
        """E(x) for x (B, C, H, W) in [-1, 1] -> (B,); with a condition, minus the projection f(x).g(c)."""
        f = self.features(x)  # (B, F)
        e = self.head(f).squeeze(1)  # (B,)
        return e if condition_vector is None else e - (f * condition_vector).sum(1)

    # --- Langevin dynamics
    def langevin(
        self,
        x: torch.Tensor,
        condition_vector: torch.Tensor | None,
        steps: int,
        generator: torch.Generator | None = None,
        every: int | None = None,
    ):
        """Run `steps` of x <- clamp(x - λ ∇E(x) + σ ε); yields x every `every` steps and at the end."""
        for step in range(1, steps + 1):
            with torch.enable_grad():
                x = x.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(self.energy(x, condition_vector).sum(), x)  # (B, C, H, W)
            noise = torch.randn(x.shape, generator=generator, device=x.device)
            x = (x - self.config.step_size * grad + self.config.noise_scale * noise).clamp(-1, 1).detach()
            if step == steps or (every is not None and step % every == 0):
                yield x

    # --- training
    def _replay_starts(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Chain starts (n, C, H, W): a past negative, or with prob. reinit_fraction uniform noise."""
        noise = torch.rand(n, *self.replay.shape[1:], device=self.replay.device) * 2 - 1
        if self.replay.shape[0] == 0:
            return noise, None
        idx = torch.randint(self.replay.shape[0], (n,), device=self.replay.device)
        fresh = torch.rand(n, device=self.replay.device) < self.config.reinit_fraction
        return torch.where(fresh[:, None, None, None], noise, self.replay[idx]), idx

    def _replay_push(self, negatives: torch.Tensor, idx: torch.Tensor | None) -> None:
        """Append new negatives until the buffer is full, then overwrite the slots they came from."""
        if self.replay.shape[0] < self.config.buffer_size:
            self.replay = torch.cat([self.replay, negatives])[: self.config.buffer_size]
        else:
            self.replay[idx] = negatives

    def _contrastive_loss(self, x: torch.Tensor, condition: torch.Tensor | None, push: bool) -> tuple:
        condition = self._check_condition(condition, x.shape[0])
        positives = to_unit(x) + self.config.data_noise * torch.randn(x.shape, device=x.device)  # (B, C, H, W)
        condition_vector = self.encoder(condition)  # (B, F) or None
        fixed = None if condition_vector is None else condition_vector.detach()
        starts, idx = self._replay_starts(x.shape[0])
        *_, negatives = self.langevin(starts, fixed, self.config.langevin_steps)
        if push:
            self._replay_push(negatives, idx)
        e_pos = self.energy(positives, condition_vector)  # (B,)
        e_neg = self.energy(negatives, condition_vector)  # (B,)
        # maximum likelihood: lower data energy, raise sample energy; α keeps both near zero
        loss = e_pos.mean() - e_neg.mean() + self.config.energy_l2 * (e_pos**2 + e_neg**2).mean()
        return loss, e_pos.detach().mean(), e_neg.detach().mean()

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The contrastive loss with fresh negatives (the buffer is read, not written)."""
        return self._contrastive_loss(x, condition, push=False)[0]

    def train_step(self, x: torch.Tensor, condition: torch.Tensor | None, optimizer) -> dict:
        loss, e_pos, e_neg = self._contrastive_loss(x, condition, push=True)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach()), "energy_data": float(e_pos), "energy_samples": float(e_neg)}

    def configure_optimizer(self, lr: float):
        # no momentum (β1 = 0, as Du & Mordatch): the negatives, hence the gradients, shift every step
        return torch.optim.Adam(self.parameters(), lr=lr, betas=(0.0, 0.999))

    # --- likelihood and sampling
    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """-E(x) (B,): the log-density up to the unknown constant log Z."""
        condition = self._check_condition(condition, x.shape[0])
        return -self.energy(to_unit(x), self.encoder(condition))

    @torch.no_grad()
    def sample_steps(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        every: int = 10,
        steps: int | None = None,
    ):
        """Langevin chains from uniform noise; yields uint8 (n, C, H, W) every `every` steps, then the last."""
        steps = steps or self.config.sampling_steps
        if not 0 < n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        if not 0 < steps <= MAX_LANGEVIN_STEPS or every < 1:
            raise ValueError(f"steps must be in 1..{MAX_LANGEVIN_STEPS} and every >= 1, got {steps} and {every}")
        condition = self._check_condition(condition, n)
        condition_vector = self.encoder(condition)  # (n, F) or None
        size, device = self.config.image_size, self.head.weight.device
        start = torch.rand(n, self.config.channels, size, size, generator=generator, device=device) * 2 - 1
        for x in self.langevin(start, condition_vector, steps, generator, every):
            yield from_unit(x)  # (n, C, H, W) uint8

    def sample(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        steps = steps or self.config.sampling_steps
        *_, images = self.sample_steps(n, condition, generator=generator, every=steps, steps=steps)
        return images
