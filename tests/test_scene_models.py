"""Scene-level models: codes and vectors round-trip, the metrics on hand-made cases, the autoregressive
model's exact likelihood (it sums to 1 over a world small enough to enumerate), prompts, training, checkpoints."""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from playground.models.checkpoint import load
from playground.scenes import metrics
from playground.scenes.autoregressive import SceneARConfig, SceneAutoregressive
from playground.scenes.backbone import MAX_ROWS, PromptEncoder, encode_prompts
from playground.scenes.codec import FIELDS, SceneCodec
from playground.scenes.data import load_scenes, scene_data
from playground.scenes.train import main as train_main
from worlds import Cube, Scene, Sphere, World, sample_scenes
from worlds.prompts import PromptError, check
from worlds.world import WORLDS

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_AR = dict(dim=16, depth=1, heads=2, pair_hidden=8)


@pytest.fixture
def tiny_world(monkeypatch):
    """Up to two objects, two shapes, one colour, a 2 x 2 grid: few enough scenes to enumerate."""
    world = World(
        "tiny",
        view="2d",
        image_size=16,
        num_objects=(0, 2),
        shapes=("cube", "sphere"),
        colors=("red",),
        sizes=("small",),
        materials=("matte",),
        position_range=(-1.0, 1.0),
        position_grid=2,
        rotation="fixed",
        min_distance=0.0,
    )
    monkeypatch.setitem(WORLDS, "tiny", world)
    return "tiny"


# --- codes and vectors


@pytest.mark.parametrize("world", ["exact", "shapes2d", "clevr3d"])
def test_codes_and_vectors_round_trip_and_decode_valid_scenes(world):
    codec = SceneCodec(world)
    scenes = sample_scenes(world, 3, 60)
    codes = codec.encode(scenes)
    decoded = codec.decode(codes, seed=1)
    assert torch.equal(codec.encode(decoded), codes)
    assert torch.equal(codec.encode(codec.from_vectors(codec.to_vectors(scenes))), codes)
    assert all(metrics.is_valid(s, world) for s in decoded)  # dequantization keeps the world's gaps
    assert [len(s.objects) for s in decoded] == [len(s.objects) for s in scenes]
    # canonical order: x codes never decrease along a scene's present objects
    x = codes[..., FIELDS.index("x")]
    present = codes[..., 0] == 1
    assert bool(((x[:, 1:] >= x[:, :-1]) | ~present[:, 1:]).all())


def test_decoding_is_seeded_and_leading_objects_come_first():
    codec = SceneCodec("shapes2d")
    scenes = [s for s in sample_scenes("shapes2d", 0, 40) if len(s.objects) >= 3][:5]
    assert codec.decode(codec.encode(scenes), seed=4) == codec.decode(codec.encode(scenes), seed=4)
    first = [[2, 0] for _ in scenes]
    codes = codec.encode(scenes, first)
    for scene, row in zip(scenes, codes):
        assert row[0].tolist() == codec.object_codes(scene.objects[2])
        assert row[1].tolist() == codec.object_codes(scene.objects[0])


def test_codec_refuses_bad_settings():
    with pytest.raises(ValueError, match="unknown world"):
        SceneCodec("nowhere")
    with pytest.raises(ValueError, match="position_bins"):
        SceneCodec("shapes2d", position_bins=1)


# --- metrics on hand-made scenes


def test_problems_name_each_broken_rule():
    settings = WORLDS["shapes2d"].scene_settings()
    good = Scene([Cube(color="red", position=(0, 0), size="small")], **settings)
    assert metrics.problems(good, "shapes2d") == []
    close = Scene(
        [Cube(color="red", position=(0, 0), size="small"), Sphere(position=(0.8, 0), size="small")], **settings
    )
    assert any("apart" in p for p in metrics.problems(close, "shapes2d"))  # gap 0.1 < 0.25
    outside = Scene([Cube(color="red", position=(3.5, 0), size="small")], **settings)
    assert any("outside" in p for p in metrics.problems(outside, "shapes2d"))
    odd = Scene([Cube(color="pink", position=(0, 0), size=0.5)], **settings)
    found = " ".join(metrics.problems(odd, "shapes2d"))
    assert "color" in found and "size" in found
    assert "objects; the world holds" in metrics.problems(Scene([], **settings), "shapes2d")[0]


def test_distances_between_samples_and_reference():
    a = sample_scenes("shapes2d", 0, 300)
    assert metrics.scene_metrics(a, "shapes2d", a)["count_tv"] == 0.0
    assert metrics.scene_metrics(a, "shapes2d", a)["gap_w1"] == 0.0
    ones = [s for s in a if len(s.objects) == 1]
    twos = [s for s in a if len(s.objects) == 2]
    assert metrics.scene_metrics(ones, "shapes2d", twos)["count_tv"] == 1.0
    reds = [Scene([Cube(color="red", position=(0, 0))], **WORLDS["shapes2d"].scene_settings())]
    assert metrics.pair_coverage(reds, "shapes2d") == pytest.approx(1 / 24)
    assert metrics.attribute_tvs(reds, a)["shape"] == pytest.approx(
        1 - np.mean([o.shape == "cube" for s in a for o in s.objects])
    )
    # the holdout world's 'train' side has no red cylinders to cover
    assert ("cylinder", "red") not in metrics.world_pairs("shapes2d-holdout")
    keys = {1, 2}
    assert metrics.scene_metrics(a[:4], "shapes2d", a, keys, key=lambda s: len(s.objects))["novelty"] == pytest.approx(
        np.mean([len(s.objects) not in keys for s in a[:4]])
    )


# --- the autoregressive model


def _canonical_codes(codec):
    """Every code array the autoregressive model can give probability: 0..K objects in distinct bins,
    in canonical order."""
    objects = list(itertools.product(*(range(codec.vocab[f]) for f in FIELDS[1:])))
    x, y = FIELDS.index("x") - 1, FIELDS.index("y") - 1
    out = []
    for count in range(codec.slots + 1):
        for combo in itertools.product(objects, repeat=count):
            places = [(o[x], o[y]) for o in combo]
            if places != sorted(places) or len(set(places)) < count:
                continue
            codes = np.zeros((codec.slots, len(FIELDS)), np.int64)
            for k, o in enumerate(combo):
                codes[k] = (1, *o)
            out.append(codes)
    return torch.from_numpy(np.stack(out))


def test_autoregressive_probabilities_sum_to_one_over_an_enumerable_world(tiny_world):
    torch.manual_seed(0)
    model = SceneAutoregressive(SceneARConfig(world=tiny_world, **TINY_AR)).eval()
    every = _canonical_codes(model.codec)
    total = torch.logsumexp(model.log_prob(every), 0)
    assert total.item() == pytest.approx(0.0, abs=1e-4)
    draws = model.sample(64, generator=torch.Generator().manual_seed(0))
    seen = {tuple(map(tuple, c.tolist())) for c in every}
    assert all(tuple(map(tuple, d.tolist())) in seen for d in draws)  # every draw is a canonical set


def test_autoregressive_learns_the_exact_world_and_samples_are_seeded():
    torch.manual_seed(0)
    from playground.models.train import fit

    model = SceneAutoregressive(SceneARConfig(world="exact", **TINY_AR))
    data = scene_data(model.codec, load_scenes("exact", 512, 0), representation="codes")
    before = model.bits_per_scene(data.inputs[:64]).mean().item()
    fit(model, data, steps=60, batch_size=64, lr=3e-3, seed=0)
    after = model.bits_per_scene(data.inputs[:64]).mean().item()
    assert after < before and after > math.log2(768) - 0.5  # a normalised model cannot beat the world's entropy
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(model.sample(8, generator=g()), model.sample(8, generator=g()))
    with pytest.raises(ValueError, match="1..4096"):
        model.sample(0)


def test_prompt_rows_and_a_conditional_model():
    prompts, rows = encode_prompts(["a red cube to the left of a blue cylinder", "three spheres"], "clevr3d")
    assert rows.shape == (2, MAX_ROWS, 8)
    assert rows[0, :3, 0].tolist() == [1, 1, 3]  # two variables, then the relation
    tokens, pad = PromptEncoder(16, SceneCodec("clevr3d").vocab)(rows)
    assert tokens.shape == (2, MAX_ROWS + 1, 16) and not pad[:, 0].any()
    with pytest.raises(PromptError, match="dog"):
        encode_prompts(["a red dog"], "clevr3d")
    with pytest.raises(PromptError, match="pink"):
        encode_prompts(["a pink cube"], "clevr3d")
    torch.manual_seed(0)
    model = SceneAutoregressive(SceneARConfig(world="clevr3d", condition="prompt", **TINY_AR)).eval()
    codes = model.sample(2, rows, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(model.log_prob(codes, rows)).all()
    with pytest.raises(ValueError, match="prompt-conditional"):
        model.sample(2)


def test_prompted_training_data_puts_the_prompts_objects_first():
    codec = SceneCodec("shapes2d")
    scenes = load_scenes("shapes2d", 50, 0)
    data = scene_data(codec, scenes, representation="codes", condition="prompt", seed=0)
    assert data.prompts.shape == (50, MAX_ROWS, 8)
    for rows, codes in zip(data.prompts, data.inputs):
        variables = int((rows[:, 0] == 1).sum())
        assert variables >= 1 or (rows[:, 0] == 2).any()  # a prompt names objects, or counts them
        for v in range(variables):  # variable v's object leads, in slot v, with every attribute it names
            assert codes[v, 0] == 1
            for column, field in enumerate(("shape", "color", "size", "material"), start=1):
                if rows[v, column]:
                    assert rows[v, column] - 1 == codes[v, FIELDS.index(field)]
    with pytest.raises(ValueError, match="without prompts"):
        scene_data(codec, scenes, representation="codes").condition("prompt")


def test_train_cli_writes_a_checkpoint_that_loads_and_samples(tmp_path, capsys):
    out = tmp_path / "ar"
    assert (
        train_main(
            [
                "--family",
                "autoregressive",
                "--world",
                "exact",
                "--steps",
                "3",
                "--n",
                "64",
                "--out",
                str(out),
                "--set",
                "dim=16",
                "--set",
                "depth=1",
                "--set",
                "heads=2",
            ]
        )
        == 0
    )
    model = load(out / "model.safetensors")
    assert model.checkpoint_extra["world"] == "exact"
    scenes = model.codec.decode(model.sample(4, generator=torch.Generator().manual_seed(0)))
    assert all(len(s.objects) <= 1 for s in scenes)
    assert train_main(["--family", "autoregressive", "--world", "nowhere", "--steps", "1", "--out", str(out)]) == 2
    assert "unknown world" in capsys.readouterr().err


def test_a_scene_drawn_for_a_prompt_is_checked_fact_by_fact():
    settings = WORLDS["shapes2d"].scene_settings()
    scene = Scene([Cube(color="red", position=(-1, 0)), Sphere(color="blue", position=(1, 0))], **settings)
    (prompt,), _ = encode_prompts(["a red cube to the left of a blue sphere and two cubes"], "shapes2d")
    verdict = check(prompt, scene)
    assert verdict.facts == (True, False) and not verdict.overall


# --- shipped models and the app's scene level


@pytest.fixture
def tiny_shipped(tmp_path, monkeypatch):
    """Tiny untrained autoregressive models standing in for the shipped ones (unconditional and prompt)."""
    from playground.models.checkpoint import save
    from playground.scenes import shipped

    torch.manual_seed(0)
    files = {}
    for name, condition, world in [
        ("scene-autoregressive-shapes2d", "none", "shapes2d"),
        ("scene-autoregressive-prompt-shapes2d", "prompt", "shapes2d-holdout"),
    ]:
        model = SceneAutoregressive(SceneARConfig(world=world, condition=condition, **TINY_AR))
        files[name] = save(model, tmp_path / f"{name}.safetensors", extra={"world": world, "n": 64, "seed": 0})
    monkeypatch.setattr(shipped, "path", lambda name: files.get(name, tmp_path / "missing.safetensors"))
    shipped.load.cache_clear()
    yield files
    shipped.load.cache_clear()


def test_the_app_checks_every_asked_fact_on_the_picture_read_back(tiny_shipped):
    from playground.app import scenes

    names = [n for _, n in scenes.scene_model_choices()]
    assert names == ["scene-autoregressive-shapes2d", "scene-autoregressive-prompt-shapes2d"]
    items, status = scenes.scene_samples("scene-autoregressive-prompt-shapes2d", 4, 0, "a red cube and two spheres")
    assert len(items) == 4 and "read back" in status
    for picture, text in items:
        assert picture.shape == (128, 128, 3)
        assert text[0] in "✅❌" and text.count("a red cube") == 1 and "two spheres" in text
    again, _ = scenes.scene_samples("scene-autoregressive-prompt-shapes2d", 4, 0, "a red cube and two spheres", "3d")
    assert not np.array_equal(again[0][0], items[0][0])  # the same scene through the 3D camera
    assert [t for _, t in again] == [t for _, t in items]  # the same draws, the same verdicts
    plain, _ = scenes.scene_samples("scene-autoregressive-shapes2d", 2, 0)
    assert all("world's rules" in t or "apart" in t or "objects" in t for _, t in plain)


@pytest.mark.parametrize(
    "name, prompt, message",
    [
        ("scene-autoregressive-prompt-shapes2d", "a red dog", "dog"),
        ("scene-autoregressive-prompt-shapes2d", "", "type one"),
        ("scene-autoregressive-prompt-shapes2d", "seven cubes", "7"),
        ("scene-autoregressive-shapes2d", "a red cube", "unconditional"),
        ("scene-nothing", "", "unknown scene model"),
        ("scene-autoregressive-clevr3d", "", "missing"),
    ],
)
def test_the_app_names_what_is_wrong_with_a_request(tiny_shipped, name, prompt, message):
    from playground.app import scenes

    with pytest.raises(ValueError, match=message):
        scenes.scene_samples(name, 2, 0, prompt)


def test_shipped_recipes_name_their_world_and_training_world():
    from playground.scenes import shipped

    assert shipped.RECIPES["scene-autoregressive-prompt-clevr3d"].trained_on == "clevr3d-cogent"
    args = shipped.RECIPES["scene-autoregressive-prompt-shapes2d"].argv(Path("out"))
    assert args[args.index("--world") + 1] == "shapes2d-holdout" and "--split" in args
    with pytest.raises(ValueError, match="no shipped scene model"):
        shipped.path("scene-nothing")
