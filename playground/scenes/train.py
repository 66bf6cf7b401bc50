"""Train one scene-level model and save it: the loop is the pixel models' (`playground.models.train.fit`).

    python -m playground.scenes.train --family autoregressive --world clevr3d --minutes 3 --out runs/ar
    python -m playground.scenes.train --family autoregressive --world shapes2d-holdout --condition prompt ...

A run draws `n` training scenes from the world's prior (or reads them from rendered pictures,
`--source pixels`), builds the family with its recipe's settings, fits it within the budget and writes
OUT/model.safetensors (weights, config, and the run's world, source, seconds) and OUT/loss.csv.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

from playground.models.checkpoint import save
from playground.models.registry import SCENE_FAMILIES, build
from playground.models.train import MAX_MINUTES, fit, parse_overrides

from .data import SOURCES, SceneData, load_scenes, scene_data

# Each family's recipe: its Config overrides and fit options (chosen on the development seed 0's
# training runs; benchmarks/scene_models.py scores them on fresh scenes).
RECIPES: dict[str, dict] = {
    "autoregressive": {"config": {"dim": 64, "pair_hidden": 16}, "batch_size": 128, "lr": 2e-3},
}
FAMILY_NAMES = tuple(RECIPES)


class SceneRun(NamedTuple):
    model: torch.nn.Module
    data: SceneData
    history: list[dict]
    options: dict


def family_key(family: str) -> str:
    """'autoregressive' or 'scene-autoregressive' -> the registry's name, with a clear error."""
    name = family if family.startswith("scene-") else f"scene-{family}"
    if name not in SCENE_FAMILIES:
        raise ValueError(f"unknown scene family {family!r}; choose one of {', '.join(FAMILY_NAMES)}")
    return name


def train_scenes(
    family: str,
    world: str,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    n: int = 20_000,
    seed: int = 0,
    condition: str = "none",
    source: str = "prior",
    split: str | None = None,
    overrides: dict | None = None,
    callback=None,
    **options,
) -> SceneRun:
    """Draw the training scenes, build a fresh model of `family` for `world` and fit it. A time budget
    covers the whole run, the drawing of scenes included."""
    started = time.monotonic()
    name = family_key(family)
    recipe = RECIPES[name.removeprefix("scene-")]
    model = build(name, **{**recipe["config"], "world": world, "condition": condition, **(overrides or {})})
    torch.manual_seed(seed)
    scenes = load_scenes(world, n, seed, source=source, split=split)
    data = scene_data(
        model.codec, scenes, representation=model.representation, condition=condition, seed=seed, source=source
    )
    fit_options = {"batch_size": recipe["batch_size"], "lr": recipe["lr"]}
    fit_options.update({k: v for k, v in options.items() if v is not None})
    history = fit(
        model, data, steps=steps, minutes=minutes, seed=seed, callback=callback, started=started, **fit_options
    )
    return SceneRun(model, data, history, fit_options)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.scenes.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", required=True, choices=FAMILY_NAMES, help="the scene-level family")
    parser.add_argument("--world", default="shapes2d", help="the world to learn (python -m worlds list)")
    parser.add_argument("--minutes", type=float, default=None, help="a time budget for the whole run")
    parser.add_argument("--steps", type=int, default=None, help="a step budget (the run also stops at --minutes)")
    parser.add_argument("--out", required=True, type=Path, help="the run's directory")
    parser.add_argument("--n", type=int, default=20_000, help="training scenes (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the scenes, prompts, minibatches and model")
    parser.add_argument("--condition", default="none", choices=["none", "prompt"], help="unconditional, or prompts")
    parser.add_argument("--source", default="prior", choices=SOURCES, help="scene descriptions, or read from pixels")
    parser.add_argument("--split", default=None, choices=["all", "train", "test"], help="a held-out split's side")
    parser.add_argument("--batch-size", type=int, default=None, help="scenes per step (default: the recipe's)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a Config field")
    args = parser.parse_args(argv)
    try:
        if args.steps is None and args.minutes is None:
            raise ValueError("give a budget: --steps, --minutes, or both")
        if args.minutes is not None and not 0 < args.minutes <= MAX_MINUTES:
            raise ValueError(f"--minutes must be in (0, {MAX_MINUTES}], got {args.minutes}")
        if args.threads is not None:
            if not 1 <= args.threads <= 256:
                raise ValueError(f"--threads must be in 1..256, got {args.threads}")
            torch.set_num_threads(args.threads)
        run = train_scenes(
            args.family,
            args.world,
            steps=args.steps,
            minutes=args.minutes,
            n=args.n,
            seed=args.seed,
            condition=args.condition,
            source=args.source,
            split=args.split,
            overrides=parse_overrides(args.set),
            batch_size=args.batch_size,
            lr=args.lr,
        )
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "loss.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=sorted({k for r in run.history for k in r}))
            writer.writeheader()
            writer.writerows(run.history)
        seconds = run.history[-1]["seconds"]
        extra = {
            "world": args.world,
            "source": args.source,
            "split": args.split,
            "n": args.n,
            "seed": args.seed,
            "steps": len(run.history),
            "seconds": round(seconds, 1),
            **run.options,
        }
        path = save(run.model, args.out / "model.safetensors", extra=extra)
        print(
            f"trained scene-{args.family} on {args.world} for {len(run.history)} steps ({seconds:.0f} s); wrote {path}"
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
