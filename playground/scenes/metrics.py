"""How close a scene model's draws are to its world, measured against the prior we know.

Every measure compares sampled scenes with scenes of the world itself (a large reference draw from the
prior, on a seed no model trained on), never with a hand-written expectation:

    validity        share of draws the prior could have made: count in range, every object inside the
                    world's position range (on its grid, if it has one), minimum gaps between footprints
                    kept, only the world's shapes, colours, sizes and materials, rotation fixed if the
                    world's is (pixel visibility is not asked: the renderer decides that, not the scene)
    count_tv        total-variation distance between the sampled and the true object-count distribution
    attribute_tv    the largest TV over the marginals of shape, colour, size and material (over objects)
    pair_coverage   share of the world's (shape, colour) pairs that appear in the draws
    gap_w1          1-D Wasserstein distance between the sampled and the true nearest-neighbour gaps
                    (the distance between two footprints' edges, world units)
    novelty         share of draws whose codes (bins, see codec.py) are in no training scene

TV(p, q) = 1/2 sum |p_i - q_i| is the most any event's probability can differ between p and q. A finite
reference is itself noisy: `benchmarks/scene_models.py` prints the prior's own row (a fresh draw scored
the same way), the level below which a model's figures are noise.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from scipy.stats import wasserstein_distance

from worlds import Scene, get_world
from worlds.scene import nearest_color_name

ATTRIBUTES = ("shape", "color", "size", "material")
TOLERANCE = 1e-6  # world units: rounding in a decoded position never breaks a rule


def problems(scene: Scene, world) -> list[str]:
    """Every way `scene` breaks the rules of `world`'s prior (empty if it could have been drawn)."""
    w = get_world(world)
    out = []
    lo, hi = w.num_objects
    if not lo <= len(scene.objects) <= hi:
        out.append(f"{len(scene.objects)} objects; the world holds {lo}..{hi}")
    grid = np.linspace(*w.position_range, w.position_grid) if w.position_grid else None
    colors = {nearest_color_name(c) for c in w.colors}
    for i, o in enumerate(scene.objects):
        if o.shape not in w.shapes:
            out.append(f"objects[{i}].shape: {o.shape} is not one of the world's")
        if not isinstance(o.color, str) or o.color not in colors:
            out.append(f"objects[{i}].color: {o.color} is not one of the world's")
        if not any(abs(o.size - s) <= TOLERANCE for s in w.sizes):
            out.append(f"objects[{i}].size: {o.size:g} is not one of the world's")
        if o.material not in w.materials:
            out.append(f"objects[{i}].material: {o.material} is not one of the world's")
        for axis, v in zip("xy", o.position):
            if not w.position_range[0] - TOLERANCE <= v <= w.position_range[1] + TOLERANCE:
                out.append(f"objects[{i}].position.{axis}: {v:.3f} is outside {w.position_range}")
            elif grid is not None and np.abs(grid - v).min() > TOLERANCE:
                out.append(f"objects[{i}].position.{axis}: {v:.3f} is off the world's grid")
        if w.rotation == "fixed" and o.rotation != 0.0:
            out.append(f"objects[{i}].rotation: {o.rotation:.1f}; the world's objects are not rotated")
    for i, j, gap in _pair_gaps(scene):
        if gap < w.min_distance - TOLERANCE:
            out.append(f"objects[{i}] and objects[{j}] are {gap:.3f} apart; the world keeps {w.min_distance:g}")
    return out


def is_valid(scene: Scene, world) -> bool:
    return not problems(scene, world)


def _pair_gaps(scene: Scene):
    objects = scene.objects
    for i in range(len(objects)):
        for j in range(i + 1, len(objects)):
            a, b = objects[i], objects[j]
            yield i, j, math.dist(a.position, b.position) - a.size - b.size


def nearest_gaps(scenes) -> np.ndarray:
    """Each object's gap to its nearest neighbour (footprint edge to edge), over scenes of >= 2 objects."""
    out = []
    for scene in scenes:
        n = len(scene.objects)
        if n < 2:
            continue
        nearest = np.full(n, np.inf)
        for i, j, gap in _pair_gaps(scene):
            nearest[i], nearest[j] = min(nearest[i], gap), min(nearest[j], gap)
        out.extend(nearest.tolist())
    return np.asarray(out)


def total_variation(a: Counter, b: Counter) -> float:
    """TV between two empirical distributions given as counts."""
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return 1.0 if na or nb else 0.0
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def _attribute(obj, name: str):
    return {"shape": obj.shape, "color": obj.color_name, "size": obj.size_name, "material": obj.material}[name]


def attribute_tvs(samples, reference) -> dict[str, float]:
    """TV of each attribute's marginal over all objects of the draws against the reference."""
    return {
        name: total_variation(
            Counter(_attribute(o, name) for s in samples for o in s.objects),
            Counter(_attribute(o, name) for s in reference for o in s.objects),
        )
        for name in ATTRIBUTES
    }


def world_pairs(world) -> set[tuple[str, str]]:
    """The (shape, colour) pairs the world can draw (held-out ones removed in its 'train' split)."""
    w = get_world(world)
    pairs = {(s, nearest_color_name(c)) for s in w.shapes for c in w.colors}
    if w.split == "train":
        pairs = {(s, c) for s, c in pairs if not any(dict(combo) == {"shape": s, "color": c} for combo in w.held_out)}
    return pairs


def pair_coverage(samples, world) -> float:
    pairs = world_pairs(world)
    drawn = {(o.shape, o.color_name) for s in samples for o in s.objects}
    return len(pairs & drawn) / len(pairs)


def scene_metrics(samples, world, reference, training_keys=None, key=None) -> dict:
    """Every measure of the module's docstring for `samples` (a list of Scenes) of `world`. `reference`
    is a large draw of the prior; `training_keys` the set of `key(scene)` of the training scenes
    (novelty is left out without them)."""
    if not samples or not reference:
        raise ValueError("need at least one sampled and one reference scene")
    gaps, true_gaps = nearest_gaps(samples), nearest_gaps(reference)
    out = {
        "validity": float(np.mean([is_valid(s, world) for s in samples])),
        "count_tv": total_variation(
            Counter(len(s.objects) for s in samples), Counter(len(s.objects) for s in reference)
        ),
        "attribute_tv": max(attribute_tvs(samples, reference).values()),
        "pair_coverage": pair_coverage(samples, world),
        "gap_w1": float(wasserstein_distance(gaps, true_gaps)) if len(gaps) and len(true_gaps) else float("nan"),
    }
    if training_keys is not None and key is not None:
        out["novelty"] = float(np.mean([key(s) not in training_keys for s in samples]))
    return out


# --- the prior's own bits on the codes' bins ------------------------------------------------------

AREA_GRID = 200  # points per axis of the grid that measures the free area where an object may stand


def _free_area(placed: list[tuple[float, float, float]], size: float, world, points: np.ndarray) -> float:
    """The area (or, on a grid world, the number of grid points) where an object of `size` may stand
    next to the `placed` (x, y, size) objects: every footprint gap at least the world's minimum."""
    free = np.ones(len(points), bool)
    for x, y, s in placed:
        free &= np.hypot(points[:, 0] - x, points[:, 1] - y) - s - size >= world.min_distance
    if world.position_grid:
        return float(free.sum())
    lo, hi = world.position_range
    return float(free.mean()) * (hi - lo) ** 2


def visible_share(world, n: int = 2000, seed: int = 0) -> float:
    """Z: the share of the sampler's attempts whose every object shows enough pixels (the rest are drawn
    again, so the prior is the attempts' distribution conditioned on visibility, divided by Z)."""
    from worlds import render_layers, sample_scenes

    w = get_world(world)
    if not w.min_visible_pixels:
        return 1.0
    attempts = sample_scenes(w.replace(min_visible_pixels=0), seed, n)
    counts = render_layers(attempts).visible
    return float(
        np.mean(
            [
                c[: len(s.objects)].min(initial=w.min_visible_pixels) >= w.min_visible_pixels
                for s, c in zip(attempts, counts)
            ]
        )
    )


def prior_bits(scenes, codec, z: float | None = None) -> np.ndarray:
    """-log2 P(codes) of each scene under the world's own prior, on `codec`'s bins: the floor the scene
    models' bits per scene stand against (its mean over prior scenes is the prior's entropy on the bins).

    The sampler (worlds/world.py) draws a count uniformly, then each object: attributes uniformly among
    the allowed combinations, a position uniformly over the free area A (where the gaps to the objects
    already placed are kept), a rotation uniformly; and it draws the whole scene again unless every
    object is visible (probability Z). So an ordered draw has density
        q(o_1..o_n) = 1/#counts * prod_k p_attributes * (1/A_k) * p_rotation,
    a set is any of its n! orders, p(set) = sum over orders of q / Z, and the probability of the set's
    bins is that density times the bins' area (w^2 per object; a grid point's probability is 1/A_k
    with A_k counted in points). The sum over orders runs over subsets (A_k depends on which objects
    were placed before, not their order): f(S) = sum_{k in S} f(S - k) w^2 / A(S - k, size_k).
    An estimate: A_k is measured on a 200 x 200 grid, and the density is taken as constant across a bin
    (it is, except in bins cut by a gap's edge)."""
    w = codec.prior
    lo, hi = w.position_range
    if w.position_grid:
        axis = np.linspace(lo, hi, w.position_grid)
        cell = 1.0
    else:
        axis = lo + (hi - lo) * (np.arange(AREA_GRID) + 0.5) / AREA_GRID
        cell = codec.bin_width**2
    points = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    combos = [
        (s, c, size, m)
        for s in w.shapes
        for c in w.colors
        for size in w.sizes
        for m in w.materials
        if not (
            w.split == "train"
            and any(
                all({"shape": s, "color": c, "size": size, "material": m}[k] == v for k, v in combo)
                for combo in w.held_out
            )
        )
    ]
    p_attributes = 1.0 / len(combos)
    counts = w.num_objects[1] - w.num_objects[0] + 1
    z = visible_share(w) if z is None else z
    out = []
    for scene in scenes:
        objects = [(o.position[0], o.position[1], o.size) for o in scene.objects]
        n = len(objects)
        rotation = np.prod([1.0 / codec.vocab["rotation"] if o.shape == "cube" else 1.0 for o in scene.objects])
        f = {0: 1.0}  # f[subset bitmask] = sum over orders of placing the subset
        for mask in range(1, 1 << n):
            members = [k for k in range(n) if mask >> k & 1]
            total = 0.0
            for k in members:
                rest = mask & ~(1 << k)
                placed = [objects[j] for j in members if j != k]
                area = _free_area(placed, objects[k][2], w, points)
                total += f[rest] * cell / area if area > 0 else 0.0
            f[mask] = total
        p = f[(1 << n) - 1] * p_attributes**n * rotation / counts / z
        out.append(-math.log2(p))
    return np.asarray(out)
