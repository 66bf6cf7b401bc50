"""The 2D renderer: exact colours, anti-aliasing, draw order, masks, boxes, counts, purity."""

import numpy as np
import pytest

from worlds import PALETTE, Cube, Cylinder, Scene, Sphere, render, render_layers, sample_scenes
from worlds.scene import Camera

TOP = dict(view="2d", image_size=64, camera=Camera(extent=4.0), background=(128, 128, 128))
PX = 64 / 8.0  # pixels per world unit in TOP


def pixel(x, y):
    """The (row, col) of the pixel holding ground point (x, y) in TOP."""
    return int(32 - y * PX), int(32 + x * PX)


def test_flat_tops_show_their_palette_colour_and_ground_its_background():
    scene = Scene([Cube(color="blue", position=(-2, 0)), Cylinder(color="yellow", position=(2, 0))], **TOP)
    image = render([scene])[0]
    assert tuple(image[pixel(-2, 0)]) == PALETTE["blue"]
    assert tuple(image[pixel(2, 0)]) == PALETTE["yellow"]
    assert tuple(image[0, 0]) == (128, 128, 128)


def test_sphere_is_shaded_and_metal_has_a_highlight():
    matte = render([Scene([Sphere(color="red", size=2.0)], **TOP)])[0].astype(int)
    metal = render([Scene([Sphere(color="red", size=2.0, material="metal")], **TOP)])[0].astype(int)
    disc = matte[16:48, 16:48].reshape(-1, 3)
    assert disc[:, 0].max() - disc[:, 0].min() > 40  # not a flat cut-out
    assert metal.sum(axis=2).max() > matte.sum(axis=2).max() + 100  # a bright specular spot


def test_edges_are_anti_aliased():
    image = render([Scene([Cylinder(color="white", size=2.2)], **TOP)])[0].astype(int)
    red = image[..., 0]
    between = (red > 128) & (red < PALETTE["white"][0])
    assert between.sum() > 20  # a ring of partially covered pixels
    rows, cols = np.nonzero(between)
    radius = np.hypot(rows + 0.5 - 32, cols + 0.5 - 32)
    assert np.all(np.abs(radius - 2.2 * PX) < 1.0)  # ... exactly on the rim


def test_taller_objects_are_drawn_on_top():
    # A flat-ish big cube (height sqrt2*1.5) and a tall narrow... sphere of the same footprint is taller.
    low = Cube(color="red", size=1.5)  # height 2.12
    high = Sphere(color="blue", size=1.2)  # height 2.4, drawn last whatever the list order
    for objects in ([low, high], [high, low]):
        layers = render_layers([Scene(objects, **TOP)])
        blue = objects.index(high)
        assert layers.masks[0, 32, 32] == blue
        assert layers.images[0, 32, 32, 2] > layers.images[0, 32, 32, 0]


def test_masks_boxes_and_counts_agree():
    scene = Scene([Cube(color="red", position=(-2, 2), size=1.0), Cylinder(color="green", position=(2, -2))], **TOP)
    layers = render_layers([scene])
    masks, boxes, visible = layers.masks[0], layers.boxes[0], layers.visible[0]
    for k in range(2):
        rows, cols = np.nonzero(masks == k)
        assert visible[k] == rows.size > 0
        assert tuple(boxes[k]) == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    assert (visible[2:] == 0).all() and (boxes[2:] == -1).all()
    # A cylinder of radius r covers about pi r^2 pixels.
    assert visible[1] == pytest.approx(np.pi * (0.7 * PX) ** 2, rel=0.05)
    assert np.isnan(layers.depth).all()  # 2D has no depth


def test_rendering_is_pure_and_batch_invariant():
    scenes = sample_scenes("shapes2d", 0, 40)
    batch = render(scenes)
    assert batch.shape == (40, 64, 64, 3) and batch.dtype == np.uint8
    assert render(scenes).tobytes() == batch.tobytes()
    alone = np.stack([render([s])[0] for s in scenes[:10]])
    assert alone.tobytes() == batch[:10].tobytes()
    assert render(scenes[::-1])[::-1].tobytes() == batch.tobytes()


def test_objects_outside_the_view_are_clipped_not_crashing():
    image = render([Scene([Sphere(position=(7.9, -7.9), size=3.0)], **TOP)])[0]
    assert image.shape == (64, 64, 3)


@pytest.mark.parametrize(
    "scenes, error, message",
    [
        ([], ValueError, "at least one scene"),
        (Scene([]), TypeError, "wrap a single scene"),
        ([Scene([], image_size=32), Scene([], image_size=64)], ValueError, "share one image_size"),
        (["scene"], TypeError, r"scenes\[0\] is a str"),
    ],
)
def test_bad_batches_are_refused(scenes, error, message):
    with pytest.raises(error, match=message):
        render(scenes)
