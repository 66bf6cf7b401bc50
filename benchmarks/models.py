"""Every shipped model scored on the exact world: likelihood, gap to the true entropy, samples, speed.

    python benchmarks/models.py                 # a table
    python benchmarks/models.py --json          # ... and one JSON object on the last line
    python benchmarks/models.py --only vae gan  # some families
    python benchmarks/models.py --heldout       # only the -split twins on the held-out split
    python benchmarks/models.py --conditional   # only the conditional models
    python benchmarks/models.py --cards         # ... and write the app's model cards (playground/weights/cards.json)
    python benchmarks/models.py --samples-only --cards   # only the draws (what the cards show): no bits, no twins

It trains nothing: it loads `playground/weights/*.safetensors` (see `python -m playground.models.pretrained`).
For each family's unconditional model, on the `exact` world (768 equally likely scenes, H = log2 768):
  * likelihood kind, bits/dim and bits/image over the world's scenes (every `--every`-th: the world
    is uniform, so a regular subset is unbiased), and the gap to the entropy in bits/image, each with
    what it is as a cost (`likelihood_bound`): exact (PixelCNN: the gap is the KL from the truth), an
    upper bound (VAE, flow, diffusion), an estimate (the RBM: log Z by importance sampling over its hidden
    units, with the relative error of Z), or a lower bound (an RBM whose log Z estimate falls below the
    exact floor from the scored images, as AIS from the base rate did); upper and lower bounds are
    printed in separate columns;
  * samples: `--samples` draws (512) for each of `--seeds` (0 1 2), as mean and standard deviation over
    the seeds: validity, the fraction that are a world image (at most 2 of 1,024 pixels off by more
    than 24 levels from the nearest of the 768, `scores.parse_samples`), the fraction that are empty
    (the ground alone: the commonest failure), the median fraction of wrong pixels, and the distinct
    world scenes they hit, as coverage beside the ceiling a perfect sampler reaches with as many draws;
    for the families that also offer their mode image (VAE: the decoder's most likely image; RBM: the
    thresholded p(v | h)), its validity in a separate column (`validity_mode`): not a sample;
  * for the unnormalized EBM, which has no bits, the fraction of its samples it rates above the median
    world image (`scores.samples_above_world`; at most about half for a model that knows the world);
  * sampling speed in ms per image at batch 64 (one call, after a warm-up; diffusion with 100 respaced
    steps, as in the app), and the training minutes recorded in the checkpoint.
On the held-out split (`exact-split`: a hash of each scene holds out 150 of the 768; each family's `-split` model
trains on the other 618 with its shipped recipe): bits/image on the training scenes and on the held-out ones,
their difference (the generalisation gap: about 0 for a model of the world's factors, large for a memoriser),
and draws checked against the whole world: valid, and novel (a held-out scene: valid, and never seen).
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
    draw,
    heldout_scores,
    likelihood_scores,
    sample_ms_per_image,
    sample_scores,
    samples_above_world,
)
from playground.models import pretrained  # noqa: E402
from playground.models.registry import FAMILIES, MODE_FAMILIES  # noqa: E402

# families whose likelihood needs many network passes per image score a subset of the scenes
EVERY = {"vae": 4, "diffusion": 8}
# diffusion samples with 100 respaced steps, as the app does (its time grows linearly with the steps)
SAMPLE_OPTIONS = {"diffusion": {"steps": 100}}
SAMPLES, SEEDS = 512, (0, 1, 2)


def score_family(family: str, every: int | None, samples: int = SAMPLES, seeds=SEEDS, likelihood: bool = True) -> dict:
    return score_model(pretrained.load(family), every, likelihood, samples, seeds)


def score_model(model, every: int | None, likelihood: bool = True, samples: int = SAMPLES, seeds=SEEDS) -> dict:
    """One family's row for any model of it: likelihood (unless `likelihood` is False), samples, speed."""
    family, extra = model.family, getattr(model, "checkpoint_extra", {})
    row = {}
    if likelihood:
        start = time.perf_counter()
        scored = WithOptions(model, LOG_PROB_OPTIONS.get(family, {}))
        row = likelihood_scores(scored, "exact", every or EVERY.get(family, 1))
        row["likelihood_seconds"] = time.perf_counter() - start
        if family == "rbm":  # its log Z with the relative error of Z, how it was estimated, and the exact floor
            row["log_z"], row["log_z_relative_error"] = float(model.log_z), float(model.log_z_stderr)
            row["log_z_draws"] = int(model.log_z_draws)  # 0: AIS from the base rate; n: importance sampling over h
            row["log_z_floor"] = float(model.log_z_floor)
    options = SAMPLE_OPTIONS.get(family, {})
    row.update(sample_scores(model, samples, seeds, binarized=family == "rbm", **options))
    row["validity_mode"] = row["validity_mode_spread"] = None
    if family in MODE_FAMILIES:
        mode = sample_scores(model, samples, seeds, binarized=family == "rbm", mode=True, **options)
        row["validity_mode"], row["validity_mode_spread"] = mode["validity"], mode["validity_spread"]
    if model.likelihood == "unnormalized":  # no bits to print: does it at least rank the world above its samples?
        row["samples_above_world"] = samples_above_world(model, draw(model, 64, seeds[0], **options))
    row["sample_ms_per_image"] = sample_ms_per_image(model, 64, **options)
    row["sample_options"] = options
    row["train_minutes"] = extra.get("seconds", float("nan")) / 60
    row["train_steps"] = extra.get("steps")
    return row


def score_heldout(family: str, every: int | None, samples: int = SAMPLES, seeds=SEEDS) -> dict:
    """The family's `-split` model, trained on exact-split's training scenes, scored on both sides of the split."""
    model = WithOptions(pretrained.load(f"{family}-split"), LOG_PROB_OPTIONS.get(family, {}))
    every = every or EVERY.get(family, 1)  # the held-out side is small (150 scenes): at most every 2nd of it
    options = SAMPLE_OPTIONS.get(family, {})
    return heldout_scores(model, "exact-split", every, samples, seeds, heldout_every=min(every, 2), **options)


def score_conditional(name: str, samples: int = SAMPLES, seeds=SEEDS) -> dict:
    """A shipped conditional model asked for every (shape, colour) and the held-out red cylinder."""
    model = pretrained.load(name)
    return {
        **conditional_faithfulness(model, samples, seeds),
        "train_minutes": model.checkpoint_extra.get("seconds", float("nan")) / 60,
    }


def fmt(value, spec):
    """`value` formatted by `spec`, or a dash as wide as the spec asks."""
    return format("—", f">{spec.split('.')[0]}") if value is None else format(value, spec)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(FAMILIES), help="score only these families")
    parser.add_argument("--every", type=int, default=None, help="score every k-th world scene (default per family)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=SAMPLES, help="draws per seed (1..4096)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="sampling seeds (2 or more)")
    parser.add_argument("--conditional", action="store_true", help="score only the conditional models")
    parser.add_argument("--heldout", action="store_true", help="score only the -split models on the held-out split")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument(
        "--samples-only", action="store_true", help="score only the draws: no likelihood, no held-out twins"
    )
    parser.add_argument(
        "--cards",
        action="store_true",
        help="write each scored model's measured sample quality to playground/weights/cards.json (the app's cards)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 4096:
        parser.error("--samples must be in 1..4096")
    if len(set(args.seeds)) < 2:
        parser.error("--seeds needs at least two different seeds: a spread needs them")
    torch.set_num_threads(args.threads)
    present = set(pretrained.available())
    result: dict = {}
    if args.conditional and args.heldout:
        parser.error("--conditional and --heldout each score only one part; give one of them")
    main_table = not (args.conditional or args.heldout)
    if main_table:
        print(
            f"bits/image as a cost: exact or an upper bound (left), a lower bound or an estimate (right); samples: "
            f"{args.samples} draws x seeds {' '.join(map(str, args.seeds))}, mean ± sd over the seeds"
        )
        print(
            f"{'family':<10} {'bound':<9} {'exact/upper':>11} {'lower/est.':>10} {'gap bits':>9} "
            f"{'valid':>11} {'mode valid':>10} {'coverage (ceiling)':>18} {'empty':>6} {'wrong px':>8} {'ms/img':>7} "
            f"{'train min':>9}"
        )
    for family in args.only or list(FAMILIES) if main_table else []:
        if family not in present:
            print(f"{family:<10} (no shipped weights: python -m playground.models.pretrained {family})")
            continue
        row = result[family] = score_family(family, args.every, args.samples, args.seeds, not args.samples_only)
        bound = row.get("likelihood_bound", "—")
        upper = row.get("bits_per_image") if bound in ("exact", "upper") else None
        lower = row.get("bits_per_image") if bound in ("lower", "estimate") else None
        print(
            f"{family:<10} {bound:<9} {fmt(upper, '11.1f')} {fmt(lower, '10.1f')} "
            f"{fmt(row.get('gap_bits_per_image'), '9.1f')} {row['validity']:5.2f} ± {row['validity_spread']:.2f} "
            f"{fmt(row['validity_mode'], '10.2f')} "
            f"{row['coverage']:9.3f} ({row['coverage_ceiling']:.3f}) {row['empty']:6.2f} "
            f"{row['median_wrong_pixels']:8.2%} {row['sample_ms_per_image']:7.1f} {row['train_minutes']:9.1f}",
            flush=True,
        )
    if result and not args.samples_only:
        print(f"entropy of the exact world: {result[next(iter(result))]['entropy_bits']:.3f} bits/image")
    if "rbm" in result and not args.samples_only:
        r = result["rbm"]
        how = (
            f"importance sampling over h from the training images' posteriors ({r['log_z_draws']:,} draws)"
            if r["log_z_draws"]
            else "AIS from the base rate"
        )
        print(
            f"rbm: log Z {r['log_z']:,.2f} nats by {how}, relative error of Z {r['log_z_relative_error']:.3f}; "
            f"the floor from the scored images, {r['log_z_floor']:,.2f}, is an exact lower bound on log Z"
            + (
                " and lies above the estimate, so the bits are a lower bound on the cost"
                if r["likelihood_bound"] == "lower"
                else ""
            )
        )
    for family, row in result.items():
        if "samples_above_world" in row:
            print(
                f"{family}: {row['samples_above_world']:.0%} of its samples have a higher unnormalized log-density "
                f"than the median world image (a model that knows the world: at most about half)"
            )
    twins = set(pretrained.available(heldout=True))
    split = (
        [f for f in (args.only or list(FAMILIES)) if f"{f}-split" in twins]
        if not (args.conditional or args.samples_only)
        else []
    )
    if split:
        print(
            "\nheld-out split (exact-split: each -split model trains on the 618 training scenes for as many steps as "
            "its twin above; 150 held out): bits/image on the seen and the held-out scenes and their difference; "
            "draws checked against all 768: valid, and novel (a held-out scene, which it never saw)"
        )
        print(
            f"{'family':<10} {'bound':<9} {'seen bits':>9} {'held-out bits':>13} {'gap':>7} {'valid':>11} "
            f"{'novel':>11} {'held-out hit':>12}"
        )
    for family in result:
        result[family]["heldout_bits_per_image"] = None
    for family in split:
        row = result.setdefault(family, {})["heldout"] = score_heldout(family, args.every, args.samples, args.seeds)
        result[family]["heldout_bits_per_image"] = row["heldout_bits_per_image"]
        print(
            f"{family:<10} {row['likelihood_bound']:<9} {fmt(row['train_bits_per_image'], '9.1f')} "
            f"{fmt(row['heldout_bits_per_image'], '13.1f')} {fmt(row['generalisation_gap_bits'], '7.1f')} "
            f"{row['validity']:5.2f} ± {row['validity_spread']:.2f} {row['novel']:5.2f} ± {row['novel_spread']:.2f} "
            f"{row['heldout_scenes_hit']:12.1f}",
            flush=True,
        )
    if split:
        shares = ", ".join(sorted({f"{result[f]['heldout']['heldout_share']:.3f}" for f in split}))
        print(
            f"a sampler of the whole world draws a held-out scene {shares} of the time (the RBM's: bit images no "
            "training scene has); a sampler of the training side alone, never"
        )
    conditional = [
        n
        for n in pretrained.RECIPES
        if pretrained.RECIPES[n].condition != "none"
        and n in present
        and (not args.only or pretrained.RECIPES[n].family in args.only)
        and not args.heldout
    ]
    if conditional:
        print(
            "\nconditional models (exact-holdout; held out: red cylinder): fraction of draws whose nearest "
            "world scene has the asked shape and colour (and colour alone), and fraction valid; about "
            f"{args.samples} draws for the seen classes together and {args.samples} for the held-out one, for each "
            "seed (mean, ± sd over the seeds)"
        )
        print(
            f"{'model':<18} {'seen match':>10} {'seen colour':>11} {'seen valid':>10} "
            f"{'held-out match':>14} {'held-out colour':>15} {'held-out valid':>14}"
        )
        for name in conditional:
            row = result.setdefault("conditional", {})[name] = score_conditional(name, args.samples, args.seeds)
            print(
                f"{name:<18} {row['seen_match']:10.2f} {row['seen_colour_match']:11.2f} "
                f"{row['seen_valid']:5.2f} ± {row['seen_valid_spread']:.2f} {row['held_out_match']:8.2f} ± "
                f"{row['held_out_match_spread']:.2f} {row['held_out_colour_match']:15.2f} "
                f"{row['held_out_valid']:7.2f} ± {row['held_out_valid_spread']:.2f}",
                flush=True,
            )
    if args.cards:
        written = pretrained.write_cards(cards_from(result, args.samples, args.seeds))
        print(f"wrote the cards of {len(written)} models to {pretrained.CARDS}")
    if args.json:
        print(json.dumps(result))
    return result


CARD_KEYS = (
    "validity",
    "validity_spread",
    "validity_mode",
    "coverage",
    "coverage_ceiling",
    "empty",
    "bits_per_image",
    "likelihood_bound",
    "novel",
    "seen_match",
    "seen_valid",
    "held_out_match",
    "held_out_match_spread",
    "held_out_colour_match",
    "held_out_valid",
)


def cards_from(result: dict, samples: int, seeds) -> dict[str, dict]:
    """Model name -> the measured figures its card in the app shows (a subset of this run's rows)."""
    rows = {family: row for family, row in result.items() if family != "conditional"}
    rows.update(result.get("conditional", {}))
    rows.update({f"{family}-split": row["heldout"] for family, row in result.items() if "heldout" in row})
    return {
        name: {"samples": samples, "seeds": list(seeds), **{k: row[k] for k in CARD_KEYS if row.get(k) is not None}}
        for name, row in rows.items()
        if "validity" in row or "seen_match" in row
    }


if __name__ == "__main__":
    main()
