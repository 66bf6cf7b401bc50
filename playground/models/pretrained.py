"""The shipped models: one recipe per checkpoint, the script that trains them all, a cached loader.

    python -m playground.models.pretrained                  # train every recipe, one after the other (≤ 10 min each)
    python -m playground.models.pretrained vae gan-class    # only these
    python -m playground.models.pretrained encoder-shapes2d --threads 2   # an inverse-graphics encoder (<= 15 min)
    python -m playground.models.pretrained diffusion --threads 2   # one run using both cores
    python -m playground.models.pretrained --list

Each recipe is an ordinary `python -m playground.models.train` run (same loop, same seeds); its weights
land in `playground/weights/NAME.safetensors` with the run's world, budget and wall time in the
checkpoint's metadata, and its loss log (every 10th step) in `NAME.csv`. The app and
`benchmarks/models.py` only load these files; nothing is downloaded.

Unconditional models learn the `exact` world (768 equally likely scenes, so the gap to its entropy
is measurable); their `-split` twins learn `exact-split`'s training scenes only and are scored on the
held-out rest. Conditional ones learn `exact-holdout`, which never shows a red cylinder: asking
them for one is the compositional test.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"  # playground/weights: every shipped network


@dataclass(frozen=True)
class Recipe:
    family: str
    world: str
    minutes: float
    condition: str = "none"
    batch_size: int = 64
    lr: float = 1e-3
    n: int = 20_000
    config: dict = field(default_factory=dict)
    schedule: str = "constant"  # the learning rate over the budget (playground.models.train.SCHEDULES)
    steps: int | None = None  # a step budget as well (whichever ends first): the same run on any machine
    precision: str = "float32"  # the training steps' arithmetic (playground.models.train.PRECISIONS)

    def build(self, image_size: int, **overrides):
        """A fresh model of this recipe's family, condition and config (`overrides` change them)."""
        from .registry import build

        return build(self.family, **{"image_size": image_size, "condition": self.condition, **self.config, **overrides})

    @property
    def fit_options(self) -> dict:
        """The recipe's optimisation settings, as playground.models.train.fit takes them."""
        return {"batch_size": self.batch_size, "lr": self.lr, "schedule": self.schedule, "precision": self.precision}

    def argv(self, name: str, out: Path, threads: int = 1) -> list[str]:
        args = [
            "--model",
            self.family,
            "--world",
            self.world,
            "--minutes",
            str(self.minutes),
            "--out",
            str(out / name),
            "--n",
            str(self.n),
            "--batch-size",
            str(self.batch_size),
            "--lr",
            str(self.lr),
            "--schedule",
            self.schedule,
            "--condition",
            self.condition,
            "--seed",
            "0",
            "--threads",
            str(threads),
            "--precision",
            self.precision,
        ]
        if self.steps is not None:
            args += ["--steps", str(self.steps)]
        for key, value in self.config.items():
            args += ["--set", f"{key}={json.dumps(value)}"]  # JSON, as --set reads it: true, not True
        return args


# seen: the head knows whether an object was drawn (docs/models-pixelcnn.md)
_PIXELCNN = {"hidden": 24, "layers": 8, "seen": 8}
_FLOW = {"max_grad_norm": 50.0}  # the unclipped run diverged on one core (docs/models-flow.md)
_VAE = {"prior_components": 1024}  # a mixture prior fitted to the codes after training (see playground/models/vae.py)
_GAN = {"batch_std": True}  # D sees a group's spread, so G cannot collapse onto one colour (docs/models-gan.md)
_DIFFUSION = {
    "min_snr": 50.0,
    "prediction": "v",
}  # Min-SNR weighting, v-prediction: valid samples in 10 minutes (docs/models-diffusion.md)
RECIPES: dict[str, Recipe] = {
    "pixelcnn": Recipe("pixelcnn", "exact", 10, batch_size=16, lr=2e-3, config=_PIXELCNN),
    "flow": Recipe("flow", "exact", 10, batch_size=16, lr=2e-3, config=_FLOW),
    "vae": Recipe("vae", "exact", 10, batch_size=32, lr=2e-3, config=_VAE),
    "gan": Recipe("gan", "exact", 8, lr=2e-4, config=_GAN),
    "rbm": Recipe(
        "rbm",
        "exact",
        10,
        steps=12_000,
        schedule="cosine",  # PCD settles as the rate decays;
        config={"centered": True},
    ),  # the centred gradient: clean samples (docs/models-rbm.md)
    "ebm": Recipe("ebm", "exact", 8, lr=1e-4),
    "diffusion": Recipe("diffusion", "exact", 10, batch_size=16, lr=1e-3, config=_DIFFUSION),
    "pixelcnn-class": Recipe("pixelcnn", "exact-holdout", 8, "class", batch_size=16, lr=2e-3, config=_PIXELCNN),
    "vae-class": Recipe("vae", "exact-holdout", 8, "class", batch_size=32, lr=2e-3, config=_VAE),
    "gan-class": Recipe("gan", "exact-holdout", 6, "class", lr=2e-4, config=_GAN),
    "diffusion-class": Recipe("diffusion", "exact-holdout", 8, "class", batch_size=16, lr=1e-3, config=_DIFFUSION),
    "diffusion-caption": Recipe("diffusion", "exact-holdout", 8, "caption", batch_size=16, lr=1e-3, config=_DIFFUSION),
}
# the same recipes on `exact-split`'s training side (about 80% of the scenes): scored on the held-out rest, they
# show whether a family learnt the world's factors or memorised its scenes (benchmarks/models.py --heldout). The
# five with bits; the GAN and the EBM have none to compare, and draw no valid image of the whole world either.
# They train for the steps their full-world twin reached in its budget (its checkpoint's `steps`), so that the
# two differ only in the scenes they see, on any machine; the time budget is a generous cap.
TWIN_STEPS = {"pixelcnn": 2604, "flow": 9038, "vae": 6278, "rbm": 12_000, "diffusion": 11_476}
HELDOUT_RECIPES: dict[str, Recipe] = {
    f"{name}-split": replace(recipe, world="exact-split", steps=TWIN_STEPS[name], minutes=3 * recipe.minutes)
    for name, recipe in RECIPES.items()
    if recipe.condition == "none" and name not in ("gan", "ebm")
}
# the models that are not generative: the inverse-graphics encoders (playground.inverse.encoder: image -> scene,
# one per default world) and the shape classifier the adversarial-noise demo attacks (playground.uncertainty.adversarial)
ENCODER_RECIPES: dict[str, Recipe] = {
    "encoder-shapes2d": Recipe("encoder", "shapes2d", 15, batch_size=32, lr=5e-4, n=60_000),
    "encoder-clevr3d": Recipe("encoder", "clevr3d", 15, batch_size=32, lr=1e-3, n=60_000),
    "classifier-exact": Recipe("classifier", "exact", 2, "class", batch_size=64, lr=1e-3, n=8192),
}
ALL_RECIPES = {**RECIPES, **HELDOUT_RECIPES, **ENCODER_RECIPES}


CARDS = WEIGHTS / "cards.json"  # each shipped model's measured sample quality (benchmarks/models.py --cards)


def cards() -> dict[str, dict]:
    """Model name -> its card: the figures benchmarks/models.py measured on its draws (validity, coverage,
    for conditional models the held-out class), with the draws and seeds they came from; {} when none."""
    return json.loads(CARDS.read_text()) if CARDS.is_file() else {}


def write_cards(new: dict[str, dict]) -> dict[str, dict]:
    """Merge freshly measured cards into CARDS (a run of some models keeps the others' cards)."""
    merged = {**cards(), **new}
    CARDS.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
    return new


def path(name: str) -> Path:
    if name not in ALL_RECIPES:
        raise ValueError(f"no shipped model {name!r}; choose one of {', '.join(ALL_RECIPES)}")
    return WEIGHTS / f"{name}.safetensors"


def available(encoders: bool = False, heldout: bool = False) -> list[str]:
    """Names of the generative recipes (with `encoders`: the non-generative ones, encoders and the
    classifier; with `heldout`: the `-split` twins) whose weights are present."""
    recipes = ENCODER_RECIPES if encoders else HELDOUT_RECIPES if heldout else RECIPES
    return [name for name in recipes if path(name).is_file()]


@lru_cache(maxsize=None)
def load(name: str):
    """The shipped model `name`, loaded once per process (eval mode; treat it as read-only)."""
    from .checkpoint import load as load_checkpoint

    file = path(name)
    if not file.is_file():
        raise FileNotFoundError(
            f"the weights of {name!r} are missing ({file}); "
            f"train them with: python -m playground.models.pretrained {name}"
        )
    return load_checkpoint(file)


def train(name: str, scratch: Path, threads: int = 1) -> Path:
    """Run recipe `name` through the training CLI (a process of its own, as a user would run it: the CLI
    reads its defaults from the recipes here); copy its weights and a thinned loss log to WEIGHTS."""
    import subprocess

    command = [sys.executable, "-m", "playground.models.train", *ALL_RECIPES[name].argv(name, scratch, threads)]
    if subprocess.run(command, cwd=Path(__file__).resolve().parents[2]).returncode != 0:
        raise RuntimeError(f"training {name} failed")
    WEIGHTS.mkdir(exist_ok=True)
    trained = scratch / name / "model.safetensors"
    recipe = ALL_RECIPES[name]
    if recipe.family == "rbm":  # a shipped RBM's log Z to a relative error below 0.1 (training stops at 2^18 draws)
        from .checkpoint import load as load_checkpoint
        from .checkpoint import save
        from .data import load_world
        from .rbm import binarize

        model = load_checkpoint(trained)
        bits = binarize(load_world(recipe.world, recipe.n, 0).images)  # the training images, as the run drew them
        model.set_log_z_from_data(bits, draws=2**19, max_draws=2**21)
        save(model, trained, extra=model.checkpoint_extra)
    trained.replace(path(name))
    with open(scratch / name / "loss.csv") as src, open(WEIGHTS / f"{name}.csv", "w", newline="") as dst:
        rows = list(csv.reader(src))
        csv.writer(dst).writerows(
            [rows[0]] + [r for i, r in enumerate(rows[1:], 1) if i % 10 == 0 or i == len(rows) - 1]
        )
    return path(name)


# --- the README's sample grids ----------------------------------------------------------------------

GRID_CLASSES = [("cylinder", "red")] * 4 + [("cube", "blue")] * 2 + [("sphere", "green")] * 2  # red cylinders: held out
GRID_CAPTION = "a large red cylinder"


def sample_grid(name: str, seed: int = 0):
    """The README's picture of shipped model `name`: eight samples (seed `seed`) in a row, 3x. Class
    models are asked for GRID_CLASSES (four held-out red cylinders first), caption models for
    GRID_CAPTION; diffusion uses 250 steps and, when conditional, guidance 2."""
    import torch

    from worlds.images import image_grid

    from .data import class_condition
    from .protocol import channels_last
    from .text import encode_captions

    model = load(name)
    kind = getattr(model.config, "condition", "none")
    condition = {
        "none": None,
        "class": torch.cat([class_condition(*pair) for pair in GRID_CLASSES]),
        "caption": encode_captions([GRID_CAPTION] * len(GRID_CLASSES)),
    }[kind]
    options = {"steps": 250, "guidance": 1.0 if kind == "none" else 2.0} if model.family == "diffusion" else {}
    with torch.no_grad():
        images = model.sample(len(GRID_CLASSES), condition, generator=torch.Generator().manual_seed(seed), **options)
    return image_grid(channels_last(images), len(GRID_CLASSES), scale=3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.models.pretrained",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", help="recipes to train (default: all)")
    parser.add_argument("--list", action="store_true", help="print the recipes and exit")
    parser.add_argument(
        "--grids",
        type=Path,
        metavar="DIR",
        help="write DIR/samples_NAME.png, eight samples of every shipped model (the README's), and exit",
    )
    parser.add_argument("--scratch", type=Path, default=Path("out/pretrained"), help="where runs are written first")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        choices=range(1, 65),
        metavar="N",
        help="torch threads per run (default 1: two runs can share a 2-core machine)",
    )
    args = parser.parse_args(argv)
    if args.list:
        for name, r in ALL_RECIPES.items():
            state = "present" if path(name).is_file() else "missing"
            steps = f"{r.steps:,} steps or " if r.steps else ""
            print(f"{name:18s} {r.family:10s} {r.world:14s} {r.condition:8s} {steps}{r.minutes:.0f} min  {state}")
        return 0
    unknown = [n for n in args.names if n not in ALL_RECIPES]
    if unknown:
        print(f"error: no recipe {unknown[0]!r}; choose from {', '.join(ALL_RECIPES)}", file=sys.stderr)
        return 2
    if args.grids:
        from PIL import Image

        not_generative = [n for n in args.names if n not in RECIPES]
        if not_generative:
            print(
                f"error: {not_generative[0]!r} is not a generative model; grids are drawn for {', '.join(RECIPES)}",
                file=sys.stderr,
            )
            return 2
        args.grids.mkdir(parents=True, exist_ok=True)
        for name in args.names or available():
            Image.fromarray(sample_grid(name)).save(args.grids / f"samples_{name}.png", optimize=True)
            print(f"wrote {args.grids / f'samples_{name}.png'}")
        return 0
    for name in args.names or list(ALL_RECIPES):
        print(f"== {name}", flush=True)
        train(name, args.scratch, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
