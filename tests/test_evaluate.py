"""The evaluation's metrics on hand-made cases with known answers, and a tiny end-to-end run."""

import json
import math

import numpy as np
import pytest
import torch

from playground.evaluation import compare as ev
from playground.evaluation.scores import exact_world, world_tensor

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_perfect_sampler_is_valid_faithful_and_covers_the_world():
    scores = ev.sample_fidelity(world_tensor(exact_world()))  # every world image once: the true distribution
    assert scores["validity"] == 1.0 and scores["coverage"] == 1.0
    assert scores["attribute_tv"] == pytest.approx(0.0, abs=1e-12)


def test_a_constant_sampler_covers_one_scene_and_is_far_from_the_prior():
    images = world_tensor(exact_world())[5:6].repeat(40, 1, 1, 1)
    scores = ev.sample_fidelity(images)
    assert scores["validity"] == 1.0 and scores["coverage"] == pytest.approx(1 / 768)
    # one shape of 3, one colour of 8, one size of 2, one place of 16: TV = 1 - 1/k for each
    assert scores["attribute_tv"] == pytest.approx(np.mean([2 / 3, 7 / 8, 1 / 2, 15 / 16]))


def test_the_encoder_parses_world_images_and_refuses_noise():
    world = world_tensor(exact_world())[::8]  # 96 of the world's images
    assert ev.encoder_validity(world) >= 0.95
    noise = torch.randint(0, 256, (16, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    assert ev.encoder_validity(noise) == 0.0


def test_noise_is_not_valid_and_has_no_attribute_distribution():
    noise = torch.randint(0, 256, (8, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    scores = ev.sample_fidelity(noise)
    assert scores["validity"] == 0.0 and scores["coverage"] == 0.0 and scores["attribute_tv"] is None


def test_roughness_is_one_for_a_falling_curve_and_grows_with_wandering():
    assert ev.roughness(np.linspace(5, 1, 500)) == pytest.approx(1.0)
    wander = np.linspace(5, 1, 500) + 2 * np.sin(np.linspace(0, 40 * math.pi, 500))
    assert ev.roughness(wander) > 3
    assert ev.roughness(np.ones(100)) == math.inf and ev.roughness([1.0, float("nan")]) == math.inf


def test_linear_probe_reads_factors_from_a_code_that_holds_them():
    scenes = exact_world().scenes
    objects = [s.objects[0] for s in scenes]
    onehot = lambda values: np.eye(len(set(values)))[[sorted(set(values)).index(v) for v in values]]
    code = np.concatenate(
        [
            onehot([o.shape for o in objects]),
            onehot([o.color_name for o in objects]),
            onehot([o.size_name for o in objects]),
            [[*o.position] for o in objects],
        ],
        1,
    )
    probe = ev.linear_probe(code, scenes)
    assert probe["probe_accuracy"] == 1.0 and probe["x_r2"] > 0.99 and probe["y_r2"] > 0.99
    noise = np.random.default_rng(0).normal(size=(len(scenes), 4))
    assert ev.linear_probe(noise, scenes)["probe_accuracy"] < 0.6


def test_png_and_zlib_sizes_are_real_byte_counts():
    image = exact_world().images[0]
    assert 8 * 50 < ev.png_bits(image) < 8 * 3072 and ev.png_bits(image) == ev.png_bits(image.copy())
    assert ev.zlib_bits(np.zeros((32, 32, 3), np.uint8)) < ev.zlib_bits(image)


def test_a_tiny_evaluation_runs_end_to_end_and_writes_every_format(tmp_path):
    budget = ev.Budget(minutes=0.01, seeds=2, samples=16, likelihood_every=64, diffusion_steps=2)
    result = ev.evaluate(("gan", "vae"), budget, n=64, conditional=False)  # the VAE's prior: EM on 64 x 32 codes
    assert set(result) == {"gan", "vae"}
    for row in result.values():
        assert len(row["runs"]) == 2 and row["diverged"] == 0 and row["sample_ms_per_image"] > 0
        assert 0 <= row["validity"] <= 1 and row["png_bits_per_image"] > 0
    assert result["gan"]["likelihood_kind"] == "none" and result["gan"]["bits_per_dim"] is None
    assert result["vae"]["bits_per_dim"] > 0 and result["vae"]["probe_accuracy"] is not None
    # the VAE's bits are an upper bound on the cost: its column, never the lower bounds' one
    assert result["vae"]["likelihood_bound"] == "upper" and result["vae"]["bits_per_dim_lower"] is None
    assert result["vae"]["bits_per_dim_upper"] == result["vae"]["bits_per_dim"]
    assert min(r["sample_ratio_to_fastest"] for r in result.values()) == 1.0
    md = ev.markdown(result)
    assert md.count("\n") == 4 and "| gan |" in md
    ev.write_csv(result, tmp_path / "t.csv")
    assert (
        (tmp_path / "t.csv")
        .read_text()
        .splitlines()[0]
        .startswith("family,likelihood_bound,bits_per_dim_upper,bits_per_dim_lower")
    )


def test_the_cli_refuses_bad_budgets(capsys):
    with pytest.raises(SystemExit):
        ev.main(["--minutes", "0"])
    assert "--minutes must be in" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown family"):
        ev.evaluate(("transformer",), ev.QUICK)


def test_the_shipped_evaluation_has_every_key():
    result = json.loads(ev.RESULTS.read_text())
    keys = {
        "likelihood_kind",
        "likelihood_bound",
        "bits_per_dim",
        "bits_per_dim_upper",
        "bits_per_dim_lower",
        "gap_bits_per_image",
        "seed_spread",
        "sample_ms_per_image",
        "code_bits_per_image",
        "png_bits_per_image",
        "probe_accuracy",
        "validity",
        "attribute_tv",
        "coverage",
    }
    families = [k for k in result if k not in ("conditional", "meta")]
    assert len(families) == 7 and all(keys <= set(result[f]) for f in families)
