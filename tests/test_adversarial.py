"""Adversarial noise: the attacks' guarantees (real images within eps), FGSM's ascent, PGD's seeded start,
smallest_flip against brute force, the shipped classifier, the likelihood check, and clear errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from playground.models import pretrained, train
from playground.models.checkpoint import load, save
from playground.models.data import scene_labels
from playground.uncertainty.adversarial import (
    AttackReport,
    ClassifierConfig,
    ShapeClassifier,
    attack,
    exact_world,
    fgsm,
    likelihood_check,
    pgd,
    smallest_flip,
)

SHIPPED = pretrained.path("classifier-exact").is_file()
needs_weights = pytest.mark.skipif(not SHIPPED, reason="classifier-exact weights not trained")


@pytest.fixture(scope="module")
def world():
    """The exact world's images (768, 3, 32, 32) uint8 and shape labels (768,), rendered once."""
    w = exact_world()
    return torch.from_numpy(w.images).permute(0, 3, 1, 2).contiguous(), scene_labels(w.scenes)[:, 0]


@pytest.fixture
def untrained(one_thread):
    torch.manual_seed(0)
    return ShapeClassifier(ClassifierConfig()).eval()


@pytest.fixture
def shipped(one_thread):
    return pretrained.load("classifier-exact")


def some_images(world, k=8):
    """k world images spread over shapes, colours and places, plus an all-black and an all-white one
    (the attacks must clip at 0 and 255)."""
    x, y = world
    pick = torch.linspace(0, len(x) - 1, k).round().long()
    edges = torch.stack([torch.zeros(3, 32, 32, dtype=torch.uint8), torch.full((3, 32, 32), 255, dtype=torch.uint8)])
    return torch.cat([x[pick], edges]), torch.cat([y[pick], torch.tensor([0, 1])])


def per_image_loss(model, x, labels):
    return F.cross_entropy(model.logits(x), labels, reduction="none").detach()


def test_fgsm_increases_the_loss_and_leaves_the_weights_alone(world, untrained):
    x, y = some_images(world)
    x_adv = fgsm(untrained, x, y, 8)
    before, after = per_image_loss(untrained, x, y), per_image_loss(untrained, x_adv, y)
    assert (after > before).all(), (before, after)
    assert all(p.grad is None for p in untrained.parameters())


@pytest.mark.parametrize("eps", [0, 1, 2.7, 8, 255])
def test_attacks_return_real_images_within_eps(world, untrained, eps):
    x, y = some_images(world)
    generator = torch.Generator().manual_seed(1)
    for x_adv in (
        fgsm(untrained, x, y, eps),
        pgd(untrained, x, y, eps, steps=3),
        pgd(untrained, x, y, eps, steps=3, generator=generator),
    ):
        assert x_adv.dtype == torch.uint8 and x_adv.shape == x.shape
        assert (x_adv.int() - x.int()).abs().max() <= math.floor(eps)  # uint8 means in [0, 255] already
    if eps >= 1:
        assert (fgsm(untrained, x, y, eps).int() - x.int()).abs().max() == math.floor(eps)  # FGSM uses the ball


def test_pgd_random_start_same_seed_same_bytes(world, untrained):
    x, y = some_images(world, 4)
    run = lambda seed: pgd(untrained, x, y, 4, steps=2, step_size=0.5, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))
    assert not torch.equal(run(3), pgd(untrained, x, y, 4, steps=2, step_size=0.5))  # no generator: start at x


def brute_force_flip(model, x, method, max_eps):
    """The smallest flipping eps per image by attacking every image at every eps (0 if none)."""
    before = model.predict(x)
    found = torch.zeros(len(x), dtype=torch.long)
    for eps in range(max_eps, 0, -1):  # downwards: the last flipping eps written is the smallest
        attacked = fgsm(model, x, None, eps) if method == "fgsm" else pgd(model, x, None, eps, steps=3)
        found[model.predict(attacked) != before] = eps
    return found


@needs_weights
@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_smallest_flip_agrees_with_brute_force(world, shipped, method):
    x, _ = world
    x = x[torch.linspace(0, len(x) - 1, 12).round().long()]
    found = smallest_flip(shipped, x, method=method, max_eps=12, steps=3)
    assert torch.equal(found, brute_force_flip(shipped, x, method, 12))
    assert (found > 0).any()


@needs_weights
def test_shipped_classifier_knows_every_shape_of_the_exact_world(world, shipped):
    x, y = world
    assert float((shipped.predict(x) == y).float().mean()) >= 0.99
    assert shipped.probabilities(x[:4]).sum(1).allclose(torch.ones(4))


@needs_weights
def test_pgd_breaks_even_the_surest_answers(world, shipped):
    """The classifier is surest of spheres (for 39% of them 1 - p is below float32's resolution). A float32
    loss would round 1 - p to 0 there, lose the gradient's -grad z_y term and leave about a third of the
    spheres standing even at eps = 16."""
    x, y = world
    spheres = torch.nonzero(y == 2).flatten()[::16]
    x_adv = pgd(shipped, x[spheres], y[spheres], 16)
    assert float((shipped.predict(x_adv) == 2).float().mean()) <= 0.1


@needs_weights
def test_attack_report_for_the_ui(world, shipped):
    x, y = world
    image = x[5].permute(1, 2, 0).numpy()  # (32, 32, 3), a cube
    report = attack(shipped, image, 4, "pgd", check_likelihood=False)
    assert isinstance(report, AttackReport) and report.likelihood is None
    assert np.array_equal(report.original, image) and report.perturbed.dtype == np.uint8
    delta = report.perturbed.astype(int) - image.astype(int)
    assert np.abs(delta).max() <= 4
    assert np.array_equal(report.perturbation, np.round(128 + 127 * delta / 4).astype(np.uint8))
    assert report.label_before == "cube" and set(report.probabilities_after) == {"cube", "cylinder", "sphere"}
    assert report.flipped == (report.label_after != "cube")
    assert report.smallest_flip_eps == (int(smallest_flip(shipped, x[5:6], method="pgd")[0]) or None)
    chw = attack(shipped, x[5], 4, "pgd", check_likelihood=False)  # (3, 32, 32) is accepted too
    assert np.array_equal(chw.perturbed, report.perturbed)


def test_likelihood_check_world_is_exact(world, one_thread):
    x, y = world
    clean = x[:2]
    signs = torch.randint(0, 2, clean.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noisy = (clean.int() + 4 * signs).clamp(0, 255).to(torch.uint8)  # +-4 levels everywhere
    check = likelihood_check(clean, noisy)
    w = check["world"]
    assert w.kind == "exact" and np.allclose(w.before, math.log2(768) / (3 * 32 * 32))
    assert np.isinf(w.after).all() and (w.after > 0).all()  # log2 p = -inf: impossible
    for name in set(check) - {"world"}:
        assert np.isfinite(check[name].before).all() and np.isfinite(check[name].after).all()
        assert (check[name].change > 0).all(), name  # the models notice too
    assert set(check) - {"world"} == {n for n in ("pixelcnn", "flow") if n in pretrained.available()}


def test_classifier_trains_through_the_shared_cli_and_round_trips(tmp_path, world):
    threads = torch.get_num_threads()
    try:
        code = train.main(
            [
                "--model",
                "classifier",
                "--world",
                "exact",
                "--steps",
                "3",
                "--n",
                "64",
                "--batch-size",
                "16",
                "--out",
                str(tmp_path),
                "--threads",
                "1",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    model = load(tmp_path / "model.safetensors")
    assert isinstance(model, ShapeClassifier) and model.config.condition == "class"
    save(model, tmp_path / "again.safetensors")
    x, _ = world
    assert torch.equal(load(tmp_path / "again.safetensors").logits(x[:4]), model.logits(x[:4]))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m, x, y: fgsm(m, x, y, -1), "eps must be"),
        (lambda m, x, y: fgsm(m, x, y, 256), "eps must be"),
        (lambda m, x, y: pgd(m, x, y, float("nan")), "eps must be"),
        (lambda m, x, y: pgd(m, x, y, 4, steps=0), "steps must be"),
        (lambda m, x, y: pgd(m, x, y, 4, step_size=-1.0), "step_size must be"),
        (lambda m, x, y: fgsm(m, x[:, :, :16], y, 4), "expected images"),
        (lambda m, x, y: fgsm(m, x.float(), y, 4), "uint8"),
        (lambda m, x, y: fgsm(m, x, y[:1], 4), "labels must be"),
        (lambda m, x, y: fgsm(m, x, y + 3, 4), "labels must lie"),
        (lambda m, x, y: smallest_flip(m, x, y, method="deepfool"), "unknown attack 'deepfool'"),
        (lambda m, x, y: smallest_flip(m, x, y, max_eps=0), "max_eps must be"),
        (lambda m, x, y: attack(m, x[0], 4, "deepfool"), "unknown attack"),
        (lambda m, x, y: attack(m, x[0, :, :16], 4), "the image must be"),
        (lambda m, x, y: m.logits(x.float() / 255 - 2), "float images must lie in 0..255"),
        (lambda m, x, y: m.loss(x, y), "class labels"),
        (lambda m, x, y: likelihood_check(x, x[:1]), "same shape"),
        (lambda m, x, y: ShapeClassifier(ClassifierConfig(condition="none")), "condition must be 'class'"),
        (lambda m, x, y: ShapeClassifier(ClassifierConfig(image_size=30)), "multiple of 8"),
    ],
)
def test_bad_input_is_a_clear_value_error(world, untrained, call, words):
    x, y = world[0][:2], world[1][:2]
    with pytest.raises(ValueError, match=words):
        call(untrained, x, y)
