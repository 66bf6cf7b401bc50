"""Every public endpoint of the launched app, called as an API user would: through gradio_client.

Each test drives one tab's endpoints over HTTP (the queue, the per-session state, the
components' own pre- and post-processing), where tests/test_app.py calls the handlers directly.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

from playground.app.scene_table import EXAMPLES  # noqa: E402

# The app runs in this process (tests/conftest.py): one torch thread is faster for its small models on a busy machine.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.usefixtures("one_thread", "small_studies")]

# Every named endpoint, by tab; test_the_api_is_exactly_these_endpoints fails when one is added
# without a test here.
TESTED = {
    "World": {"/random_scene", "/load_scene", "/render", "/apply_table"},
    "Datasets": {"/generate_dataset"},
    "Generate": {"/generate", "/interpolate", "/generate_scenes"},
    "Train": {"/train", "/sample_trained"},
    "Inference": {"/random_picture", "/read_scene"},
    "Uncertainty": {"/uncertainty", "/uncertainty_point", "/missing_data", "/attack"},
    "Compare": {"/shipped_evaluation", "/evaluate"},
    "Learn": {"/learn_read_back", "/learn_decisions", "/learn_taxonomy", "/learn_table"},
}
COLUMNS = ["shape", "color", "x", "y", "size", "rotation", "material"]
# Positions in the World tab's outputs (see playground.app.scene_table.scene_view).
JSON, TABLE, SIZE, R2D, R3D, M2D, M3D, D2D, D3D, CAPTION, RELATIONS, STATUS = range(12)


@pytest.fixture(scope="module")
def client(served_app):
    return Client(served_app, verbose=False)


def _image(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _plotly(value) -> dict:
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


def test_the_api_is_exactly_these_endpoints(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == set().union(*TESTED.values())
    assert not api["unnamed_endpoints"]  # UI-only events are private


def test_world_endpoints(client):
    out = client.predict(EXAMPLES["CLEVR classic"], 64, True, True, True, api_name="/render")
    assert len(out) == 12 and out[STATUS].startswith("✅")
    assert json.loads(out[JSON])["objects"][0]["shape"] == "cylinder"
    for i in (R2D, R3D, M3D, D3D):
        assert _image(out[i]).shape == (256, 256, 3)
    assert out[TABLE]["headers"] == COLUMNS and len(out[TABLE]["data"]) == 5
    assert "malformed JSON" in client.predict("{oops", 64, False, False, False, api_name="/render")[STATUS]

    index, *scene = client.predict("shapes2d", 3, 64, False, False, False, api_name="/random_scene")
    again = client.predict("shapes2d", 3, index, 64, False, False, False, api_name="/load_scene")
    assert again[0] == index and again[1 + JSON] == scene[JSON]  # the index reproduces the scene
    assert np.array_equal(_image(again[1 + R2D]), _image(scene[R2D]))
    refused = client.predict("shapes2d", -5, 0, 64, False, False, False, api_name="/load_scene")
    assert refused[-1].startswith("⚠️") and "seed: must be between 0" in refused[-1]  # the handler's check, named
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("nope", 0, 0, 64, False, False, False, api_name="/load_scene")

    rows = {"headers": COLUMNS, "data": [["cube", "red", 0, 0, 0.7, 0, "matte"]]}
    out = client.predict(rows, EXAMPLES["Metal spheres"], 64, False, False, False, api_name="/apply_table")
    assert [o["shape"] for o in json.loads(out[JSON])["objects"]] == ["cube"]
    assert "large red cube" in out[CAPTION]
    rows["data"][0][1] = "chartreuse-ish"
    bad = client.predict(rows, EXAMPLES["Metal spheres"], 64, False, False, False, api_name="/apply_table")
    assert bad[STATUS].startswith("⚠️") and "row 1" in bad[STATUS]


def test_datasets_endpoint(client):
    gallery, rows, archive, status = client.predict("shapes2d", 8, 0, 32, "npz", api_name="/generate_dataset")
    assert status.startswith("✅") and len(gallery) == 8 and len(rows["data"]) == 8
    assert zipfile.is_zipfile(archive)
    *_, status = client.predict("shapes2d", 10**6, 0, 32, "npz", api_name="/generate_dataset")
    assert "at most 5,000" in status


def test_scene_level_endpoint_checks_each_fact_on_the_reading(client):
    prompt = "a red cube to the left of a blue cylinder"
    gallery, status = client.predict(
        "scene-autoregressive-prompt-shapes2d", 4, 0, prompt, "the world's own", api_name="/generate_scenes"
    )
    assert status.startswith("✅") and "read back by the encoder" in status and len(gallery) == 4
    for item in gallery:
        assert item["caption"][0] in "✅❌" and "a red cube to the left of a blue cylinder" in item["caption"]
        assert _image(item["image"]).shape == (128, 128, 3)
    _, status = client.predict(
        "scene-autoregressive-prompt-shapes2d", 4, 0, "a red dog", "3d", api_name="/generate_scenes"
    )
    assert status.startswith("⚠️") and "'dog'" in status
    with pytest.raises(AppError, match="maximum value 32"):  # the slider's own check, before the handler's
        client.predict("scene-autoregressive-prompt-shapes2d", 99, 0, "a cube", "2d", api_name="/generate_scenes")


def test_generate_endpoints(client):
    picture, status = client.predict("gan", 4, 0, "cube", "red", "", 100, 1.0, api_name="/generate")
    assert status.startswith("✅") and _image(picture).std() > 0
    _, status = client.predict("vae-class", 4, 0, "cube", "red", "", 100, 1.0, api_name="/generate")
    assert status.startswith("✅")
    _, status = client.predict(
        "diffusion-caption", 2, 0, "cube", "red", "a large red cylinder", 10, 2.0, api_name="/generate"
    )
    assert status.startswith("✅")
    strip, status = client.predict("vae", 0, 4, api_name="/interpolate")
    assert status.startswith("✅") and _image(strip).shape[1] > 4 * _image(strip).shape[0] // 2
    with pytest.raises(AppError, match="maximum value 64"):  # the slider's own check
        client.predict("gan", 65, 0, "cube", "red", "", 100, 1.0, api_name="/generate")


def test_train_endpoints_keep_each_session_apart(served_app, client):
    _, status = client.predict(4, 0, "cube", "red", "", api_name="/sample_trained")
    assert "train a model first" in status
    *outputs, status = client.predict("gan", "exact", "none", 0.1, 0, api_name="/train")
    assert status.startswith("✅") and "Training loss" in json.dumps(outputs[0])  # the loss curve's figure
    picture, status = client.predict(4, 0, "cube", "red", "", api_name="/sample_trained")
    assert status.startswith("✅") and _image(picture).std() > 0
    stranger = Client(served_app, verbose=False)  # another user has no model of ours
    _, status = stranger.predict(4, 0, "cube", "red", "", api_name="/sample_trained")
    assert "train a model first" in status
    _, status = client.predict("rbm", "exact", "class", 0.1, 0, api_name="/train")
    assert "RBM is unconditional" in status


def test_inference_endpoints(client):
    from playground.app.tabs.inference import INFERENCE_EXAMPLES

    picture, status = client.predict("shapes2d", 0, api_name="/random_picture")
    assert status.startswith("✅ scene") and _image(picture).shape == (256, 256, 3)
    *panels, rows, text, status = client.predict("shapes2d", "random scene", None, None, 5, api_name="/read_scene")
    assert status.startswith("✅ refinement step 5 of 5"), status
    assert json.loads(text)["view"] == "2d" and rows["headers"] == COLUMNS
    upload = handle_file(str(INFERENCE_EXAMPLES["shapes2d"]))
    *_, rows, text, status = client.predict("shapes2d", "upload", upload, None, 5, api_name="/read_scene")
    assert "**4 objects**" in status and len(json.loads(text)["objects"]) == 4
    *_, status = client.predict("shapes2d", "upload", None, None, 5, api_name="/read_scene")
    assert status.startswith("⚠️")


def test_a_huge_upload_is_refused_before_it_is_stored(client, tmp_path):
    from playground.app.views import MAX_UPLOAD_BYTES

    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG" + bytes(MAX_UPLOAD_BYTES))
    with pytest.raises(Exception, match="(?i)file size|too large|413"):
        client.predict("shapes2d", "upload", handle_file(str(huge)), None, 0, api_name="/read_scene")


def test_uncertainty_endpoints(client):
    figure, scores, probe, probe_text, status = client.predict(
        "blobs", 0, 400, "logistic", "gmm", 5.5, -5.5, api_name="/uncertainty"
    )
    assert status.startswith("✅") and len(_plotly(figure)["data"]) > 3
    assert "AUROC" in scores and _image(probe).ndim == 3 and "p(x)" in probe_text
    picture, text, status = client.predict("blobs", 0, 400, 3, api_name="/uncertainty_point")
    assert "Training point 3" in text and _image(picture).ndim == 3
    figure, text, status = client.predict(
        "blobs", 0, 400, "x seen, y hidden", "logistic", "gmm", api_name="/missing_data"
    )
    assert status.startswith("✅") and _plotly(figure)["data"]
    *pictures, plot, text, status = client.predict(5, 8, "pgd", 10, 0, api_name="/attack")
    assert status.startswith("✅") and "flipped" in text and len(pictures) == 3
    with pytest.raises(AppError, match="greater than maximum value 767"):
        client.predict(10**4, 4, "fgsm", 10, 0, api_name="/attack")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(5, 4, "carlini", 10, 0, api_name="/attack")


def test_compare_endpoints(client):
    table, figure, lecture, status = client.predict(api_name="/shipped_evaluation")
    assert status.startswith("✅ shipped evaluation") and len(table["data"]) == 7
    assert len(_plotly(figure)["data"]) == 4 and "| gan |" in lecture
    table, figure, lecture, status = client.predict(["gan"], 0.05, 1, 16, api_name="/evaluate")
    assert status.startswith("✅") and table["data"][0][0] == "gan"
    *_, status = client.predict([], 0.05, 1, 16, api_name="/evaluate")
    assert "choose at least one family" in status


def test_learn_endpoints(client):
    drawn, read, text = client.predict(3, api_name="/learn_read_back")
    assert _image(drawn).shape == _image(read).shape == (256, 256, 3) and "**Read back:**" in text
    figure, status = client.predict(api_name="/learn_decisions")
    assert status.startswith("✅") and sum(t["type"] == "heatmap" for t in _plotly(figure)["data"]) == 6
    gallery, status = client.predict(0, api_name="/learn_taxonomy")
    assert len(gallery) == 3 and status.startswith("✅")
    table, status = client.predict(api_name="/learn_table")
    assert "| gan | unstable →" in table
