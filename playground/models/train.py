"""One training loop for every family; it only needs `model.train_step` (by default: loss, backward, step).

    history = fit(model, data, steps=500, batch_size=64, lr=1e-3, seed=0)

The loop runs until a step budget or a time budget is spent, whichever comes first, calls
`callback(step, total, record)` after every step (progress bars, live plots, cancel by
raising), then `model.finish_training(images, condition, generator)` if the family has one (its
time goes into the last record as `finish_seconds`). It is seeded: minibatches come from a
`torch.Generator`, and the global torch RNG (which losses use for their noise) is seeded inside
`torch.random.fork_rng`, so the caller's random state is untouched and the same seed gives the same run.

CLI:  python -m playground.models.train --model vae --world exact --minutes 5 --out runs/vae
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

from .checkpoint import save
from .data import WorldData, load_world
from .registry import ENCODERS, FAMILIES, build

MAX_STEPS = 1_000_000
MAX_MINUTES = 24 * 60
MAX_BATCH = 4096
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("float32", "bfloat16")
WARMUP = 0.02  # fraction of the budget over which the learning rate rises linearly from 0


def learning_rate_factor(progress: float, schedule: str = "cosine") -> float:
    """The learning rate, as a fraction of the peak `lr`, at `progress` (0..1) through the budget.

    "constant": the peak rate throughout (the default, and every shipped recipe's).
    "cosine" (Loshchilov & Hutter 2017, without restarts): a linear warm-up over the first WARMUP of
    the budget, then 1/2 (1 + cos(pi u)) for u from 0 to 1, so the last steps take tiny ones. Adam's
    noise at a constant rate keeps the weights jittering around an optimum, and decaying the rate
    lets them settle: that pays once a run gets near one. Ten CPU minutes do not: there the decay
    only halves the average rate, and the shipped recipes all came out worse with it (PixelCNN 434
    -> 593 bits/image, flow 0.33 -> 0.58 bits/dim, diffusion 1.12 -> 1.27, VAE 0.184 -> 0.188)."""
    if schedule == "constant":
        return 1.0
    progress = min(max(progress, 0.0), 1.0)
    if progress < WARMUP:
        return max(progress / WARMUP, 1e-3)
    return 0.5 * (1.0 + math.cos(math.pi * (progress - WARMUP) / (1.0 - WARMUP)))


def autocast(model, precision: str = "float32"):
    """The context a training step runs in. "float32": plain float32. "bfloat16": mixed precision
    (Micikevicius et al. 2018, with bfloat16 instead of float16): inside `torch.autocast`, matrix
    products and convolutions take bfloat16 inputs (8 exponent bits like float32, so nothing
    overflows and no loss scaling is needed, but 8 significant bits instead of 24) and accumulate in
    float32, while softmaxes, norms and losses stay float32, and so do the weights, their gradients
    and Adam's moments: only the arithmetic of the big products is coarser. On a CPU with AMX tiles
    or AVX-512 BF16 those products run faster (whole steps on this machine: VAE 1.48x, GAN 1.42x,
    PixelCNN 1.24x, flow 1.12x; benchmarks/train_speed.py), but each step can learn less: PixelCNN's
    and the GAN's did, so no shipped recipe uses it (docs/speed.md). On a CPU without native
    bfloat16 it is emulated and slower, so float32 is the default."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = next(iter(model.parameters())).device.type
    return torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bfloat16")


def _optimizers(optimizer) -> tuple:
    """The torch optimizers inside what `configure_optimizer` returned (one, or a tuple such as the GAN's)."""
    return tuple(optimizer) if isinstance(optimizer, tuple) else (optimizer,)


class TrainingDiverged(ValueError):
    """The loss stopped being a finite number: `fit` stops there, so no NaN weights get saved."""


def finish(model, images: torch.Tensor, condition: torch.Tensor | None, seed: int = 0) -> float | None:
    """Run the model's optional finishing step (`finish_training`, e.g. a VAE fitting its mixture prior
    to the codes) on all the training images, seeded; its seconds, or None when the family has none."""
    step = getattr(model, "finish_training", None)
    if step is None:
        return None
    begun = time.monotonic()
    step(images, condition, generator=torch.Generator().manual_seed(seed))
    return time.monotonic() - begun


def fit(
    model,
    data,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    schedule: str = "constant",
    precision: str = "float32",
    callback=None,
    on_finish=None,
    started: float | None = None,
    reserve_steps: float = 0.0,
) -> list[dict]:
    """Train `model` on `data` (a `WorldData`, or anything with `inputs`, `len` and `condition(kind)`, such
    as the scene models' `SceneData`); returns one record per step ({"step", "seconds", "loss", "lr", ...}).
    `on_finish()`, if given, is called just before the model's finishing step (when it has one).

    The learning rate follows `schedule` over the budget: by step count when `steps` is given, by
    wall time when only `minutes` is (whichever is further along when both are). Each step runs in
    `precision` (see `autocast`); the finishing step and everything after training in float32.

    A time budget runs from `started` (a `time.monotonic()` reading; default: now), so a caller can
    count its own set-up in it, and the steps stop early enough to leave the finishing step the time of
    `reserve_steps` steps (at this run's own pace, so a busy machine reserves more; at most half the
    budget; at least one step is taken); the records' seconds count from `started`."""
    if steps is None and minutes is None:
        raise ValueError("give a budget: steps, minutes, or both")
    if steps is not None and not 0 < steps <= MAX_STEPS:
        raise ValueError(f"steps must be in 1..{MAX_STEPS}, got {steps}")
    if minutes is not None and not 0 < minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be in (0, {MAX_MINUTES}], got {minutes}")
    if not 0 < batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be in 1..{MAX_BATCH}, got {batch_size}")
    if not 0 < lr <= 1:  # also refuses nan
        raise ValueError(f"lr must be in (0, 1], got {lr}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    mixed = autocast(model, precision)  # checks precision
    kind = getattr(model.config, "condition", "none")
    condition = data.condition(kind)
    total = steps if steps is not None else MAX_STEPS
    start = time.monotonic() if started is None else started
    budget = 60.0 * minutes if minutes is not None else math.inf
    span = budget  # seconds the steps may take: the budget less the finishing step's, re-estimated each step
    batches = torch.Generator().manual_seed(seed)
    optimizer = model.configure_optimizer(lr)
    peaks = [[group["lr"] for group in opt.param_groups] for opt in _optimizers(optimizer)]
    history: list[dict] = []
    model.train()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for step in range(1, total + 1):
            progress = (step - 1) / steps if steps is not None else 0.0
            if minutes is not None:
                progress = max(progress, (time.monotonic() - start) / span)
            factor = learning_rate_factor(progress, schedule)
            for opt, peak in zip(_optimizers(optimizer), peaks):
                for group, rate in zip(opt.param_groups, peak):
                    group["lr"] = rate * factor
            idx = torch.randint(len(data), (batch_size,), generator=batches)
            with mixed:
                record = model.train_step(data.inputs[idx], None if condition is None else condition[idx], optimizer)
            record = {"step": step, "seconds": time.monotonic() - start, "lr": lr * factor, **record}
            if not math.isfinite(record["loss"]):  # the weights are NaN or on their way: nothing to save
                raise TrainingDiverged(
                    f"training diverged at step {step}: the loss is {record['loss']}; "
                    f"try a lower learning rate than {lr * factor:g}"
                )
            history.append(record)
            if callback is not None:
                callback(step, total, record)
            now = time.monotonic()
            if reserve_steps:  # the finishing step's time, at the pace of this run's steps so far
                span = budget - min(reserve_steps * (now - start) / step, budget / 2)
            if now >= start + span:
                break
        if hasattr(model, "finish_training") and history:  # e.g. a VAE fitting its mixture prior to the data
            if on_finish is not None:
                on_finish()
            history[-1]["finish_seconds"] = finish(model, data.inputs, condition, seed)  # part of the training time
    model.eval()
    return history


class Run(NamedTuple):
    model: torch.nn.Module
    data: WorldData
    history: list[dict]
    options: dict  # fit's batch_size, lr, schedule and precision, as the run used them


def recipe_for(kind: str, world: str):
    """The shipped recipe a fresh `kind` model trains with by default: the family's own (`vae` -> the
    shipped VAE's config, batch size and learning rate), an encoder's or classifier's for its world;
    else a plain Recipe (the family's Config defaults, Recipe's optimisation defaults)."""
    from .pretrained import ENCODER_RECIPES, RECIPES, Recipe

    shipped = RECIPES.get(kind) if kind in FAMILIES else ENCODER_RECIPES.get(f"{kind}-{world}")
    return shipped if shipped is not None else Recipe(kind, world, minutes=0)


def finish_reserve(kind: str) -> float:
    """How long a family's finishing step (a VAE's prior fit) takes, in training steps: its time over the
    time of one step, in the shipped model of the family (both measured when it trained; the two slow down
    together on a busy machine); 0 for the families without one."""
    from . import pretrained

    if kind not in pretrained.available():
        return 0.0
    extra = pretrained.load(kind).checkpoint_extra
    finish, steps = float(extra.get("finish_seconds", 0.0)), extra.get("steps")
    if not finish or not steps:
        return 0.0
    return finish / ((float(extra["seconds"]) - finish) / steps)  # its seconds include the finishing step


def train_run(
    kind: str,
    world: str = "exact",
    *,
    steps: int | None = None,
    minutes: float | None = None,
    n: int = 20_000,
    seed: int = 0,
    size: int | None = None,
    split: str | None = None,
    condition: str | None = None,
    overrides: dict | None = None,
    threads: int | None = None,
    callback=None,
    on_finish=None,
    **options,
):
    """Render `n` scenes of `world`, build a fresh `kind` model and `fit` it: what the CLI and the
    app's Train tab both run. Returns a `Run`: the model, its data, its history and the fit options used.

    Settings not given are the shipped recipe's (`recipe_for`): the family's Config fields, batch size,
    learning rate, schedule and precision, so `--model vae` trains the shipped VAE's recipe. `options`
    are fit's (batch_size, lr, schedule, precision); `overrides` change Config fields. A time budget
    covers the whole run, rendering included, and keeps time for the finishing step (`finish_reserve`:
    its measured length in steps), so a 1-minute run takes about a minute."""
    started = time.monotonic()
    recipe = recipe_for(kind, world)
    data = load_world(world, n, seed, image_size=size, split=split)
    config = {**recipe.config, "image_size": data.images.shape[-1]}
    if kind == "encoder":  # an encoder learns its world's scenes: it is told which, and reads their vectors
        config.update(world=world, condition="scene")
    elif condition is not None:
        config["condition"] = condition
    config.update(overrides or {})
    fit_options = {**recipe.fit_options, **{key: value for key, value in options.items() if value is not None}}
    if threads is not None:
        if not 1 <= threads <= 256:
            raise ValueError(f"threads must be in 1..256, got {threads}")
        torch.set_num_threads(threads)  # after load_world: the renderer's thread pool resets it
    torch.manual_seed(seed)
    model = build(kind, **config)
    with flushed_denormals():  # the thread's flag: set in the thread that trains
        history = fit(
            model,
            data,
            steps=steps,
            minutes=minutes,
            seed=seed,
            callback=callback,
            on_finish=on_finish,
            started=started,
            reserve_steps=finish_reserve(kind) if minutes is not None else 0.0,
            **fit_options,
        )
    return Run(model, data, history, fit_options)


@contextlib.contextmanager
def flushed_denormals():
    """Inside, floats below 1.2e-38 (denormals) are flushed to zero. They take a slow path on x86
    CPUs, and a trained RBM's sigmoids make them: its steps got 1.6x slower as it learnt. No model can
    tell a denormal from zero; the flag is the thread's, so it is set back afterwards."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def parse_overrides(pairs: list[str]) -> dict:
    """--set depth=4 --set condition=class -> {"depth": 4, "condition": "class"} (JSON values)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


CLI_HELP = """Train one model on a world and save it: the loop the app and the shipped recipes use.

    python -m playground.models.train --model vae --world exact --minutes 5 --out runs/vae
    python -m playground.models.train --model diffusion --steps 2000 --condition class --out runs/dc

Give a budget: --steps, --minutes, or both (whichever ends first). Unless told otherwise, a family trains
with its shipped recipe's settings, as the app's Train tab does. The run writes OUT/model.safetensors
(weights, config and the run's settings) and OUT/loss.csv (one row per step). Then draw from it:

    python -m playground.models.sample runs/vae/model.safetensors --n 16 --out samples.png
    python -c "from playground import load; print(load('runs/vae/model.safetensors').sample(4).shape)"

The shipped models' recipes: python -m playground.models.pretrained --list.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.models.train",
        description=CLI_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        required=True,
        choices=sorted(FAMILIES) + sorted(ENCODERS),
        help="a generative family, 'encoder' (inverse graphics: image -> scene) "
        "or 'classifier' (image -> shape, the adversarial-noise demo)",
    )
    parser.add_argument(
        "--world", default="exact", help="the world preset to learn (python -m worlds list; default exact)"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="a time budget for the whole run: rendering, steps and a finishing step such as the VAE's prior fit "
        "(the run also stops at --steps)",
    )
    parser.add_argument("--steps", type=int, default=None, help="a step budget (the run also stops at --minutes)")
    parser.add_argument("--out", required=True, type=Path, help="the run's directory: model.safetensors and loss.csv")
    parser.add_argument("--n", type=int, default=20_000, help="training scenes, rendered first (default 20000)")
    parser.add_argument("--size", type=int, default=None, help="image size in pixels (default: the world's)")
    parser.add_argument(
        "--split", default=None, choices=["all", "train", "test"], help="a held-out split's side (default: the world's)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the scenes, the minibatches and the model (default 0)"
    )
    recipe = "(default: the family's shipped recipe's, else {})"
    parser.add_argument("--batch-size", type=int, default=None, help="images per step " + recipe.format(64))
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate " + recipe.format(0.001))
    parser.add_argument(
        "--schedule",
        default=None,
        choices=SCHEDULES,
        help="learning rate over the budget: constant, or warm-up then cosine decay to 0 " + recipe.format("constant"),
    )
    parser.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="arithmetic of the training steps: float32, or bfloat16 mixed precision "
        "(faster on CPUs with AMX or AVX-512 BF16) " + recipe.format("float32"),
    )
    parser.add_argument(
        "--condition",
        default=None,
        choices=["none", "class", "caption"],
        help="what the model is given with each image (default: the model's own, "
        "'none' for the generative families, 'class' for the classifier)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the family's Config (JSON value; the defaults are the shipped recipe's), "
        "e.g. --set hidden=32; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        from tqdm import tqdm

        if args.steps is None and args.minutes is None:
            raise ValueError("give a budget: --steps, --minutes, or both")
        if args.minutes is not None and not 0 < args.minutes <= MAX_MINUTES:
            raise ValueError(f"--minutes must be in (0, {MAX_MINUTES}], got {args.minutes}")
        args.out.mkdir(parents=True, exist_ok=True)
        # a step budget counts steps; a time budget alone counts seconds, so the bar has a total and an ETA
        by_time = args.steps is None
        total = round(args.minutes * 60) if by_time else args.steps
        bar = tqdm(
            total=total,
            desc=args.model,
            unit="s" if by_time else "step",
            file=sys.stderr,
            bar_format="{l_bar}{bar}| {n}/{total} s [{elapsed}<{remaining}{postfix}]" if by_time else None,
        )

        def progress(step, total, record):
            bar.update(min(round(record["seconds"]), bar.total) - bar.n if by_time else 1)
            bar.set_postfix(step=step, loss=f"{record['loss']:.4f}")

        try:
            model, _, history, options = train_run(
                args.model,
                args.world,
                steps=args.steps,
                minutes=args.minutes,
                n=args.n,
                seed=args.seed,
                size=args.size,
                split=args.split,
                condition=args.condition,
                overrides=parse_overrides(args.set),
                threads=args.threads,
                callback=progress,
                batch_size=args.batch_size,
                lr=args.lr,
                schedule=args.schedule,
                precision=args.precision,
            )
        finally:
            bar.close()  # before any error message, so it reads on its own line
        with open(args.out / "loss.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=sorted({k for r in history for k in r}))
            writer.writeheader()
            writer.writerows(history)
        extra = {
            "world": args.world,
            "n": args.n,
            "seed": args.seed,
            "steps": len(history),
            **options,
        }
        seconds = history[-1]["seconds"]
        if "finish_seconds" in history[-1]:  # the finishing fit is part of the training time
            extra["finish_seconds"] = round(history[-1]["finish_seconds"], 1)
            seconds += history[-1]["finish_seconds"]
        save(model, args.out / "model.safetensors", extra={**extra, "seconds": round(seconds, 1)})
        print(
            f"trained {args.model} for {len(history)} steps ({seconds:.0f} s); "
            f"final loss {history[-1]['loss']:.4f}; wrote {args.out / 'model.safetensors'}\n"
            f"sample it: python -m playground.models.sample {args.out / 'model.safetensors'} --n 16 --out samples.png"
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
