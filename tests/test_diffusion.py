"""DDPM: training, the forward process, the variational bound, sampling, guidance, checkpoints."""

import math

import pytest
import torch

from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.diffusion import (
    SCHEDULES,
    Diffusion,
    DiffusionConfig,
    cosine_schedule,
    discretized_gaussian_log_likelihood,
    linear_schedule,
)
from playground.models.registry import build

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(image_size=8, widths=(8, 16), timesteps=10, ema_decay=0.0)


def tiny(seed=0, **overrides):
    """A tiny model whose weights are nudged off their zero initialisation, so that the output
    depends on every input (the zero-initialised last layers would otherwise hide the condition)."""
    torch.manual_seed(seed)
    model = Diffusion(DiffusionConfig(**{**TINY, **overrides})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def data():
    return load_world("exact", 16, 0, image_size=8)


def test_loss_is_finite_and_decreases(data):
    torch.manual_seed(0)
    model = build("diffusion", **TINY)
    optimizer = model.configure_optimizer(1e-2)

    def fixed_loss():  # the same t and noise before and after training
        with torch.random.fork_rng():
            torch.manual_seed(1)
            with torch.no_grad():
                return float(sum(model.loss(data.images) for _ in range(4)) / 4)

    before = fixed_loss()
    for _ in range(10):
        record = model.train_step(data.images, None, optimizer)
        assert math.isfinite(record["loss"])
    assert fixed_loss() < 0.5 * before


@pytest.mark.parametrize("prediction, min_snr", [("v", 0.0), ("eps", 5.0), ("v", 5.0)])
def test_v_prediction_and_min_snr_weighting_train_and_sample(data, prediction, min_snr):
    torch.manual_seed(0)
    model = build("diffusion", **TINY, prediction=prediction, min_snr=min_snr)
    optimizer = model.configure_optimizer(1e-2)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        before = float(model.loss(data.images).detach())
    for _ in range(10):
        model.train_step(data.images, None, optimizer)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        assert float(model.loss(data.images).detach()) < before
    images = model.eval().sample(3, generator=torch.Generator().manual_seed(0))
    assert images.dtype == torch.uint8 and images.shape == (3, 3, 8, 8)
    assert torch.isfinite(model.log_prob(data.images[:2])).all()


def test_v_prediction_recovers_x0_exactly():
    model = tiny(prediction="v")
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1
    eps = torch.randn(2, 3, 8, 8)
    t = torch.tensor([2, 7])
    abar = model.abar[t].float().view(-1, 1, 1, 1)
    x_t = model.q_sample(x0, t, eps)
    v = abar.sqrt() * eps - (1 - abar).sqrt() * x0
    torch.testing.assert_close(model._predict_x0(x_t, v, model.abar[t]), x0.clamp(-1, 1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("timesteps", [10, 1000])
def test_schedules_are_monotone(name, timesteps):
    betas = SCHEDULES[name](timesteps)
    abar = torch.cumprod(1 - betas, 0)
    assert betas.shape == (timesteps,) and ((betas > 0) & (betas < 1)).all()
    assert ((abar > 0) & (abar <= 1)).all() and (abar[1:] < abar[:-1]).all()
    assert abar[-1] < 0.05  # x_T is close to pure noise


def test_schedule_values_follow_the_papers():
    assert torch.allclose(linear_schedule(1000)[[0, -1]], torch.tensor([1e-4, 0.02], dtype=torch.float64))
    T, s = 100, 0.008
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    abar = torch.cumprod(1 - cosine_schedule(T), 0)
    assert abs(float(abar[49]) - f(50) / f(0)) < 1e-9


def test_forward_marginals_match_the_schedule():
    model = Diffusion(DiffusionConfig(**{**TINY, "schedule": "linear"}))
    abar = torch.cumprod(1 - linear_schedule(10), 0)
    x0 = torch.full((4000, 3, 4, 4), 0.6)  # a constant image, many noise draws
    for t in [0, 4, 9]:
        x_t = model.q_sample(
            x0, torch.full((4000,), t), torch.randn(x0.shape, generator=torch.Generator().manual_seed(t))
        )
        assert abs(float(x_t.mean()) - 0.6 * math.sqrt(abar[t])) < 0.01
        assert abs(float(x_t.var()) - (1 - float(abar[t]))) < 0.02 * (1 - float(abar[t])) + 1e-4


def test_discretized_decoder_is_a_distribution_over_the_256_levels():
    levels = torch.arange(256.0) / 127.5 - 1
    for mean, std in [(0.3, 0.01), (-0.99, 0.05), (1.2, 0.5)]:
        logp = discretized_gaussian_log_likelihood(levels, torch.tensor(mean), torch.tensor(2 * math.log(std)))
        assert abs(float(logp.exp().sum()) - 1) < 1e-4


def test_bound_terms_are_nonnegative_and_make_up_log_prob(data):
    model = tiny()
    x = data.images[:3]
    parts = model.bound_terms(x, generator=torch.Generator().manual_seed(0))
    assert parts["diffusion"].shape == (3, 9)
    for value in parts.values():
        assert (value >= 0).all() and torch.isfinite(value).all()
    total = -(parts["prior"] + parts["decoder"] + parts["diffusion"].sum(1))
    assert torch.allclose(model.log_prob(x, generator=torch.Generator().manual_seed(0)), total)
    assert (model.bits_per_dim(x) > 0).all()  # the protocol's score, via the exact bound


def test_stratified_estimate_is_unbiased(data):
    model = tiny(schedule="linear")
    x = data.images[:4]
    g = torch.Generator().manual_seed(0)
    full = model.log_prob(x.repeat(8, 1, 1, 1), generator=g).mean()  # 8 draws of x_t per image
    strata = torch.stack([model.log_prob(x, terms=3, generator=g) for _ in range(40)]).mean()
    assert abs(float(strata - full)) < 0.03 * abs(float(full))
    with pytest.raises(ValueError, match="terms must be in 1..9"):
        model.log_prob(x, terms=10)
    assert torch.equal(model.log_prob(x, terms=3), model.log_prob(x, terms=3))  # no generator: seeded with 0


def test_samples_are_uint8_and_seeded():
    model = tiny()
    a = model.sample(3, generator=torch.Generator().manual_seed(5))
    b = model.sample(3, generator=torch.Generator().manual_seed(5))
    assert a.shape == (3, 3, 8, 8) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, model.sample(3, generator=torch.Generator().manual_seed(6)))
    # respacing to all T steps is the full chain; fewer steps is a different chain
    assert torch.equal(a, model.sample(3, generator=torch.Generator().manual_seed(5), steps=10))
    assert model.sample(3, generator=torch.Generator().manual_seed(5), steps=4).shape == (3, 3, 8, 8)


def test_sample_steps_streams_and_ends_with_the_sample():
    model = tiny()
    frames = list(model.sample_steps(2, generator=torch.Generator().manual_seed(1), steps=8, every=3))
    assert len(frames) == 3 and all(f.shape == (2, 3, 8, 8) and f.dtype == torch.uint8 for f in frames)
    assert torch.equal(frames[-1], model.sample(2, generator=torch.Generator().manual_seed(1), steps=8))


def test_checkpoint_round_trip(tmp_path, data):
    model = tiny(condition="class")
    path = save(model, tmp_path / "diffusion.safetensors")
    loaded = load(path)
    c = data.labels[:2]
    for m in (model, loaded):
        m.lp = m.log_prob(data.images[:2], c, terms=5, generator=torch.Generator().manual_seed(0))
        m.x = m.sample(2, c, generator=torch.Generator().manual_seed(0), steps=5, guidance=2.0)
    assert torch.equal(model.lp, loaded.lp) and torch.equal(model.x, loaded.x)


@pytest.mark.parametrize("kind", ["class", "caption"])
def test_conditions_and_guidance_change_samples(kind, data):
    model = tiny(condition=kind)
    c = data.condition(kind)
    assert torch.isfinite(model.loss(data.images[:4], c[:4]))
    first, other = c[:1], next(c[i : i + 1] for i in range(len(c)) if not torch.equal(c[i], c[0]))
    draw = lambda cond, w: model.sample(2, cond, generator=torch.Generator().manual_seed(0), steps=5, guidance=w)
    assert not torch.equal(draw(first, 1.0), draw(other, 1.0))
    assert not torch.equal(draw(first, 1.0), draw(first, 0.0))
    assert torch.equal(draw(first, 0.0), draw(other, 0.0))  # guidance 0 ignores the condition
    with pytest.raises(ValueError, match="pass a condition"):
        model.sample(2)


def test_invalid_settings_are_refused():
    for bad, match in [
        (dict(condition="music"), "condition must be"),
        (dict(schedule="sqrt"), "schedule must be"),
        (dict(image_size=9), "multiple of 2 .2 resolution levels"),
        (dict(widths=(8, 12)), "multiples of 8"),
        (dict(timesteps=1), "timesteps"),
        (dict(prediction="x0"), "prediction must be"),
        (dict(min_snr=-1.0), "min_snr"),
    ]:
        with pytest.raises(ValueError, match=match):
            Diffusion(DiffusionConfig(**{**TINY, **bad}))
    model = tiny()
    with pytest.raises(ValueError, match="n must be in 1..1024"):
        model.sample(1025)
    with pytest.raises(ValueError, match="steps must be in 1..10"):
        model.sample(1, steps=11)
    with pytest.raises(ValueError, match="needs a conditional model"):
        model.sample(1, guidance=3.0)
    with pytest.raises(ValueError, match="expected uint8 images"):
        model.log_prob(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))


def test_weight_average_follows_training_and_is_what_samples(data, tmp_path):
    torch.manual_seed(0)
    model = Diffusion(DiffusionConfig(**{**TINY, "ema_decay": 0.5}))
    optimizer = model.configure_optimizer(1e-2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train_step(data.images[:8], None, optimizer)
    buffers = dict(model.named_buffers())
    for name, p in model.named_parameters():  # average = 0.5 old + 0.5 new after one step
        assert torch.allclose(buffers["average__" + name.replace(".", "__")], 0.5 * before[name] + 0.5 * p.detach())
    model.eval()
    trained = {n: p.detach().clone() for n, p in model.named_parameters()}
    draw = lambda m: m.sample(2, generator=torch.Generator().manual_seed(0), steps=5)
    last = Diffusion(DiffusionConfig(**TINY)).eval()
    last.load_state_dict({n: p for n, p in model.state_dict().items() if not n.startswith("average__")})
    assert not torch.equal(draw(model), draw(last))  # sampling used the average, not the last weights
    assert all(torch.equal(trained[n], p) for n, p in model.named_parameters())  # restored after sampling
    loaded = load(save(model, tmp_path / "ema.safetensors"))
    assert torch.equal(draw(model), draw(loaded))
