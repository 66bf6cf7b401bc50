"""The scene-level models measured against the world's known prior.

    python benchmarks/scene_models.py                       # every shipped scene model, a table per world
    python benchmarks/scene_models.py --json                # ... and one JSON object on the last line
    python benchmarks/scene_models.py --worlds shapes2d --families autoregressive --n 2000
    python benchmarks/scene_models.py --retrain             # train each model afresh first (its recipe's steps)

For each world and family (the shipped `scene-FAMILY-WORLD`): `--n` draws (seed 0), decoded to scenes and
scored against a reference draw of the prior (seed 4000, 20000 scenes; no model saw it) by
playground.scenes.metrics: validity, count_tv, attribute_tv, pair_coverage, gap_w1, novelty (against the
model's own training scenes, on the codes' bins). Where the family has a likelihood, nll_bits_per_scene is
-log2 p of 2000 held-out prior scenes (seed 1000) on the codes' bins, beside prior_bits_per_scene: the
prior's own -log2 P on the same bins (a Monte Carlo estimate, playground.scenes.metrics.prior_bits; exactly
log2 768 = 9.585 on `exact`). A first row, `prior`, scores a fresh draw of the prior itself the same way:
the noise level of each measure at this many draws. train_seconds is the recipe's training time (from the
checkpoint, or measured with --retrain); sample_ms_per_scene draws and decodes a batch of 256.

On `exact` the renderer is one-to-one, so bits per scene are bits per image: the table prints the pixel
models' bits per image (playground/evaluation/results/evaluation.json) beside them against the same floor.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.scenes import shipped  # noqa: E402
from playground.scenes.data import load_scenes  # noqa: E402
from playground.scenes.metrics import prior_bits, scene_metrics  # noqa: E402
from worlds import sample_scenes  # noqa: E402

FAMILIES = ("autoregressive", "flow", "vae", "gan", "ebm", "diffusion")
KEYS = (
    "validity",
    "count_tv",
    "attribute_tv",
    "pair_coverage",
    "gap_w1",
    "novelty",
    "likelihood_kind",
    "nll_bits_per_scene",
    "prior_bits_per_scene",
    "train_seconds",
    "sample_ms_per_scene",
)
REFERENCE_SEED, TEST_SEED, SAMPLE_SEED = 4000, 1000, 0


def decode(model, drawn, seed: int = 0):
    return model.codec.decode(drawn, seed=seed) if model.representation == "codes" else model.codec.from_vectors(drawn)


def draw(model, n: int, seed: int, batch: int = 1024) -> tuple[list, float]:
    """n decoded scenes, and the milliseconds per scene of drawing and decoding batches of 256."""
    generator = torch.Generator().manual_seed(seed)
    scenes = []
    for start in range(0, n, batch):
        scenes += decode(model, model.sample(min(batch, n - start), generator=generator), seed + start)
    begun = time.perf_counter()
    decode(model, model.sample(256, generator=torch.Generator().manual_seed(seed + 1)), seed)
    return scenes, (time.perf_counter() - begun) * 1000 / 256


def key(codec):
    return lambda scene: codec.encode([scene])[0].numpy().tobytes()


def measure(name: str, model, world: str, n: int, reference, test, floor: float, train_seconds: float) -> dict:
    torch.manual_seed(0)
    scenes, ms = draw(model, n, SAMPLE_SEED)
    extra = model.checkpoint_extra if hasattr(model, "checkpoint_extra") else {}
    training = load_scenes(extra.get("world", world), extra.get("n", 20_000), extra.get("seed", 0))
    codes = model.codec.encode(training).numpy()
    keys = {c.tobytes() for c in codes}
    row = scene_metrics(scenes, world, reference, keys, key=key(model.codec))
    nll = None
    if model.likelihood in ("exact", "bound"):
        x = model.codec.encode(test) if model.representation == "codes" else model.codec.to_vectors(test)
        nll = float(-model.log_prob(x).mean() / math.log(2.0))
    return {
        **row,
        "likelihood_kind": model.likelihood,
        "nll_bits_per_scene": nll,
        "prior_bits_per_scene": floor,
        "train_seconds": train_seconds,
        "sample_ms_per_scene": ms,
    }


def prior_row(world: str, n: int, reference, floor: float) -> dict:
    fresh = sample_scenes(world, 9000, n)
    training = {c.tobytes() for c in shipped_codec(world).encode(load_scenes(world, 20_000, 0)).numpy()}
    row = scene_metrics(fresh, world, reference, training, key=key(shipped_codec(world)))
    return {**row, "likelihood_kind": "exact", "nll_bits_per_scene": floor, "prior_bits_per_scene": floor}


def shipped_codec(world: str):
    from playground.scenes.codec import SceneCodec

    return SceneCodec(world)


# The shipped pixel models' bits per image on `exact` as `python benchmarks/models.py` measured them
# (README, "Generation"); bounds are upper bounds on the cost, the RBM's an estimate.
PIXEL_BITS_ON_EXACT = {
    "PixelCNN (exact)": 384.5,
    "Glow flow (bound)": 865.3,
    "VAE (bound)": 325.7,
    "RBM (estimate)": 201.4,
    "diffusion (bound)": 5235.0,
}


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="+", default=list(shipped.WORLDS), choices=shipped.WORLDS)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--n", type=int, default=5000, help="draws per model (default 5000)")
    parser.add_argument("--retrain", action="store_true", help="train each model afresh (its recipe) first")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--save", action="store_true", help="write the figures to playground/scenes/results.json")
    args = parser.parse_args(argv)
    if not 100 <= args.n <= 50_000:
        parser.error(f"--n must be in 100..50000, got {args.n}")
    result: dict = {}
    for world in args.worlds:
        reference = sample_scenes(world, REFERENCE_SEED, 20_000)
        test = sample_scenes(world, TEST_SEED, 2000)
        floor = float(prior_bits(test, shipped_codec(world)).mean())
        rows = {"prior": prior_row(world, args.n, reference, floor)}
        for family in args.families:
            name = f"scene-{family}-{world}"
            if name not in shipped.RECIPES:
                continue
            if args.retrain:
                begun = time.monotonic()
                shipped.train(name)
                shipped.load.cache_clear()
                seconds = time.monotonic() - begun
            elif not shipped.path(name).is_file():
                print(f"{name}: no weights (python -m playground.scenes.shipped {name})", file=sys.stderr)
                continue
            model = shipped.load(name)
            seconds = seconds if args.retrain else float(model.checkpoint_extra.get("seconds", float("nan")))
            rows[family] = measure(name, model, world, args.n, reference, test, floor, seconds)
        result[world] = rows
        print(
            f"\n## {world}: {args.n} draws per model against 20000 prior scenes (prior's bits on the bins: {floor:.2f})"
        )
        print("| model | " + " | ".join(KEYS) + " |")
        print("|---" * (len(KEYS) + 1) + "|")
        for family, row in rows.items():
            print(
                f"| {family} | "
                + " | ".join(fmt(row.get(k), 2 if "bits" in k or "seconds" in k else 3) for k in KEYS)
                + " |"
            )
        if world == "exact":
            scene = ", ".join(
                f"{f} {fmt(r['nll_bits_per_scene'], 2)}"
                for f, r in rows.items()
                if f != "prior" and r["nll_bits_per_scene"] is not None
            )
            pixel = ", ".join(f"{f} {v:,.1f}" for f, v in PIXEL_BITS_ON_EXACT.items())
            print(f"\nbits per image on `exact` (floor 9.585): scene models {scene}; pixel models {pixel}")
    if args.save:
        shipped.RESULTS.write_text(json.dumps({**shipped.results(), **result}, indent=1) + "\n")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
