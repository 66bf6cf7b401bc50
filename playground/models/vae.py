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
the decoder: q(z | x, c), p(x | z, c), with the prior independent of c.

A fitted prior (ex-post density estimation; Ghosh et al. 2020, "From Variational to Deterministic
Autoencoders"). N(0, I) is rarely where the codes are: the ELBO's KL pulls each posterior toward it,
but the codes of a few hundred distinct pictures cover it sparsely, and a prior draw that lands between
two codes decodes to a blend (a blank or a smudge). The best prior for a given encoder is the
aggregate posterior q(z) = E_x q(z | x) (Hoffman & Johnson 2016, "ELBO surgery": the KL term
averaged over the data is I(x; z) + KL(q(z) || p(z)), smallest when p = q(z)). With
`prior_components` = K > 0 the prior is a K-component diagonal Gaussian mixture,
    p(z) = sum_k pi_k N(z; mu_k, diag sigma_k^2),
which starts as K copies of N(0, I) (so it IS N(0, I), and training is unchanged) and is fitted at
the end of training by expectation-maximisation to draws from the aggregate posterior of the
training images (`fit_prior`). Both bounds stay bounds of the new model: its KL has no closed form,
so the ELBO uses the one-draw estimate log q(z | x) - log p(z), and L_k simply evaluates log p(z_i)
under the mixture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .protocol import Model, check_image_size, to_unit
from .text import ConditionEncoder

MAX_SAMPLES = 1024  # images per sample / decode / interpolate call
MAX_IMPORTANCE = 4096  # importance samples per image in log_prob
ROWS_PER_PASS = 512  # decoder batch when log_prob evaluates many draws at once
NIBBLE = 16  # values of each half of a byte: v = 16 h + l


MAX_COMPONENTS = 4096  # components of a fitted mixture prior
MAX_PRIOR_POINTS = 32768  # draws the mixture is fitted to: fewer draws per image when there are many images
VARIANCE_FLOOR = 1e-4  # smallest variance EM may give a mixture component (a component on one point would
# otherwise shrink to a spike of unbounded density)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag e^log_var), summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + log_var + (z - mean) ** 2 * torch.exp(-log_var)).sum(-1)


def component_log_densities(z: torch.Tensor, means: torch.Tensor, log_vars: torch.Tensor) -> torch.Tensor:
    """(M, K): log N(z_m; mu_k, diag sigma_k^2) of points z (M, L) under components mu, log sigma^2 (K, L).
    One matrix product per term: the squared distance expands as sum_j (z_j^2 - 2 z_j mu_kj + mu_kj^2) / sigma_kj^2,
    so no (M, K, L) tensor is ever built."""
    precision = torch.exp(-log_vars)  # (K, L)
    quadratic = (z**2) @ precision.T - 2 * z @ (means * precision).T + (means**2 * precision).sum(1)
    return -0.5 * (quadratic + log_vars.sum(1) + z.shape[-1] * math.log(2 * math.pi))


def mixture_log_density(
    z: torch.Tensor, logits: torch.Tensor, means: torch.Tensor, log_vars: torch.Tensor
) -> torch.Tensor:
    """log sum_k pi_k N(z; mu_k, diag sigma_k^2) for z (..., L); pi = softmax(logits) (K,), mu and
    log sigma^2 (K, L)."""
    log_n = component_log_densities(z.reshape(-1, z.shape[-1]), means, log_vars)  # (M, K)
    return torch.logsumexp(log_n + logits.log_softmax(0), dim=1).view(z.shape[:-1])


def _first_of_each(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of `rows` (N, D): the index of each one's first occurrence (M,) and its count (M,)."""
    _, inverse, counts = torch.unique(rows, dim=0, return_inverse=True, return_counts=True)
    first = torch.full((len(counts),), len(rows), dtype=torch.long).scatter_reduce(
        0, inverse, torch.arange(len(rows)), reduce="amin"
    )
    order = first.argsort()  # in order of first appearance, so the result follows the data's order
    return first[order], counts[order]


def _kmeans_plus_plus(z: torch.Tensor, k: int, weights: torch.Tensor, generator) -> torch.Tensor:
    """K starting means (K, L) by k-means++ seeding (Arthur & Vassilvitskii 2007): each next one a point
    drawn with probability proportional to its weight times its squared distance to the nearest chosen
    mean, so the means spread over the clusters instead of doubling up where points are dense."""
    chosen = [int(torch.multinomial(weights, 1, generator=generator))]
    nearest = ((z - z[chosen[0]]) ** 2).sum(1)
    for _ in range(1, k):
        score = weights * nearest
        if float(score.sum()) <= 0:  # fewer distinct points than components: reuse any
            score = weights
        chosen.append(int(torch.multinomial(score, 1, generator=generator)))
        nearest = torch.minimum(nearest, ((z - z[chosen[-1]]) ** 2).sum(1))
    return z[chosen].clone()


def fit_gaussian_mixture(
    z: torch.Tensor,
    k: int,
    *,
    weights: torch.Tensor | None = None,
    iterations: int = 100,
    generator: torch.Generator | None = None,
    chunk: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maximum-likelihood K-component diagonal Gaussian mixture of the points z (N, L), each counted
    `weights` (N,) times (default once), by EM (Dempster, Laird & Rubin 1977); returns
    (logits, means, log_vars), pi = softmax(logits).

    E-step: each point's responsibilities r_nk = pi_k N(z_n; mu_k, sigma_k^2) / sum_j (...), in log space.
    M-step: with w_n the weights and N_k = sum_n w_n r_nk, pi_k = N_k / sum_n w_n,
    mu_k = sum_n w_n r_nk z_n / N_k and sigma_k^2 = sum_n w_n r_nk z_n^2 / N_k - mu_k^2 (floored at
    VARIANCE_FLOOR). No step lowers the data's log-likelihood. The means start at K points seeded by
    k-means++ with `generator`, the variances at the data's, so the same generator gives the same mixture."""
    n, dims = z.shape
    if not 1 <= k <= min(n, MAX_COMPONENTS):
        raise ValueError(
            f"a mixture of {k} components needs 1..{min(n, MAX_COMPONENTS)} (and at most as many as the {n} points)"
        )
    weights = torch.ones(n) if weights is None else weights.float()
    means = _kmeans_plus_plus(z, k, weights, generator)
    log_vars = z.var(0).clamp(min=VARIANCE_FLOOR).log().expand(k, dims).clone()
    logits = torch.zeros(k)
    for _ in range(iterations):
        counts = torch.zeros(k, dtype=torch.float64)
        first = torch.zeros(k, dims, dtype=torch.float64)
        second = torch.zeros(k, dims, dtype=torch.float64)
        for part, w in zip(z.split(chunk), weights.split(chunk)):  # E-step, in chunks of points
            log_r = component_log_densities(part, means, log_vars) + logits.log_softmax(0)  # (chunk, K)
            r = torch.softmax(log_r, dim=1) * w[:, None]
            counts += r.sum(0).double()  # sufficient statistics, in float64
            first += (r.T @ part).double()
            second += (r.T @ part**2).double()
        alive = counts > 1e-6  # a component nobody chose keeps its place
        safe = counts.clamp(min=1e-6)[:, None]
        new_means = first / safe
        variance = (second / safe - new_means**2).clamp(min=VARIANCE_FLOOR)  # E[z^2] - mu^2
        means = torch.where(alive[:, None], new_means, means.double()).float()
        log_vars = torch.where(alive[:, None], variance.log(), log_vars.double()).float()
        logits = (counts / counts.sum()).clamp(min=1e-12).log().float()
    return logits, means, log_vars


@dataclass
class VAEConfig:
    image_size: int = 32  # square images of this side; divisible by 8 (three stride-2 stages)
    channels: int = 3  # colour channels
    condition: str = "none"  # "none", "class" (shape, colour) or "caption"
    latent_dim: int = 16  # size of the code z
    width: int = 32  # channels of the first conv stage; doubled at each of the next two
    condition_dim: int = 64  # size of the condition vector (conditional models only)
    free_bits: float = 0.0  # nats per latent below which its KL is not penalised in training; 0 = off
    prior_components: int = 0  # 0: the prior is N(0, I); K > 0: a K-component Gaussian mixture fitted after training
    prior_draws: int = 32  # draws from q(z | x) per distinct training image that the mixture is fitted to


class VAE(Model):
    Config = VAEConfig
    family = "vae"
    likelihood = "bound"

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        check_image_size(config.image_size, 8, "three stride-2 stages")
        if min(config.latent_dim, config.width, config.condition_dim) < 1:
            raise ValueError("latent_dim, width and condition_dim must be positive")
        if config.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, got {config.free_bits}")
        if not 0 <= config.prior_components <= MAX_COMPONENTS:
            raise ValueError(f"prior_components must be in 0..{MAX_COMPONENTS}, got {config.prior_components}")
        if not 1 <= config.prior_draws <= 64:
            raise ValueError(f"prior_draws must be in 1..64, got {config.prior_draws}")
        c, w, z = config.channels, config.width, config.latent_dim
        self.bottom = config.image_size // 8  # side of the lowest feature map
        flat = 4 * w * self.bottom**2
        cond = config.condition_dim if config.condition != "none" else 0
        self.condition_encoder = ConditionEncoder(config.condition, config.condition_dim)
        self.encoder = nn.Sequential(
            nn.Conv2d(c, w, 4, stride=2, padding=1),
            nn.SiLU(),  # H/2
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
            nn.SiLU(),  # H/4
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1),
            nn.SiLU(),  # H/8
            nn.Flatten(),
        )
        self.posterior = nn.Linear(flat + cond, 2 * z)  # -> (m, log s^2)
        self.project = nn.Sequential(nn.Linear(z + cond, flat), nn.SiLU())
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(4 * w, 2 * w, 3, padding=1),
            nn.SiLU(),  # H/4
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * w, w, 3, padding=1),
            nn.SiLU(),  # H/2
            nn.Upsample(scale_factor=2),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.SiLU(),  # H
            nn.Conv2d(2 * w, c * 2 * NIBBLE, 1),
        )  # per subpixel: 16 + 16 nibble logits
        with torch.no_grad():
            self.posterior.bias[z:].fill_(-6.0)  # q starts narrow: the code carries information
        if config.prior_components:
            # The mixture prior: K copies of N(0, I) until `fit_prior` moves them; `prior_fitted` says whether it has.
            k = config.prior_components
            self.register_buffer("prior_logits", torch.zeros(k))
            self.register_buffer("prior_means", torch.zeros(k, z))
            self.register_buffer("prior_log_vars", torch.zeros(k, z))
            self.register_buffer("prior_fitted", torch.zeros((), dtype=torch.bool))

    # --- the two networks

    def _condition(self, condition, n: int):
        """The condition vector (n, condition_dim), or None for an unconditional model."""
        condition = self._check_condition(condition, n)
        return None if condition is None else self.condition_encoder(condition)

    def _posterior(self, x: torch.Tensor, cond):
        """q(z | x, c): mean and log-variance, each (B, latent_dim)."""
        h = self.encoder(to_unit(x))  # (B, 4w * bottom^2)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)
        mean, log_var = self.posterior(h).chunk(2, dim=1)
        return mean, log_var.clamp(-12.0, 4.0)

    def _logits(self, z: torch.Tensor, cond) -> torch.Tensor:
        """p(x | z, c): nibble logits (B, C, 2, 16, H, W), [:, :, 0] for the high and [:, :, 1] the low nibble."""
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        h = self.project(z).view(z.shape[0], -1, self.bottom, self.bottom)  # (B, 4w, H/8, W/8)
        return self.decoder(h).unflatten(1, (self.config.channels, 2, NIBBLE))

    def _log_likelihood(self, x: torch.Tensor, z: torch.Tensor, cond) -> torch.Tensor:
        """log p(x | z, c) in nats, (B,): log P(h) + log P(l) summed over subpixels."""
        log_p = self._logits(z, cond).log_softmax(3)  # (B, C, 2, 16, H, W)
        nibbles = torch.stack([x // NIBBLE, x % NIBBLE], dim=2).long()  # (B, C, 2, H, W)
        return log_p.gather(3, nibbles[:, :, :, None]).flatten(1).sum(1)

    # --- the prior

    @property
    def mixture_prior(self) -> bool:
        """Whether the prior is a fitted mixture (otherwise it is N(0, I))."""
        return bool(self.config.prior_components) and bool(self.prior_fitted)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for codes (..., latent_dim)."""
        if not self.mixture_prior:
            return gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        return mixture_log_density(z, self.prior_logits, self.prior_means, self.prior_log_vars)

    def _prior_sample(self, n: int, generator) -> torch.Tensor:
        """(n, latent_dim) draws from p(z): a component k ~ pi, then mu_k + sigma_k * eps."""
        device = self.posterior.weight.device
        if not self.mixture_prior:
            return torch.randn(n, self.config.latent_dim, generator=generator).to(device)
        k = torch.multinomial(self.prior_logits.softmax(0).cpu(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.config.latent_dim, generator=generator).to(device)
        k = k.to(device)
        return self.prior_means[k] + torch.exp(0.5 * self.prior_log_vars[k]) * eps

    @torch.no_grad()
    def fit_prior(
        self,
        x: torch.Tensor,
        condition: torch.Tensor | None = None,
        *,
        iterations: int = 30,
        generator: torch.Generator | None = None,
        batch: int = 1024,
    ) -> None:
        """Fit the mixture prior (prior_components > 0) by EM to `prior_draws` draws from q(z | x) of each
        distinct training image x (B, C, H, W), weighted by how often it occurs (fewer draws when there are
        more than MAX_PRIOR_POINTS in all): an estimate of the aggregate posterior, the best prior for this encoder."""
        if not self.config.prior_components:
            raise ValueError("this VAE has a N(0, I) prior (prior_components = 0): there is no mixture to fit")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        # Repeated (image, condition) pairs are encoded once and weighted by their count: the same EM, less work.
        rows = x.flatten(1) if condition is None else torch.cat([x.flatten(1).long(), condition.flatten(1).long()], 1)
        first, counts = _first_of_each(rows)
        x, condition = x[first], None if condition is None else condition[first]
        per_image = max(1, min(self.config.prior_draws, MAX_PRIOR_POINTS // len(x)))
        draws = []
        for k in range(0, len(x), batch):
            part = x[k : k + batch]
            c = None if condition is None else condition[k : k + batch]
            mean, log_var = self._posterior(part, self._condition(c, len(part)))
            eps = torch.randn(per_image, *mean.shape, generator=generator).to(mean.device)
            draws.append((mean + torch.exp(0.5 * log_var) * eps).transpose(0, 1).flatten(0, 1).cpu())
        weights, points = counts.repeat_interleave(per_image), torch.cat(draws)
        k = self.config.prior_components
        fitted = min(k, len(points))  # fewer draws than components: the rest get weight 0
        logits, means, log_vars = fit_gaussian_mixture(
            points, fitted, weights=weights, iterations=iterations, generator=generator
        )
        if fitted < k:
            logits = torch.cat([logits, torch.full((k - fitted,), -math.inf)])
            means = torch.cat([means, means[:1].expand(k - fitted, -1)])
            log_vars = torch.cat([log_vars, log_vars[:1].expand(k - fitted, -1)])
        device = self.prior_means.device
        self.prior_logits.copy_(logits.to(device))
        self.prior_means.copy_(means.to(device))
        self.prior_log_vars.copy_(log_vars.to(device))
        self.prior_fitted.fill_(True)

    def finish_training(self, x: torch.Tensor, condition: torch.Tensor | None, generator: torch.Generator) -> None:
        """Called by `fit` after the last step: a VAE with a mixture prior fits it to the training images."""
        if self.config.prior_components:
            self.fit_prior(x, condition, generator=generator)

    # --- the bounds

    def _elbo_terms(self, x, condition, generator=None):
        """One-draw reconstruction log-likelihood (B,) and the KL per latent (B, latent_dim): in closed form
        against N(0, I); against a fitted mixture, the one-draw estimate log q(z | x) - log p(z) (B, 1)."""
        cond = self._condition(condition, x.shape[0])
        mean, log_var = self._posterior(x, cond)
        eps = torch.randn(mean.shape, generator=generator).to(mean.device)
        z = mean + torch.exp(0.5 * log_var) * eps  # reparameterised draw from q(z | x)
        if self.mixture_prior:
            kl = (gaussian_log_density(z, mean, log_var) - self.log_prior(z))[:, None]
        else:
            kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var)  # KL(N(m, s^2) || N(0, 1)) per latent
        return self._log_likelihood(x, z, cond), kl

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """-ELBO per dimension (nats / D), with each latent's KL floored at `free_bits` nats (batch mean;
        against a fitted mixture there is no per-latent KL, so the floor applies to the total)."""
        reconstruction, kl = self._elbo_terms(x, condition)
        kl = kl.mean(0).clamp(min=self.config.free_bits).sum() if self.config.free_bits else kl.sum(1).mean()
        return (kl - reconstruction.mean()) / x[0].numel()

    @torch.no_grad()
    def elbo(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The ELBO (B,) in nats: one draw for the reconstruction term, the KL exactly."""
        reconstruction, kl = self._elbo_terms(x, condition, generator)
        return reconstruction - kl.sum(1)

    @torch.no_grad()
    def log_prob(
        self,
        x: torch.Tensor,
        condition: torch.Tensor | None = None,
        *,
        k: int = 64,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The importance-weighted bound L_k (B,) in nats: log 1/k sum_i p(x, z_i) / q(z_i | x). The draws
        come from `generator`, or without one from a generator seeded with 0, so the result is deterministic."""
        if not 1 <= k <= MAX_IMPORTANCE:
            raise ValueError(f"k must be in 1..{MAX_IMPORTANCE}, got {k}")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        b = x.shape[0]
        cond = self._condition(condition, b)
        mean, log_var = self._posterior(x, cond)  # (B, L) each
        eps = torch.randn(k, *mean.shape, generator=generator).to(mean.device)
        z = mean + torch.exp(0.5 * log_var) * eps  # (k, B, L): draws from q(z | x)
        log_prior = self.log_prior(z)  # (k, B)
        log_q = gaussian_log_density(z, mean, log_var)  # (k, B)
        per_pass = max(1, ROWS_PER_PASS // b)
        log_lik = torch.cat(
            [
                self._log_likelihood(
                    x.repeat(len(chunk), 1, 1, 1),
                    chunk.flatten(0, 1),
                    None if cond is None else cond.repeat(len(chunk), 1),
                ).view(len(chunk), b)
                for chunk in z.split(per_pass)
            ]
        )  # (k, B)
        log_weights = log_lik + log_prior - log_q  # log p(x, z_i) / q(z_i | x)
        return torch.logsumexp(log_weights, dim=0) - math.log(k)

    # --- codes and images

    @torch.no_grad()
    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means m(x) (B, latent_dim)."""
        return self._posterior(x, self._condition(condition, x.shape[0]))[0]

    @torch.no_grad()
    def decode(
        self,
        z: torch.Tensor,
        condition: torch.Tensor | None = None,
        *,
        draw: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """uint8 (B, C, H, W) given codes z: the most likely image (each nibble's most likely value), or with
        `draw` an image drawn from p(x | z), every nibble from its own categorical (they are independent
        given z, which is what the likelihood assumes)."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape (n, {self.config.latent_dim}), got {tuple(z.shape)}")
        if not 1 <= z.shape[0] <= MAX_SAMPLES:
            raise ValueError(f"can decode 1..{MAX_SAMPLES} codes at once, got {z.shape[0]}")
        logits = self._logits(z, self._condition(condition, z.shape[0]))  # (B, C, 2, 16, H, W)
        if draw:
            probs = logits.movedim(3, -1).softmax(-1)  # (B, C, 2, H, W, 16)
            flat = torch.multinomial(probs.reshape(-1, NIBBLE).cpu(), 1, generator=generator)
            nibbles = flat.view(probs.shape[:-1]).to(logits.device)  # (B, C, 2, H, W)
        else:
            nibbles = logits.argmax(3)  # (B, C, 2, H, W)
        return (NIBBLE * nibbles[:, :, 0] + nibbles[:, :, 1]).to(torch.uint8)  # (B, C, H, W)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        mode: bool = False,
    ) -> torch.Tensor:
        """uint8 (n, C, H, W): z ~ p(z) (N(0, I), or the fitted mixture), then x ~ p(x | z): a draw from the
        model. With `mode`, the decoder's most likely image for each z instead (cleaner, not a sample)."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        return self.decode(self._prior_sample(n, generator), condition, draw=not mode, generator=generator)

    @torch.no_grad()
    def interpolate(
        self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """uint8 (steps, C, H, W): decodings of (1 - t) m(x_a) + t m(x_b) for t = 0 .. 1.
        x_a and x_b are single images, (C, H, W) or (1, C, H, W); `condition` (1, ...) applies to all."""
        x_a, x_b = (x[None] if x.ndim == 3 else x for x in (x_a, x_b))
        if x_a.ndim != 4 or x_b.ndim != 4 or x_a.shape[0] != 1 or x_b.shape[0] != 1:
            raise ValueError("interpolate takes two single images, each (C, H, W) or (1, C, H, W)")
        if not 2 <= steps <= MAX_SAMPLES:
            raise ValueError(f"steps must be in 2..{MAX_SAMPLES}, got {steps}")
        codes = self.encode(torch.cat([x_a, x_b]), condition)  # (2, L)
        t = torch.linspace(0, 1, steps, device=codes.device)[:, None]  # (steps, 1)
        return self.decode((1 - t) * codes[0] + t * codes[1], condition)
