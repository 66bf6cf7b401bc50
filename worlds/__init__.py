"""The toy world: scenes of cubes, cylinders and spheres, their renderers, priors and datasets.

from worlds import Scene, Cube, Cylinder, render
scene = Scene([Cube(color="blue", position=(1.0, -0.5), size="large"),
               Cylinder(color="red", position=(-1, 1), size=0.3)])
images = render([scene])          # uint8 (1, 64, 64, 3)
"""

from .captions import caption, captions, describe, relations
from .render import Rendering, render, render_layers
from .scene import (
    CLEVR_COLORS,
    COLOR_NAMES,
    MATERIALS,
    MAX_OBJECTS,
    PALETTE,
    SHAPES,
    SIZES,
    SLOT_DIM,
    SLOT_LAYOUT,
    Camera,
    Cube,
    Cylinder,
    Light,
    Object,
    Scene,
    SceneError,
    Sphere,
)
from .world import WORLDS, ExactWorld, World, WorldError, get_world, sample_scene, sample_scenes

__all__ = [
    "caption",
    "captions",
    "describe",
    "relations",
    "Rendering",
    "render",
    "render_layers",
    "CLEVR_COLORS",
    "COLOR_NAMES",
    "MATERIALS",
    "MAX_OBJECTS",
    "PALETTE",
    "SHAPES",
    "SIZES",
    "SLOT_DIM",
    "SLOT_LAYOUT",
    "Camera",
    "Cube",
    "Cylinder",
    "Light",
    "Object",
    "Scene",
    "SceneError",
    "Sphere",
    "WORLDS",
    "ExactWorld",
    "World",
    "WorldError",
    "get_world",
    "sample_scene",
    "sample_scenes",
]
__version__ = "0.1.0"
