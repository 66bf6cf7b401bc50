"""Gated PixelCNN: training, causality, the exact likelihood, the fast sampler, conditions, checkpoints."""

import math

import pytest
import torch

from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.pixelcnn import PixelCNN, PixelCNNConfig
from playground.models.registry import build

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(image_size=6, hidden=12, layers=3, kernel=3, first_kernel=5, condition_dim=8)


def tiny(seed=0, **overrides):
    """A tiny model with its weights shaken, so every allowed input visibly moves every output."""
    torch.manual_seed(seed)
    model = PixelCNN(PixelCNNConfig(**{**TINY, **overrides})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def raster(c, i, j, channels, size):
    """Position of subpixel (c, i, j) in the generation order: rows, then columns, then R, G, B."""
    return (i * size + j) * channels + c


def naive_sample(model, n, condition=None, *, generator):
    """The reference sampler: the whole image through the network for every subpixel, with the same
    uniforms and the same inverse-CDF draw as the model's cached sampler."""
    c, size = model.config.channels, model.config.image_size
    uniforms = torch.rand(n, c, size, size, generator=generator)
    image = torch.zeros(n, c, size, size, dtype=torch.uint8)
    with torch.no_grad():
        for i in range(size):
            for j in range(size):
                for channel in range(c):
                    logits = model.logits(image, condition)[:, :, channel, i, j]  # (n, 256)
                    image[:, channel, i, j] = model.pick(logits, uniforms[:, channel, i, j]).to(torch.uint8)
    return image


@pytest.fixture(scope="module")
def data():
    return load_world("exact", 8, 0, image_size=8)


def test_loss_is_finite_and_decreases(data):
    torch.manual_seed(0)
    model = build("pixelcnn", image_size=8, hidden=12, layers=2)
    optimizer = model.configure_optimizer(1e-2)
    with torch.no_grad():
        before = float(model.loss(data.images))
    assert before == pytest.approx(math.log(256), rel=0.05)  # a fresh model is near uniform
    for _ in range(30):
        record = model.train_step(data.images, None, optimizer)
        assert math.isfinite(record["loss"])
    with torch.no_grad():
        assert float(model.loss(data.images)) < 0.5 * before


@pytest.mark.parametrize(
    "settings", [{}, {"context": True}, {"output": "logistic"}, {"output": "nibbles"}, {"seen": 4}]
)
def test_changing_a_subpixel_leaves_every_earlier_distribution_alone(settings):
    model, c, size = tiny(**settings), 3, TINY["image_size"]
    x = torch.randint(0, 256, (1, c, size, size), dtype=torch.uint8)
    edits = []
    for channel in range(c):
        for i in range(size):
            for j in range(size):
                y = x.clone()
                y[0, channel, i, j] += 101  # wraps around in uint8
                edits.append((raster(channel, i, j, c, size), y))
    with torch.no_grad():
        base = model.logits(x)  # (1, 256, C, H, W)
        moved = (model.logits(torch.cat([y for _, y in edits])) - base).abs().amax(1)  # (N, C, H, W)
    order = torch.tensor([[[raster(ch, i, j, c, size) for j in range(size)] for i in range(size)] for ch in range(c)])
    for (d, _), change in zip(edits, moved):
        assert change[order <= d].max() < 1e-5, f"editing subpixel {d} moved a distribution at or before it"
    # and information does flow forward: every edit but the last reaches some later distribution
    assert all(change[order > d].max() > 1e-4 for (d, _), change in zip(edits, moved) if d + 1 < order.numel())


def test_the_global_context_sees_past_the_stacks_window():
    """With 2 layers and a 3x3 first kernel the stacks see 2 rows up; the summaries see everything
    drawn so far, so an object far above (row 0, on plain ground) moves the last row's distributions
    only with them. (A running max passes on what exceeds what it holds: brighter or darker, one of
    the two does.)"""
    size = 12
    x = torch.full((1, 3, size, size), 128, dtype=torch.uint8)
    edits = torch.cat([x, x])
    edits[0, :, 0, 0], edits[1, :, 0, 0] = 250, 5
    for settings, sees in [({}, False), ({"context": True}, True), ({"seen": 4}, True)]:
        model = tiny(image_size=size, layers=2, first_kernel=3, **settings)
        with torch.no_grad():
            change = (model.logits(edits) - model.logits(x)).abs().amax(1)[:, :, -1]  # (2, C, W): last row
        assert bool(change.max() > 1e-4) == sees, settings


def test_first_subpixel_does_not_depend_on_the_image():
    model = tiny()
    images = torch.randint(0, 256, (16, 3, 6, 6), dtype=torch.uint8)
    with torch.no_grad():
        first = model.logits(images)[:, :, 0, 0, 0]  # (16, 256)
    assert torch.allclose(first, first[:1].expand_as(first), atol=1e-5)
    assert first.std() > 0.1  # a real distribution, not a constant


def test_log_prob_is_the_sum_of_per_subpixel_log_probs(data):
    model = tiny(image_size=8)
    with torch.no_grad():
        logits = model.logits(data.images)  # (B, 256, C, H, W)
        log_prob = model.log_prob(data.images)
    by_hand = torch.zeros(len(data.images), dtype=torch.float64)
    for b in range(len(data.images)):
        for channel in range(3):
            for i in range(8):
                for j in range(8):
                    z = logits[b, :, channel, i, j].double()
                    by_hand[b] += z[int(data.images[b, channel, i, j])] - torch.logsumexp(z, 0)
    assert torch.allclose(log_prob.double(), by_hand, rtol=1e-5)
    assert torch.allclose(model.bits_per_dim(data.images), -log_prob / (math.log(2) * 3 * 64))


def test_the_logistic_mixture_is_a_normalised_distribution_over_the_256_levels():
    """Every bin's log-probability is finite and they sum to 1, for broad, narrow and extreme scales
    and for means inside and outside [-1, 1]; a narrow component centred on a level puts almost all
    its mass there, and its doubt on the neighbouring levels, not on far ones."""
    from playground.models.pixelcnn import logistic_log_probs

    torch.manual_seed(0)
    levels = torch.arange(256)
    for log_scale in (3.0, 0.0, -4.0, -7.0, -30.0):
        params = torch.cat([torch.randn(6, 4), torch.rand(6, 4) * 2.6 - 1.3, torch.full((6, 4), log_scale)], -1)
        log_p = logistic_log_probs(params[:, None], levels)  # (6, 256)
        assert torch.isfinite(log_p).all()
        assert torch.allclose(log_p.double().exp().sum(1), torch.ones(6, dtype=torch.float64), atol=1e-5)
    mean = 173 / 127.5 - 1  # one component at level 173
    p = logistic_log_probs(torch.tensor([0.0, mean, -5.0]), levels).exp()  # s = e^-5: under one level
    assert int(p.argmax()) == 173 and p[173] > 0.2
    assert p[165:182].sum() > 0.99 and p[:150].sum() < 1e-3


@pytest.mark.parametrize("output", ["logistic", "nibbles"])
def test_true_byte_log_prob_matches_the_full_table(data, output):
    """The training path (only the true bin, or only the true high nibble's row) and the 256-level
    table the sampler and coder read agree."""
    model = tiny(image_size=8, output=output)
    with torch.no_grad():
        table = model.logits(data.images).log_softmax(1).gather(1, data.images.long()[:, None]).flatten(1).sum(1)
        assert torch.allclose(model.log_prob(data.images), table, rtol=1e-5)
        assert float(model.loss(data.images)) == pytest.approx(float(-table.sum() / data.images.numel()), rel=1e-5)


@pytest.mark.parametrize("output", ["softmax", "logistic", "nibbles"])
def test_probabilities_of_all_images_sum_to_one(output):
    """Two subpixels (a 1x1 image with two channels): all 65536 images, so p is normalised exactly."""
    model = tiny(image_size=1, channels=2, hidden=4, output=output)
    values = torch.arange(256, dtype=torch.uint8)
    images = torch.stack(torch.meshgrid(values, values, indexing="ij"), dim=-1).reshape(-1, 2, 1, 1)
    total = model.log_prob(images).double().exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "condition, settings",
    [
        ("none", {}),
        ("class", {}),
        ("none", {"context": True}),
        ("class", {"context": True}),
        ("none", {"context": True, "output": "logistic"}),
        ("none", {"seen": 4}),
        ("class", {"seen": 4, "context": True}),
        ("class", {"seen": 4, "output": "nibbles"}),
    ],
)
def test_cached_sampler_matches_the_naive_sampler(condition, settings):
    model = tiny(condition=condition, **settings)
    labels = torch.tensor([[0, 1], [2, 5], [1, 7]]) if condition == "class" else None
    fast = model.sample(3, labels, generator=torch.Generator().manual_seed(7))
    slow = naive_sample(model, 3, labels, generator=torch.Generator().manual_seed(7))
    assert torch.equal(fast, slow)


def test_samples_are_uint8_and_deterministic():
    model = tiny()
    a = model.sample(4, generator=torch.Generator().manual_seed(1))
    b = model.sample(4, generator=torch.Generator().manual_seed(1))
    c = model.sample(4, generator=torch.Generator().manual_seed(2))
    assert a.shape == (4, 3, 6, 6) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sample_steps_fill_rows_and_end_with_the_sample():
    model = tiny()
    steps = list(model.sample_steps(2, generator=torch.Generator().manual_seed(3), every=2))
    assert len(steps) == 3  # after rows 2, 4 and 6
    assert all(s.shape == (2, 3, 6, 6) and s.dtype == torch.uint8 for s in steps)
    assert (steps[0][:, :, 2:] == 0).all() and torch.equal(steps[0][:, :, :2], steps[-1][:, :, :2])
    assert torch.equal(steps[-1], model.sample(2, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("condition", ["none", "class", "caption"])
def test_checkpoint_round_trip(tmp_path, data, condition):
    model = tiny(image_size=8, condition=condition)
    cond = data.condition(condition)
    path = save(model, tmp_path / "pixelcnn.safetensors")
    loaded = load(path)
    assert isinstance(loaded, PixelCNN) and loaded.config == model.config
    assert torch.equal(loaded.log_prob(data.images, cond), model.log_prob(data.images, cond))
    first = None if cond is None else cond[:2]
    assert torch.equal(
        loaded.sample(2, first, generator=torch.Generator().manual_seed(0)),
        model.sample(2, first, generator=torch.Generator().manual_seed(0)),
    )


@pytest.mark.parametrize("condition", ["class", "caption"])
def test_the_condition_changes_samples_and_likelihood(data, condition):
    model = tiny(image_size=8, condition=condition)
    cond = data.condition(condition)
    a = model.sample(2, cond[:1], generator=torch.Generator().manual_seed(0))
    b = model.sample(2, cond[1:2], generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, b)
    assert not torch.allclose(model.log_prob(data.images, cond), model.log_prob(data.images, cond.roll(1, 0)))
    with pytest.raises(ValueError, match="pass a condition"):
        model.sample(1, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(condition="text"), "condition must be one of"),
        (dict(hidden=10), "multiple of channels"),
        (dict(kernel=4), "kernel must be odd"),
        (dict(first_kernel=1), "first_kernel must be odd"),
        (dict(image_size=0), "image_size"),
        (dict(output="gaussian"), "output must be one of"),
        (dict(output="logistic", mixtures=0), "mixtures must be in"),
        (dict(seen=-1), "seen must be in"),
    ],
)
def test_bad_configs_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        PixelCNN(PixelCNNConfig(**{**TINY, **bad}))


def test_user_facing_sizes_are_checked():
    model = tiny()
    with pytest.raises(ValueError, match="n must be in"):
        model.sample(1025)
    with pytest.raises(ValueError, match="every must be"):
        next(model.sample_steps(1, every=0))
    with pytest.raises(ValueError, match="expected uint8 images"):
        model.log_prob(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(1, torch.tensor([[0, 1]]))


def test_weight_average_warms_up_and_is_what_scores_samples_and_codes(data, tmp_path):
    """With ema_decay the average takes d = min(decay, (1 + t) / (10 + t)) at update t; log_prob, the
    one-pass logits and the sampler all read it (and leave the trained weights in place); it is saved."""
    torch.manual_seed(0)
    model = build("pixelcnn", image_size=8, hidden=12, layers=2, ema_decay=0.9)
    optimizer = model.configure_optimizer(1e-2)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train_step(data.images, None, optimizer)  # t = 1: d = 2/11
    buffers = dict(model.named_buffers())
    for name, p in model.named_parameters():
        d = 2 / 11
        torch.testing.assert_close(
            buffers["average__" + name.replace(".", "__")], d * start[name] + (1 - d) * p.detach()
        )
    for _ in range(5):
        model.train_step(data.images, None, optimizer)
    trained = {n: p.detach().clone() for n, p in model.named_parameters()}
    last = build("pixelcnn", image_size=8, hidden=12, layers=2)  # the last weights, no average
    last.load_state_dict({n: p for n, p in model.state_dict().items() if not n.startswith("average__")})
    as_average = build("pixelcnn", image_size=8, hidden=12, layers=2)  # the average as plain weights
    as_average.load_state_dict(
        {n: buffers["average__" + n.replace(".", "__")] for n in trained}
        | {n: b for n, b in last.state_dict().items() if n not in trained}
    )
    x = data.images[:4]
    torch.testing.assert_close(model.log_prob(x), as_average.log_prob(x))
    torch.testing.assert_close(model.logits(x), as_average.logits(x))
    assert not torch.allclose(model.log_prob(x), last.log_prob(x))
    draw = lambda m: m.sample(3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draw(model), draw(as_average))
    assert all(torch.equal(trained[n], p) for n, p in model.named_parameters())  # restored after each use
    assert torch.equal(draw(load(save(model, tmp_path / "ema.safetensors"))), draw(model))
    with pytest.raises(ValueError, match="ema_decay"):
        build("pixelcnn", image_size=8, ema_decay=1.0)
