"""Training scenes for the scene-level models, from one of two sources:

    "prior"   the world's own scene descriptions (`worlds.sample_scenes`): ground truth;
    "pixels"  the scenes *read back from rendered pictures* by the shipped inverse-graphics encoder,
              refined by analysis by synthesis (`playground.inverse`): a model trained on these never
              sees a scene description, only pixels, and the reader's mistakes become its data.

`SceneData` holds them in the form a family trains on (codes or slot vectors, `codec.py`), with a prompt
per scene for the conditional models: a random prompt of 1 to 3 facts that is true of the scene
(`worlds.prompts.true_prompt`), its object variables bound to objects that lead the canonical order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from worlds import Scene, get_world, render, sample_scenes
from worlds.prompts import true_prompt

from .backbone import prompt_rows
from .codec import SceneCodec

SOURCES = ("prior", "pixels")
REPRESENTATIONS = ("codes", "vectors")
MAX_SCENES = 200_000


@dataclass(frozen=True)
class SceneData:
    inputs: torch.Tensor  # codes (N, K, F) int64 or slot vectors (N, K, D) float32
    prompts: torch.Tensor | None  # (N, M, 8) int64 prompt rows (backbone.PROMPT_COLUMNS), or None
    scenes: tuple[Scene, ...]
    source: str

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def condition(self, kind: str) -> torch.Tensor | None:
        if kind == "prompt" and self.prompts is None:
            raise ValueError("these scenes were prepared without prompts; build them with condition='prompt'")
        return {"none": None, "prompt": self.prompts}[kind]


def load_scenes(
    world: str, n: int, seed: int, *, source: str = "prior", split: str | None = None, refine_steps: int = 0
) -> list[Scene]:
    """`n` training scenes of `world` (its `split` side, if given) from `source`; read from pixels, each
    reading refined by `refine_steps` of analysis by synthesis."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not 0 < n <= MAX_SCENES:
        raise ValueError(f"n must be in 1..{MAX_SCENES}, got {n}")
    prior = get_world(world)
    if split is not None:
        prior = prior.replace(split=split)
    scenes = sample_scenes(prior, seed, n)
    return read_from_pixels(scenes, refine_steps) if source == "pixels" else scenes


READERS = {"2d": "encoder-shapes2d", "3d": "encoder-clevr3d"}  # the shipped encoder that reads each view


def read_from_pixels(scenes, refine_steps: int = 0, batch: int = 256) -> list[Scene]:
    """The scenes as the shipped inverse-graphics encoder of their view reads them back from their rendered
    pictures (at the encoder's size), each reading refined by `refine_steps` steps of analysis by synthesis:
    all a from-pixels model ever sees. The readings keep the scenes' own settings (size, camera, light)."""
    from playground.inverse.encoder import doubtful_objects
    from playground.inverse.refine import refine
    from playground.models import pretrained

    if not 0 <= refine_steps <= 200:
        raise ValueError(f"refine_steps must be in 0..200, got {refine_steps}")
    out = []
    for start in range(0, len(scenes), batch):
        chunk = scenes[start : start + batch]
        encoder = pretrained.load(READERS[chunk[0].view])
        settings = encoder.scene_settings()
        pictures = render([Scene(s.objects, **settings) for s in chunk])
        vectors = encoder.predict_vectors(torch.from_numpy(pictures).permute(0, 3, 1, 2).contiguous())
        readings = [Scene.from_vector(v, **settings) for v in vectors]
        if refine_steps:
            doubts = doubtful_objects(vectors, settings)
            readings = [
                refine(r, picture, steps=refine_steps, candidates=d)[0]
                for r, picture, d in zip(readings, pictures, doubts)
            ]
        out += [replace(s, objects=r.objects) for r, s in zip(readings, chunk)]
    return out


def scene_data(
    codec: SceneCodec, scenes, *, representation: str, condition: str = "none", seed: int = 0, source: str = "prior"
) -> SceneData:
    """The scenes as a family's inputs; with `condition="prompt"`, one true prompt per scene (seeded)."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}")
    first, prompts = None, None
    if condition == "prompt":
        rng = np.random.default_rng(seed)
        drawn = [true_prompt(scene, rng) for scene in scenes]
        first = [binding for _, binding in drawn]
        prompts = torch.stack([prompt_rows(prompt, codec.world) for prompt, _ in drawn])
    elif condition != "none":
        raise ValueError(f"condition must be 'none' or 'prompt', got {condition!r}")
    encode = codec.encode if representation == "codes" else codec.to_vectors
    return SceneData(encode(scenes, first), prompts, tuple(scenes), source)
