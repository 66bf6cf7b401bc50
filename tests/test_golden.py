"""Golden renders: fixed scenes must keep rendering to the same bytes, on every machine.

The PNGs in tests/golden/ were rendered once by this project. If a deliberate change to a
renderer alters them, look at the new images and rewrite them with
`UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from worlds import Cube, Cylinder, Scene, Sphere, render, render_layers

GOLDEN = Path(__file__).parent / "golden"

OBJECTS = [
    Cube(color="red", position=(-1.5, -0.5), size="large", rotation=30),
    Cylinder(color="cyan", position=(1.2, 0.4), size="small", material="metal"),
    Sphere(color="yellow", position=(0.2, 1.6), size=0.6, material="metal"),
    Sphere(color=(10, 200, 90), position=(-0.6, 1.8), size="small"),
    Cube(color="purple", position=(1.9, -1.7), size=0.5, rotation=77, material="metal"),
]
CASES = {
    "2d_64": Scene(OBJECTS, view="2d", image_size=64),
    "2d_48x80": Scene(OBJECTS[:3], view="2d", image_size=(48, 80), background="white"),
    "3d_64": Scene(OBJECTS, view="3d", image_size=64),
    "3d_128": Scene(OBJECTS, view="3d", image_size=128),
    "3d_empty_96x64": Scene([], view="3d", image_size=(96, 64)),
}


@pytest.mark.parametrize("name", CASES)
def test_render_matches_golden(name):
    image = render([CASES[name]])[0]
    path = GOLDEN / f"{name}.png"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        Image.fromarray(image).save(path)
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == expected.shape
    diff = np.abs(image.astype(int) - expected.astype(int))
    assert diff.max() == 0, f"{name}: {np.count_nonzero(diff.max(axis=-1))} pixels differ (max {diff.max()})"


def test_mixed_views_in_one_batch_equal_separate_renders():
    scenes = [CASES["2d_64"], CASES["3d_64"], CASES["2d_64"]]
    together = render_layers(scenes)
    for k, scene in enumerate(scenes):
        alone = render_layers([scene])
        assert together.images[k].tobytes() == alone.images[0].tobytes()
        assert (together.masks[k] == alone.masks[0]).all()
        assert (together.visible[k] == alone.visible[0]).all()
