"""Restricted Boltzmann machine on binarized images, trained by persistent contrastive divergence.

Smolensky (1986); Hinton (2002) "Training products of experts by minimizing contrastive
divergence"; Tieleman (2008) "Training restricted Boltzmann machines using approximations to the
likelihood gradient" (persistent CD); Salakhutdinov & Murray (2008) "On the quantitative analysis
of deep belief networks" (annealed importance sampling for the partition function).

Data space. This RBM models BITS: subpixel x_i of a uint8 image becomes v_i = [x_i > 127], so a
32x32x3 image is D = 3072 visible bits (the grey ground, 128, becomes 1). `log_prob` is the
log-probability of the *binarized* image and its bits per dim are over two-level dims, so they
are NOT comparable with the 256-level families (`data_space = "binary"` says so). Samples come
back as uint8 images with 0 or 255 in every subpixel.

Model. Visible v in {0,1}^D, hidden h in {0,1}^H, energy and joint distribution
    E(v, h) = -v.W h - b.v - c.h,        p(v, h) = exp(-E(v, h)) / Z.
Given v the hiddens are independent, so they sum out into the free energy
    F(v) = -b.v - sum_j softplus(c_j + (vW)_j),        p(v) = exp(-F(v)) / Z,
and both conditionals factorise: p(h_j=1 | v) = sigmoid(c_j + (vW)_j), p(v_i=1 | h) = sigmoid(b_i + (Wh)_i),
which is what makes block Gibbs sampling v -> h -> v cheap.

Training. -d log p(v)/dθ = dF(v)/dθ - E_model[dF/dθ]: a data term and a model term. PCD keeps
`chains` fantasy particles alive across updates and moves them k Gibbs sweeps per update, so
they stay close to the slowly changing model. The surrogate loss mean F(data) - mean F(fantasy),
with the fantasy held fixed, has exactly this gradient; its value hovers near zero and is not a
likelihood (use `log_prob` for that).

Likelihood. Z sums over 2^D states, so log Z is estimated by AIS. The annealing path runs from a
base-rate RBM A (W = 0, c = 0, visible biases b_A = logit of the data's bit marginals, an easy
distribution with known Z_A = 2^H prod_i (1 + e^{b_A,i})) to our RBM B through
    log p*_β(v) = (1-β) b_A.v + β b.v + sum_j softplus(β (c_j + (vW)_j)),     0 = β_0 < ... < β_K = 1,
i.e. the joint energy (1-β) E_A + β E_B with h summed out. Each run draws v ~ p_0 exactly, then
for k = 1..K adds log p*_βk(v) - log p*_βk-1(v) to its log weight and takes one Gibbs step that
leaves p_βk invariant. Then Z_B / Z_A ≈ mean(w) over M runs. mean(w) is unbiased for the ratio,
so log Z is biased LOW on average (Jensen) and the log-likelihood high: report the spread.
On a sharp RBM the runs never find the deep basins and AIS fails (docs/models-rbm.md); given the
training images, `estimate_log_z_from_data` samples the hidden units from their posteriors instead
(Z = sum_h exp(-G(h)) holds too), and the shipped models carry that estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .protocol import Model

MAX_SAMPLES = 1024
MAX_SWEEPS = 100_000
RECONSTRUCTION_EVERY = 10  # train_step reports the reconstruction error on every 10th update (the logged rows)


def binarize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float bits (B, C*H*W): a subpixel is 1 when it is above 127."""
    return (images > 127).flatten(1).float()


def ais_schedule(steps: int) -> list[float]:
    """steps + 1 inverse temperatures 0 = β_0 < ... < β_K = 1, spaced in Salakhutdinov & Murray's
    proportions (500, 4000 and 10000 steps on [0, .5), [.5, .9), [.9, 1]): denser where p_β changes fast."""
    if steps < 3:
        raise ValueError(f"AIS needs at least 3 intermediate distributions, got {steps}")
    n1, n2 = max(1, steps // 29), max(1, 8 * steps // 29)
    n3 = steps - n1 - n2
    return torch.cat(
        [torch.linspace(0.0, 0.5, n1 + 1)[:-1], torch.linspace(0.5, 0.9, n2 + 1)[:-1], torch.linspace(0.9, 1.0, n3 + 1)]
    ).tolist()


@dataclass
class RBMConfig:
    image_size: int = 32  # images are image_size x image_size
    channels: int = 3  # colour channels: D = channels * image_size^2 visible bits
    condition: str = "none"  # only "none": this RBM is unconditional
    hidden: int = 512  # binary hidden units H
    gibbs_steps: int = 1  # k of PCD-k: Gibbs sweeps of the fantasy chains per update
    chains: int = 200  # persistent fantasy particles
    weight_decay: float = 1e-4  # L2 penalty on W (Hinton's "weight cost"); biases are not decayed
    init_std: float = 0.01  # initial weights W ~ N(0, init_std^2)
    ais_betas: int = 5_000  # intermediate distributions on the AIS path
    ais_runs: int = 100  # parallel AIS runs M
    ais_seed: int = 0  # AIS has its own seed, so log_prob is a fixed function of the weights
    sampling_sweeps: int = 1000  # Gibbs sweeps v -> h -> v when sampling from a base-rate start
    centered: bool = False  # follow the centred gradient (Melchior, Fischer & Wiskott 2016; see train_step)
    center_rate: float = 0.01  # ν: the hidden offset λ slides towards the batch's mean p(h | v) at this rate


class RBM(Model):
    Config = RBMConfig
    family = "rbm"
    likelihood = "estimate"
    data_space = "binary"  # log_prob is over binarized images (one bit per subpixel)

    def __init__(self, config: RBMConfig):
        super().__init__(config)
        if config.condition != "none":
            raise ValueError(
                f"rbm supports only condition='none' (got {config.condition!r}): "
                "it models binarized images without a condition"
            )
        for name in ("image_size", "channels", "hidden", "gibbs_steps", "chains", "ais_runs", "sampling_sweeps"):
            if getattr(config, name) < 1:
                raise ValueError(f"rbm {name} must be at least 1, got {getattr(config, name)}")
        if not 0 < config.center_rate <= 1:
            raise ValueError(f"rbm center_rate must be in (0, 1], got {config.center_rate}")
        ais_schedule(config.ais_betas)
        D, H = config.channels * config.image_size**2, config.hidden
        self.W = nn.Parameter(torch.randn(D, H) * config.init_std)  # (D, H)
        self.b = nn.Parameter(torch.zeros(D))  # visible biases
        self.c = nn.Parameter(torch.zeros(H))  # hidden biases
        # counts of 1-bits in the training data: the base-rate RBM of AIS starts from these marginals
        self.register_buffer("bit_counts", torch.zeros(D, dtype=torch.float64))
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.float64))
        # the AIS estimate of log Z and its standard error, saved with the weights; NaN = stale
        self.register_buffer("log_z", torch.tensor(math.nan))
        self.register_buffer("log_z_stderr", torch.tensor(math.nan))
        # an exact floor under log Z from the training images, set when training finishes (see log_prob)
        self.register_buffer("log_z_floor", torch.tensor(-math.inf))
        # how log_z was estimated: 0 = AIS from the base rate, n > 0 = importance sampling over h with n draws
        self.register_buffer("log_z_draws", torch.tensor(0.0))
        # PCD fantasy particles: training state only (not saved), started from data when empty
        self.register_buffer("fantasy", torch.empty(0, D), persistent=False)
        # the centred gradient's hidden offset λ (training state only, like the particles): 1/2 at first
        self.register_buffer("hidden_offset", torch.full((H,), 0.5), persistent=False)

    # --- energies
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -b.v - sum_j softplus(c_j + (vW)_j) for bits v (B, D) -> (B,)."""
        return -v @ self.b - F.softplus(v @ self.W + self.c).sum(1)

    def base_rate_logits(self) -> torch.Tensor:
        """b_A (D,): logits of the data's bit marginals, Laplace-smoothed so no bit is certain."""
        p = (self.bit_counts + 1.0) / (self.images_seen + 2.0)
        return torch.logit(p).float()

    @torch.no_grad()
    def observe(self, bits: torch.Tensor) -> None:
        """Add bits (B, D) to the data marginals (training does this; so can an imported model)."""
        self.bit_counts += bits.sum(0).double()
        self.images_seen += bits.shape[0]
        self.forget_log_z()

    def forget_log_z(self) -> None:
        """Mark the cached log Z and its floor stale (the weights or the base rate changed)."""
        self.log_z.fill_(math.nan)
        self.log_z_stderr.fill_(math.nan)
        self.log_z_floor.fill_(-math.inf)
        self.log_z_draws.fill_(0.0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "log_z_floor", torch.tensor(-math.inf))  # checkpoints from before the floor
        state_dict.setdefault(prefix + "log_z_draws", torch.tensor(0.0))  # ... and before importance sampling
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def partition_floor(self, bits: torch.Tensor) -> float:
        """log sum_v exp(-F(v)) over the distinct states among bits (N, D): an exact lower bound on log Z,
        which sums exp(-F) over all 2^D states, these among them."""
        return float(torch.logsumexp(-self.free_energy(torch.unique(bits, dim=0)).double(), 0))

    def finish_training(self, x: torch.Tensor, condition: torch.Tensor | None, generator=None) -> None:
        """Once training ends: the floor under log Z from the training images, and log Z by importance
        sampling from their hidden posteriors, or by AIS where that has the smaller error (see `log_prob`
        and `estimate_log_z_from_data`)."""
        bits = binarize(x)
        self.log_z_floor.fill_(self.partition_floor(bits))
        self.set_log_z_from_data(bits, generator, max_draws=2**18)  # at most ~30 s for 1,024 components
        if self.log_z_stderr >= 0.1:  # the posteriors missed the mass (a soft, young RBM): try AIS as well
            log_z, stderr = self.estimate_log_z()
            if stderr < self.log_z_stderr:
                self.log_z.fill_(log_z)
                self.log_z_stderr.fill_(stderr)
                self.log_z_draws.fill_(0.0)

    def _gibbs_sweep(self, v: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One block Gibbs step v -> h ~ p(h|v) -> v' ~ p(v|h)."""
        h = torch.bernoulli(torch.sigmoid(v @ self.W + self.c), generator=generator)  # (B, H)
        return torch.bernoulli(torch.sigmoid(h @ self.W.T + self.b), generator=generator)  # (B, D)

    # --- training
    def _fantasy_particles(self, v: torch.Tensor) -> torch.Tensor:
        if self.fantasy.shape[0] == 0:
            self.fantasy = v[torch.randint(v.shape[0], (self.config.chains,), device=v.device)].clone()
        return self.fantasy

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """PCD surrogate: mean F(data) - mean F(fantasy); its gradient is the log-likelihood gradient."""
        self._check_condition(condition)
        v = binarize(x)  # (B, D)
        return self.free_energy(v).mean() - self.free_energy(self._fantasy_particles(v)).mean()

    def train_step(self, x: torch.Tensor, condition: torch.Tensor | None, optimizer) -> dict:
        """One PCD-k update: the particles move k Gibbs sweeps, then the gradient of the surrogate mean F(data)
        - mean F(fantasy) at them is written out, without autograd. With a = c + vW, dF/dW = -v sigmoid(a)^T,
        dF/db = -v and dF/dc = -sigmoid(a), so
            dW = fantasy^T p(h | fantasy) / M - v^T p(h | v) / B      (and likewise for b and c),
        both terms in one product of the stacked [data; fantasy] with their stacked weights. Every
        RECONSTRUCTION_EVERY-th update (the rows the loss log keeps) also reports the mean-field
        reconstruction error, one more product, logged only.

        Centring (`centered`). Almost every bit of this world is 1 (the grey ground), so v^T p(h | v) is
        mostly the mean image times the hiddens' mean: the plain gradient spends its steps on the offsets,
        and the weights' and biases' updates fight each other (the Hessian is badly conditioned). The
        centred RBM writes the same family of models with offsets μ (the data's bit means) and λ (a
        sliding mean of p(h | data)),
            E(v, h) = -(v - μ)^T W (h - λ) - b'.(v - μ) - c'.(h - λ),   i.e.  b = b' - W λ,  c = c' - W^T μ,
        and descends in (W, b', c'), whose gradient is
            G = (fantasy - μ)^T (p(h | fantasy) - λ) / M - (v - μ)^T (p(h | v) - λ) / B   for W,
        with b' and c' getting the plain bias gradients g_b, g_c. These are what the optimiser sees (its
        moments are the centred parameters'); after its step ΔW, the stored standard biases take the
        step of b' and c' less ΔW λ and ΔW^T μ. The model, its sampler and AIS are unchanged: only the
        path of descent is better conditioned. (Handing the optimiser the equivalent standard gradients
        (G, g_b - G λ, g_c - G^T μ) instead is not the same under Adam, whose per-coordinate scaling
        breaks the coupling: c's share, a sum over 3,072 visible bits, drowns. Tried: 1.09 bits/dim.)"""
        self._check_condition(condition)
        v = binarize(x)  # (B, D)
        self.updates += 1
        with torch.no_grad():
            if self.images_seen == 0:  # Hinton's guide: start b at the log-odds of the data marginals
                self.b.copy_(torch.logit(v.mean(0).clamp(0.001, 0.999)))
            self.observe(v)
            fantasy = self._fantasy_particles(v)  # (M, D)
            for _ in range(self.config.gibbs_steps):
                fantasy = self._gibbs_sweep(fantasy, None)
            self.fantasy = fantasy
            B, M = v.shape[0], fantasy.shape[0]
            a_data = torch.addmm(self.c, v, self.W)  # (B, H): c + vW
            a_fantasy = torch.addmm(self.c, fantasy, self.W)  # (M, H)
            p_data, p_fantasy = torch.sigmoid(a_data), torch.sigmoid(a_fantasy)
            optimizer.zero_grad(set_to_none=True)
            g_b, g_c = fantasy.mean(0) - v.mean(0), p_fantasy.mean(0) - p_data.mean(0)
            if self.config.centered:
                mu, lam = torch.sigmoid(self.base_rate_logits()), self.hidden_offset.clone()  # (D,), (H,)
                weights = torch.cat([(p_data - lam) / -B, (p_fantasy - lam) / M])  # (B + M, H)
                grads = ((torch.cat([v, fantasy]) - mu).T @ weights, g_b, g_c)  # in (W, b', c')
                W_before = self.W.detach().clone()
                self.hidden_offset.lerp_(
                    p_data.mean(0).to(lam.dtype),  # after this update's gradient;
                    self.config.center_rate,
                )  # float32 under bfloat16 too
            else:
                weights = torch.cat([p_data / -B, p_fantasy / M])  # (B + M, H)
                grads = (torch.cat([v, fantasy]).T @ weights, g_b, g_c)  # (D, H): one product for both terms
            for param, grad in zip((self.W, self.b, self.c), grads):
                param.grad = grad.to(param.dtype)  # float32 also under bfloat16 autocast
            # the surrogate's value, F = -b.v - sum softplus(a), from the products already made
            loss = (
                (fantasy @ self.b).mean()
                - (v @ self.b).mean()
                + F.softplus(a_fantasy).sum(1).mean()
                - F.softplus(a_data).sum(1).mean()
            )
            record = {"loss": float(loss)}
            if self.updates % RECONSTRUCTION_EVERY == 0:  # at the weights this update starts from
                reconstruction = torch.sigmoid(p_data @ self.W.T + self.b)
                record["reconstruction_error"] = float(((v - reconstruction) ** 2).mean())
        optimizer.step()
        if self.config.centered:  # the optimiser moved (W, b', c'); carry the step back to b and c
            with torch.no_grad():
                step = self.W - W_before  # (D, H)
                self.b.sub_(step @ lam)
                self.c.sub_(step.T @ mu)
        return record

    def configure_optimizer(self, lr: float):
        return torch.optim.Adam(
            [
                {"params": [self.W], "weight_decay": self.config.weight_decay},
                {"params": [self.b, self.c], "weight_decay": 0.0},
            ],
            lr=lr,
        )

    # --- likelihood
    @torch.no_grad()
    def estimate_log_z(
        self, *, betas: int | None = None, runs: int | None = None, generator: torch.Generator | None = None
    ) -> tuple[float, float]:
        """AIS estimate of log Z (nats) and its standard error sd(w) / (sqrt(M) mean(w))."""
        schedule = ais_schedule(betas or self.config.ais_betas)
        M = runs or self.config.ais_runs
        generator = generator or torch.Generator(device=self.W.device).manual_seed(self.config.ais_seed)
        W, b, c, b_a = self.W, self.b, self.c, self.base_rate_logits()

        def log_p_star(v, vw, beta):  # (M,)
            return (1 - beta) * (v @ b_a) + beta * (v @ b) + F.softplus(beta * (vw + c)).sum(1)

        v = torch.bernoulli(torch.sigmoid(b_a).expand(M, -1), generator=generator)  # (M, D), exact p_0 samples
        log_w = torch.zeros(M, dtype=torch.float64, device=W.device)
        for beta_prev, beta in zip(schedule[:-1], schedule[1:]):
            vw = v @ W  # (M, H)
            log_w += (log_p_star(v, vw, beta) - log_p_star(v, vw, beta_prev)).double()
            h = torch.bernoulli(torch.sigmoid(beta * (vw + c)), generator=generator)  # Gibbs step at β
            v = torch.bernoulli(torch.sigmoid((1 - beta) * b_a + beta * (h @ W.T + b)), generator=generator)
        log_z_a = self.config.hidden * math.log(2.0) + float(F.softplus(b_a.double()).sum())
        log_mean_w = float(torch.logsumexp(log_w, 0)) - math.log(M)
        w = torch.exp(log_w - log_w.max())  # weights up to a common factor
        stderr = float(w.std() / (math.sqrt(M) * w.mean())) if M > 1 else math.inf
        return log_z_a + log_mean_w, stderr

    def hidden_free_energy(self, h: torch.Tensor) -> torch.Tensor:
        """G(h) = -c.h - sum_i softplus(b_i + (W h)_i) for hidden states h (B, H) -> (B,): the visible units
        summed out exactly, so that Z = sum_h exp(-G(h)) as well as sum_v exp(-F(v))."""
        return -h @ self.c - F.softplus(h @ self.W.T + self.b).sum(1)

    @torch.no_grad()
    def estimate_log_z_from_data(
        self,
        bits: torch.Tensor,
        draws: int = 2**17,
        components: int = 1024,
        generator: torch.Generator | None = None,
        batch: int = 4096,
    ) -> tuple[float, float, int]:
        """log Z (nats) by importance sampling over the hidden units, the relative standard error of Z, and
        the number of draws.

        AIS from the base rate fails on a sharp RBM: its runs never enter the deep basins the training
        images dug, so it lands below even the floor. Here the proposal starts where the mass is. With
        K distinct training images x_k (bits, (N, D); at most `components` of them, drawn at random),
            q(h) = 1/K sum_k prod_j Bernoulli(h_j; p(h_j = 1 | x_k)),
        a mixture of the exact posteriors; then Z = sum_h exp(-G(h)) = E_q[exp(-G(h)) / q(h)], unbiased,
        estimated from about `draws` draws, the same number from each component (a stratified mixture:
        every draw is weighted by the whole mixture's density). Its error is sd(w) / (sqrt(n) mean(w)), as
        for AIS (AIS with no intermediate steps is this estimator). Mass the proposal never reaches (a basin
        far from every training image) is missed, so it too leans low in practice; unlike the floor, it
        counts the neighbourhoods of the training states. Probabilities are clamped to [1e-6, 1 - 1e-6]
        so that q covers every h."""
        x = torch.unique((bits > 0.5).float(), dim=0).to(self.W.device)
        if len(x) == 0 or draws < 1 or components < 1:
            raise ValueError("importance sampling of log Z needs at least one training image, component and draw")
        generator = generator or torch.Generator(device=self.W.device).manual_seed(self.config.ais_seed)
        if len(x) > components:
            x = x[torch.randperm(len(x), generator=generator, device=x.device)[:components]]
        W, c = self.W.double(), self.c.double()
        p = torch.sigmoid(x.double() @ W + c).clamp(1e-6, 1 - 1e-6)  # (K, H): the K proposal components
        logit, log_off = p.log() - (1 - p).log(), (1 - p).log().sum(1)  # log q_k(h) = h.logit_k + log_off_k
        each = max(1, draws // len(p))
        per_batch = max(1, batch // each)
        log_w = []
        for k in range(0, len(p), per_batch):
            h = torch.bernoulli(p[k : k + per_batch].repeat_interleave(each, 0), generator=generator)
            log_q = torch.logsumexp(h @ logit.T + log_off, 1) - math.log(len(p))
            log_w.append(-self.hidden_free_energy(h.to(self.W.dtype)).double() - log_q)
        log_w = torch.cat(log_w)
        w = torch.exp(log_w - log_w.max())
        stderr = float(w.std() / (math.sqrt(len(w)) * w.mean())) if len(w) > 1 else math.inf
        return float(torch.logsumexp(log_w, 0)) - math.log(len(w)), stderr, len(w)

    def set_log_z_from_data(
        self,
        bits: torch.Tensor,
        generator: torch.Generator | None = None,
        draws: int = 2**17,
        target: float = 0.1,
        max_draws: int = 2**20,
        **options,
    ) -> None:
        """Cache `estimate_log_z_from_data` as the model's log Z (it ships with the weights): `draws` draws,
        doubled (a fresh estimate each time) until the relative error of Z is below `target` or the draws
        reach `max_draws`; the error stays beside the estimate either way."""
        while True:
            log_z, stderr, n = self.estimate_log_z_from_data(bits, draws, generator=generator, **options)
            if stderr < target or draws >= max_draws:
                break
            draws *= 2
        self.log_z.fill_(log_z)
        self.log_z_stderr.fill_(stderr)
        self.log_z_draws.fill_(float(n))

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """log p(binarize(x)) = -F(v) - log Z in nats (B,); log Z by AIS, computed once and cached.

        AIS's estimate of Z is unbiased, but a sharp model's weights are heavy-tailed: runs that never
        enter a deep basin miss its mass, and log Z comes out low, so log p comes out high (an image can
        even get p > 1). Z is a sum over all states, so the training images give an exact floor,
        log sum_train exp(-F) <= log Z (`log_z_floor`, set by `finish_training`), and the larger of the
        two is used. Both are below the true log Z, so the result still leans high: the floor only
        removes what AIS provably missed."""
        self._check_condition(condition)
        if torch.isnan(self.log_z):
            log_z, stderr = self.estimate_log_z()
            self.log_z.fill_(log_z)
            self.log_z_stderr.fill_(stderr)
        return -self.free_energy(binarize(x)) - torch.maximum(self.log_z, self.log_z_floor)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer's posterior p(h = 1 | v) = sigmoid(c + vW) (B, hidden) of binarize(x): the
        RBM's representation (its posterior factorises, so it is exact and one matrix product)."""
        return torch.sigmoid(binarize(x) @ self.W + self.c)

    # --- sampling
    @torch.no_grad()
    def sample_steps(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        every: int = 100,
        sweeps: int | None = None,
        mode: bool = False,
    ):
        """Gibbs chains from base-rate starts; yields uint8 (n, C, H, W) every `every` sweeps, then the last.

        Each picture is the chain's visible state v, a draw from the model. With `mode`, it is instead the
        most likely bits given the chain's hidden state, p(v = 1 | h) > 1/2 (what Hinton's guide shows):
        cleaner, but not a sample, so never score it as one."""
        self._check_condition(condition)
        sweeps = sweeps or self.config.sampling_sweeps
        if not 0 < n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        if not 0 < sweeps <= MAX_SWEEPS or every < 1:
            raise ValueError(f"sweeps must be in 1..{MAX_SWEEPS} and every >= 1, got {sweeps} and {every}")
        size, C = self.config.image_size, self.config.channels
        start = torch.sigmoid(self.base_rate_logits()).expand(n, -1)  # (n, D)
        v = torch.bernoulli(start, generator=generator)
        for sweep in range(1, sweeps + 1):
            h = torch.bernoulli(torch.sigmoid(v @ self.W + self.c), generator=generator)  # (n, H)
            p_v = torch.sigmoid(h @ self.W.T + self.b)  # (n, D): p(v = 1 | h)
            v = torch.bernoulli(p_v, generator=generator)
            if sweep % every == 0 or sweep == sweeps:
                bits = (p_v > 0.5) if mode else v
                yield (bits.reshape(n, C, size, size) * 255).to(torch.uint8)  # (n, C, H, W), 0 or 255

    def sample(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        sweeps: int | None = None,
        mode: bool = False,
    ) -> torch.Tensor:
        """uint8 (n, C, H, W): the visible states of n Gibbs chains after `sweeps` sweeps (draws), or with
        `mode` the thresholded p(v | h) > 1/2 of their last hidden states (see `sample_steps`)."""
        sweeps = sweeps or self.config.sampling_sweeps
        *_, images = self.sample_steps(n, condition, generator=generator, every=sweeps, sweeps=sweeps, mode=mode)
        return images


# --- side by side with scikit-learn
def to_sklearn(model: RBM, *, random_state: int = 0):
    """Our weights in a fitted-looking sklearn BernoulliRBM (components_ is W transposed)."""
    from sklearn.neural_network import BernoulliRBM

    estimator = BernoulliRBM(n_components=model.config.hidden, random_state=random_state)
    estimator.components_ = model.W.detach().T.double().numpy()  # (H, D)
    estimator.intercept_visible_ = model.b.detach().double().numpy()
    estimator.intercept_hidden_ = model.c.detach().double().numpy()
    estimator.n_features_in_ = model.W.shape[0]
    return estimator


def from_sklearn(estimator, config: RBMConfig, data_bits: torch.Tensor) -> RBM:
    """A fitted sklearn BernoulliRBM as one of ours; `data_bits` (N, D) give AIS its base rate."""
    model = RBM(replace(config, hidden=estimator.components_.shape[0]))
    with torch.no_grad():
        model.W.copy_(torch.as_tensor(estimator.components_.T))
        model.b.copy_(torch.as_tensor(estimator.intercept_visible_))
        model.c.copy_(torch.as_tensor(estimator.intercept_hidden_))
    model.observe(data_bits)
    return model


def compare_with_sklearn(
    data_bits, model: RBM, *, test_bits=None, batch_size: int = 64, learning_rate: float = 0.05, seed: int = 0
) -> dict:
    """Train sklearn's BernoulliRBM (PCD-1, plain SGD) on the same bits for as many images as `model`
    has seen, then score both the same two ways: sklearn's pseudo-likelihood (`score_samples`: D times
    log sigmoid of the free-energy change from flipping one random bit) and our log-likelihood, with log Z
    from AIS and from importance sampling over h (`estimate_log_z_from_data`): the one with the smaller
    relative error, raised to the exact floor over the test images where it falls below."""
    from sklearn.neural_network import BernoulliRBM

    data_bits = torch.as_tensor(np.asarray(data_bits), dtype=torch.float32)  # (N, D)
    test_bits = data_bits if test_bits is None else torch.as_tensor(np.asarray(test_bits), dtype=torch.float32)
    epochs = max(1, round(float(model.images_seen) / len(data_bits)))
    start = time.monotonic()
    theirs = BernoulliRBM(
        n_components=model.config.hidden,
        learning_rate=learning_rate,
        batch_size=batch_size,
        n_iter=epochs,
        random_state=seed,
    ).fit(data_bits.double().numpy())
    seconds = time.monotonic() - start
    D = data_bits.shape[1]
    report = {
        "epochs": epochs,
        "images_seen": int(model.images_seen),
        "test_images": len(test_bits),
        "visible_bits": D,
        "sklearn_train_seconds": round(seconds, 1),
    }
    for name, ours, estimator in [
        ("ours", model, to_sklearn(model, random_state=seed)),
        ("sklearn", from_sklearn(theirs, model.config, data_bits), theirs),
    ]:
        pseudo = float(estimator.score_samples(test_bits.double().numpy()).mean())
        ais_log_z, stderr = ours.estimate_log_z()
        ours.set_log_z_from_data(data_bits)  # importance sampling over h, its draws doubled to a 0.1 error
        is_log_z, is_stderr = float(ours.log_z), float(ours.log_z_stderr)
        floor = ours.partition_floor(test_bits)  # exact: log Z is at least this (see log_prob)
        # the estimate with the smaller relative error, raised to the floor when it falls below it
        log_z = max(is_log_z if is_stderr <= stderr else ais_log_z, floor)
        log_p = float((-ours.free_energy(test_bits).detach() - log_z).mean())
        report[name] = {
            "pseudo_log_likelihood": pseudo,
            "pseudo_log_likelihood_per_dim": pseudo / D,
            "ais_log_z": ais_log_z,
            "ais_log_z_stderr": stderr,
            "is_log_z": is_log_z,
            "is_log_z_stderr": is_stderr,
            "is_draws": int(ours.log_z_draws),
            "log_z_floor": floor,
            "log_z": log_z,
            "log_likelihood": log_p,
            "bits_per_dim": -log_p / (D * math.log(2.0)),
            "bits_per_image": -log_p / math.log(2.0),
        }
    return report
