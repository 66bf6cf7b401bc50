"""benchmarks/generator_fit.py: a GAN generator layout fitted to world images by latent optimisation."""

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generator_fit  # noqa: E402

from playground.models.data import load_world  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("layout", ["dcgan", "decoder"])
def test_fitting_reconstructs_better_with_more_steps_and_is_seeded(layout):
    images = load_world("exact", 8, 0, image_size=8).images
    few, many = (generator_fit.fit_generator(layout, images, steps, batch_size=8) for steps in (1, 150))
    assert many["l1"] < 0.8 * few["l1"]
    assert 0 <= many["valid"] <= 1 and 0 <= many["median_wrong_pixels"] <= 1
    again = generator_fit.fit_generator(layout, images, 150, batch_size=8)
    assert {k: again[k] for k in ("valid", "l1")} == {k: many[k] for k in ("valid", "l1")}


def test_the_benchmark_prints_a_table_and_its_json(capsys, monkeypatch):
    monkeypatch.setattr(generator_fit, "exact_world", lambda name: None)
    monkeypatch.setattr(generator_fit, "world_tensor", lambda world: load_world("exact", 8, 0, image_size=8).images)
    threads = torch.get_num_threads()
    try:
        result = generator_fit.main(["--steps", "2", "--threads", "1", "--layouts", "decoder", "--json"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out.strip().splitlines()
    assert "decoder" in out[2] and json.loads(out[-1]) == result
    assert set(result["layouts"]["decoder"]) == {"valid", "median_wrong_pixels", "l1", "ms_per_step"}
    with pytest.raises(SystemExit):
        generator_fit.main(["--steps", "0"])
