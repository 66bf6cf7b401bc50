"""benchmarks/budget.py: a recipe trained with snapshots along the way."""

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import budget  # noqa: E402

from playground.models.checkpoint import load  # noqa: E402
from playground.models.data import load_world  # noqa: E402
from playground.models.pretrained import RECIPES  # noqa: E402
from playground.models.registry import build  # noqa: E402
from playground.models.train import fit  # noqa: E402


def test_a_snapshot_is_the_recipe_trained_for_that_many_steps(tmp_path):
    threads = torch.get_num_threads()
    try:
        paths = budget.train_with_snapshots(
            "gan", steps=[3, 1], out=tmp_path, threads=1, batch_size=8, lr=1e-3, n=64
        )  # 64 scenes, not the recipe's 20,000
        assert [load(p).checkpoint_extra["steps"] for p in paths] == [1, 3]
        recipe = replace(RECIPES["gan"], batch_size=8, lr=1e-3, n=64)  # the recipe as changed
        data = load_world(recipe.world, recipe.n, 0)
        torch.set_num_threads(1)
        torch.manual_seed(0)
        model = build("gan", image_size=32, condition="none", **recipe.config)
        fit(model, data, steps=3, batch_size=recipe.batch_size, lr=recipe.lr, seed=0)
    finally:
        torch.set_num_threads(threads)
    last, first = load(paths[1]).state_dict(), load(paths[0]).state_dict()
    assert all(torch.equal(last[k], v) for k, v in model.state_dict().items())
    assert not all(torch.equal(first[k], v) for k, v in last.items())
    one, both = budget.snapshot_grid(paths[:1]), budget.snapshot_grid(paths)  # a row of 8 samples each
    assert one.dtype == both.dtype == "uint8" and both.shape[1] == one.shape[1] > 8 * 96
    assert both.shape[0] == 2 * one.shape[0] + 2  # two rows, a 2-pixel gap


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": [1], "minutes": [1.0]}, "one of the two"),
        ({}, "either as steps or as minutes"),
        ({"steps": [0, 5]}, "steps must be in"),
        ({"minutes": [-1.0]}, "minutes must be in"),
        ({"steps": list(range(1, 20))}, "1..16 marks"),
        ({"steps": [5], "batch_size": 0}, "batch size must be in 1..4096"),
        ({"steps": [5], "lr": float("nan")}, "learning rate must be in"),
    ],
)
def test_bad_marks_are_refused_before_training(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        budget.train_with_snapshots("gan", out=tmp_path, **kwargs)
