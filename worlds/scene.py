"""The scene language: one frozen description of a world, the single source of truth.

Everything else in the project — renderers, samplers, captions, datasets, the inverse-
graphics encoder — reads its facts from here: the table of factors (shapes, palette,
sizes, materials, ranges), the `Object` and `Scene` dataclasses, and the conversions
scene <-> JSON <-> fixed-length vector.

Axis convention (right-handed, world units):
    x  points to the right of the default view,
    y  points away from the default 3D camera ("behind"), which is "up" in the 2D view,
    z  points up, out of the ground plane z = 0 on which every object stands.
Angles are in degrees; an object's `rotation` turns it counter-clockwise about +z, as
seen from above.

Sizes follow CLEVR (facebookresearch/clevr-dataset-gen): `size` is the radius of the
circle that holds the object's footprint on the ground. A sphere has radius `size`, a
cylinder radius `size` and height `2 * size`, and a cube half-side `size / sqrt(2)`, so
that its corners, like the cylinder's rim, lie `size` from its centre.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCENE_FORMAT_VERSION = 1

# --- the table of factors ---------------------------------------------------------------

SHAPES = ("cube", "cylinder", "sphere")
MATERIALS = ("matte", "metal")
# CLEVR calls its matte material "rubber"; we accept the name so CLEVR scenes parse.
MATERIAL_ALIASES = {"rubber": "matte"}
VIEWS = ("2d", "3d")

# CLEVR's eight colours with CLEVR's RGB values first, then a few extras.
PALETTE: dict[str, tuple[int, int, int]] = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
    "orange": (240, 130, 20),
    "pink": (240, 120, 190),
    "white": (235, 235, 235),
    "black": (25, 25, 25),
}
CLEVR_COLORS = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")
COLOR_NAMES = tuple(PALETTE)
_RGB_TO_NAME = {rgb: name for name, rgb in PALETTE.items()}

# Named sizes, CLEVR's values (bounding radius in world units).
SIZES: dict[str, float] = {"small": 0.35, "large": 0.7}

MAX_OBJECTS = 10  # CLEVR's maximum; also the number of slots in the vector form
POSITION_LIMIT = 8.0  # |x|, |y| of an object must not exceed this
MAX_SIZE = 3.0  # bounding radius
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 8, 512


class SceneError(ValueError):
    """A scene description is invalid. `str(err)` reads `path: problem`."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}" if path else problem)

    def within(self, prefix: str) -> "SceneError":
        """The same error, seen from an enclosing field (`size` -> `objects[2].size`)."""
        path = f"{prefix}.{self.path}" if self.path and not self.path.startswith("[") else f"{prefix}{self.path}"
        return SceneError(path, self.problem)


# --- validation helpers: each names the field and the problem ----------------------------


def brief(value, limit: int = 40) -> str:
    """repr(value) for an error message, cut to `limit` characters: a message never echoes a pasted essay."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(path: str, value: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float:
    if type(value) is not float:  # the common case skips the slower checks
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise SceneError(path, f"must be a number, got {type(value).__name__} {brief(value)}")
        value = float(value)
    if not math.isfinite(value):
        raise SceneError(path, f"must be finite, got {value}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise SceneError(path, f"must be {'>' if lo_open else '>='} {lo:g}, got {value}")
    if hi is not None and value > hi:
        raise SceneError(path, f"must be <= {hi:g}, got {value}")
    return value


def _vector(path: str, value: Any, length: int, **bounds) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise SceneError(path, f"must be a sequence of {length} numbers, got {brief(value)}")
    if len(value) != length:
        raise SceneError(path, f"must have {length} numbers, got {len(value)}")
    return tuple([_number(f"{path}[{i}]", v, **bounds) for i, v in enumerate(value)])


def _choice(path: str, value: Any, options: tuple[str, ...], aliases: dict | None = None) -> str:
    if not isinstance(value, str):
        raise SceneError(path, f"must be one of {', '.join(options)}; got {type(value).__name__} {brief(value)}")
    key = value.strip().lower()
    key = (aliases or {}).get(key, key)
    if key not in options:
        raise SceneError(path, f"unknown value {brief(value)}; expected one of {', '.join(options)}")
    return key


def parse_color(value: Any, path: str = "color") -> str | tuple[int, int, int]:
    """A palette name, '#rrggbb', or 3 integers in 0..255 -> canonical form.

    The canonical form is the palette name when the colour is in the palette (so
    `"red"` and `(173, 35, 35)` are the same colour), else an RGB tuple.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("#"):
            if len(text) != 7 or any(c not in "0123456789abcdef" for c in text[1:]):
                raise SceneError(path, f"hex colours look like '#1f77b4', got {brief(value)}")
            rgb = tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))
            return _RGB_TO_NAME.get(rgb, rgb)
        if text not in PALETTE:
            raise SceneError(
                path,
                f"unknown colour name {brief(value)}; expected one of {', '.join(COLOR_NAMES)}, '#rrggbb' or [r, g, b]",
            )
        return text
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise SceneError(path, f"must be a colour name, '#rrggbb' or [r, g, b], got {brief(value)}")
    rgb = []
    for i, v in enumerate(value):
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, np.integer))
            and not (isinstance(v, (float, np.floating)) and float(v).is_integer())
        ):
            raise SceneError(f"{path}[{i}]", f"must be an integer 0..255, got {brief(v)}")
        if not 0 <= int(v) <= 255:
            raise SceneError(f"{path}[{i}]", f"must be in 0..255, got {int(v)}")
        rgb.append(int(v))
    rgb = tuple(rgb)
    return _RGB_TO_NAME.get(rgb, rgb)


def color_rgb(color: str | tuple[int, int, int]) -> tuple[int, int, int]:
    return PALETTE[color] if isinstance(color, str) else color


def nearest_color_name(color: str | tuple[int, int, int]) -> str:
    """The palette name of a colour, or of the palette colour nearest to it in RGB."""
    if isinstance(color, str):
        return color
    return min(PALETTE, key=lambda n: sum((a - b) ** 2 for a, b in zip(PALETTE[n], color)))


def parse_size(value: Any, path: str = "size") -> float:
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in SIZES:
            raise SceneError(path, f"unknown size name {brief(value)}; expected one of {', '.join(SIZES)} or a number")
        return SIZES[key]
    return _number(path, value, lo=0.0, lo_open=True, hi=MAX_SIZE)


# --- objects -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Object:
    """One solid standing on the ground plane. Build it with `Cube`, `Cylinder`, `Sphere`."""

    shape: str  # one of SHAPES
    color: str | tuple[int, int, int] = "gray"  # palette name, or RGB when not in the palette
    position: tuple[float, float] = (0.0, 0.0)  # (x, y) of its centre on the ground
    size: float = SIZES["large"]  # bounding radius of its footprint
    rotation: float = 0.0  # degrees about +z, in [0, 360)
    material: str = "matte"  # one of MATERIALS

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "shape", _choice("shape", self.shape, SHAPES))
        set_(self, "color", parse_color(self.color))
        set_(self, "position", _vector("position", self.position, 2, lo=-POSITION_LIMIT, hi=POSITION_LIMIT))
        set_(self, "size", parse_size(self.size))
        rotation = _number("rotation", self.rotation) % 360.0
        set_(self, "rotation", 0.0 if rotation == 360.0 else rotation)  # -1e-300 % 360 rounds to 360
        set_(self, "material", _choice("material", self.material, MATERIALS, MATERIAL_ALIASES))

    # Derived facts that renderers and captions share.
    @property
    def rgb(self) -> tuple[int, int, int]:
        return color_rgb(self.color)

    @property
    def color_name(self) -> str:
        return nearest_color_name(self.color)

    @property
    def size_name(self) -> str:
        """The named size nearest to `size` ('small' or 'large')."""
        return min(SIZES, key=lambda n: abs(SIZES[n] - self.size))

    @property
    def height(self) -> float:
        """Height of the object's top above the ground."""
        return self.size * (math.sqrt(2.0) if self.shape == "cube" else 2.0)

    def to_dict(self) -> dict:
        return {
            "shape": self.shape,
            "color": self.color if isinstance(self.color, str) else list(self.color),
            "position": list(self.position),
            "size": self.size,
            "rotation": self.rotation,
            "material": self.material,
        }

    @classmethod
    def from_dict(cls, data: Any) -> "Object":
        if not isinstance(data, dict):
            raise SceneError("", f"an object must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise SceneError(
                sorted(unknown)[0], f"unknown field; expected {', '.join(f.name for f in dataclasses.fields(cls))}"
            )
        if "shape" not in data:
            raise SceneError("shape", "missing")
        return cls(**data)


def Cube(**kwargs) -> Object:
    """A cube: `Cube(color="blue", position=(1.0, -0.5), size="large", rotation=30)`."""
    return Object("cube", **kwargs)


def Cylinder(**kwargs) -> Object:
    """An upright cylinder, as tall as it is wide."""
    return Object("cylinder", **kwargs)


def Sphere(**kwargs) -> Object:
    """A sphere resting on the ground."""
    return Object("sphere", **kwargs)


# --- camera, light, scene ----------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    """A pinhole camera for the 3D view; the 2D view looks straight down instead.

    The defaults are CLEVR's camera: its Blender location, pointed at the origin, with
    the horizontal field of view of a 35 mm lens on a 32 mm sensor.
    """

    position: tuple[float, float, float] = (7.4811, -6.5076, 5.3437)
    look_at: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fov: float = 49.1  # horizontal field of view in degrees (3D view)
    extent: float = 4.0  # the 2D view shows the ground square [-extent, extent]^2

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "position", _vector("position", self.position, 3, lo=-100.0, hi=100.0))
        set_(self, "look_at", _vector("look_at", self.look_at, 3, lo=-100.0, hi=100.0))
        set_(self, "fov", _number("fov", self.fov, lo=1.0, hi=170.0))
        set_(self, "extent", _number("extent", self.extent, lo=0.1, hi=100.0))
        if self.position[2] <= 0:
            raise SceneError("position[2]", f"the camera must be above the ground (z > 0), got {self.position[2]}")
        if math.dist(self.position, self.look_at) < 1e-6:
            raise SceneError("look_at", "must differ from the camera position")
        dx, dy = self.look_at[0] - self.position[0], self.look_at[1] - self.position[1]
        if math.hypot(dx, dy) < 1e-6:
            raise SceneError("look_at", "the 3D camera cannot look straight down; offset look_at in x or y")


@dataclass(frozen=True)
class Light:
    """A lamp above the scene (a small area light in 3D; it gives shading in 2D too)."""

    position: tuple[float, float, float] = (-4.0, -3.0, 9.0)
    intensity: float = 1.0  # strength of the lamp's direct light
    ambient: float = 0.35  # light that reaches everything, shadows included
    radius: float = 0.6  # lamp radius: 0 gives hard shadows, larger gives softer ones

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "position", _vector("position", self.position, 3, lo=-100.0, hi=100.0))
        set_(self, "intensity", _number("intensity", self.intensity, lo=0.0, hi=10.0))
        set_(self, "ambient", _number("ambient", self.ambient, lo=0.0, hi=10.0))
        set_(self, "radius", _number("radius", self.radius, lo=0.0, hi=10.0))
        if self.position[2] <= 0:
            raise SceneError("position[2]", f"the light must be above the ground (z > 0), got {self.position[2]}")


def _image_size(value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise SceneError("image_size", f"must be an integer or [height, width], got {brief(value)}")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise SceneError(f"image_size[{i}]", f"must be an integer, got {brief(v)}")
        if not MIN_IMAGE_SIDE <= int(v) <= MAX_IMAGE_SIDE:
            raise SceneError(f"image_size[{i}]", f"must be in {MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE}, got {int(v)}")
        out.append(int(v))
    return tuple(out)


def _sub(path: str, cls, value):
    """Build a nested dataclass from itself or a dict, prefixing its errors with `path`."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise SceneError(path, f"must be a JSON object, got {type(value).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = set(value) - set(names)
    if unknown:
        raise SceneError(f"{path}.{sorted(unknown)[0]}", f"unknown field; expected {', '.join(names)}")
    try:
        return cls(**value)
    except SceneError as err:
        raise err.within(path) from None


@dataclass(frozen=True)
class Scene:
    """A whole scene: its objects and everything needed to render it again exactly.

    `Scene([Cube(color="blue", position=(1.0, -0.5), size="large"),
            Cylinder(color="red", position=(-1, 1), size=0.3)])`
    """

    objects: tuple[Object, ...] = ()
    image_size: tuple[int, int] = (64, 64)  # (height, width) in pixels
    view: str = "3d"  # "2d" (top-down) or "3d" (perspective)
    camera: Camera = field(default_factory=Camera)
    light: Light = field(default_factory=Light)
    background: str | tuple[int, int, int] = (128, 128, 128)  # ground colour

    def __post_init__(self):
        set_ = object.__setattr__
        objects = self.objects
        if isinstance(objects, (Object, dict, str, bytes)) or not hasattr(objects, "__iter__"):
            raise SceneError("objects", f"must be a list of objects, got {type(objects).__name__}")
        objects = tuple(objects)
        if len(objects) > MAX_OBJECTS:
            raise SceneError("objects", f"at most {MAX_OBJECTS} objects, got {len(objects)}")
        parsed = []
        for i, obj in enumerate(objects):
            try:
                parsed.append(obj if isinstance(obj, Object) else Object.from_dict(obj))
            except SceneError as err:
                raise err.within(f"objects[{i}]") from None
            except TypeError as err:  # e.g. a list where an object was expected
                raise SceneError(f"objects[{i}]", str(err)) from None
        set_(self, "objects", tuple(parsed))
        set_(self, "image_size", _image_size(self.image_size))
        set_(self, "view", _choice("view", self.view, VIEWS))
        set_(self, "camera", _sub("camera", Camera, self.camera))
        set_(self, "light", _sub("light", Light, self.light))
        set_(self, "background", parse_color(self.background, "background"))

    @property
    def height(self) -> int:
        return self.image_size[0]

    @property
    def width(self) -> int:
        return self.image_size[1]

    # --- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        bg = self.background
        return {
            "version": SCENE_FORMAT_VERSION,
            "image_size": list(self.image_size),
            "view": self.view,
            "camera": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.camera).items()},
            "light": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.light).items()},
            "background": bg if isinstance(bg, str) else list(bg),
            "objects": [o.to_dict() for o in self.objects],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> "Scene":
        if not isinstance(data, dict):
            raise SceneError("", f"a scene must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        version = data.pop("version", SCENE_FORMAT_VERSION)
        if version != SCENE_FORMAT_VERSION:
            raise SceneError(
                "version", f"this is scene format {SCENE_FORMAT_VERSION}; cannot read version {brief(version)}"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = set(data) - set(names)
        if unknown:
            raise SceneError(sorted(unknown)[0], f"unknown field; expected version, {', '.join(names)}")
        objects = data.get("objects", [])
        if not isinstance(objects, list):
            raise SceneError("objects", f"must be a list, got {type(objects).__name__}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Scene":
        if not isinstance(text, (str, bytes)):
            raise SceneError("", f"scene JSON must be text, got {type(text).__name__}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SceneError("", f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
        return cls.from_dict(data)

    # --- fixed-length vector form -------------------------------------------------------

    def to_vector(self, max_objects: int = MAX_OBJECTS) -> np.ndarray:
        """(max_objects, SLOT_DIM) float32: one slot per object, padded slots all zero.

        The layout is `SLOT_LAYOUT`. The form is canonical: a rotation is reduced by the
        shape's symmetry (a cube looks the same every 90 degrees, a cylinder or sphere
        at every angle) and stored as (cos k*theta, sin k*theta), k = 4 for cubes.
        """
        if len(self.objects) > max_objects:
            raise SceneError("objects", f"{len(self.objects)} objects do not fit in {max_objects} slots")
        out = np.zeros((max_objects, SLOT_DIM), np.float32)
        for i, obj in enumerate(self.objects):
            s = out[i]
            s[SLOT_LAYOUT["present"]] = 1.0
            s[SLOT_LAYOUT["shape"]][SHAPES.index(obj.shape)] = 1.0
            if isinstance(obj.color, str):
                s[SLOT_LAYOUT["color"]][COLOR_NAMES.index(obj.color)] = 1.0
            s[SLOT_LAYOUT["rgb"]] = np.array(obj.rgb, np.float32) / 255.0
            s[SLOT_LAYOUT["material"]][MATERIALS.index(obj.material)] = 1.0
            s[SLOT_LAYOUT["position"]] = obj.position
            s[SLOT_LAYOUT["size"]] = obj.size
            k = ROTATION_SYMMETRY[obj.shape]
            theta = math.radians(obj.rotation) * k
            s[SLOT_LAYOUT["rotation"]] = (math.cos(theta), math.sin(theta)) if k else (1.0, 0.0)
        return out

    @classmethod
    def from_vector(cls, vector: np.ndarray, **settings) -> "Scene":
        """Inverse of `to_vector` (up to float32 rounding); `settings` are the other Scene fields.

        Slots whose present flag is below 0.5 are dropped; discrete fields take the arg-max,
        so a network's soft output decodes too.
        """
        vector = np.asarray(vector, np.float32)
        if vector.ndim != 2 or vector.shape[1] != SLOT_DIM:
            raise SceneError("vector", f"must have shape (slots, {SLOT_DIM}), got {vector.shape}")
        objects = []
        for s in vector:
            if s[SLOT_LAYOUT["present"]] < 0.5:
                continue
            shape = SHAPES[int(np.argmax(s[SLOT_LAYOUT["shape"]]))]
            names = s[SLOT_LAYOUT["color"]]
            rgb = np.clip(np.round(s[SLOT_LAYOUT["rgb"]] * 255.0), 0, 255).astype(int)
            color = COLOR_NAMES[int(np.argmax(names))] if names.max() >= 0.5 else tuple(int(v) for v in rgb)
            k = ROTATION_SYMMETRY[shape]
            c, sn = (float(v) for v in s[SLOT_LAYOUT["rotation"]])
            rotation = math.degrees(math.atan2(sn, c)) / k % (360.0 / k) if k else 0.0
            objects.append(
                Object(
                    shape=shape,
                    color=color,
                    position=tuple(float(v) for v in s[SLOT_LAYOUT["position"]]),
                    size=max(float(s[SLOT_LAYOUT["size"]]), 1e-3),
                    rotation=rotation,
                    material=MATERIALS[int(np.argmax(s[SLOT_LAYOUT["material"]]))],
                )
            )
        return cls(objects, **settings)


# Rotational symmetry order about +z used by the canonical vector form (0 = any angle).
ROTATION_SYMMETRY = {"cube": 4, "cylinder": 0, "sphere": 0}


def _layout(*widths: tuple[str, int]) -> dict[str, slice | int]:
    out, start = {}, 0
    for name, width in widths:
        out[name] = start if width == 0 else slice(start, start + width)
        start += max(width, 1)
    return out


# Where each factor lives in a slot of the vector form. Width 0 marks a scalar.
SLOT_LAYOUT = _layout(
    ("present", 0),
    ("shape", len(SHAPES)),
    ("color", len(COLOR_NAMES)),
    ("rgb", 3),
    ("material", len(MATERIALS)),
    ("position", 2),
    ("size", 0),
    ("rotation", 2),
)
SLOT_DIM = 1 + len(SHAPES) + len(COLOR_NAMES) + 3 + len(MATERIALS) + 2 + 1 + 2
