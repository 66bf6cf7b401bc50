"""Deterministic English captions and spatial relation facts of a scene.

Relations are read as the viewer sees the image, as in CLEVR: in the 3D view "left" and
"right" follow the camera's right vector projected onto the ground, "behind" points away
from the camera; in the 2D view "right" is +x and "behind" is +y (up in the image).
Object i is left of object j when (p_i - p_j) . right < -margin. These captions are the
text conditions of the conditional generative models.
"""

from __future__ import annotations

import math

from .scene import Object, Scene

RELATIONS = ("left", "right", "front", "behind")
_PHRASES = {"left": "to the left of", "right": "to the right of", "front": "in front of", "behind": "behind"}


def ground_axes(scene: Scene) -> tuple[tuple[float, float], tuple[float, float]]:
    """Unit vectors on the ground pointing to the viewer's right and away from the viewer."""
    if scene.view == "2d":
        return (1.0, 0.0), (0.0, 1.0)
    (cx, cy, _), (tx, ty, _) = scene.camera.position, scene.camera.look_at
    fx, fy = tx - cx, ty - cy
    n = math.hypot(fx, fy)
    fx, fy = fx / n, fy / n
    # right = forward x up, with up = +z: (fx, fy, 0) x (0, 0, 1) = (fy, -fx, 0)
    return (fy, -fx), (fx, fy)


def describe(obj: Object) -> str:
    """'large red metal cube'; a matte object's material goes unsaid."""
    material = " metal" if obj.material == "metal" else ""
    return f"{obj.size_name} {obj.color_name}{material} {obj.shape}"


def relations(scene: Scene, margin: float = 0.0) -> list[dict]:
    """Every relation fact between ordered pairs of objects, as dicts
    {"subject": i, "relation": "left" | "right" | "front" | "behind", "object": j}."""
    right, behind = ground_axes(scene)
    facts = []
    for i, a in enumerate(scene.objects):
        for j, b in enumerate(scene.objects):
            if i == j:
                continue
            dx, dy = a.position[0] - b.position[0], a.position[1] - b.position[1]
            across = dx * right[0] + dy * right[1]
            depth = dx * behind[0] + dy * behind[1]
            if across < -margin:
                facts.append({"subject": i, "relation": "left", "object": j})
            if across > margin:
                facts.append({"subject": i, "relation": "right", "object": j})
            if depth < -margin:
                facts.append({"subject": i, "relation": "front", "object": j})
            if depth > margin:
                facts.append({"subject": i, "relation": "behind", "object": j})
    return facts


def _left_to_right(scene: Scene) -> list[int]:
    right, _ = ground_axes(scene)
    return sorted(
        range(len(scene.objects)),
        key=lambda k: (scene.objects[k].position[0] * right[0] + scene.objects[k].position[1] * right[1], k),
    )


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def caption(scene: Scene) -> str:
    """The scene's main caption: its objects from left to right.

    'an empty scene', 'a large red cube', 'a large red cube to the left of a small blue
    cylinder', or for three or more: 'from left to right: a ..., a ... and a ...'.
    """
    order = _left_to_right(scene)
    names = [f"a {describe(scene.objects[k])}" for k in order]
    if not names:
        return "an empty scene"
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} to the left of {names[1]}"
    return "from left to right: " + _and_list(names)


def captions(scene: Scene) -> list[str]:
    """The main caption, then one sentence per relation fact between objects i < j
    ('a large red cube to the left of a small blue cylinder', '... behind ...')."""
    out = [caption(scene)]
    for fact in relations(scene):
        i, j = fact["subject"], fact["object"]
        if i < j:
            a, b = describe(scene.objects[i]), describe(scene.objects[j])
            sentence = f"a {a} {_PHRASES[fact['relation']]} a {b}"
            if sentence not in out:
                out.append(sentence)
    return out
