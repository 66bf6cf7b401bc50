"""What the tabs share: bad input as a status line (`friendly`, `AppError`), the checks of UI fields,
status marks, the components several tabs make the same way, Stop buttons, examples, the app's CSS."""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
from functools import wraps
from pathlib import Path

import gradio as gr
import gradio.processing_utils as gradio_cache

from playground.app.scene_table import DISPLAY_SIZES
from worlds import WORLDS, get_world

log = logging.getLogger("toyworld.app")

MAX_SEED = 2**31 - 1
PROGRESS = gr.Progress()  # a handler's `progress=PROGRESS` gets a progress bar of its own request

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
#status { min-height: 1.5em; }
.offscreen { position: absolute !important; left: -9999px; width: 1px; height: 1px; overflow: hidden; }
"""


def theme() -> gr.themes.Base:
    return gr.themes.Soft()


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
        os.replace(part, path)  # readers see all of the file or none of it
    return str(path)


gradio_cache.save_pil_to_cache = _save_pil_to_cache


# --- status lines and errors -------------------------------------------------------------------


def done(text: str) -> str:
    return f"✅ {text}"


def busy(text: str) -> str:
    return f"⏳ {text}"


def warning(text: str) -> str:
    return f"⚠️ {text}"


class AppError(ValueError):
    """Bad input to the app, with a message for the user."""


def friendly(n_outputs: int):
    """Turn any exception of the wrapped handler into a warning toast and a status line.

    The handler's last output is the status Markdown; on failure every other output is
    left as it was (gr.skip()), so a typo never wipes the user's scene.
    """

    def failed(fn, err) -> tuple:
        if isinstance(err, ValueError):  # SceneError, WorldError, DatasetError, AppError
            message = str(err)
        else:  # a bug: log it, but show no traceback
            log.exception("handler %s failed", fn.__name__)
            message = f"something went wrong ({type(err).__name__}: {err})"
        gr.Warning(message)
        return (*[gr.skip()] * (n_outputs - 1), warning(message))

    def decorate(fn):
        if inspect.isgeneratorfunction(fn):  # a streaming handler: its last yield reports the error

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


# --- the checks of UI fields ---------------------------------------------------------------------


def integer(value, name: str, lo: int, hi: int) -> int:
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


def seed(value) -> int:
    return integer(value, "seed", 0, MAX_SEED)


def number(value, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AppError(f"{name}: must be a number, got {value!r}") from None


def size(value) -> int:
    """An image size the app offers."""
    side = integer(value, "image size", min(DISPLAY_SIZES), max(DISPLAY_SIZES))
    if side not in DISPLAY_SIZES:
        raise AppError(f"image size must be one of {', '.join(map(str, DISPLAY_SIZES))}, got {side}")
    return side


def world(name):
    """A preset world by name."""
    if name not in WORLDS:
        raise AppError(f"unknown world {name!r}; choose one of {', '.join(WORLDS)}")
    return get_world(name)


def world_at(name, side: int):
    """A preset world rendering at `side` px (the same prior, rescaled as World.replace does)."""
    preset = world(name)
    return preset if preset.image_size == side else preset.replace(image_size=side)


def views():
    """playground.app.views, imported on first use: it imports torch."""
    from playground.app import views as module

    return module


# --- components and events several tabs make the same way -----------------------------------------


def picture(label: str | None = None, value=None, **options) -> gr.Image:
    """A picture the app shows (never edited): PNG, pixels kept sharp when enlarged."""
    return gr.Image(
        value, label=label, type="numpy", format="png", interactive=False, elem_classes="pixelated", **options
    )


def seed_field(label: str = "Seed", **options) -> gr.Number:
    # no precision, minimum or maximum: Gradio would round 1.5 silently or refuse -5 with a bare "Error";
    # the handler's check (`seed`) names the field and its range in the status line instead
    return gr.Number(0, label=label, **options)


def examples(rows: dict[str, list], inputs: list, label: str = "Examples", **options) -> gr.Examples:
    """gr.Examples from {label shown: the inputs' values}."""
    return gr.Examples(list(rows.values()), inputs, label=label, example_labels=list(rows), **options)


def stops(button: gr.Button, event) -> None:
    """Pressing `button` cancels `event`, a streaming handler (it stops at its next yield)."""
    button.click(None, None, None, cancels=[event], queue=False)
