"""The Datasets tab: generate a reproducible dataset, preview its first scenes, download it as a .zip."""

from __future__ import annotations

from contextlib import closing

import gradio as gr

from playground.app.dataset_files import PREVIEW_COUNT, caption_rows, human_size, preview_gallery, write_dataset
from playground.app.scene_table import DISPLAY_SIZES
from worlds import WORLDS

from . import common
from .common import AppError, friendly

MAX_DATASET_SIZE = 5_000  # scenes per dataset generated in the app
PART_SIZE = 250  # scenes per part file: the progress bar moves once per part
FORMATS = ("imagefolder", "parquet", "npz")


@friendly(4)
@common.stop_with_button("datasets", 4, " · no dataset was made")
def generate_dataset(world: str, n, seed, size, fmt: str, progress=common.PROGRESS):
    """Generate a dataset into a fresh temp directory, zip it, and preview its first scenes.
    Streams a status line per part of PART_SIZE scenes (Stop ends the job at the next part),
    then yields (gallery items, caption table rows, zip path, status)."""
    common.world(world)
    n = common.integer(n, "number of scenes", 1, 10**12)
    if n > MAX_DATASET_SIZE:
        raise AppError(
            f"{n:,} scenes is more than this app makes (at most {MAX_DATASET_SIZE:,}); "
            "for larger datasets use worlds.datasets.generate(...) from Python"
        )
    seed, size = common.seed(seed), common.size(size)
    if fmt not in FORMATS:
        raise AppError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    progress((0, n), desc="Rendering scenes", unit="scenes")
    with closing(write_dataset(world, n, seed, size, fmt, PART_SIZE)) as parts:  # Stop closes it
        for done, total, archive in parts:
            if archive is None:
                progress((done, total), desc="Rendering scenes", unit="scenes")
                # the first report empties the last dataset's outputs: none of them is this run's
                kept = gr.skip() if done else None
                yield kept, kept, kept, common.busy(f"{done:,} of {total:,} scenes rendered")
    progress(None)
    gallery = preview_gallery(common.world_at(world, size), seed, min(n, PREVIEW_COUNT))
    yield (
        gallery,
        caption_rows(gallery),
        str(archive),
        common.done(
            f"{n:,} scenes of `{world}` (seed {seed}, {size} px, {fmt}): `{archive.name}`, "
            f"{human_size(archive.stat().st_size)}."
        ),
    )


def build() -> None:
    with gr.Tab("Datasets"):
        gr.Markdown(
            f"Generate a dataset of up to {MAX_DATASET_SIZE:,} scenes and download it as a .zip. "
            "Scene *i* depends only on the world, the seed and *i* (it is the same scene at every "
            "image size), so the same settings always give the same files."
        )
        with gr.Row():
            world = gr.Dropdown(list(WORLDS), value="shapes2d", label="World", scale=2)
            n = gr.Number(256, label=f"Number of scenes (≤ {MAX_DATASET_SIZE:,})", scale=1, elem_id="ds-n")
            seed = common.seed_field(scale=1)
        with gr.Row():
            size = gr.Radio(list(DISPLAY_SIZES), value=64, label="Image size (px)")
            fmt = gr.Radio(list(FORMATS), value="imagefolder", label="Format")
        world_info = gr.Markdown(WORLDS["shapes2d"].description)
        with gr.Row():
            generate_btn = gr.Button("Generate", variant="primary", elem_id="ds-generate")
            stop_btn = gr.Button("Stop", elem_id="ds-stop")
        common.examples(
            {
                "256 top-down scenes, as image folders": ["shapes2d", 256, 0, 64, "imagefolder"],
                "64 CLEVR-like scenes, Parquet": ["clevr3d", 64, 0, 128, "parquet"],
                "the whole exact world (768 scenes), NumPy": ["exact", 768, 0, 32, "npz"],
                "500 scenes of CLEVR CoGenT (condition A), image folders": [
                    "clevr3d-cogent",
                    500,
                    7,
                    64,
                    "imagefolder",
                ],
            },
            [world, n, seed, size, fmt],
        )
        status = gr.Markdown(elem_id="ds-status")
        file = gr.File(label="Dataset (.zip)", interactive=False, height=120)
        gallery = gr.Gallery(
            label=f"The first {PREVIEW_COUNT} scenes (click one to enlarge it)",
            elem_id="ds-gallery",
            columns=8,
            rows=2,
            height=340,
            format="png",
            elem_classes="pixelated",
            object_fit="contain",
        )
        captions = gr.Dataframe(
            headers=["scene", "caption"],
            datatype=["number", "str"],
            type="array",
            interactive=False,
            wrap=True,
            column_widths=["10%", "90%"],
            label="Their captions",
        )

    world.change(
        lambda w: WORLDS[w].description if w in WORLDS else "", world, world_info, api_visibility="private", queue=False
    )
    generate_btn.click(
        generate_dataset,
        [world, n, seed, size, fmt],
        [gallery, captions, file, status],
        api_name="generate_dataset",
        concurrency_limit=1,
        concurrency_id="datasets",
    )
    common.stop_button(stop_btn, "datasets")
