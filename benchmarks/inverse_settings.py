"""The refinement settings re-checked on the development seed: each one switched off in turn.

    python benchmarks/inverse_settings.py                # clevr3d, 200 development scenes, a table
    python benchmarks/inverse_settings.py --worlds shapes2d clevr3d --n 100 --json

Every setting of refinement was chosen on the development seed (1000, `benchmarks/inverse.py --split dev`);
the test seed (2000) chose nothing, and this script never reads it. For each world it runs the shipped
encoder plus refinement as shipped, then with one setting undone:
  * `no price`: `refine.MIN_EXPLAINED` = 0, so any object that lowers the error at all stays or is added;
  * `no proposals`: the second discrete sweep proposes no object for what the picture still shows (3D).
It prints refined count accuracy, attribute accuracy and Slot Attention's AP at 0.5 for each, so a setting
is kept only where it helps on the scenes it was chosen on. With `--json`, one JSON object on the last line:
per world and variant, `count_acc_refined`, `attr_acc_refined`, `ap_refined_0.5`.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inverse import SEEDS, WORLDS, evaluate  # noqa: E402
from playground.inverse import refine  # noqa: E402
from playground.models import pretrained  # noqa: E402


@contextmanager
def patched(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _without_proposals(scene, image, candidates=(), propose=False):
    return _SWEEP(scene, image, candidates, propose=False)


_SWEEP = refine.discrete_sweep
VARIANTS = {
    "as shipped": nullcontext,
    "no price": lambda: patched(refine, "MIN_EXPLAINED", 0.0),
    "no proposals": lambda: patched(refine, "discrete_sweep", _without_proposals),
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="+", choices=WORLDS, default=["clevr3d"])
    parser.add_argument("--n", type=int, default=200, help="development scenes per world (1..2000)")
    parser.add_argument("--refine-steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 2000:
        parser.error("--n must be in 1..2000")
    torch.set_num_threads(args.threads)
    result: dict = {}
    print(f"development seed {SEEDS['dev']}, {args.n} scenes per world, {args.refine_steps} refinement steps")
    print(f"{'world':<10} {'variant':<14} {'count acc':>9} {'attr acc':>8} {'AP@0.5':>7}")
    for name in args.worlds:
        encoder = pretrained.load(f"encoder-{name}")
        for variant, setting in VARIANTS.items():
            with setting():
                run = evaluate(name, encoder, args.n, args.refine_steps, False, SEEDS["dev"])
            row = result.setdefault(name, {})[variant] = {
                "count_acc_refined": run["count_acc_refined"],
                "attr_acc_refined": run["attr_acc_refined"],
                "ap_refined_0.5": run["ap_slot_attention_refined"]["0.5"],
            }
            print(
                f"{name:<10} {variant:<14} {row['count_acc_refined']:9.3f} {row['attr_acc_refined']:8.3f} "
                f"{row['ap_refined_0.5']:7.3f}",
                flush=True,
            )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
