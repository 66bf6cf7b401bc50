"""benchmarks/train_speed.py: training steps timed in float32 and bfloat16, and PixelCNN's head layouts."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_speed  # noqa: E402

from playground.models.data import load_world  # noqa: E402
from playground.models.pixelcnn import PixelCNN, PixelCNNConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("settings", [{}, {"seen": 3, "context": True}])
def test_the_channels_last_head_computes_what_the_conv2d_head_did(settings):
    """The timed baseline is the same function: loss and gradients agree to float rounding."""
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(image_size=8, hidden=6, layers=2, **settings))
    x = load_world("exact", 4, 0, image_size=8).images
    grads = []
    for loss in (train_speed.conv2d_head_loss(model, x), model.loss(x)):
        model.zero_grad()
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    with torch.no_grad():
        assert float(train_speed.conv2d_head_loss(model, x)) == pytest.approx(float(model.loss(x)), rel=1e-5)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_the_benchmark_prints_a_table_and_its_json(capsys):
    threads = torch.get_num_threads()
    try:
        result = train_speed.main(
            ["--only", "rbm", "--steps", "1", "--rounds", "1", "--threads", "1", "--no-head", "--json"]
        )
    finally:
        torch.set_num_threads(threads)
    row = result["steps_ms"]["rbm"]
    assert row["float32"] > 0 and row["bfloat16"] > 0
    assert row["bfloat16_speedup"] == pytest.approx(row["float32"] / row["bfloat16"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('{"threads": 1')
    with pytest.raises(SystemExit):
        train_speed.main(["--steps", "0"])
