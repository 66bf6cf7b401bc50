"""Adversarial noise measured: how little noise flips the shipped shape classifier, and whether the
likelihood models notice.

    python benchmarks/adversarial.py                  # all 768 exact-world images, a table
    python benchmarks/adversarial.py --json           # ... and one JSON object on the last line
    python benchmarks/adversarial.py --n 128 --threads 1

On the exact world's images (all 768, or --n of them, evenly spaced over its scene order) with the
shipped `classifier-exact` (or --model PATH):
  * clean accuracy, and accuracy under FGSM and PGD (10 steps from the clean image, step 2.5 eps / 10)
    at eps in {1, 2, 4, 8, 16} grey levels, the attacks aimed at the true shape;
  * the median smallest eps in 1..64 that changes the classifier's answer (FGSM, PGD); images that no
    eps flips count as infinitely far (the median is then null in JSON if more than half are), and
    their fraction is reported;
  * the likelihood check at --likelihood-eps (PGD): mean bits/dim of the clean and attacked images
    under the shipped PixelCNN (exact likelihood) and flow (dequantized bound), and the fraction of
    attacked images whose probability under the true world is 0 (no scene renders to them);
  * milliseconds per image of PGD (10 steps, batches of 64), averaged over the five eps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.models import pretrained  # noqa: E402
from playground.models.checkpoint import load  # noqa: E402
from playground.models.data import scene_labels  # noqa: E402
from playground.uncertainty.adversarial import exact_world, fgsm, likelihood_check, pgd, smallest_flip  # noqa: E402

EPS = (1, 2, 4, 8, 16)
MAX_FLIP_EPS = 64
PGD_STEPS = 10
BATCH = 64


def median_flip(found: torch.Tensor) -> float | None:
    """Median of the smallest flipping eps, a never-flipped image (0) counting as infinity; None if infinite."""
    eps = np.where(found.numpy() > 0, found.numpy(), np.inf)
    median = float(np.median(eps))
    return median if np.isfinite(median) else None


def evaluate(model, n: int, likelihood_eps: int) -> dict:
    world = exact_world()
    pick = np.linspace(0, world.num_scenes - 1, n).round().astype(int)
    images = torch.from_numpy(world.images[pick]).permute(0, 3, 1, 2).contiguous()  # (n, 3, 32, 32) uint8
    targets = scene_labels([world.scenes[i] for i in pick])[:, 0]  # (n,) shape index
    right = {key: 0 for key in ["clean"] + [f"{m}-{e}" for m in ("fgsm", "pgd") for e in EPS]}
    found = {"fgsm": [], "pgd": []}
    attacked, pgd_seconds = [], 0.0
    for k in range(0, n, BATCH):  # batches of 64: faster per image than one batch of 768
        x, labels = images[k : k + BATCH], targets[k : k + BATCH]
        correct = lambda batch: int((model.predict(batch) == labels).sum())
        right["clean"] += correct(x)
        for eps in EPS:
            right[f"fgsm-{eps}"] += correct(fgsm(model, x, labels, eps))
            start = time.perf_counter()
            x_adv = pgd(model, x, labels, eps, steps=PGD_STEPS)
            pgd_seconds += time.perf_counter() - start
            right[f"pgd-{eps}"] += correct(x_adv)
            if eps == likelihood_eps:
                attacked.append(x_adv)
        if likelihood_eps not in EPS:
            attacked.append(pgd(model, x, labels, likelihood_eps, steps=PGD_STEPS))
        for method in found:
            found[method].append(smallest_flip(model, x, labels, method=method, max_eps=MAX_FLIP_EPS, steps=PGD_STEPS))
    result = {
        "n": n,
        "clean_accuracy": right["clean"] / n,
        "fgsm_accuracy": {str(e): right[f"fgsm-{e}"] / n for e in EPS},
        "pgd_accuracy": {str(e): right[f"pgd-{e}"] / n for e in EPS},
        "ms_per_image_pgd": 1000 * pgd_seconds / (n * len(EPS)),
    }
    for method, parts in found.items():
        flips = torch.cat(parts)
        result[f"median_flip_eps_{method}"] = median_flip(flips)
        result[f"never_flip_fraction_{method}"] = float((flips == 0).float().mean())
    check = likelihood_check(images, torch.cat(attacked))
    world_change = check.pop("world")
    result["likelihood_eps"] = likelihood_eps
    result["likelihood"] = {
        name: {
            "kind": c.kind,
            "clean_bits_per_dim": float(c.before.mean()),
            "adversarial_bits_per_dim": float(c.after.mean()),
        }
        for name, c in check.items()
    }
    result["world_probability_zero_fraction"] = float(np.isinf(world_change.after).mean())
    result["world_clean_bits_per_dim"] = float(world_change.before.mean())
    return result


def print_table(r: dict) -> None:
    print(f"== classifier-exact on {r['n']} exact-world images: clean accuracy {r['clean_accuracy']:.3f}")
    print(f"{'eps (grey levels)':<20}" + "".join(f"{e:>8}" for e in r["fgsm_accuracy"]))
    for method in ("fgsm", "pgd"):
        print(f"{method.upper() + ' accuracy':<20}" + "".join(f"{a:8.3f}" for a in r[f"{method}_accuracy"].values()))
    for method in ("fgsm", "pgd"):
        median = r[f"median_flip_eps_{method}"]
        median = f"> {MAX_FLIP_EPS}" if median is None else f"{median:g}"
        print(
            f"smallest flipping eps, {method.upper()}: median {median}; "
            f"no eps <= {MAX_FLIP_EPS} flips {100 * r[f'never_flip_fraction_{method}']:.1f}% of the images"
        )
    print(f"does a likelihood model notice? PGD at eps {r['likelihood_eps']}, mean bits/dim:")
    print(f"{'model':<10} {'kind':<6} {'clean':>9} {'attacked':>10}")
    for name, v in r["likelihood"].items():
        print(f"{name:<10} {v['kind']:<6} {v['clean_bits_per_dim']:9.3f} {v['adversarial_bits_per_dim']:10.3f}")
    print(
        f"{'world':<10} {'exact':<6} {r['world_clean_bits_per_dim']:9.3f} {'inf':>10}   "
        f"(probability 0 for {100 * r['world_probability_zero_fraction']:.1f}% of the attacked images)"
    )
    print(f"time: PGD ({PGD_STEPS} steps, batch {BATCH}) {r['ms_per_image_pgd']:.2f} ms/image")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=768, help="exact-world images (1..768)")
    parser.add_argument("--model", type=Path, default=None, help="a classifier checkpoint (default: the shipped one)")
    parser.add_argument(
        "--likelihood-eps", type=int, default=4, help="eps of the PGD images the likelihood check scores"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 768:
        parser.error("--n must be in 1..768")
    if not 1 <= args.likelihood_eps <= 255:
        parser.error("--likelihood-eps must be in 1..255")
    model = load(args.model) if args.model else pretrained.load("classifier-exact")
    _ = exact_world().images  # render first: the renderer's thread pool resets torch's threads
    torch.set_num_threads(args.threads)
    result = evaluate(model, args.n, args.likelihood_eps)
    print_table(result)
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
