"""Glow-style image flow and the RealNVP vector flow: invertibility, log-determinants against brute-force
Jacobians, normalisation, actnorm initialisation, training, sampling, checkpoints, conditioning."""

import math

import pytest
import torch
from sklearn.datasets import make_moons

from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.flow import (
    LOG_STD_MAX,
    MIN_SCALE,
    ActNorm,
    AffineCoupling,
    Dequantizer,
    Flow,
    FlowConfig,
    FlowStep,
    InvertibleConv1x1,
    VectorFlow,
    VectorFlowConfig,
    squeeze,
    unsqueeze,
)
from playground.models.registry import build

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(image_size=8, levels=2, steps=2, hidden=16)


def nudge(module, scale=0.05, seed=0):
    """Move every parameter off its (often zero, identity-like) initialisation so the tests see real maps."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    return nudge(Flow(FlowConfig(**{**TINY, **overrides})).eval(), seed=seed)


@pytest.fixture(scope="module")
def data():
    return load_world("exact", 16, 0, image_size=8)


def layer_cases(dtype):
    """(name, layer, input, condition vector) for every layer type, on a 2x4x4 (or 4x2x2) input."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 2, 2, dtype=dtype)
    cond = torch.randn(2, 5, dtype=dtype)
    return [
        ("actnorm", ActNorm(4), x, None),
        ("conv1x1", InvertibleConv1x1(4), x, None),
        ("coupling", AffineCoupling(4, 8, 5), x, cond),
        ("step", FlowStep(4, 8, 5), x, cond),
    ]


def test_actnorm_initialises_to_whitened_channels_once():
    layer = ActNorm(4).train()
    x = 3 + 2 * torch.randn(8, 4, 5, 5)
    out, _ = layer(x)
    assert out.mean((0, 2, 3)).abs().max() < 1e-5 and (out.std((0, 2, 3), unbiased=False) - 1).abs().max() < 1e-5
    bias = layer.bias.clone()
    layer(x + 1)
    assert torch.equal(bias, layer.bias) and bool(layer.initialized)


@pytest.mark.parametrize("index", range(4))
def test_each_layer_inverts(index):
    name, layer, x, cond = layer_cases(torch.float32)[index]
    nudge(layer, 0.3)
    y, _ = layer(x, cond)
    assert (layer.inverse(y, cond) - x).abs().max() < 1e-4, name
    assert torch.equal(unsqueeze(squeeze(x)), x)


@pytest.mark.parametrize("index", range(4))
def test_each_layer_log_det_matches_the_jacobian(index):
    name, layer, x, cond = layer_cases(torch.float64)[index]
    nudge(layer.double(), 0.3)
    for b in range(2):
        c = None if cond is None else cond[b : b + 1]
        jacobian = torch.autograd.functional.jacobian(
            lambda v: layer(v.view(1, 4, 2, 2), c)[0].flatten(), x[b].flatten()
        )
        assert abs(float(layer(x[b : b + 1], c)[1].detach()) - float(torch.linalg.slogdet(jacobian)[1])) < 1e-8, name


def test_whole_flow_log_density_is_the_change_of_variables():
    """log p(y) = log N(eps) + log |det d eps / dy| with the Jacobian of the whole map (logit, 2 levels, priors)."""
    torch.manual_seed(0)
    model = nudge(Flow(FlowConfig(image_size=4, channels=1, levels=2, steps=2, hidden=8, condition="class")), 0.2)
    model = model.double().eval()
    y = 0.05 + 0.9 * torch.rand(1, 1, 4, 4, dtype=torch.float64)
    cond = model._condition(torch.tensor([[1, 2]]), 1)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: model._to_noise(v.view(1, 1, 4, 4), cond)[0][0], y.flatten()
    )
    eps = model._to_noise(y, cond)[0]
    expected = -0.5 * (eps**2 + math.log(2 * math.pi)).sum() + torch.linalg.slogdet(jacobian)[1]
    assert abs(float(model._log_density(y, cond).detach()) - float(expected.detach())) < 1e-8


def test_log_prob_by_hand_for_a_one_step_flow():
    """An untrained 1x2x2 flow on y = (x + u) / 256: logit, squeeze to (4, 1, 1), identity actnorm, 1x1 conv W,
    coupling with the constant scale g(0) on the second half, prior N(0, sigma^2 I) with sigma at its starting
    value; minus D log 256 for the discrete image."""
    torch.manual_seed(0)
    model = Flow(FlowConfig(image_size=2, channels=1, levels=1, steps=1, hidden=4, dequantization="uniform")).eval()
    x = torch.tensor([[[[0, 100], [200, 255]]]], dtype=torch.uint8)
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))  # log_prob's default noise
    y = 0.05 + 0.9 * (x.double() + u).flatten() / 256
    v = torch.log(y / (1 - y))
    weight = model.levels[0][0].layers[1].weight().detach().double()
    scale = MIN_SCALE + (1 - MIN_SCALE) / (1 + math.exp(-2.0))
    log_std = LOG_STD_MAX - math.log1p(math.exp(LOG_STD_MAX))
    z = weight @ v
    z[2:] = z[2:] * scale
    eps = z / math.exp(log_std)
    log_det = (
        (math.log(0.9) - torch.log(y * (1 - y))).sum()
        + torch.linalg.slogdet(weight)[1]
        + 2 * math.log(scale)
        - 4 * log_std
    )
    expected = -0.5 * (eps**2 + math.log(2 * math.pi)).sum() + log_det - 4 * math.log(256)
    assert abs(float(model.log_prob(x)) - float(expected)) < 1e-4


def test_density_integrates_to_one():
    """int p(y) dy = 1 for a 1x2x2 flow, by importance sampling: v ~ N(0, 2^2 I) (quasi-random) pushed
    through the inverse logit, y = (sigmoid(v) - a) / (1 - 2a), with density q(y) = N(v) |dv/dy|."""
    torch.manual_seed(0)
    model = nudge(Flow(FlowConfig(image_size=2, channels=1, levels=1, steps=2, hidden=8)), 0.1).double().eval()
    a, s = model.config.logit_alpha, 2.0
    u = torch.quasirandom.SobolEngine(4, scramble=True, seed=0).draw(2**14, dtype=torch.float64)
    v = s * math.sqrt(2) * torch.erfinv(2 * u - 1)  # (N, 4) normal quantiles
    squashed = torch.sigmoid(v)
    y = (squashed - a) / (1 - 2 * a)
    log_q = (
        -0.5 * (v / s) ** 2
        - math.log(s * math.sqrt(2 * math.pi))
        + math.log(1 - 2 * a)
        - torch.log(squashed * (1 - squashed))
    ).sum(1)
    with torch.no_grad():
        weights = (model._log_density(y.view(-1, 1, 2, 2), None) - log_q).exp()
    assert abs(float(weights.mean()) - 1) < 0.005


def test_fewer_bits_model_the_coarse_image():
    """With bits = 1 a 1x2x2 flow scores the one-bit image k = x >> 7: log_prob(x) = log p((k + u) / 2) - 4 log 2
    with u the same uniform draw (the bound on log P(k)), and 8-bit images in the same bins score the same."""
    torch.manual_seed(0)
    model = nudge(
        Flow(FlowConfig(image_size=2, channels=1, levels=1, steps=2, hidden=8, bits=1, dequantization="uniform")), 0.1
    ).eval()
    levels = torch.tensor([[(k >> i) & 1 for i in range(4)] for k in range(16)], dtype=torch.uint8).view(16, 1, 2, 2)
    x = levels * 128 + torch.randint(0, 128, (16, 1, 2, 2), generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))  # log_prob's default noise
    expected = model._log_density((levels + u) / 2, None) - 4 * math.log(2)
    assert torch.allclose(model.log_prob(x), expected, atol=1e-5)
    assert torch.equal(model.log_prob(x), model.log_prob(levels * 128))


def test_fewer_bits_decode_to_bin_centres(data):
    """A 5-bit flow's codes decode to the 5-bit image shown at its bins' middles (x >> 3 << 3 | 4), and
    its samples use only those 32 values."""
    model = tiny(bits=5)
    assert torch.equal(model.decode(model.encode(data.images)), data.images >> 3 << 3 | 4)
    values = model.sample(4, generator=torch.Generator().manual_seed(0)).unique()
    assert bool(((values & 7) == 4).all())


def test_variational_dequantizer_density_is_the_change_of_variables():
    """log q(u | x) = log N(e) - log |det du/de| for the map e -> u, and u stays inside its bin."""
    torch.manual_seed(0)
    dequantizer = nudge(Dequantizer(2, 8), 0.3)
    x = torch.randint(0, 256, (1, 2, 3, 3), dtype=torch.uint8)
    e = 2 * torch.randn(1, 2, 3, 3)
    u, log_q = dequantizer(x, e)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: dequantizer(x, v.view(1, 2, 3, 3))[0].flatten(), e.flatten()
    )
    expected = -0.5 * (e**2 + math.log(2 * math.pi)).sum() - torch.linalg.slogdet(jacobian)[1]
    assert abs(float(log_q.detach()) - float(expected)) < 1e-4
    assert ((u > 0) & (u < 1)).all()


def test_image_flow_inverts_and_codes_are_flat(data):
    model = tiny(condition="class")
    cond = model._condition(data.labels, 16)
    y, _ = model._dequantize(data.images, torch.Generator().manual_seed(0))
    eps, _ = model._to_noise(y, cond)
    assert eps.shape == (16, 3 * 8 * 8)
    assert (model._from_noise(eps, cond) - y).abs().max() < 1e-4
    assert torch.equal(model.decode(model.encode(data.images, data.labels), data.labels), data.images)


def test_actnorm_init_is_deterministic_and_survives_save_load(tmp_path, data):
    def first_step():
        torch.manual_seed(0)
        model = build("flow", **TINY)
        model.train_step(data.images, None, torch.optim.SGD(model.parameters(), lr=0.0))
        return model

    a, b = first_step(), first_step()
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert all(bool(m.initialized) for m in a.modules() if isinstance(m, ActNorm))
    save(a, tmp_path / "flow.safetensors")
    loaded = load(tmp_path / "flow.safetensors").train()
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    loaded.loss(data.images[:4] // 2)  # another batch must not re-initialise
    assert all(torch.equal(before[k], v) for k, v in loaded.state_dict().items())


@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
def test_loss_is_finite_and_decreases(dequantization, data):
    torch.manual_seed(0)
    model = build("flow", **TINY, dequantization=dequantization)
    optimizer = model.configure_optimizer(3e-3)
    x = data.images[:8]
    model.train_step(x, None, optimizer)  # the first step initialises actnorm
    before = float(model.log_prob(x).mean())
    for _ in range(25):
        assert math.isfinite(model.train_step(x, None, optimizer)["loss"])
    after = float(model.log_prob(x).mean())
    assert after > before + 0.5 * 3 * 64  # at least half a nat per subpixel better


def test_samples_are_uint8_seeded_and_tempered():
    model = tiny()
    a = model.sample(3, generator=torch.Generator().manual_seed(5))
    assert a.shape == (3, 3, 8, 8) and a.dtype == torch.uint8
    assert torch.equal(a, model.sample(3, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(a, model.sample(3, generator=torch.Generator().manual_seed(6)))
    cold = model.sample(2, generator=torch.Generator().manual_seed(5), temperature=0.0)
    assert torch.equal(cold[0], cold[1])  # T = 0 decodes eps = 0, the mode of the base
    with pytest.raises(ValueError, match="n must be in"):
        model.sample(1025)


def test_log_prob_is_deterministic_and_its_noise_seeded(data):
    model = tiny()
    x = data.images[:4]
    assert torch.equal(model.log_prob(x), model.log_prob(x))
    noisy = model.log_prob(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noisy, model.log_prob(x, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(noisy, model.log_prob(x))
    assert torch.allclose(model.bits_per_dim(x), -model.log_prob(x) / (math.log(2) * 192))


def test_save_load_gives_identical_log_prob_and_samples(tmp_path, data):
    model = tiny(condition="class")
    save(model, tmp_path / "flow.safetensors")
    loaded = load(tmp_path / "flow.safetensors")
    assert torch.equal(model.log_prob(data.images, data.labels), loaded.log_prob(data.images, data.labels))
    label = data.labels[:1]
    assert torch.equal(
        model.sample(4, label, generator=torch.Generator().manual_seed(0)),
        loaded.sample(4, label, generator=torch.Generator().manual_seed(0)),
    )


@pytest.mark.parametrize("kind", ["class", "caption"])
def test_conditional_variants_run_and_the_condition_matters(kind, data):
    model = tiny(condition=kind, seed=1)
    condition = data.condition(kind)
    assert torch.isfinite(model.loss(data.images, condition))
    a = model.sample(2, condition[:1], generator=torch.Generator().manual_seed(0))
    b = model.sample(2, condition[5:6], generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 3, 8, 8) and not torch.equal(a, b)
    with pytest.raises(ValueError, match="pass a condition"):
        model.sample(2)


def test_config_is_validated():
    with pytest.raises(ValueError, match="condition must be one of"):
        Flow(FlowConfig(condition="colour"))
    with pytest.raises(ValueError, match="dequantization must be one of"):
        Flow(FlowConfig(dequantization="gaussian"))
    with pytest.raises(ValueError, match="bits must be in 1..8"):
        Flow(FlowConfig(bits=0))
    with pytest.raises(ValueError, match="multiple of 8 .each of the levels"):
        Flow(FlowConfig(image_size=12, levels=3))
    with pytest.raises(ValueError, match="images must be uint8"):
        tiny().log_prob(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="eps must have shape"):
        tiny().decode(torch.zeros(2, 5))


# --- VectorFlow


def moons(n=512, seed=0):
    return torch.tensor(make_moons(n, noise=0.05, random_state=seed)[0], dtype=torch.float32)


def test_vector_flow_inverts_and_its_log_det_matches_the_jacobian():
    torch.manual_seed(0)
    flow = nudge(VectorFlow(VectorFlowConfig(dim=3, couplings=4, hidden=16)), 0.3)
    x = torch.randn(5, 3)
    z, log_det = flow(x)
    assert (flow.inverse(z) - x).abs().max() < 1e-4
    flow = flow.double()
    for b in range(2):
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[b].double())
        assert abs(float(flow(x[b : b + 1].double())[1].detach()) - float(torch.linalg.slogdet(jacobian)[1])) < 1e-8


def test_vector_flow_learns_two_moons():
    torch.manual_seed(0)
    flow = VectorFlow(VectorFlowConfig(couplings=6, hidden=32))
    train, test = moons(256, 0), moons(512, 1)
    optimizer = torch.optim.Adam(flow.parameters(), lr=3e-3)
    before = float(flow.loss(test).detach())
    for _ in range(100):
        optimizer.zero_grad()
        flow.loss(train).backward()
        optimizer.step()
    after = float(flow.loss(test).detach())
    assert after < before - 1.0  # held-out NLL in nats
    samples = flow.sample(256, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (256, 2)
    assert torch.equal(samples, flow.sample(256, generator=torch.Generator().manual_seed(0)))
    assert (flow.inverse(flow(test)[0]) - test).abs().max() < 1e-4


def test_weight_average_is_what_scores_codes_and_samples(tmp_path, data):
    """With ema_decay, log_prob, encode, decode and sample read the average (trained weights left in
    place); the actnorms' first-batch init reaches it through the warm-up; it is saved and loaded."""
    torch.manual_seed(0)
    model = Flow(FlowConfig(**TINY, ema_decay=0.99))
    optimizer = model.configure_optimizer(1e-2)
    for _ in range(4):
        model.train_step(data.images, None, optimizer)
    model.eval()
    trained = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    as_average = Flow(FlowConfig(**TINY))
    as_average.load_state_dict(
        {n: buffers["average__" + n.replace(".", "__")] for n in trained}
        | {n: b for n, b in model.state_dict().items() if n not in trained and not n.startswith("average__")}
    )
    as_average.eval()
    actnorm = "levels.0.0.layers.0.bias"  # the first step's actnorm
    assert actnorm in trained and buffers["average__" + actnorm.replace(".", "__")].abs().sum() > 0  # init reached it
    torch.testing.assert_close(model.log_prob(data.images), as_average.log_prob(data.images))
    torch.testing.assert_close(model.encode(data.images), as_average.encode(data.images))
    draw = lambda m: m.sample(3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draw(model), draw(as_average))
    assert all(torch.equal(trained[n], p) for n, p in model.named_parameters())  # restored after each use
    assert not torch.equal(model.log_prob(data.images), Flow(FlowConfig(**TINY)).eval().log_prob(data.images))
    assert torch.equal(draw(load(save(model, tmp_path / "ema.safetensors"))), draw(model))
    with pytest.raises(ValueError, match="ema_decay"):
        Flow(FlowConfig(**TINY, ema_decay=-0.1))


def test_max_grad_norm_clips_the_step(data):
    """With max_grad_norm c, one plain gradient step (SGD, rate 1) moves the weights by exactly c in L2."""
    torch.manual_seed(0)
    model = Flow(FlowConfig(**TINY, max_grad_norm=0.01))
    model.train_step(data.images, None, torch.optim.SGD(model.parameters(), lr=0.0))  # actnorm's first-batch init
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    model.train_step(data.images, None, torch.optim.SGD(model.parameters(), lr=1.0))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(0.01, rel=1e-3)
    with pytest.raises(ValueError, match="max_grad_norm"):
        Flow(FlowConfig(**TINY, max_grad_norm=-1.0))
