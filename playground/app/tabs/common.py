"""What the tabs share: bad input as a status line (`friendly`, `AppError`), the checks of UI fields,
status marks, the components several tabs make the same way, Stop buttons, examples, the app's CSS."""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
import time
from functools import wraps
from pathlib import Path

import gradio as gr
import gradio.processing_utils as gradio_cache

from playground.app.scene_table import DISPLAY_SIZES
from worlds import WORLDS, get_world
from worlds.scene import brief

log = logging.getLogger("toyworld.app")

MAX_SEED = 2**31 - 1
PROGRESS = gr.Progress()  # a handler's `progress=PROGRESS` gets a progress bar of its own request

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
#status { min-height: 1.5em; }
.offscreen { position: absolute !important; left: -9999px; width: 1px; height: 1px; overflow: hidden; }
.lecture-table td:first-child { overflow-wrap: normal; word-break: normal; white-space: nowrap; }
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
        raise AppError(f"{name}: must be a whole number, got {brief(value)}") from None
    if not number.is_integer():
        raise AppError(f"{name}: must be a whole number, got {brief(value)}")
    if not lo <= number <= hi:
        raise AppError(f"{name}: must be between {lo:,} and {hi:,}, got {int(number):,}")
    return int(number)


def seed(value) -> int:
    return integer(value, "seed", 0, MAX_SEED)


def number(value, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AppError(f"{name}: must be a number, got {brief(value)}") from None


def size(value) -> int:
    """An image size the app offers."""
    side = integer(value, "image size", min(DISPLAY_SIZES), max(DISPLAY_SIZES))
    if side not in DISPLAY_SIZES:
        raise AppError(f"image size must be one of {', '.join(map(str, DISPLAY_SIZES))}, got {side}")
    return side


def world(name):
    """A preset world by name."""
    if name not in WORLDS:
        raise AppError(f"unknown world {brief(name)}; choose one of {', '.join(WORLDS)}")
    return get_world(name)


def world_at(name, side: int):
    """A preset world rendering at `side` px (the same prior, rescaled as World.replace does)."""
    preset = world(name)
    return preset if preset.image_size == side else preset.replace(image_size=side)


def views():
    """playground.app.views, imported on first use: it imports torch."""
    from playground.app import views as module

    return module


def scene_views():
    """playground.app.scenes (the scene level's views), imported on first use: it imports torch."""
    from playground.app import scenes as module

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


# --- Stop -------------------------------------------------------------------------------------------
# Gradio's `cancels` kills a streaming event mid-air: the page then marks its outputs "Error" and the last
# status line stays "⏳ …" as if the job were still running. Instead, Stop only records that it was pressed
# (per browser session and job), and the job's handler (wrapped by `stop_with_button`) sees it between two of its
# updates, stops its work and says so itself: "⏹ stopped at <its last ⏳ line>".

_PRESSED: dict[tuple[str, str], float] = {}  # (session, job) -> when its Stop was last pressed


def stopped(text: str | None, note: str = "") -> str:
    """The status line of a job stopped while its status read `text` (its last ⏳ line)."""
    where = (text or "").strip().removeprefix("⏳").strip() or "its start"
    return f"⏹ stopped at {where}{note}"


def stop_with_button(job: str, n_outputs: int, note: str = "", clear: tuple[int, ...] = ()):
    """Let the Stop button of `job` (`stop_button`) end this streaming handler between two of its updates:
    its work is closed (a worker thread ends at its next step), its status becomes `stopped(...)` + `note`,
    the outputs at positions `clear` are emptied (they would show a half-made result as the run's) and the
    others kept. The handler's last output is its status; Gradio passes the session in `request`."""

    def decorate(fn):
        parameters = list(inspect.signature(fn).parameters.values())

        @wraps(fn)
        def wrapper(*args, **kwargs):
            # Gradio passes the request positionally, after the handler's own parameters (see below)
            request = kwargs.pop("request", args[len(parameters)] if len(args) > len(parameters) else None)
            args = args[: len(parameters)]
            session, begun, busy = getattr(request, "session_hash", None), time.monotonic(), None
            stream = fn(*args, **kwargs)
            try:
                for out in stream:
                    if isinstance(out[-1], str) and out[-1].startswith("⏳"):
                        busy = out[-1]
                    yield out
                    if session is not None and _PRESSED.get((session, job), 0.0) > begun:
                        kept = [None if k in clear else gr.skip() for k in range(n_outputs - 1)]
                        yield (*kept, stopped(busy, note))
                        return
            finally:
                stream.close()  # on Stop: the handler's own clean-up (workers end, files close)

        # Gradio hands a gr.Request to a positional parameter annotated with it: add one after the handler's
        request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        wrapper.__signature__ = inspect.Signature([*parameters, request])
        wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
        return wrapper

    return decorate


def stop_button(button: gr.Button, job: str) -> None:
    """Pressing `button` stops the session's running `job` (a handler wrapped by `stop_with_button(job, ...)`)."""

    def press(request: gr.Request):
        _PRESSED[(request.session_hash, job)] = time.monotonic()
        while len(_PRESSED) > 10_000:  # the oldest presses go
            _PRESSED.pop(next(iter(_PRESSED)))

    button.click(press, None, None, queue=False, api_visibility="private")
