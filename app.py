"""Toy World Playground: a Gradio app to edit, render and caption toy scenes, and to generate datasets.

    python app.py            # then open http://127.0.0.1:7860

The plain functions come first (each is what one UI event calls, and the tests call them
directly), then `build_demo()`, which wires them to the components. All the work is done
by the `worlds` library; `worlds.images` and `playground.app` hold the gradio-free display helpers.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"      # before gradio is imported
# Gradio tabulates up to 10,000 past events after every event for a monitoring dashboard we do not use:
# 11.6% of the server's time under load (benchmarks/load.py); refresh it rarely
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import inspect
import logging
import secrets
import shutil
import tempfile
import time
from dataclasses import replace
from functools import wraps
from pathlib import Path

import gradio as gr
import gradio.processing_utils as gradio_cache
import numpy as np

from worlds import WORLDS, Scene, caption, get_world, render, sample_scene, sample_scenes
from worlds.scene import COLOR_NAMES, MAX_OBJECTS, SHAPES
from worlds.images import display_factor, render_panels, upscale
from playground.app.scene_table import (DISPLAY_SIZES, TABLE_COLUMNS, caption_markdown, parse_scene_json,
                                        relations_markdown, resize_scene, rows_to_scene, scene_to_json, scene_to_rows)
from playground.app.tasks import stoppable

log = logging.getLogger("toyworld.app")


def _save_pil_to_cache(img, cache_dir, name="image", format="webp"):
    """Gradio 6.31's image cache rewrites a file in place even when it exists; files are named by the
    hash of their bytes, so two users of the same (deterministic) render get the same file, and one
    truncates it while the other downloads it (5% of render calls failed at 16 clients,
    benchmarks/load.py). Same name means same bytes: write only a missing file, atomically."""
    data = gradio_cache.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / gradio_cache.hash_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / f"{name}.{format}").resolve()
    if not path.exists():
        fd, part = tempfile.mkstemp(dir=folder, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(part, path)                 # readers see all of the file or none of it
    return str(path)


gradio_cache.save_pil_to_cache = _save_pil_to_cache

MAX_DATASET_SIZE = 5_000          # scenes per dataset generated in the app
PREVIEW_COUNT = 16                # scenes shown in the dataset preview gallery
PART_SIZE = 250                   # scenes per part file: the progress bar moves once per part
FORMATS = ("imagefolder", "parquet", "npz")
MAX_SEED = 2**31 - 1
WORK_ROOT = Path(tempfile.gettempdir()) / "toyworld-app"   # one fresh sub-directory per request
WORK_TTL_S = 3600                 # request directories older than this are removed
DEFAULT_WORLD = "clevr3d"

HEADER = """\
# 🧊 Toy World Playground
A procedural world of **cubes, cylinders and spheres** for learning deep generative models.
Every scene is a small JSON document; the library renders it top-down (**2D**) and in
perspective (**3D**, CLEVR-like), with instance masks, depth, bounding boxes, a caption and
the spatial relations between objects. **World** lets you sample and edit one scene;
**Datasets** generates reproducible datasets (scene *i* of a world and seed is always the same);
**Generate** samples from a shipped model of every generative family; **Train** trains one in your session;
**Inference** reads the scene back out of a picture (inverse graphics) and refines it by analysis by synthesis;
**Uncertainty** contrasts a discriminative p(y|x) with a generative p(x, y), on missing data and adversarial noise too;
**Compare** measures the lecture's table of the families on the same world; **Learn** walks the lecture's ideas.
"""

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
#status { min-height: 1.5em; }
.offscreen { position: absolute !important; left: -9999px; width: 1px; height: 1px; overflow: hidden; }
"""


class AppError(ValueError):
    """Bad input to the app, with a message for the user."""


# --- helpers -----------------------------------------------------------------------------

def _friendly(n_outputs: int):
    """Turn any exception of the wrapped handler into a warning toast and a status line.

    The handler's last output is the status Markdown; on failure every other output is
    left as it was (gr.skip()), so a typo never wipes the user's scene.
    """
    def failed(fn, err) -> tuple:
        if isinstance(err, ValueError):        # SceneError, WorldError, DatasetError, AppError
            message = str(err)
        else:                                  # a bug: log it, but show no traceback
            log.exception("handler %s failed", fn.__name__)
            message = f"something went wrong ({type(err).__name__}: {err})"
        gr.Warning(message)
        return (*[gr.skip()] * (n_outputs - 1), f"⚠️ {message}")

    def decorate(fn):
        if inspect.isgeneratorfunction(fn):    # a streaming handler: its last yield reports the error
            @wraps(fn)
            def streaming(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except Exception as err:
                    yield failed(fn, err)
            return streaming

        @wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as err:
                return failed(fn, err)
        return wrapper
    return decorate


def _integer(value, name: str, lo: int, hi: int) -> int:
    """A whole number from a UI field, or AppError naming the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise AppError(f"{name}: please enter a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AppError(f"{name}: must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise AppError(f"{name}: must be a whole number, got {value!r}")
    if not lo <= number <= hi:
        raise AppError(f"{name}: must be between {lo:,} and {hi:,}, got {int(number):,}")
    return int(number)


def _size(value) -> int:
    size = _integer(value, "image size", min(DISPLAY_SIZES), max(DISPLAY_SIZES))
    if size not in DISPLAY_SIZES:
        raise AppError(f"image size must be one of {', '.join(map(str, DISPLAY_SIZES))}, got {size}")
    return size


def _world(name):
    if name not in WORLDS:
        raise AppError(f"unknown world {name!r}; choose one of {', '.join(WORLDS)}")
    return get_world(name)


def _world_at(name, size: int):
    """A preset world rendering at `size` px (the same prior, rescaled as World.replace does)."""
    world = _world(name)
    return world if world.image_size == size else world.replace(image_size=size)


# --- World tab ---------------------------------------------------------------------------
# Every handler returns the scene outputs: json, table, size, 2D and 3D renders, masks and depth
# (None when off), caption, relations, status.

N_SCENE_OUTPUTS = 12


def show_scene(scene: Scene, masks: bool = False, depth: bool = False, boxes: bool = False,
               note: str = "") -> tuple:
    """Everything the World tab shows for one scene, rendered in both views."""
    if len(scene.objects) > MAX_OBJECTS:
        raise AppError(f"at most {MAX_OBJECTS} objects, got {len(scene.objects)}")
    views = {v: render_panels(replace(scene, view=v), masks=masks, depth=depth, boxes=boxes) for v in ("2d", "3d")}
    status = f"✅ {len(scene.objects)} object{'s' * (len(scene.objects) != 1)} at {scene.height} px. {note}".strip()
    return (scene_to_json(scene), scene_to_rows(scene), scene.height,
            views["2d"]["image"], views["3d"]["image"],
            views["2d"].get("masks"), views["3d"].get("masks"),
            views["2d"].get("depth"), views["3d"].get("depth"),
            caption_markdown(scene), relations_markdown(scene), status)


def random_scene(world: str, seed, size, masks=False, depth=False, boxes=False) -> tuple:
    """'Random scene': a random scene index of the world and seed; returns (index, *scene outputs)."""
    return load_scene(world, seed, None, size, masks, depth, boxes)


@_friendly(N_SCENE_OUTPUTS + 1)
def load_scene(world: str, seed, index, size, masks=False, depth=False, boxes=False) -> tuple:
    """Scene `index` of `world` with `seed` at `size` px: the scene a dataset with these settings holds."""
    size, seed = _size(size), _integer(seed, "seed", 0, MAX_SEED)
    index = secrets.randbelow(100_000) if index is None else _integer(index, "scene index", 0, 10**9)
    scene = sample_scene(_world_at(world, size), seed, index)
    note = f"Scene {index} of world `{world}`, seed {seed}."
    return (index, *show_scene(scene, masks, depth, boxes, note))


@_friendly(N_SCENE_OUTPUTS)
def apply_json(text: str, size, masks=False, depth=False, boxes=False) -> tuple:
    """JSON edited: parse it and refresh the table and renders. The JSON's image size wins
    when it is one the app offers; otherwise the chosen size is used."""
    scene, note = parse_scene_json(text), ""
    if scene.image_size[0] != scene.image_size[1] or scene.height not in DISPLAY_SIZES:
        note = f"Image size {list(scene.image_size)} is not one of {list(DISPLAY_SIZES)}; showing {_size(size)} px."
        scene = resize_scene(scene, _size(size))
    return show_scene(scene, masks, depth, boxes, note)


@_friendly(N_SCENE_OUTPUTS)
def apply_table(rows, text: str, size, masks=False, depth=False, boxes=False) -> tuple:
    """Table edited: rebuild the scene's objects from the rows (keeping the rest of the JSON)."""
    try:
        base = parse_scene_json(text)
    except ValueError:
        base = Scene()                      # the JSON box is broken: start from the defaults
    return show_scene(resize_scene(rows_to_scene(rows, base), _size(size)), masks, depth, boxes)


@_friendly(N_SCENE_OUTPUTS)
def rerender(text: str, size, masks=False, depth=False, boxes=False) -> tuple:
    """Image size or a display toggle changed: render the current JSON at the chosen size."""
    return show_scene(resize_scene(parse_scene_json(text), _size(size)), masks, depth, boxes)


# --- Datasets tab ------------------------------------------------------------------------

def new_workdir() -> Path:
    """A fresh private directory for one request; directories of old requests are removed."""
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in WORK_ROOT.iterdir():
        try:
            if now - old.stat().st_mtime > WORK_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="req-", dir=WORK_ROOT))


def preview_gallery(world: str, seed: int, size: int, count: int = PREVIEW_COUNT) -> list[tuple[np.ndarray, str]]:
    """The first `count` scenes of the dataset, upscaled for display, with their captions."""
    scenes = sample_scenes(_world_at(world, size), seed, count)
    factor = display_factor(size, 128)
    return [(upscale(image, factor), f"{i}: {caption(s)}") for i, (s, image) in enumerate(zip(scenes, render(scenes)))]


@_friendly(4)
def generate_dataset(world: str, n, seed, size, fmt: str, progress=gr.Progress()):
    """Generate a dataset into a fresh temp directory, zip it, and preview its first scenes.
    Streams a status line per part of PART_SIZE scenes (Stop ends the job at the next part),
    then yields (gallery items, caption table rows, zip path, status)."""
    from worlds.datasets import generate

    _world(world)
    n = _integer(n, "number of scenes", 1, 10**12)
    if n > MAX_DATASET_SIZE:
        raise AppError(f"{n:,} scenes is more than this app makes (at most {MAX_DATASET_SIZE:,}); "
                       "for larger datasets use worlds.datasets.generate(...) from Python")
    seed, size = _integer(seed, "seed", 0, MAX_SEED), _size(size)
    if fmt not in FORMATS:
        raise AppError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    name = f"{world}-n{n}-seed{seed}-{size}px-{fmt}"
    work = new_workdir()
    progress((0, n), desc="Rendering scenes", unit="scenes")
    # one process per request: the queue already runs requests side by side
    task = stoppable(lambda report: generate(world, n, seed, work / name, fmt, image_size=size,
                                              part_size=PART_SIZE, progress=report, workers=1))
    try:
        while True:
            done, total = next(task)
            progress((done, total), desc="Rendering scenes", unit="scenes")
            yield gr.skip(), gr.skip(), gr.skip(), f"⏳ {done:,} of {total:,} scenes rendered"
    except StopIteration as finished:
        out = finished.value
    finally:
        task.close()
    progress(None)
    archive = shutil.make_archive(str(work / name), "zip", root_dir=Path(out).parent, base_dir=Path(out).name)
    shutil.rmtree(out, ignore_errors=True)
    size_b = Path(archive).stat().st_size
    human = f"{size_b / 1e6:.1f} MB" if size_b >= 1e6 else f"{size_b / 1e3:.0f} kB"
    gallery = preview_gallery(world, seed, size, min(n, PREVIEW_COUNT))
    rows = [text.split(": ", 1) for _, text in gallery]
    yield (gallery, [[int(i), text] for i, text in rows], archive,
           f"✅ {n:,} scenes of `{world}` (seed {seed}, {size} px, {fmt}): `{Path(archive).name}`, {human}.")


# --- Generate tab ------------------------------------------------------------------------
# The model families live in `playground`; `playground.app.views` turns them into pictures and notes.

GENERATE_DEFAULT = "diffusion"


def _views():
    from playground.app import views      # imports torch: only when a model tab is first used
    return views


def model_settings(name: str) -> tuple:
    """Model picked: its note, and which condition and sampler controls apply
    (shape, colour, caption, diffusion steps, guidance)."""
    from playground.models.pretrained import RECIPES

    try:
        note = _views().likelihood_note(name)
    except ValueError as err:
        return (f"⚠️ {err}", *[gr.update(visible=False)] * 5)
    recipe = RECIPES[name]
    diffusion = recipe.family == "diffusion"
    return (note, gr.update(visible=recipe.condition == "class"), gr.update(visible=recipe.condition == "class"),
            gr.update(visible=recipe.condition == "caption"), gr.update(visible=diffusion),
            gr.update(visible=diffusion and recipe.condition != "none"))


def _interpolates(name) -> bool:
    """Whether the model has a latent code to walk in (VAE, flow; not caption-conditional ones)."""
    from playground.models.pretrained import RECIPES

    recipe = RECIPES.get(name)
    return recipe is not None and recipe.family in ("vae", "flow") and recipe.condition != "caption"


@_friendly(2)
def generate_samples(name, n, seed, shape, color, text, steps, guidance):
    """Stream (grid, status) while the model (a shipped name, or a session's model) samples;
    errors become a status line and leave the last grid in place."""
    n = _integer(n, "number of samples", 1, _views().MAX_SAMPLES)
    seed = _integer(seed, "seed", 0, MAX_SEED)
    steps = None if steps is None else _integer(steps, "diffusion steps", 1, 1000)
    try:
        guidance = 1.0 if guidance is None else float(guidance)
    except (TypeError, ValueError):
        raise AppError(f"guidance: must be a number, got {guidance!r}") from None
    for grid, label in _views().sample_stream(name, n, seed, shape, color, text, steps, guidance):
        yield grid, f"⏳ {label}"
    which = f"`{name}`" if isinstance(name, str) else "your model"
    yield grid, f"✅ {n} samples of {which} (seed {seed}) · {label}"   # the final output holds the grid too


@_friendly(2)
def interpolate_latents(name: str, seed, frames) -> tuple:
    picture, label = _views().interpolation(name, _integer(seed, "seed", 0, MAX_SEED),
                                            _integer(frames, "frames", 2, _views().MAX_INTERPOLATION))
    return picture, f"✅ {label}"


# --- Train tab ---------------------------------------------------------------------------

@_friendly(3)
def train_model(family: str, world: str, condition: str, minutes, seed, progress=gr.Progress()):
    """Stream (session model, loss plot data, status) while a fresh model trains in this session,
    with a progress bar over the time budget."""
    import pandas as pd

    seed = _integer(seed, "seed", 0, MAX_SEED)
    try:
        minutes = float(minutes)
    except (TypeError, ValueError):
        raise AppError(f"minutes: must be a number, got {minutes!r}") from None
    budget = 60.0 * minutes
    progress(0.0, desc="Rendering the training scenes")
    for model, records, status in _views().train_stream(family, world, minutes, seed, condition):
        progress(min(1.0, records[-1]["seconds"] / budget), desc="Training")
        frame = pd.DataFrame({"step": [r["step"] for r in records], "loss": [r["loss"] for r in records]})
        yield model, frame, f"⏳ {status}"
    yield model, frame, f"✅ {status}. Press **Sample** to draw from it."


def sample_trained(model, n, seed, shape, color, text):
    """Samples of the model trained in this session (streamed like the Generate tab's)."""
    if model is None:
        yield gr.skip(), "⚠️ train a model first"
        return
    yield from generate_samples(model, n, seed, shape, color, text, None, 1.0)


# --- Inference tab -----------------------------------------------------------------------
# The handlers return: input, re-render, difference (enlarged), table rows, JSON, status.

N_INFERENCE_OUTPUTS = 6
# Pictures to read on the Inference tab: scene 7 of shapes2d and scene 5 of clevr3d (seed 0, 64 px),
# rendered by this library (tests/test_app.py checks that they still are, to the byte).
INFERENCE_EXAMPLES = {"shapes2d": Path(__file__).parent / "docs" / "examples" / "shapes2d-seed0-scene7.png",
                      "clevr3d": Path(__file__).parent / "docs" / "examples" / "clevr3d-seed0-scene5.png"}
INFERENCE_SOURCES = ("random scene", "upload", "drawing")


@_friendly(3)
def inference_random(world: str, seed):
    """'Render a random scene' of the encoder's world: the picture to read (kept in the session),
    shown enlarged, and a status line."""
    views = _views()
    encoder = views.encoder_for(world)
    seed = _integer(seed, "seed", 0, MAX_SEED)
    index = secrets.randbelow(100_000)
    scene = sample_scene(_world_at(world, encoder.config.image_size), seed, index)
    picture = render([scene])[0]
    return picture, upscale(picture, display_factor(picture.shape[0])), \
        f"✅ scene {index} of `{world}` (seed {seed}), {len(scene.objects)} objects: press **Read the scene**"


def _picture(source: str, random_picture, upload, drawing):
    """The picture the user chose to read, as an array or a PIL image."""
    if source == "random scene":
        if random_picture is None:
            raise AppError("press 'Render a random scene' first, or choose another source")
        return random_picture
    if source == "upload":
        return _views().open_picture(upload)
    if source == "drawing":
        layers = drawing if isinstance(drawing, dict) else {"composite": drawing}
        picture = layers.get("composite")
        if picture is None or np.asarray(picture).ndim != 3 or \
                (np.asarray(picture).shape[-1] == 4 and not np.asarray(picture)[..., 3].any()):
            raise AppError("the drawing is empty: draw some shapes first")
        return np.asarray(picture)
    raise AppError(f"source must be one of {', '.join(INFERENCE_SOURCES)}, got {source!r}")


@_friendly(N_INFERENCE_OUTPUTS)
def read_scene_ui(world: str, source: str, random_picture, upload, drawing, steps):
    """Stream what the encoder reads from the picture, then the analysis-by-synthesis steps."""
    views = _views()
    steps = _integer(steps, "refinement steps", 0, views.MAX_REFINE_STEPS)
    picture = _picture(source, random_picture, upload, drawing)
    for reading, step, total in views.read_picture(world, picture, steps):
        panels = views.reading_panels(reading)
        mark = "✅" if step is None or step == total else "⏳"
        yield (*panels, scene_to_rows(reading.scene), scene_to_json(reading.scene),
               f"{mark} {views.reading_summary(reading, step, total)}")


# --- Uncertainty tab ---------------------------------------------------------------------
# The decision view returns: figure, scores table, probe picture, probe text, status.

def _study(layout: str, seed, n, progress):
    progress(0.1, desc="Fitting 4 discriminative and 3 generative models (a few seconds, once per layout)")
    return _views().study_for(layout, _integer(seed, "seed", 0, MAX_SEED),
                              _integer(n, "training points", 20, _views().MAX_STUDY_POINTS))


@_friendly(5)
def uncertainty_ui(layout: str, seed, n, discriminative: str, generative: str, probe_x, probe_y,
                   progress=gr.Progress()):
    """The three panels (data, discriminative p(y|x), generative p(y|x) p(known|x)) with a probe point."""
    from playground.app.plots import decision_figure

    study = _study(layout, seed, n, progress)
    picture, text = _views().probe_report(study, probe_x, probe_y, discriminative, generative)
    figure = decision_figure(study, discriminative, generative, probe=(float(probe_x), float(probe_y)))
    return figure, _views().scores_markdown(study), picture, text, f"✅ `{layout}`: {len(study.train.scenes)} training scenes"


@_friendly(4)
def probe_ui(layout: str, seed, n, discriminative: str, generative: str, probe_x, probe_y, progress=gr.Progress()):
    """The probe moved: the figure with the star at its new place, its picture and its text."""
    from playground.app.plots import decision_figure

    study = _study(layout, seed, n, progress)
    picture, text = _views().probe_report(study, probe_x, probe_y, discriminative, generative)
    figure = decision_figure(study, discriminative, generative, probe=(float(probe_x), float(probe_y)))
    return figure, picture, text, f"✅ probe at ({float(probe_x):g}, {float(probe_y):g})"


@_friendly(6)
def plot_click_ui(clicked: str, layout: str, seed, n, discriminative: str, generative: str, progress=gr.Progress()):
    """A click on the decision plot (the browser writes '[x, y]'): move the probe there and show it."""
    import json

    try:
        x, y = (float(v) for v in json.loads(clicked))
    except (TypeError, ValueError):
        raise AppError(f"could not read the clicked point {clicked!r}") from None
    x, y = (round(min(max(v, -6.0), 6.0), 2) for v in (x, y))
    return (x, y, *probe_ui(layout, seed, n, discriminative, generative, x, y, progress))


# Plotly's click event, forwarded by the browser into a hidden textbox (gr.Plot has no click event).
PLOT_CLICK_JS = """
() => {
  const attach = () => document.querySelectorAll('#uncertainty-plot .js-plotly-plot').forEach((plot) => {
    if (plot.dataset.clickForwarded || !plot.on) return;
    plot.dataset.clickForwarded = '1';
    plot.on('plotly_click', (event) => {
      const point = event.points && event.points[0];
      const box = document.querySelector('#uncertainty-click textarea, #uncertainty-click input');
      if (!point || !box) return;
      box.value = JSON.stringify([point.x, point.y]);
      box.dispatchEvent(new Event('input', { bubbles: true }));
    });
  });
  new MutationObserver(attach).observe(document.body, { childList: true, subtree: true });
}
"""


@_friendly(3)
def data_point_ui(layout: str, seed, n, index, progress=gr.Progress()):
    study = _study(layout, seed, n, progress)
    return (*_views().data_point_report(study, index), "✅")


@_friendly(3)
def missing_ui(layout: str, seed, n, seen: str, discriminative: str, generative: str, progress=gr.Progress()):
    """p(y | one coordinate): generative marginalisation against discriminative mean imputation."""
    from playground.app.plots import missing_figure

    if seen not in MISSING_VIEWS:
        raise AppError(f"choose which coordinate is seen: {', '.join(MISSING_VIEWS)}")
    study = _study(layout, seed, n, progress)
    observed = MISSING_VIEWS[seen]
    figure = missing_figure(study, observed, (discriminative, generative))
    scores = study.scores()
    key = ("accuracy_x_only", "accuracy_y_only")[observed]
    text = (f"Test accuracy with both coordinates → with only **{seen}**:\n\n"
            + "\n".join(f"- {name} ({s['kind']}): {s['accuracy']:.3f} → **{s[key]:.3f}**"
                         for name, s in scores.items()))
    return figure, text, f"✅ `{layout}`, {seen}"


MISSING_VIEWS = {"x seen, y hidden": 0, "y seen, x hidden": 1}


@_friendly(6)
def attack_ui(index, eps, method: str, steps, seed):
    """Original, amplified noise, attacked picture, probabilities before/after, summary, status."""
    *panels, figure, text = _views().attack_view(index, eps, method, steps, seed)
    return (*panels, figure, text, "✅ attacked")


# --- Compare tab -------------------------------------------------------------------------
# The handlers return: table rows, figure, lecture-vs-measured Markdown, status.

def _comparison(result: dict) -> tuple:
    from playground.app.plots import comparison_figure

    return _views().evaluation_rows(result), comparison_figure(result), _views().lecture_markdown(result)


def _shipped_evaluation() -> dict:
    """The evaluation shipped with the code (`python -m playground.evaluation.compare --json playground/results/evaluation.json`)."""
    result = _views().shipped_evaluation()
    if result is None:
        raise AppError("no shipped evaluation: run python -m playground.evaluation.compare --json playground/results/evaluation.json")
    return result


@_friendly(4)
def compare_shipped():
    result = _shipped_evaluation()
    meta = result.get("meta", {})
    budget = meta.get("budget", {})
    return (*_comparison(result), f"✅ shipped evaluation: {budget.get('seeds', '?')} seeds × "
                                  f"{budget.get('minutes', '?')} min per family, {budget.get('samples', '?')} samples, "
                                  f"{meta.get('seconds', 0) / 60:.1f} min in all")


@_friendly(4)
def compare_live(families, minutes, seeds, samples, progress=gr.Progress()):
    """A small evaluation run here and now, one family at a time (Stop cancels between families)."""
    for result, done, total in _views().evaluation_stream(families, minutes, seeds, samples):
        progress(done / total, desc=f"{done} of {total} families evaluated")
        if result:
            yield (*_comparison(result), f"⏳ {done} of {total} families evaluated")
    yield (*_comparison(result), f"✅ live evaluation of {total} families ({seeds} seed(s) × {minutes} min each)")


# --- Learn tab ---------------------------------------------------------------------------
# Each lesson's live element is one call into the library (playground.app.learn) or another tab's handler.

@_friendly(3)
def learn_read_back(seed):
    from playground.app import learn

    return learn.read_back("shapes2d", _integer(seed, "seed", 0, MAX_SEED))


@_friendly(2)
def learn_decisions():
    from playground.app import learn
    from playground.app.plots import decision_figure

    return (decision_figure(learn.decision_study(), "logistic", "gmm", side=81),
            "✅ logistic regression vs per-class Gaussian mixtures")


@_friendly(2)
def learn_taxonomy(seed):
    from playground.app import learn

    return learn.taxonomy_samples(_integer(seed, "seed", 0, MAX_SEED)), "✅ one pass each"


@_friendly(2)
def learn_table():
    return _views().lecture_markdown(_shipped_evaluation()), "✅ the shipped evaluation (Compare tab for the plots)"


# --- examples ----------------------------------------------------------------------------

def _example(objects: list[dict], **settings) -> str:
    return scene_to_json(Scene(objects, **settings))


EXAMPLES = {
    "Red cube, blue cylinder": _example([
        {"shape": "cube", "color": "red", "position": [-1.0, 0.0], "size": "large", "rotation": 30},
        {"shape": "cylinder", "color": "blue", "position": [1.2, 0.5], "size": "small"}]),
    "Metal spheres": _example([
        {"shape": "sphere", "color": c, "position": [x, y], "size": s, "material": "metal"}
        for c, x, y, s in [("gray", -1.6, 0.8, 0.7), ("yellow", 0.0, -0.6, 0.5), ("cyan", 1.6, 0.9, 0.7),
                           ("purple", 0.3, 1.9, 0.35)]]),
    "CLEVR classic": _example([
        {"shape": "cylinder", "color": "green", "position": [-2.0, 1.5], "size": 0.7, "material": "metal"},
        {"shape": "cube", "color": "brown", "position": [0.0, 1.0], "size": 0.7, "rotation": 20},
        {"shape": "sphere", "color": "purple", "position": [1.8, 1.8], "size": 0.35},
        {"shape": "cube", "color": "gray", "position": [1.5, -1.5], "size": 0.35, "material": "metal", "rotation": 45},
        {"shape": "sphere", "color": "yellow", "position": [-1.0, -1.5], "size": 0.7}]),
    "Custom colours (hex)": _example([
        {"shape": "cube", "color": "#ff7f0e", "position": [-1.2, -0.4], "size": 0.6, "rotation": 10},
        {"shape": "sphere", "color": "#1f77b4", "position": [0.9, 0.6], "size": 0.6},
        {"shape": "cylinder", "color": "#2ca02c", "position": [0.2, -1.8], "size": 0.4}]),
    "A row of ten": _example([
        {"shape": ("cube", "cylinder", "sphere")[i % 3], "color": c, "position": [-3.0 + i * 2 / 3, 0.0], "size": 0.3}
        for i, c in enumerate(["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "black"])]),
}


# --- the UI ------------------------------------------------------------------------------

def build_demo() -> gr.Blocks:
    """The Blocks app (queued; call .launch() on it)."""
    # The first scene is rendered now, so the page opens complete (this also warms up numba).
    first = load_scene(DEFAULT_WORLD, 0, 0, 64)
    (_, first_json, first_rows, _, first_2d, first_3d, *_, first_caption, first_relations, first_status) = first
    with gr.Blocks(title="Toy World Playground", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs() as tabs:
            with gr.Tab("World", id="world"):
                with gr.Row():
                    world = gr.Dropdown(list(WORLDS), value=DEFAULT_WORLD, label="World", scale=2,
                                        info="A preset prior over scenes")
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                    index = gr.Number(0, label="Scene index", precision=0, minimum=0, scale=1)
                    size = gr.Radio(list(DISPLAY_SIZES), value=64, label="Image size (px)", scale=2)
                with gr.Row():
                    random_btn = gr.Button("🎲 Random scene", variant="primary", elem_id="world-random")
                    load_btn = gr.Button("Show scene (seed, index)")
                with gr.Row():
                    masks = gr.Checkbox(False, label="Instance masks")
                    depth = gr.Checkbox(False, label="Depth")
                    boxes = gr.Checkbox(False, label="Bounding boxes")
                status = gr.Markdown(first_status, elem_id="status")
                with gr.Row():
                    image_opts = dict(type="numpy", format="png", interactive=False, elem_classes="pixelated",
                                      buttons=["download", "fullscreen"])
                    render_2d = gr.Image(first_2d, label="2D (top-down)", elem_id="world-2d", **image_opts)
                    render_3d = gr.Image(first_3d, label="3D (perspective)", **image_opts)
                with gr.Row(visible=False) as masks_row:
                    masks_2d = gr.Image(label="2D instance masks", **image_opts)
                    masks_3d = gr.Image(label="3D instance masks", **image_opts)
                with gr.Row(visible=False) as depth_row:
                    depth_2d = gr.Image(label="2D depth (none: seen from straight above)", **image_opts)
                    depth_3d = gr.Image(label="3D depth (near = bright)", **image_opts)
                caption_md = gr.Markdown(first_caption)
                with gr.Accordion("Relation facts (what the conditional models are told)", open=False):
                    relations_md = gr.Markdown(first_relations, max_height=320)
                table = gr.Dataframe(first_rows, headers=list(TABLE_COLUMNS), type="array", interactive=True,
                                     datatype=["str", "str", "number", "number", "number", "number", "str"],
                                     column_count=len(TABLE_COLUMNS), show_row_numbers=True,
                                     label=f"Objects (edit a cell; at most {MAX_OBJECTS} rows)")
                gr.Markdown("**shape** cube / cylinder / sphere · **color** a name (gray, red, blue, green, "
                            "brown, purple, cyan, yellow, orange, pink, white, black) or `#rrggbb` · "
                            "**x, y** in −8..8 (the 3D camera sees about −4..4) · **size** radius in 0..3 "
                            "(small 0.35, large 0.7) · **rotation** degrees · **material** matte / metal")
                code = gr.Code(first_json, language="json", label="Scene JSON (edit, then press Apply JSON)",
                               lines=12, max_lines=30, wrap_lines=True)
                apply_btn = gr.Button("Apply JSON", elem_id="world-apply")
                examples = gr.Examples(list(EXAMPLES.values()), inputs=[code], label="Example scenes",
                                       example_labels=list(EXAMPLES), examples_per_page=len(EXAMPLES))

            with gr.Tab("Datasets"):
                gr.Markdown(f"Generate a dataset of up to {MAX_DATASET_SIZE:,} scenes and download it as a .zip. "
                            "Scene *i* depends only on the world, the seed and *i* (it is the same scene at every "
                            "image size), so the same settings always give the same files.")
                with gr.Row():
                    ds_world = gr.Dropdown(list(WORLDS), value="shapes2d", label="World", scale=2)
                    ds_n = gr.Number(256, label=f"Number of scenes (≤ {MAX_DATASET_SIZE:,})", precision=0,
                                     minimum=1, scale=1)
                    ds_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                with gr.Row():
                    ds_size = gr.Radio(list(DISPLAY_SIZES), value=64, label="Image size (px)")
                    ds_format = gr.Radio(list(FORMATS), value="imagefolder", label="Format")
                world_info = gr.Markdown(WORLDS["shapes2d"].description)
                with gr.Row():
                    generate_btn = gr.Button("Generate", variant="primary", elem_id="ds-generate")
                    ds_stop = gr.Button("Stop")
                gr.Examples([["shapes2d", 256, 0, 64, "imagefolder"], ["clevr3d", 64, 0, 128, "parquet"],
                             ["exact", 768, 0, 32, "npz"], ["clevr3d-cogent", 500, 7, 64, "imagefolder"]],
                            [ds_world, ds_n, ds_seed, ds_size, ds_format], label="Examples",
                            example_labels=["256 top-down scenes, as image folders", "64 CLEVR-like scenes, Parquet",
                                            "the whole exact world (768 scenes), NumPy",
                                            "500 scenes of CLEVR CoGenT (condition A), image folders"])
                ds_status = gr.Markdown(elem_id="ds-status")
                ds_file = gr.File(label="Dataset (.zip)", interactive=False, height=120)
                gallery = gr.Gallery(label=f"The first {PREVIEW_COUNT} scenes (click one to enlarge it)", elem_id="ds-gallery", columns=8, rows=2, height=340,
                                     format="png", elem_classes="pixelated", object_fit="contain")
                ds_captions = gr.Dataframe(headers=["scene", "caption"], datatype=["number", "str"], type="array",
                                           interactive=False, wrap=True, column_widths=["10%", "90%"],
                                           label="Their captions")

            with gr.Tab("Generate"):
                views = _views()                  # torch is imported from here on
                choices = views.model_choices()
                default_model = GENERATE_DEFAULT if any(n == GENERATE_DEFAULT for _, n in choices) else \
                    (choices[0][1] if choices else None)
                gr.Markdown("Sample from the shipped models of every family, trained on the `exact` world "
                            "(one object, 768 equally likely scenes at 32 px) by `python -m playground.models.pretrained`. "
                            "Conditional models learned `exact-holdout`, which never shows a red cylinder.")
                with gr.Row():
                    gen_model = gr.Dropdown(choices, value=default_model, label="Model", scale=3)
                    gen_n = gr.Slider(1, 64, value=16, step=1, label="Samples", scale=1)
                    gen_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                if default_model:
                    first_note, *first_shown = model_settings(default_model)
                    first_shown = [u.get("visible", False) for u in first_shown]
                else:
                    first_note, first_shown = "No shipped weights found: run `python -m playground.models.pretrained`.", [False] * 5
                gen_note = gr.Markdown(first_note)
                with gr.Row():
                    gen_shape = gr.Dropdown(list(SHAPES), value="cylinder", label="Shape", visible=first_shown[0])
                    gen_color = gr.Dropdown(list(COLOR_NAMES), value="red", label="Colour", visible=first_shown[1])
                    gen_text = gr.Textbox("a large red cylinder", label="Caption", visible=first_shown[2],
                                          info="words of the world's captions: small/large, colours, shapes")
                    gen_steps = gr.Slider(10, 1000, value=100, step=10, label="Diffusion steps", visible=first_shown[3],
                                          info="fewer steps sample faster (respaced DDPM)")
                    gen_guidance = gr.Slider(0, 6, value=2.0, step=0.5, label="Guidance", visible=first_shown[4],
                                             info="classifier-free guidance; 1 = plain conditional model")
                with gr.Row():
                    gen_btn = gr.Button("Generate", variant="primary", elem_id="gen-generate")
                    gen_stop = gr.Button("Stop")
                gr.Examples([["diffusion-caption", 16, 0, "cylinder", "red", "a large red cylinder", 100, 3.0],
                             ["gan-class", 16, 1, "cylinder", "red", "", 100, 1.0],
                             ["pixelcnn", 16, 0, "cube", "red", "", 100, 1.0],
                             ["vae", 64, 2, "cube", "red", "", 100, 1.0]],
                            [gen_model, gen_n, gen_seed, gen_shape, gen_color, gen_text, gen_steps, gen_guidance],
                            label="Examples",
                            example_labels=["a caption it never saw: 'a large red cylinder'",
                                            "a class it never saw: red cylinder (GAN)",
                                            "PixelCNN, pixel by pixel", "64 VAE samples"])
                gen_status = gr.Markdown(elem_id="gen-status")
                gen_grid = gr.Image(label="Samples (each 32 px image shown 4x)", elem_id="gen-grid", type="numpy", format="png",
                                    interactive=False, elem_classes="pixelated", buttons=["download", "fullscreen"])
                with gr.Accordion("Latent interpolation (VAE and flow)", open=False,
                                  visible=_interpolates(default_model)) as interp_box:
                    with gr.Row():
                        interp_seed = gr.Number(0, label="World seed (scenes 0 and 1 are the ends)", precision=0,
                                                minimum=0, maximum=MAX_SEED)
                        interp_frames = gr.Slider(2, 16, value=8, step=1, label="Frames")
                        interp_btn = gr.Button("Interpolate")
                    interp_status = gr.Markdown()
                    interp_image = gr.Image(label="A → B through the latent space", type="numpy", format="png",
                                            interactive=False, elem_classes="pixelated")

            with gr.Tab("Train"):
                gr.Markdown("Train a fresh model of any family on a 32 px world for a short budget, watch its loss, "
                            "then sample from it. The model lives in your session only.")
                with gr.Row():
                    tr_family = gr.Dropdown([(views.FAMILY_NAMES[f], f) for f in views.FAMILY_NAMES], value="vae",
                                            label="Family", scale=2)
                    tr_world = gr.Radio(list(views.TRAIN_WORLDS), value="exact", label="World", scale=2)
                    tr_condition = gr.Radio(["none", "class", "caption"], value="none", label="Condition", scale=2)
                    tr_minutes = gr.Slider(0.1, views.MAX_TRAIN_MINUTES, value=1.0, step=0.1, label="Minutes", scale=2,
                                           elem_id="tr-minutes")
                    tr_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                with gr.Row():
                    tr_btn = gr.Button("Train", variant="primary", elem_id="tr-train")
                    tr_stop = gr.Button("Stop")
                gr.Examples([["gan", "exact", "none", 0.5, 0], ["vae", "exact", "none", 1.0, 0],
                             ["diffusion", "exact-holdout", "class", 2.0, 0],
                             ["pixelcnn", "exact-holdout", "caption", 2.0, 0]],
                            [tr_family, tr_world, tr_condition, tr_minutes, tr_seed], label="Examples",
                            example_labels=["a GAN in 30 seconds", "a VAE in a minute",
                                            "class-conditional diffusion, red cylinders held out",
                                            "a PixelCNN that reads captions"])
                tr_status = gr.Markdown(elem_id="tr-status")
                tr_plot = gr.LinePlot(x="step", y="loss", title="Training loss", x_title="step",
                                      y_title="loss (the family's objective)", height=280)
                tr_model = gr.State(None)
                with gr.Row():
                    tr_n = gr.Slider(1, 64, value=16, step=1, label="Samples")
                    tr_sample_seed = gr.Number(0, label="Sample seed", precision=0, minimum=0, maximum=MAX_SEED)
                    tr_shape = gr.Dropdown(list(SHAPES), value="cube", label="Shape (class models)")
                    tr_color = gr.Dropdown(list(COLOR_NAMES), value="red", label="Colour (class models)")
                    tr_text = gr.Textbox("a small red cube", label="Caption (caption models)")
                tr_sample_btn = gr.Button("Sample from my model", elem_id="tr-sample")
                tr_sample_status = gr.Markdown(elem_id="tr-sample-status")
                tr_grid = gr.Image(label="Samples of your model", elem_id="tr-grid", type="numpy", format="png", interactive=False,
                                   elem_classes="pixelated")

            with gr.Tab("Inference", id="inference"):
                gr.Markdown("**Inference is vision**: an encoder trained on rendered scenes reads the scene back out of "
                            "a picture (a set of objects, matched to the truth by the Hungarian algorithm in training), "
                            "then **analysis by synthesis** refines it: render the guess, compare with the picture, and "
                            "follow the error's gradient (2D: a differentiable copy of the renderer; 3D: finite "
                            "differences of the ray tracer). The re-render error says how well the scene explains the "
                            "picture: a large one means *this is not a picture I can explain*.")
                with gr.Row():
                    inf_world = gr.Radio(list(views.ENCODERS), value="shapes2d", label="World the encoder learned", scale=2)
                    inf_source = gr.Radio(list(INFERENCE_SOURCES), value="random scene", label="Picture", scale=2)
                    inf_steps = gr.Slider(0, views.MAX_REFINE_STEPS, value=40, step=5, label="Refinement steps", scale=2,
                                          info="0 = the encoder's one-pass answer only")
                    inf_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                with gr.Row():
                    inf_random = gr.Button("🎲 Render a random scene")
                    inf_read = gr.Button("Read the scene", variant="primary", elem_id="inf-read")
                    inf_stop = gr.Button("Stop")
                    inf_send = gr.Button("Edit it in the World tab")
                inf_status = gr.Markdown(elem_id="inf-status")
                inf_picture = gr.State(None)
                with gr.Row():
                    inf_upload = gr.File(label="Upload a picture (PNG, JPEG, …)", file_types=["image"], type="filepath")
                    inf_draw = gr.Sketchpad(label="…or draw one (then choose 'drawing')", type="numpy",
                                            canvas_size=(256, 256), image_mode="RGBA")
                gr.Examples([["shapes2d", "upload", str(INFERENCE_EXAMPLES["shapes2d"]), 40],
                             ["clevr3d", "upload", str(INFERENCE_EXAMPLES["clevr3d"]), 20],
                             ["shapes2d", "upload", str(INFERENCE_EXAMPLES["clevr3d"]), 40]],
                            [inf_world, inf_source, inf_upload, inf_steps], label="Example pictures (then press Read)",
                            example_labels=["a top-down scene, 4 objects", "a CLEVR-like scene, 5 objects",
                                            "a 3D picture to the top-down encoder: it cannot explain it"])
                with gr.Row():
                    inf_opts = dict(type="numpy", format="png", interactive=False, elem_classes="pixelated")
                    inf_input = gr.Image(label="Picture (as the encoder sees it)", **inf_opts)
                    inf_render = gr.Image(label="Recovered scene, re-rendered", elem_id="inf-render", **inf_opts)
                    inf_diff = gr.Image(label="Difference (×4)", **inf_opts)
                inf_table = gr.Dataframe(headers=list(TABLE_COLUMNS), type="array", interactive=False,
                                         label="Recovered objects")
                inf_json = gr.Code(language="json", label="Recovered scene JSON", lines=8, max_lines=20)

            with gr.Tab("Uncertainty", id="uncertainty"):
                from playground.uncertainty import study as uncertainty
                gr.Markdown("**Discriminative vs generative.** Each point is a one-object scene: its feature is the "
                            "object's position on the ground, its label the object's colour, and each layout is a "
                            "world that puts the colours in different places. A discriminative model learns only "
                            "p(y|x) and is confidently certain far from any data; a generative model learns "
                            "p(x, y) = p(y) p(x|y), so it also knows p(x) and can say *I have not seen this* "
                            "(confidence p(y|x)·p(known|x), with p(known|x) = p(x) / (p(x) + a flat background)). "
                            "Hover a point for its probabilities.")
                with gr.Row():
                    un_layout = gr.Radio(list(uncertainty.LAYOUTS), value="blobs", label="Layout", scale=3)
                    un_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                    un_n = gr.Slider(20, 1000, value=400, step=10, label="Training points", scale=2)
                    un_disc = gr.Dropdown([(v, k) for k, v in uncertainty.DISCRIMINATIVE.items()], value="mlp", label="Discriminative model", scale=2)
                    un_gen = gr.Dropdown([(v, k) for k, v in uncertainty.GENERATIVE.items()], value="flow", label="Generative model", scale=2)
                gr.Examples([["blobs", 0, 400, "mlp", "flow"], ["moons", 0, 400, "svm", "kde"],
                             ["rings", 1, 600, "boosting", "flow"], ["overlapping", 0, 200, "logistic", "gmm"]],
                            [un_layout, un_seed, un_n, un_disc, un_gen], label="Examples (then press Fit and plot)",
                            example_labels=["three blobs: MLP vs flow", "two moons: SVM vs kernel density",
                                            "rings: boosting vs flow", "overlapping classes: logistic vs mixture"])
                un_status = gr.Markdown(elem_id="un-status")
                with gr.Tabs():
                    with gr.Tab("Decision uncertainty"):
                        with gr.Row():
                            un_px = gr.Slider(-6, 6, value=4.5, step=0.1, label="Probe x")
                            un_py = gr.Slider(-6, 6, value=4.5, step=0.1, label="Probe y")
                            un_btn = gr.Button("Fit and plot", variant="primary", elem_id="un-fit")
                            un_stop = gr.Button("Stop")
                        un_plot = gr.Plot(label="Data · discriminative decision · generative decision with uncertainty "
                                                "(click anywhere to move the probe there)", elem_id="uncertainty-plot")
                        un_click = gr.Textbox(elem_id="uncertainty-click", elem_classes="offscreen", show_label=False,
                                              container=False)
                        with gr.Row():
                            un_probe_img = gr.Image(label="The probe's scene",
                                                    type="numpy", format="png", interactive=False, height=256,
                                                    elem_classes="pixelated")
                            un_probe_md = gr.Markdown(elem_id="un-probe")
                        with gr.Row():
                            un_index = gr.Number(0, label="Show training point #", precision=0, minimum=0)
                            un_point_btn = gr.Button("Show its scene")
                        with gr.Row():
                            un_point_img = gr.Image(label="Training point's scene", type="numpy", format="png",
                                                    interactive=False, height=256, elem_classes="pixelated")
                            un_point_md = gr.Markdown()
                        un_scores = gr.Markdown()
                    with gr.Tab("Missing data"):
                        gr.Markdown("Hide one coordinate. The generative model sums it out, "
                                    "p(y | x₁) ∝ p(y) ∫ p(x₁, x₂ | y) dx₂, and still predicts; the discriminative "
                                    "model has no such sum and must be fed a guess (the training mean).")
                        with gr.Row():
                            un_seen = gr.Radio(list(MISSING_VIEWS), value="x seen, y hidden", label="What is seen")
                            un_miss_btn = gr.Button("Plot", variant="primary")
                        un_miss_plot = gr.Plot(label="p(y | the seen coordinate)")
                        un_miss_md = gr.Markdown()
                    with gr.Tab("Adversarial"):
                        gr.Markdown("**A little noise flips a label** (the lecture's Fig. 1.1). A small CNN, trained "
                                    "by the shared loop, names the shape in an `exact`-world picture. FGSM moves every "
                                    "subpixel by ±ε grey levels along the sign of the loss gradient; PGD takes many "
                                    "small such steps, staying within ε. Does a likelihood model notice?")
                        with gr.Row():
                            adv_scenes = views.attack_scenes()
                            adv_index = gr.Slider(0, adv_scenes - 1, value=0, step=1, label="Exact-world scene",
                                                  scale=3)
                            adv_random = gr.Button("🎲", scale=0, min_width=60)
                            adv_method = gr.Radio([("FGSM", "fgsm"), ("PGD", "pgd")], value="fgsm", label="Attack",
                                                  scale=1)
                            adv_eps = gr.Slider(0, views.MAX_ATTACK_EPS, value=4, step=1, label="ε (grey levels)",
                                                scale=2)
                            adv_steps = gr.Slider(1, views.MAX_ATTACK_STEPS, value=10, step=1, label="PGD steps",
                                                  scale=2)
                            adv_btn = gr.Button("Attack", variant="primary", scale=1)
                        with gr.Row():
                            adv_opts = dict(type="numpy", format="png", interactive=False, height=256,
                                            elem_classes="pixelated")
                            adv_original = gr.Image(label="Clean picture", **adv_opts)
                            adv_noise = gr.Image(label="Noise, amplified (grey = 0)", **adv_opts)
                            adv_attacked = gr.Image(label="Attacked picture", **adv_opts)
                        with gr.Row():
                            adv_plot = gr.Plot(label="p(shape | picture)")
                            adv_md = gr.Markdown()

            with gr.Tab("Compare", id="compare"):
                gr.Markdown("**The lecture's Table 1.1, measured.** Every family trained for the same budget on the "
                            "same data of the `exact` world, three seeds each, then scored: training stability "
                            "(spread of the final loss over seeds, diverged runs, loss-curve roughness = total "
                            "variation ÷ net fall), likelihood (bits/dim and the gap to the world's true entropy), "
                            "sampling speed, compression (ideal code length vs PNG; PixelCNN's real rANS code), "
                            "representation (a linear probe from the code to the scene's factors), and what only a "
                            "known world allows: the fraction of samples that *are* world images, their attribute "
                            "distribution's distance from the prior, and how much of the world they cover.")
                with gr.Row():
                    cmp_show = gr.Button("Show the shipped evaluation", variant="primary", elem_id="cmp-show")
                    cmp_families = gr.CheckboxGroup(list(views.FAMILY_NAMES), value=["gan", "vae"],
                                                    label="Families for a live run", scale=3)
                    cmp_minutes = gr.Slider(0.05, views.MAX_LIVE_MINUTES, value=0.1, step=0.05,
                                            label="Training minutes per run")
                    cmp_seeds = gr.Slider(1, 3, value=1, step=1, label="Seeds")
                    cmp_samples = gr.Slider(16, views.MAX_LIVE_SAMPLES, value=64, step=16, label="Samples")
                with gr.Row():
                    cmp_live = gr.Button("Run a quick evaluation here")
                    cmp_stop = gr.Button("Stop")
                gr.Examples([[["gan", "vae"], 0.1, 1, 64], [["pixelcnn", "flow", "diffusion"], 0.2, 1, 64],
                             [list(views.FAMILY_NAMES), 0.1, 2, 32]],
                            [cmp_families, cmp_minutes, cmp_seeds, cmp_samples], label="Live-run examples",
                            example_labels=["GAN vs VAE, 6 s each", "the likelihood families, 12 s each",
                                            "every family, two seeds"])
                cmp_status = gr.Markdown(elem_id="cmp-status")
                cmp_plot = gr.Plot(label="Speed, likelihood and samples")
                cmp_table = gr.Dataframe(headers=list(views.EVALUATION_HEADERS), elem_id="cmp-table", type="array", interactive=False,
                                         label="Measured, per family")
                cmp_lecture = gr.Markdown()

            with gr.Tab("Learn", id="learn"):
                from playground.app import learn
                gr.Markdown("Four ideas of the lecture, each with a live element from the other tabs.")
                gr.Markdown(learn.LESSONS["generation vs inference"])
                with gr.Row():
                    ln_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
                    ln_read_btn = gr.Button("Render a scene, then read it back", variant="primary", scale=2, elem_id="ln-read-btn")
                with gr.Row():
                    ln_opts = dict(type="numpy", format="png", interactive=False, elem_classes="pixelated", height=256)
                    ln_drawn = gr.Image(label="Generation: the scene rendered", **ln_opts)
                    ln_read = gr.Image(label="Inference: what the encoder read, rendered again", **ln_opts)
                    ln_read_md = gr.Markdown(elem_id="ln-read")
                gr.Examples([[0], [7], [42]], [ln_seed], label="Seeds to try", example_labels=["seed 0", "seed 7", "seed 42"])
                gr.Markdown(learn.LESSONS["discriminative vs generative"])
                ln_dec_btn = gr.Button("Show both decision maps", variant="primary", elem_id="ln-dec-btn")
                ln_dec_status = gr.Markdown(elem_id="ln-dec-status")
                ln_dec_plot = gr.Plot(label="Data · discriminative p(y|x) · generative p(y|x)·p(known|x)")
                gr.Markdown(learn.LESSONS["the taxonomy"])
                ln_tax_btn = gr.Button("Sample every fast family", variant="primary", elem_id="ln-tax-btn")
                ln_tax_status = gr.Markdown(elem_id="ln-tax-status")
                ln_tax = gr.Gallery(label="Samples (shipped models of the exact world)", elem_id="ln-tax", columns=3, height=260,
                                    object_fit="contain")
                gr.Markdown(learn.LESSONS["the table"])
                ln_table_btn = gr.Button("Show the measured table", variant="primary", elem_id="ln-table-btn")
                ln_table_status = gr.Markdown(elem_id="ln-table-status")
                ln_table = gr.Markdown(elem_id="ln-table")

        # --- wiring ---------------------------------------------------------------------
        scene_outputs = [code, table, size, render_2d, render_3d, masks_2d, masks_3d, depth_2d, depth_3d,
                         caption_md, relations_md, status]
        toggles = [masks, depth, boxes]
        random_btn.click(random_scene, [world, seed, size, *toggles], [index, *scene_outputs], api_name="random_scene")
        load_btn.click(load_scene, [world, seed, index, size, *toggles], [index, *scene_outputs],
                       api_name="load_scene")
        world.input(load_scene, [world, seed, index, size, *toggles], [index, *scene_outputs],
                    api_visibility="private")
        apply_btn.click(apply_json, [code, size, *toggles], scene_outputs, api_name="render")
        examples.load_input_event.then(apply_json, [code, size, *toggles], scene_outputs, api_visibility="private")
        table.input(apply_table, [table, code, size, *toggles], scene_outputs, api_name="apply_table",
                    trigger_mode="always_last")
        size.input(rerender, [code, size, *toggles], scene_outputs, api_visibility="private")
        for toggle in toggles:
            toggle.input(rerender, [code, size, *toggles], scene_outputs, api_visibility="private")
        masks.change(lambda on: gr.Row(visible=on), masks, masks_row, api_visibility="private", queue=False)
        depth.change(lambda on: gr.Row(visible=on), depth, depth_row, api_visibility="private", queue=False)

        ds_world.change(lambda w: WORLDS[w].description if w in WORLDS else "", ds_world, world_info,
                        api_visibility="private", queue=False)
        ds_event = generate_btn.click(generate_dataset, [ds_world, ds_n, ds_seed, ds_size, ds_format],
                                      [gallery, ds_captions, ds_file, ds_status], api_name="generate_dataset",
                                      concurrency_limit=1, concurrency_id="datasets")
        ds_stop.click(None, None, None, cancels=[ds_event], queue=False)
        gen_model.change(model_settings, gen_model, [gen_note, gen_shape, gen_color, gen_text, gen_steps, gen_guidance],
                         api_visibility="private")
        gen_model.change(lambda name: gr.Accordion(visible=_interpolates(name)), gen_model, interp_box,
                         api_visibility="private", queue=False)
        gen_event = gen_btn.click(generate_samples, [gen_model, gen_n, gen_seed, gen_shape, gen_color, gen_text,
                                                     gen_steps, gen_guidance], [gen_grid, gen_status],
                                  api_name="generate", concurrency_limit=2, concurrency_id="models")
        gen_stop.click(None, None, None, cancels=[gen_event], queue=False)
        interp_btn.click(interpolate_latents, [gen_model, interp_seed, interp_frames], [interp_image, interp_status],
                         api_name="interpolate", concurrency_limit=2, concurrency_id="models")
        train_event = tr_btn.click(train_model, [tr_family, tr_world, tr_condition, tr_minutes, tr_seed],
                                   [tr_model, tr_plot, tr_status], api_name="train", concurrency_limit=1,
                                   concurrency_id="training")
        tr_stop.click(None, None, None, cancels=[train_event], queue=False)
        tr_sample_btn.click(sample_trained, [tr_model, tr_n, tr_sample_seed, tr_shape, tr_color, tr_text],
                            [tr_grid, tr_sample_status], api_name="sample_trained", concurrency_limit=2,
                            concurrency_id="models")
        inf_random.click(inference_random, [inf_world, inf_seed], [inf_picture, inf_input, inf_status],
                         api_name="random_picture")
        inf_event = inf_read.click(read_scene_ui, [inf_world, inf_source, inf_picture, inf_upload, inf_draw, inf_steps],
                                   [inf_input, inf_render, inf_diff, inf_table, inf_json, inf_status],
                                   api_name="read_scene", concurrency_limit=2, concurrency_id="models")
        inf_stop.click(None, None, None, cancels=[inf_event], queue=False)
        inf_upload.upload(lambda: "upload", None, inf_source, api_visibility="private", queue=False)
        inf_draw.input(lambda: "drawing", None, inf_source, api_visibility="private", queue=False)
        inf_send.click(apply_json, [inf_json, size, *toggles], scene_outputs, api_visibility="private").then(
            lambda: gr.Tabs(selected="world"), None, tabs, api_visibility="private", queue=False)
        study_inputs = [un_layout, un_seed, un_n]
        un_event = un_btn.click(uncertainty_ui, [*study_inputs, un_disc, un_gen, un_px, un_py],
                                [un_plot, un_scores, un_probe_img, un_probe_md, un_status], api_name="uncertainty",
                                concurrency_limit=2, concurrency_id="models")
        un_stop.click(None, None, None, cancels=[un_event], queue=False)
        for control in (un_px, un_py):
            control.release(probe_ui, [*study_inputs, un_disc, un_gen, un_px, un_py],
                            [un_plot, un_probe_img, un_probe_md, un_status],
                            api_visibility="private", trigger_mode="always_last")
        un_click.change(plot_click_ui, [un_click, *study_inputs, un_disc, un_gen],
                       [un_px, un_py, un_plot, un_probe_img, un_probe_md, un_status], api_visibility="private",
                       trigger_mode="always_last")
        demo.load(None, None, None, js=PLOT_CLICK_JS)
        un_point_btn.click(data_point_ui, [*study_inputs, un_index], [un_point_img, un_point_md, un_status],
                           api_name="uncertainty_point")
        un_miss_btn.click(missing_ui, [*study_inputs, un_seen, un_disc, un_gen], [un_miss_plot, un_miss_md, un_status],
                          api_name="missing_data", concurrency_limit=2, concurrency_id="models")
        adv_inputs = [adv_index, adv_eps, adv_method, adv_steps, un_seed]
        adv_outputs = [adv_original, adv_noise, adv_attacked, adv_plot, adv_md, un_status]
        adv_btn.click(attack_ui, adv_inputs, adv_outputs, api_name="attack", concurrency_limit=2,
                      concurrency_id="models")
        adv_random.click(lambda: secrets.randbelow(adv_scenes), None, adv_index, api_visibility="private", queue=False).then(
            attack_ui, adv_inputs, adv_outputs, api_visibility="private")
        adv_eps.release(attack_ui, adv_inputs, adv_outputs, api_visibility="private", trigger_mode="always_last")
        cmp_outputs = [cmp_table, cmp_plot, cmp_lecture, cmp_status]
        cmp_show.click(compare_shipped, None, cmp_outputs, api_name="shipped_evaluation")
        cmp_event = cmp_live.click(compare_live, [cmp_families, cmp_minutes, cmp_seeds, cmp_samples], cmp_outputs,
                                   api_name="evaluate", concurrency_limit=1, concurrency_id="training")
        cmp_stop.click(None, None, None, cancels=[cmp_event], queue=False)
        ln_read_btn.click(learn_read_back, ln_seed, [ln_drawn, ln_read, ln_read_md], api_name="learn_read_back",
                          concurrency_limit=2, concurrency_id="models")
        ln_dec_btn.click(learn_decisions, None, [ln_dec_plot, ln_dec_status], api_name="learn_decisions",
                         concurrency_limit=2, concurrency_id="models")
        ln_tax_btn.click(learn_taxonomy, ln_seed, [ln_tax, ln_tax_status], api_name="learn_taxonomy",
                         concurrency_limit=2, concurrency_id="models")
        ln_table_btn.click(learn_table, None, [ln_table, ln_table_status], api_name="learn_table")
    demo.queue(default_concurrency_limit=2)
    return demo


def launch(app: gr.Blocks, **kwargs):
    """Serve the app with its look (the tests and benchmarks launch it through here too)."""
    # uploads beyond the Inference tab's cap are refused before they reach the disk
    return app.launch(css=CSS, theme=gr.themes.Soft(), max_file_size=_views().MAX_UPLOAD_BYTES, **kwargs)


demo = build_demo()

if __name__ == "__main__":
    launch(demo)
