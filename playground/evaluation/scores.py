"""Scores that only a known world allows: likelihoods against the true entropy, samples checked exactly.

The `exact` world is uniform over N = 768 scenes, so its entropy is H = log2 N bits per image, and
for any model q the average code length over the world's scenes is the cross-entropy
    CE = -1/N sum_x log2 q(x) = H + KL(p || q)   bits per image.
The gap CE - H is therefore the model's KL divergence from the truth when q is an exact discrete
likelihood (PixelCNN, the VAE's categorical pixels inside a bound, ...); when the model only gives a
lower bound on log q (VAE, flow, diffusion), the gap computed from it is an upper bound on the KL.
The RBM models binarized images, so its cross-entropy and entropy are taken in that space (the
binarized world has fewer distinct images: several colours share their bits).

Samples are parsed by the nearest of the world's N images (Euclidean distance): its scene names the
sample's shape, colour, size and place. The sample is *valid* when it is that image up to a couple of
edge pixels: at most 0.2% of its pixels (2 of 1024) may be off by more than 24 levels in a channel.
The smallest object covers about 15 pixels, so an empty image is not valid. RMSE alone would not do:
the ground is 97% of the image, so a blurry blob or an empty picture sits close to a sharp object.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from playground.models.data import scene_labels
from worlds import ExactWorld, get_world
from worlds.scene import nearest_color_name

WRONG_LEVELS = 24  # a pixel is wrong when a channel is further than this from the parsed image's
VALID_WRONG = 0.002  # a sample is valid (it IS a world image) when at most this fraction of pixels is wrong


@lru_cache(maxsize=8)  # exact, exact-holdout and the three sides of exact-split at once, without re-rendering
def exact_world(name: str = "exact", split: str | None = None) -> ExactWorld:
    world = get_world(name)
    return ExactWorld(world if split is None else world.replace(split=split))


def world_tensor(world: ExactWorld) -> torch.Tensor:
    """uint8 (N, 3, H, W): every scene of the world, rendered, in the world's order."""
    return torch.from_numpy(world.images).permute(0, 3, 1, 2).contiguous()


def log2_likelihoods(
    model, images: torch.Tensor, condition: torch.Tensor | None = None, batch: int = 64
) -> torch.Tensor:
    """(N,) log2 q(x) (or the family's bound / estimate) of each image, in batches, without gradients."""
    out = []
    with torch.no_grad():
        for k in range(0, len(images), batch):
            c = None if condition is None else condition[k : k + batch]
            out.append(model.log_prob(images[k : k + batch], c).double() / math.log(2.0))
    return torch.cat(out)


def binarized_entropy_bits(world: ExactWorld) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Entropy (bits) of the world's binarized images, its distinct binary images (M, D) and their
    probabilities (M,): what an RBM on bits is measured against."""
    bits = torch.from_numpy(world.images > 127).permute(0, 3, 1, 2).flatten(1)
    unique, counts = torch.unique(bits, dim=0, return_counts=True)
    p = counts.double() / counts.sum()
    return float(-(p * p.log2()).sum()), unique, p


def samples_above_world(model, samples: torch.Tensor, every: int = 4) -> float:
    """The fraction of `samples` (uint8, B, C, H, W) that `model` rates above the median world image:
    log_prob, or for an unnormalized model -E (log Z cancels in the comparison, so it needs none).
    A model that has learnt the world puts its world images at least as high as its own samples, so
    this is at most about 1/2; near 1, its sampler has found basins where there is no scene, and
    training has not raised them (the EBM, docs/models-ebm.md)."""
    images = world_tensor(exact_world())[::every]
    median = log2_likelihoods(model, images).median()
    return float((log2_likelihoods(model, samples) > median).double().mean())


class WithOptions:
    """`model` whose log_prob takes fixed keyword options (fewer importance samples or strata, say):
    what `likelihood_scores` scores when the family's full estimate would take too long. It samples as `model`."""

    def __init__(self, model, options: dict):
        self.model, self.options = model, options
        self.family, self.likelihood, self.config = model.family, model.likelihood, model.config

    def log_prob(self, x, condition=None):
        return self.model.log_prob(x, condition, **self.options)

    def sample(self, *args, **kwargs):
        return self.model.sample(*args, **kwargs)


def likelihood_bound(model) -> str:
    """What a model's bits/image are as a cost: "exact" (PixelCNN), "upper" (an upper bound on the cost: the
    VAE's ELBO and IWAE, the flow's dequantized density, the DDPM bound), "lower" (a lower bound on the
    cost: the RBM when its log Z is the exact floor from the scored images, which lies below the true
    log Z), "estimate" (the RBM with an estimated log Z above that floor, by importance sampling or AIS,
    with its relative error beside it) or
    "none" (no bits: a GAN, an unnormalized EBM). Upper and lower bounds never share a column."""
    kind = model.likelihood
    if kind == "exact":
        return "exact"
    if kind == "bound":
        return "upper"
    if kind == "estimate":
        inner = getattr(model, "model", model)  # WithOptions wraps the model
        floor, log_z = float(getattr(inner, "log_z_floor", -math.inf)), float(getattr(inner, "log_z", math.nan))
        return "lower" if floor > log_z or (math.isnan(log_z) and floor > -math.inf) else "estimate"
    return "none"


def likelihood_scores(model, world_name: str = "exact", every: int = 1, split: str | None = None) -> dict:
    """Cross-entropy of `model` on the exact world's scenes (every `every`-th one: the world is uniform,
    so any regular subset is an unbiased estimate), in bits/dim and bits/image, and its gap to H; with
    `split`, on that side of a split world only ("train" or "test")."""
    world = exact_world(world_name, split)
    kind = model.likelihood
    if kind == "none":
        return {
            "likelihood_kind": kind,
            "likelihood_bound": "none",
            "bits_per_dim": None,
            "bits_per_image": None,
            "entropy_bits": world.entropy_bits,
            "gap_bits_per_image": None,
        }
    if model.family == "rbm":  # the RBM's world is the binarized one
        entropy, unique, p = binarized_entropy_bits(world)
        images = (unique.view(-1, 3, *world.images.shape[1:3]) * 255).to(torch.uint8)
        log2_q = log2_likelihoods(model, images)
        cross_entropy = float(-(p * log2_q).sum())
    else:
        entropy = world.entropy_bits
        images = world_tensor(world)[::every]
        condition = (
            scene_labels(world.scenes)[::every] if getattr(model.config, "condition", "none") == "class" else None
        )
        cross_entropy = float(-log2_likelihoods(model, images, condition).mean())
    dims = int(np.prod(world.images.shape[1:]))
    if kind == "unnormalized":  # -E(x) is log q(x) + log Z for an unknown log Z
        return {
            "likelihood_kind": kind,
            "likelihood_bound": "none",
            "bits_per_dim": None,
            "bits_per_image": None,
            "unnormalized_bits_per_image": cross_entropy,
            "entropy_bits": entropy,
            "gap_bits_per_image": None,
        }
    return {
        "likelihood_kind": kind,
        "likelihood_bound": likelihood_bound(model),  # after log_prob: the RBM's log Z is estimated by then
        "bits_per_dim": cross_entropy / dims,
        "bits_per_image": cross_entropy,
        "entropy_bits": entropy,
        "gap_bits_per_image": cross_entropy - entropy,
    }


@dataclass(frozen=True)
class Parse:
    index: torch.Tensor  # (B,) index of the nearest world scene
    rmse: torch.Tensor  # (B,) its RMS distance in 0..255
    wrong: torch.Tensor  # (B,) fraction of pixels off by more than WRONG_LEVELS in some channel
    empty: torch.Tensor  # (B,) bool: no pixel is off the ground colour by more than WRONG_LEVELS (no object)
    shape: list[str]
    color: list[str]

    @property
    def valid(self) -> torch.Tensor:
        return self.wrong <= VALID_WRONG


def wrong_pixels(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B,) the fraction of each image's pixels (B, C, H, W) that are more than WRONG_LEVELS off its
    target in some channel; an image is valid when it is at most VALID_WRONG."""
    error = (images.double() - targets.double()).abs().amax(1)  # (B, H, W) worst channel
    return (error > WRONG_LEVELS).flatten(1).float().mean(1)


def parse_samples(samples: torch.Tensor, world: ExactWorld | None = None, binarized: bool = False) -> Parse:
    """The nearest world scene of each uint8 sample (B, 3, H, W) and the distance to it; with
    `binarized`, against the world's images binarized as the RBM sees them (0 or 255)."""
    world = world or exact_world()
    # float64: in float32 the expansion below loses ~3 units of d2 to cancellation (sums of ~5e7), so an
    # exact world image would sit 0.05 levels RMS from itself, by an amount that depends on the thread count
    truth = world_tensor(world).flatten(1).double()  # (N, D)
    if binarized:
        truth = (truth > 127).double() * 255
    x = samples.flatten(1).double()  # (B, D)
    if x.shape[1] != truth.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} values per image, the world's images {truth.shape[1]}")
    d2 = (x**2).sum(1, keepdim=True) - 2 * x @ truth.T + (truth**2).sum(1)  # (B, N) squared distances
    best, index = d2.min(1)
    rmse = best.clamp(min=0).div(x.shape[1]).sqrt().float()
    wrong = wrong_pixels(samples, truth[index].view(samples.shape))
    ground = truth.view(truth.shape[0], samples.shape[1], -1).mode(2).values.mode(0).values  # (C,) the commonest colour
    empty = ((samples.float() - ground[:, None, None]).abs() <= WRONG_LEVELS).flatten(1).all(1)
    objects = [world.scenes[int(i)].objects[0] for i in index]
    return Parse(index, rmse, wrong, empty, [o.shape for o in objects], [nearest_color_name(o.color) for o in objects])


def coverage_ceiling(probabilities, draws: int) -> float:
    """The fraction of a world's M outcomes that a perfect sampler hits, in expectation, with `draws`
    draws: (1/M) sum_m 1 - (1 - p_m)^N. Uniform over M = 768 scenes: 1 - (767/768)^N, 0.728 at N = 1,000
    and 0.487 at N = 512; the ceiling against which a model's coverage is read."""
    p = np.asarray(probabilities, np.float64)
    return float(np.mean(1.0 - (1.0 - p) ** draws))


def draw(model, n: int, seed: int, condition: torch.Tensor | None = None, batch: int = 128, **options) -> torch.Tensor:
    """n samples (uint8, n, C, H, W) from one generator seeded with `seed`, drawn `batch` at a time."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat(
            [
                model.sample(
                    min(batch, n - k),
                    None if condition is None else condition[k : k + batch],
                    generator=generator,
                    **options,
                )
                for k in range(0, n, batch)
            ]
        )


def over_seeds(per_seed: list[dict]) -> dict:
    """Each key of the per-seed rows as its mean over the seeds and, when there are several, `KEY_spread`: their
    sample standard deviation (one seed has no spread to report)."""
    out = {}
    for key in per_seed[0]:
        values = np.array([r[key] for r in per_seed], np.float64)
        out[key] = float(values.mean())
        if len(values) > 1:
            out[f"{key}_spread"] = float(values.std(ddof=1))
    return out


def sample_scores(model, n: int = 512, seeds=(0, 1, 2), binarized: bool = False, **options) -> dict:
    """Samples checked against the exact world: n draws for each seed, parsed (`parse_samples`), reported as
    the mean over seeds with the sample standard deviation across them (`*_spread`): validity, empty,
    median wrong pixels, distinct scenes hit (its mean) and coverage (hit / M) beside the ceiling a perfect
    sampler reaches with the same n (M = 768 scenes, or for `binarized` the world's distinct bit images)."""
    world = exact_world()
    if binarized:
        _, _, p = binarized_entropy_bits(world)
    else:
        p = np.full(len(world.scenes), 1.0 / len(world.scenes))
    per_seed = []
    for seed in seeds:
        parse = parse_samples(draw(model, n, seed, **options), world, binarized=binarized)
        hit = int(parse.index[parse.valid].unique().numel())
        per_seed.append(
            {
                "validity": float(parse.valid.float().mean()),
                "empty": float(parse.empty.float().mean()),
                "median_wrong_pixels": float(parse.wrong.median()),
                "scenes_hit": hit,
                "coverage": hit / len(p),
            }
        )
    out = {"samples": n, "seeds": list(seeds), "coverage_ceiling": coverage_ceiling(p, n), **over_seeds(per_seed)}
    out["validity_per_seed"] = [r["validity"] for r in per_seed]
    return out


def heldout_scores(
    model,
    world_name: str = "exact-split",
    every: int = 1,
    n: int = 512,
    seeds=(0, 1, 2),
    heldout_every: int | None = None,
    **options,
) -> dict:
    """A model trained on the `train` side of a split world, scored on both sides: its bits/image on the
    scenes it saw and on the held-out ones (the difference is its generalisation gap: near 0 for a model
    that learnt the world's factors, large for one that memorised its scenes), and its draws checked
    against the whole world: valid (any of the world's scenes) and novel (valid and held out: a scene it
    never saw). A model of the training scenes alone draws no novel scene; one of the whole world, about
    the held-out share of the scenes (`heldout_share`). Bits are averaged over every `every`-th training scene
    and every `heldout_every`-th held-out one (default `every`; both sides are uniform, so either is unbiased)."""
    binarized = model.family == "rbm"
    train = likelihood_scores(model, world_name, every, split="train")
    test = likelihood_scores(model, world_name, heldout_every or every, split="test")
    whole, seen = exact_world(world_name, "all"), exact_world(world_name, "train")
    # an image is novel when no training scene renders to it (for the RBM: to its bits)
    pictures = lambda w: (w.images > 127) if binarized else w.images
    seen_images = {im.tobytes() for im in pictures(seen)}
    novel_scene = torch.tensor([im.tobytes() not in seen_images for im in pictures(whole)])
    per_seed = []
    for seed in seeds:
        parse = parse_samples(draw(model, n, seed, **options), whole, binarized=binarized)
        novel = parse.valid & novel_scene[parse.index]
        per_seed.append(
            {
                "validity": float(parse.valid.float().mean()),
                "novel": float(novel.float().mean()),
                "heldout_scenes_hit": int(parse.index[novel].unique().numel()),
            }
        )
    return {
        "likelihood_bound": train["likelihood_bound"],
        "train_bits_per_image": train["bits_per_image"],
        "heldout_bits_per_image": test["bits_per_image"],
        "generalisation_gap_bits": None
        if train["bits_per_image"] is None
        else test["bits_per_image"] - train["bits_per_image"],
        "train_entropy_bits": train["entropy_bits"],
        "train_scenes": seen.num_scenes,
        "heldout_scenes": whole.num_scenes - seen.num_scenes,
        "heldout_share": float(novel_scene.double().mean()),
        "samples": n,
        "seeds": list(seeds),
        **over_seeds(per_seed),
    }


def sample_ms_per_image(model, n: int = 64, condition: torch.Tensor | None = None, **kwargs) -> float:
    """Wall milliseconds per image of one `sample(n)` call (after a 1-image warm-up)."""
    model.sample(1, None if condition is None else condition[:1], generator=torch.Generator().manual_seed(0), **kwargs)
    start = time.perf_counter()
    model.sample(n, condition, generator=torch.Generator().manual_seed(1), **kwargs)
    return 1000.0 * (time.perf_counter() - start) / n


HELD_OUT = ("cylinder", "red")  # the combination exact-holdout never shows


def conditional_faithfulness(model, n: int = 64, seeds=(0,)) -> dict:
    """Ask a conditional model (class or caption) for every (shape, colour) the world draws (not the
    palette's extra colours, which no training image shows) and for the held-out red cylinder, about n
    draws each (n // 23 per seen class), for each seed: the fraction of draws whose nearest world scene
    has the asked shape and colour (`*_match`), the asked colour alone (`*_colour_match`), and that are
    valid world images (`*_valid`); the mean over the seeds, with their standard deviation (`*_spread`)
    when there are several."""
    return {"samples": n, "seeds": list(seeds), **over_seeds([_faithfulness(model, n, seed) for seed in seeds])}


def _faithfulness(model, n: int, seed: int) -> dict:
    from playground.models.data import class_condition
    from playground.models.text import encode_captions
    from worlds.scene import COLOR_NAMES, SHAPES

    world = {(o.shape, nearest_color_name(o.color)) for scene in exact_world().scenes for o in scene.objects}
    seen = [(s, c) for s in SHAPES for c in COLOR_NAMES if (s, c) in world and (s, c) != HELD_OUT]  # 23 classes
    out = {}
    for label, classes in (("seen", seen), ("held_out", [HELD_OUT])):
        per_class = max(1, n // len(classes))
        asked = [classes[i // per_class] for i in range(per_class * len(classes))]
        if model.config.condition == "class":
            condition = torch.cat([class_condition(s, c) for s, c in asked])
        else:
            condition = encode_captions([f"a {('large', 'small')[i % 2]} {c} {s}" for i, (s, c) in enumerate(asked)])
        options = {"steps": 100, "guidance": 2.0} if model.family == "diffusion" else {}
        parse = parse_samples(draw(model, len(condition), seed, condition, **options))
        match = [(s, c) == (ps, pc) for (s, c), ps, pc in zip(asked, parse.shape, parse.color)]
        colour = [c == pc for (_, c), pc in zip(asked, parse.color)]
        out[f"{label}_match"] = sum(match) / len(match)
        out[f"{label}_colour_match"] = sum(colour) / len(colour)
        out[f"{label}_valid"] = float(parse.valid.float().mean())
    return out
