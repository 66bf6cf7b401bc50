"""The lecture's Table 1.1, measured: every family trained the same way on the same world, then scored.

    python -m playground.evaluation.compare                       # quick: 7 families x 3 seeds, <= 20 min on 2 cores
    python -m playground.evaluation.compare --full                # longer budgets and more samples
    python -m playground.evaluation.compare --families vae gan --minutes 0.5 --json out.json --csv out.csv --markdown out.md

Every family learns the `exact` world (768 equally likely one-object scenes, entropy log2 768 bits)
from the same 20,000 rendered scenes, for the same wall-clock budget, with the shared loop and the
family's shipped recipe (batch size, learning rate, architecture). Three seeds per family.

Columns (the lecture's five, then what only a known world allows):
* **Training stability**: the final training loss of each seed (mean of the last 10% of steps); their
  spread (standard deviation) `seed_spread`; runs that `diverged` (a non-finite loss); and the loss
  curve's `roughness` = its total variation / its net fall, after averaging into 50 bins (1 = it only
  went down; large = it wandered, or never fell).
* **Likelihood**: its kind and bits/dim over the world's scenes, and the gap to the entropy in bits
  per image (`playground.evaluation.scores.likelihood_scores`): the KL divergence from the truth for an exact
  likelihood, an upper bound on it for a bound.
* **Sampling**: ms per image at batch 1 and 64; the ratio to the fastest family.
* **Compression**: the ideal code length -log2 q(x) per image against PNG (optimised) and zlib (level
  9) of the same images; for PixelCNN, the length of real rANS codes that decode bit-exactly
  (`playground.evaluation.coding`) on a subset of the images: one code per image, and one stream for all.
* **Representation**: for families with an encoder (VAE, flow), a linear probe from the code to the
  scene's factors, trained on 2/3 of the world's scenes and tested on the rest: accuracy for shape,
  colour, size, and R^2 for x and y; `probe_accuracy` is the mean over the discrete factors.
* **Sample validity**: the fraction of samples that *are* a world image (parsed by the nearest of the
  768 images, at most 0.2% of pixels off by more than 24 levels: `scores.parse_samples`). The exact world
  is enumerable, so this parse is exact inverse graphics; the learned encoder (`inverse.py`) is for
  worlds too large to enumerate.
  `encoder_validity` asks the learned encoder instead: the fraction it parses into a valid world scene
  whose re-render is the sample (`encoder_validity`; 0.987 for the world's own images).
* **Attribute fidelity and coverage**: of the valid samples, the total-variation distance between their
  attribute distribution (shape, colour, size, position: the mean TV over the four) and the world's
  uniform prior, `attribute_tv`; and the fraction of the 768 scenes they hit, `coverage`.
* **Conditional faithfulness**: the shipped class- and caption-conditional models (trained on
  `exact-holdout`, which never shows a red cylinder), asked for every combination and for the held-out
  one (`scores.conditional_faithfulness`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from playground.models.data import load_world
from playground.models.registry import FAMILIES

from .scores import WithOptions, exact_world, likelihood_scores, parse_samples, sample_ms_per_image, world_tensor
from .scores import draw as draw_samples

RESULTS = Path(__file__).resolve().parent / "results" / "evaluation.json"
ATTRIBUTES = ("shape", "color", "size", "position")


@dataclass(frozen=True)
class Budget:
    minutes: float = 0.25  # training budget per run
    seeds: int = 3  # runs per family
    samples: int = 1000  # samples scored for validity, TV and coverage
    likelihood_every: int = 4  # score every k-th world scene (the world is uniform: unbiased)
    code_images: int = 8  # images the real PixelCNN coder round-trips
    diffusion_steps: int = 50  # respaced sampling steps


QUICK = Budget()
FULL = Budget(minutes=3.0, likelihood_every=1, code_images=32, diffusion_steps=100)
# what each family's likelihood costs is bounded the way benchmarks/models.py bounds it
LOG_PROB_OPTIONS = {"vae": {"k": 16}, "diffusion": {"terms": 32}}
LECTURE = {  # Table 1.1 of the lecture: training, likelihood, sampling, compression, representation
    "pixelcnn": ("stable", "exact", "slow", "lossless", "no"),
    "flow": ("stable", "exact", "fast/slow", "lossless", "yes"),
    "vae": ("stable", "approximate", "fast", "lossy", "yes"),
    "gan": ("unstable", "none", "fast", "none", "no"),
    "rbm": ("stable", "unnormalized", "slow", "rather not", "yes"),
    "ebm": ("stable", "unnormalized", "slow", "rather not", "yes"),
    "diffusion": ("stable", "approximate", "slow", "lossy", "no"),
}


# --- stability ---------------------------------------------------------------------------------------


def roughness(losses, bins: int = 50) -> float:
    """Total variation of the binned loss curve over its net fall: 1 for a curve that only goes down."""
    losses = np.asarray(losses, np.float64)
    if len(losses) < 2 or not np.isfinite(losses).all():
        return math.inf
    curve = np.array([chunk.mean() for chunk in np.array_split(losses, min(bins, len(losses)))])
    fall = curve[0] - curve[-1]
    variation = np.abs(np.diff(curve)).sum()
    return float(variation / fall) if fall > 0 else math.inf


def final_loss(history: list[dict]) -> float:
    losses = [r["loss"] for r in history]
    tail = losses[-max(1, len(losses) // 10) :]
    return float(np.mean(tail))


# --- compression -------------------------------------------------------------------------------------


def png_bits(image: np.ndarray) -> int:
    """Bits of the image (H, W, 3) uint8 as an optimised PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return 8 * buffer.tell()


def zlib_bits(image: np.ndarray) -> int:
    return 8 * len(zlib.compress(np.ascontiguousarray(image).tobytes(), 9))


# --- representation ----------------------------------------------------------------------------------


def linear_probe(codes: np.ndarray, scenes, seed: int = 0) -> dict:
    """Linear read-out of the scene factors from codes (N, d): accuracy (discrete), R^2 (x, y)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    objects = [s.objects[0] for s in scenes]
    factors = {
        "shape": [o.shape for o in objects],
        "color": [o.color_name for o in objects],
        "size": [o.size_name for o in objects],
    }
    order = np.random.default_rng(seed).permutation(len(scenes))
    train, test = order[: 2 * len(order) // 3], order[2 * len(order) // 3 :]
    codes = StandardScaler().fit(codes[train]).transform(codes)
    out = {}
    for name, values in factors.items():
        y = np.array(values)
        clf = LogisticRegression(max_iter=2000).fit(codes[train], y[train])
        out[f"{name}_accuracy"] = float((clf.predict(codes[test]) == y[test]).mean())
    for axis, name in enumerate("xy"):
        y = np.array([o.position[axis] for o in objects])
        out[f"{name}_r2"] = float(Ridge(alpha=1.0).fit(codes[train], y[train]).score(codes[test], y[test]))
    out["probe_accuracy"] = float(np.mean([out[f"{n}_accuracy"] for n in factors]))
    return out


# --- samples: validity, attribute fidelity, coverage -------------------------------------------------


def sample_fidelity(samples: torch.Tensor, binarized: bool = False) -> dict:
    """Validity, attribute TV and coverage of uint8 samples (N, 3, 32, 32) against the exact world."""
    world = exact_world()
    parse = parse_samples(samples, world, binarized=binarized)
    valid = parse.valid
    hit = parse.index[valid]
    out = {"validity": float(valid.float().mean()), "coverage": hit.unique().numel() / world.num_scenes}
    if hit.numel() == 0:
        return out | {"attribute_tv": None}
    objects = [s.objects[0] for s in world.scenes]
    tvs = []
    for attribute in ATTRIBUTES:
        keys = [str(getattr(o, attribute)) for o in objects]  # the world's value of each scene
        levels = sorted(set(keys))
        prior = np.array([keys.count(v) for v in levels], np.float64) / len(keys)
        drawn = np.array([sum(keys[int(i)] == v for i in hit) for v in levels], np.float64) / hit.numel()
        tvs.append(0.5 * np.abs(prior - drawn).sum())
    return out | {"attribute_tv": float(np.mean(tvs)), **{f"tv_{a}": float(t) for a, t in zip(ATTRIBUTES, tvs)}}


def encoder_validity(samples: torch.Tensor, batch: int = 64) -> float:
    """The fraction of uint8 samples (N, 3, 32, 32) that the learned inverse-graphics encoder
    (`encoder-shapes2d`) parses into a valid scene of the exact world whose re-render is the sample.

    The exact world is the 2D view of [-2.5, 2.5]^2 at 32 px; the encoder reads [-3.5, 3.5]^2 at 64 px.
    So each sample is resized to the size that region has in the encoder's view (46 px) and framed
    with ground, and the encoder's answer is already in world units. A valid scene of the exact world
    stands on its grid, with a named size, rotation 0 and matte paint, so the answer is snapped to
    that support; then it is re-rendered and must match the sample as `parse_samples` demands (at most
    0.2% of pixels off by more than 24 levels). On the world's own 768 images this parse is right for
    98.7% (and all within 1% of pixels): the ceiling a perfect sampler reaches."""
    from PIL import Image

    from playground.models import pretrained
    from worlds import Scene, render
    from worlds.scene import Object

    from .scores import VALID_WRONG, WRONG_LEVELS

    world = exact_world().world
    encoder = pretrained.load("encoder-shapes2d")
    side = encoder.config.image_size
    inner = round(side * world.camera.extent / encoder.scene_settings()["camera"].extent)
    pad = (side - inner) // 2
    grid = np.linspace(*world.position_range, world.position_grid)
    snap = lambda v: float(grid[np.abs(grid - v).argmin()])
    images = samples.permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3)
    canvas = np.full((len(images), side, side, 3), world.background, np.uint8)
    for k, image in enumerate(images):
        canvas[k, pad : pad + inner, pad : pad + inner] = np.asarray(
            Image.fromarray(image).resize((inner, inner), Image.BILINEAR)
        )
    x = torch.from_numpy(canvas).permute(0, 3, 1, 2).contiguous()
    scenes = [scene for k in range(0, len(x), batch) for scene in encoder.infer(x[k : k + batch])]
    settings = world.scene_settings()
    parsed = [
        Scene(
            [
                Object(o.shape, o.color_name, (snap(o.position[0]), snap(o.position[1])), o.size_name, 0.0, "matte")
                for o in scene.objects
            ],
            **settings,
        )
        for scene in scenes
    ]
    rerendered = render(parsed).astype(np.int16)  # (N, 32, 32, 3)
    wrong = (np.abs(rerendered - images.astype(np.int16)).max(-1) > WRONG_LEVELS).reshape(len(images), -1).mean(1)
    lo, hi = world.num_objects
    counted = np.array([lo <= len(s.objects) <= hi for s in parsed])  # a scene of this world
    return float(((wrong <= VALID_WRONG) & counted).mean())


def draw(model, n: int, seed: int, budget: Budget, batch: int = 250) -> torch.Tensor:
    """n draws (diffusion with the budget's respaced steps), `batch` at a time from one seeded generator."""
    options = {"steps": budget.diffusion_steps} if model.family == "diffusion" else {}
    return draw_samples(model, n, seed, batch=batch, **options)


def sample_ms(model, batch: int, budget: Budget) -> float:
    """ms per image of one `sample(batch)` call, diffusion with the budget's respaced steps."""
    options = {"steps": budget.diffusion_steps} if model.family == "diffusion" else {}
    return sample_ms_per_image(model, batch, **options)


# --- one family --------------------------------------------------------------------------------------


def train_runs(family: str, data, budget: Budget, callback=None) -> tuple[list, list[dict]]:
    """`budget.seeds` fresh models of `family` trained on `data` with the family's shipped recipe."""
    from playground.models.pretrained import RECIPES
    from playground.models.train import fit

    recipe = RECIPES[family]
    models, runs = [], []
    for seed in range(budget.seeds):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = recipe.build(data.images.shape[-1])
        history = fit(model, data, minutes=budget.minutes, seed=seed, **recipe.fit_options)
        losses = [r["loss"] for r in history]
        runs.append(
            {
                "seed": seed,
                "steps": len(history),
                "final_loss": final_loss(history),
                "diverged": not all(math.isfinite(v) for v in losses),
                "roughness": roughness(losses),
            }
        )
        models.append(model)
        if callback is not None:
            callback(family, seed)
    return models, runs


def evaluate_family(family: str, data, budget: Budget, callback=None) -> dict:
    """Every column of the table for one family (its seed-0 model stands for the family)."""
    start = time.perf_counter()
    models, runs = train_runs(family, data, budget, callback)
    model = models[0]
    finals = [r["final_loss"] for r in runs]
    row = {
        "family": family,
        "runs": runs,
        "train_minutes": budget.minutes,
        "steps": runs[0]["steps"],
        "final_loss": float(np.mean(finals)),
        "seed_spread": float(np.std(finals)),
        "diverged": sum(r["diverged"] for r in runs),
        "roughness": float(np.median([r["roughness"] for r in runs])),
    }
    with torch.no_grad():
        scores = likelihood_scores(
            WithOptions(model, LOG_PROB_OPTIONS.get(family, {})),
            "exact",
            budget.likelihood_every if family != "rbm" else 1,
        )
    row |= {
        k: scores[k]
        for k in (
            "likelihood_kind",
            "likelihood_bound",
            "bits_per_dim",
            "bits_per_image",
            "gap_bits_per_image",
            "entropy_bits",
        )
    }
    # upper and lower bounds never share a column: exact figures and upper bounds on the cost in one,
    # lower bounds and estimates in the other
    at_most = row["likelihood_bound"] in ("exact", "upper")
    row["bits_per_dim_upper"] = row["bits_per_dim"] if at_most else None
    row["bits_per_dim_lower"] = None if at_most else row["bits_per_dim"]
    row["gap_bits_per_image_upper"] = row["gap_bits_per_image"] if at_most else None
    if hasattr(model, "log_z_stderr"):  # an estimate states its error: the relative error of Z, and how
        row["log_z_relative_error"] = float(model.log_z_stderr)
        row["log_z_draws"] = int(model.log_z_draws)  # 0: AIS from the base rate; n: importance sampling over h
    row["sample_ms_per_image"] = sample_ms(model, 64, budget)
    row["sample_ms_batch1"] = sample_ms(model, 1, budget)
    world = exact_world()
    row["code_bits_per_image"] = row["bits_per_image"] if row["likelihood_kind"] in ("exact", "bound") else None
    row["png_bits_per_image"] = float(np.mean([png_bits(im) for im in world.images]))
    row["zlib_bits_per_image"] = float(np.mean([zlib_bits(im) for im in world.images]))
    if family == "pixelcnn":
        from .coding import decode_images, decode_stream, encode_images, encode_stream

        images = world_tensor(world)[:: len(world.images) // budget.code_images][: budget.code_images]
        codes = encode_images(model, images)  # one code per image: ~log2 M bits of start-up each
        stream = encode_stream(model, images)  # all images in one rANS state: paid once
        row["real_code_bits_per_image"] = float(np.mean([8 * len(c) for c in codes]))
        row["stream_code_bits_per_image"] = 8 * len(stream) / len(images)
        row["real_code_round_trip"] = bool(
            torch.equal(decode_images(model, codes), images)
            and torch.equal(decode_stream(model, stream, len(images)), images)
        )
    try:
        with torch.no_grad():
            codes = torch.cat([model.encode(x) for x in world_tensor(world).split(256)]).flatten(1).numpy()
        row |= linear_probe(codes, world.scenes)
    except NotImplementedError:
        row["probe_accuracy"] = None
    samples = draw(model, budget.samples, seed=0, budget=budget)
    row |= sample_fidelity(samples, binarized=family == "rbm")
    row["encoder_validity"] = encoder_validity(samples)
    row["seconds"] = time.perf_counter() - start
    return row


def conditional_rows() -> dict:
    """The shipped conditional models' faithfulness (seen combinations and the held-out red cylinder)."""
    from playground.models import pretrained

    from .scores import conditional_faithfulness

    return {
        name: conditional_faithfulness(pretrained.load(name))
        for name in pretrained.available()
        if pretrained.RECIPES[name].condition != "none"
    }


def evaluate(
    families=tuple(FAMILIES), budget: Budget = QUICK, n: int = 20_000, callback=None, conditional: bool = True
) -> dict:
    """The whole table: {family: row}, plus the fastest-sampler ratios and (optionally) `conditional`."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown family {unknown[0]!r}; choose from {', '.join(FAMILIES)}")
    data = load_world("exact", n, seed=0)
    result = {family: evaluate_family(family, data, budget, callback) for family in families}
    fastest = min(r["sample_ms_per_image"] for r in result.values())
    for row in result.values():
        row["sample_ratio_to_fastest"] = row["sample_ms_per_image"] / fastest
        row["lecture"] = dict(
            zip(("training", "likelihood", "sampling", "compression", "representation"), LECTURE[row["family"]])
        )
    if conditional:
        result["conditional"] = conditional_rows()
    return result


# --- output ------------------------------------------------------------------------------------------

COLUMNS = [
    ("family", "s"),
    ("likelihood_bound", "s"),
    ("bits_per_dim_upper", ".4f"),
    ("bits_per_dim_lower", ".4f"),
    ("gap_bits_per_image_upper", ".1f"),
    ("seed_spread", ".4f"),
    ("diverged", "d"),
    ("roughness", ".2f"),
    ("sample_ms_per_image", ".2f"),
    ("sample_ratio_to_fastest", ".1f"),
    ("code_bits_per_image", ".1f"),
    ("png_bits_per_image", ".0f"),
    ("probe_accuracy", ".3f"),
    ("validity", ".3f"),
    ("encoder_validity", ".3f"),
    ("attribute_tv", ".3f"),
    ("coverage", ".3f"),
]


def _cell(value, spec: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return format(value, spec)


def family_rows(result: dict) -> dict:
    """The per-family rows of a result, without its "conditional" and "meta" entries."""
    return {name: row for name, row in result.items() if name not in ("conditional", "meta")}


def table_rows(result: dict) -> list[list[str]]:
    return [[_cell(row.get(key), spec) for key, spec in COLUMNS] for row in family_rows(result).values()]


def markdown(result: dict) -> str:
    header = [key for key, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(result)]
    return "\n".join(lines) + "\n"


def write_csv(result: dict, path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([key for key, _ in COLUMNS])
        writer.writerows(table_rows(result))


def print_table(result: dict) -> None:
    rows = [[key for key, _ in COLUMNS]] + table_rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for r in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths)))
    for name, row in result.get("conditional", {}).items():
        print(
            f"conditional {name}: seen match {row['seen_match']:.2f}, held-out (red cylinder) match "
            f"{row['held_out_match']:.2f}, held-out colour {row['held_out_colour_match']:.2f}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.evaluation.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--full", action="store_true", help="longer budgets (3 min per run) and every scene scored")
    parser.add_argument("--minutes", type=float, help="training minutes per run (overrides the budget's)")
    parser.add_argument("--seeds", type=int, help="runs per family (overrides the budget's)")
    parser.add_argument("--samples", type=int, help="samples scored per family (overrides the budget's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-conditional", action="store_true", help="skip the shipped conditional models")
    parser.add_argument("--json", type=Path, help="write the result as JSON here")
    parser.add_argument("--csv", type=Path, help="write the table as CSV here")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown here")
    args = parser.parse_args(argv)
    budget = FULL if args.full else QUICK
    changes = {
        k: v for k, v in (("minutes", args.minutes), ("seeds", args.seeds), ("samples", args.samples)) if v is not None
    }
    if changes.get("minutes") is not None and not 0 < changes["minutes"] <= 60:
        parser.error("--minutes must be in (0, 60]")
    if changes.get("seeds") is not None and not 1 <= changes["seeds"] <= 10:
        parser.error("--seeds must be in 1..10")
    if changes.get("samples") is not None and not 1 <= changes["samples"] <= 10_000:
        parser.error("--samples must be in 1..10000")
    budget = Budget(**{**budget.__dict__, **changes})
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = evaluate(
        args.families,
        budget,
        callback=lambda f, s: print(f"  trained {f} seed {s} ({time.perf_counter() - start:.0f} s)", flush=True),
        conditional=not args.no_conditional,
    )
    result_meta = {"budget": budget.__dict__, "seconds": time.perf_counter() - start, "threads": args.threads}
    print_table(result)
    print(f"total {result_meta['seconds'] / 60:.1f} min")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "meta": result_meta}, indent=1, default=float))
    if args.csv:
        write_csv(result, args.csv)
    if args.markdown:
        args.markdown.write_text(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
