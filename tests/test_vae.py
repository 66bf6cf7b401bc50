"""VAE: a normalised pixel likelihood, ELBO <= IWAE bound, training, codes, interpolation, checkpoints."""

import math

import pytest
import torch

from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.registry import build
from playground.models.train import fit
from playground.models.vae import VAE, VAEConfig, fit_gaussian_mixture, gaussian_log_density, mixture_log_density

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(image_size=8, width=8, latent_dim=4, condition_dim=8)


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    return VAE(VAEConfig(**{**TINY, **overrides}))


def lively(model):
    """An untrained decoder's argmax hardly depends on z; larger weights make it (as training does)."""
    with torch.no_grad():
        for p in [*model.project.parameters(), *model.decoder.parameters()]:
            p.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def data():
    return load_world("exact", 32, 0, image_size=8)


def test_the_pixel_likelihood_is_normalised_over_the_256_levels():
    model = tiny().eval()
    z = torch.randn(2, TINY["latent_dim"], generator=torch.Generator().manual_seed(0))
    # log p(x | z) sums the subpixels' log P(v): vary one subpixel over all 256 bytes, the rest fixed,
    # and the probabilities of the 256 images, divided by that of the rest, sum to one
    x = torch.full((256, 3, 8, 8), 128, dtype=torch.uint8)
    x[:, 1, 2, 3] = torch.arange(256, dtype=torch.uint8)
    log_p = torch.stack([model._log_likelihood(x, z[i : i + 1].expand(256, -1), None) for i in range(2)])  # (2, 256)
    nibble_log_p = model._logits(z, None).log_softmax(3)  # (2, C, 2, 16, H, W)
    rest = log_p[:, 128] - nibble_log_p[:, 1, 0, 8, 2, 3] - nibble_log_p[:, 1, 1, 0, 2, 3]  # 128 = 16 * 8 + 0
    assert torch.allclose(torch.logsumexp(log_p - rest[:, None], dim=1), torch.zeros(2), atol=1e-3)  # float32 sums


def test_loss_is_finite_and_decreases_on_a_fixed_batch(data):
    model = build("vae", **TINY)
    optimizer = model.configure_optimizer(3e-3)
    x = data.images
    with torch.random.fork_rng():
        torch.manual_seed(0)
        before = float(model.loss(x).detach())
    for _ in range(30):
        record = model.train_step(x, None, optimizer)
        assert math.isfinite(record["loss"])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        after = float(model.loss(x).detach())
    assert after < 0.95 * before


def test_importance_weighting_tightens_the_bound(data):
    model = tiny().eval()
    x = data.images[:6]
    g = lambda: torch.Generator().manual_seed(0)
    elbo = torch.stack([model.elbo(x, generator=torch.Generator().manual_seed(s)) for s in range(20)]).mean(0)
    l_1 = model.log_prob(x, k=1, generator=g())
    l_64 = model.log_prob(x, k=64, generator=g())
    assert torch.isfinite(l_64).all() and (l_64 < 0).all()  # log-probabilities of discrete images
    assert (l_64 >= elbo - 1.0).all()  # L_64 >= E[L_1] (up to the estimate's noise)
    assert l_64.mean() > l_1.mean()
    assert model.likelihood == "bound"
    bpd = model.bits_per_dim(x)
    assert bpd.shape == (6,) and (bpd > 0).all()
    assert torch.equal(model.log_prob(x), model.log_prob(x))  # without a generator: seeded with 0
    assert torch.equal(bpd, model.bits_per_dim(x))


def test_samples_are_uint8_seeded_and_capped():
    model = lively(tiny()).eval()
    a = model.sample(5, generator=torch.Generator().manual_seed(3))
    b = model.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 3, 8, 8) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, model.sample(5, generator=torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="n must be in 1..1024"):
        model.sample(1025)


def test_decode_picks_each_subpixels_most_likely_byte():
    model = tiny().eval()
    z = torch.randn(3, TINY["latent_dim"], generator=torch.Generator().manual_seed(0))
    best = model.decode(z)
    log_p = lambda img: model._log_likelihood(img, z, None)
    for delta in (-1, 1, 100):  # no change of any one subpixel does better
        moved = best.clone().long()
        moved[:, 0, 1, 1] = (moved[:, 0, 1, 1] + delta) % 256
        assert (log_p(moved.to(torch.uint8)) <= log_p(best)).all()


def test_samples_draw_from_p_x_given_z_and_the_mode_is_a_named_option(monkeypatch):
    """Given fixed nibble logits (high nibble 0 or 1 with probability 0.8 / 0.2, low nibble always 5),
    a sample's bytes are 5 or 21 at those rates; `mode=True` gives the most likely byte, 5, everywhere."""
    model = tiny().eval()
    logits = torch.full((1, 3, 2, 16, 8, 8), -1e9)
    logits[:, :, 0, 0], logits[:, :, 0, 1] = math.log(0.8), math.log(0.2)
    logits[:, :, 1, 5] = 0.0
    monkeypatch.setattr(model, "_logits", lambda z, cond: logits.expand(z.shape[0], -1, -1, -1, -1, -1))
    draws = model.sample(256, generator=torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) == {5, 21}
    assert abs(float((draws == 21).float().mean()) - 0.2) < 0.01  # 49,152 bytes: standard error 0.002
    assert set(model.sample(256, generator=torch.Generator().manual_seed(0), mode=True).unique().tolist()) == {5}


def test_encode_and_interpolate(data):
    model = tiny().eval()
    codes = model.encode(data.images[:3])
    assert codes.shape == (3, TINY["latent_dim"])
    path = model.interpolate(data.images[0], data.images[1], steps=5)
    assert path.shape == (5, 3, 8, 8) and path.dtype == torch.uint8
    assert torch.equal(path[0], model.decode(codes[:1])[0])  # the ends decode the two posterior means
    assert torch.equal(path[-1], model.decode(codes[1:2])[0])
    with pytest.raises(ValueError, match="steps must be in"):
        model.interpolate(data.images[0], data.images[1], steps=1)


@pytest.mark.parametrize("kind", ["none", "class", "caption"])
def test_checkpoint_round_trip(kind, tmp_path, data):
    model = tiny(condition=kind)
    c = data.condition(kind)
    model.train_step(data.images[:8], None if c is None else c[:8], model.configure_optimizer(1e-3))
    model.eval()
    loaded = load(save(model, tmp_path / "vae.safetensors"))
    cond = None if c is None else c[:4]
    g = lambda: torch.Generator().manual_seed(0)
    assert torch.equal(model.sample(4, cond, generator=g()), loaded.sample(4, cond, generator=g()))
    assert torch.equal(
        model.log_prob(data.images[:4], cond, k=4, generator=g()),
        loaded.log_prob(data.images[:4], cond, k=4, generator=g()),
    )


@pytest.mark.parametrize("kind", ["class", "caption"])
def test_the_condition_changes_samples_and_likelihood(kind, data):
    model = lively(tiny(condition=kind)).eval()
    c = data.condition(kind)
    first, other = c[:1], next(c[i : i + 1] for i in range(len(c)) if not torch.equal(c[i], c[0]))
    draw = lambda cond: model.sample(2, cond, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(draw(first), draw(other))
    g = lambda: torch.Generator().manual_seed(0)
    x = data.images[:1]
    assert model.log_prob(x, first, k=4, generator=g()) != model.log_prob(x, other, k=4, generator=g())
    with pytest.raises(ValueError, match="pass a condition"):
        model.sample(2)


def test_invalid_settings_are_refused():
    for bad, match in [
        (dict(condition="music"), "condition must be"),
        (dict(image_size=12), "multiple of 8"),
        (dict(latent_dim=0), "must be positive"),
        (dict(free_bits=-1.0), "free_bits"),
        (dict(prior_components=-1), "prior_components"),
        (dict(prior_components=10**6), "prior_components"),
        (dict(prior_draws=0), "prior_draws"),
    ]:
        with pytest.raises(ValueError, match=match):
            VAE(VAEConfig(**{**TINY, **bad}))
    with pytest.raises(ValueError, match="z must have shape"):
        tiny().decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="k must be in"):
        tiny().log_prob(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), k=0)


def test_the_mixture_density_is_the_sum_over_its_components():
    g = torch.Generator().manual_seed(0)
    logits, means, log_vars = (
        torch.randn(5, generator=g),
        torch.randn(5, 3, generator=g),
        torch.randn(5, 3, generator=g),
    )
    z = torch.randn(2, 7, 3, generator=g)
    each = torch.stack([gaussian_log_density(z, means[k], log_vars[k]) for k in range(5)], -1)  # (2, 7, 5)
    brute = torch.logsumexp(each + logits.log_softmax(0), -1)
    assert torch.allclose(mixture_log_density(z, logits, means, log_vars), brute, atol=1e-4)


def test_em_recovers_a_known_mixture_and_never_lowers_the_likelihood():
    g = torch.Generator().manual_seed(0)
    centres, sds = torch.tensor([[-4.0, 0.0], [4.0, 1.0]]), torch.tensor([[0.5, 0.3], [1.0, 0.2]])
    label = (torch.rand(3000, generator=g) < 0.25).long()  # a quarter from the second component
    z = centres[label] + sds[label] * torch.randn(3000, 2, generator=g)
    logits, means, log_vars = fit_gaussian_mixture(z, 2, iterations=30, generator=torch.Generator().manual_seed(1))
    order = means[:, 0].argsort()
    assert torch.allclose(means[order], centres, atol=0.1)
    assert torch.allclose(log_vars[order].exp().sqrt(), sds, atol=0.06)
    assert torch.allclose(logits[order].softmax(0), torch.tensor([0.75, 0.25]), atol=0.03)
    fits = [fit_gaussian_mixture(z, 3, iterations=t, generator=torch.Generator().manual_seed(2)) for t in (1, 3, 10)]
    likelihoods = [float(mixture_log_density(z, *f).mean()) for f in fits]
    assert likelihoods[0] <= likelihoods[1] + 1e-5 <= likelihoods[2] + 2e-5
    # a weight counts a point that many times: three times the second component's points balance the two
    weights = 1.0 + 2.0 * label.float()
    weighted = fit_gaussian_mixture(z, 2, weights=weights, iterations=30, generator=torch.Generator().manual_seed(1))
    again = fit_gaussian_mixture(z, 2, weights=weights, iterations=30, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(weighted, again))  # same generator, same bytes
    assert torch.allclose(weighted[0].softmax(0), torch.tensor([0.5, 0.5]), atol=0.03)
    assert torch.allclose(weighted[1][weighted[1][:, 0].argsort()], centres, atol=0.1)
    with pytest.raises(ValueError, match="components"):
        fit_gaussian_mixture(z[:2], 3)


def test_a_fitted_mixture_prior_puts_the_prior_on_the_codes(data):
    model = lively(tiny(prior_components=8, prior_draws=4)).eval()
    standard = lively(tiny()).eval()  # the same weights, prior N(0, I)
    g = lambda: torch.Generator().manual_seed(0)
    x = data.images
    # until it is fitted the mixture is N(0, I): the same bound, the same samples, the same loss
    assert torch.equal(model.log_prob(x, k=4, generator=g()), standard.log_prob(x, k=4, generator=g()))
    assert torch.equal(model.sample(4, generator=g()), standard.sample(4, generator=g()))
    model.fit_prior(x, generator=g())
    assert model.mixture_prior and not standard.mixture_prior
    # the prior now sits where the codes are: a tighter bound on the training images, and draws near codes
    assert float(model.log_prob(x, k=16, generator=g()).mean()) > float(
        standard.log_prob(x, k=16, generator=g()).mean()
    )
    codes = model.encode(x)
    to_code = torch.cdist(model._prior_sample(256, g()), codes).min(1).values.median()
    to_code_standard = torch.cdist(standard._prior_sample(256, g()), codes).min(1).values.median()
    assert to_code < 0.5 * to_code_standard
    assert math.isfinite(float(model.loss(x).detach()))
    with pytest.raises(ValueError, match="no mixture to fit"):
        standard.fit_prior(x)
    # fewer draws than components (two images, one draw each, eight components): the spare ones get weight 0
    few = lively(tiny(prior_components=8, prior_draws=1)).eval()
    few.fit_prior(x[:2], generator=g())
    assert torch.isinf(few.prior_logits).sum() >= 6 and torch.isfinite(few.log_prob(x[:2], k=4, generator=g())).all()
    assert few.sample(3, generator=g()).shape == (3, 3, 8, 8)


def test_training_fits_the_mixture_prior_and_the_checkpoint_keeps_it(tmp_path, data):
    model = tiny(condition="class", prior_components=4, prior_draws=2)
    fit(model, data, steps=2, batch_size=8)
    assert model.mixture_prior
    loaded = load(save(model, tmp_path / "vae.safetensors"))
    assert loaded.mixture_prior
    c = data.condition("class")[:4]
    g = lambda: torch.Generator().manual_seed(0)
    assert torch.equal(model.sample(4, c, generator=g()), loaded.sample(4, c, generator=g()))
    assert torch.equal(
        model.log_prob(data.images[:4], c, k=4, generator=g()), loaded.log_prob(data.images[:4], c, k=4, generator=g())
    )
