"""What the Generate tab's scene level shows, as plain functions (no gradio): scene models' draws, rendered,
read back and checked against the prompt fact by fact.

A scene-level model draws scene descriptions; the world's renderer draws them at 128 px (in the world's own
view, or the other one: a scene is a scene in 2D and 3D); the shipped inverse-graphics encoder reads each
picture back, and every fact the prompt asked for is checked on that reading (✓ or ✗), never on the scene
the model wrote. Every function raises ValueError with a message meant for the user.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from playground.models import pretrained
from playground.scenes import shipped
from playground.scenes.backbone import encode_prompts
from playground.scenes.data import READERS
from playground.scenes.metrics import problems
from worlds import Camera, Scene, caption, get_world, render
from worlds.prompts import PromptError, check

MAX_SCENE_SAMPLES = 32  # scenes per request
IMAGE_SIZE = 128
VIEWS = ("the world's own", "2d", "3d")
FAMILY_LABELS = {
    "autoregressive": "Autoregressive (exact likelihood)",
    "flow": "Flow (dequantized bound)",
    "vae": "VAE (bound)",
    "gan": "GAN (no likelihood)",
    "ebm": "EBM (unnormalized)",
    "diffusion": "Diffusion (DDPM)",
}
OTHER_VIEW = {"2d": {"view": "3d", "camera": Camera()}, "3d": {"view": "2d", "camera": Camera(extent=3.5)}}


def scene_model_label(name: str) -> str:
    recipe = shipped.RECIPES[name]
    what = f"prompts (learnt {recipe.trained_on})" if recipe.condition == "prompt" else "unconditional"
    source = " · learnt from pixels" if recipe.source == "pixels" else ""
    return f"{FAMILY_LABELS[recipe.family]} · {what} · {recipe.world}{source}"


def scene_model_choices(from_pixels: bool = False) -> list[tuple[str, str]]:
    """(label, name) of the shipped scene models whose weights are present (or only those learnt from pixels)."""
    return [
        (scene_model_label(name), name)
        for name in shipped.available()
        if (shipped.RECIPES[name].source == "pixels") == from_pixels
    ]


def takes_prompts(name: str) -> bool:
    return name in shipped.RECIPES and shipped.RECIPES[name].condition == "prompt"


def _model(name: str):
    if name not in shipped.RECIPES:
        raise ValueError(f"unknown scene model {name!r}; choose one of {', '.join(shipped.available())}")
    try:
        return shipped.load(name)
    except FileNotFoundError as err:
        raise ValueError(str(err)) from None


def draw(name: str, n: int, seed: int, prompt: str = "") -> tuple[list[Scene], object]:
    """n scenes of scene model `name` (asked `prompt` if it takes prompts), at 128 px in its world's view,
    and the parsed prompt (None without one)."""
    model = _model(name)
    world = shipped.RECIPES[name].world
    prompt = (prompt or "").strip()
    rows, parsed = None, None
    if takes_prompts(name):
        if not prompt:
            raise ValueError(
                "this model draws what a prompt asks for: type one, e.g. 'a red cube to the left of a blue sphere'"
            )
        try:
            (parsed,), rows = encode_prompts([prompt], model.codec.world)
        except PromptError as err:
            raise ValueError(str(err)) from None
        rows = rows.expand(n, -1, -1)
    elif prompt:
        raise ValueError("this model is unconditional: clear the prompt, or pick a model that takes prompts")
    settings = {**get_world(world).scene_settings(), "image_size": IMAGE_SIZE}
    with torch.no_grad():
        drawn = model.sample(n, rows, generator=torch.Generator().manual_seed(seed))
    if model.representation == "codes":
        return model.codec.decode(drawn, seed=seed, settings=settings), parsed
    return model.codec.from_vectors(drawn, settings=settings), parsed


def read_back(scenes: list[Scene]) -> list[Scene]:
    """Each scene rendered at its encoder's size and read back by the shipped encoder of its view."""
    encoder = pretrained.load(READERS[scenes[0].view])
    settings = encoder.scene_settings()
    pictures = render([Scene(s.objects, **settings) for s in scenes])
    vectors = encoder.predict_vectors(torch.from_numpy(pictures).permute(0, 3, 1, 2).contiguous())
    return [Scene.from_vector(v, **settings) for v in vectors]


def verdict_caption(parsed, reading: Scene, scene: Scene, world: str) -> str:
    """A picture's caption: each asked fact ✓ or ✗ on the reading; without a prompt, whether the drawn scene
    keeps the world's rules and what the reading says it shows."""
    if parsed is not None:
        verdict = check(parsed, reading)
        marks = " · ".join(f"{'✓' if ok else '✗'} {text}" for ok, text in zip(verdict.facts, parsed.fact_texts()))
        return ("✅ " if verdict.overall else "❌ ") + marks
    broken = problems(scene, world)
    rule = "✓ keeps the world's rules" if not broken else f"✗ {broken[0]}"
    return f"{rule} · read back: {caption(reading)}"


def scene_samples(name: str, n: int, seed: int, prompt: str = "", view: str = VIEWS[0]):
    """Gallery items [(picture, caption)] and a status line for n draws of scene model `name`."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    begun = time.perf_counter()
    scenes, parsed = draw(name, n, seed, prompt)
    world = shipped.RECIPES[name].world
    readings = read_back(scenes)
    shown = scenes
    if view not in (VIEWS[0], scenes[0].view):  # the same scenes through the other view's camera
        shown = [replace(s, **OTHER_VIEW[s.view]) for s in scenes]
    pictures = render(shown)
    captions = [verdict_caption(parsed, r, s, world) for r, s in zip(readings, scenes)]
    seconds = time.perf_counter() - begun
    if parsed is not None:
        right = np.mean([c.startswith("✅") for c in captions])
        summary = f"{right:.0%} of the pictures, read back by the encoder, show everything asked"
    else:
        summary = f"{np.mean([c.startswith('✓') for c in captions]):.0%} keep the world's rules"
    status = f"{n} scenes of `{name}` (seed {seed}), rendered at {IMAGE_SIZE} px · {summary} · {seconds:.1f} s"
    return list(zip(list(pictures), captions)), status
