"""What the app's Generate and Train tabs show, as plain functions (no gradio): grids, streams, notes.

Every function checks its inputs and raises ValueError with a message meant for the user.
Streams are generators of (picture, caption) pairs, so the app can show sampling as it happens.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch

from playground.models import pretrained
from playground.models.data import class_condition, load_world
from playground.models.protocol import channels_last
from playground.models.registry import FAMILIES, MODE_FAMILIES
from playground.models.text import check_caption, encode_captions
from worlds.images import image_grid, upscale
from worlds.scene import COLOR_NAMES, SHAPES

if TYPE_CHECKING:
    import PIL.Image

MAX_SAMPLES = 64  # images per Generate request
MAX_INTERPOLATION = 16  # frames of a latent interpolation
MAX_TRAIN_MINUTES = 5.0  # budget of a Train-tab run
FRAMES = 16  # pictures a streamed sampler shows on its way
TRAIN_WORLDS = ("exact", "exact-holdout")
DISPLAY = 4  # each 32 px sample is shown 4x larger, pixels kept sharp

FAMILY_NAMES = {
    "pixelcnn": "PixelCNN (autoregressive)",
    "flow": "Glow (normalizing flow)",
    "vae": "VAE (latent variable, prescribed)",
    "gan": "GAN (latent variable, implicit)",
    "rbm": "RBM (energy-based, binary)",
    "ebm": "EBM (energy-based, Langevin)",
    "diffusion": "Diffusion (DDPM)",
}

LIKELIHOOD_NOTES = {
    "exact": "**exact** log-likelihood: log p(x) is a sum of the model's log-probabilities of every subpixel given "
    "the ones before it (chain rule), so bits/dim is the true code length of the image under the model.",
    "bound": "a **lower bound** on log p(x): {how}. The bits/dim it gives is an upper bound on the code length.",
    "estimate": "a **stochastic estimate**: log p(v) = −F(v) − log Z of the *binarized* image v, with the partition "
    "function Z estimated by importance sampling over the hidden units (from the training images' posteriors; "
    "AIS where that has the smaller error), its relative error reported beside it.",
    "unnormalized": "an **unnormalized** density: −E(x) is log p(x) up to an unknown constant log Z, so it ranks "
    "images but gives no bits/dim.",
    "none": "**no likelihood**: a GAN defines p(x) only implicitly, as the push-forward of noise through the "
    "generator; it can sample but not score an image.",
}
BOUND_HOW = {
    "vae": "the importance-weighted ELBO with k = 64 posterior draws, under the model's prior (N(0, I), or for "
    "the shipped VAEs a Gaussian mixture fitted to the codes after training)",
    "flow": "the flow's exact density of the dequantized image, a bound on the discrete image's probability",
    "diffusion": "the DDPM variational bound, a sum of 1000 KL terms",
}


# --- pictures ---------------------------------------------------------------------------------------

# --- shipped models ---------------------------------------------------------------------------------


def model_label(name: str) -> str:
    recipe = pretrained.RECIPES[name]
    what = {"none": "unconditional", "class": "class-conditional", "caption": "caption-conditional"}[recipe.condition]
    return f"{FAMILY_NAMES[recipe.family]} · {what} · {recipe.world}"


def model_choices() -> list[tuple[str, str]]:
    """(label, name) of every shipped model whose weights are present."""
    return [(model_label(name), name) for name in pretrained.available()]


def _shipped(name: str):
    if name not in pretrained.RECIPES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(pretrained.RECIPES)}")
    try:
        return pretrained.load(name)
    except FileNotFoundError as err:
        raise ValueError(str(err)) from None


FAILS_BELOW = 0.1  # a model whose draws are world images less often than this fails at its budget
WHY = "docs/models-{family}.md"  # each family's record: what was tried, what worked, why it fails


def quality_note(name: str) -> str:
    """Markdown: shipped model `name`'s measured sample quality (its card, `pretrained.cards()`, written by
    benchmarks/models.py --cards), with one plain sentence when it fails at its budget."""
    card = pretrained.cards().get(name)
    if card is None:
        return "Samples: not measured yet (`python benchmarks/models.py --cards`)."
    family = pretrained.RECIPES[name].family
    draws = f"{card['samples']} draws × {len(card['seeds'])} seeds"
    if "seen_match" in card:  # a conditional model: asked for seen classes and for the held-out red cylinder
        text = (
            f"**Samples, measured** ({draws}, `benchmarks/models.py`): asked for a class it saw, "
            f"{card['seen_match']:.2f} of its draws show it and {card['seen_valid']:.2f} are exact world images; "
            f"asked for the never-seen red cylinder, {card['held_out_match']:.2f} show one and "
            f"{card['held_out_valid']:.2f} are exact world images."
        )
        if card["held_out_match"] < FAILS_BELOW:
            text += " ⚠️ It does not compose: it almost never draws the red cylinder it never saw."
        fails = card["seen_valid"] < FAILS_BELOW
        score = card["seen_valid"]
    else:
        text = (
            f"**Samples, measured** ({draws}, `benchmarks/models.py`): {card['validity']:.2f} of its draws are "
            f"world images, covering {card['coverage']:.3f} of the world's scenes "
            f"(a perfect sampler: {card['coverage_ceiling']:.3f})."
        )
        if card.get("validity_mode") is not None:
            text += f" Its mode image (a choice, not a draw: tick **Mode**) is valid {card['validity_mode']:.2f} of the time."
        fails = card["validity"] < FAILS_BELOW
        score = card["validity"]
    if fails:
        text = (
            f"⚠️ **This model fails at its budget:** only {100 * score:.0f}% of its draws are world images, so "
            f"expect smudges or noise ([why]({WHY.format(family=family)})). " + text
        )
    return text


def likelihood_note(name: str) -> str:
    """Markdown: the model's card: what it is, what it was trained on, how good its samples are (measured),
    and what its likelihood means."""
    model = _shipped(name)
    recipe, extra = pretrained.RECIPES[name], model.checkpoint_extra
    note = LIKELIHOOD_NOTES[model.likelihood].format(how=BOUND_HOW.get(model.family, ""))
    held = (
        " It never saw a **red cylinder**: ask for one to test composition." if recipe.world == "exact-holdout" else ""
    )
    return (
        f"**{model_label(name)}** — trained {extra.get('steps', '?')} steps in "
        f"{extra.get('seconds', 0) / 60:.1f} min on a 2-core CPU.{held}\n\n{quality_note(name)}\n\n"
        f"Likelihood: {note}"
    )


def family_card(family: str) -> str:
    """Markdown for the Train tab: how the family's shipped model, trained longer, samples (its card)."""
    if family not in FAMILY_NAMES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILY_NAMES)}")
    if family not in pretrained.available():
        return f"{FAMILY_NAMES[family]}: no shipped model to compare with."
    minutes = pretrained.load(family).checkpoint_extra.get("seconds", 0) / 60
    return (
        f"For comparison, the shipped {FAMILY_NAMES[family]} trained {minutes:.0f} min "
        f"(expect less from a shorter run). {quality_note(family)}"
    )


def model_controls(name: str) -> tuple[bool, bool, bool, bool, bool, bool]:
    """Which sampler controls apply to shipped model `name`: shape, colour, caption, diffusion steps,
    guidance, mode."""
    recipe = pretrained.RECIPES[name]
    diffusion = recipe.family == "diffusion"
    return (
        recipe.condition == "class",
        recipe.condition == "class",
        recipe.condition == "caption",
        diffusion,
        diffusion and recipe.condition != "none",
        recipe.family in MODE_FAMILIES,
    )


def interpolates(name) -> bool:
    """Whether shipped model `name` has a latent code to walk in (VAE, flow; not caption-conditional ones)."""
    recipe = pretrained.RECIPES.get(name)
    return recipe is not None and recipe.family in ("vae", "flow") and recipe.condition != "caption"


def condition_tensor(
    model, n: int, shape: str | None = None, color: str | None = None, text: str | None = None
) -> torch.Tensor | None:
    """The condition a model needs for n samples, from the UI's shape/colour or caption."""
    kind = getattr(model.config, "condition", "none")
    if kind == "none":
        return None
    if kind == "class":
        if shape not in SHAPES or color not in COLOR_NAMES:
            raise ValueError(
                f"this model is class-conditional: pick a shape ({', '.join(SHAPES)}) "
                f"and a colour ({', '.join(COLOR_NAMES)})"
            )
        return class_condition(shape, color).expand(n, 2)
    if not (text or "").strip():
        raise ValueError("this model is caption-conditional: type a caption such as 'a small red cube'")
    return encode_captions([check_caption(text)]).expand(n, -1)


def _count(value, name: str, lo: int, hi: int) -> int:
    """A whole number in lo..hi from user input, or a ValueError naming the field."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number.is_integer() or not lo <= number <= hi:
        raise ValueError(f"{name} must be a whole number in {lo}..{hi}, got {value!r}")
    return int(number)


def sample_stream(
    name,
    n: int = 16,
    seed: int = 0,
    shape: str | None = None,
    color: str | None = None,
    text: str | None = None,
    steps: int | None = None,
    guidance: float = 1.0,
    mode: bool = False,
):
    """Yield (grid picture, caption) while model `name` draws n samples; the last yield is the result.
    PixelCNN shows its rows filling in, diffusion its prediction of x_0, Langevin and Gibbs their chains;
    one-pass families (flow, VAE, GAN) yield once. `name` is a shipped model's name or a model. With
    `mode`, the VAE and the RBM show their most likely image for each latent draw instead: not a sample."""
    n = _count(n, "number of samples", 1, MAX_SAMPLES)
    seed = _count(seed, "seed", 0, 2**31 - 1)
    model = _shipped(name) if isinstance(name, str) else name
    if model is None:
        raise ValueError("there is no model yet: train one first")
    if mode and model.family not in MODE_FAMILIES:
        raise ValueError(f"only the {' and the '.join(m.upper() for m in MODE_FAMILIES)} offer a mode image")
    condition = condition_tensor(model, n, shape, color, text)
    generator = torch.Generator().manual_seed(seed)
    family = model.family
    columns = min(8, n)
    options = {"mode": True} if mode else {}  # only the mode families take it
    start = time.perf_counter()
    if family == "pixelcnn":
        size = model.config.image_size
        every = max(1, size // FRAMES)
        stream = (
            (images, f"row {min(size, (k + 1) * every)} of {size}")
            for k, images in enumerate(model.sample_steps(n, condition, generator=generator, every=every))
        )
    elif family == "diffusion":
        steps = _count(steps if steps is not None else 100, "diffusion steps", 1, model.config.timesteps)
        if guidance is None or not math.isfinite(guidance) or not 0 <= guidance <= 10:
            raise ValueError(f"guidance must be in 0..10, got {guidance!r}")
        if model.config.condition == "none":
            guidance = 1.0
        every = max(1, steps // FRAMES)
        stream = (
            (images, f"step {min(steps, (k + 1) * every)} of {steps}: the current guess of x₀")
            for k, images in enumerate(
                model.sample_steps(n, condition, generator=generator, steps=steps, guidance=guidance, every=every)
            )
        )
    elif family in ("ebm", "rbm"):
        total = model.config.sampling_steps if family == "ebm" else model.config.sampling_sweeps
        every = max(1, total // FRAMES)
        what = "Langevin step" if family == "ebm" else "Gibbs sweep"
        stream = (
            (images, f"{what} {min(total, (k + 1) * every)} of {total}")
            for k, images in enumerate(model.sample_steps(n, condition, generator=generator, every=every, **options))
        )
    else:
        stream = ((model.sample(n, condition, generator=generator, **options), "one pass") for _ in range(1))
    # Gradio resumes a streaming handler in whichever worker thread is free, and torch's grad mode
    # is per thread: a `with torch.no_grad()` around a `yield` would leave it off in one worker
    # (breaking the next user's refinement or training) and on in another. Sample each frame
    # under no_grad, and yield outside it.
    while True:
        with torch.no_grad():
            frame = next(stream, None)
        if frame is None:
            return
        images, label = frame
        if mode:
            label += " · mode images, not draws"
        yield (
            image_grid(channels_last(images), columns, scale=DISPLAY),
            f"{label} · {time.perf_counter() - start:.1f} s",
        )


def interpolation(name: str, world_seed: int = 0, frames: int = 8) -> tuple[np.ndarray, str]:
    """Decode the straight line between the codes of two world images (scenes 0 and 1 of the seed):
    a latent-space walk for the families with an encoder (VAE, flow)."""
    frames = _count(frames, "frames", 2, MAX_INTERPOLATION)
    world_seed = _count(world_seed, "seed", 0, 2**31 - 1)
    model = _shipped(name)
    if not hasattr(model, "decode"):
        raise ValueError(f"{FAMILY_NAMES[model.family]} has no latent code to walk in; pick a VAE or flow model")
    recipe = pretrained.RECIPES[name]
    data = load_world(recipe.world, 2, world_seed)
    condition = condition_tensor(model, 1, *_first_class(data)) if model.config.condition == "class" else None
    if model.config.condition == "caption":
        raise ValueError("interpolation is offered for unconditional and class-conditional models")
    with torch.no_grad():
        codes = model.encode(data.images, None if condition is None else condition.expand(2, -1))
        t = torch.linspace(0, 1, frames)[:, None]
        path = model.decode(
            (1 - t) * codes[0] + t * codes[1], None if condition is None else condition.expand(frames, -1)
        )
    row = torch.cat([data.images[:1], path, data.images[1:]])
    return image_grid(
        channels_last(row), len(row), scale=DISPLAY
    ), "left: scene A · then the decoded path from A's code to B's · right: scene B"


def _first_class(data) -> tuple[str, str]:
    shape, color = data.labels[0].tolist()
    return SHAPES[shape], COLOR_NAMES[color]


# --- training in the app ----------------------------------------------------------------------------


def train_stream(
    family: str,
    world: str = "exact",
    minutes: float = 1.0,
    seed: int = 0,
    condition: str = "none",
    every_s: float = 1.0,
    n: int = 20_000,
):
    """Train a fresh model of `family` on `n` scenes as the CLI does (`train_run`: the shipped recipe's settings, a
    budget that covers the whole run), in a worker thread (`playground.app.tasks.stoppable`); yield
    (model, records, status) about every `every_s` seconds and once at the end. The model is None until
    it is finished (a VAE samples only once its prior is fitted). Closing the generator (the app's Stop
    button) stops training after the current step. The model lives only in the caller's session."""
    from playground.app.tasks import stoppable
    from playground.models.train import train_run

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    if world not in TRAIN_WORLDS:
        raise ValueError(f"the app trains on {', '.join(TRAIN_WORLDS)} (small 32 px worlds); got {world!r}")
    if minutes is None or not math.isfinite(minutes) or not 0 < minutes <= MAX_TRAIN_MINUTES:
        raise ValueError(f"minutes must be in (0, {MAX_TRAIN_MINUTES:g}], got {minutes!r}")
    seed = _count(seed, "seed", 0, 2**31 - 1)
    if condition not in ("none", "class", "caption"):
        raise ValueError(f"condition must be none, class or caption, got {condition!r}")
    if condition != "none" and family == "rbm":
        raise ValueError("the RBM is unconditional; choose condition 'none'")
    records: list[dict] = []
    fitting = []  # set when fit starts the model's finishing step

    def train(report):
        def step(number, total, record):
            records.append(record)
            report()

        run = train_run(
            family,
            world,
            minutes=minutes,
            n=n,
            seed=seed,
            condition=condition,
            callback=step,
            on_finish=lambda: (fitting.append(True), report()),  # e.g. a VAE fitting its prior: tell the user
        )
        return run.model

    budget, shown = 60.0 * minutes, time.perf_counter()
    n = _count(n, "training scenes", 1, 20_000)
    steps = stoppable(train)
    model = None
    try:
        while True:  # one report per training step
            try:
                next(steps)
            except StopIteration as end:
                model = end.value
                break
            last = records[-1]
            if fitting:
                yield (
                    None,
                    list(records),
                    f"step {last['step']} · the steps are done; fitting the prior to the codes (EM), "
                    f"about {max(1.0, budget - last['seconds']):.0f} s",
                )
            elif time.perf_counter() - shown >= every_s:
                shown = time.perf_counter()
                yield (
                    None,
                    list(records),
                    f"step {last['step']} · {last['seconds']:.0f} of {budget:.0f} s · loss {last['loss']:.4f}",
                )
    except ValueError:
        raise
    except Exception as err:
        raise ValueError(f"training failed: {err}") from err
    finally:
        steps.close()  # on Stop: ends the worker after its current step
    if not records:
        raise ValueError("training stopped before its first step")
    last = records[-1]
    took = last["seconds"] + last.get("finish_seconds", 0.0)
    yield (
        model,
        list(records),
        f"done: {last['step']} steps, {took:.0f} s in all (rendering and the finishing step included) · "
        f"final loss {last['loss']:.4f}",
    )


# --- inverse graphics: the Inference tab ------------------------------------------------------------

ENCODERS = {"shapes2d": "encoder-shapes2d", "clevr3d": "encoder-clevr3d"}  # world -> shipped encoder
MAX_UPLOAD_BYTES = 20_000_000  # an uploaded picture may be at most this large on disk
MAX_REFINE_STEPS = 200
PANEL_SIDE = 256  # input, re-render and difference are shown this large


def encoder_for(world: str):
    """The shipped inverse-graphics encoder of `world` (loaded once per process)."""
    if world not in ENCODERS:
        raise ValueError(f"scenes can be read from the worlds {', '.join(ENCODERS)}; got {world!r}")
    try:
        return pretrained.load(ENCODERS[world])
    except FileNotFoundError as err:
        raise ValueError(str(err)) from None


def open_picture(path) -> PIL.Image.Image:
    """An uploaded file as a PIL image, or a ValueError that says what is wrong with it."""
    import os
    import re
    import warnings

    from PIL import Image, UnidentifiedImageError

    from playground.inverse.encoder import MAX_INPUT_SIDE

    if path is None:
        raise ValueError("no picture: upload one, draw one, or render a random scene")
    if not os.path.isfile(path):
        raise ValueError("the uploaded file is gone; upload it again")
    if os.path.getsize(path) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the file is {os.path.getsize(path) / 1e6:.1f} MB; at most {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as probe:
                width, height = probe.size
                if max(width, height) > MAX_INPUT_SIDE:
                    raise ValueError(
                        f"the picture is {width}x{height} px; the largest side accepted is {MAX_INPUT_SIDE}"
                    )
                probe.verify()  # checks the file's structure without decoding all of it
            picture = Image.open(path)
            picture.load()  # decodes it: truncated data fails here
    except ValueError:
        raise
    except UnidentifiedImageError:
        raise ValueError("this file is not an image: upload a PNG, JPEG, GIF, BMP or WebP picture") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        sizes = [int(n) for n in re.findall(r"(\d+) pixels", str(err))]  # PIL names the size and the limit
        what = f": {sizes[0]:,} pixels; the limit is {sizes[1]:,}" if len(sizes) >= 2 else ""
        raise ValueError(f"this picture is too large{what}") from None
    except (OSError, SyntaxError):
        raise ValueError("this image file is damaged or cut short: it cannot be decoded") from None
    return picture


PICTURE_SOURCES = ("random scene", "upload", "drawing")


@lru_cache(maxsize=len(ENCODERS))
def canvas_ground(world: str) -> np.ndarray:
    """uint8 (S, S, 3), read-only: the sketchpad's starting picture for `world`, its empty ground as the
    renderer draws it (flat grey from above, lit and shaded in 3D), at the world's image size times the
    whole factor that makes it about PANEL_SIDE. On white, no drawing is a picture of a world; on this ground,
    discs and squares in the palette are pictures of the top-down world."""
    from worlds import Scene, get_world, render

    preset = get_world(world)
    side = preset.image_size * max(1, PANEL_SIDE // preset.image_size)
    ground = render([Scene([], **{**preset.scene_settings(), "image_size": side})])[0]
    ground.flags.writeable = False  # shared by every session
    return ground


def canvas_colors(world: str) -> list[str]:
    """The object colours of `world` as '#rrggbb', in the world's order: the sketchpad's brush colours."""
    from worlds import get_world
    from worlds.scene import color_rgb

    return ["#{:02x}{:02x}{:02x}".format(*color_rgb(c)) for c in get_world(world).colors]


def canvas_default_color(world: str) -> str:
    """The palette colour farthest from the world's ground (the most visible one to start drawing with)."""
    from worlds import get_world
    from worlds.scene import color_rgb

    preset = get_world(world)
    ground = np.asarray(color_rgb(preset.background), np.float64)
    rgbs = [np.asarray(color_rgb(c), np.float64) for c in preset.colors]
    farthest = max(range(len(rgbs)), key=lambda k: np.sum((rgbs[k] - ground) ** 2))
    return canvas_colors(world)[farthest]


@lru_cache(maxsize=len(ENCODERS))
def canvas_brush_radius(world: str) -> int:
    """Brush radius in canvas pixels: pi r^2 = the pixels a small cylinder at the scene's centre covers on the
    canvas, so one dab draws a small object (13 px in shapes2d, 11 px in clevr3d)."""
    from worlds import Cylinder, Scene, get_world, render_layers

    settings = {**get_world(world).scene_settings(), "image_size": canvas_ground(world).shape[0]}
    pixels = render_layers([Scene([Cylinder(size="small", position=(0.0, 0.0))], **settings)]).visible[0, 0]
    return max(1, round(math.sqrt(pixels / math.pi)))


def _has_strokes(layer) -> bool:
    """Whether a sketchpad layer (or a composite) holds anything: an RGBA one a pixel that is not transparent."""
    layer = np.asarray(layer)
    return layer.ndim == 3 and (layer.shape[-1] != 4 or bool(layer[..., 3].any()))


def has_drawing(drawing) -> bool:
    """Whether the sketchpad's value (its layers dict or its composite) holds strokes. The strokes are in
    the layers, over the world's ground (the background); a composite alone is a drawing if it is not all
    transparent. A fresh canvas (the app replaces it when the world changes) holds none."""
    canvas = drawing if isinstance(drawing, dict) else {"composite": drawing}
    picture = canvas.get("composite")
    strokes = canvas["layers"] if "layers" in canvas else [picture]
    return (
        picture is not None and np.asarray(picture).ndim == 3 and any(_has_strokes(s) for s in strokes if s is not None)
    )


def chosen_picture(source: str, random_picture, upload, drawing):
    """The picture the user chose to read (an array or a PIL image): the rendered random scene, the
    uploaded file, or the sketchpad's drawing (its layers dict or its composite)."""
    if source == "random scene":
        if random_picture is None:
            raise ValueError("press 'Render a random scene' first, or choose another source")
        return random_picture
    if source == "upload":
        return open_picture(upload)
    if source == "drawing":
        if not has_drawing(drawing):
            raise ValueError("the drawing is empty: draw some shapes first")
        canvas = drawing if isinstance(drawing, dict) else {"composite": drawing}
        return np.asarray(canvas["composite"])
    raise ValueError(f"source must be one of {', '.join(PICTURE_SOURCES)}, got {source!r}")


def difference_map(a: np.ndarray, b: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """uint8 (H, W, 3): |a - b|, the largest channel's difference times `gain`, as a black-red-yellow heat map."""
    d = np.clip(np.abs(a.astype(np.int16) - b.astype(np.int16)).max(-1) * gain, 0, 255) / 255.0  # (H, W) in 0..1
    heat = np.stack([np.clip(2 * d, 0, 1), np.clip(2 * d - 1, 0, 1), np.zeros_like(d)], -1)
    return (heat * 255).round().astype(np.uint8)


def reading_panels(reading) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The input as the encoder saw it, the recovered scene re-rendered, and their difference, enlarged."""
    factor = max(1, PANEL_SIDE // reading.image.shape[0])
    return (
        upscale(reading.image, factor),
        upscale(reading.rendered, factor),
        upscale(difference_map(reading.image, reading.rendered), factor),
    )


def reading_summary(reading, step: int | None = None, steps: int | None = None) -> str:
    """Markdown: how many objects, how well the scene explains the picture, and what that means."""
    e = reading.error
    n = len(reading.scene.objects)
    where = f"refinement step {step} of {steps} · " if step is not None else ""
    verdict = (
        "✅ the scene explains the picture"
        if reading.explained
        else "❓ **this picture is not one I can explain**: no scene of this world re-renders to it "
        "(a photo, a drawing, noise, or a scene beyond what the encoder learned)"
    )
    return (
        f"{where}**{n} object{'s' * (n != 1)}** · re-render RMSE **{e['rmse']:.2f}** levels · "
        f"PSNR {e['psnr']:.1f} dB · object-pixel IoU {e['iou']:.3f}\n\n{verdict}"
    )


def read_picture(world: str, picture, refine_steps: int = 0, every: int = 5):
    """Yield (reading, step, steps) while the encoder of `world` reads `picture` (a PIL image or an array):
    its one-pass answer first, then the refinement's current scene every `every` steps, and last the
    answer `refine` gives. The refinement runs in a worker thread (`playground.app.tasks.stoppable`), so
    closing this generator (the app's Stop) ends it at its next step."""
    from playground.app.tasks import stoppable
    from playground.inverse.encoder import Reading, read_scene
    from playground.inverse.refine import refine

    refine_steps = _count(refine_steps, "refinement steps", 0, MAX_REFINE_STEPS)
    encoder = encoder_for(world)
    first = read_scene(encoder, picture)
    yield first, None, None
    if not refine_steps:
        return
    background = encoder.scene_settings()["background"]
    steps = stoppable(
        lambda report: refine(
            first.scene, first.image, steps=refine_steps, candidates=first.candidates, callback=report
        )
    )
    try:
        while True:
            step, scene, rmse = next(steps)
            if step % every == 0 and step < refine_steps:
                yield Reading.of(scene, first.image, background), step, refine_steps
    except StopIteration as finished:
        answer, _ = finished.value
    finally:
        steps.close()
    yield Reading.of(answer, first.image, background), refine_steps, refine_steps


# --- Uncertainty tab: discriminative vs generative ---------------------------------------------------

MAX_STUDY_POINTS = 1_000  # training points of a study in the app
STUDY_CACHE = 8  # studies kept fitted (each is ~7 small models)
STUDY_FLOW_STEPS = 400  # training steps of a study's flow density (most of a study's fitting time)


def _float(value, name: str, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a number, got {value!r}") from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise ValueError(f"{name}: must be between {lo:g} and {hi:g}, got {value!r}")
    return number


def study_for(layout: str, seed: int = 0, n: int = 400, flow_steps: int | None = None):
    """The fitted study of a layout (every discriminative and generative model), cached; the flow
    trains `flow_steps` steps (default STUDY_FLOW_STEPS)."""
    from playground.uncertainty.study import get_layout

    get_layout(layout)
    return _study(
        layout,
        _count(seed, "seed", 0, 2**31 - 1),
        _count(n, "training points", 20, MAX_STUDY_POINTS),
        STUDY_FLOW_STEPS if flow_steps is None else _count(flow_steps, "flow steps", 1, 100_000),
    )


@lru_cache(maxsize=STUDY_CACHE)
def _study(layout: str, seed: int, n: int, flow_steps: int):
    from playground.uncertainty.study import run_study

    return run_study(layout, n_train=n, n_test=n, n_far=n, seed=seed, flow_steps=flow_steps)


def scores_markdown(study) -> str:
    """Markdown table of every model's test accuracy, far-point AUROC and accuracy with a coordinate hidden."""
    from playground.uncertainty.study import DISCRIMINATIVE, GENERATIVE

    names = {**DISCRIMINATIVE, **GENERATIVE}
    rows = ["| model | kind | accuracy | AUROC data vs far | only x seen | only y seen |", "|---|---|---|---|---|---|"]
    for name, s in study.scores().items():
        rows.append(
            f"| {names[name]} | {s['kind']} | {s['accuracy']:.3f} | {s['auroc']:.3f} | "
            f"{s['accuracy_x_only']:.3f} | {s['accuracy_y_only']:.3f} |"
        )
    return (
        "\n".join(rows) + "\n\nAUROC: how well a score tells held-out data points from points far from all data "
        "(1 = perfectly, 0.5 = chance, below 0.5 = more confident far away). The score is max p(y|x) for a "
        "discriminative model, log p(x) for a generative one. *Only x seen*: the generative models sum y out "
        "of p(x, y); the discriminative ones get y set to its training mean (imputation)."
    )


ON_POINT = 0.02  # a probe this close (world units) to a training point is that point


def probe_report(study, x, y, discriminative: str = "mlp", generative: str = "flow") -> tuple[np.ndarray, str]:
    """The scene a probe point stands for (a training point's own scene when the probe is on one, else
    an object coloured by the generative model's best guess) and both models' probabilities there."""
    from playground.uncertainty.study import PLOT_EXTENT, WORLD_RANGE, point_scene
    from worlds import render

    point = np.array(
        [[_float(x, "probe x", -PLOT_EXTENT, PLOT_EXTENT), _float(y, "probe y", -PLOT_EXTENT, PLOT_EXTENT)]]
    )
    for name, fitted in ((discriminative, study.discriminative), (generative, study.generative)):
        if name not in fitted:
            raise ValueError(f"unknown model {name!r}; choose one of {', '.join(fitted)}")
    colors = study.layout.colors
    disc = study.discriminative[discriminative].predict_proba(point)[0]
    gen = study.generative[generative]
    gen_p, known, log_px = (
        gen.predict_proba(point)[0],
        float(gen.known_probability(point)[0]),
        float(gen.log_px(point)[0]),
    )
    distances = np.sqrt(((study.train.features - point) ** 2).sum(1))
    nearest = int(distances.argmin())
    if distances[nearest] <= ON_POINT:  # on a training point: show that very scene
        scene, (_, about) = study.train.scenes[nearest], data_point_report(study, nearest)
    else:
        scene, about = point_scene(point[0], colors[int(gen_p.argmax())]), ""
    inside = bool(np.abs(point).max() <= WORLD_RANGE)
    table = [
        "| | " + " | ".join(f"p({c} \\| x)" for c in colors) + " |",
        "|---" * (len(colors) + 1) + "|",
        f"| discriminative ({discriminative}) | " + " | ".join(f"{p:.3f}" for p in disc) + " |",
        f"| generative ({generative}) | " + " | ".join(f"{p:.3f}" for p in gen_p) + " |",
    ]
    where = (
        "inside the world's ground"
        if inside
        else "**outside the world's ground**: the world never puts an object here (the picture shows nothing)"
    )
    verdict = (
        "the generative model has seen data like this"
        if known >= 0.5
        else "the generative model says **it has not seen data here**, whatever p(y|x) says"
    )
    text = (
        f"Probe ({point[0, 0]:.2f}, {point[0, 1]:.2f}), {where}. {about}\n\n"
        + "\n".join(table)
        + f"\n\nlog p(x) = {log_px:.2f} · p(known | x) = {known:.3f}: {verdict}."
    )
    return upscale(render([scene])[0], 4), text


def data_point_report(study, index) -> tuple[np.ndarray, str]:
    """A training point's scene, rendered, and its label."""
    from worlds import render

    index = _count(index, "point", 0, len(study.train.scenes) - 1)
    scene = study.train.scenes[index]
    obj = scene.objects[0]
    return upscale(render([scene])[0], 4), (
        f"Training point {index}: a {obj.size_name} {obj.color} {obj.shape} "
        f"at ({obj.position[0]:.2f}, {obj.position[1]:.2f}), "
        f"labelled **{obj.color}**."
    )


MISSING_VIEWS = {"x seen, y hidden": 0, "y seen, x hidden": 1}  # what is seen -> the observed coordinate


def seen_coordinate(seen: str) -> int:
    """The coordinate a MISSING_VIEWS choice observes (0: x, 1: y)."""
    if seen not in MISSING_VIEWS:
        raise ValueError(f"choose which coordinate is seen: {', '.join(MISSING_VIEWS)}")
    return MISSING_VIEWS[seen]


def missing_markdown(study, seen: str) -> str:
    """Markdown: every model's test accuracy with both coordinates, then with only the `seen` one."""
    key = ("accuracy_x_only", "accuracy_y_only")[seen_coordinate(seen)]
    return f"Test accuracy with both coordinates → with only **{seen}**:\n\n" + "\n".join(
        f"- {name} ({s['kind']}): {s['accuracy']:.3f} → **{s[key]:.3f}**" for name, s in study.scores().items()
    )


# --- Uncertainty tab: adversarial noise ---------------------------------------------------------------

MAX_ATTACK_EPS = 32  # grey levels of the app's eps slider
MAX_ATTACK_STEPS = 50  # PGD steps in the app
ATTACK_DISPLAY = 8  # 32 px images shown 8x larger


def attack_scenes() -> int:
    """How many exact-world scenes there are to attack."""
    from playground.uncertainty.adversarial import exact_world

    return exact_world().num_scenes


def attack_view(index, eps, method: str = "fgsm", steps=10, seed=0):
    """Attack exact-world scene `index` with the shipped shape classifier: (original, amplified noise,
    perturbed) pictures, the probability figure, and a Markdown summary with the likelihood check."""
    from playground.uncertainty.adversarial import METHODS, attack, exact_world

    from .plots import attack_figure

    world = exact_world()
    index = _count(index, "scene", 0, world.num_scenes - 1)
    eps = _float(eps, "ε", 0, MAX_ATTACK_EPS)
    if method not in METHODS:
        raise ValueError(f"unknown attack {method!r}; choose one of {', '.join(METHODS)}")
    steps = _count(steps, "PGD steps", 1, MAX_ATTACK_STEPS)
    seed = _count(seed, "seed", 0, 2**31 - 1)
    report = attack(
        pretrained.load("classifier-exact"),
        world.images[index],
        eps,
        method,
        steps=steps,
        seed=seed if method == "pgd" else None,
        max_eps=MAX_ATTACK_EPS,
    )
    truth = world.scenes[index].objects[0].shape
    flip = (
        f"the smallest ε that flips it is **{report.smallest_flip_eps}**"
        if report.smallest_flip_eps
        else f"no ε up to {MAX_ATTACK_EPS} flips it"
    )
    verdict = (
        f"🔀 **flipped**: {report.label_before} → **{report.label_after}**"
        if report.flipped
        else f"✋ not flipped: still **{report.label_after}**"
    )
    rows = ["| likelihood under | kind | clean bits/dim | attacked bits/dim |", "|---|---|---|---|"]
    names = {"world": "the true world (exact)", "pixelcnn": "PixelCNN", "flow": "Glow flow"}
    for name, change in (report.likelihood or {}).items():
        after = "∞ (impossible)" if math.isinf(change.after[0]) else f"{change.after[0]:.3f}"
        rows.append(f"| {names.get(name, name)} | {change.kind} | {change.before[0]:.3f} | {after} |")
    text = (
        f"Scene {index}: a **{truth}**. The classifier says **{report.label_before}** "
        f"(p = {report.probabilities_before[report.label_before]:.3f}). {verdict} at ε = {eps:g} grey levels "
        f"({method.upper()}{f', {steps} steps' if method == 'pgd' else ''}); {flip}.\n\n"
        + "\n".join(rows)
        + (
            "\n\nThe true world gives the attacked picture probability 0: no scene renders to it. "
            "Whether a learned likelihood notices is the question: compare its two columns."
            if report.likelihood and math.isinf(report.likelihood["world"].after[0])
            else ""
        )
    )
    pictures = [upscale(p, ATTACK_DISPLAY) for p in (report.original, report.perturbation, report.perturbed)]
    return (*pictures, attack_figure(report), text)


# --- Compare tab: the measured Table 1.1 ----------------------------------------------------------------

MAX_LIVE_MINUTES = 1.0  # training minutes per run of a live evaluation in the app
MAX_LIVE_SAMPLES = 256
LIVE_SCENES = 5_000  # rendered scenes of the exact world a live evaluation trains on
EVALUATION_HEADERS = (
    "family",
    "likelihood (as a cost)",
    "bits/dim: exact or ≤",
    "bits/dim: ≥ or estimate",
    "gap to H (bits/img): exact or ≤",
    "seed spread",
    "diverged",
    "roughness",
    "ms/img (64)",
    "ms/img (1)",
    "× fastest",
    "code bits/img",
    "PNG bits/img",
    "probe acc.",
    "valid",
    "attribute TV",
    "coverage",
)
_EVALUATION_KEYS = (
    "family",
    "likelihood_bound",
    "bits_per_dim_upper",
    "bits_per_dim_lower",
    "gap_bits_per_image_upper",
    "seed_spread",
    "diverged",
    "roughness",
    "sample_ms_per_image",
    "sample_ms_batch1",
    "sample_ratio_to_fastest",
    "code_bits_per_image",
    "png_bits_per_image",
    "probe_accuracy",
    "validity",
    "attribute_tv",
    "coverage",
)


def shipped_evaluation() -> dict | None:
    """The evaluation shipped with the code (playground/evaluation/results/evaluation.json), or None."""
    import json

    from playground.evaluation.compare import RESULTS

    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else None


def shipped_evaluation_or_error() -> dict:
    """The shipped evaluation, or a ValueError that says how to make it."""
    result = shipped_evaluation()
    if result is None:
        raise ValueError(
            "no shipped evaluation: run python -m playground.evaluation.compare "
            "--json playground/evaluation/results/evaluation.json"
        )
    return result


def duration(minutes: float) -> str:
    """A training budget as a person says it: 0.25 -> "15 s", 2 -> "2 min"."""
    return f"{60 * minutes:.0f} s" if minutes < 1 else f"{minutes:g} min"


def shipped_summary(result: dict) -> str:
    """One line: the training budget of an evaluation (from its `meta`) and how long the whole run took."""
    meta = result.get("meta", {})
    budget = meta.get("budget", {})
    training = duration(budget["minutes"]) if "minutes" in budget else "?"
    samples = f"{budget['samples']:,}" if "samples" in budget else "?"
    return (
        f"{budget.get('seeds', '?')} seeds × {training} of training per family, {samples} samples scored each, "
        f"{meta.get('seconds', 0) / 60:.1f} min in all"
    )


def budget_note(result: dict) -> str:
    """Says which models an evaluation's figures come from: its own short runs (the budget in its `meta`, or a
    live run's rows), not the Generate tab's shipped models, whose training time their recipes give."""
    from playground.evaluation.compare import family_rows

    rows = family_rows(result)
    minutes = result.get("meta", {}).get("budget", {}).get("minutes")
    if minutes is None:  # a live run has no meta: its rows carry the budget
        minutes = max((row.get("train_minutes", 0) for row in rows.values()), default=0)
    shipped = sorted({pretrained.RECIPES[f].minutes for f in rows if f in pretrained.RECIPES})
    if len(shipped) > 1:
        shipped_time = f"{shipped[0]:g}–{shipped[-1]:g} min"
    else:
        shipped_time = duration(shipped[0]) if shipped else "longer"
    return (
        f"These figures come from models trained for {duration(minutes)} per run for this table, not from the "
        f"Generate tab's shipped models, which trained {shipped_time} each "
        "(`python benchmarks/models.py` scores those)."
    )


def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "∞" if math.isinf(value) else (f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return str(value)


def evaluation_rows(result: dict) -> list[list[str]]:
    """The evaluation as table rows (one per family, EVALUATION_HEADERS' columns)."""
    from playground.evaluation.compare import family_rows

    return [[_shown(row.get(key)) for key in _EVALUATION_KEYS] for row in family_rows(result).values()]


def lecture_markdown(result: dict) -> str:
    """The lecture's qualitative Table 1.1 beside what was measured, family by family."""
    from playground.evaluation.compare import family_rows

    lines = [
        "| family | training (lecture → measured) | likelihood | sampling | compression | representation |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in family_rows(result).items():
        lecture = row.get("lecture", {})
        if row.get("diverged"):
            stable = "diverged"
        elif len(row.get("runs", [])) < 2:  # a spread needs two seeds: one says nothing about stability
            stable = "one seed: no spread"
        else:
            stable = f"spread {_shown(row.get('seed_spread'))}"
        likelihood = (
            f"{row['likelihood_kind']}, {_shown(row.get('bits_per_dim'))} bits/dim"
            if row.get("bits_per_dim") is not None
            else row["likelihood_kind"]
        )
        if row.get("log_z_relative_error") is not None:  # an estimate shows its error
            likelihood += f" (Z ± {100 * row['log_z_relative_error']:.0f}%)"
        code = (
            f"{_shown(row.get('code_bits_per_image'))} vs PNG {_shown(row.get('png_bits_per_image'))} bits"
            if row.get("code_bits_per_image") is not None
            else "no code length"
        )
        probe = f"probe {_shown(row.get('probe_accuracy'))}" if row.get("probe_accuracy") is not None else "none"
        lines.append(
            f"| {name} | {lecture.get('training', '?')} → {stable} | {lecture.get('likelihood', '?')} → "
            f"{likelihood} | {lecture.get('sampling', '?')} → {_shown(row.get('sample_ms_per_image'))} ms | "
            f"{lecture.get('compression', '?')} → {code} | {lecture.get('representation', '?')} → {probe} |"
        )
    return "\n".join(lines)


@lru_cache(maxsize=1)
def live_data():
    """The scenes every live evaluation trains on, rendered once per process (training only reads them)."""
    return load_world("exact", LIVE_SCENES, seed=0)


def evaluation_stream(families, minutes=0.1, seeds=1, samples=64):
    """Yield (result so far, finished families, total) while a small live evaluation runs, one family at a time.

    Training is only part of a run's time: the VAE fits its mixture prior and the RBM estimates its log Z
    after training, then each family is scored (likelihood over the world, sampling speed, the samples'
    validity and coverage, a probe for the families with an encoder), so a run takes several times its
    training budget (the Compare tab's examples say how long)."""
    from playground.evaluation.compare import LECTURE, QUICK, Budget, evaluate_family
    from playground.models.registry import FAMILIES

    families = list(families or [])
    if not families:
        raise ValueError("choose at least one family to evaluate")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown family {unknown[0]!r}; choose from {', '.join(FAMILIES)}")
    budget = Budget(
        minutes=_float(minutes, "minutes per run", 0.01, MAX_LIVE_MINUTES),
        seeds=_count(seeds, "seeds", 1, 3),
        samples=_count(samples, "samples", 16, MAX_LIVE_SAMPLES),
        likelihood_every=16,
        code_images=1,
        diffusion_steps=QUICK.diffusion_steps,
    )
    data = live_data()
    result = {}
    for k, family in enumerate(families):
        yield result, k, len(families)
        result[family] = evaluate_family(family, data, budget)
        result[family]["lecture"] = dict(
            zip(("training", "likelihood", "sampling", "compression", "representation"), LECTURE[family])
        )
        fastest = min(r["sample_ms_per_image"] for r in result.values())
        for row in result.values():
            row["sample_ratio_to_fastest"] = row["sample_ms_per_image"] / fastest
    yield result, len(families), len(families)
