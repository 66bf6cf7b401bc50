"""Training data from a world: images as uint8 tensors, with class and caption conditions.

Class labels are the (shape, colour) indices of a scene's first object — the whole
scene in one-object worlds such as `exact`. Scenes come from `worlds.sample_scenes`, so
the data of (world, seed, n) is the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from worlds import caption, get_world, render, sample_scenes
from worlds.scene import COLOR_NAMES, SHAPES, Scene, nearest_color_name

from .text import encode_captions

MAX_TRAIN_SCENES = 200_000


@dataclass(frozen=True)
class WorldData:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    labels: torch.Tensor  # int64 (N, 2): shape index, colour index of the first object
    captions: torch.Tensor  # int64 (N, T) token ids
    scenes: tuple[Scene, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def inputs(self) -> torch.Tensor:
        """What a model is trained on (`fit` reads this): the images."""
        return self.images

    @cached_property
    def vectors(self) -> torch.Tensor:
        """float32 (N, MAX_OBJECTS, SLOT_DIM): each scene in `Scene.to_vector`'s slot form (the inverse-
        graphics encoder's targets); built on first use."""
        return torch.from_numpy(np.stack([s.to_vector() for s in self.scenes]))

    def condition(self, kind: str) -> torch.Tensor | None:
        """What a model of condition `kind` is given with each image: nothing, class labels, caption
        tokens, or (for the encoder, whose targets they are) the scene vectors."""
        if kind == "scene":
            return self.vectors
        return {"none": None, "class": self.labels, "caption": self.captions}[kind]


def scene_labels(scenes) -> torch.Tensor:
    """(N, 2) int64: shape and colour index of each scene's first object (0, 0 if empty)."""
    rows = [
        (SHAPES.index(s.objects[0].shape), COLOR_NAMES.index(nearest_color_name(s.objects[0].color)))
        if s.objects
        else (0, 0)
        for s in scenes
    ]
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), 2)


def class_condition(shape: str, color: str) -> torch.Tensor:
    """The condition tensor (1, 2) that asks for a `color` `shape`."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if color not in COLOR_NAMES:
        raise ValueError(f"unknown colour {color!r}; expected one of {', '.join(COLOR_NAMES)}")
    return torch.tensor([[SHAPES.index(shape), COLOR_NAMES.index(color)]])


def load_world(
    world, n: int, seed: int, *, image_size: int | None = None, split: str | None = None, batch: int = 4096
) -> WorldData:
    """`n` scenes of `world` (a name or World) rendered to tensors, in batches."""
    if not 0 < n <= MAX_TRAIN_SCENES:
        raise ValueError(f"n must be in 1..{MAX_TRAIN_SCENES}, got {n}")
    world = get_world(world)
    if image_size is not None:
        world = world.replace(image_size=image_size)
    if split is not None:
        world = world.replace(split=split)
    scenes = sample_scenes(world, seed, n)
    images = np.concatenate([render(scenes[k : k + batch]) for k in range(0, n, batch)])
    return WorldData(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        labels=scene_labels(scenes),
        captions=encode_captions([caption(s) for s in scenes]),
        scenes=tuple(scenes),
    )
