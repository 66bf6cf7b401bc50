"""Scenes as model inputs: integer codes for the discrete families, slot vectors for the continuous ones.

A scene is a *set* of objects. A model over sequences or over fixed slots needs an order, so every
scene is written in one **canonical order**: objects sorted by their position codes (x first, then y),
left to right across the ground. The order is a function of the set alone, so a model that only ever
puts probability on canonically ordered sequences gives the probability of the sequence to the set:
p(set) = p(canonical sequence), with no k! permutations to sum over.

Codes (`SceneCodec.encode`, (N, K, F) int64, K = the world's most objects, F = len(FIELDS)):

    present   1 for an object, 0 for an empty slot (empty slots come last and are all zero)
    size      index into the world's sizes
    x, y      position bins: the world's grid points, or `position_bins` equal bins of its range
    shape, color, material   indices into the world's own lists (world.shapes, ...)
    rotation  a cube's rotation modulo its 90-degree symmetry in `rotation_bins` bins; 0 for a
              cylinder or a sphere (their rotation changes no pixel) and in worlds of fixed rotation

Decoding (`decode`) draws the continuous values uniformly within their bins (a seeded dequantization),
so a decoded scene is a real draw of continuous positions, not a bin centre; on a grid world it is exact.

Vectors (`to_vectors`, (N, K, D) float32): the same slots in the continuous form the VAE, GAN, EBM and
diffusion families model: the present flag, one-hot shape, colour, size and material, x and y scaled to
[-1, 1] over the world's position range, and (cos 4θ, sin 4θ) of a cube's rotation ((0, 0) otherwise).
`from_vectors` reads them back by arg-max and thresholds; a network's soft output decodes too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from worlds import Object, Scene, get_world
from worlds.scene import MATERIAL_ALIASES, POSITION_LIMIT, nearest_color_name

# The fields of a slot, in the order the autoregressive model chooses them (size before position, so
# that where an object may stand can depend on how large it is).
FIELDS = ("present", "size", "x", "y", "shape", "color", "material", "rotation")
F = {name: i for i, name in enumerate(FIELDS)}
CUBE_SYMMETRY = 90.0  # a cube looks the same every 90 degrees
REDRAWS = 20  # draws of a position within its bins before an invalid placement is kept


@dataclass(frozen=True)
class SceneCodec:
    """The code and vector forms of one world's scenes. Everything is derived from the world's prior."""

    world: str
    position_bins: int = 64  # bins per axis on a world without a position grid (6 units / 64 = 0.094)
    rotation_bins: int = 16  # bins of a cube's rotation in [0, 90) degrees (5.6 degrees each)

    def __post_init__(self):
        get_world(self.world)  # a clear error for an unknown world
        if not 2 <= self.position_bins <= 1024:
            raise ValueError(f"position_bins must be in 2..1024, got {self.position_bins}")
        if not 1 <= self.rotation_bins <= 360:
            raise ValueError(f"rotation_bins must be in 1..360, got {self.rotation_bins}")

    # --- the world's table, as the codes see it

    @cached_property
    def prior(self):
        return get_world(self.world)

    @property
    def slots(self) -> int:
        return self.prior.num_objects[1]

    @cached_property
    def positions(self) -> np.ndarray:
        """The bin centres of one axis: the grid points, or the centres of equal bins of the range."""
        lo, hi = self.prior.position_range
        if self.prior.position_grid:
            return np.linspace(lo, hi, self.prior.position_grid)
        width = (hi - lo) / self.position_bins
        return lo + width * (np.arange(self.position_bins) + 0.5)

    @property
    def bin_width(self) -> float:
        """The width of a position bin (0 on a grid: a grid point is exact)."""
        lo, hi = self.prior.position_range
        return 0.0 if self.prior.position_grid else (hi - lo) / self.position_bins

    @cached_property
    def vocab(self) -> dict[str, int]:
        """How many values each field takes."""
        w = self.prior
        return {
            "present": 2,
            "x": len(self.positions),
            "y": len(self.positions),
            "shape": len(w.shapes),
            "color": len(w.colors),
            "size": len(w.sizes),
            "material": len(w.materials),
            "rotation": 1 if w.rotation == "fixed" else self.rotation_bins,
        }

    @cached_property
    def vector_layout(self) -> dict[str, slice]:
        """Where each factor lives in a slot vector."""
        widths = [("present", 1), *((k, self.vocab[k]) for k in ("shape", "color", "size", "material"))]
        widths += [("position", 2), ("rotation", 2)]
        out, start = {}, 0
        for name, width in widths:
            out[name] = slice(start, start + width)
            start += width
        return out

    @property
    def vector_dim(self) -> int:
        return self.vector_layout["rotation"].stop

    # --- scene -> codes

    def object_codes(self, obj: Object) -> list[int]:
        """One object's codes (present first). Values outside the world (a misread colour, say) take
        the world's nearest value, so scenes read from pictures always encode."""
        w = self.prior
        x, y = (int(np.argmin(np.abs(self.positions - v))) for v in obj.position)
        colors = [nearest_color_name(c) for c in w.colors]
        color = nearest_color_name(obj.color)
        material = MATERIAL_ALIASES.get(obj.material, obj.material)
        rotation = 0
        if self.vocab["rotation"] > 1 and obj.shape == "cube":
            rotation = int(obj.rotation % CUBE_SYMMETRY / CUBE_SYMMETRY * self.rotation_bins) % self.rotation_bins
        return [
            1,
            int(np.argmin([abs(s - obj.size) for s in w.sizes])),
            x,
            y,
            w.shapes.index(obj.shape) if obj.shape in w.shapes else 0,
            colors.index(color) if color in colors else 0,
            w.materials.index(material) if material in w.materials else 0,
            rotation,
        ]

    def order(self, scene: Scene, first=()) -> list[int]:
        """The indices of `scene`'s objects in canonical order (by x code, then y code, then the rest);
        the objects listed in `first` (a prompt's objects, for the conditional models) lead, as given."""
        if len(scene.objects) > self.slots:
            raise ValueError(f"a scene of {len(scene.objects)} objects does not fit {self.world}'s {self.slots} slots")
        rows = [self.object_codes(o) for o in scene.objects]
        key = [F["x"], F["y"], *(F[f] for f in FIELDS if f not in ("x", "y"))]
        rest = (k for k in range(len(rows)) if k not in first)
        return list(first) + sorted(rest, key=lambda k: [rows[k][i] for i in key])

    def encode(self, scenes, first: list | None = None) -> torch.Tensor:
        """(N, K, F) int64 codes in `order`; `first[n]` (optional) are scene n's leading objects."""
        out = np.zeros((len(scenes), self.slots, len(FIELDS)), np.int64)
        for n, scene in enumerate(scenes):
            for slot, k in enumerate(self.order(scene, first[n] if first is not None else ())):
                out[n, slot] = self.object_codes(scene.objects[k])
        return torch.from_numpy(out)

    # --- codes -> scenes

    def decode(self, codes, seed: int = 0, settings: dict | None = None) -> list[Scene]:
        """Scenes from codes (N, K, F); slots after the first absent one are ignored.

        Dequantization: the positions of a scene are drawn uniformly within their bins, and drawn again
        (up to `REDRAWS` times) while two objects stand closer than the world's minimum gap: a draw from
        the uniform distribution over the part of the bins the world allows. So the codes of a valid
        scene decode to a valid scene (a single draw would not: two objects whose bin centres keep the
        gap may not keep it a few hundredths of a unit away), and codes that admit no valid placement
        stay invalid, the model's mistake. A cube's rotation is drawn uniformly within its bin."""
        codes = np.asarray(codes)
        rng = np.random.default_rng(seed)
        w, half = self.prior, self.bin_width / 2
        settings = settings if settings is not None else w.scene_settings()
        scenes = []
        for scene_codes in codes:
            present = np.cumprod(scene_codes[:, F["present"]] == 1).astype(bool)
            c = scene_codes[present]
            sizes = np.asarray(w.sizes)[c[:, F["size"]]]
            centres = self.positions[c[:, [F["x"], F["y"]]]]  # (n, 2)
            apart = sizes[:, None] + sizes[None] + w.min_distance - 1e-9
            np.fill_diagonal(apart, -1.0)
            for _ in range(REDRAWS if half and len(c) > 1 else 1):
                positions = centres + rng.uniform(-half, half, centres.shape) if half else centres
                if (np.linalg.norm(positions[:, None] - positions[None], axis=-1) >= apart).all():
                    break
            objects = []
            for k, row in enumerate(c):
                shape = w.shapes[row[F["shape"]]]
                rotation = 0.0
                if shape == "cube" and self.vocab["rotation"] > 1:
                    rotation = (row[F["rotation"]] + rng.uniform()) * CUBE_SYMMETRY / self.rotation_bins
                objects.append(
                    Object(
                        shape=shape,
                        color=w.colors[row[F["color"]]],
                        position=(float(positions[k, 0]), float(positions[k, 1])),
                        size=float(sizes[k]),
                        rotation=rotation,
                        material=w.materials[row[F["material"]]],
                    )
                )
            scenes.append(Scene(objects, **settings))
        return scenes

    # --- the continuous slot vectors

    def to_vectors(self, scenes, first: list | None = None) -> torch.Tensor:
        """(N, K, D) float32 slot vectors in the order of `encode` (same `first`)."""
        codes = self.encode(scenes, first).numpy()
        out = np.zeros((*codes.shape[:2], self.vector_dim), np.float32)
        lay = self.vector_layout
        lo, hi = self.prior.position_range
        for n, scene in enumerate(scenes):
            for slot, k in enumerate(self.order(scene, first[n] if first is not None else ())):
                obj, c, v = scene.objects[k], codes[n, slot], out[n, slot]
                v[lay["present"]] = 1.0
                for name in ("shape", "color", "size", "material"):
                    v[lay[name].start + c[F[name]]] = 1.0
                v[lay["position"]] = [(2 * p - lo - hi) / (hi - lo) for p in obj.position]
                if obj.shape == "cube" and self.vocab["rotation"] > 1:
                    theta = math.radians(obj.rotation) * 4
                    v[lay["rotation"]] = (math.cos(theta), math.sin(theta))
        return torch.from_numpy(out)

    def from_vectors(self, vectors, settings: dict | None = None) -> list[Scene]:
        """Scenes from slot vectors (N, K, D): a slot holds an object when its present value is above 1/2;
        its discrete factors are the arg-max of their parts. Positions are kept as they are (only clipped
        to the scene language's limit of +-8 so that any output decodes): a position outside the world's
        range is the model's and counts against its validity."""
        vectors = np.asarray(vectors, np.float32)
        w, lay = self.prior, self.vector_layout
        lo, hi = w.position_range
        settings = settings if settings is not None else w.scene_settings()
        scenes = []
        for slots in vectors:
            objects = []
            for v in slots:
                if v[lay["present"]][0] <= 0.5:
                    continue
                shape = w.shapes[int(np.argmax(v[lay["shape"]]))]
                position = np.clip(lo + (v[lay["position"]] + 1) * (hi - lo) / 2, -POSITION_LIMIT, POSITION_LIMIT)
                rotation = 0.0
                if shape == "cube" and self.vocab["rotation"] > 1:
                    c, s = (float(t) for t in v[lay["rotation"]])
                    rotation = math.degrees(math.atan2(s, c)) / 4 % CUBE_SYMMETRY
                objects.append(
                    Object(
                        shape=shape,
                        color=w.colors[int(np.argmax(v[lay["color"]]))],
                        position=(float(position[0]), float(position[1])),
                        size=w.sizes[int(np.argmax(v[lay["size"]]))],
                        rotation=rotation,
                        material=w.materials[int(np.argmax(v[lay["material"]]))],
                    )
                )
            scenes.append(Scene(objects, **settings))
        return scenes
