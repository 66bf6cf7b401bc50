"""Text -> scene -> image, scored by reading the picture back: GenEval's question, answered exactly.

    python benchmarks/compose.py                         # every shipped prompt model, both worlds
    python benchmarks/compose.py --json                  # ... and one JSON object on the last line
    python benchmarks/compose.py --worlds shapes2d --images 1 --refine-steps 10

For each world (`shapes2d`, `clevr3d`), a fixed set of prompts (`worlds.prompts.benchmark_prompts`, seed
0; 70 per category where the category has as many distinct prompts) in GenEval's categories (single
object, two objects, counting, colours, position, colour attribution) and ours (held-out combinations,
which the prompt models never saw in training, and three-fact conjunctions). Each prompt is drawn
`--images` times (4) by each prompt-conditional scene model (`scene-FAMILY-prompt-WORLD`, trained on the
world's held-out twin), **rendered** at 128 px and **read back** by the shipped inverse-graphics encoder
(`encoder-WORLD`, optionally refined) — never the scene the model produced — and the reading is checked
against the prompt (`worlds.prompts.check`: one distinct object per named object, exact counts,
relations as the viewer sees them). A category's score is its share of correct images; `overall` is the
mean of the categories (GenEval's convention).

Beside each read-back score: `own`, the same check on the model's own scene (what the generator got
right, before the renderer and the reader), and `reader`, the read-back score on the images whose own
scene was right: the reader's ceiling on these very pictures. The pixel caption model (`diffusion-caption`,
32 px one-object scenes of `exact-holdout`) answers the prompts that lie in its world; its images are
read by the exact inverse of that world (the nearest of its 768 renders, if within 2 pixels: else unread).

Published anchors for the same categories (different worlds; read side by side, not as a ranking):
GenEval overall DALL-E 3 0.67, SD3-Medium 0.74; position DALL-E 3 0.43, SDXL 0.15; colour attribution
DALL-E 3 0.45; Composable Diffusion on CLEVR with 1 / 2 / 3 positional relations 86 / 59 / 31 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.inverse.encoder import read_scene  # noqa: E402
from playground.models import pretrained  # noqa: E402
from playground.scenes import shipped  # noqa: E402
from playground.scenes.backbone import encode_prompts  # noqa: E402
from worlds import Scene, get_world, render  # noqa: E402
from worlds.prompts import CATEGORIES, benchmark_prompts, check, check_world  # noqa: E402

WORLDS = ("shapes2d", "clevr3d")
FAMILIES = ("autoregressive", "diffusion")
IMAGE_SIZE = 128
ANCHORS = {
    "GenEval DALL-E 3": {"overall": 0.67, "position": 0.43, "color_attribution": 0.45},
    "GenEval SD3-Medium": {"overall": 0.74},
    "GenEval SDXL": {"position": 0.15},
    "Composable Diffusion, CLEVR, 1/2/3 relations": {"position": 0.86, "three_facts": 0.31},
}


def scene_prompts(world: str, seed: int = 0):
    return benchmark_prompts(world, seed, held_out=get_world(shipped.PROMPT_WORLDS[world]).held_out)


def draw_scenes(model, texts: list[str], images: int, world: str, seed: int = 0) -> list[Scene]:
    """`images` scenes per prompt (prompt-major order), as the scored world's 128-px scenes."""
    _, rows = encode_prompts(texts, model.codec.world)
    rows = rows.repeat_interleave(images, 0)
    settings = {**get_world(world).scene_settings(), "image_size": IMAGE_SIZE}
    generator = torch.Generator().manual_seed(seed)
    scenes = []
    for start in range(0, len(rows), 1024):
        drawn = model.sample(len(rows[start : start + 1024]), rows[start : start + 1024], generator=generator)
        if model.representation == "codes":
            scenes += model.codec.decode(drawn, seed=seed + start, settings=settings)
        else:
            scenes += model.codec.from_vectors(drawn, settings=settings)
    return scenes


def read_back(world: str, scenes: list[Scene], refine_steps: int) -> list[Scene]:
    """Render each scene and read it back with the shipped encoder (and refinement)."""
    encoder = pretrained.load(f"encoder-{world}")
    pictures = np.concatenate([render(scenes[k : k + 256]) for k in range(0, len(scenes), 256)])
    return [read_scene(encoder, picture, refine_steps=refine_steps).scene for picture in pictures]


def score(items, own: list[bool], read: list[bool], images: int) -> dict:
    """Per category: the read-back score, the own score, and the reader's ceiling (read | own right)."""
    by = defaultdict(lambda: {"read": [], "own": []})
    for k, (category, _) in enumerate(items):
        by[category]["read"] += read[k * images : (k + 1) * images]
        by[category]["own"] += own[k * images : (k + 1) * images]
    out = {}
    for category in CATEGORIES:
        if category not in by:
            continue
        r, o = np.array(by[category]["read"]), np.array(by[category]["own"])
        out[category] = float(r.mean())
        out[f"{category}_own"] = float(o.mean())
        out[f"{category}_reader"] = float(r[o].mean()) if o.any() else None
    present = [c for c in CATEGORIES if c in out]
    out["overall"] = float(np.mean([out[c] for c in present]))
    out["overall_own"] = float(np.mean([out[f"{c}_own"] for c in present]))
    return out


def evaluate_scene_model(name: str, world: str, items, images: int, refine_steps: int) -> dict:
    model = shipped.load(name)
    texts = [p.text for _, p in items]
    begun = time.perf_counter()
    scenes = draw_scenes(model, texts, images, world)
    drawn = time.perf_counter() - begun
    prompts = [p for _, p in items for _ in range(images)]
    own = [check(p, s).overall for p, s in zip(prompts, scenes)]
    readings = read_back(world, scenes, refine_steps)
    read = [check(p, s).overall for p, s in zip(prompts, readings)]
    result = score(items, own, read, images)
    result["draw_ms_per_image"] = drawn * 1000 / len(scenes)
    return result


def evaluate_pixel_caption_model(world: str, items, images: int) -> dict | None:
    """diffusion-caption on the prompts that lie in its one-object world, read by the exact inverse."""
    from playground.evaluation.scores import exact_world, parse_samples
    from playground.models.text import encode_captions, unknown_words

    if "diffusion-caption" not in pretrained.available():
        return None
    inside = []
    for category, prompt in items:
        try:
            check_world(prompt, "exact-holdout")
        except ValueError:
            continue
        if len(prompt.variables) <= 1 and not unknown_words(prompt.text):
            inside.append((category, prompt))
    if not inside:
        return None
    model = pretrained.load("diffusion-caption")
    exact = exact_world("exact")
    captions = encode_captions([p.text for _, p in inside for _ in range(images)])
    pictures = []
    generator = torch.Generator().manual_seed(0)
    for start in range(0, len(captions), 256):
        pictures.append(
            model.sample(
                len(captions[start : start + 256]),
                captions[start : start + 256],
                generator=generator,
                steps=100,
                guidance=2.0,
            )
        )
    parse = parse_samples(torch.cat(pictures), exact)
    empty = Scene([], **exact.world.scene_settings())
    readings = [exact.scenes[int(i)] if ok else empty for i, ok in zip(parse.index, parse.valid)]
    prompts = [p for _, p in inside for _ in range(images)]
    read = [check(p, s).overall for p, s in zip(prompts, readings)]
    result = score(inside, read, read, images)
    result["prompts"] = len(inside)
    return {k: v for k, v in result.items() if not k.endswith(("_own", "_reader"))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=WORLDS)
    parser.add_argument("--images", type=int, default=4, help="images per prompt (default 4)")
    parser.add_argument("--refine-steps", type=int, default=0, help="refinement steps of each reading (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.images <= 16:
        parser.error(f"--images must be in 1..16, got {args.images}")
    if not 0 <= args.refine_steps <= 200:
        parser.error(f"--refine-steps must be in 0..200, got {args.refine_steps}")
    result: dict = {}
    for world in args.worlds:
        items = scene_prompts(world)
        rows = {}
        for family in FAMILIES:
            for suffix in ("", "-from-pixels"):
                name = f"scene-{family}-prompt-{world}{suffix}"
                if name in shipped.RECIPES and shipped.path(name).is_file():
                    label = f"{family}_from_pixels" if suffix else family
                    rows[label] = evaluate_scene_model(name, world, items, args.images, args.refine_steps)
        pixel = evaluate_pixel_caption_model(world, items, args.images)
        if pixel is not None:
            rows["pixel-diffusion-caption"] = pixel
        result[world] = rows
        counts = defaultdict(int)
        for category, _ in items:
            counts[category] += 1
        print(
            f"\n## {world}: {len(items)} prompts x {args.images} images, read back by encoder-{world}"
            f" ({args.refine_steps} refinement steps); own = the model's scene, reader = read | own right"
        )
        print("| model | " + " | ".join(f"{c} ({counts[c]})" for c in CATEGORIES if counts[c]) + " | overall |")
        print("|---" * (sum(1 for c in CATEGORIES if counts[c]) + 2) + "|")
        for label, row in rows.items():
            cells = []
            for c in [*CATEGORIES, "overall"]:
                if c not in row:
                    cells.append("—") if counts.get(c) or c == "overall" else None
                    continue
                own = row.get(f"{c}_own")
                cells.append(f"{row[c]:.2f}" + (f" (own {own:.2f})" if own is not None else ""))
            print(f"| {label} | " + " | ".join(cells) + " |")
        for anchor, figures in ANCHORS.items():
            print(
                f"| *{anchor}* | "
                + " | ".join(
                    f"{figures[c]:.2f}" if c in figures else ""
                    for c in [*CATEGORIES, "overall"]
                    if counts.get(c) or c == "overall"
                )
                + " |"
            )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
