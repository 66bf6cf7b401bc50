"""GAN: the hinge game trains, no likelihood or encoder, tanh range, seeded samples, averaging, checkpoints."""

import math

import pytest
import torch
from torch import nn

from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.gan import GAN, GANConfig, cutout, minibatch_std, translate
from playground.models.protocol import NoLikelihood, NoRepresentation
from playground.models.registry import build

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(image_size=8, width=8, latent_dim=8, condition_dim=8)


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    return GAN(GANConfig(**{**TINY, **overrides}))


@pytest.fixture(scope="module")
def data():
    return load_world("exact", 32, 0, image_size=8)


def fixed_d_loss(model, x, condition=None):
    """D's hinge loss on a fixed real batch and fixed fakes (same noise before and after training)."""
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(1)
        model.eval()  # batch norm on running statistics: no side effects
        loss = float(model.loss(x, condition))
        model.train()
    return loss


def test_train_steps_are_finite_and_move_both_players(data):
    model = build("gan", **TINY)
    optimizer = model.configure_optimizer(1e-2)
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    for _ in range(5):
        record = model.train_step(data.images, None, optimizer)
        assert set(record) == {"loss", "d_loss", "g_loss"} and all(math.isfinite(v) for v in record.values())
        assert record["loss"] == record["d_loss"]
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))


def test_discriminator_alone_learns_to_separate(data):
    model = tiny()
    optimizer = model.configure_optimizer(5e-3)
    before = fixed_d_loss(model, data.images)
    for _ in range(15):  # D steps only: G and its fakes stay fixed
        optimizer.discriminator.zero_grad()
        model.loss(data.images).backward()
        optimizer.discriminator.step()
    assert fixed_d_loss(model, data.images) < 0.8 * before


def test_only_the_discriminator_moves_in_its_step(data):
    model = tiny()
    optimizer = model.configure_optimizer(1e-2)
    g_before = [p.clone() for p in model.generator.parameters()]
    optimizer.discriminator.zero_grad()
    model.loss(data.images).backward()
    optimizer.discriminator.step()
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))


def test_r1_adds_half_gamma_times_the_squared_gradient_at_real_images(data):
    from playground.models.protocol import to_unit

    plain, penalised = tiny(), tiny(r1=2.0)  # the same weights: r1 only changes the loss
    x = data.images[:8]
    scores = {}
    for name, model in (("plain", plain), ("penalised", penalised)):
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(1)  # the same fakes for both
            model.eval()
            scores[name] = float(model.loss(x))
    real = to_unit(x).requires_grad_(True)
    (grad,) = torch.autograd.grad(plain.discriminator(real, None).sum(), real)
    expected = 0.5 * 2.0 * float(grad.pow(2).flatten(1).sum(1).mean())
    assert expected > 0 and scores["penalised"] - scores["plain"] == pytest.approx(expected, rel=1e-4)
    penalised.train()
    optimizer = penalised.configure_optimizer(1e-3)
    for _ in range(3):  # the penalty trains through its double backward
        assert all(math.isfinite(v) for v in penalised.train_step(data.images, None, optimizer).values())


def test_the_critic_is_spectrally_normalised_unless_told_not_to():
    from torch.nn.utils import parametrize

    def normalised(model):  # D's own layers: phi's convolutions, psi, the projection
        d = model.discriminator
        return [
            parametrize.is_parametrized(m) for m in [*d.phi, d.psi, d.embed] if isinstance(m, (nn.Conv2d, nn.Linear))
        ]

    assert all(normalised(tiny(condition="class")))
    assert not any(normalised(tiny(condition="class", spectral_norm=False)))


def test_no_likelihood_and_no_encoder(data):
    model = tiny()
    assert model.likelihood == "none"
    with pytest.raises(NoLikelihood, match="gan has no likelihood"):
        model.log_prob(data.images[:2])
    with pytest.raises(NoLikelihood):
        model.bits_per_dim(data.images[:2])
    with pytest.raises(NoRepresentation):
        model.encode(data.images[:2])


def test_generator_output_is_in_the_unit_range_before_quantisation():
    model = tiny()
    with torch.no_grad():
        for p in model.generator_ema.parameters():
            p.mul_(4.0)  # large weights would push an unbounded output far out
    images = model.generate(10 * torch.randn(64, TINY["latent_dim"]))
    assert images.dtype == torch.float32 and images.shape == (64, 3, 8, 8)
    assert images.min() >= -1 and images.max() <= 1
    assert (images.abs() > 0.99).any()  # it does reach the ends: the bound is tanh, not luck


def test_samples_are_uint8_and_seeded():
    model = tiny().eval()
    a = model.sample(5, generator=torch.Generator().manual_seed(3))
    b = model.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 3, 8, 8) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, model.sample(5, generator=torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="n must be in 1..1024"):
        model.sample(1025)


def test_average_follows_the_generator(data):
    model = tiny(ema_decay=0.5)
    optimizer = model.configure_optimizer(1e-2)
    start = [p.clone() for p in model.generator_ema.parameters()]
    model.train_step(data.images, None, optimizer)
    for average, old, new in zip(model.generator_ema.parameters(), start, model.generator.parameters()):
        assert torch.allclose(average, 0.5 * old + 0.5 * new)
    assert not any(p.requires_grad for p in model.generator_ema.parameters())
    assert tiny(ema_decay=0.0).generator_ema is None


def test_checkpoint_round_trip(tmp_path, data):
    model = tiny(condition="class")
    optimizer = model.configure_optimizer(1e-3)
    model.train_step(data.images, data.labels, optimizer)  # moves weights, averages and batch-norm statistics
    model.eval()
    loaded = load(save(model, tmp_path / "gan.safetensors"))
    c = data.labels[:4]
    draw = lambda m: m.sample(4, c, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draw(model), draw(loaded))
    with torch.no_grad():
        assert torch.equal(
            model.discriminator(data.images[:4].float() / 127.5 - 1, c),
            loaded.discriminator(data.images[:4].float() / 127.5 - 1, c),
        )


@pytest.mark.parametrize("kind", ["class", "caption"])
def test_conditions_change_samples_and_scores(kind, data):
    model = tiny(condition=kind).eval()
    c = data.condition(kind)
    optimizer = model.configure_optimizer(1e-3)
    assert math.isfinite(model.train_step(data.images[:8], c[:8], optimizer)["loss"])
    model.eval()
    first, other = c[:1], next(c[i : i + 1] for i in range(len(c)) if not torch.equal(c[i], c[0]))
    draw = lambda cond: model.sample(2, cond, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(draw(first), draw(other))
    x = data.images[:1].float() / 127.5 - 1
    with torch.no_grad():  # the projection term makes D's score depend on c
        assert model.discriminator(x, first) != model.discriminator(x, other)
    with pytest.raises(ValueError, match="pass a condition"):
        model.sample(2)


def test_invalid_settings_are_refused():
    for bad, match in [
        (dict(condition="music"), "condition must be"),
        (dict(image_size=12), "multiple of 8"),
        (dict(n_critic=0), "must be positive"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(augment="translation,flip"), "augment must be a comma-separated list"),
        (dict(r1=-1.0), "r1 must be in"),
        (dict(lipschitz=0.0), "lipschitz must be in"),
        (dict(critic_depth=5), "critic_depth must be in"),
        (dict(generator_depth=-1), "generator_depth must be in"),
        (dict(generator="stylegan"), "generator must be one of"),
        (dict(pack=0), "pack must be in"),
        (dict(pack=2, condition="class"), "unconditional"),
        (dict(diversity=-1.0), "diversity must be in"),
        (dict(critic_lr=0.0), "critic_lr in"),
        (dict(clusters=300), "clusters must be in"),
        (dict(recluster_every=0), "recluster_every"),
        (dict(clusters=4, condition="class"), "unconditional GANs with pack=1"),
    ]:
        with pytest.raises(ValueError, match=match):
            GAN(GANConfig(**{**TINY, **bad}))
    with pytest.raises(ValueError, match="z must have shape"):
        tiny().generate(torch.zeros(2, 3))


def test_translation_shifts_each_image_whole_and_passes_gradients():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    y = translate(x)  # shifts of up to 2 pixels, the border 0
    for b in range(8):
        shifts = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.zeros(3, 20, 20)
                shifted[:, 2 - dy : 18 - dy, 2 - dx : 18 - dx] = x[b].detach()  # output (i, j) = input (i + dy, j + dx)
                if torch.equal(shifted[:, 2:18, 2:18], y[b].detach()):
                    shifts.append((dy, dx))
        assert len(shifts) == 1
    y.sum().backward()
    assert x.grad.sum() > 0 and x.grad.max() == 1


def test_cutout_blanks_one_half_side_square():
    torch.manual_seed(0)
    out = cutout(torch.ones(64, 3, 16, 16))
    blank = out[:, 0] == 0  # (B, H, W)
    assert torch.equal(blank, (out == 0).all(1))  # the same square in every channel
    counts = blank.flatten(1).sum(1)
    assert counts.max() == 64 and counts.min() >= 16  # 8 x 8, or clipped by a border to at least 4 x 4
    rows, cols = blank.any(2), blank.any(1)
    assert torch.equal(counts, rows.sum(1) * cols.sum(1))  # a rectangle


def test_augmented_training_is_seeded_and_changes_the_game(data):
    runs = []
    for augment in ("translation,cutout", "translation,cutout", ""):
        model = tiny(augment=augment)
        optimizer = model.configure_optimizer(1e-2)
        torch.manual_seed(1)
        runs.append([model.train_step(data.images, None, optimizer)["loss"] for _ in range(3)])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_minibatch_std_is_the_spread_of_each_group_of_four():
    h = torch.randn(8, 5, 3, 3)
    out = minibatch_std(h)
    assert out.shape == (8, 6, 3, 3) and torch.equal(out[:, :5], h)
    for j in range(2):  # group j holds images j, j + 2, j + 4, j + 6
        group = h[j::2]
        expected = group.std(0, unbiased=False).mean()
        assert torch.allclose(out[j::2, 5], expected.expand(4, 3, 3), atol=1e-6)
    assert minibatch_std(torch.ones(6, 2, 1, 1))[:, 2].max() < 1e-3  # alike images: no spread (groups of 3)
    assert minibatch_std(torch.randn(5, 2, 1, 1))[:, 2].max() < 1e-3  # a batch of 5: groups of one, no spread


def test_batch_std_lets_the_critic_see_a_collapsed_batch():
    model = tiny(batch_std=True).eval()
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    same = x[:1].expand(4, -1, -1, -1)
    with torch.no_grad():  # x[0] scores differently beside copies of itself
        assert model.discriminator(x, None)[0] != model.discriminator(same, None)[0]
        plain = tiny().eval()
        assert plain.discriminator(x, None)[0] == plain.discriminator(same, None)[0]


def test_lipschitz_scales_the_critic_and_depth_adds_its_convolutions(data):
    x = data.images[:4]
    scores = []
    for k in (1.0, 10.0):
        model = tiny(lipschitz=k).eval()
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(0)
            scores.append(model._critic(x.float() / 127.5 - 1, None))
    assert torch.allclose(10 * scores[0], scores[1], atol=1e-5)
    convs = lambda m: sum(isinstance(layer, nn.Conv2d) for layer in m.discriminator.phi)
    assert convs(tiny()) == 3 and convs(tiny(critic_depth=1)) == 6
    assert tiny(critic_depth=1).discriminator(x.float(), None).shape == (4,)


def test_generator_depth_adds_full_size_convolutions_and_still_trains(data, tmp_path):
    """Each of G's two upsampled stages gets d more 3x3 convolutions, and so does the full size; the
    default keeps the layer names older checkpoints were saved under."""
    convs = lambda m: [layer for layer in m.generator.body if isinstance(layer, nn.Conv2d)]
    assert len(convs(tiny())) == 3 and len(convs(tiny(generator_depth=2))) == 9
    assert [name for name, _ in tiny().generator.named_parameters()][-2:] == ["body.9.weight", "body.9.bias"]
    model = tiny(generator_depth=1)
    *_, before_last, last = convs(model)
    assert (before_last.in_channels, before_last.out_channels) == (TINY["width"],) * 2 and last.out_channels == 3
    optimizer = model.configure_optimizer(2e-4)
    records = [model.train_step(data.images[:8], None, optimizer) for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(r["g_loss"])) for r in records)
    samples = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 3, 8, 8) and samples.dtype == torch.uint8
    again = load(save(model, tmp_path / "deep.safetensors"))
    assert torch.equal(again.sample(4, generator=torch.Generator().manual_seed(0)), samples)


def test_decoder_generator_has_no_batch_norm_draws_at_full_size_and_trains(data, tmp_path):
    """The "decoder" layout: no normalisation layer (a sample depends on its own z only), a 3x3 convolution
    to 2w channels at full size and a 1x1 to pixels; it trains, conditions and round-trips."""
    model = tiny(generator="decoder", condition="class")
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.generator.modules())
    *_, full, last = [layer for layer in model.generator.body if isinstance(layer, nn.Conv2d)]
    assert full.out_channels == 2 * TINY["width"] and (last.kernel_size, last.out_channels) == ((1, 1), 3)
    z, c = torch.randn(6, TINY["latent_dim"]), data.labels[:6]
    alone = torch.cat([model.generate(z[i : i + 1], c[i : i + 1]) for i in range(6)])
    assert torch.allclose(model.generate(z, c), alone, atol=1e-6)
    optimizer = model.configure_optimizer(2e-4)
    records = [model.train_step(data.images[:8], data.labels[:8], optimizer) for _ in range(3)]
    assert all(math.isfinite(r["g_loss"]) and math.isfinite(r["d_loss"]) for r in records)
    samples = model.sample(4, c[:4], generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 3, 8, 8) and samples.dtype == torch.uint8
    again = load(save(model, tmp_path / "decoder.safetensors"))
    assert torch.equal(again.sample(4, c[:4], generator=torch.Generator().manual_seed(0)), samples)


def test_pack_scores_packs_of_images_stacked_on_channels(data):
    """PacGAN: D's first convolution reads m images at once, so a batch of B gives B/m scores; a batch
    that does not divide into packs is refused."""
    model = tiny(pack=2)
    assert model.discriminator.phi[0].in_channels == 6
    assert model._critic(torch.zeros(8, 3, 8, 8), None).shape == (4,)
    optimizer = model.configure_optimizer(2e-4)
    records = [model.train_step(data.images[:8], None, optimizer) for _ in range(2)]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in records)
    with pytest.raises(ValueError, match="multiple of pack=2"):
        model.loss(data.images[:7])


def test_diversity_adds_the_mode_seeking_term_and_critic_lr_scales_d():
    """G's loss with diversity lambda is the plain one plus lambda / (mean |G(z1) - G(z2)| / |z1 - z2|) over
    the pairs (i, i + n/2) of its batch; critic_lr multiplies D's learning rate only."""
    model = tiny(diversity=0.5)

    def g_loss():
        with torch.random.fork_rng():
            torch.manual_seed(3)
            return float(model.generator_loss(8).detach())

    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(3)
        z = model._noise(8)
        fake = model.generator(z, None)
    ratio = float(((fake[:4] - fake[4:]).abs().mean((1, 2, 3)) / (z[:4] - z[4:]).abs().mean(1)).mean())
    with_term = g_loss()
    model.config.diversity = 0.0
    assert with_term - g_loss() == pytest.approx(0.5 / (ratio + 1e-5), rel=1e-4)
    g, d = tiny(critic_lr=4.0).configure_optimizer(1e-4)
    assert (g.param_groups[0]["lr"], d.param_groups[0]["lr"]) == (1e-4, pytest.approx(4e-4))


def test_self_conditioning_clusters_the_critics_features_and_draws_clusters_as_often(data, tmp_path):
    """clusters=k: every recluster_every steps k-means on D's features of the banked real images; G is
    asked for clusters as often as real images fell in them, and the counts travel with the weights."""
    model = tiny(clusters=3, recluster_every=2, generator="decoder")
    optimizer = model.configure_optimizer(2e-4)
    model.train_step(data.images[:8], None, optimizer)
    assert int(model.cluster_counts.sum()) == 8  # clustered at the first step, on its 8 images
    for step in range(1, 4):
        model.train_step(data.images[8 * step : 8 * (step + 1)], None, optimizer)
    assert model.bank.shape[0] == 32 and int(model.cluster_counts.sum()) == 24  # again at the third, on 24
    model._recluster()
    with torch.no_grad():  # a Lloyd fixed point (up to the last iteration)
        h = model.discriminator.features(model.bank.float() / 127.5 - 1)
    nearest = torch.cdist(h, model.centroids).argmin(1)
    assert torch.equal(torch.bincount(nearest, minlength=3).float(), model.cluster_counts)
    drawn = model._draw_clusters(3000, torch.Generator().manual_seed(0))
    expected = model.cluster_counts / model.cluster_counts.sum()
    assert torch.allclose(torch.bincount(drawn, minlength=3) / 3000.0, expected, atol=0.03)
    samples = model.sample(4, generator=torch.Generator().manual_seed(0))
    again = load(save(model, tmp_path / "sc.safetensors"))
    assert torch.equal(again.cluster_counts, model.cluster_counts)
    assert torch.equal(again.sample(4, generator=torch.Generator().manual_seed(0)), samples)
    z = torch.randn(2, TINY["latent_dim"])
    first, second = model.generate(z, cluster=torch.tensor([0, 0])), model.generate(z, cluster=torch.tensor([1, 1]))
    assert not torch.allclose(first, second)  # the cluster is an input of G
    for bad in (None, torch.tensor([0, 3]), torch.tensor([0])):  # missing, out of range, one short
        with pytest.raises(ValueError, match="self-conditioned"):
            model.generate(z, cluster=bad)
    with pytest.raises(ValueError, match="only for a self-conditioned GAN"):
        tiny().generate(z, cluster=torch.tensor([0, 0]))


def test_the_layered_generator_paints_colour_over_its_background_by_coverage():
    """x = alpha tanh(rgb) + (1 - alpha) tanh(bg): with no coverage the picture is the learned background,
    with full coverage the drawn colour; its samples are images like any GAN's."""
    model = tiny(generator="layered")
    g, z = model.generator, torch.randn(3, TINY["latent_dim"])
    with torch.no_grad():
        g.background.normal_()
        last = g.body[-1]  # the 1x1 conv to colour and coverage logit
        assert last.out_channels == 4
        last.bias[-1] = -1e4  # alpha = 0 everywhere
        assert torch.allclose(g(z, None), torch.tanh(g.background).expand(3, -1, -1, -1))
        last.bias[-1] = 1e4  # alpha = 1: the colour alone
        colour = g.body(g.project(z).view(3, -1, 1, 1))[:, :3]
        assert torch.allclose(g(z, None), torch.tanh(colour))
    out = tiny(generator="layered").sample(4, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and out.shape == (4, 3, 8, 8)
