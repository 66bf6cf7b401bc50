"""Captions and relation facts follow the viewer's left/right and front/behind."""

from worlds import Cube, Cylinder, Scene, Sphere, caption, captions, relations, sample_scenes


def test_two_objects_read_left_to_right():
    scene = Scene(
        [Cylinder(color="blue", position=(1, 0), size="small"), Cube(color="red", position=(-1, 0))], view="2d"
    )
    assert caption(scene) == "a large red cube to the left of a small blue cylinder"
    facts = relations(scene)
    assert {"subject": 1, "relation": "left", "object": 0} in facts
    assert {"subject": 0, "relation": "right", "object": 1} in facts
    assert not any(f["relation"] in ("front", "behind") for f in facts)  # same depth


def test_2d_behind_is_up_and_3d_follows_the_camera():
    top = Scene([Sphere(position=(0, 2)), Cube(position=(0, -2))], view="2d")
    assert {"subject": 0, "relation": "behind", "object": 1} in relations(top)
    # The default 3D camera stands at (+x, -y) looking at the origin: (-2, 2) is far away
    # from it, (2, -2) near; (2, 2) is to its right.
    far, near, right = Sphere(position=(-2, 2)), Cube(position=(2, -2)), Cube(position=(2, 2))
    facts = relations(Scene([far, near, right]))
    assert {"subject": 0, "relation": "behind", "object": 1} in facts
    assert {"subject": 2, "relation": "right", "object": 0} in facts


def test_metal_is_named_matte_is_not_and_counts_are_listed():
    scene = Scene(
        [
            Sphere(color="cyan", material="metal", position=(-2, 0), size="small"),
            Cube(color="gray", position=(0, 0)),
            Cylinder(color="yellow", position=(2, 0)),
        ],
        view="2d",
    )
    assert caption(scene) == (
        "from left to right: a small cyan metal sphere, a large gray cube and a large yellow cylinder"
    )
    assert caption(Scene([])) == "an empty scene"


def test_captions_are_deterministic_and_unique():
    for scene in sample_scenes("shapes2d", 0, 30):
        out = captions(scene)
        assert out == captions(scene) and len(out) == len(set(out))
        assert out[0] == caption(scene)
        n = len(scene.objects)
        assert len(relations(scene)) <= 2 * n * (n - 1)
