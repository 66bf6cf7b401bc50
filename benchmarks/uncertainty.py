"""Discriminative vs generative, measured on every layout of the toy world's 2D points.

    python benchmarks/uncertainty.py                 # a table per layout
    python benchmarks/uncertainty.py --json          # ... and one JSON object on the last line
    python benchmarks/uncertainty.py --layouts blobs rings --seeds 0 1 2

For each layout (playground.uncertainty.study.LAYOUTS) and seed: 400 training scenes, 400 held-out test
scenes (an independent stream), and 400 points far from data (uniform on [-6, 6]^2, at least 1 world
unit from every training point). Every discriminative model (logistic regression, MLP, RBF SVM with
Platt probabilities, gradient boosting) and every generative one (per-class Gaussian mixture, kernel
density, RealNVP flow; p(y|x) by Bayes' rule) is fitted and scored:
  * accuracy on the test scenes;
  * AUROC for telling test points from far points: max p(y|x) for a discriminative model (what it
    offers as confidence), log p(x) for a generative one. 0.5 is chance; below 0.5 the model is *more*
    confident far from the data than on it;
  * accuracy when one coordinate is hidden (the mean of "only x seen" and "only y seen"): generative
    models marginalise it, discriminative ones get it imputed with its training mean.

JSON: one object keyed by layout, each with `accuracy`, `auroc_discriminative`, `missing_accuracy_
discriminative` (the MLP: the neural classifier of the lecture), `accuracy_generative`, `auroc_
generative`, `missing_accuracy_generative` (the RealNVP flow: this project's own family), the best and
worst AUROC of each kind, and `models`: every model's figures. Figures are means over --seeds.
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
from playground.uncertainty.study import DISCRIMINATIVE, GENERATIVE, LAYOUTS, run_study  # noqa: E402

HEADLINE = {"discriminative": "mlp", "generative": "flow"}
FIGURES = ("accuracy", "auroc", "accuracy_x_only", "accuracy_y_only", "missing_accuracy")


def measure(layout: str, seeds, n: int) -> dict:
    runs, seconds = [], 0.0
    for seed in seeds:
        start = time.perf_counter()
        runs.append(run_study(layout, n_train=n, n_test=n, n_far=n, seed=seed).scores())
        seconds += time.perf_counter() - start
    models = {
        name: {key: float(np.mean([r[name][key] for r in runs])) for key in FIGURES} | {"kind": runs[0][name]["kind"]}
        for name in runs[0]
    }
    disc, gen = models[HEADLINE["discriminative"]], models[HEADLINE["generative"]]
    by_kind = {kind: [m["auroc"] for m in models.values() if m["kind"] == kind] for kind in HEADLINE}
    return {
        "accuracy": disc["accuracy"],
        "auroc_discriminative": disc["auroc"],
        "missing_accuracy_discriminative": disc["missing_accuracy"],
        "accuracy_generative": gen["accuracy"],
        "auroc_generative": gen["auroc"],
        "missing_accuracy_generative": gen["missing_accuracy"],
        "auroc_discriminative_best": max(by_kind["discriminative"]),
        "auroc_generative_worst": min(by_kind["generative"]),
        "seconds_per_study": seconds / len(seeds),
        "models": models,
    }


def print_table(layout: str, result: dict) -> None:
    names = {**DISCRIMINATIVE, **GENERATIVE}
    print(f"\n{layout}: {LAYOUTS[layout].description}  ({result['seconds_per_study']:.1f} s to fit all models)")
    print(f"  {'model':42s} {'kind':15s} {'accuracy':>8s} {'AUROC':>7s} {'x only':>7s} {'y only':>7s} {'missing':>8s}")
    for name, m in result["models"].items():
        print(
            f"  {names[name]:42s} {m['kind']:15s} {m['accuracy']:8.3f} {m['auroc']:7.3f} "
            f"{m['accuracy_x_only']:7.3f} {m['accuracy_y_only']:7.3f} {m['missing_accuracy']:8.3f}"
        )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=list(LAYOUTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=400, help="training, test and far points per study")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {}
    for layout in args.layouts:
        result[layout] = measure(layout, args.seeds, args.n)
        print_table(layout, result[layout])
    print(
        f"\n  {'layout':12s} {'MLP acc':>8s} {'flow acc':>8s} {'AUROC MLP':>10s} {'AUROC flow':>10s} "
        f"{'best disc':>9s} {'missing MLP':>11s} {'missing flow':>12s}"
    )
    for layout, r in result.items():
        print(
            f"  {layout:12s} {r['accuracy']:8.3f} {r['accuracy_generative']:8.3f} {r['auroc_discriminative']:10.3f} "
            f"{r['auroc_generative']:10.3f} {r['auroc_discriminative_best']:9.3f} "
            f"{r['missing_accuracy_discriminative']:11.3f} {r['missing_accuracy_generative']:12.3f}"
        )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
