"""The scene language: construction, validation messages, JSON and vector round trips."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds import (
    COLOR_NAMES,
    MATERIALS,
    MAX_OBJECTS,
    PALETTE,
    SHAPES,
    SLOT_DIM,
    SLOT_LAYOUT,
    Camera,
    Cube,
    Cylinder,
    Object,
    Scene,
    SceneError,
    Sphere,
)

# CLEVR's published properties, kept beside the repository (absent in a bare clone).
CLEVR_FILE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "clevr_properties.json"
CLEVR = json.loads(CLEVR_FILE.read_text()) if CLEVR_FILE.exists() else None


def test_reads_like_a_scene_description():
    scene = Scene(
        [Cube(color="blue", position=(1.0, -0.5), size="large"), Cylinder(color="red", position=(-1, 1), size=0.3)]
    )
    cube, cyl = scene.objects
    assert cube.shape == "cube" and cube.size == 0.7 and cube.rgb == (42, 75, 215)
    assert cyl.position == (-1.0, 1.0) and cyl.size == 0.3 and cyl.material == "matte"
    assert scene.image_size == (64, 64) and scene.view == "3d"


def test_palette_holds_clevr_colors_and_sizes():
    expected = {
        "gray": (87, 87, 87),
        "red": (173, 35, 35),
        "blue": (42, 75, 215),
        "green": (29, 105, 20),
        "brown": (129, 74, 25),
        "purple": (129, 38, 192),
        "cyan": (41, 208, 208),
        "yellow": (255, 238, 51),
    }
    if CLEVR is not None:
        expected = {k: tuple(v) for k, v in CLEVR["colors"].items()}
        assert set(CLEVR["shapes"]) == set(SHAPES)
        assert Object("cube", size="large").size == CLEVR["sizes"]["large"]
        assert Object("cube", size="small").size == CLEVR["sizes"]["small"]
        assert Object("cube", material="rubber").material == "matte"
    for name, rgb in expected.items():
        assert PALETTE[name] == rgb


def test_colors_canonicalise_to_palette_names():
    assert Cube(color=(173, 35, 35)) == Cube(color="red") == Cube(color="#ad2323") == Cube(color=" RED ")
    assert Cube(color=(1, 2, 3)).color == (1, 2, 3)
    assert Cube(color=(1, 2, 3)).color_name == "black"


def test_rotation_wraps_into_0_360():
    assert Cube(rotation=370).rotation == pytest.approx(10.0)
    assert Cube(rotation=-90).rotation == pytest.approx(270.0)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Scene([Cube(), Cube(), {"shape": "cube", "size": -1.0}]), "objects[2].size: must be > 0, got -1.0"),
        (lambda: Scene([{"shape": "pyramid"}]), "objects[0].shape: unknown value 'pyramid'"),
        (lambda: Scene([{"shape": "cube", "color": "magenta"}]), "objects[0].color: unknown colour name 'magenta'"),
        (lambda: Cube(position=(float("nan"), 0)), "position[0]: must be finite, got nan"),
        (lambda: Cube(position=(0, math.inf)), "position[1]: must be finite, got inf"),
        (lambda: Cube(position=(100, 0)), "position[0]: must be <= 8, got 100.0"),
        (lambda: Cube(size="huge"), "size: unknown size name 'huge'"),
        (lambda: Cube(size="1"), "size: unknown size name '1'"),
        (lambda: Cube(color=(300, 0, 0)), "color[0]: must be in 0..255, got 300"),
        (lambda: Cube(material="wood"), "material: unknown value 'wood'"),
        (lambda: Scene([Cube()] * (MAX_OBJECTS + 1)), f"objects: at most {MAX_OBJECTS} objects, got {MAX_OBJECTS + 1}"),
        (lambda: Scene([], image_size=4), "image_size[0]: must be in 8..512, got 4"),
        (lambda: Scene([], image_size=(64, 10_000)), "image_size[1]: must be in 8..512, got 10000"),
        (lambda: Scene([], view="4d"), "view: unknown value '4d'"),
        (lambda: Scene([], camera={"fov": 0}), "camera.fov: must be >= 1, got 0.0"),
        (lambda: Scene([], camera={"position": [0, 0, -1]}), "camera.position[2]: the camera must be above the ground"),
        (lambda: Scene([], light={"colour": 1}), "light.colour: unknown field"),
        (lambda: Scene.from_json("{not json"), "malformed JSON at line 1 column 2"),
        (lambda: Scene.from_json('{"objects": {}}'), "objects: must be a list, got dict"),
        (lambda: Scene.from_json('{"objects": [1]}'), "objects[0]: an object must be a JSON object, got int"),
        (
            lambda: Scene.from_json('{"objects": [{"shape": "cube", "size": "0.5"}]}'),
            "objects[0].size: unknown size name",
        ),
        (
            lambda: Scene.from_json('{"objects": [{"shape": "cube", "size": true}]}'),
            "objects[0].size: must be a number, got bool",
        ),
        (lambda: Scene.from_json('{"version": 99}'), "version: this is scene format 1; cannot read version 99"),
        (lambda: Scene.from_json('{"objects": [{"color": "red"}]}'), "objects[0].shape: missing"),
        (lambda: Scene.from_json('{"objects": [{"shape": "cube", "spin": 3}]}'), "objects[0].spin: unknown field"),
        (lambda: Scene.from_json("[1, 2]"), "a scene must be a JSON object, got list"),
    ],
)
def test_validation_names_the_field_and_the_problem(build, message):
    with pytest.raises(SceneError) as info:
        build()
    assert message in str(info.value)


# --- property tests -----------------------------------------------------------------------

finite = st.floats(-8.0, 8.0, allow_nan=False)
colors = st.one_of(st.sampled_from(COLOR_NAMES), st.tuples(*[st.integers(0, 255)] * 3))
objects = st.builds(
    Object,
    shape=st.sampled_from(SHAPES),
    color=colors,
    position=st.tuples(finite, finite),
    size=st.one_of(st.sampled_from(["small", "large"]), st.floats(0.01, 3.0)),
    rotation=st.floats(-720, 720, allow_nan=False),
    material=st.sampled_from(MATERIALS),
)
scenes = st.builds(
    Scene,
    objects=st.lists(objects, max_size=MAX_OBJECTS),
    image_size=st.one_of(st.integers(8, 128), st.tuples(st.integers(8, 128), st.integers(8, 128))),
    view=st.sampled_from(["2d", "3d"]),
    camera=st.builds(Camera, fov=st.floats(10, 120), extent=st.floats(0.5, 10)),
)


@settings(max_examples=200, deadline=None)
@given(scenes)
def test_json_round_trip(scene):
    assert Scene.from_json(scene.to_json()) == scene
    assert Scene.from_dict(json.loads(scene.to_json(indent=2))) == scene


@settings(max_examples=200, deadline=None)
@given(scenes)
def test_vector_round_trip_is_canonical(scene):
    vector = scene.to_vector()
    assert vector.shape == (MAX_OBJECTS, SLOT_DIM) and vector.dtype == np.float32
    assert vector[:, SLOT_LAYOUT["present"]].sum() == len(scene.objects)
    back = Scene.from_vector(
        vector, **{k: getattr(scene, k) for k in ("image_size", "view", "camera", "light", "background")}
    )
    assert len(back.objects) == len(scene.objects)
    for a, b in zip(scene.objects, back.objects):
        assert (a.shape, a.color, a.material) == (b.shape, b.color, b.material)
        assert a.position == pytest.approx(b.position, abs=1e-5)
        assert a.size == pytest.approx(b.size, rel=1e-6)
        if a.shape == "cube":  # a cube's rotation is only defined modulo 90 degrees
            assert (a.rotation - b.rotation + 45) % 90 - 45 == pytest.approx(0, abs=1e-3)
    # The canonical form is a fixed point.
    assert np.allclose(back.to_vector(), vector, atol=1e-5)


def test_scenes_are_frozen_and_hashable():
    scene = Scene([Sphere()])
    with pytest.raises(dataclasses.FrozenInstanceError):
        scene.view = "2d"
    assert hash(scene) == hash(Scene([Sphere()]))
