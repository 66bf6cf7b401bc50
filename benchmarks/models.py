"""Every shipped model scored on the exact world: likelihood, gap to the true entropy, samples, speed.

    python benchmarks/models.py                 # a table
    python benchmarks/models.py --json          # ... and one JSON object on the last line
    python benchmarks/models.py --only vae gan  # some families

It trains nothing: it loads `playground/weights/*.safetensors` (see `python -m playground.models.pretrained`).
For each family's unconditional model, on the `exact` world (768 equally likely scenes, H = log2 768):
  * likelihood kind, bits/dim and bits/image over the world's scenes (every `--every`-th: the world
    is uniform, so a regular subset is unbiased), and the gap to the entropy in bits/image: the KL
    from the truth for exact likelihoods, an upper bound on it for bounds, an AIS estimate for the RBM;
  * samples (64, seed 0): validity, the fraction that are a world image (at most 2 of 1,024 pixels off
    by more than 24 levels from the nearest of the 768, `scores.parse_samples`), how many distinct world
    scenes they hit, the fraction that are empty (the ground alone: the commonest failure) and the
    median fraction of wrong pixels against the nearest world image;
  * for the unnormalized EBM, which has no bits, the fraction of its samples it rates above the median
    world image (`scores.samples_above_world`; at most about half for a model that knows the world);
  * sampling speed in ms per image at batch 64 (one call, after a warm-up; diffusion with 100 respaced
    steps, as in the app), and the training minutes recorded in the checkpoint.
For the conditional models (trained on `exact-holdout`, which never shows a red cylinder; asked by
class or by caption): the fraction of samples whose nearest world scene has the asked shape and colour
(and the colour alone), for the combinations seen in training and for the held-out red cylinder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.evaluation.compare import LOG_PROB_OPTIONS  # noqa: E402  (the evaluation's cheaper bounds, shared)
from playground.evaluation.scores import (  # noqa: E402
    WithOptions,
    conditional_faithfulness,
    likelihood_scores,
    parse_samples,
    sample_ms_per_image,
    samples_above_world,
)
from playground.models import pretrained  # noqa: E402
from playground.models.registry import FAMILIES  # noqa: E402

# families whose likelihood needs many network passes per image score a subset of the scenes
EVERY = {"vae": 4, "diffusion": 8}
# diffusion samples with 100 respaced steps, as the app does (its time grows linearly with the steps)
SAMPLE_OPTIONS = {"diffusion": {"steps": 100}}


def score_family(family: str, every: int | None) -> dict:
    return score_model(pretrained.load(family), every)


def score_model(model, every: int | None, likelihood: bool = True) -> dict:
    """One family's row for any model of it: likelihood (unless `likelihood` is False), samples, speed."""
    family, extra = model.family, getattr(model, "checkpoint_extra", {})
    row = {}
    if likelihood:
        start = time.perf_counter()
        scored = WithOptions(model, LOG_PROB_OPTIONS.get(family, {}))
        row = likelihood_scores(scored, "exact", every or EVERY.get(family, 1))
        row["likelihood_seconds"] = time.perf_counter() - start
    options = SAMPLE_OPTIONS.get(family, {})
    samples = model.sample(64, generator=torch.Generator().manual_seed(0), **options)
    parse = parse_samples(samples, binarized=family == "rbm")
    row["validity"] = float(parse.valid.float().mean())
    row["scenes_hit"] = int(parse.index[parse.valid].unique().numel())
    row["empty"] = float(parse.empty.float().mean())
    row["median_wrong_pixels"] = float(parse.wrong.median())
    if model.likelihood == "unnormalized":  # no bits to print: does it at least rank the world above its samples?
        row["samples_above_world"] = samples_above_world(model, samples)
    row["sample_ms_per_image"] = sample_ms_per_image(model, 64, **options)
    row["sample_options"] = options
    row["train_minutes"] = extra.get("seconds", float("nan")) / 60
    row["train_steps"] = extra.get("steps")
    return row


def score_conditional(name: str) -> dict:
    """A shipped conditional model asked for every (shape, colour) and the held-out red cylinder."""
    model = pretrained.load(name)
    return {
        **conditional_faithfulness(model),
        "train_minutes": model.checkpoint_extra.get("seconds", float("nan")) / 60,
    }


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(FAMILIES), help="score only these families")
    parser.add_argument("--every", type=int, default=None, help="score every k-th world scene (default per family)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    present = set(pretrained.available())
    result: dict = {}
    print(
        f"{'family':<10} {'likelihood':<12} {'bits/dim':>9} {'bits/img':>9} {'gap bits':>9} "
        f"{'valid':>6} {'hit':>4} {'empty':>6} {'wrong px':>8} {'ms/img':>8} {'train min':>9}"
    )
    for family in args.only or list(FAMILIES):
        if family not in present:
            print(f"{family:<10} (no shipped weights: python -m playground.models.pretrained {family})")
            continue
        row = result[family] = score_family(family, args.every)
        print(
            f"{family:<10} {row['likelihood_kind']:<12} {fmt(row['bits_per_dim'], '9.4f')} "
            f"{fmt(row['bits_per_image'], '9.1f')} {fmt(row['gap_bits_per_image'], '9.1f')} "
            f"{row['validity']:6.2f} {row['scenes_hit']:4d} {row['empty']:6.2f} {row['median_wrong_pixels']:8.2%} "
            f"{row['sample_ms_per_image']:8.1f} "
            f"{row['train_minutes']:9.1f}",
            flush=True,
        )
    print(f"entropy of the exact world: {result[next(iter(result))]['entropy_bits']:.3f} bits/image" if result else "")
    for family, row in result.items():
        if "samples_above_world" in row:
            print(
                f"{family}: {row['samples_above_world']:.0%} of its samples have a higher unnormalized log-density "
                f"than the median world image (a model that knows the world: at most about half)"
            )
    conditional = [
        n
        for n in pretrained.RECIPES
        if pretrained.RECIPES[n].condition != "none"
        and n in present
        and (not args.only or pretrained.RECIPES[n].family in args.only)
    ]
    if conditional:
        print(
            "\nconditional models (exact-holdout; held out: red cylinder): fraction of samples whose nearest "
            "world scene has the asked shape and colour (and colour alone), and fraction valid"
        )
        print(
            f"{'model':<18} {'seen match':>10} {'seen colour':>11} {'seen valid':>10} "
            f"{'held-out match':>14} {'held-out colour':>15} {'held-out valid':>14}"
        )
        for name in conditional:
            row = result.setdefault("conditional", {})[name] = score_conditional(name)
            print(
                f"{name:<18} {row['seen_match']:10.2f} {row['seen_colour_match']:11.2f} {row['seen_valid']:10.2f} "
                f"{row['held_out_match']:14.2f} {row['held_out_colour_match']:15.2f} {row['held_out_valid']:14.2f}",
                flush=True,
            )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
