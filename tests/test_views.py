"""The Generate and Train tabs' plain functions: grids, streams, conditions, training in a session."""

import dataclasses

import numpy as np
import pytest
import torch

from playground.app import views
from playground.models import pretrained
from playground.models.data import class_condition
from playground.models.protocol import channels_last
from playground.models.registry import build
from worlds.images import image_grid

pytestmark = pytest.mark.usefixtures("one_thread")


def test_image_grid_upscales_and_separates():
    images = torch.zeros(3, 3, 2, 2, dtype=torch.uint8)
    images[1] = 100
    grid = image_grid(channels_last(images), columns=2, scale=2, pad=1)
    assert grid.shape == (2 * 4 + 1, 2 * 4 + 1, 3) and grid.dtype == np.uint8
    assert (grid[:4, 5:9] == 100).all() and (grid[:4, 4] == 255).all()  # image 1, then the white gap
    assert (grid[5:, 5:] == 255).all()  # the empty fourth cell
    with pytest.raises(ValueError, match="uint8"):
        channels_last(torch.zeros(1, 3, 2, 2))


@pytest.mark.parametrize("family, frames", [("gan", 1), ("pixelcnn", 8), ("ebm", 5), ("diffusion", 5)])
def test_sample_stream_shows_progress_then_the_sample(family, frames):
    config = {
        "pixelcnn": dict(hidden=6, layers=2),
        "ebm": dict(width=8, feature_dim=16, sampling_steps=5),
        "diffusion": dict(widths=(8, 16), timesteps=10),
        "gan": dict(width=8, latent_dim=8),
    }[family]
    model = build(family, image_size=8, **config).eval()
    out = list(views.sample_stream(model, 3, 0, steps=5))
    assert len(out) == frames
    grid, label = out[-1]
    assert grid.shape == (8 * views.DISPLAY, 3 * 8 * views.DISPLAY + 2 * 2, 3)
    again = list(views.sample_stream(model, 3, 0, steps=5))[-1][0]
    assert np.array_equal(grid, again)  # same seed, same picture


@pytest.mark.parametrize("family", ["gan", "diffusion"])
def test_sample_stream_leaves_every_threads_grad_mode_alone(family):
    """Gradio resumes a streaming handler in any free worker thread; torch's grad mode is per thread."""
    import threading

    config = {"diffusion": dict(widths=(8, 16), timesteps=10), "gan": dict(width=8, latent_dim=8)}[family]
    stream = views.sample_stream(build(family, image_size=8, **config).eval(), 2, 0, steps=5)
    modes = {}

    def step(name):
        next(stream, None)
        modes[name] = torch.is_grad_enabled()

    for name in ("first", "second", "third"):  # each frame in a fresh thread, as a worker pool may
        worker = threading.Thread(target=step, args=(name,))
        worker.start()
        worker.join()
    assert modes == {"first": True, "second": True, "third": True}


def test_conditions_are_checked_with_clear_messages():
    model = build("gan", image_size=8, width=8, latent_dim=8, condition="class")
    assert torch.equal(views.condition_tensor(model, 4, "cube", "red"), class_condition("cube", "red").expand(4, 2))
    with pytest.raises(ValueError, match="pick a shape"):
        views.condition_tensor(model, 4, "pyramid", "red")
    captioned = build("gan", image_size=8, width=8, latent_dim=8, condition="caption")
    assert views.condition_tensor(captioned, 2, text="a small red cube").shape[0] == 2
    with pytest.raises(ValueError, match="unknown word 'dragon'"):
        views.condition_tensor(captioned, 2, text="a red dragon")
    with pytest.raises(ValueError, match="type a caption"):
        views.condition_tensor(captioned, 2, text="  ")
    with pytest.raises(ValueError, match="the caption is 5,006 characters; at most 200"):
        views.condition_tensor(captioned, 2, text="a red " + "x" * 5000)
    with pytest.raises(ValueError) as pasted:  # a long unknown word is quoted cut short, each word once
        views.condition_tensor(captioned, 2, text="a red " + "q" * 80 + " and " + "q" * 80)
    assert "'qqqqqqqqqqqqqqqqqqqq…'" in str(pasted.value) and len(str(pasted.value)) < 200
    with pytest.raises(ValueError, match="number of samples"):
        list(views.sample_stream(model, 65, 0, "cube", "red"))
    with pytest.raises(ValueError, match="unknown model"):
        list(views.sample_stream("nope", 2, 0))
    for bad in ("many", None, 2.5, float("inf"), True):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            list(views.sample_stream(model, 2, bad, "cube", "red"))


def test_train_stream_says_when_a_vae_fits_its_prior(monkeypatch):
    recipe = views.pretrained.RECIPES["vae"]
    small = dataclasses.replace(recipe, config={**recipe.config, "prior_components": 4, "prior_draws": 1})
    monkeypatch.setitem(views.pretrained.RECIPES, "vae", small)
    out = list(views.train_stream("vae", "exact", 0.01, 0, every_s=10.0, n=256))
    statuses = [status for _, _, status in out]
    assert any("fitting the prior" in s for s in statuses[:-1]) and statuses[-1].startswith("done:")
    assert out[-1][0].mixture_prior


def test_train_stream_trains_reports_and_can_be_stopped():
    out = list(views.train_stream("gan", "exact", 0.03, 0, every_s=0.5, n=256))
    model, records, status = out[-1]
    assert status.startswith("done:") and records and all(np.isfinite(r["loss"]) for r in records)
    assert not model.training
    assert all(m is None for m, _, _ in out[:-1])  # no half-trained model to sample while it trains
    stream = views.train_stream("vae", "exact", 1.0, 0, every_s=0.2, n=256)
    next(stream)
    stream.close()  # the Stop button: no hang, no error
    for bad, match in [
        (dict(family="nope"), "unknown family"),
        (dict(world="clevr3d"), "the app trains on"),
        (dict(minutes=99), "minutes must be"),
        (dict(family="rbm", condition="class"), "unconditional"),
    ]:
        with pytest.raises(ValueError, match=match):
            next(views.train_stream(**{"family": "gan", **bad}))


def test_the_apps_streamed_reading_ends_with_the_answer_refine_gives(one_thread):
    """Scene 20 of clevr3d seed 1000: the best scene of the refinement holds an object that does not
    pay for itself (7 objects after 10 steps, as after 40), which refine() prunes; the app's stream must
    end with the same answer."""
    from playground.inverse.encoder import read_scene
    from worlds import render, sample_scenes
    from worlds.world import get_world

    encoder = views.encoder_for("clevr3d")
    picture = render(sample_scenes(get_world("clevr3d").replace(image_size=64), 1000, 21)[20:])[0]
    *_, (reading, step, total) = views.read_picture("clevr3d", picture, 10)
    assert (step, total) == (10, 10)
    answer = read_scene(encoder, picture, refine_steps=10).scene
    assert reading.scene == answer and len(answer.objects) == 6


@pytest.mark.skipif(not pretrained.path("gan-class").is_file(), reason="gan-class weights not trained")
def test_the_readmes_sample_grids_are_drawn_by_one_seeded_function(tmp_path, capsys):
    grid = pretrained.sample_grid("gan-class")
    assert grid.shape == (96, 8 * 96 + 7 * 2, 3) and grid.dtype == np.uint8  # eight samples at 3x
    assert np.array_equal(grid, pretrained.sample_grid("gan-class"))
    assert not np.array_equal(grid, pretrained.sample_grid("gan-class", seed=1))
    assert pretrained.main(["gan-class", "--grids", str(tmp_path)]) == 0
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(tmp_path / "samples_gan-class.png").convert("RGB")), grid)
    assert pretrained.main(["encoder-clevr3d", "--grids", str(tmp_path)]) == 2
    assert "not a generative model" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["vae", "vae-class"])  # arg-max decoders: no rounding to differ across CPUs
def test_the_readmes_sample_grids_are_what_the_shipped_weights_draw(name):
    from pathlib import Path

    from PIL import Image

    if not pretrained.path(name).is_file():
        pytest.skip(f"{name} weights not trained")
    shown = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "docs" / f"samples_{name}.png").convert("RGB"))
    assert np.array_equal(pretrained.sample_grid(name), shown), (
        "python -m playground.models.pretrained --grids docs redraws it"
    )


def test_the_lecture_table_says_when_one_seed_has_no_spread_and_shows_an_estimates_error():
    one = {"family": "gan", "runs": [{"seed": 0}], "seed_spread": 0.0, "diverged": 0, "likelihood_kind": "none"}
    three = {**one, "family": "rbm", "runs": [{"seed": s} for s in range(3)], "seed_spread": 4.2}
    three |= {"likelihood_kind": "estimate", "bits_per_dim": 0.136, "log_z_relative_error": 0.14}
    table = views.lecture_markdown({"gan": one, "rbm": three})
    gan, rbm = [line for line in table.splitlines() if line.startswith(("| gan", "| rbm"))]
    assert "one seed: no spread" in gan and "spread 0" not in gan
    assert "spread 4.2" in rbm and "(Z ± 14%)" in rbm


def test_model_cards_show_measured_quality_and_say_when_a_model_fails(monkeypatch):
    cards = {
        "diffusion": {
            "samples": 512,
            "seeds": [0, 1, 2],
            "validity": 0.73,
            "coverage": 0.355,
            "coverage_ceiling": 0.487,
        },
        "gan": {"samples": 512, "seeds": [0, 1, 2], "validity": 0.0, "coverage": 0.0, "coverage_ceiling": 0.487},
        "vae": {
            **{"samples": 8, "seeds": [0, 1], "validity": 0.37, "coverage": 0.19, "coverage_ceiling": 0.5},
            "validity_mode": 0.64,
        },
        "diffusion-class": {
            **{"samples": 512, "seeds": [0, 1, 2], "seen_match": 0.9, "seen_valid": 0.5},
            **{"held_out_match": 0.98, "held_out_valid": 0.32},
        },
    }
    monkeypatch.setattr(views.pretrained, "cards", lambda: cards)
    good, bad = views.quality_note("diffusion"), views.quality_note("gan")
    assert "0.73 of its draws" in good and "512 draws × 3 seeds" in good and "fails" not in good
    assert bad.startswith("⚠️ **This model fails at its budget:** only 0% of its draws") and "models-gan.md" in bad
    assert "mode image" in views.quality_note("vae") and "0.64" in views.quality_note("vae")
    held = views.quality_note("diffusion-class")
    assert "never-seen red cylinder, 0.98 show one and 0.32 are exact world images" in held and "fails" not in held
    assert "does not compose" not in held
    cards["diffusion-class"] = {**cards["diffusion-class"], "held_out_match": 0.0}
    assert "does not compose" in views.quality_note("diffusion-class")  # vae-class: green circles for red cylinders
    assert "not measured yet" in views.quality_note("ebm")
    assert "0.73 of its draws" in views.likelihood_note("diffusion")  # the Generate tab's card
    assert "trained" in views.family_card("diffusion") and "0.73" in views.family_card("diffusion")  # the Train tab's


def test_every_shipped_model_has_a_measured_card():
    cards = views.pretrained.cards()
    for name in views.pretrained.available():
        card = cards.get(name)
        assert card is not None, f"{name} has no card: python benchmarks/models.py --cards"
        assert card["samples"] >= 256 and len(card["seeds"]) >= 2
        assert 0 <= card.get("validity", card.get("seen_valid")) <= 1


def test_mode_images_are_offered_by_the_vae_and_the_rbm_only():
    *_, (grid, label) = views.sample_stream("rbm", 2, 0, mode=True)
    assert "mode images, not draws" in label and grid.ndim == 3
    with pytest.raises(ValueError, match="offer a mode image"):
        list(views.sample_stream("gan", 2, 0, mode=True))
