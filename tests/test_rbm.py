"""The RBM family: exact checks of the free energy and of AIS on an enumerable RBM, PCD, sklearn import."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.rbm import RBM, RBMConfig, binarize, compare_with_sklearn, from_sklearn, to_sklearn

pytestmark = pytest.mark.usefixtures("one_thread")

# 2x2 RGB images are 12 visible bits: 4096 visible states, small enough to enumerate
TINY = dict(image_size=2, hidden=4, ais_betas=3000, ais_runs=400)


def all_bits(d: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)))  # (2^d, d)


def bits_to_images(bits: torch.Tensor, size: int = 2) -> torch.Tensor:
    return (bits.reshape(-1, 3, size, size) * 255).to(torch.uint8)


def random_tiny_rbm(seed: int = 0, scale: float = 1.0) -> RBM:
    torch.manual_seed(seed)
    model = RBM(RBMConfig(**TINY))
    with torch.no_grad():
        model.W.normal_(0, scale)
        model.b.normal_(0, scale)
        model.c.normal_(0, scale)
    model.observe(torch.bernoulli(torch.full((50, 12), 0.3)))  # a base rate that is not the target
    return model


def exact_log_z(model: RBM) -> float:
    return float(torch.logsumexp(-model.free_energy(all_bits(12)).detach(), 0))


def test_free_energy_is_the_marginal_over_hiddens():
    model = random_tiny_rbm()
    v, h = all_bits(12), all_bits(4)  # (4096, 12), (16, 4)
    with torch.no_grad():
        energy = -(v @ model.W @ h.T) - (v @ model.b)[:, None] - (h @ model.c)[None, :]  # (4096, 16)
        brute = -torch.logsumexp(-energy, 1)
        assert torch.allclose(model.free_energy(v), brute, atol=1e-4)
        # and Z over the joint (v, h) states is Z over v of exp(-F)
        assert math.isclose(float(torch.logsumexp(-energy.flatten(), 0)), exact_log_z(model), abs_tol=1e-4)


def test_ais_matches_the_exact_partition_function():
    model = random_tiny_rbm(seed=1)
    exact = exact_log_z(model)
    log_z, stderr = model.estimate_log_z()
    assert abs(log_z - exact) < 0.03 and 0 < stderr < 0.03
    # a poor base rate and few steps are worse, but still in the right place
    assert abs(model.estimate_log_z(betas=30, runs=50)[0] - exact) < 1.0


def test_importance_sampling_over_hiddens_matches_the_exact_partition_function():
    """Z = sum_h exp(-G(h)) exactly (the visible units summed out), and sampling h from the posteriors of a
    few training images estimates it, with a small relative error; the estimate becomes the model's log Z."""
    model = random_tiny_rbm(seed=5, scale=2.0)
    exact = exact_log_z(model)
    with torch.no_grad():
        assert float(torch.logsumexp(-model.hidden_free_energy(all_bits(4)), 0)) == pytest.approx(exact, abs=1e-4)
    data = all_bits(12)[torch.randperm(4096, generator=torch.Generator().manual_seed(0))[:40]]
    log_z, stderr, n = model.estimate_log_z_from_data(data, draws=20_000)
    assert abs(log_z - exact) < 3 * stderr + 1e-3 and 0 < stderr < 0.05 and n == 20_000
    model.set_log_z_from_data(data, draws=20_000)
    assert float(model.log_z) == pytest.approx(log_z, abs=1e-3) and int(model.log_z_draws) == 20_000
    model.set_log_z_from_data(data, draws=40, target=0.01, max_draws=40_000)  # doubled until the error is small
    assert float(model.log_z_stderr) < 0.01 or int(model.log_z_draws) >= 40_000
    assert int(model.log_z_draws) > 40 and abs(float(model.log_z) - exact) < 3 * float(model.log_z_stderr) + 1e-3
    few = model.estimate_log_z_from_data(data, draws=20_000, components=5)  # a proposal from 5 of the 40 images
    assert abs(few[0] - exact) < 3 * few[1] + 1e-3
    old = {k: v for k, v in model.state_dict().items() if k != "log_z_draws"}  # written before it existed
    again = RBM(RBMConfig(**TINY))
    again.load_state_dict(old)
    assert float(again.log_z_draws) == 0.0
    with pytest.raises(ValueError, match="at least one training image"):
        model.estimate_log_z_from_data(data[:0])


def test_log_prob_sums_to_one_over_every_image():
    model = random_tiny_rbm(seed=2)
    total = float(model.log_prob(bits_to_images(all_bits(12))).exp().sum())
    assert abs(total - 1.0) < 0.03
    assert torch.isfinite(model.log_z) and model.log_z_stderr > 0


def test_pcd_raises_the_exact_likelihood():
    torch.manual_seed(0)
    model = RBM(RBMConfig(image_size=2, hidden=8, chains=50, gibbs_steps=5, ais_betas=100))
    prototypes = torch.tensor([[1.0] * 6 + [0.0] * 6, [0.0] * 6 + [1.0] * 6, [1.0, 0.0] * 6])
    data = prototypes[torch.arange(48) % 3]  # (48, 12)
    flips = torch.rand(data.shape) < 0.05
    images = bits_to_images(torch.where(flips, 1 - data, data))

    def exact_nll():
        with torch.no_grad():
            return float((model.free_energy(binarize(images)) + exact_log_z(model)).mean())

    before = exact_nll()
    optimizer = model.configure_optimizer(0.03)
    records = [model.train_step(images, None, optimizer) for _ in range(100)]
    assert all(math.isfinite(r["loss"]) for r in records)
    errors = [r.get("reconstruction_error") for r in records]  # every 10th update: the logged rows
    assert [i + 1 for i, e in enumerate(errors) if e is not None] == list(range(10, 101, 10))
    assert 0 < errors[-1] < errors[9]  # it learns to reconstruct
    assert exact_nll() < before - 2.0  # nats per image
    assert torch.isnan(model.log_z)  # training made the cache stale


def test_pcd_lowers_free_energy_of_data_against_noise():
    data = load_world("exact", 64, 0, image_size=8)
    torch.manual_seed(0)
    model = RBM(RBMConfig(image_size=8, hidden=16, chains=32))
    noise = torch.bernoulli(torch.full((64, 192), 0.5))

    def gap():
        with torch.no_grad():
            return float(model.free_energy(binarize(data.images)).mean() - model.free_energy(noise).mean())

    before = gap()
    optimizer = model.configure_optimizer(1e-2)
    for _ in range(30):
        model.train_step(data.images, None, optimizer)
    assert gap() < before - 20.0


def test_written_out_gradient_is_the_surrogates_autograd_gradient():
    """train_step moves the particles one Gibbs sweep, then writes out the gradient of `loss` (mean F(data) -
    mean F(fantasy)) at them: it equals autograd's, and the logged loss is the surrogate's value."""
    data = load_world("exact", 16, 0, image_size=8)
    model = RBM(RBMConfig(image_size=8, hidden=8, chains=10))
    torch.manual_seed(0)
    with torch.no_grad():
        model.W.normal_(0, 0.3)
        model.c.normal_(0, 0.3)
    model.observe(binarize(data.images))  # seen: train_step keeps b as it is
    start = torch.bernoulli(torch.full((10, 192), 0.4))
    model.fantasy = start.clone()
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # keeps the weights, leaves the gradients
    record = model.train_step(data.images, None, frozen)
    written = [p.grad.clone() for p in (model.W, model.b, model.c)]
    assert not torch.equal(model.fantasy, start)  # the chains moved on
    assert set(model.fantasy.unique().tolist()) <= {0.0, 1.0}
    frozen.zero_grad()
    surrogate = model.loss(data.images)  # at the particles the update used
    surrogate.backward()
    for p, g in zip((model.W, model.b, model.c), written):
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-6)
    assert record["loss"] == pytest.approx(float(surrogate.detach()), rel=1e-5, abs=1e-5)


def test_centred_update_is_a_step_in_the_centred_parameters():
    """With `centered`, the optimiser descends autograd's gradient of the surrogate written in the centred
    parameters (W, b' = b + W λ, c' = c + W^T μ); the standard (W, b, c) land where those do; λ then slides."""
    data = load_world("exact", 16, 0, image_size=8)
    model = RBM(RBMConfig(image_size=8, hidden=8, chains=10, centered=True, center_rate=0.25))
    torch.manual_seed(0)
    with torch.no_grad():
        model.W.normal_(0, 0.3)
        model.c.normal_(0, 0.3)
        model.hidden_offset.uniform_(0.2, 0.8)
    v = binarize(data.images)
    model.observe(v)  # seen: train_step keeps b as it is
    model.fantasy = torch.bernoulli(torch.full((10, 192), 0.4))
    lam, (W0, b0, c0) = model.hidden_offset.clone(), (p.detach().clone() for p in (model.W, model.b, model.c))
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train_step(data.images, None, sgd)  # moves the particles, then the weights
    mu = torch.sigmoid(model.base_rate_logits())  # the bit means the step used (batch included)
    W = W0.requires_grad_(True)
    b_c = (b0 + W0 @ lam).detach().requires_grad_(True)  # b'
    c_c = (c0 + W0.T @ mu).detach().requires_grad_(True)  # c'

    def free_energy(bits):  # F of the centred energy, h summed out
        a = c_c + (bits - mu) @ W
        return -(bits - mu) @ b_c - (F.softplus(a) - a * lam).sum(1)

    (free_energy(v).mean() - free_energy(model.fantasy).mean()).backward()  # at the particles it used
    with torch.no_grad():
        W_new, b_new, c_new = W - 0.1 * W.grad, b_c - 0.1 * b_c.grad, c_c - 0.1 * c_c.grad
        torch.testing.assert_close(model.W, W_new, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.b, b_new - W_new @ lam, rtol=1e-5, atol=1e-5)  # b = b' - W λ
        torch.testing.assert_close(model.c, c_new - W_new.T @ mu, rtol=1e-5, atol=1e-5)  # c = c' - W^T μ
        # the offset slid a quarter of the way to the batch's mean p(h | v), taken at the update's weights
        target = torch.sigmoid(c_c - W.T @ mu + v @ W).mean(0)
        torch.testing.assert_close(model.hidden_offset, lam + 0.25 * (target - lam))
    with pytest.raises(ValueError, match="center_rate"):
        RBM(RBMConfig(image_size=2, center_rate=0.0))


def test_the_training_images_floor_log_z_where_ais_falls_short(tmp_path):
    """partition_floor is log sum exp(-F) over the distinct states given, below the exact log Z;
    finish_training sets it from the training images and log_prob uses the larger of it and AIS's
    estimate; it is saved, and a checkpoint written before it existed still loads."""
    model = random_tiny_rbm(seed=4, scale=2.0)
    states = all_bits(12)[::37]  # 111 of the 4,096 states
    seen = torch.cat([states, states[:5]])  # with repeats, counted once
    floor = model.partition_floor(seen)
    with torch.no_grad():
        assert floor == pytest.approx(float(torch.logsumexp(-model.free_energy(states), 0)), abs=1e-4)
    assert floor < exact_log_z(model)
    model.finish_training(bits_to_images(seen), None)
    assert float(model.log_z_floor) == pytest.approx(floor, abs=1e-4)
    x = bits_to_images(states[:3])
    with torch.no_grad():
        minus_f = -model.free_energy(states[:3])
    model.log_z.fill_(floor - 50.0)  # an AIS run that missed the deep basins
    torch.testing.assert_close(model.log_prob(x), minus_f - floor)
    model.log_z.fill_(floor + 2.0)  # above the floor: AIS's estimate stands
    torch.testing.assert_close(model.log_prob(x), minus_f - (floor + 2.0))
    loaded = load(save(model, tmp_path / "rbm.safetensors"))
    assert float(loaded.log_z_floor) == pytest.approx(floor, abs=1e-4)
    old = {k: v for k, v in model.state_dict().items() if k != "log_z_floor"}  # written before the floor
    again = RBM(RBMConfig(**TINY))
    again.load_state_dict(old)
    assert float(again.log_z_floor) == -math.inf
    model.observe(torch.ones(1, 12))  # new data: the floor is stale
    assert float(model.log_z_floor) == -math.inf


def test_samples_are_bits_seeded_and_streamed():
    model = random_tiny_rbm()
    a = model.sample(5, generator=torch.Generator().manual_seed(3), sweeps=20)
    b = model.sample(5, generator=torch.Generator().manual_seed(3), sweeps=20)
    assert a.shape == (5, 3, 2, 2) and a.dtype == torch.uint8
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0, 255}
    frames = list(model.sample_steps(5, generator=torch.Generator().manual_seed(3), every=7, sweeps=20))
    assert len(frames) == 3 and torch.equal(frames[-1], a)
    with pytest.raises(ValueError, match="n must be in"):
        model.sample(2000)


def test_samples_are_bernoulli_draws_and_the_mode_is_a_named_option():
    """With W = 0 every visible bit is an independent Bernoulli(sigmoid(b)): a sample must show that
    rate, and `mode=True` the thresholded p(v | h) > 1/2 (all zeros at a rate below 1/2)."""
    model = RBM(RBMConfig(image_size=4, hidden=3, chains=4, sampling_sweeps=3))
    with torch.no_grad():
        model.W.zero_()
        model.b.fill_(math.log(0.3 / 0.7))  # sigmoid(b) = 0.3
    draws = model.sample(512, generator=torch.Generator().manual_seed(0))
    rate = float((draws == 255).float().mean())
    assert abs(rate - 0.3) < 0.01, rate  # 24,576 bits: the standard error is 0.003
    mode = model.sample(512, generator=torch.Generator().manual_seed(0), mode=True)
    assert int(mode.count_nonzero()) == 0


def test_checkpoint_round_trip_keeps_weights_and_log_z(tmp_path):
    model = random_tiny_rbm()
    images = bits_to_images(all_bits(12)[::97])
    expected = model.log_prob(images)
    save(model, tmp_path / "rbm.safetensors")
    loaded = load(tmp_path / "rbm.safetensors")
    assert torch.equal(loaded.log_z, model.log_z)  # the AIS estimate travels with it
    assert torch.equal(loaded.log_prob(images), expected)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(loaded.sample(4, generator=g(), sweeps=10), model.sample(4, generator=g(), sweeps=10))


def test_only_unconditional():
    with pytest.raises(ValueError, match="only condition='none'"):
        RBM(RBMConfig(condition="class"))
    with pytest.raises(ValueError, match="unknown condition"):
        RBM(RBMConfig(condition="music"))
    with pytest.raises(ValueError, match="unconditional"):
        random_tiny_rbm().log_prob(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, 2, dtype=torch.long))


def test_sklearn_weights_give_sklearn_free_energies():
    from sklearn.neural_network import BernoulliRBM

    bits = np.random.default_rng(0).random((40, 12)) < 0.4
    theirs = BernoulliRBM(n_components=4, n_iter=3, random_state=0).fit(bits.astype(float))
    ours = from_sklearn(theirs, RBMConfig(**TINY), torch.as_tensor(bits, dtype=torch.float32))
    v = all_bits(12)
    np.testing.assert_allclose(
        ours.free_energy(v).detach().numpy(), theirs._free_energy(v.double().numpy()), rtol=1e-5, atol=1e-4
    )
    back = to_sklearn(ours)
    np.testing.assert_allclose(
        back._free_energy(v.double().numpy()), theirs._free_energy(v.double().numpy()), rtol=1e-5, atol=1e-4
    )


def test_compare_with_sklearn_reports_both_models():
    data = torch.bernoulli(torch.full((64, 12), 0.3))
    model = random_tiny_rbm()
    report = compare_with_sklearn(data, model, batch_size=16)
    for name in ("ours", "sklearn"):
        row = report[name]
        assert math.isfinite(row["log_likelihood"]) and math.isfinite(row["pseudo_log_likelihood"])
        assert math.isclose(row["bits_per_dim"], -row["log_likelihood"] / (12 * math.log(2)))


def test_encode_is_the_exact_hidden_posterior():
    # p(h | v) factorises; check one unit against the ratio of the joint's two hidden states, by enumeration
    model = random_tiny_rbm(4)
    images = bits_to_images(all_bits(12)[::97])
    code = model.encode(images)
    assert code.shape == (len(images), 4) and ((code > 0) & (code < 1)).all()
    v = binarize(images)
    energy = lambda h: -(v @ model.b) - (h * model.c).sum() - ((v @ model.W) * h).sum(1)  # E(v, h)
    on, off = torch.tensor([1.0, 0, 0, 0]), torch.zeros(4)
    # with the other units off, p(h_0 = 1 | v, h_rest = 0) = sigmoid(E(v, off) - E(v, on)) = sigmoid(c_0 + (vW)_0)
    torch.testing.assert_close(code[:, 0], torch.sigmoid(energy(off) - energy(on)).detach())
