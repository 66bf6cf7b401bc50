"""The Datasets tab's files, as plain functions (no gradio): a private work directory per request,
a generated dataset zipped there, and the preview of its first scenes.

    for done, total, archive in write_dataset("shapes2d", 256, 0, 64, "npz"):
        ...                                     # archive is None until the last item
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np

from worlds import caption, render, sample_scenes
from worlds.images import display_factor, upscale

from .tasks import stoppable

WORK_ROOT = Path(tempfile.gettempdir()) / "toyworld-app"  # one fresh sub-directory per request
WORK_TTL_S = 3600  # request directories older than this are removed
PREVIEW_COUNT = 16  # scenes shown in the dataset preview gallery


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


def dataset_name(world: str, n: int, seed: int, size: int, fmt: str) -> str:
    return f"{world}-n{n}-seed{seed}-{size}px-{fmt}"


def write_dataset(world: str, n: int, seed: int, size: int, fmt: str, part_size: int):
    """Generate a dataset into a fresh work directory and zip it there. Yields (done, total, None)
    after each part of `part_size` scenes, then (n, n, zip path). Closing the generator (the app's
    Stop) ends the work at its next part."""
    from worlds.datasets import generate

    work, name = new_workdir(), dataset_name(world, n, seed, size, fmt)
    # one process per request: the queue already runs requests side by side
    with closing(
        stoppable(
            lambda report: generate(
                world, n, seed, work / name, fmt, image_size=size, part_size=part_size, progress=report, workers=1
            )
        )
    ) as task:
        while True:
            try:
                done, total = next(task)
            except StopIteration as finished:
                out = Path(finished.value)
                break
            yield done, total, None
    archive = shutil.make_archive(str(work / name), "zip", root_dir=out.parent, base_dir=out.name)
    shutil.rmtree(out, ignore_errors=True)
    yield n, n, Path(archive)


def human_size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} kB"


def preview_gallery(world, seed: int, count: int = PREVIEW_COUNT) -> list[tuple[np.ndarray, str]]:
    """The first `count` scenes of a dataset of `world` (a World, at the dataset's image size), upscaled
    for display, with their captions ('i: caption')."""
    scenes = sample_scenes(world, seed, count)
    factor = display_factor(world.image_size, 128)
    return [(upscale(image, factor), f"{i}: {caption(s)}") for i, (s, image) in enumerate(zip(scenes, render(scenes)))]


def caption_rows(gallery: list[tuple[np.ndarray, str]]) -> list[list]:
    """The gallery's captions as [index, caption] table rows."""
    return [[int(i), text] for i, text in (label.split(": ", 1) for _, label in gallery)]
