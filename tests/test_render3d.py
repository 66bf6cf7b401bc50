"""The 3D renderer: determinism, layers (mask, depth), visibility, shadows, anti-aliasing."""

import math

import numpy as np
import pytest

from worlds.render3d import render_3d
from worlds.scene import CLEVR_COLORS, MATERIALS, SHAPES, Camera, Cube, Cylinder, Object, Scene, Sphere


def random_scenes(n: int, size: int = 64, seed: int = 0) -> list[Scene]:
    """CLEVR-like scenes: 3-6 non-overlapping objects in [-3, 3]^2."""
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(n):
        objects = []
        while len(objects) < rng.integers(3, 7):
            s = float(rng.choice([0.35, 0.7]))
            x, y = (float(v) for v in rng.uniform(-3, 3, 2))
            if all(math.hypot(x - o.position[0], y - o.position[1]) > s + o.size + 0.1 for o in objects):
                objects.append(
                    Object(
                        str(rng.choice(SHAPES)),
                        color=str(rng.choice(CLEVR_COLORS)),
                        position=(x, y),
                        size=s,
                        rotation=float(rng.uniform(0, 360)),
                        material=str(rng.choice(MATERIALS)),
                    )
                )
        scenes.append(Scene(objects, image_size=(size, size)))
    return scenes


def project(scene: Scene, point) -> tuple[int, int]:
    """(row, col) of the pixel that sees a world point: an independent pinhole projection."""
    H, W = scene.image_size
    eye, target = np.array(scene.camera.position), np.array(scene.camera.look_at)
    f = (target - eye) / np.linalg.norm(target - eye)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    v = np.asarray(point, float) - eye
    tx = math.tan(math.radians(scene.camera.fov) / 2)
    x, y = (v @ r) / (v @ f) / tx, (v @ u) / (v @ f) / (tx * H / W)
    return int((1 - y) * H / 2), int((1 + x) * W / 2)


def test_same_scenes_same_bytes_and_layout():
    scenes = random_scenes(6, size=48)
    first, second = render_3d(scenes), render_3d(scenes)
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()
    images, masks, depth = first
    assert images.shape == (6, 48, 48, 3) and images.dtype == np.uint8
    assert masks.shape == (6, 48, 48) and masks.dtype == np.int16
    assert depth.shape == (6, 48, 48) and depth.dtype == np.float32
    assert masks.min() >= -1 and all(masks[b].max() < len(s.objects) for b, s in enumerate(scenes))


def test_batch_invariance():
    scenes = random_scenes(5, seed=3)
    alone = render_3d([scenes[2]])
    batched = render_3d(scenes)
    for a, b in zip(alone, batched):
        assert a[0].tobytes() == b[2].tobytes()


def test_mixed_image_sizes_are_refused():
    with pytest.raises(ValueError, match="image_size"):
        render_3d([Scene(image_size=32), Scene(image_size=64)])


def test_empty_scene_is_ground_and_sky():
    images, masks, depth = render_3d([Scene([])])
    assert (masks == -1).all()
    assert np.isfinite(depth).all() and (depth > 0).all()  # the default camera sees only ground
    assert (images[..., 0] == images[..., 1]).all()  # a grey ground stays grey
    # Looking at the horizon: sky (depth +inf) above, ground below, depth growing towards it.
    level = Scene([], image_size=32, camera=Camera(position=(0.0, -10.0, 1.0), look_at=(0.0, 0.0, 1.0)))
    _, masks, depth = render_3d([level])
    assert (masks == -1).all()
    assert np.isinf(depth[0, :15]).all() and np.isfinite(depth[0, 17:]).all()
    assert (np.diff(depth[0, 17:, 16]) < 0).all()


def test_red_sphere_in_the_centre():
    scene = Scene([Sphere(color="red", size=0.7)], image_size=64)
    images, masks, depth = render_3d([scene])
    row, col = project(scene, (0.0, 0.0, 0.7))  # the sphere's centre
    assert (masks[0, row - 2 : row + 3, col - 2 : col + 3] == 0).all()
    assert abs(row - 32) < 8 and abs(col - 32) < 8
    r, g, b = images[0][masks[0] == 0].astype(float).mean(axis=0)
    assert r > g + 40 and r > b + 40
    # The ground behind the sphere is farther than the sphere.
    _, _, ground_depth = render_3d([Scene([], image_size=64)])
    assert (depth[0][masks[0] == 0] < ground_depth[0][masks[0] == 0]).all()


def test_front_object_hides_the_one_behind():
    eye = np.array(Camera().position[:2])
    behind = tuple(float(v) for v in -eye / np.linalg.norm(eye) * 1.2)  # 1.2 behind the origin
    back = Sphere(color="yellow", size=0.35, position=behind)
    _, alone, _ = render_3d([Scene([back], image_size=64)])
    _, masks, _ = render_3d([Scene([Cylinder(color="blue", size=0.7), back], image_size=64)])
    assert (alone[0] == 0).sum() > 10
    assert (masks[0][alone[0] == 0] == 0).all() and not (masks[0] == 1).any()


def test_shadow_falls_away_from_the_lamp():
    # The lamp is at (-4, -3, 9): a tall cylinder at the origin shades the ground towards (+4, +3).
    scene = Scene([Cylinder(color="gray", size=0.7)], image_size=64)
    images, masks, _ = render_3d([scene])
    ground, _, _ = render_3d([Scene([], image_size=64)])
    shade, lit = project(scene, (0.96, 0.72, 0.0)), project(scene, (-0.96, -0.72, 0.0))
    assert masks[0][shade] == -1 and masks[0][lit] == -1
    assert images[0][shade].mean() < 0.75 * ground[0][shade].mean()
    assert (images[0][lit] == ground[0][lit]).all()


def test_shadow_falls_on_other_objects():
    # A small white cube in the tall cylinder's shadow is darker than the same cube alone.
    small = Cube(color="white", size=0.35, position=(1.0, 0.75))
    shaded, masks, _ = render_3d([Scene([Cylinder(size=0.7), small])])
    alone, masks_alone, _ = render_3d([Scene([small])])
    seen = (masks[0] == 1) & (masks_alone[0] == 0)
    assert seen.sum() > 8
    assert shaded[0][seen].mean() < 0.8 * alone[0][seen].mean()


def test_cube_stands_on_the_ground_and_turns():
    # A cube's footprint is centred where it stands; turning it by 90 degrees changes nothing.
    scene = Scene([Cube(color="green", size=0.7, rotation=10.0)], image_size=64)
    turned = Scene([Cube(color="green", size=0.7, rotation=100.0)], image_size=64)
    (_, masks, _), (_, masks_turned, _) = render_3d([scene]), render_3d([turned])
    assert masks[0][project(scene, (0.0, 0.0, 0.5))] == 0
    assert (masks == masks_turned).mean() > 0.99


def test_edges_are_anti_aliased():
    scene = Scene([Sphere(color="blue", size=0.7)], image_size=64)
    images, masks, _ = render_3d([scene])
    image, mask = images[0].astype(float), masks[0]
    blueness = image[..., 2] - (image[..., 0] + image[..., 1]) / 2  # (H, W)
    inside = np.median(blueness[mask == 0])
    padded = np.pad(mask, 1, mode="edge")
    edge = np.zeros_like(mask, bool)
    for di in (0, 1, 2):
        for dj in (0, 1, 2):
            edge |= padded[di : di + 64, dj : dj + 64] != mask
    between = edge & (blueness > 0.15 * inside) & (blueness < 0.85 * inside)
    assert between.sum() >= 6


def test_pixel_ray_goes_through_the_look_at_point_at_the_image_centre_and_finds_an_object():
    import numpy as np

    from worlds import Scene, Sphere, render_layers
    from worlds.render3d import pixel_ray

    scene = Scene([Sphere(color="red", position=(1.0, -0.5), size=0.7)], image_size=64, view="3d")
    eye, ray = pixel_ray(scene, 32, 32)
    towards = np.asarray(scene.camera.look_at) - eye
    assert np.linalg.norm(np.cross(ray, towards)) < 1e-9 * np.linalg.norm(ray) * np.linalg.norm(towards)
    mask = render_layers([scene]).masks[0] == 0  # pixels where object 0 is seen
    rows, cols = np.nonzero(mask)
    eye, ray = pixel_ray(scene, rows.mean() + 0.5, cols.mean() + 0.5)
    centre = eye + (0.7 - eye[2]) / ray[2] * ray  # where it meets the sphere's centre plane
    assert np.hypot(centre[0] - 1.0, centre[1] + 0.5) < 0.15
