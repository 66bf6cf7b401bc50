"""What more minutes buy: a shipped recipe trained past its budget, with its snapshots scored.

    python benchmarks/budget.py diffusion --steps 4707 9414 18828            # snapshots at these steps
    python benchmarks/budget.py gan --minutes 8 16 32 --out runs/gan-budget   # ... or after these minutes
    python benchmarks/budget.py pixelcnn --steps 887 1774 --set context=true --json   # a changed recipe
    python benchmarks/budget.py diffusion --steps 7000 --set min_snr=20 --lr 2e-3   # ... and its rate
    python benchmarks/budget.py rbm --steps 3000 12000 --schedule cosine   # a decaying rate (step marks only)
    python benchmarks/budget.py pixelcnn --minutes 5 10 --precision bfloat16 --threads 2   # mixed precision

It trains the recipe as `python -m playground.models.pretrained NAME` does (the same world, batch size, learning
rate, schedule, precision, config and seed 0, unless `--set`, `--batch-size`, `--lr`, `--schedule` or
`--precision` change them; a snapshot at step N holds
the bytes `fit` gives after N steps, so the one at the recipe's own step count is a rerun of the shipped
model, equal to it up to float rounding, which training
amplifies) and saves a snapshot at every mark. After training, the family's
finishing step (the VAE's fitted prior) runs on each snapshot, off the clock of the marks. Each is then
scored as `benchmarks/models.py` scores the shipped model: bits/dim on the exact world, and the samples'
validity, scenes hit, emptiness and wrong pixels; a conditional recipe by its faithfulness to the asked
(shape, colour), seen and held out.
Marks in steps are reproducible; marks in minutes depend on the machine and on what else it runs.
With `--json` the last line is one JSON object: {"recipe", "set", "batch_size", "lr", "schedule", "precision", "threads",
"snapshots": [{"steps", "minutes", "bits_per_dim", "validity", "scenes_hit", "empty", "median_wrong_pixels", ...}]}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import SAMPLE_OPTIONS, fmt, score_model  # noqa: E402  (the shipped models' scores, shared)

from playground.evaluation.scores import conditional_faithfulness  # noqa: E402
from playground.models.checkpoint import load, save  # noqa: E402
from playground.models.data import load_world  # noqa: E402
from playground.models.pretrained import RECIPES  # noqa: E402
from playground.models.protocol import channels_last  # noqa: E402
from playground.models.train import (  # noqa: E402
    MAX_BATCH,
    MAX_MINUTES,
    MAX_STEPS,
    PRECISIONS,
    SCHEDULES,
    finish,
    fit,
    flushed_denormals,
    parse_overrides,
)
from worlds.images import image_grid  # noqa: E402

MAX_MARKS = 16


class _Done(Exception):
    """Raised by the progress callback once the last snapshot is written."""


def changed_recipe(
    name: str,
    batch_size: int | None = None,
    lr: float | None = None,
    schedule: str | None = None,
    precision: str | None = None,
):
    """Recipe `name` with its batch size, learning rate, schedule and precision replaced where given
    (checked first)."""
    recipe = RECIPES[name]
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if batch_size is not None and not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be in 1..{MAX_BATCH}, got {batch_size}")
    if lr is not None and not 0 < lr <= 1:  # also refuses nan
        raise ValueError(f"learning rate must be in (0, 1], got {lr}")
    return replace(
        recipe,
        batch_size=batch_size or recipe.batch_size,
        lr=lr or recipe.lr,
        schedule=schedule or recipe.schedule,
        precision=precision or recipe.precision,
    )


def train_with_snapshots(
    name: str,
    *,
    steps: list[int] | None = None,
    minutes: list[float] | None = None,
    out: Path,
    threads: int = 1,
    overrides: dict | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    schedule: str | None = None,
    precision: str | None = None,
    n: int | None = None,
) -> list[Path]:
    """Train recipe `name` (its config updated by `overrides`, its batch size, learning rate,
    schedule and precision by `batch_size`, `lr`, `schedule` and `precision` where given), writing `out/step{N}.safetensors`
    when each mark is passed; returns the paths. A decaying schedule decays to the last mark, given in steps.
    `n`: the number of world scenes trained on (default: the recipe's; the tests train on a few)."""
    if (steps is None) == (minutes is None):
        raise ValueError("give the marks either as steps or as minutes (one of the two)")
    marks = sorted(set(steps if steps is not None else minutes))
    if not 1 <= len(marks) <= MAX_MARKS:
        raise ValueError(f"give 1..{MAX_MARKS} marks, got {len(marks)}")
    if steps is not None and not 1 <= marks[0] <= marks[-1] <= MAX_STEPS:
        raise ValueError(f"steps must be in 1..{MAX_STEPS}, got {marks}")
    if minutes is not None and not 0 < marks[0] <= marks[-1] <= MAX_MINUTES:
        raise ValueError(f"minutes must be in (0, {MAX_MINUTES}], got {marks}")
    recipe = changed_recipe(name, batch_size, lr, schedule, precision)
    if minutes is not None and recipe.schedule != "constant":
        raise ValueError("a decaying schedule ends at the last mark: give the marks as --steps")
    data = load_world(recipe.world, recipe.n if n is None else n, 0)
    torch.set_num_threads(threads)  # after load_world: the renderer's thread pool resets it
    torch.manual_seed(0)  # as playground.models.train does before building
    model = recipe.build(data.images.shape[-1], **(overrides or {}))
    pending, written = list(marks), []

    def snapshot(step, record):  # the weights only: the finishing step runs after training
        path = out / f"step{step}.safetensors"
        save(model, path, extra={"world": recipe.world, "steps": step, "seconds": round(record["seconds"], 1)})
        written.append(path)

    def callback(step, total, record):
        passed = step if steps is not None else record["seconds"] / 60
        if pending and passed >= pending[0]:
            while pending and passed >= pending[0]:  # one snapshot, however many marks the step passed
                pending.pop(0)
            snapshot(step, record)
            print(f"  snapshot at step {step} ({record['seconds'] / 60:.1f} min)", flush=True)
            if not pending:
                raise _Done

    try:
        fit(
            model,
            data,
            steps=marks[-1] if steps is not None else None,
            minutes=marks[-1] + 1.0 if minutes is not None else None,  # the callback stops it at the mark
            seed=0,
            callback=callback,
            **recipe.fit_options,
        )
    except _Done:
        pass
    for path in written:  # e.g. the VAE fitting its prior, as fit() does after the last step
        snap = load(path)
        seconds = finish(snap, data.images, data.condition(recipe.condition), seed=0)
        if seconds is not None:
            extra = snap.checkpoint_extra
            save(snap, path, extra={**extra, "seconds": round(extra["seconds"] + seconds, 1)})
    return written


def score_snapshot(path: Path, conditional: bool, likelihood: bool) -> dict:
    model = load(path)
    row = conditional_faithfulness(model) if conditional else score_model(model, None, likelihood)
    return {**row, "steps": model.checkpoint_extra["steps"], "minutes": model.checkpoint_extra["seconds"] / 60}


def snapshot_grid(paths: list[Path], columns: int = 8) -> np.ndarray:
    """One row of `columns` samples (seed 0, the benchmark's sampling options) per unconditional snapshot."""
    rows = []
    for path in paths:
        model = load(path)
        with torch.no_grad():
            rows.append(
                model.sample(
                    columns, generator=torch.Generator().manual_seed(0), **SAMPLE_OPTIONS.get(model.family, {})
                )
            )
    return image_grid(channels_last(torch.cat(rows)), columns, scale=3)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", choices=sorted(RECIPES), help="a shipped generative recipe")
    marks = parser.add_mutually_exclusive_group(required=True)
    marks.add_argument("--steps", type=int, nargs="+", help="snapshot after these steps")
    marks.add_argument("--minutes", type=float, nargs="+", help="snapshot after these minutes of training")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the recipes used 1 or 2)")
    parser.add_argument("--out", type=Path, default=None, help="keep the snapshots here (default: a temp dir)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a field of the recipe's config (JSON value), as in playground.models.train",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="change the recipe's batch size")
    parser.add_argument("--lr", type=float, default=None, help="change the recipe's learning rate")
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="change the recipe's learning-rate schedule (a decay ends at the last mark)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="change the recipe's training arithmetic (bfloat16: mixed precision)",
    )
    parser.add_argument(
        "--grid",
        type=Path,
        default=None,
        metavar="PNG",
        help="also draw 8 samples (seed 0) of every snapshot, a row each (unconditional recipes)",
    )
    parser.add_argument("--no-likelihood", action="store_true", help="score samples only (faster)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.threads <= 256:
        parser.error(f"--threads must be in 1..256, got {args.threads}")
    conditional = RECIPES[args.recipe].condition != "none"
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        print(f"training {args.recipe} ({args.threads} thread(s)), snapshots in {out}")
        try:
            with flushed_denormals():  # as the training CLI: denormals slow a CPU's arithmetic
                paths = train_with_snapshots(
                    args.recipe,
                    steps=args.steps,
                    minutes=args.minutes,
                    out=out,
                    threads=args.threads,
                    overrides=parse_overrides(args.set),
                    batch_size=args.batch_size,
                    lr=args.lr,
                    schedule=args.schedule,
                    precision=args.precision,
                )
        except ValueError as err:
            parser.error(str(err))
        rows = [score_snapshot(p, conditional, not args.no_likelihood) for p in paths]
        if args.grid and not conditional:
            args.grid.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(snapshot_grid(paths)).save(args.grid, optimize=True)
            print(f"wrote {args.grid}")
    if conditional:
        print(
            f"{'steps':>7} {'minutes':>7} {'seen match':>10} {'seen colour':>11} {'seen valid':>10} "
            f"{'held-out match':>14} {'held-out colour':>15}"
        )
        for r in rows:
            print(
                f"{r['steps']:7d} {r['minutes']:7.1f} {r['seen_match']:10.2f} {r['seen_colour_match']:11.2f} "
                f"{r['seen_valid']:10.2f} {r['held_out_match']:14.2f} {r['held_out_colour_match']:15.2f}"
            )
    else:
        print(f"{'steps':>7} {'minutes':>7} {'bits/dim':>9} {'valid':>6} {'hit':>4} {'empty':>6} {'wrong px':>8}")
        for r in rows:
            print(
                f"{r['steps']:7d} {r['minutes']:7.1f} {fmt(r.get('bits_per_dim'), '.4f'):>9} {r['validity']:6.2f} "
                f"{r['scenes_hit']:4d} {r['empty']:6.2f} {r['median_wrong_pixels']:8.2%}"
            )
    recipe = changed_recipe(args.recipe, args.batch_size, args.lr, args.schedule, args.precision)
    result = {
        "recipe": args.recipe,
        "set": args.set,
        "batch_size": recipe.batch_size,
        "lr": recipe.lr,
        "schedule": recipe.schedule,
        "precision": recipe.precision,
        "threads": args.threads,
        "snapshots": rows,
    }
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
