"""Scores on the exact world: known answers for a perfect model, a blind model and hand-made samples."""

import math

import torch

from playground.evaluation.scores import (
    binarized_entropy_bits,
    coverage_ceiling,
    exact_world,
    heldout_scores,
    likelihood_bound,
    likelihood_scores,
    parse_samples,
    sample_scores,
    world_tensor,
)


class Uniform:
    """A stand-in model that knows the world: log q(x) = -log N for each of its N images."""

    family, likelihood = "fake", "exact"

    def __init__(self, n, extra_nats=0.0):
        self.n, self.extra = n, extra_nats
        self.config = type("C", (), {"condition": "none"})()

    def log_prob(self, x, condition=None):
        return torch.full((x.shape[0],), -math.log(self.n) - self.extra, dtype=torch.float64)


def test_a_perfect_model_has_zero_gap_and_the_world_entropy():
    world = exact_world()
    scores = likelihood_scores(Uniform(world.num_scenes), every=16)
    assert math.isclose(scores["entropy_bits"], math.log2(768))
    assert math.isclose(scores["bits_per_image"], math.log2(768))
    assert abs(scores["gap_bits_per_image"]) < 1e-9
    assert math.isclose(scores["bits_per_dim"], math.log2(768) / (3 * 32 * 32))
    worse = likelihood_scores(Uniform(world.num_scenes, extra_nats=math.log(2)), every=16)
    assert math.isclose(worse["gap_bits_per_image"], 1.0)  # half the mass: one bit of KL


def test_no_likelihood_and_unnormalized_give_no_bits():
    blind = Uniform(768)
    blind.likelihood = "none"
    assert likelihood_scores(blind)["bits_per_dim"] is None and likelihood_scores(blind)["gap_bits_per_image"] is None
    blind.likelihood = "unnormalized"
    scores = likelihood_scores(blind, every=64)
    assert scores["bits_per_dim"] is None and scores["gap_bits_per_image"] is None


def test_binarized_world_is_a_distribution_with_less_entropy():
    world = exact_world()
    entropy, unique, p = binarized_entropy_bits(world)
    assert math.isclose(float(p.sum()), 1.0) and unique.shape[1] == 3 * 32 * 32
    assert 0 < entropy <= world.entropy_bits


def test_world_images_parse_as_themselves_and_noise_does_not():
    world = exact_world()
    images = world_tensor(world)[::97]  # 8 scenes across the world
    parse = parse_samples(images)
    assert parse.index.tolist() == list(range(0, 768, 97))
    assert parse.valid.all() and (parse.rmse == 0).all()
    assert parse.shape[0] == world.scenes[0].objects[0].shape
    noise = torch.randint(0, 256, (2, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    assert not parse_samples(noise).valid.any()
    blank = torch.full((1, 3, 32, 32), 128, dtype=torch.uint8)  # the ground alone: no world image
    assert not parse_samples(blank).valid.any() and parse_samples(blank).empty.all()
    assert not parse.empty.any() and not parse_samples(noise).empty.any()
    shifted = torch.roll(images, shifts=2, dims=3)  # the object moved by 2 pixels: not a world image
    assert not parse_samples(shifted).valid.any()
    bits = parse_samples((images > 127).to(torch.uint8) * 255, binarized=True)
    assert bits.valid.all()


class Oracle:
    """A class-conditional stand-in that draws, for each asked (shape, colour), a world image of it."""

    family = "fake"

    def __init__(self):
        self.config = type("C", (), {"condition": "class"})()
        world = exact_world()
        self.images = world_tensor(world)
        self.scenes = world.scenes

    def sample(self, n, condition, *, generator=None):
        from worlds.scene import COLOR_NAMES, SHAPES, nearest_color_name

        out = []
        for shape, colour in condition.tolist():
            index = next(
                i
                for i, s in enumerate(self.scenes)
                if s.objects[0].shape == SHAPES[shape] and nearest_color_name(s.objects[0].color) == COLOR_NAMES[colour]
            )
            out.append(self.images[index])
        return torch.stack(out)


def test_a_faithful_model_scores_one_on_every_class_the_world_draws():
    """Only (shape, colour) pairs the world draws are asked for: the palette's extra colours (orange,
    pink, ...) appear in no training image, so no model could match them."""
    from playground.evaluation.scores import conditional_faithfulness

    scores = conditional_faithfulness(Oracle())
    assert scores == {
        "samples": 64,
        "seeds": [0],
        "seen_match": 1.0,
        "seen_colour_match": 1.0,
        "seen_valid": 1.0,
        "held_out_match": 1.0,
        "held_out_colour_match": 1.0,
        "held_out_valid": 1.0,
    }
    several = conditional_faithfulness(Oracle(), n=23, seeds=(0, 1))  # a spread for each score, here 0
    assert several["seen_valid"] == 1.0 and several["seen_valid_spread"] == 0.0 and several["seeds"] == [0, 1]


class PrefersGrey:
    """A stand-in unnormalized model: -E(x) = -sum |x - 128|, so the flat grey ground is its favourite."""

    family, likelihood = "fake", "unnormalized"

    def log_prob(self, x, condition=None):
        return -(x.double() - 128).abs().flatten(1).sum(1)


def test_samples_above_world_counts_the_samples_ranked_over_the_median_world_image():
    from playground.evaluation.scores import samples_above_world

    model, world = PrefersGrey(), world_tensor(exact_world())
    grey = torch.full((4, 3, 32, 32), 128, dtype=torch.uint8)  # above every scene: all count
    assert samples_above_world(model, grey) == 1.0
    noise = torch.randint(0, 256, (4, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    assert samples_above_world(model, noise) == 0.0  # far below every scene
    scores = -(world.double() - 128).abs().flatten(1).sum(1)
    ranked = world[scores.argsort()]  # the world from least to most liked
    assert samples_above_world(model, ranked[:16], every=1) == 0.0
    assert samples_above_world(model, ranked[-16:], every=1) == 1.0


def test_the_coverage_ceiling_is_the_expected_share_of_scenes_a_perfect_sampler_hits():
    assert math.isclose(coverage_ceiling([1 / 768] * 768, 1000), 1 - (767 / 768) ** 1000)
    assert round(coverage_ceiling([1 / 768] * 768, 1000), 3) == 0.728  # the reference's figure
    assert coverage_ceiling([0.5, 0.5], 1) == 0.5 and coverage_ceiling([1.0, 0.0], 5) == 0.5


class PerfectSampler:
    """Draws world images uniformly: every sample valid, coverage at its ceiling up to chance."""

    family, likelihood = "fake", "exact"

    def __init__(self):
        self.images = world_tensor(exact_world())

    def sample(self, n, condition=None, *, generator=None, mode=False):
        index = torch.randint(len(self.images), (n,), generator=generator)
        return torch.zeros_like(self.images[:n]) if mode else self.images[index]


def test_sample_scores_are_means_over_seeds_with_their_spread_and_the_ceiling():
    model = PerfectSampler()
    scores = sample_scores(model, n=256, seeds=(0, 1, 2))
    assert scores["validity"] == 1.0 and scores["validity_spread"] == 0.0 and scores["empty"] == 0.0
    assert len(scores["validity_per_seed"]) == 3 and scores["samples"] == 256
    ceiling = coverage_ceiling([1 / 768] * 768, 256)
    assert math.isclose(scores["coverage_ceiling"], ceiling)
    assert abs(scores["coverage"] - ceiling) < 0.05 and scores["coverage_spread"] >= 0
    assert math.isclose(scores["coverage"], scores["scenes_hit"] / 768)
    black = sample_scores(model, n=16, seeds=(0, 1), mode=True)  # options reach sample(): a black "mode"
    assert black["validity"] == 0.0 and black["median_wrong_pixels"] == 1.0


def test_likelihood_bound_names_what_the_bits_are_as_a_cost():
    model = Uniform(768)
    assert likelihood_bound(model) == "exact"
    model.likelihood = "bound"
    assert likelihood_bound(model) == "upper"
    for kind in ("none", "unnormalized"):
        model.likelihood = kind
        assert likelihood_bound(model) == "none"
    model.likelihood = "estimate"
    model.log_z, model.log_z_floor = torch.tensor(10.0), torch.tensor(12.0)  # the floor beats AIS
    assert likelihood_bound(model) == "lower"
    model.log_z_floor = torch.tensor(8.0)
    assert likelihood_bound(model) == "estimate"


class UniformOver:
    """An exact model uniform over the images of `world` (a side of exact-split): log q = -log N on them."""

    family, likelihood = "fake", "exact"

    def __init__(self, world):
        self.config = None
        self.images = world_tensor(world)
        self.keys = {im.numpy().tobytes() for im in self.images}

    def log_prob(self, x, condition=None):
        inside = torch.tensor([im.numpy().tobytes() in self.keys for im in x])
        return torch.full((len(x),), -1000.0, dtype=torch.float64).masked_fill(inside, -math.log(len(self.images)))

    def sample(self, n, condition=None, *, generator=None):
        return self.images[torch.randint(len(self.images), (n,), generator=generator)]


def test_heldout_scores_tell_a_memoriser_from_a_model_of_the_world():
    train, whole = exact_world("exact-split", "train"), exact_world("exact-split", "all")
    memoriser = heldout_scores(UniformOver(train), n=256, seeds=(0, 1))
    assert math.isclose(memoriser["train_bits_per_image"], math.log2(train.num_scenes))
    assert math.isclose(memoriser["heldout_bits_per_image"], 1000 / math.log(2))  # it never saw them
    assert memoriser["validity"] == 1.0 and memoriser["novel"] == 0.0 and memoriser["heldout_scenes_hit"] == 0
    assert memoriser["train_scenes"] + memoriser["heldout_scenes"] == 768
    learner = heldout_scores(UniformOver(whole), n=256, seeds=(0, 1))
    assert math.isclose(learner["generalisation_gap_bits"], 0.0, abs_tol=1e-9)
    assert math.isclose(learner["heldout_bits_per_image"], math.log2(768))
    assert abs(learner["novel"] - learner["heldout_share"]) < 0.07 and learner["heldout_scenes_hit"] > 10
    assert learner["likelihood_bound"] == "exact" and math.isclose(learner["heldout_share"], 1 - train.num_scenes / 768)
