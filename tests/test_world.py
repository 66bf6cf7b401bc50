"""World priors: counter-based sampling, constraints, held-out splits, the exact world."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds import WORLDS, ExactWorld, World, WorldError, get_world, render, render_layers, sample_scene, sample_scenes


@pytest.mark.parametrize("name", ["exact", "shapes2d", "shapes2d-holdout"])
def test_same_seed_same_scenes_and_bytes(name):
    a, b = sample_scenes(name, 7, 12), sample_scenes(name, 7, 12)
    assert a == b
    assert render(a).tobytes() == render(b).tobytes()
    assert sample_scenes(name, 8, 12) != a


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=12), st.integers(0, 2**31))
def test_any_subset_gives_identical_scenes(indices, seed):
    """Scene i is a pure function of (world, seed, i): shards and batch sizes cannot matter."""
    world = get_world("shapes2d").replace(image_size=32)
    together = sample_scenes(world, seed, indices)
    assert together == [sample_scene(world, seed, i) for i in indices]


def test_shards_partition_a_run():
    world = get_world("shapes2d").replace(image_size=32)
    whole = sample_scenes(world, 3, 30)
    shards = [sample_scenes(world, 3, range(k * 30 // 4, (k + 1) * 30 // 4)) for k in range(4)]
    assert sum(shards, []) == whole


def test_prior_is_respected():
    world = get_world("shapes2d").replace(image_size=32)
    scenes = sample_scenes(world, 0, 200)
    for scene in scenes:
        lo, hi = world.num_objects
        assert lo <= len(scene.objects) <= hi
        for i, a in enumerate(scene.objects):
            assert a.shape in world.shapes and a.color in world.colors and a.size in world.sizes
            assert world.position_range[0] <= a.position[0] <= world.position_range[1]
            for b in scene.objects[i + 1 :]:
                gap = math.dist(a.position, b.position) - a.size - b.size
                assert gap >= world.min_distance - 1e-9
    visible = render_layers(scenes).visible
    for scene, counts in zip(scenes, visible):
        assert (counts[: len(scene.objects)] >= world.min_visible_pixels).all()
    assert {len(s.objects) for s in scenes} == {1, 2, 3, 4}


def test_held_out_combinations_split_train_and_test():
    train = sample_scenes("shapes2d-holdout", 0, 150)
    test = sample_scenes(get_world("shapes2d-holdout").replace(split="test"), 0, 150)
    red_cylinder = lambda o: o.color == "red" and o.shape == "cylinder"
    assert not any(red_cylinder(o) for s in train for o in s.objects)
    assert all(any(red_cylinder(o) for o in s.objects) for s in test)
    # Red things and cylinders still appear in train, just never together.
    assert any(o.color == "red" for s in train for o in s.objects)
    assert any(o.shape == "cylinder" for s in train for o in s.objects)


def test_scene_split_is_disjoint_and_covers_the_world():
    """exact-split holds out whole scenes by their hash: train and test share none and together are the world."""
    split = get_world("exact-split")
    train, test = ExactWorld(split), ExactWorld(split.replace(split="test"))
    everything = ExactWorld(split.replace(split="all")).scenes
    assert not set(train.scenes) & set(test.scenes)
    assert set(train.scenes) | set(test.scenes) == set(everything) == set(ExactWorld("exact").scenes)
    assert 0.15 < test.num_scenes / len(everything) < 0.25  # about the 20% asked for
    assert train.entropy_bits == pytest.approx(math.log2(train.num_scenes))
    # the sampler keeps each side: draws land only on their own side's scenes
    assert set(sample_scenes(split, 0, 300)) <= set(train.scenes)
    assert set(sample_scenes(split.replace(split="test"), 0, 60)) <= set(test.scenes)
    # the held-out scenes are a property of the scene, not of the world, seed or image size
    small = ExactWorld(split.replace(image_size=16, split="test"))
    assert {s.objects[0] for s in small.scenes} == {s.objects[0] for s in test.scenes}


def test_a_scene_split_leaves_other_worlds_hashes_alone():
    world = get_world("exact")
    assert "held_out_fraction" not in world.to_dict()
    assert world.config_hash == world.replace(held_out_fraction=0.0).config_hash
    assert world.replace(held_out_fraction=0.2).config_hash != world.config_hash


def test_unsatisfiable_prior_fails_with_a_clear_error():
    crowded = World(
        "crowded",
        view="2d",
        image_size=32,
        num_objects=(10, 10),
        sizes=("large",),
        position_range=(-1, 1),
        min_distance=0.5,
        max_attempts=3,
    )
    with pytest.raises(WorldError, match="did not satisfy the prior in 3 attempts"):
        sample_scene(crowded, 0, 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_objects=(3, 1)), "num_objects"),
        (dict(colors=("chartreuse",)), "unknown colour name"),
        (dict(held_out=({"texture": "wood"},)), "unknown attribute 'texture'"),
        (dict(split="test"), "split 'test' needs held_out"),
        (dict(held_out_fraction=1.0), "held_out_fraction must be in"),
        (dict(held_out_fraction=0.2, held_out=({"color": "red"},)), "not both"),
        (dict(image_size=2000), "image_size"),
    ],
)
def test_bad_world_configs_are_named(kwargs, message):
    with pytest.raises(WorldError, match=message):
        World("bad", **kwargs)


def test_unknown_world_and_bad_seed():
    with pytest.raises(
        WorldError, match="unknown world 'nope'; choose one of exact, exact-holdout, exact-split, shapes2d"
    ):
        get_world("nope")
    with pytest.raises(WorldError, match="seed must be a non-negative integer"):
        sample_scenes("exact", -1, 3)


def test_presets_sample_and_render():
    for name, world in WORLDS.items():
        scenes = sample_scenes(world.replace(image_size=32) if world.view == "2d" else world, 1, 4)
        assert render(scenes).shape[0] == 4, name


def test_replace_image_size_rescales_visibility_and_keeps_the_scenes():
    world = get_world("clevr3d")
    big = world.replace(image_size=128)
    assert big.min_visible_pixels == world.min_visible_pixels * 4
    assert big.config_hash != world.config_hash  # a dataset records its resolution ...
    same = [a.objects == b.objects for a, b in zip(sample_scenes(world, 0, 20), sample_scenes(big, 0, 20))]
    assert sum(same) >= 18  # ... but scene i is the same scene at either size, bar rare redraws


# --- the exact world ----------------------------------------------------------------------


def test_exact_world_enumerates_distinct_images():
    exact = ExactWorld("exact")
    assert exact.num_scenes == 3 * 8 * 2 * 16
    images = exact.images
    assert len({im.tobytes() for im in images}) == exact.num_scenes, "two scenes render to the same image"
    assert exact.entropy_bits == pytest.approx(math.log2(768), abs=1e-9)


def test_exact_log_prob():
    exact = ExactWorld("exact")
    samples = render(sample_scenes("exact", 0, 20))
    assert np.allclose(exact.log2_prob(samples), -math.log2(768))
    noise = np.random.default_rng(0).integers(0, 256, samples.shape, dtype=np.uint8)
    assert np.isneginf(exact.log2_prob(noise)).all()
    tweaked = samples.copy()
    tweaked[:, 0, 0, 0] ^= 1  # one bit of one pixel: an image the world cannot produce
    assert np.isneginf(exact.log2_prob(tweaked)).all()
    with pytest.raises(WorldError, match="images must be uint8"):
        exact.log2_prob(samples.astype(np.float32))


def test_exact_sampler_matches_enumeration():
    """Samples are uniform over the enumerated scenes: every scene is in the list."""
    exact = ExactWorld("exact")
    scenes = set(exact.scenes)
    drawn = sample_scenes("exact", 5, 2000)
    assert all(s in scenes for s in drawn)
    counts = np.bincount([exact.scenes.index(s) for s in drawn[:400]], minlength=768)
    assert counts.max() <= 6  # 400 draws from 768 equally likely scenes rarely repeat much


def test_non_enumerable_world_is_refused():
    with pytest.raises(WorldError, match="not enumerable: it must have exactly one object"):
        ExactWorld("shapes2d")
