"""The EBM family: Langevin lowers energy, the replay buffer is seeded, training and checkpoints work."""

import math

import pytest
import torch

from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.ebm import EBM, EBMConfig
from playground.models.protocol import to_unit

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(
    image_size=8,
    width=4,
    feature_dim=16,
    langevin_steps=5,
    sampling_steps=10,
    buffer_size=40,
    step_size=1.0,
    noise_scale=0.01,
)


@pytest.fixture(scope="module")
def data():
    return load_world("exact", 32, 0, image_size=8)


def small_ebm(seed: int = 0, **config) -> EBM:
    torch.manual_seed(seed)
    return EBM(EBMConfig(**{**SMALL, **config}))


def test_langevin_descends_the_energy(data):
    # a fresh network's energy is nearly flat, so shape it with a few seeded updates first
    model = small_ebm(width=8)
    optimizer = model.configure_optimizer(3e-3)
    torch.manual_seed(0)
    for _ in range(10):
        model.train_step(data.images, None, optimizer)
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    before = model.energy(x).mean()
    *_, after_x = model.langevin(x, None, 20, torch.Generator().manual_seed(1))
    assert model.energy(after_x).mean() < before - 0.1
    assert after_x.min() >= -1 and after_x.max() <= 1


def test_replay_buffer_is_seeded_and_fills(data):
    runs = []
    for _ in range(2):
        model = small_ebm()
        optimizer = model.configure_optimizer(1e-3)
        torch.manual_seed(7)
        records = [model.train_step(data.images[:16], None, optimizer) for _ in range(4)]
        runs.append((model.replay.clone(), records))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert runs[0][0].shape == (40, 3, 8, 8)  # 4 x 16 negatives, capped at 40
    starts, idx = model._replay_starts(200)
    reused = (starts.unsqueeze(1) == model.replay[idx].unsqueeze(1)).flatten(2).all(2).squeeze(1)
    assert 0.85 < reused.float().mean() < 1.0  # ~95% from the buffer, ~5% fresh


def test_training_separates_data_from_samples(data):
    model = small_ebm(width=8)
    optimizer = model.configure_optimizer(3e-3)
    torch.manual_seed(0)
    losses = [model.train_step(data.images, None, optimizer)["loss"] for _ in range(30)]
    assert all(math.isfinite(loss) for loss in losses)
    # E(data) - E(samples) starts near 0 and goes negative as data energy drops below the samples'
    assert sum(losses[-10:]) / 10 < losses[0] - 0.01
    noise = (torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    assert model.log_prob(data.images).mean() > model.log_prob(noise).mean() + 0.3  # unnormalized: -E(x)


def test_samples_shape_range_seed_and_stream():
    model = small_ebm()
    a = model.sample(6, generator=torch.Generator().manual_seed(0))
    b = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert a.shape == (6, 3, 8, 8) and a.dtype == torch.uint8 and torch.equal(a, b)
    frames = list(model.sample_steps(6, generator=torch.Generator().manual_seed(0), every=4))
    assert len(frames) == 3 and torch.equal(frames[-1], a)
    with pytest.raises(ValueError, match="n must be in"):
        model.sample(1025)
    with pytest.raises(ValueError, match="steps must be in"):
        model.sample(2, steps=10**6)


def test_checkpoint_round_trip(tmp_path, data):
    model = small_ebm()
    optimizer = model.configure_optimizer(1e-3)
    model.train_step(data.images[:8], None, optimizer)
    save(model, tmp_path / "ebm.safetensors")
    loaded = load(tmp_path / "ebm.safetensors")
    assert torch.equal(loaded.log_prob(data.images), model.log_prob(data.images))
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    assert torch.equal(loaded.sample(3, generator=g()), model.sample(3, generator=g()))


@pytest.mark.parametrize("kind", ["class", "caption"])
def test_conditions_change_energy_and_samples(kind, data):
    model = small_ebm(condition=kind)
    condition = data.condition(kind)
    optimizer = model.configure_optimizer(1e-3)
    assert math.isfinite(model.train_step(data.images[:8], condition[:8], optimizer)["loss"])
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    first, second = condition[:1], condition[(condition != condition[:1]).any(1)][:1]
    assert not torch.equal(model.sample(2, first, generator=g()), model.sample(2, second, generator=g()))
    energies = model.energy(to_unit(data.images[:1]).expand(2, -1, -1, -1), model.encoder(torch.cat([first, second])))
    assert energies[0] != energies[1]
    with pytest.raises(ValueError, match="pass a condition"):
        model.sample(2)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="multiple of 8"):
        EBM(EBMConfig(image_size=12))
    with pytest.raises(ValueError, match="unknown condition"):
        EBM(EBMConfig(condition="music"))
