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
among stripes along the borders (docs/models-gan.md), so no recipe uses it.

Generator layout (`generator`). Can G draw the world at all? `benchmarks/generator_fit.py` takes the
critic away and fits each layout to the exact world's 768 images by regression, one learnt code per
image (GLO, Bojanowski et al. 2018). After 1,500 steps the "dcgan" layout reconstructs none of them
validly (median 3.5% of pixels wrong, as many as a blank picture gets wrong), while the "decoder"
layout (the VAE decoder's, with LeakyReLU, and a tanh in place of its nibble logits) reconstructs 31%.
Batch norm is what stops it (with ReLU or SiLU after it, none valid), and ReLU without it sticks at
the blank picture (docs/models-gan.md has the ablation). Trained as a GAN for 8 minutes, "decoder"
draws more compact objects, now and then an exact one (valid 0.02-0.03 against 0.00), but more blanks
(empty 0.38-0.41 against 0.02) and still blurred ones, with a spectrally normalised critic, a deeper
one or an R1 one; so no recipe uses it yet. The critic's gradients, not G's reach, now limit the GAN.

Colour hopping, and four cures tried against it. Sampled from the raw G rather than its average, a
run's objects at any one step come in one or two colours (red at one snapshot, green at another): G
draws every z in the colour D currently accepts and moves on when D catches up, and the average of those
weights blends the colours into the muddy ones the samples show (docs/models-gan.md). Against it:
  * `pack` m (PacGAN, Lin et al. 2018): D scores m images stacked on channels, so a pack of look-alikes
    is evidence of a collapse that D can see;
  * `diversity` lambda (mode seeking, Mao et al. 2019): G also minimises lambda / (|G(z1) - G(z2)|_1 /
    |z1 - z2|_1) over pairs of its batch, so two noises must give two different pictures;
  * `critic_lr` (TTUR, Heusel et al. 2017): D learns faster than G, so it catches a colour before G
    has moved all its samples to it;
  * `clusters` k (self-conditioning, Liu et al. 2020): every `recluster_every` steps, k-means on D's
    features of the last BANK real images (started from the last centroids, so a cluster keeps its
    meaning); a real image is scored under its nearest centroid's cluster by a projection, G is asked
    for clusters as often as real images fell in them, so each mode has its own code and G cannot
    drop one without D noticing. The cluster counts are saved with the weights; sampling draws from them.
None of the four stopped the hopping within the recipe's 2,400 steps (most made the samples blanker), so
no recipe uses them; they stay so that the runs in docs/models-gan.md can be repeated.

Layered generator (`generator="layered"`; as LR-GAN, Yang, Kannan, Batra & Parikh 2017). The decoder's
body draws, per pixel, a colour and a coverage alpha in (0, 1) over a learned background image:
    x = alpha tanh(rgb) + (1 - alpha) tanh(bg).
An edge is where alpha steps from 0 to 1, so a sharp object is one sigmoid away, where the decoder has to
draw it in every channel at once; the ground is one learned image from the start. Fitted by regression
(GLO, as benchmarks/generator_fit.py) it reconstructs 39% of the world's images validly in 1,500 steps,
the decoder 23% (docs/models-gan.md). As a GAN it draws clean edges, but in saturated colours, and
it still hops from colour to colour, so no recipe uses it yet.

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

from .protocol import Model, check_image_size, from_unit, to_unit
from .text import ConditionEncoder

MAX_SAMPLES = 1024  # images per sample call
BANK = 1024  # recent real images kept for reclustering (self-conditioning)


GENERATORS = ("dcgan", "decoder", "layered")


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def _conv_lrelu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2)]


class Generator(nn.Module):
    """[z, e(c)] -> linear -> (4w, H/8, W/8) -> three (upsample x2, 3x3 conv) stages -> tanh.

    "dcgan" (Radford et al.): batch norm and ReLU after every layer but the last, which is the 3x3
    convolution of the features upsampled to full size. "decoder": no normalisation, LeakyReLU(0.2),
    and the full-size stage is a 3x3 convolution to 2w channels and its nonlinearity, then a 1x1
    convolution to pixels (the layout of the VAE's decoder). "layered": the decoder's body, whose 1x1
    convolution gives a colour and a coverage alpha, over a learned background. With `depth` d, each
    stage has d more 3x3 convolutions, and so does the full resolution before the last one (see
    `generator_depth`)."""

    def __init__(
        self,
        channels: int,
        image_size: int,
        latent_dim: int,
        width: int,
        condition: str,
        condition_dim: int,
        depth: int = 0,
        style: str = "dcgan",
        clusters: int = 0,
    ):
        super().__init__()
        self.bottom = image_size // 8
        self.condition_encoder = ConditionEncoder(condition, condition_dim)
        self.cluster_embedding = nn.Embedding(clusters, condition_dim) if clusters else None
        inputs = latent_dim + (condition_dim if condition != "none" else 0) + (condition_dim if clusters else 0)
        flat = 4 * width * self.bottom**2
        self.background = None  # "layered": the learned ground, before its tanh
        if style == "layered":
            self.background = nn.Parameter(torch.zeros(1, channels, image_size, image_size))
        if style in ("decoder", "layered"):
            self.project = nn.Sequential(nn.Linear(inputs, flat), nn.LeakyReLU(0.2))
            layers, c_in = [], 4 * width
            for c_out in (2 * width, width, 2 * width):  # H/4, H/2, H
                layers += [nn.Upsample(scale_factor=2), *_conv_lrelu(c_in, c_out)]
                for _ in range(depth):
                    layers += _conv_lrelu(c_out, c_out)
                c_in = c_out
            layered = self.background is not None  # pixels, or colour and a coverage logit
            self.body = nn.Sequential(
                *layers, nn.Conv2d(2 * width, channels + layered, 1), *([] if layered else [nn.Tanh()])
            )
            return
        self.project = nn.Sequential(nn.Linear(inputs, flat, bias=False), nn.BatchNorm1d(flat), nn.ReLU())
        layers = []
        for c_in, c_out in ((4 * width, 2 * width), (2 * width, width)):  # H/4, then H/2
            layers += [nn.Upsample(scale_factor=2), *_conv_bn_relu(c_in, c_out)]
            for _ in range(depth):
                layers += _conv_bn_relu(c_out, c_out)
        layers.append(nn.Upsample(scale_factor=2))  # H
        for _ in range(depth):
            layers += _conv_bn_relu(width, width)
        self.body = nn.Sequential(*layers, nn.Conv2d(width, channels, 3, padding=1), nn.Tanh())  # in [-1, 1]

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None, cluster: torch.Tensor | None = None):
        if condition is not None:
            z = torch.cat([z, self.condition_encoder(condition)], dim=1)  # (B, L + condition_dim)
        if cluster is not None:
            z = torch.cat([z, self.cluster_embedding(cluster)], dim=1)  # (B, . + condition_dim)
        h = self.project(z).view(z.shape[0], -1, self.bottom, self.bottom)  # (B, 4w, H/8, W/8)
        if self.background is None:
            return self.body(h)  # (B, C, H, W)
        colour, coverage = self.body(h).split([self.background.shape[1], 1], dim=1)
        alpha = torch.sigmoid(coverage)  # (B, 1, H, W)
        return alpha * torch.tanh(colour) + (1 - alpha) * torch.tanh(self.background)


def minibatch_std(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """h (B, C, H, W) with one more channel: the standard deviation of each feature over a group of
    `group` images (the largest of group..1 that divides B), averaged over features and positions,
    the same for the group's images (Karras et al. 2018, ProGAN). A collapsed generator gives groups
    whose images are alike, so D can see the collapse, which it cannot in any one image."""
    b, _, height, width = h.shape
    g = next(k for k in range(min(group, b), 0, -1) if b % k == 0)
    std = h.view(g, b // g, *h.shape[1:]).var(0, unbiased=False).add(1e-8).sqrt()  # (B/g, C, H, W)
    std = std.mean((1, 2, 3)).repeat(g)  # (B,): group j's at j, j + B/g, ...
    return torch.cat([h, std.view(b, 1, 1, 1).expand(b, 1, height, width)], dim=1)


class Discriminator(nn.Module):
    """Spectrally normalised DCGAN critic with a projection head for the condition."""

    def __init__(
        self,
        channels: int,
        image_size: int,
        width: int,
        condition: str,
        condition_dim: int,
        normalise: bool = True,
        depth: int = 0,
        batch_std: bool = False,
        clusters: int = 0,
    ):
        super().__init__()
        sn = spectral_norm if normalise else (lambda layer: layer)
        features = 4 * width * (image_size // 8) ** 2
        layers, c_in = [], channels
        for c_out in (width, 2 * width, 4 * width):  # H/2, H/4, H/8
            for _ in range(depth):  # SN-GAN's CIFAR critic: 3x3 convs at each scale first
                layers += [sn(nn.Conv2d(c_in, c_out, 3, padding=1)), nn.LeakyReLU(0.2)]
                c_in = c_out
            if c_out == 4 * width and batch_std:  # the last stage also reads the group's spread
                c_in += 1
            layers += [sn(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.phi = nn.Sequential(*layers, nn.Flatten())
        self.last, self.batch_std = len(layers) - 2, batch_std  # phi[last] is the last stride-2 conv
        self.psi = sn(nn.Linear(features, 1))
        self.condition_encoder = ConditionEncoder(condition, condition_dim)
        self.embed = sn(nn.Linear(condition_dim, features)) if condition != "none" else None
        self.cluster_embed = sn(nn.Linear(clusters, features, bias=False)) if clusters else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x) (B, F): the flattened features of the last stage."""
        h = x
        for k, layer in enumerate(self.phi):
            if k == self.last and self.batch_std:  # (B, ., H/4, W/4): one more channel
                h = minibatch_std(h)
            h = layer(h)
        return h

    def head(self, h: torch.Tensor, condition: torch.Tensor | None, cluster: torch.Tensor | None = None):
        """The score (B,) of features h = phi(x): psi(h), plus <e(c), h> for a condition and for a cluster."""
        score = self.psi(h).squeeze(1)  # (B,): psi(phi(x))
        if condition is not None:
            score = score + (self.embed(self.condition_encoder(condition)) * h).sum(1)  # + <e(c), phi(x)>
        if cluster is not None:
            one_hot = F.one_hot(cluster, self.cluster_embed.in_features).to(h.dtype)
            score = score + (self.cluster_embed(one_hot) * h).sum(1)
        return score

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        return self.head(self.features(x), condition)


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image (B, C, H, W) shifted by its own integer offset in [-ratio H, ratio H] per axis, the
    uncovered border 0; a gather, so gradients flow back to the shifted pixels."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy).clamp(-1, h)  # (B, H, 1); -1 or h = border
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx).clamp(-1, w)  # (B, 1, W)
    padded = F.pad(x, (1, 1, 1, 1))  # the border: index 0 and h + 1
    flat = (rows + 1) * (w + 2) + (cols + 1)  # (B, H, W) into the padded map
    return padded.flatten(2).gather(2, flat.flatten(1)[:, None].expand(-1, x.shape[1], -1)).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Each image (B, C, H, W) with a (ratio H) x (ratio W) square set to 0, its centre anywhere in
    the image (so near a border only part of the square falls inside)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (b, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (b, 1, 1), device=x.device) - cw // 2
    ys, xs = torch.arange(h, device=x.device)[None, :, None], torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # (B, H, W)
    return x * ~inside[:, None]


AUGMENTATIONS = {"translation": translate, "cutout": cutout}


def nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """(N,) index of the centroid (k, F) nearest each point (N, F), in Euclidean distance."""
    return torch.cdist(points, centroids).argmin(1)


class GANOptimizers(NamedTuple):
    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer


@dataclass
class GANConfig:
    image_size: int = 32  # square images of this side; divisible by 8 (three stride-2 stages)
    channels: int = 3  # colour channels
    condition: str = "none"  # "none", "class" (shape, colour) or "caption"
    latent_dim: int = 64  # size of the noise z
    width: int = 32  # G's last and D's first stage channels; doubled at each of the next two
    condition_dim: int = 64  # size of the condition vectors (conditional models only)
    n_critic: int = 1  # discriminator steps per generator step
    beta1: float = 0.5  # Adam's beta1 for both players (0.0 or 0.5 in the SN-GAN recipes); beta2 = 0.9
    ema_decay: float = 0.995  # d of the averaged generator used for sampling; 0 samples the trained G
    augment: str = ""  # DiffAugment policy for what D sees: "", or a comma list of AUGMENTATIONS
    r1: float = 0.0  # gamma of the R1 penalty on D's gradient at real images (0: none)
    spectral_norm: bool = True  # spectrally normalise D's layers (off: Mescheder et al.'s R1-only critic)
    critic_depth: int = 0  # extra 3x3 stride-1 convolutions before each of D's stride-2 ones
    batch_std: bool = False  # D's last stage also sees the spread of a group of 4 images (ProGAN)
    lipschitz: float = 1.0  # K: D's scores are multiplied by K, so spectral norm bounds its slope by K
    generator_depth: int = 0  # extra 3x3 conv + batch norm + ReLU layers at each of G's scales and at full size
    generator: str = "dcgan"  # G's layout: "dcgan" (batch norm, ReLU), "decoder" (no norm, LeakyReLU), "layered"
    pack: int = 1  # m: D scores packs of m images stacked on channels (PacGAN); 1 = one at a time
    diversity: float = 0.0  # lambda of the mode-seeking term lambda / (|G(z1) - G(z2)| / |z1 - z2|) (MSGAN)
    critic_lr: float = 1.0  # D's learning rate as a multiple of G's (TTUR, Heusel et al. 2017)
    clusters: int = 0  # k: self-conditioning on k clusters of D's features of real images; 0 = off
    recluster_every: int = 250  # steps between k-means runs on D's features of the last BANK real images


class GAN(Model):
    Config = GANConfig
    family = "gan"
    likelihood = "none"

    def __init__(self, config: GANConfig):
        super().__init__(config)
        check_image_size(config.image_size, 8, "three stride-2 stages")
        if min(config.latent_dim, config.width, config.condition_dim, config.n_critic) < 1:
            raise ValueError("latent_dim, width, condition_dim and n_critic must be positive")
        if not 0 < config.lipschitz <= 1000:
            raise ValueError(f"lipschitz must be in (0, 1000], got {config.lipschitz}")
        for name in ("critic_depth", "generator_depth"):
            if not 0 <= getattr(config, name) <= 4:
                raise ValueError(f"{name} must be in 0..4, got {getattr(config, name)}")
        if not 0.0 <= config.beta1 < 1.0 or not 0.0 <= config.ema_decay < 1.0:
            raise ValueError("beta1 and ema_decay must be in [0, 1)")
        if not 0.0 <= config.diversity <= 100.0 or not 0.0 < config.critic_lr <= 100.0:
            raise ValueError(
                f"diversity must be in [0, 100] and critic_lr in (0, 100], got {config.diversity} "
                f"and {config.critic_lr}"
            )
        if not 1 <= config.pack <= 8:
            raise ValueError(f"pack must be in 1..8, got {config.pack}")
        if config.pack > 1 and config.condition != "none":
            raise ValueError("pack > 1 is for unconditional GANs (a pack would mix conditions)")
        if not 0 <= config.clusters <= 256 or config.recluster_every < 1:
            raise ValueError(
                f"clusters must be in 0..256 and recluster_every >= 1, got {config.clusters} "
                f"and {config.recluster_every}"
            )
        if config.clusters and (config.condition != "none" or config.pack > 1):
            raise ValueError("clusters (self-conditioning) is for unconditional GANs with pack=1")
        if not 0.0 <= config.r1 <= 1000.0:
            raise ValueError(f"r1 must be in [0, 1000], got {config.r1}")
        if config.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, got {config.generator!r}")
        self.augmentations = [a for a in config.augment.split(",") if a]
        unknown = [a for a in self.augmentations if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(
                f"augment must be a comma-separated list of {', '.join(AUGMENTATIONS)}, got {config.augment!r}"
            )
        c, s = config.channels, config.image_size
        self.generator = Generator(
            c,
            s,
            config.latent_dim,
            config.width,
            config.condition,
            config.condition_dim,
            config.generator_depth,
            config.generator,
            config.clusters,
        )
        self.discriminator = Discriminator(
            c * config.pack,
            s,
            config.width,
            config.condition,
            config.condition_dim,
            config.spectral_norm,
            config.critic_depth,
            config.batch_std,
            config.clusters,
        )
        k, features = config.clusters, self.discriminator.psi.in_features
        if k:  # centroids in D's feature space and how many real images each drew (the prior of the clusters
            # G is asked for), saved with the weights; the bank of recent real images is training state only
            self.register_buffer("centroids", torch.zeros(k, features))
            self.register_buffer("cluster_counts", torch.zeros(k))
            self.register_buffer("bank", torch.empty(0, c, s, s, dtype=torch.uint8), persistent=False)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False) if config.ema_decay else None

    def configure_optimizer(self, lr: float) -> GANOptimizers:
        betas, critic_lr = (self.config.beta1, 0.9), lr * self.config.critic_lr
        return GANOptimizers(
            torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=critic_lr, betas=betas),
        )

    def _noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = self.generator.project[0].weight.device
        return torch.randn(n, self.config.latent_dim, generator=generator).to(device)  # (n, L)

    # --- the two losses

    def _critic(
        self, x: torch.Tensor, condition: torch.Tensor | None, cluster: torch.Tensor | None = None, assign: bool = False
    ) -> torch.Tensor:
        """D's scores (B,) of images in [-1, 1], after the DiffAugment transformations (if any); scored under
        `cluster`, or with `assign` (real images, self-conditioning) under the cluster nearest their features."""
        for name in self.augmentations:
            x = AUGMENTATIONS[name](x)
        m = self.config.pack
        if m > 1:  # (B/m, m C, H, W): packs of m images
            if x.shape[0] % m:
                raise ValueError(f"the batch ({x.shape[0]}) must be a multiple of pack={m}")
            x = x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])
        h = self.discriminator.features(x)  # (B, F)
        if assign and self.config.clusters:
            cluster = nearest(h.detach(), self.centroids)  # (B,)
        return self.config.lipschitz * self.discriminator.head(h, condition, cluster)

    # --- self-conditioning (Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs")

    def _draw_clusters(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """n cluster indices drawn as often as real images fell in each (uniform before any clustering);
        None without self-conditioning, so the other models' random streams are untouched."""
        if not self.config.clusters:
            return None
        weights = self.cluster_counts if self.cluster_counts.sum() > 0 else torch.ones_like(self.cluster_counts)
        return torch.multinomial(weights.cpu(), n, replacement=True, generator=generator).to(weights.device)

    @torch.no_grad()
    def _recluster(self, iterations: int = 10) -> None:
        """k-means (Lloyd) on D's current features of the banked real images, started from the last
        centroids so that a cluster keeps its meaning (and G's code for it) from one run to the next;
        an empty cluster restarts at a random image's features."""
        h = self.discriminator.features(to_unit(self.bank))  # (N, F)
        k = self.config.clusters
        fresh = self.cluster_counts.sum() == 0
        centroids = h[torch.randint(h.shape[0], (k,), device=h.device)] if fresh else self.centroids.clone()
        for _ in range(iterations):
            closest = nearest(h, centroids)  # (N,)
            counts = torch.bincount(closest, minlength=k).to(h.dtype)  # (k,)
            sums = torch.zeros_like(centroids).index_add_(0, closest, h)
            restart = h[torch.randint(h.shape[0], (k,), device=h.device)]
            centroids = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], restart)
        self.centroids.copy_(centroids)
        self.cluster_counts.copy_(torch.bincount(nearest(h, centroids), minlength=k))

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """D's hinge loss on the real batch x and as many fresh fakes (G is held fixed):
        E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], plus (r1 / 2) E||grad_x D(x)||^2 when r1 > 0."""
        condition = self._check_condition(condition, x.shape[0])
        cluster = self._draw_clusters(x.shape[0])  # (B,) or None
        with torch.no_grad():
            fake = self.generator(self._noise(x.shape[0]), condition, cluster)  # (B, C, H, W)
        r1, training = self.config.r1, torch.is_grad_enabled()
        with torch.enable_grad() if r1 > 0 else contextlib.nullcontext():  # R1 needs grad_x D even when scoring
            real = to_unit(x).requires_grad_(r1 > 0)
            real_scores = self._critic(real, condition, assign=True)  # (B,)
            penalty = 0.0
            if r1 > 0:  # the graph is kept to train through it
                (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=training)  # (B, C, H, W)
                penalty = 0.5 * r1 * grad.pow(2).flatten(1).sum(1).mean()
        fake_scores = self._critic(fake, condition, cluster)  # (B,)
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean() + penalty

    def generator_loss(self, n: int, condition: torch.Tensor | None = None) -> torch.Tensor:
        """G's hinge loss on n fresh fakes: -E[D(G(z))] (D's weights get gradients too; G's optimiser ignores them)."""
        condition = self._check_condition(condition, n)
        z, cluster = self._noise(n), self._draw_clusters(n)
        fake = self.generator(z, condition, cluster)
        loss = -self._critic(fake, condition, cluster).mean()
        if self.config.diversity > 0 and n >= 2:  # pairs (i, i + n/2)
            h = n // 2
            ratio = (fake[:h] - fake[h : 2 * h]).abs().mean((1, 2, 3)) / (z[:h] - z[h : 2 * h]).abs().mean(1)
            loss = loss + self.config.diversity / (ratio.mean() + 1e-5)
        return loss

    def train_step(self, x: torch.Tensor, condition: torch.Tensor | None, optimizer: GANOptimizers) -> dict:
        """n_critic D steps on the batch, one G step, then the average update; "loss" is D's loss. With
        self-conditioning the batch joins the bank first, which is reclustered every `recluster_every` steps."""
        if self.config.clusters:
            self.bank = torch.cat([self.bank, x])[-BANK:]
            if self.updates % self.config.recluster_every == 0:
                self._recluster()
        self.updates += 1
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
    def generate(
        self, z: torch.Tensor, condition: torch.Tensor | None = None, cluster: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Float images (B, C, H, W) in [-1, 1] from noise z (B, latent_dim) (and, self-conditioned, cluster
        indices (B,)), by the sampling generator (the average if there is one) in eval mode, so batch norm
        uses its running statistics."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape (n, {self.config.latent_dim}), got {tuple(z.shape)}")
        k = self.config.clusters
        if k and (cluster is None or cluster.shape != z.shape[:1] or int(cluster.min()) < 0 or int(cluster.max()) >= k):
            raise ValueError(f"this GAN is self-conditioned: give one cluster index in 0..{k - 1} per z")
        if not k and cluster is not None:
            raise ValueError("cluster is only for a self-conditioned GAN (clusters > 0)")
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        was_training = generator.training
        generator.eval()
        images = generator(z, self._check_condition(condition, z.shape[0]), cluster)
        generator.train(was_training)
        return images

    def sample(
        self, n: int, condition: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """uint8 (n, C, H, W): z ~ N(0, I) (and a cluster drawn as often as real images fell in it)
        through the (averaged) generator."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
        z = self._noise(n, generator)
        return from_unit(self.generate(z, condition, self._draw_clusters(n, generator)))
