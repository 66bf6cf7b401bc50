"""The app's tabs: their handler functions, called directly (tests/test_client.py calls the served app)."""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
from playground.app import dataset_files, views  # noqa: E402
from playground.app.scene_table import EXAMPLES, TABLE_COLUMNS, scene_to_json  # noqa: E402
from playground.app.tabs import (  # noqa: E402
    common,
    compare,
    datasets,
    generate,
    inference,
    learn,
    train,
    uncertainty,
    world,
)
from worlds import Scene, render, sample_scene  # noqa: E402

# gr.Warning outside a request warns; the model tabs run small torch models: one thread is faster on a busy machine
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.usefixtures("one_thread")]

# Positions in the scene outputs (see scene_table.scene_view).
JSON, TABLE, SIZE, R2D, R3D, M2D, M3D, D2D, D3D, CAPTION, RELATIONS, STATUS = range(12)


@pytest.fixture(scope="module", autouse=True)
def _renderer_started():
    """The renderer's first parallel render resets torch's thread count: do it before `one_thread` sets it."""
    render([sample_scene("shapes2d", 0, 0)])


def _final(stream) -> tuple:
    """The last output of a streaming handler."""
    return list(stream)[-1]


def _is_skip(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def test_number_fields_leave_range_checks_to_the_handlers():
    """Gradio would round 1.5 to 2 silently, or answer -5 with a bare "Error" toast and a traceback in the
    log; without precision, minimum or maximum, the handler's check names the field and its range."""
    import gradio as gr

    import app

    numbers = [b for b in app.demo.blocks.values() if isinstance(b, gr.Number)]
    assert numbers and all(b.precision is None and b.minimum is None and b.maximum is None for b in numbers)
    for seed, index, words in (
        (-5, 0, "seed: must be between 0"),
        (1.5, 0, "seed: must be a whole number, got 1.5"),
        (0, -3, "scene index: must be between 0"),
    ):
        *outputs, status = world.load_scene("clevr3d", seed, index, 64)
        assert status.startswith("⚠️") and words in status, status
        assert all(_is_skip(v) for v in outputs)  # the scene on screen stays


def test_the_always_flat_2d_depth_panel_is_not_shown():
    import gradio as gr

    import app

    panels = {b.label: b for b in app.demo.blocks.values() if isinstance(b, gr.Image) and b.label}
    assert panels["2D depth (none: seen from straight above)"].visible is False
    assert panels["3D depth (near = bright)"].visible is not False


def test_build_demo_has_its_tabs():
    import app  # builds app.demo with build_demo()

    demo = app.demo
    assert isinstance(demo, gr.Blocks)
    labels = {getattr(block, "label", None) for block in demo.blocks.values()}
    assert {"World", "Datasets", "Generate", "Train", "Inference", "Uncertainty", "Compare", "Learn"} <= labels


def test_random_scene_renders_both_views():
    index, *out = world.random_scene("clevr3d", 0, 64)
    assert 0 <= index < 100_000
    scene = Scene.from_json(out[JSON])
    assert scene == sample_scene(common.world_at("clevr3d", 64), 0, index)
    assert len(out[TABLE]) == len(scene.objects) and all(len(r) == len(TABLE_COLUMNS) for r in out[TABLE])
    assert out[SIZE] == 64
    for image in (out[R2D], out[R3D]):
        assert image.dtype == np.uint8 and image.shape == (256, 256, 3)
    assert out[R2D].std() > 0 and out[R3D].std() > 0
    assert out[M2D] is None and out[D3D] is None
    assert "Caption" in out[CAPTION] and out[RELATIONS] and out[STATUS].startswith("✅")


def test_load_scene_is_reproducible():
    a = world.load_scene("shapes2d", 3, 7, 32)
    b = world.load_scene("shapes2d", 3, 7, 32)
    assert a[0] == 7 and a[1 + JSON] == b[1 + JSON]
    assert Scene.from_json(a[1 + JSON]).image_size == (32, 32)
    assert a[1 + R2D].shape == (256, 256, 3)  # 32 px upscaled 8x


def test_json_edit_updates_table_and_renders():
    text = scene_to_json(
        Scene(
            [
                {"shape": "cube", "color": "red", "position": [1, 0], "size": 0.7},
                {"shape": "sphere", "color": "#1f77b4", "position": [-1, 1], "size": "small"},
            ]
        )
    )
    out = world.apply_json(text, 128)
    assert out[TABLE] == [
        ["cube", "red", 1.0, 0.0, 0.7, 0.0, "matte"],
        ["sphere", "#1f77b4", -1.0, 1.0, 0.35, 0.0, "matte"],
    ]
    assert out[SIZE] == 64  # the JSON's own image size wins
    assert out[R3D].shape == (256, 256, 3)
    assert "large red cube" in out[CAPTION]
    assert "a large red cube to the right of a small blue sphere" in out[RELATIONS]


def test_table_edit_updates_json():
    text = world.apply_json(EXAMPLES["Red cube, blue cylinder"], 64)[JSON]
    rows = [list(r) for r in world.apply_json(text, 64)[TABLE]]
    rows[1][1], rows[1][4] = "green", 1.0
    rows.append(["sphere", "#ff0000", 0, -2, "small", "", "metal"])
    out = world.apply_table(rows, text, 64)
    data = json.loads(out[JSON])
    assert data["objects"][0] == json.loads(text)["objects"][0]  # untouched row stays exact
    assert data["objects"][1]["color"] == "green" and data["objects"][1]["size"] == 1.0
    assert data["objects"][2] == {
        "shape": "sphere",
        "color": [255, 0, 0],
        "position": [0.0, -2.0],
        "size": 0.35,
        "rotation": 0.0,
        "material": "metal",
    }
    assert out[STATUS].startswith("✅")


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "malformed JSON"),
        ("", "empty"),
        ('{"objects": [{"shape": "cube", "color": "mauve"}]}', "unknown colour name 'mauve'"),
        ('{"objects": [{"shape": "cube", "size": -1}]}', "objects[0].size: must be > 0, got -1.0"),
        ('{"objects": [{"shape": "cube", "position": [20, 0]}]}', "must be <= 8"),
        (json.dumps({"objects": [{"shape": "cube"}] * 11}), "at most 10 objects"),
    ],
)
def test_bad_json_gives_a_friendly_message(text, message):
    out = world.apply_json(text, 64)
    assert len(out) == 12
    assert out[STATUS].startswith("⚠️") and message in out[STATUS]
    assert all(_is_skip(v) for v in out[:STATUS])  # the previous scene stays on screen


def test_bad_table_names_row_and_column():
    text = EXAMPLES["Red cube, blue cylinder"]
    rows = [["cube", "red", 0, 0, 0.7, 0, "matte"], ["cube", "red", 1, 1, -1, 0, "matte"]]
    assert "row 2, size: must be > 0, got -1.0" in world.apply_table(rows, text, 64)[STATUS]
    rows[1][4], rows[1][1] = 0.5, "mauve"
    assert "row 2, color" in world.apply_table(rows, text, 64)[STATUS]
    assert "at most 10 objects" in world.apply_table([rows[0]] * 11, text, 64)[STATUS]
    # a broken JSON box does not stop a table edit
    assert world.apply_table(rows[:1], "{oops", 64)[STATUS].startswith("✅")
    # every bad cell is named, not only the first, and a pasted essay is not echoed back whole
    rows = [["cube", "red", "x" * 5000, 0, "huge", 0, "matte"], ["sphere", "mauve", 1, 2, 0.5, 0, "wood"]]
    status = world.apply_table(rows, text, 64)[STATUS]
    for field in ("row 1, x", "row 1, size", "row 2, color", "row 2, material"):
        assert field in status
    assert len(status) < 600 and "…" in status


def test_a_table_edit_the_browser_sends_twice_is_handled_once():
    class Request:
        session_hash = "one-session"

    text = EXAMPLES["Red cube, blue cylinder"]
    rows = [["cube", "red", "abc", 0, 0.7, 0, "matte"]]
    first = world.apply_table(rows, text, 64, request=Request())
    again = world.apply_table(rows, text, 64, request=Request())  # Gradio 6.31 sends a committed edit twice
    assert "row 1, x" in first[STATUS] and all(_is_skip(v) for v in again)
    Request.session_hash = "another-session"  # another user's same edit is theirs to see
    assert "row 1, x" in world.apply_table(rows, text, 64, request=Request())[STATUS]


def test_bad_controls_give_friendly_messages():
    assert "unknown world" in world.load_scene("nope", 0, 0, 64)[-1]
    assert "seed" in world.load_scene("clevr3d", -1, 0, 64)[-1]
    assert "image size" in world.rerender(EXAMPLES["Metal spheres"], 48)[-1]


@pytest.mark.parametrize("masks, depth, boxes", [(True, False, False), (False, True, False), (True, True, True)])
def test_toggles_give_images_of_the_right_shape(masks, depth, boxes):
    out = world.rerender(EXAMPLES["CLEVR classic"], 128, masks, depth, boxes)
    for i, on in [(M2D, masks), (M3D, masks), (D2D, depth), (D3D, depth)]:
        if on:
            assert out[i].dtype == np.uint8 and out[i].shape == (256, 256, 3)
        else:
            assert out[i] is None
    plain = world.rerender(EXAMPLES["CLEVR classic"], 128)
    assert np.array_equal(plain[R3D], out[R3D]) != boxes
    if masks:
        assert len(np.unique(out[M3D].reshape(-1, 3), axis=0)) == 5 + 1  # 5 objects + ground
    if depth:
        assert len(np.unique(out[D2D].reshape(-1, 3), axis=0)) == 1  # the 2D view has no depth
        assert len(np.unique(out[D3D].reshape(-1, 3), axis=0)) > 10


def test_generate_dataset_gives_a_zip_and_a_gallery():
    calls = []

    class Progress:
        def __call__(self, value, *args, **kwargs):
            calls.append(value)

    stream = list(datasets.generate_dataset("shapes2d", 8, 0, 32, "npz", progress=Progress()))
    assert [out[-1] for out in stream[:2]] == ["⏳ 0 of 8 scenes rendered", "⏳ 8 of 8 scenes rendered"]
    assert stream[0][:3] == (None, None, None)  # the last dataset's gallery, captions and file are not this one's
    assert all(_is_skip(v) for v in stream[1][:3])
    gallery, rows, archive, status = stream[-1]
    assert status.startswith("✅"), status
    path = Path(archive)
    assert path.suffix == ".zip" and path.is_file() and path.parent.parent == dataset_files.WORK_ROOT
    with zipfile.ZipFile(path) as z:
        assert z.namelist() and z.testzip() is None
    assert len(gallery) == 8
    image, text = gallery[0]
    assert image.shape == (128, 128, 3) and text.startswith("0: ")
    assert rows[0] == [0, text[3:]] and len(rows) == 8
    assert any(isinstance(c, tuple) and c[0] == 8 for c in calls)  # fed from the progress callback
    # another request never shares the directory
    _, _, other, _ = _final(datasets.generate_dataset("shapes2d", 8, 0, 32, "npz", progress=Progress()))
    assert Path(other).parent != path.parent


def test_stopping_a_dataset_ends_its_work_at_the_next_part(monkeypatch):
    monkeypatch.setattr(datasets, "PART_SIZE", 10)
    stream = datasets.generate_dataset("shapes2d", 200, 0, 32, "npz")
    assert [next(stream)[-1] for _ in range(2)] == ["⏳ 0 of 200 scenes rendered", "⏳ 10 of 200 scenes rendered"]
    worker = next(t for t in threading.enumerate() if t.name == "toyworld-task")
    stream.close()  # what Gradio's Stop does to a streaming handler
    worker.join(timeout=30)
    assert not worker.is_alive()
    parts = list(dataset_files.WORK_ROOT.glob("req-*/shapes2d-n200-*/*part*"))
    assert len(parts) < 200 // 10  # it stopped instead of finishing unseen


def test_dataset_size_is_capped():
    gallery, rows, archive, status = _final(
        datasets.generate_dataset("shapes2d", datasets.MAX_DATASET_SIZE + 1, 0, 32, "npz")
    )
    assert _is_skip(gallery) and _is_skip(archive)
    assert "at most 5,000" in status
    assert "format" in _final(datasets.generate_dataset("shapes2d", 8, 0, 32, "tfrecord"))[-1]
    assert "number of scenes" in _final(datasets.generate_dataset("shapes2d", 0, 0, 32, "npz"))[-1]


def test_inference_reads_a_random_scene_and_refines_it():
    picture, shown, status = inference.inference_random("shapes2d", 3)
    assert picture.shape == (64, 64, 3) and shown.shape == (256, 256, 3) and status.startswith("✅")
    out = list(inference.read_scene_ui("shapes2d", "random scene", picture, None, None, 10))
    assert len(out) >= 2  # the encoder's answer, then refinement frames
    *panels, rows, text, status = out[-1]
    assert all(p.shape == (256, 256, 3) for p in panels)
    scene = Scene.from_json(text)
    assert len(rows) == len(scene.objects) and "object" in status and "RMSE" in status
    first_rmse = float(out[0][-1].split("RMSE **")[1].split("**")[0])
    last_rmse = float(status.split("RMSE **")[1].split("**")[0])
    assert last_rmse <= first_rmse  # refinement never makes the answer worse


def test_inference_marks_done_only_a_picture_it_explains():
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    *_, status = list(inference.read_scene_ui("shapes2d", "random scene", noise, None, None, 0))[-1]
    assert status.startswith("❓") and "not one I can explain" in status and "✅" not in status
    example = str(inference.INFERENCE_EXAMPLES["shapes2d"])  # a render of a shapes2d scene: explained
    *_, status = list(inference.read_scene_ui("shapes2d", "upload", None, example, None, 0))[-1]
    assert status.startswith("✅") and "explains the picture" in status


def test_a_decompression_bomb_is_too_large_in_plain_words(tmp_path, monkeypatch):
    from PIL import Image

    from playground.app.views import open_picture

    bomb = tmp_path / "bomb.png"
    Image.new("L", (100, 100)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels is then a bomb
    with pytest.raises(ValueError, match="too large: 10,000 pixels; the limit is 2,000"):
        open_picture(str(bomb))


def test_inference_reports_bad_pictures(tmp_path):
    from PIL import Image

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    huge = tmp_path / "huge.png"
    Image.new("L", (5000, 4)).save(huge)
    text = tmp_path / "notes.png"
    text.write_text("a shopping list, not a picture")
    cases = [
        ("upload", None, None, "no picture"),
        ("upload", str(corrupt), None, "damaged or cut short"),
        ("upload", str(text), None, "this file is not an image"),
        ("upload", str(huge), None, "largest side"),
        ("drawing", None, {"composite": np.zeros((8, 8, 4), np.uint8)}, "drawing is empty"),
        ("random scene", None, None, "random scene"),
    ]
    for source, upload, drawing, message in cases:
        *outputs, status = list(inference.read_scene_ui("shapes2d", source, None, upload, drawing, 0))[-1]
        assert status.startswith("⚠️") and message in status, (source, status)
        assert str(tmp_path) not in status and "Error" not in status  # plain words, no internals
        assert all(_is_skip(v) for v in outputs)  # what was shown stays
    *_, status = list(
        inference.read_scene_ui("shapes2d", "random scene", np.zeros((8, 8, 3), np.uint8), None, None, 999)
    )[-1]
    assert "refinement steps" in status


@pytest.mark.parametrize("world, index", [("shapes2d", 7), ("clevr3d", 5)])
def test_inference_example_pictures_are_renders_of_their_scenes(world, index):
    from PIL import Image

    with Image.open(inference.INFERENCE_EXAMPLES[world]) as im:
        shipped = np.asarray(im.convert("RGB"))
    assert np.array_equal(shipped, render([sample_scene(common.world_at(world, 64), 0, index)])[0])


def test_inference_reads_a_drawing():
    drawing = np.zeros((256, 256, 4), np.uint8)  # the sketchpad: transparent, with a red square
    drawing[100:160, 60:120] = (200, 30, 30, 255)
    *_, rows, text, status = list(
        inference.read_scene_ui("shapes2d", "drawing", None, None, {"composite": drawing}, 0)
    )[-1]
    assert not status.startswith("⚠️") and "RMSE" in status
    assert len(rows) == len(Scene.from_json(text).objects)


@pytest.mark.parametrize("world_name", list(views.ENCODERS))
def test_inference_canvas_starts_on_the_worlds_ground_with_its_palette(world_name):
    from PIL import Image

    from worlds import get_world
    from worlds.scene import color_rgb

    preset = get_world(world_name)
    canvas = inference.drawing_canvas(world_name)
    with Image.open(canvas.value["background"]["path"]) as im:
        ground = np.asarray(im.convert("RGB"))
    assert ground.shape[0] % preset.image_size == 0 and ground.shape[0] >= 4 * preset.image_size
    empty = render([Scene([], **{**preset.scene_settings(), "image_size": ground.shape[0]})])[0]
    assert np.array_equal(ground, empty)  # the ground the renderer draws, unchanged on its way (png)
    if preset.view == "2d":
        assert (ground == color_rgb(preset.background)).all()
    palette = ["#{:02x}{:02x}{:02x}".format(*color_rgb(c)) for c in preset.colors]
    assert canvas.brush.colors == palette and canvas.brush.color_mode == "fixed"
    assert canvas.brush.default_color in palette and 5 <= canvas.brush.default_size <= ground.shape[0] // 8
    drawing = {"background": ground, "layers": [np.zeros((*ground.shape[:2], 4), np.uint8)], "composite": ground}
    with pytest.raises(ValueError, match="drawing is empty"):  # the ground alone is no drawing
        views.chosen_picture("drawing", None, None, drawing)


def test_inference_reads_a_palette_disc_on_the_ground():
    ground = views.canvas_ground("shapes2d")
    side, r = ground.shape[0], 2 * views.canvas_brush_radius("shapes2d")  # a large object's radius
    i, j = np.mgrid[:side, :side]
    disc = (i - side / 2) ** 2 + (j - side / 2) ** 2 <= r**2
    layer = np.zeros((side, side, 4), np.uint8)
    layer[disc] = (173, 35, 35, 255)  # the palette's red
    composite = np.dstack([np.where(disc[..., None], layer[..., :3], ground), np.full((side, side), 255, np.uint8)])
    picture = views.chosen_picture(
        "drawing", None, None, {"background": ground, "layers": [layer], "composite": composite}
    )
    *_, (reading, _, _) = views.read_picture("shapes2d", picture, 0)
    assert reading.explained and [(o.shape, o.color) for o in reading.scene.objects] == [("cylinder", "red")]


def test_inference_reads_odd_picture_modes(tmp_path):
    from PIL import Image

    with Image.open(inference.INFERENCE_EXAMPLES["shapes2d"]) as im:  # a render the encoder explains
        picture = np.asarray(im.convert("RGB"))
    for mode in ("RGBA", "L", "P"):
        path = tmp_path / f"scene-{mode}.png"
        Image.fromarray(picture).convert(mode).save(path)
        *_, status = list(inference.read_scene_ui("shapes2d", "upload", None, str(path), None, 0))[-1]
        assert status[0] in "✅❓" and "RMSE" in status, (mode, status)  # read, not refused
        if mode == "RGBA":  # lossless: the same picture, explained (grey levels and a web palette change colours)
            assert status.startswith("✅"), status
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise)
    *_, status = list(inference.read_scene_ui("shapes2d", "upload", None, str(noise), None, 0))[-1]
    assert "not one I can explain" in status


def test_generate_streams_a_grid_and_reports_bad_input():
    out = list(generate.generate_samples("gan", 4, 0, None, None, None, 100, 1.0))
    grid, status = out[0]
    assert isinstance(grid, np.ndarray) and grid.shape[2] == 3
    assert out[-1][1].startswith("✅")
    for args, message in [
        (("gan", 0, 0), "number of samples"),
        (("gan", 4, -1), "seed"),
        (("nope", 4, 0), "unknown model"),
    ]:
        *_, (picture, status) = generate.generate_samples(*args, None, None, None, 100, 1.0)
        assert _is_skip(picture) and message in status
    *_, (_, status) = generate.generate_samples("vae-class", 2, 0, "pyramid", "red", None, 100, 1.0)
    assert "pick a shape" in status


def test_model_settings_show_the_right_controls():
    note, shape, color, text, steps, guidance, mode = generate.model_settings("vae-class")
    assert "bound" in note and "red cylinder" in note and shape["visible"] and color["visible"]
    assert not text["visible"] and not steps["visible"] and not guidance["visible"]
    assert mode["visible"]  # a VAE offers its mode image
    note, shape, color, text, steps, guidance, mode = generate.model_settings("gan")
    assert "no likelihood" in note and not any(u["visible"] for u in (shape, color, text, steps, guidance, mode))
    assert generate.model_settings("rbm")[-1]["visible"]  # the RBM and the VAE offer their mode image
    assert generate.model_settings("nope")[0].startswith("⚠️")


def test_train_tab_trains_then_samples_in_the_session():
    first, *during, (model, frame, button, status) = train.train_model("gan", "exact", "none", 0.03, 0)
    assert first[0] is None and not first[1].data[0].x and not first[2].interactive  # the last run goes; no Sample
    assert all(m is None and not b.interactive for m, _, b, _ in during)
    assert status.startswith("✅") and len(frame.data[0].x) >= 1 and frame.layout.xaxis.title.text == "step"
    assert button.interactive  # Sample is offered once the model is finished
    out = list(train.sample_trained(model, 4, 0, None, None, None))
    assert isinstance(out[0][0], np.ndarray) and out[-1][1].startswith("✅")
    *_, (_, status) = train.sample_trained(None, 4, 0, None, None, None)
    assert "train a model first" in status
    *_, (_, _, _, status) = train.train_model("gan", "clevr3d", "none", 1, 0)
    assert "the app trains on" in status


def test_interpolation_walks_between_two_scenes():
    picture, status = generate.interpolate_latents("vae", 0, 4)
    assert picture.shape[1] > picture.shape[0] and status.startswith("✅")
    assert "no latent code" in generate.interpolate_latents("gan", 0, 4)[1]


def _quiet_progress(*args, **kwargs):
    return None


def test_uncertainty_tab_plots_the_three_panels_and_the_probe(small_studies):
    first, *_, last = uncertainty.uncertainty_ui("blobs", 0, 60, "logistic", "gmm", 5.5, -5.5, progress=_quiet_progress)
    assert first[-1].startswith("⏳") and all(_is_skip(o) for o in first[:-1])  # Stop can tell it was running
    figure, scores, picture, probe, status = last
    assert status.startswith("✅") and "AUROC" in scores and "| Gaussian mixture" in scores
    assert sum(t.type == "heatmap" for t in figure.data) == 2 * 3
    assert picture.shape == (256, 256, 3)
    assert "outside the world's ground" in probe and "has not seen data here" in probe
    moved, _, inside, _ = uncertainty.probe_ui("blobs", 0, 60, "logistic", "gmm", -1.6, -1.0, progress=_quiet_progress)
    assert "has seen data like this" in inside
    assert [t.x[0] for t in moved.data if t.name == "probe point"] == [-1.6] * 3
    # a click on a training point (the browser sends its coordinates) moves the probe onto that very scene
    study = views.study_for("blobs", 0, 60)
    x, y = study.train.features[7]
    px, py, _, picture, text, status = uncertainty.plot_click_ui(
        f"[{x}, {y}]", "blobs", 0, 60, "logistic", "gmm", progress=_quiet_progress
    )
    assert (px, py) == (round(x, 2), round(y, 2)) and "Training point 7" in text and status.startswith("✅")
    assert (
        "could not read"
        in uncertainty.plot_click_ui("[oops", "blobs", 0, 60, "logistic", "gmm", progress=_quiet_progress)[-1]
    )
    point, text, _ = uncertainty.data_point_ui("blobs", 0, 60, 2, progress=_quiet_progress)
    assert point.shape == (256, 256, 3) and "Training point 2" in text


def test_missing_data_view_compares_marginalising_with_imputing(small_studies):
    figure, text, status = uncertainty.missing_ui(
        "blobs", 0, 60, "x seen, y hidden", "mlp", "kde", progress=_quiet_progress
    )
    assert status.startswith("✅") and "kde (generative)" in text and "→" in text
    assert any("marginalised" in (t.name or "") for t in figure.data)


@pytest.mark.parametrize(
    "args, message",
    [
        (("spirals", 0, 60, "mlp", "flow", 0, 0), "unknown layout"),
        (("blobs", 0, 10**6, "mlp", "flow", 0, 0), "training points: must be between"),
        (("blobs", 0, 60, "mlp", "flow", 99, 0), "probe x: must be between"),
        (("blobs", 0, 60, "forest", "flow", 0, 0), "unknown model 'forest'"),
        (("blobs", -1, 60, "mlp", "flow", 0, 0), "seed: must be between"),
    ],
)
def test_uncertainty_tab_reports_bad_input(args, message, small_studies):
    *_, out = uncertainty.uncertainty_ui(*args, progress=_quiet_progress)
    assert message in out[-1] and all(_is_skip(o) for o in out[:-1])


def test_adversarial_view_flips_a_label_and_checks_the_likelihood():
    original, noise, attacked, figure, text, status = uncertainty.attack_ui(5, 8, "pgd", 10, 0)
    assert status.startswith("✅") and original.shape == noise.shape == attacked.shape == (256, 256, 3)
    assert not np.array_equal(original, attacked)
    assert np.abs(original.astype(int) - attacked.astype(int)).max() <= 8  # within ε, upscaled or not
    assert [t.type for t in figure.data] == ["bar", "bar"]
    assert "flipped" in text and "∞ (impossible)" in text
    clean = uncertainty.attack_ui(5, 0, "fgsm", 10, 0)
    assert np.array_equal(clean[0], clean[2]) and "not flipped" in clean[4] and "∞" not in clean[4]


@pytest.mark.parametrize(
    "args, message",
    [
        ((5, 99, "fgsm", 10, 0), "ε: must be between"),
        ((10**4, 4, "fgsm", 10, 0), "scene must be"),
        ((5, 4, "carlini", 10, 0), "unknown attack"),
        ((5, 4, "pgd", 10**4, 0), "PGD steps"),
    ],
)
def test_adversarial_view_reports_bad_input(args, message):
    out = uncertainty.attack_ui(*args)
    assert message in out[-1] and all(_is_skip(o) for o in out[:-1])


def test_compare_tab_shows_the_shipped_evaluation():
    rows, figure, lecture, status = compare.compare_shipped()
    assert status.startswith("✅ shipped evaluation") and len(rows) == 7
    assert {r[0] for r in rows} == {"pixelcnn", "flow", "vae", "gan", "rbm", "ebm", "diffusion"}
    assert len(figure.data) == 4 and figure.layout.title.text and lecture.count("\n") == 8


def test_compare_tab_runs_a_live_evaluation_and_reports_bad_input():
    steps = list(compare.compare_live(["gan"], 0.01, 1, 16, progress=_quiet_progress))
    rows, figure, lecture, status = steps[-1]
    assert status.startswith("✅") and rows[0][0] == "gan" and len(rows[0]) == 17  # bits: upper and lower columns
    assert [t.type for t in figure.data][:1] == ["bar"] and "| gan | unstable →" in lecture
    assert "choose at least one family" in next(compare.compare_live([], 0.1, 1, 16, progress=_quiet_progress))[-1]
    assert "minutes per run" in list(compare.compare_live(["gan"], 9, 1, 16, progress=_quiet_progress))[-1][-1]


def test_learn_gallery_shows_its_captions_in_two_row_grids():
    """Gradio 6 draws a gallery item's caption at the bottom of its square thumbnail: a fixed height shorter than
    the squares hid it (tests/test_browser.py looks at the page)."""
    import app
    from playground.app.learn import two_rows
    from worlds.images import image_grid

    gallery = next(b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "ln-tax")
    assert isinstance(gallery, gr.Gallery) and gallery.height is None
    tiles = np.arange(8 * 3 * 3 * 3, dtype=np.uint8).reshape(8, 3, 3, 3)
    assert np.array_equal(two_rows(image_grid(tiles, 8, scale=4)), image_grid(tiles, 4, scale=4))


def test_learn_tab_lessons_each_show_something_live():
    drawn, read, text = learn.learn_read_back(3)
    assert drawn.shape == read.shape == (256, 256, 3) and "**Drawn:**" in text and "**Read back:**" in text
    figure, status = learn.learn_decisions()
    assert status.startswith("✅") and sum(t.type == "heatmap" for t in figure.data) == 2 * 3
    gallery, status = learn.learn_taxonomy(0)
    assert len(gallery) == 3 and all(picture.ndim == 3 for picture, _ in gallery)
    assert all(picture.shape[1] < 3 * picture.shape[0] for picture, _ in gallery)  # two rows, not an 8:1 strip
    names = [views.FAMILY_NAMES[family] for family in ("gan", "vae", "flow")]
    assert [caption.split(" · ")[0] for _, caption in gallery] == names  # each strip's caption names its family
    table, status = learn.learn_table()
    assert status.startswith("✅") and "| gan | unstable →" in table
    assert "seed: must be between" in learn.learn_read_back(-1)[-1]
