"""Worlds: named, configurable priors over scenes, and the exact world we can enumerate.

A `World` is a probability distribution over `Scene`s: how many objects, which shapes,
colours, sizes and materials, where they may stand, how far apart, how much of each must
be visible, and which attribute combinations are held out (CLEVR CoGenT-style).

Sampling is counter-based: scene `i` of world `w` with seed `s` is a pure function of
`(w, s, i)` — its random stream is seeded by `SeedSequence([hash(w), s, i, attempt])` —
so any subset, shard, order or batch size gives the same scenes, byte for byte.

A world with finitely many scenes (one object, grid positions, discrete factors) is
*exact*: `ExactWorld` enumerates every scene, gives the world's entropy in bits and the
exact log-probability of any image under the world. That entropy is the floor every
likelihood model is measured against: the expected negative log-likelihood of a model
q on the world's images is H(p) + KL(p || q) >= H(p).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .scene import (
    CLEVR_COLORS,
    MATERIALS,
    MAX_OBJECTS,
    SHAPES,
    Camera,
    Light,
    Object,
    Scene,
    SceneError,
    _choice,
    parse_color,
    parse_size,
)

ATTRIBUTES = ("shape", "color", "size", "material")
SPLITS = ("all", "train", "test")


class WorldError(ValueError):
    """A world's prior is invalid or cannot be satisfied."""


@dataclass(frozen=True)
class World:
    """A prior over scenes. Every field has a meaning in the sampler below."""

    name: str
    description: str = ""
    view: str = "3d"  # "2d" or "3d"
    image_size: int = 64  # square images of this side
    num_objects: tuple[int, int] = (3, 6)  # inclusive range, uniform
    shapes: tuple[str, ...] = SHAPES
    colors: tuple[str, ...] = CLEVR_COLORS
    sizes: tuple[str | float, ...] = ("small", "large")  # discrete choices ...
    size_range: tuple[float, float] | None = None  # ... or uniform in [lo, hi] when set
    materials: tuple[str, ...] = MATERIALS
    position_range: tuple[float, float] = (-3.0, 3.0)  # x and y uniform in this range ...
    position_grid: int = 0  # ... or on a grid of G x G points when G > 0
    rotation: str = "uniform"  # "uniform" in [0, 360) or "fixed" at 0
    min_distance: float = 0.25  # min gap between footprints (CLEVR's min_dist)
    min_visible_pixels: int = 0  # each object must own this many pixels
    held_out: tuple[tuple[tuple[str, str], ...], ...] = ()  # attribute combinations, e.g. red cylinder
    held_out_fraction: float = 0.0  # ... or this share of whole scenes, chosen by a hash of each (scene_hash)
    split: str = "all"  # "train": none held out; "test": >= 1 held-out object, or a held-out scene
    camera: Camera = field(default_factory=Camera)
    light: Light = field(default_factory=Light)
    background: tuple[int, int, int] = (128, 128, 128)
    max_attempts: int = 200  # scene re-draws before giving up

    def __post_init__(self):
        set_ = object.__setattr__
        try:
            set_(self, "view", _choice("view", self.view, ("2d", "3d")))
            set_(self, "shapes", tuple(_choice("shapes", s, SHAPES) for s in self.shapes))
            set_(self, "colors", tuple(parse_color(c, "colors") for c in self.colors))
            set_(self, "sizes", tuple(parse_size(s, "sizes") for s in self.sizes))
            set_(
                self,
                "materials",
                tuple(_choice("materials", m, MATERIALS, {"rubber": "matte"}) for m in self.materials),
            )
            set_(self, "held_out", tuple(self._parse_combo(c) for c in self.held_out))
            set_(self, "split", _choice("split", self.split, SPLITS))
            set_(self, "rotation", _choice("rotation", self.rotation, ("uniform", "fixed")))
            # Let Scene validate image size, camera, light and background once.
            Scene([], **self.scene_settings())
        except SceneError as err:
            raise WorldError(f"world {self.name!r}: {err}") from None
        lo, hi = self.num_objects
        if not 0 <= lo <= hi <= MAX_OBJECTS:
            raise WorldError(
                f"world {self.name!r}: num_objects must satisfy 0 <= lo <= hi <= {MAX_OBJECTS}, got {self.num_objects}"
            )
        if not (self.shapes and self.colors and self.materials and (self.sizes or self.size_range)):
            raise WorldError(f"world {self.name!r}: shapes, colors, sizes and materials must not be empty")
        if not 0.0 <= self.held_out_fraction < 1.0:
            raise WorldError(f"world {self.name!r}: held_out_fraction must be in [0, 1), got {self.held_out_fraction}")
        if self.held_out and self.held_out_fraction:
            raise WorldError(f"world {self.name!r}: hold out attribute combinations or a fraction of scenes, not both")
        if self.split == "test" and not (self.held_out or self.held_out_fraction):
            raise WorldError(f"world {self.name!r}: split 'test' needs held_out combinations or a held_out_fraction")
        if self.position_range[0] >= self.position_range[1]:
            raise WorldError(f"world {self.name!r}: position_range must be (lo, hi) with lo < hi")
        if not 0 < self.max_attempts <= 10_000:
            raise WorldError(f"world {self.name!r}: max_attempts must be in 1..10000")

    @staticmethod
    def _parse_combo(combo) -> tuple[tuple[str, str], ...]:
        items = combo.items() if isinstance(combo, dict) else combo
        out = []
        for key, value in items:
            if key not in ATTRIBUTES:
                raise SceneError("held_out", f"unknown attribute {key!r}; expected one of {', '.join(ATTRIBUTES)}")
            value = {
                "shape": lambda v: _choice("held_out", v, SHAPES),
                "color": lambda v: parse_color(v, "held_out"),
                "size": lambda v: parse_size(v, "held_out"),
                "material": lambda v: _choice("held_out", v, MATERIALS),
            }[key](value)
            out.append((key, value))
        return tuple(sorted(out))

    # --- derived ------------------------------------------------------------------------

    def scene_settings(self) -> dict:
        """The non-object fields every scene of this world shares."""
        return dict(
            image_size=self.image_size, view=self.view, camera=self.camera, light=self.light, background=self.background
        )

    def to_dict(self) -> dict:
        config = json.loads(json.dumps(dataclasses.asdict(self)))
        if not self.held_out_fraction:  # a later field: left out at its default, so older worlds keep their hashes
            del config["held_out_fraction"]
        return config

    @cached_property
    def config_hash(self) -> str:
        """SHA-256 of the world's canonical JSON; names the exact prior a dataset came from."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @cached_property
    def sampling_key(self) -> int:
        """The part of the config that seeds scenes: everything but the resolution."""
        config = {k: v for k, v in self.to_dict().items() if k not in ("image_size", "min_visible_pixels")}
        return int(hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:15], 16)

    def replace(self, **changes) -> "World":
        """A copy with some fields changed. A new `image_size` rescales `min_visible_pixels`
        by the change in area, so the prior means the same at every resolution."""
        if "image_size" in changes and "min_visible_pixels" not in changes and self.min_visible_pixels:
            ratio = (changes["image_size"] / self.image_size) ** 2
            changes["min_visible_pixels"] = max(1, round(self.min_visible_pixels * ratio))
        return dataclasses.replace(self, **changes)

    def holds_out(self, obj: Object) -> bool:
        """Whether `obj` matches one of the held-out attribute combinations."""
        return any(all(getattr(obj, k) == v for k, v in combo) for combo in self.held_out)

    def holds_out_scene(self, scene: Scene) -> bool:
        """Whether the whole of `scene` is held out: its hash falls below `held_out_fraction`."""
        return self.held_out_fraction > 0 and scene_hash(scene) < self.held_out_fraction


def scene_hash(scene: Scene) -> float:
    """A number in [0, 1) fixed by the scene's objects alone (not the world, seed or resolution), spread
    uniformly by SHA-256: scene-level splits hold out the scenes below a fraction, the same on every machine."""
    key = json.dumps(
        [
            [
                o.shape,
                list(o.color),
                round(o.size, 6),
                o.material,
                [round(v, 6) for v in o.position],
                round(o.rotation, 6),
            ]
            for o in scene.objects
        ]
    )
    return int(hashlib.sha256(key.encode()).hexdigest()[:13], 16) / 16**13


# --- presets ------------------------------------------------------------------------------

_2D_CAMERA = Camera(extent=3.5)
_EXACT = World(
    "exact",
    "One 2D object on a 4x4 grid: 3 shapes x 8 colours x 2 sizes x 16 places = 768 "
    "equally likely scenes at 32 px; its entropy is exactly log2(768) bits.",
    view="2d",
    image_size=32,
    num_objects=(1, 1),
    materials=("matte",),
    position_range=(-1.5, 1.5),
    position_grid=4,
    rotation="fixed",
    min_distance=0.0,
    camera=Camera(extent=2.5),
)
WORLDS: dict[str, World] = {
    w.name: w
    for w in [
        _EXACT,
        _EXACT.replace(
            name="exact-holdout",
            description="The exact world with red cylinders held out: 736 scenes in 'train', the 32 red-cylinder "
            "scenes in 'test'; conditional models are asked for what they never saw.",
            held_out=((("color", "red"), ("shape", "cylinder")),),
            split="train",
        ),
        _EXACT.replace(
            name="exact-split",
            description="The exact world split by scene: a hash of each scene holds out about 20% of the 768 in "
            "'test'; 'train' is the rest. Models trained on 'train' are scored on scenes they never saw.",
            held_out_fraction=0.2,
            split="train",
        ),
        World(
            "shapes2d",
            "Top-down 2D scenes of 1-4 objects; 64 px (or 32).",
            view="2d",
            image_size=64,
            num_objects=(1, 4),
            camera=_2D_CAMERA,
            min_visible_pixels=12,
        ),
        World(
            "shapes2d-holdout",
            "shapes2d with red cylinders held out: never in 'train', in every 'test' scene.",
            view="2d",
            image_size=64,
            num_objects=(1, 4),
            camera=_2D_CAMERA,
            min_visible_pixels=12,
            held_out=((("color", "red"), ("shape", "cylinder")),),
            split="train",
        ),
        World(
            "clevr3d",
            "CLEVR-like 3D scenes of 3-6 objects with CLEVR's camera, palette and sizes; 64 px (or 128).",
            view="3d",
            image_size=64,
            num_objects=(3, 6),
            min_visible_pixels=10,
        ),
        World(
            "clevr3d-cogent",
            "CLEVR CoGenT: 'train' is condition A (cubes gray/blue/brown/yellow, cylinders "
            "red/green/purple/cyan); 'test' scenes hold at least one condition-B object.",
            view="3d",
            image_size=64,
            num_objects=(3, 6),
            min_visible_pixels=10,
            split="train",
            held_out=tuple((("color", c), ("shape", "cube")) for c in ("red", "green", "purple", "cyan"))
            + tuple((("color", c), ("shape", "cylinder")) for c in ("gray", "blue", "brown", "yellow")),
        ),
    ]
}


def get_world(name: str | World) -> World:
    """A preset by name (a World passes through)."""
    if isinstance(name, World):
        return name
    if name not in WORLDS:
        raise WorldError(f"unknown world {name!r}; choose one of {', '.join(WORLDS)}")
    return WORLDS[name]


# --- sampling -----------------------------------------------------------------------------


def _stream(world: World, seed: int, index: int, attempt: int) -> np.random.Generator:
    """The random stream of one attempt at one scene: a pure function of its arguments.

    The key leaves out the image size (and the visibility minimum, which scales with it),
    so scene i at 128 px is scene i at 64 px, unless an object too small to see at one
    size forced a redraw there.
    """
    return np.random.default_rng(np.random.SeedSequence([world.sampling_key, seed, index, attempt]))


def _draw_attributes(world: World, rng: np.random.Generator, must_hold_out: bool) -> dict | None:
    """Shape, colour, size, material (and rotation) of one object, respecting the split."""
    for _ in range(100):
        attrs = dict(
            shape=world.shapes[rng.integers(len(world.shapes))],
            color=world.colors[rng.integers(len(world.colors))],
            size=(
                float(rng.uniform(*world.size_range))
                if world.size_range
                else world.sizes[rng.integers(len(world.sizes))]
            ),
            material=world.materials[rng.integers(len(world.materials))],
        )
        held = any(all(attrs[k] == v for k, v in combo) for combo in world.held_out)
        if (world.split == "train" and held) or (must_hold_out and not held):
            continue
        return attrs
    return None


def _draw_position(world: World, rng: np.random.Generator, size: float, placed: list) -> tuple | None:
    """A position whose footprint keeps `min_distance` from those already placed (CLEVR's rule)."""
    lo, hi = world.position_range
    grid = np.linspace(lo, hi, world.position_grid) if world.position_grid else None
    for _ in range(100):
        if grid is not None:
            x, y = (float(grid[i]) for i in rng.integers(len(grid), size=2))
        else:
            x, y = (float(v) for v in rng.uniform(lo, hi, size=2))
        if all(math.hypot(x - px, y - py) - size - ps >= world.min_distance for px, py, ps in placed):
            return x, y
    return None


def _draw_scene(world: World, seed: int, index: int, attempt: int) -> Scene | None:
    rng = _stream(world, seed, index, attempt)
    lo, hi = world.num_objects
    count = int(rng.integers(lo, hi + 1))
    if world.split == "test" and world.held_out:
        count = max(count, 1)
    objects, placed = [], []
    for k in range(count):
        attrs = _draw_attributes(world, rng, must_hold_out=(world.split == "test" and k == 0 and bool(world.held_out)))
        if attrs is None:
            return None
        position = _draw_position(world, rng, attrs["size"], placed)
        if position is None:
            return None
        rotation = float(rng.uniform(0.0, 360.0)) if world.rotation == "uniform" else 0.0
        placed.append((*position, attrs["size"]))
        objects.append(Object(position=position, rotation=rotation, **attrs))
    scene = Scene(objects, **world.scene_settings())
    if world.held_out_fraction and world.split != "all" and world.holds_out_scene(scene) != (world.split == "test"):
        return None  # on the other side of the scene-level split: the next attempt redraws it
    return scene


def sample_scenes(world: World | str, seed: int, indices) -> list[Scene]:
    """Scenes `indices` (an int n means range(n)) of `world` with `seed`.

    Each scene is the first attempt at its index that satisfies the prior; attempts that
    leave an object with fewer than `min_visible_pixels` pixels are re-drawn, in batches.
    """
    from .render import render_layers

    world = get_world(world)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise WorldError(f"seed must be a non-negative integer, got {seed!r}")
    indices = list(range(indices)) if isinstance(indices, (int, np.integer)) else [int(i) for i in indices]
    if any(i < 0 for i in indices):
        raise WorldError("scene indices must be non-negative")
    scenes: list[Scene | None] = [None] * len(indices)
    pending = list(range(len(indices)))
    for attempt in range(world.max_attempts):
        drawn = [(p, _draw_scene(world, int(seed), indices[p], attempt)) for p in pending]
        pending = [p for p, s in drawn if s is None]
        drawn = [(p, s) for p, s in drawn if s is not None]
        if world.min_visible_pixels and drawn:
            visible = render_layers([s for _, s in drawn]).visible
            for (p, s), counts in zip(drawn, visible):
                if counts[: len(s.objects)].min(initial=world.min_visible_pixels) >= world.min_visible_pixels:
                    scenes[p] = s
                else:
                    pending.append(p)
        else:
            for p, s in drawn:
                scenes[p] = s
        if not pending:
            return scenes
        pending.sort()
    raise WorldError(
        f"world {world.name!r}: scene {indices[pending[0]]} (seed {seed}) did not satisfy the prior "
        f"in {world.max_attempts} attempts (min_distance={world.min_distance}, "
        f"min_visible_pixels={world.min_visible_pixels}, num_objects={world.num_objects}); "
        "relax it: fewer objects, a wider position_range or a smaller minimum"
    )


def sample_scene(world: World | str, seed: int, index: int) -> Scene:
    """Scene `index` of `world` with `seed`; the same as `sample_scenes(world, seed, [index])[0]`."""
    return sample_scenes(world, seed, [index])[0]


# --- the exact world ----------------------------------------------------------------------


class ExactWorld:
    """Every scene of a finite world, and the exact probability of any image under it.

    The sampler draws each factor uniformly and independently (rejecting held-out
    combinations), so the world is uniform over its `N` scenes: H = log2 N bits, and an
    image has probability (number of scenes that render to it) / N.
    """

    def __init__(self, world: World | str = "exact"):
        world = get_world(world)
        problems = [
            why
            for bad, why in [
                (world.num_objects != (1, 1), "it must have exactly one object"),
                (world.position_grid == 0, "positions must lie on a grid (position_grid > 0)"),
                (world.size_range is not None, "sizes must be discrete"),
                (world.rotation != "fixed", "rotation must be 'fixed'"),
                (world.min_visible_pixels > 0, "min_visible_pixels must be 0"),
            ]
            if bad
        ]
        if problems:
            raise WorldError(f"world {world.name!r} is not enumerable: {'; '.join(problems)}")
        self.world = world

    @cached_property
    def scenes(self) -> list[Scene]:
        """All scenes, in a fixed order (shape, colour, size, material, x, y)."""
        w = self.world
        grid = [float(v) for v in np.linspace(*w.position_range, w.position_grid)]
        out = []
        for shape, color, size, material, x, y in itertools.product(
            w.shapes, w.colors, w.sizes, w.materials, grid, grid
        ):
            obj = Object(shape, color, (x, y), size, 0.0, material)
            scene = Scene([obj], **w.scene_settings())
            held = w.holds_out(obj) or w.holds_out_scene(scene)
            if (w.split == "train" and held) or (w.split == "test" and not held):
                continue
            out.append(scene)
        return out

    @cached_property
    def images(self) -> np.ndarray:
        """uint8 (N, H, W, 3): every scene, rendered."""
        from .render import render

        return render(self.scenes)

    @cached_property
    def _counts(self) -> dict[bytes, int]:
        counts: dict[bytes, int] = {}
        for image in self.images:
            key = image.tobytes()
            counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def num_scenes(self) -> int:
        return len(self.scenes)

    @property
    def entropy_bits(self) -> float:
        """Entropy of the world's image distribution in bits (log2 N when images are distinct)."""
        n = self.num_scenes
        return float(-sum(c / n * math.log2(c / n) for c in self._counts.values()))

    def log2_prob(self, images: np.ndarray) -> np.ndarray:
        """Exact log2 p(image) under the world for uint8 images (B, H, W, 3); -inf if impossible."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != self.images.shape[1:]:
            raise WorldError(
                f"images must be uint8 of shape (B, {', '.join(map(str, self.images.shape[1:]))}), "
                f"got {images.dtype} {images.shape}"
            )
        n = self.num_scenes
        return np.array(
            [math.log2(self._counts[im.tobytes()] / n) if im.tobytes() in self._counts else -math.inf for im in images]
        )
