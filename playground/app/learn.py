"""The Learn tab: the lecture's ideas in five short lessons, each with a live element from another tab.

The texts are plain Markdown; the live elements are ordinary library calls (the app wires a button
to each), so every lesson shows the idea happening on this world rather than a picture of it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

LESSONS = {
    "generation vs inference": """\
### 1 · Generation is graphics, inference is vision
A scene is a short description: *a small red cube at (1, −0.5), a large blue cylinder behind it*.
**Generation** turns the description into pixels: the renderer, or a generative model that learned
p(x). **Inference** goes back from pixels to the description: p(scene | x), "vision as inverse
graphics". Press the button: a random scene is rendered, then the shipped encoder reads the picture
back into a scene, which is rendered again. When the two pictures agree, the description explains the
picture. (The **Inference** tab refines the answer by analysis by synthesis.)""",
    "discriminative vs generative": """\
### 2 · Discriminative vs generative
A **discriminative** model learns p(y | x) only: which colour a point has, given where it is. A
**generative** model learns p(x, y) = p(y) p(x | y), so it also knows p(x): how plausible the point
is at all. Far from the data the first stays confidently certain; the second says *I have not seen
this*. Press the button for the two decision maps on three blobs of coloured objects (the
**Uncertainty** tab has more layouts, missing data and adversarial noise).""",
    "the taxonomy": """\
### 3 · The taxonomy of deep generative models
Every family models p(x) differently. **Autoregressive** (PixelCNN): the chain rule, one subpixel
at a time. **Flows**: an invertible map from noise, so the change of variables gives p(x) exactly.
**Latent-variable models**: x = decoder(z), with a prescribed likelihood and an inference network (the
**VAE**) or an implicit one learned by a critic (the **GAN**). **Energy-based**: p(x) ∝ exp(−E(x)), an
unnormalized density sampled by Gibbs (RBM) or Langevin dynamics (EBM). **Diffusion**: learn to undo
noise added step by step. Press the button for a few samples of each fast family (the **Generate** tab has
all seven, with their sampling steps streamed).""",
    "the table": """\
### 4 · The lecture's table, measured
The lecture compares the families on five properties: training stability, likelihood, sampling
speed, compression, representation. This world lets us *measure* each, and add what no natural-image
benchmark can: whether a sample **is** a world image, and how much of the world the samples cover.
Press the button for the shipped evaluation beside the lecture's words (the **Compare** tab has the
plots, and runs a small evaluation live).""",
    "two representations": """\
### 5 · Same family, two representations
An autoregressive model can write the image, subpixel by subpixel (PixelCNN: 3,072 choices for a 32 px
picture), or write the *scene*, object by object (about eight choices an object), and let the renderer
draw it: the trick of latent diffusion, which models a small code and decodes it with a fixed decoder.
On `exact` the renderer is one-to-one, so both are models of the same images, and their bits per image
stand in one table against the world's entropy, log2 768 = 9.585 bits. Same family, same chain rule;
the representation decides how much there is to learn. Press the button for the measured table
(`benchmarks/scene_models.py`) and eight draws of each (the **Generate** tab's scene level has every family).""",
}

TAXONOMY_SAMPLES = ("gan", "vae", "flow")  # families that sample in about a millisecond an image


def read_back(world: str = "shapes2d", seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Lesson 1: a random scene's picture, the encoder's one-pass reading of it re-rendered, and a caption."""
    from playground.inverse.encoder import read_scene
    from worlds import caption, render, sample_scene
    from worlds.images import display_factor, upscale

    from .views import encoder_for

    encoder = encoder_for(world)
    scene = sample_scene(world, int(seed), 0)
    picture = render([scene])[0]
    reading = read_scene(encoder, picture)
    factor = display_factor(picture.shape[0])
    found = caption(reading.scene) if reading.scene.objects else "nothing"
    return (
        upscale(picture, factor),
        upscale(reading.rendered, factor),
        f"**Drawn:** {caption(scene)}  \n**Read back:** {found}  \n"
        f"re-render RMSE {reading.error['rmse']:.1f} levels of 255",
    )


def taxonomy_samples(seed: int = 0, n: int = 8) -> list[tuple[np.ndarray, str]]:
    """Lesson 3: n samples (even, at most 8) of each fast family's shipped model, as (grid, label) pairs:
    each grid two rows of n / 2, the label the family's name, kind and sampling time (the gallery's caption)."""
    from .views import FAMILY_NAMES, sample_stream

    if n % 2 or not 2 <= n <= 8:
        raise ValueError(f"n must be even, 2 to 8 (one row of samples, split in two), got {n}")
    out = []
    for family in TAXONOMY_SAMPLES:
        *_, (grid, label) = sample_stream(family, n, seed)
        out.append((two_rows(grid), f"{FAMILY_NAMES[family]} · {label}"))
    return out


def two_rows(grid: np.ndarray, pad: int = 2) -> np.ndarray:
    """A one-row `image_grid` of an even number of tiles, `pad` px apart, as two rows of half as many:
    about 2:1 instead of 8:1, so a gallery's square thumbnail shows each sample twice as large."""
    half = (grid.shape[1] - pad) // 2  # 2k tiles of width w: (2k w + (2k - 1) pad - pad) / 2 = k w + (k - 1) pad
    gap = np.full((pad, half, *grid.shape[2:]), 255, grid.dtype)
    return np.concatenate([grid[:, :half], gap, grid[:, half + pad :]])


@lru_cache(maxsize=1)
def decision_study():
    """Lesson 2: three blobs, logistic regression against per-class Gaussian mixtures (fitted in ~1 s)."""
    from playground.uncertainty.study import run_study

    return run_study("blobs", n_train=200, n_test=200, n_far=200, discriminative=("logistic",), generative=("gmm",))


PIXEL_BITS_ON_EXACT = {"autoregressive": ("PixelCNN", 384.5), "flow": ("Glow", 865.3), "vae": ("VAE", 325.7)}


def two_representations(seed: int = 0, n: int = 8) -> tuple[str, np.ndarray]:
    """Lesson 5: the bits table of the same families at the pixel and the scene level on `exact`, and n draws
    of the pixel PixelCNN above n draws of the scene-level autoregressive model, rendered."""
    import torch

    from playground.scenes import shipped
    from worlds import render
    from worlds.images import image_grid

    from .views import DISPLAY, sample_stream

    measured = shipped.results().get("exact", {})
    rows = ["| family | pixel level: bits per image | scene level: bits per image |", "|---|---|---|"]
    for family, (pixel, bits) in PIXEL_BITS_ON_EXACT.items():
        scene = measured.get(family, {}).get("nll_bits_per_scene")
        kind = measured.get(family, {}).get("likelihood_kind", "")
        shown = f"{'≤ ' if kind == 'bound' else ''}{scene:.2f}" if scene is not None else "not measured"
        rows.append(f"| {family} | {pixel} {'≤ ' if family != 'autoregressive' else ''}{bits:,.1f} | {shown} |")
    rows.append("| the world itself | 9.585 | 9.585 |")
    *_, (pixels, _) = sample_stream("pixelcnn", n, seed)
    model = shipped.load("scene-autoregressive-exact")
    with torch.no_grad():
        codes = model.sample(n, generator=torch.Generator().manual_seed(seed))
    drawn = image_grid(render(model.codec.decode(codes, seed=seed)), n, scale=DISPLAY)  # the same size as PixelCNN's
    gap = np.full((8, pixels.shape[1], 3), 255, np.uint8)
    return "\n".join(rows), np.concatenate([pixels, gap, drawn])
