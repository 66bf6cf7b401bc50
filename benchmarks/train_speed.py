"""Training-step speed on this machine: each shipped recipe's step in float32 and in bfloat16 mixed
precision, and the PixelCNN head's layouts, each against a baseline timed in the same run.

    python benchmarks/train_speed.py                    # a table
    python benchmarks/train_speed.py --threads 2 --json # ... and one JSON object on the last line
    python benchmarks/train_speed.py --only pixelcnn vae

A step is what `playground.models.train.fit` runs: the family's `train_step` on a batch of the recipe's size
of `exact` world images, with the recipe's config and optimiser. Rounds alternate between the variants
being compared (float32 then bfloat16, or the three PixelCNN heads), so a machine that slows down part
way slows both; each figure is the median over `--rounds` rounds of `--steps` steps, after a warm-up.

PixelCNN heads, on the recipe's network:
  * "conv2d (before)": the head's last 1 x 1 convolution as conv2d on (B, C 256, H, W) and the
    cross-entropy over the 256 logits of each subpixel, which lie H W apart in memory (the layout the
    shipped PixelCNN trained with until this benchmark was written);
  * "channels-last (now)": the same function, its 1 x 1 convolutions as matrix products over
    (B, H, W, hidden) features, each subpixel's 256 logits contiguous; the loss agrees with the
    conv2d layout to float rounding, which the benchmark checks before timing;
  * "nibbles": output="nibbles", a different (equally exact) head of 32 numbers per subpixel.

With `--json` the last line is one JSON object: {"threads", "steps_ms": {recipe: {"float32", "bfloat16",
"bfloat16_speedup"}}, "pixelcnn_head_ms": {"conv2d", "channels_last", "nibbles"}, "pixelcnn_head_speedup"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.models.data import load_world  # noqa: E402
from playground.models.pretrained import RECIPES  # noqa: E402
from playground.models.train import autocast, flushed_denormals  # noqa: E402

MAX_STEPS, MAX_ROUNDS = 200, 50


def conv2d_head_loss(model, x: torch.Tensor) -> torch.Tensor:
    """PixelCNN's softmax loss with the head as conv2d over (B, C 256, H, W): the former layout."""
    first, last = model.head[1], model.head[3]
    h = F.relu(F.conv2d(F.relu(model.head_input(x)), first.masked_weight(), first.bias))
    logits = F.conv2d(h, last.masked_weight(), last.bias).unflatten(1, (model.config.channels, 256))
    return F.cross_entropy(logits.transpose(1, 2), x.long())  # logits (B, 256, C, H, W)


def step_function(model, optimizer, images, batches, condition, precision: str = "float32"):
    """One training step on the next batch of `images`, as fit runs it."""

    def step():
        idx = next(batches)
        with autocast(model, precision):
            return model.train_step(images[idx], None if condition is None else condition[idx], optimizer)

    return step


def median_ms(steps: dict, n: int, rounds: int) -> dict:
    """{name: median ms per step}, the variants alternating round by round, after one warm-up step each."""
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append(1000 * (time.perf_counter() - start) / n)
    return {name: statistics.median(t) for name, t in times.items()}


def batch_stream(size: int, batch: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randint(size, (batch,), generator=generator)


def recipe_model(name: str, image_size: int, **overrides):
    recipe = RECIPES[name]
    torch.manual_seed(0)
    model = recipe.build(image_size, **overrides)
    model.train()
    return model, model.configure_optimizer(recipe.lr)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(RECIPES),
        metavar="RECIPE",
        help="recipes to time (default: the unconditional ones)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=5, help=f"steps per round (1..{MAX_STEPS})")
    parser.add_argument("--rounds", type=int, default=3, help=f"rounds per variant (1..{MAX_ROUNDS})")
    parser.add_argument("--no-head", action="store_true", help="skip the PixelCNN head comparison")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.threads <= 256 or not 1 <= args.steps <= MAX_STEPS or not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--threads must be in 1..256, --steps in 1..{MAX_STEPS}, --rounds in 1..{MAX_ROUNDS}")
    data = load_world("exact", 768, 0)
    images = data.images
    torch.set_num_threads(args.threads)  # after load_world: the renderer's thread pool resets it
    names = args.only or [n for n, r in RECIPES.items() if r.condition == "none"]
    result = {"threads": args.threads, "steps_ms": {}}
    print(f"ms per training step, {args.threads} thread(s), median of {args.rounds} rounds of {args.steps} steps")
    print(f"{'recipe':<18} {'batch':>5} {'float32':>9} {'bfloat16':>9} {'speed-up':>8}")
    with flushed_denormals():
        for name in names:
            recipe = RECIPES[name]
            condition = data.condition(recipe.condition)
            steps = {}
            for precision in ("float32", "bfloat16"):
                model, optimizer = recipe_model(name, images.shape[-1])
                steps[precision] = step_function(
                    model, optimizer, images, batch_stream(len(images), recipe.batch_size), condition, precision
                )
            ms = median_ms(steps, args.steps, args.rounds)
            row = {**ms, "bfloat16_speedup": ms["float32"] / ms["bfloat16"]}
            result["steps_ms"][name] = row
            print(
                f"{name:<18} {recipe.batch_size:5d} {ms['float32']:9.1f} {ms['bfloat16']:9.1f} "
                f"{row['bfloat16_speedup']:7.2f}x",
                flush=True,
            )
        if not args.no_head:
            model, _ = recipe_model("pixelcnn", images.shape[-1])
            x = images[: RECIPES["pixelcnn"].batch_size]
            with torch.no_grad():  # the two layouts compute the same loss
                before, now = float(conv2d_head_loss(model, x)), float(model.loss(x))
            if abs(before - now) > 1e-4 * abs(now):
                raise SystemExit(f"the head layouts disagree: {before} vs {now}")
            variants = {"conv2d": {}, "channels_last": {}, "nibbles": {"output": "nibbles"}}
            steps = {}
            for variant, overrides in variants.items():
                model, optimizer = recipe_model("pixelcnn", images.shape[-1], **overrides)
                if variant == "conv2d":  # the model's own train_step, with the former layout's loss
                    model.loss = lambda x, condition=None, model=model: conv2d_head_loss(model, x)
                steps[variant] = step_function(model, optimizer, images, batch_stream(len(images), 16), None)
            ms = median_ms(steps, args.steps, args.rounds)
            result["pixelcnn_head_ms"] = ms
            result["pixelcnn_head_speedup"] = {k: ms["conv2d"] / v for k, v in ms.items()}
            print(f"\nPixelCNN head (recipe network, batch 16, float32; loss {now:.4f} in both layouts)")
            print(f"{'head':<22} {'ms/step':>8} {'speed-up':>8}")
            labels = {"conv2d": "conv2d (before)", "channels_last": "channels-last (now)", "nibbles": "nibbles"}
            for variant, value in ms.items():
                print(f"{labels[variant]:<22} {value:8.1f} {result['pixelcnn_head_speedup'][variant]:7.2f}x")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
