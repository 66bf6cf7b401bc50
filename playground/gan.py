"""Generative adversarial network: a DCGAN trained with the hinge loss and a spectrally normalised critic.

Goodfellow et al. 2014, "Generative Adversarial Nets"; Radford, Metz & Chintala 2016, "Unsupervised
Representation Learning with Deep Convolutional GANs" (DCGAN); Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks" (SN-GAN); Lim & Ye 2017 and Miyato et al. 2018
(the hinge loss); Miyato & Koyama 2018, "cGANs with Projection Discriminator".

Players. A generator G maps noise z ~ N(0, I) to an image in [-1, 1] (tanh output); a
discriminator (critic) D maps an image to a real number, large for "looks like data". Both are
DCGAN networks: G projects z to a small feature map and doubles its size three times (nearest-neighbour
upsampling then a 3x3 convolution, which avoids the checkerboard of transposed convolutions), with batch
norm and ReLU; D halves it with stride-2 convolutions and LeakyReLU(0.2).

Spectral normalisation. Every weight of D is divided by its largest singular value (estimated by
one power iteration per forward pass), so each layer is 1-Lipschitz and so is D: its gradients
cannot explode, which is what keeps GAN training stable without a careful balance of the players.

Hinge loss. D minimises   E_x[relu(1 - D(x))] + E_z[relu(1 + D(G(z)))]
(push real scores above +1 and fake scores below -1, then stop caring), and G minimises
-E_z[D(G(z))]. Each `train_step` takes `n_critic` D steps on the batch and one G step, both with
Adam(lr, betas=(beta1, 0.9)). The logged "loss" is D's hinge loss (what `loss` returns); "d_loss"
and "g_loss" are logged too. D's loss near 2 means it cannot tell real from fake; near 0, it always can.

Likelihood. A GAN defines p(x) only implicitly, as the push-forward of N(0, I) through G onto a
thin manifold: there is no density to evaluate, so `log_prob` raises NoLikelihood, and there is no
encoder, so `encode` raises NoRepresentation.

Averaged generator. Samples come from an exponential moving average of G's weights (Yazici et al.
2019, "The Unusual Effectiveness of Averaging in GAN Training"), theta_ema <- d theta_ema + (1 - d) theta,
whose batch-norm statistics are copied from G. It is a module of this model, so it checkpoints.

Differentiable augmentation (`augment`; Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"). The exact world has only 768 distinct pictures, so in a few thousand
steps D sees each one hundreds of times and can memorise them, after which its gradients stop
telling G anything general. DiffAugment applies the same random, differentiable transformations
T to every image D sees, real and fake, in both players' losses: D learns to tell T(x) from
T(G(z)), and since G's gradient flows through T, G is still pushed towards the un-augmented data
(T is applied to both sides, so it cannot leak into the samples). "translation" shifts each image
by up to 1/8 of its side, filling with 0 (the ground's grey); "cutout" blanks a random square of
half the side to 0.

R1 penalty (`r1`; Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
Converge?"). Near an equilibrium where G draws the data, an unregularised D keeps a non-zero
gradient on the data manifold, so the pair circles the equilibrium instead of settling in it: the
pictures improve, then get worse again. R1 adds (gamma / 2) E_x ||grad_x D(x)||^2 on *real* images
to D's loss: D must be flat on the data, and the game becomes locally convergent. It needs the
gradient of a gradient (one extra backward pass through D on the real batch).

Seeing a collapse (`batch_std`; Karras et al. 2018, "Progressive Growing of GANs"). D scores one
image at a time, so a G that draws the same picture for every z is not penalised as long as that one
picture is good. Minibatch standard deviation gives D's last stage one more channel: how much the
features of a group of 4 images differ, which is small for a collapsed G. On this world it stops the
generator hopping from one colour to another (raw G and its average then agree), but not the blur.

Lipschitz gain (`lipschitz`, K). Spectral normalisation makes D 1-Lipschitz, and the hinge asks for
D(real) >= 1 and D(fake) <= -1: a margin of 2 that an image must be at least 2 away (in L2, on
[-1, 1] pixels) from every fake to get. A small object drawn blurred is closer than that to the same
object drawn sharp, so D cannot score them apart. Scaling D's output by K bounds its slope by K instead.

Deeper critic (`critic_depth`). SN-GAN's CIFAR critic puts a 3x3 stride-1 convolution before each
stride-2 one; `critic_depth` adds that many per stage (each step then costs about 2.2 times as much).

Deeper generator (`generator_depth`). G's last layer is one 3x3 convolution of features upsampled
from half the size by copying each into a 2 x 2 block: every output pixel is a *linear* mix of
features that are constant over those blocks, so an edge that falls inside a block, or a colour that
changes from one pixel to the next, has to be built from the kernel's weights alone. Extra 3x3
convolutions with batch norm and ReLU at each scale (and at the full size, before the last one) let G
draw at pixel resolution, as SN-GAN's and BigGAN's generators, with two convolutions per block, do.
On this world one more per scale halves the steps that fit in 8 minutes and draws a few sharper discs
among stripes along the borders (README, seventh round), so no recipe uses it.

Generator layout (`generator`). Can G draw the world at all? `benchmarks/generator_fit.py` takes the
critic away and fits each layout to the exact world's 768 images by regression, one learnt code per
image (GLO, Bojanowski et al. 2018). After 1,500 steps the "dcgan" layout reconstructs none of them
validly (median 3.5% of pixels wrong, as many as a blank picture gets wrong), while the "decoder"
layout (the VAE decoder's, with LeakyReLU, and a tanh in place of its nibble logits) reconstructs 31%.
Batch norm is what stops it (with ReLU or SiLU after it, none valid), and ReLU without it sticks at
the blank picture (README, eighth round, has the ablation). Trained as a GAN for 8 minutes, "decoder"
draws more compact objects, now and then an exact one (valid 0.02-0.03 against 0.00), but more blanks
(empty 0.38-0.41 against 0.02) and still blurred ones, with a spectrally normalised critic, a deeper
one or an R1 one; so no recipe uses it yet. The critic's gradients, not G's reach, now limit the GAN.

Conditioning. G reads the concatenation [z, e_G(c)] of the noise and a condition vector; D uses
the projection D(x, c) = psi(phi(x)) + <e_D(c), phi(x)>, phi(x) being its flattened features: the
inner product scores how well the image's features match the asked-for class or caption.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .protocol import CONDITIONS, Model, from_unit, to_unit
from .text import ConditionEncoder

MAX_SAMPLES = 1024      # images per sample call


GENERATORS = ("dcgan", "decoder")


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def _conv_lrelu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2)]


class Generator(nn.Module):
    """[z, e(c)] -> linear -> (4w, H/8, W/8) -> three (upsample x2, 3x3 conv) stages -> tanh.

    "dcgan" (Radford et al.): batch norm and ReLU after every layer but the last, which is the 3x3
    convolution of the features upsampled to full size. "decoder": no normalisation, LeakyReLU(0.2),
    and the full-size stage is a 3x3 convolution to 2w channels and its nonlinearity, then a 1x1
    convolution to pixels (the layout of the VAE's decoder). With `depth` d, each stage has d more 3x3
    convolutions, and so does the full resolution before the last one (see `generator_depth`)."""

    def __init__(self, channels: int, image_size: int, latent_dim: int, width: int, condition: str, condition_dim: int,
                 depth: int = 0, style: str = "dcgan"):
        super().__init__()
        self.bottom = image_size // 8
        self.condition_encoder = ConditionEncoder(condition, condition_dim)
        inputs = latent_dim + (condition_dim if condition != "none" else 0)
        flat = 4 * width * self.bottom ** 2
        if style == "decoder":
            self.project = nn.Sequential(nn.Linear(inputs, flat), nn.LeakyReLU(0.2))
            layers, c_in = [], 4 * width
            for c_out in (2 * width, width, 2 * width):                               # H/4, H/2, H
                layers += [nn.Upsample(scale_factor=2), *_conv_lrelu(c_in, c_out)]
                for _ in range(depth):
                    layers += _conv_lrelu(c_out, c_out)
                c_in = c_out
            self.body = nn.Sequential(*layers, nn.Conv2d(2 * width, channels, 1), nn.Tanh())
            return
        self.project = nn.Sequential(nn.Linear(inputs, flat, bias=False), nn.BatchNorm1d(flat), nn.ReLU())
        layers = []
        for c_in, c_out in ((4 * width, 2 * width), (2 * width, width)):                # H/4, then H/2
            layers += [nn.Upsample(scale_factor=2), *_conv_bn_relu(c_in, c_out)]
            for _ in range(depth):
                layers += _conv_bn_relu(c_out, c_out)
        layers.append(nn.Upsample(scale_factor=2))                                     # H
        for _ in range(depth):
            layers += _conv_bn_relu(width, width)
        self.body = nn.Sequential(*layers, nn.Conv2d(width, channels, 3, padding=1), nn.Tanh())   # in [-1, 1]

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        if condition is not None:
            z = torch.cat([z, self.condition_encoder(condition)], dim=1)    # (B, L + condition_dim)
        h = self.project(z).view(z.shape[0], -1, self.bottom, self.bottom)  # (B, 4w, H/8, W/8)
        return self.body(h)                                                 # (B, C, H, W)


def minibatch_std(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """h (B, C, H, W) with one more channel: the standard deviation of each feature over a group of
    `group` images (the largest of group..1 that divides B), averaged over features and positions,
    the same for the group's images (Karras et al. 2018, ProGAN). A collapsed generator gives groups
    whose images are alike, so D can see the collapse, which it cannot in any one image."""
    b, _, height, width = h.shape
    g = next(k for k in range(min(group, b), 0, -1) if b % k == 0)
    std = h.view(g, b // g, *h.shape[1:]).var(0, unbiased=False).add(1e-8).sqrt()   # (B/g, C, H, W)
    std = std.mean((1, 2, 3)).repeat(g)                                             # (B,): group j's at j, j + B/g, ...
    return torch.cat([h, std.view(b, 1, 1, 1).expand(b, 1, height, width)], dim=1)


class Discriminator(nn.Module):
    """Spectrally normalised DCGAN critic with a projection head for the condition."""

    def __init__(self, channels: int, image_size: int, width: int, condition: str, condition_dim: int,
                 normalise: bool = True, depth: int = 0, batch_std: bool = False):
        super().__init__()
        sn = spectral_norm if normalise else (lambda layer: layer)
        features = 4 * width * (image_size // 8) ** 2
        layers, c_in = [], channels
        for c_out in (width, 2 * width, 4 * width):     # H/2, H/4, H/8
            for _ in range(depth):                      # SN-GAN's CIFAR critic: 3x3 convs at each scale first
                layers += [sn(nn.Conv2d(c_in, c_out, 3, padding=1)), nn.LeakyReLU(0.2)]
                c_in = c_out
            if c_out == 4 * width and batch_std:        # the last stage also reads the group's spread
                c_in += 1
            layers += [sn(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.phi = nn.Sequential(*layers, nn.Flatten())
        self.last, self.batch_std = len(layers) - 2, batch_std    # phi[last] is the last stride-2 conv
        self.psi = sn(nn.Linear(features, 1))
        self.condition_encoder = ConditionEncoder(condition, condition_dim)
        self.embed = sn(nn.Linear(condition_dim, features)) if condition != "none" else None

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        h = x
        for k, layer in enumerate(self.phi):                                # ends with (B, F): phi(x)
            if k == self.last and self.batch_std:                           # (B, ., H/4, W/4): one more channel
                h = minibatch_std(h)
            h = layer(h)
        score = self.psi(h).squeeze(1)                                      # (B,): psi(phi(x))
        if condition is not None:
            score = score + (self.embed(self.condition_encoder(condition)) * h).sum(1)   # + <e(c), phi(x)>
        return score


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image (B, C, H, W) shifted by its own integer offset in [-ratio H, ratio H] per axis, the
    uncovered border 0; a gather, so gradients flow back to the shifted pixels."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy).clamp(-1, h)   # (B, H, 1); -1 or h = border
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx).clamp(-1, w)   # (B, 1, W)
    padded = F.pad(x, (1, 1, 1, 1))                                              # the border: index 0 and h + 1
    flat = (rows + 1) * (w + 2) + (cols + 1)                                     # (B, H, W) into the padded map
    return padded.flatten(2).gather(2, flat.flatten(1)[:, None].expand(-1, x.shape[1], -1)).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Each image (B, C, H, W) with a (ratio H) x (ratio W) square set to 0, its centre anywhere in
    the image (so near a border only part of the square falls inside)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (b, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (b, 1, 1), device=x.device) - cw // 2
    ys, xs = torch.arange(h, device=x.device)[None, :, None], torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)       # (B, H, W)
    return x * ~inside[:, None]


AUGMENTATIONS = {"translation": translate, "cutout": cutout}


class GANOptimizers(NamedTuple):
    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer


@dataclass
class GANConfig:
    image_size: int = 32          # square images of this side; divisible by 8 (three stride-2 stages)
    channels: int = 3             # colour channels
    condition: str = "none"       # "none", "class" (shape, colour) or "caption"
    latent_dim: int = 64          # size of the noise z
    width: int = 32               # G's last and D's first stage channels; doubled at each of the next two
    condition_dim: int = 64       # size of the condition vectors (conditional models only)
    n_critic: int = 1             # discriminator steps per generator step
    beta1: float = 0.5            # Adam's beta1 for both players (0.0 or 0.5 in the SN-GAN recipes); beta2 = 0.9
    ema_decay: float = 0.995      # d of the averaged generator used for sampling; 0 samples the trained G
    augment: str = ""             # DiffAugment policy for what D sees: "", or a comma list of AUGMENTATIONS
    r1: float = 0.0               # gamma of the R1 penalty on D's gradient at real images (0: none)
    spectral_norm: bool = True    # spectrally normalise D's layers (off: Mescheder et al.'s R1-only critic)
    critic_depth: int = 0         # extra 3x3 stride-1 convolutions before each of D's stride-2 ones
    batch_std: bool = False       # D's last stage also sees the spread of a group of 4 images (ProGAN)
    lipschitz: float = 1.0        # K: D's scores are multiplied by K, so spectral norm bounds its slope by K
    generator_depth: int = 0      # extra 3x3 conv + batch norm + ReLU layers at each of G's scales and at full size
    generator: str = "dcgan"      # G's layout: "dcgan" (batch norm, ReLU) or "decoder" (no norm, LeakyReLU)


class GAN(Model):
    Config = GANConfig
    family = "gan"
    likelihood = "none"

    def __init__(self, config: GANConfig):
        super().__init__(config)
        if config.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {config.condition!r}")
        if config.image_size < 8 or config.image_size % 8:
            raise ValueError(f"image_size must be a positive multiple of 8 (three stride-2 stages), "
                             f"got {config.image_size}")
        if min(config.latent_dim, config.width, config.condition_dim, config.n_critic) < 1:
            raise ValueError("latent_dim, width, condition_dim and n_critic must be positive")
        if not 0 < config.lipschitz <= 1000:
            raise ValueError(f"lipschitz must be in (0, 1000], got {config.lipschitz}")
        for name in ("critic_depth", "generator_depth"):
            if not 0 <= getattr(config, name) <= 4:
                raise ValueError(f"{name} must be in 0..4, got {getattr(config, name)}")
        if not 0.0 <= config.beta1 < 1.0 or not 0.0 <= config.ema_decay < 1.0:
            raise ValueError("beta1 and ema_decay must be in [0, 1)")
        if not 0.0 <= config.r1 <= 1000.0:
            raise ValueError(f"r1 must be in [0, 1000], got {config.r1}")
        if config.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, got {config.generator!r}")
        self.augmentations = [a for a in config.augment.split(",") if a]
        unknown = [a for a in self.augmentations if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"augment must be a comma-separated list of {', '.join(AUGMENTATIONS)}, "
                             f"got {config.augment!r}")
        c, s = config.channels, config.image_size
        self.generator = Generator(c, s, config.latent_dim, config.width, config.condition, config.condition_dim,
                                   config.generator_depth, config.generator)
        self.discriminator = Discriminator(c, s, config.width, config.condition, config.condition_dim,
                                           config.spectral_norm, config.critic_depth, config.batch_std)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False) if config.ema_decay else None

    def configure_optimizer(self, lr: float) -> GANOptimizers:
        betas = (self.config.beta1, 0.9)
        return GANOptimizers(torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
                             torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas))

    def _noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = self.generator.project[0].weight.device
        return torch.randn(n, self.config.latent_dim, generator=generator).to(device)   # (n, L)

    # --- the two losses

    def _critic(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """D's scores (B,) of images in [-1, 1], after the DiffAugment transformations (if any)."""
        for name in self.augmentations:
            x = AUGMENTATIONS[name](x)
        return self.config.lipschitz * self.discriminator(x, condition)

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """D's hinge loss on the real batch x and as many fresh fakes (G is held fixed):
        E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], plus (r1 / 2) E||grad_x D(x)||^2 when r1 > 0."""
        condition = self._check_condition(condition, x.shape[0])
        with torch.no_grad():
            fake = self.generator(self._noise(x.shape[0]), condition)       # (B, C, H, W)
        r1, training = self.config.r1, torch.is_grad_enabled()
        with torch.enable_grad() if r1 > 0 else contextlib.nullcontext():   # R1 needs grad_x D even when scoring
            real = to_unit(x).requires_grad_(r1 > 0)
            real_scores = self._critic(real, condition)                     # (B,)
            penalty = 0.0
            if r1 > 0:                                                      # the graph is kept to train through it
                grad, = torch.autograd.grad(real_scores.sum(), real, create_graph=training)   # (B, C, H, W)
                penalty = 0.5 * r1 * grad.pow(2).flatten(1).sum(1).mean()
        fake_scores = self._critic(fake, condition)                         # (B,)
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean() + penalty

    def generator_loss(self, n: int, condition: torch.Tensor | None = None) -> torch.Tensor:
        """G's hinge loss on n fresh fakes: -E[D(G(z))] (D's weights get gradients too; G's optimiser ignores them)."""
        condition = self._check_condition(condition, n)
        return -self._critic(self.generator(self._noise(n), condition), condition).mean()

    def train_step(self, x: torch.Tensor, condition: torch.Tensor | None, optimizer: GANOptimizers) -> dict:
        """n_critic D steps on the batch, one G step, then the average update; "loss" is D's loss."""
        for _ in range(self.config.n_critic):
            optimizer.discriminator.zero_grad(set_to_none=True)
            d_loss = self.loss(x, condition)
            d_loss.backward()
            optimizer.discriminator.step()
        optimizer.generator.zero_grad(set_to_none=True)
        g_loss = self.generator_loss(x.shape[0], condition)
        g_loss.backward()
        optimizer.generator.step()
        self._update_average()
        return {"loss": float(d_loss.detach()), "d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}

    @torch.no_grad()
    def _update_average(self) -> None:
        """theta_ema <- d theta_ema + (1 - d) theta; batch-norm running statistics are copied."""
        if self.generator_ema is None:
            return
        for average, current in zip(self.generator_ema.parameters(), self.generator.parameters()):
            average.lerp_(current, 1 - self.config.ema_decay)
        for average, current in zip(self.generator_ema.buffers(), self.generator.buffers()):
            average.copy_(current)

    # --- sampling

    @torch.no_grad()
    def generate(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Float images (B, C, H, W) in [-1, 1] from noise z (B, latent_dim), by the sampling generator
        (the average if there is one) in eval mode, so batch norm uses its running statistics."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape (n, {self.config.latent_dim}), got {tuple(z.shape)}")
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        was_training = generator.training
        generator.eval()
        images = generator(z, self._check_condition(condition, z.shape[0]))
        generator.train(was_training)
        return images

    def sample(self, n: int, condition: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (n, C, H, W): z ~ N(0, I) through the (averaged) generator."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        return from_unit(self.generate(self._noise(n, generator), condition))
