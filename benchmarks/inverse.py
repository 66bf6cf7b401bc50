"""Inverse graphics measured: the shipped encoders read fresh scenes, before and after refinement.

    python benchmarks/inverse.py                  # both worlds, a table each
    python benchmarks/inverse.py --json           # ... and one JSON object on the last line
    python benchmarks/inverse.py --worlds shapes2d --n 100
    python benchmarks/inverse.py --split dev      # the development scenes, where settings are chosen

Scenes never seen in training (the encoders train on seed 0) come from two seeds: the development seed
1000, on which every setting of the encoder and of refinement was chosen, and the test seed 2000, used
to choose nothing; the test seed's figures are the headline (`--split both` prints the two side by
side). For each world (`shapes2d`, `clevr3d`), with the shipped encoder `encoder-WORLD` (or
`--model-WORLD PATH`):
  * count accuracy (the answer has exactly the true number of objects), per-attribute accuracy over
    objects matched by position (Hungarian), mean position error in world units and in pixels;
  * re-render RMSE / PSNR / IoU of the answer;
  * Slot Attention's set-prediction AP at d in {inf, 1, 0.5, 0.25, 0.125} scene units
    (playground.inverse.metrics.average_precision), from the encoder alone (`ap_slot_attention`) and after
    `--refine-steps` of analysis by synthesis (`ap_slot_attention_refined`), beside the paper's CLEVR figures;
  * milliseconds per image: the encoder at batch 64, and refinement per image;
  * per object count: count accuracy and AP@0.5 (refined);
  * robustness: the encoder's count accuracy, attribute accuracy and AP@0.5 on the same scenes
    rendered at other sizes and resized, saved as RGBA / grayscale / palette PNG, JPEG-compressed,
    and with mild Gaussian noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.inverse.encoder import confident_objects, doubtful_objects, prepare_image  # noqa: E402
from playground.inverse.metrics import (  # noqa: E402
    AP_THRESHOLDS,
    SLOT_ATTENTION_CLEVR,
    attributes,
    average_precision,
    match_scenes,
)
from playground.inverse.refine import image_error, refine  # noqa: E402
from playground.models import pretrained  # noqa: E402
from playground.models.checkpoint import load  # noqa: E402
from worlds import Scene, get_world, render, sample_scenes  # noqa: E402
from worlds.scene import SLOT_LAYOUT  # noqa: E402

WORLDS = ("shapes2d", "clevr3d")
SEEDS = {"dev": 1000, "test": 2000}  # dev: where settings were chosen; test: used to choose nothing
ATTRIBUTE_NAMES = ("shape", "color", "size", "material")
POSITION = (SLOT_LAYOUT["position"].start, SLOT_LAYOUT["position"].stop)


def ap_key(d: float) -> str:
    return "inf" if math.isinf(d) else f"{d:g}"


def read(encoder, images: np.ndarray, slots: dict | None = None) -> list:
    """(scene, [(confidence, object)], doubtful objects) per uint8 (B, S, S, 3) image; `slots` gets each
    image's (confidence, x, y) of every slot with confidence >= 0.02 (the doubtful ones included)."""
    out = []
    slots = {} if slots is None else slots
    settings = encoder.scene_settings()
    for k in range(0, len(images), 64):
        x = torch.from_numpy(images[k : k + 64]).permute(0, 3, 1, 2).contiguous()
        vectors = encoder.predict_vectors(x)
        for v, sure, doubtful in zip(
            vectors, confident_objects(vectors, settings), doubtful_objects(vectors, settings)
        ):
            out.append((Scene([o for _, o in sure], **settings), sure, doubtful))
            slots[len(out) - 1] = v[v[:, 0] >= 0.02][:, [0, *range(*POSITION)]]  # (confidence, x, y) per slot
    return out


def refined_confidences(answers: list, slots: dict) -> list:
    """A refined object's confidence is that of the encoder slot nearest to it (refinement moves objects
    a little, drops some and adds doubtful ones)."""
    out = []
    for b, answer in enumerate(answers):
        table = slots[b]
        out.append(
            [
                float(table[np.argmin(np.linalg.norm(table[:, 1:] - np.asarray(o.position), axis=1)), 0])
                for o in answer.objects
            ]
        )
    return out


def score(answers: list, truths: list, confidences: list | None = None) -> dict:
    """Count, attribute and position accuracy of answers; `ap_of` pairs each answer's objects with their
    confidences (the encoder's present probabilities; refinement keeps objects in order)."""
    counts = [len(a.objects) == len(t.objects) for a, t in zip(answers, truths)]
    right = {name: [] for name in ATTRIBUTE_NAMES}
    errors = []
    for a, t in zip(answers, truths):
        for i, j in match_scenes(a, t):
            for name, x, y in zip(ATTRIBUTE_NAMES, attributes(a.objects[i]), attributes(t.objects[j])):
                right[name].append(x == y)
            errors.append(float(np.linalg.norm(np.subtract(a.objects[i].position, t.objects[j].position))))
    attr = {name: float(np.mean(v)) if v else 0.0 for name, v in right.items()}
    row = {
        "count_acc": float(np.mean(counts)),
        "attr_acc": float(np.mean([attr[n] for n in ATTRIBUTE_NAMES])),
        "attr_acc_each": attr,
        "position_error": float(np.mean(errors)) if errors else None,
    }
    confidences = confidences or [[1.0] * len(a.objects) for a in answers]
    row["ap_of"] = [list(zip(c, a.objects)) for c, a in zip(confidences, answers)]
    return row


def pixel_error(encoder, answers: list, truths: list) -> float | None:
    """Mean distance in pixels between where matched predicted and true objects appear in the image
    (their centres through the view's camera: a scaling in 2D, a perspective projection in 3D)."""
    pairs = [(a.objects[i], t.objects[j]) for a, t in zip(answers, truths) for i, j in match_scenes(a, t)]
    if not pairs:
        return None
    settings = encoder.scene_settings()

    def centres(objects) -> np.ndarray:  # (N, 2) pixel centres, one object per row
        vectors = np.stack([Scene([o], **settings).to_vector(1)[0] for o in objects])
        return encoder.image_centres(torch.from_numpy(vectors)).numpy()

    a, t = centres([p[0] for p in pairs]), centres([p[1] for p in pairs])
    return float(np.linalg.norm(a - t, axis=1).mean())


def ap_table(predictions, truths) -> dict:
    """Slot Attention's AP at its five thresholds (scene units), keyed "inf", "1", "0.5", "0.25", "0.125"."""
    return {ap_key(d): average_precision(predictions, truths, d) for d in AP_THRESHOLDS}


def degrade(images: np.ndarray, scenes, how: str, size: int, background) -> np.ndarray:
    """The same scenes as the encoder would get them from a user."""
    out = []
    if how.startswith("resize"):
        other = int(how.split("-")[1])
        sized = [dataclasses.replace(s, image_size=(other, other)) for s in scenes]
        return np.stack([prepare_image(im, size, background) for im in render(sized)])
    rng = np.random.default_rng(0)
    for im in images:
        pil = Image.fromarray(im)
        if how == "rgba":
            arr = np.concatenate([im, np.full(im.shape[:2] + (1,), 255, np.uint8)], -1)
            buf = io.BytesIO()
            Image.fromarray(arr, "RGBA").save(buf, "PNG")
            pil = Image.open(io.BytesIO(buf.getvalue()))
        elif how == "grayscale":
            buf = io.BytesIO()
            pil.convert("L").save(buf, "PNG")
            pil = Image.open(io.BytesIO(buf.getvalue()))
        elif how == "palette":
            buf = io.BytesIO()
            pil.convert("P", palette=Image.ADAPTIVE, colors=64).save(buf, "PNG")
            pil = Image.open(io.BytesIO(buf.getvalue()))
        elif how == "jpeg":
            buf = io.BytesIO()
            pil.save(buf, "JPEG", quality=75)
            pil = Image.open(io.BytesIO(buf.getvalue()))
        elif how == "noise":
            pil = np.clip(im + rng.normal(0, 5.0, im.shape), 0, 255).astype(np.uint8)
        out.append(prepare_image(pil, size, background))
    return np.stack(out)


def evaluate(world_name: str, encoder, n: int, refine_steps: int, robustness: bool, seed: int) -> dict:
    world = get_world(world_name).replace(image_size=encoder.config.image_size)
    scenes = sample_scenes(world, seed, n)
    images = render(scenes)
    start = time.perf_counter()
    read(encoder, images[:64])
    encoder_ms = 1000 * (time.perf_counter() - start) / min(64, n)
    slots: dict = {}
    readings = read(encoder, images, slots)
    answers = [a for a, _, _ in readings]
    confidences = [[c for c, _ in p] for _, p, _ in readings]
    base = score(answers, scenes, confidences)
    result = {
        "seed": seed,
        "n": n,
        "count_acc": base["count_acc"],
        "attr_acc": base["attr_acc"],
        "attr_acc_each": base["attr_acc_each"],
        "position_error": base["position_error"],
        "ap_slot_attention": ap_table(base["ap_of"], scenes),
        "ms_per_image": encoder_ms,
    }
    start = time.perf_counter()
    refined = (
        [refine(a, im, steps=refine_steps, candidates=doubtful)[0] for (a, _, doubtful), im in zip(readings, images)]
        if refine_steps
        else answers
    )
    result["refine_ms_per_image"] = 1000 * (time.perf_counter() - start) / n
    after = score(refined, scenes, refined_confidences(refined, slots))
    result.update(
        {
            "count_acc_refined": after["count_acc"],
            "attr_acc_refined": after["attr_acc"],
            "attr_acc_each_refined": after["attr_acc_each"],
            "position_error_refined": after["position_error"],
            "ap_slot_attention_refined": ap_table(after["ap_of"], scenes),
        }
    )
    result["position_error_px"] = pixel_error(encoder, answers, scenes)
    result["position_error_refined_px"] = pixel_error(encoder, refined, scenes)
    errs = [image_error(r, im, world.background) for r, im in zip(render(refined), images)]
    result["rerender"] = {k: float(np.mean([e[k] for e in errs])) for k in ("rmse", "psnr", "iou")}
    per_count = {}
    for count in range(world.num_objects[0], world.num_objects[1] + 1):
        idx = [i for i, s in enumerate(scenes) if len(s.objects) == count]
        if idx:
            per_count[str(count)] = {
                "n": len(idx),
                "count_acc": float(np.mean([len(refined[i].objects) == count for i in idx])),
                "ap_refined@0.5": average_precision([after["ap_of"][i] for i in idx], [scenes[i] for i in idx], 0.5),
            }
    result["per_count"] = per_count
    if robustness:
        result["robustness"] = {}
        for how in ("resize-128", "resize-48", "rgba", "grayscale", "palette", "jpeg", "noise"):
            degraded = degrade(images, scenes, how, encoder.config.image_size, world.background)
            r = read(encoder, degraded)
            s = score([a for a, _, _ in r], scenes)
            result["robustness"][how] = {
                "count_acc": s["count_acc"],
                "attr_acc": s["attr_acc"],
                "ap@0.5": average_precision([p for _, p, _ in r], scenes, 0.5),
            }
    return result


def print_world(name: str, r: dict) -> None:
    split = "test" if r["seed"] == SEEDS["test"] else "development"
    print(f"\n== {name}: {r['n']} fresh scenes ({split} seed {r['seed']})")
    print(f"{'':<22} {'encoder':>9} {'refined':>9}")
    print(f"{'count accuracy':<22} {r['count_acc']:9.3f} {r['count_acc_refined']:9.3f}")
    print(f"{'attribute accuracy':<22} {r['attr_acc']:9.3f} {r['attr_acc_refined']:9.3f}")
    for k in r["attr_acc_each"]:
        print(f"{'  ' + k:<22} {r['attr_acc_each'][k]:9.3f} {r['attr_acc_each_refined'][k]:9.3f}")
    print(f"{'position error (units)':<22} {r['position_error']:9.4f} {r['position_error_refined']:9.4f}")
    if "position_error_px" in r:
        print(f"{'position error (px)':<22} {r['position_error_px']:9.3f} {r['position_error_refined_px']:9.3f}")
    print(f"{'AP, scene units':<22} {'':>9} {'':>9} {'paper, CLEVR':>12}")
    for d, paper in zip(r["ap_slot_attention"], SLOT_ATTENTION_CLEVR.values()):
        ours = r["ap_slot_attention"][d], r["ap_slot_attention_refined"][d]
        print(f"{'  AP@' + d:<22} {ours[0]:9.3f} {ours[1]:9.3f} {paper:12.3f}")
    print(
        f"re-render (refined): RMSE {r['rerender']['rmse']:.2f} levels, PSNR {r['rerender']['psnr']:.1f} dB, "
        f"IoU {r['rerender']['iou']:.3f}"
    )
    print(
        f"time: encoder {r['ms_per_image']:.1f} ms/image (batch 64), refinement {r['refine_ms_per_image']:.0f} ms/image"
    )
    print(
        "per object count: "
        + "  ".join(
            f"{c}: n={v['n']} count {v['count_acc']:.2f} AP@0.5 {v['ap_refined@0.5']:.2f}"
            for c, v in r["per_count"].items()
        )
    )
    if "robustness" in r:
        print(f"{'input':<12} {'count':>7} {'attrs':>7} {'AP@0.5':>8}   (encoder alone)")
        for how, v in r["robustness"].items():
            print(f"{how:<12} {v['count_acc']:7.3f} {v['attr_acc']:7.3f} {v['ap@0.5']:8.3f}")


def headline_split(run: dict) -> str:
    return "test" if run["seed"] == SEEDS["test"] else "dev"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="+", choices=WORLDS, default=list(WORLDS))
    parser.add_argument("--n", type=int, default=200, help="fresh scenes per world (1..5000)")
    parser.add_argument("--refine-steps", type=int, default=40)
    parser.add_argument("--model-shapes2d", type=Path, default=None)
    parser.add_argument("--model-clevr3d", type=Path, default=None)
    parser.add_argument("--no-robustness", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--split",
        choices=("test", "dev", "both"),
        default="test",
        help="the test seed (the headline), the development seed, or both",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 5000:
        parser.error("--n must be in 1..5000")
    result = {}
    for name in args.worlds:
        path = getattr(args, f"model_{name}")
        encoder = load(path) if path else pretrained.load(f"encoder-{name}")
        torch.set_num_threads(args.threads)
        splits = ("dev", "test") if args.split == "both" else (args.split,)
        runs = {}
        for split in splits:
            runs[split] = evaluate(name, encoder, args.n, args.refine_steps, not args.no_robustness, SEEDS[split])
            print_world(name, runs[split])
        headline = runs.get("test", runs[splits[0]])
        result[name] = {f"{headline_split(headline)}_seed": headline["seed"], **headline}
        if args.split == "both":
            result[name]["dev"] = runs["dev"]
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
