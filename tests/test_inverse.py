"""Inverse graphics: set matching, AP on hand-made cases, the encoder's answers, refinement, checkpoints."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from playground.inverse.encoder import EncoderConfig, SceneEncoder, confident_objects
from playground.inverse.metrics import AP_THRESHOLDS, average_precision, match_scenes
from playground.inverse.refine import _tensors, image_error, refine, soft_render_2d
from playground.models.checkpoint import load, save
from playground.models.data import load_world
from playground.models.train import fit
from worlds import Cube, Cylinder, Scene, Sphere, render, sample_scenes
from worlds.scene import SLOT_DIM


def two_objects():
    return Scene(
        [
            Cube(color="red", position=(-1.0, 0.5), size="large", rotation=20),
            Sphere(color="blue", position=(1.5, -1.0), size="small", material="metal"),
        ],
        view="2d",
    )


def test_match_scenes_pairs_objects_by_position_whatever_the_order():
    truth = two_objects()
    predicted = dataclasses.replace(truth, objects=truth.objects[::-1])
    assert sorted(match_scenes(predicted, truth)) == [(0, 1), (1, 0)]
    assert match_scenes(Scene([], view="2d"), truth) == []


def test_average_precision_perfect_predictions_score_one_at_every_threshold():
    truth = two_objects()
    predictions = [[(0.9, o) for o in truth.objects]]
    for d in AP_THRESHOLDS:
        assert average_precision(predictions, [truth], d) == pytest.approx(1.0)


def test_average_precision_duplicate_wrong_attribute_and_missing_object():
    truth = two_objects()
    a, b = truth.objects
    wrong_colour = dataclasses.replace(b, color="green")
    # ranked: a (TP), a again (FP: a is claimed), b with the wrong colour (FP) -> recall stops at 1/2
    predictions = [[(0.9, a), (0.8, a), (0.7, wrong_colour)]]
    assert average_precision(predictions, [truth], math.inf) == pytest.approx(0.5)
    # only a predicted: b is missing, precision 1 up to recall 1/2
    assert average_precision([[(0.9, a)]], [truth], math.inf) == pytest.approx(0.5)
    # a low-confidence false positive ranked below both true positives costs nothing
    spare = Cylinder(color="yellow", position=(0.0, 0.0))
    assert average_precision([[(0.9, a), (0.8, b), (0.1, spare)]], [truth], math.inf) == pytest.approx(1.0)
    # ranked above them: precisions 1/2 and 2/3 at recalls 1/2 and 1; interpolated, both count 2/3
    assert average_precision([[(0.95, spare), (0.9, a), (0.8, b)]], [truth], math.inf) == pytest.approx(2 / 3)


def test_average_precision_a_double_hit_is_a_false_positive_even_beside_a_free_twin():
    """Slot Attention's rule: a prediction takes the nearest true object with its attributes; if that one
    is claimed it is a false positive, though another true object with the same attributes is free."""
    twin_a = Cube(color="red", position=(-1.0, 0.0), size="large")
    twin_b = Cube(color="red", position=(1.0, 0.0), size="large")
    truth = Scene([twin_a, twin_b], view="2d")
    near_a = dataclasses.replace(twin_a, position=(-0.9, 0.0))
    # ranked: a itself (TP, claims a), then one near a (nearest is a, claimed: FP) -> recall 1/2
    predictions = [[(0.9, twin_a), (0.8, near_a)]]
    assert average_precision(predictions, [truth], math.inf) == pytest.approx(0.5)
    # one prediction on each twin: both true positives
    assert average_precision([[(0.9, twin_a), (0.8, twin_b)]], [truth], math.inf) == pytest.approx(1.0)


def test_average_precision_thresholds_are_scene_units_unless_a_unit_is_given():
    truth = two_objects()
    a, b = truth.objects
    shifted = dataclasses.replace(a, position=(a.position[0] + 0.3, a.position[1]))  # 0.3 scene units off
    predictions = [[(0.9, shifted), (0.8, b)]]
    assert average_precision(predictions, [truth], 0.5) == pytest.approx(1.0)
    # at 0.25 the shifted one (ranked first) is a false positive: precision 1/2 at recall 1/2
    assert average_precision(predictions, [truth], 0.25) == pytest.approx(0.25)
    # the normalised variant: 0.3 of a 6-unit range is 0.05 of it
    assert average_precision(predictions, [truth], 0.06, unit=6.0) == pytest.approx(1.0)
    assert average_precision(predictions, [truth], 0.04, unit=6.0) == pytest.approx(0.25)
    assert AP_THRESHOLDS == (math.inf, 1.0, 0.5, 0.25, 0.125)


@pytest.fixture(scope="module")
def data():
    return load_world("shapes2d", 48, seed=5, image_size=32)


def tiny(**changes):
    config = EncoderConfig(image_size=32, width=8, dim=32, layers=2, heads=2, downsample=2)
    return SceneEncoder(dataclasses.replace(config, **changes))


def test_encoder_answers_are_valid_renderable_scenes(data, one_thread):
    torch.manual_seed(0)
    model = tiny().eval()
    noise = torch.randint(0, 256, (3, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    scenes = model.infer(torch.cat([data.images[:3], noise]))
    assert len(scenes) == 6
    for scene in scenes:
        assert isinstance(scene, Scene) and len(scene.objects) <= model.config.slots
        assert Scene.from_json(scene.to_json()) == scene
    assert render(scenes).shape == (6, 32, 32, 3)
    vectors = model.predict_vectors(data.images[:2])
    assert vectors.shape == (2, model.config.slots, SLOT_DIM)
    assert all(len(p) == len(s.objects) for p, s in zip(confident_objects(vectors, model.scene_settings()), scenes[:2]))


def test_encoder_rejects_bad_input_and_settings():
    model = tiny()
    with pytest.raises(ValueError, match="uint8 images"):
        model.infer(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="vectors"):
        model.loss(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="slots"):
        tiny(slots=2)  # shapes2d scenes hold up to 4 objects


def test_encoder_set_loss_falls_on_a_fixed_batch(data, one_thread):
    torch.manual_seed(0)
    model = tiny()
    batch = data.images[:16], data.vectors[:16]
    before = float(model.loss(*batch).detach())
    optimizer = model.configure_optimizer(3e-3)
    for _ in range(30):
        model.train_step(*batch, optimizer)
    assert float(model.loss(*batch).detach()) < 0.7 * before


def test_encoder_trains_through_the_shared_loop_and_round_trips(data, tmp_path, one_thread):
    torch.manual_seed(0)
    model = tiny()
    history = fit(model, data, steps=3, batch_size=8, seed=0)
    assert len(history) == 3 and all(math.isfinite(r["loss"]) for r in history)
    path = save(model, tmp_path / "encoder.safetensors", extra={"world": "shapes2d"})
    again = load(path)
    assert isinstance(again, SceneEncoder)
    np.testing.assert_array_equal(again.predict_vectors(data.images[:4]), model.eval().predict_vectors(data.images[:4]))


def test_soft_renderer_matches_the_renderer():
    scenes = sample_scenes("shapes2d", 3, 12)
    for scene, image in zip(scenes, render(scenes)):
        t = _tensors(scene)
        soft = soft_render_2d(scene, t["shapes"], t["metal"], t["position"], t["size"], t["rotation"], t["rgb"])
        assert np.abs(soft.numpy() - image.astype(np.float64)).max() <= 1.5  # rounding of each layer to bytes


def perturbed(scene, shift=0.15, seed=0):
    rng = np.random.default_rng(seed)
    return dataclasses.replace(
        scene,
        objects=tuple(
            dataclasses.replace(
                o,
                position=tuple(float(v) for v in np.add(o.position, rng.normal(0, shift, 2))),
                size=o.size * float(rng.uniform(0.9, 1.1)),
                rotation=(o.rotation + 5.0) % 360,
            )
            for o in scene.objects
        ),
    )


def position_error(a: Scene, b: Scene) -> float:
    return float(np.mean([np.linalg.norm(np.subtract(p.position, q.position)) for p, q in zip(a.objects, b.objects)]))


def test_refinement_recovers_a_2d_scene_from_a_perturbed_start(one_thread):
    truth = two_objects()
    image = render([truth])[0]
    start = perturbed(truth)
    refined, history = refine(start, image, steps=40)
    assert history[-1] <= history[0] and min(history) < 0.2 * history[0]
    assert position_error(refined, truth) < 0.1 * position_error(start, truth)
    assert image_error(render([refined])[0], image)["iou"] > 0.95


def test_refinement_lowers_the_3d_image_error(one_thread):
    truth = Scene(
        [
            Cube(color="red", position=(-1.0, 0.5), size="large", rotation=20),
            Cylinder(color="cyan", position=(1.5, -1.0), size="small"),
        ],
        image_size=32,
        view="3d",
    )
    image = render([truth])[0]
    start = perturbed(truth, shift=0.2)
    refined, history = refine(start, image, steps=6)
    assert history[-1] < history[0]
    assert position_error(refined, truth) < position_error(start, truth)


def test_refine_and_image_error_reject_mismatched_input():
    scene = two_objects()
    with pytest.raises(ValueError, match="uint8"):
        refine(scene, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="steps"):
        refine(scene, render([scene])[0], steps=10_000)
    with pytest.raises(ValueError, match="shape"):
        image_error(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 5, 3), np.uint8))


def test_discrete_sweep_fixes_a_wrong_shape_and_material():
    from playground.inverse.refine import discrete_sweep

    truth = two_objects()
    wrong = dataclasses.replace(
        truth,
        objects=(
            dataclasses.replace(truth.objects[0], shape="cylinder"),
            dataclasses.replace(truth.objects[1], material="matte"),
        ),
    )
    fixed, rmse = discrete_sweep(wrong, render([truth])[0])
    assert fixed == truth and rmse == 0.0


def test_an_object_must_explain_enough_of_the_picture_to_stay():
    from playground.inverse.refine import MIN_EXPLAINED, discrete_sweep, prune

    truth = two_objects()
    image = render([truth])[0]
    # a tiny object hidden under the red cube, and one off the picture's objects by a hair
    hidden = Cube(color="red", position=(-1.0, 0.5), size=0.05)
    faint = Sphere(color=(130, 128, 128), position=(0.0, 2.0), size=0.1)
    crowded = dataclasses.replace(truth, objects=truth.objects + (hidden, faint))
    assert prune(crowded, image) == truth
    assert prune(truth, image) == truth  # each true object explains far more than the price
    sse = lambda scene: float(((render([scene])[0].astype(float) - image) ** 2).sum())  # noqa: E731
    without_sphere = dataclasses.replace(truth, objects=truth.objects[:1])
    assert sse(without_sphere) - sse(truth) > 10 * MIN_EXPLAINED
    # a candidate is added only when it pays for itself
    missing = dataclasses.replace(truth, objects=truth.objects[:1])
    found, rmse = discrete_sweep(missing, image, candidates=(faint, truth.objects[1]))
    assert found == truth and rmse == 0.0


def test_a_3d_object_the_scene_leaves_out_is_proposed_where_the_picture_shows_it():
    from playground.inverse.refine import _residual_proposals, discrete_sweep

    truth = Scene(
        [
            Cube(color="red", position=(-1.0, 0.5), size="large", rotation=0),
            Sphere(color="gray", position=(1.5, -1.0), size="small"),
        ],
        image_size=64,
        view="3d",
    )
    image = render([truth])[0]
    missing = dataclasses.replace(truth, objects=truth.objects[:1])
    (proposal,) = _residual_proposals(missing, image)
    assert (proposal.shape, proposal.color, proposal.size, proposal.material) == ("sphere", "gray", 0.35, "matte")
    assert math.dist(proposal.position, (1.5, -1.0)) < 0.3  # the blob's centre, back on the ground
    found, _ = discrete_sweep(missing, image, propose=True)
    assert len(found.objects) == 2
    assert _residual_proposals(truth, image) == []  # nothing left to explain
