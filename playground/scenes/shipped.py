"""The shipped scene-level models: one recipe each, the script that trains them, a cached loader.

    python -m playground.scenes.shipped --list
    python -m playground.scenes.shipped scene-autoregressive-clevr3d      # train one (a few minutes)
    python -m playground.scenes.shipped                                   # train all, one after the other

Names read `scene-FAMILY-WORLD` for the unconditional models and `scene-FAMILY-prompt-WORLD` for the
prompt-conditional ones, which learn the world's held-out twin (`shapes2d-holdout`: no red cylinders;
`clevr3d-cogent`: CoGenT's condition A) so that asking for a held-out combination tests composition.
A `-from-pixels` suffix marks a model that learnt from scenes read back out of rendered pictures.
Each recipe is an ordinary `python -m playground.scenes.train` run with a step budget (the same run on
every machine); its wall time on the machine that trained it is in the checkpoint's metadata.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from playground.models.checkpoint import load as load_checkpoint

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
RESULTS = Path(__file__).resolve().parent / "results.json"  # the shipped run of benchmarks/scene_models.py --save
WORLDS = ("exact", "shapes2d", "clevr3d")
PROMPT_WORLDS = {"shapes2d": "shapes2d-holdout", "clevr3d": "clevr3d-cogent"}  # what a prompt model learns


@dataclass(frozen=True)
class SceneRecipe:
    family: str
    world: str  # the world it is scored on
    steps: int
    condition: str = "none"
    source: str = "prior"
    n: int = 20_000
    config: dict = field(default_factory=dict)

    @property
    def trained_on(self) -> str:
        """The world whose scenes it learns: the world itself, or for a prompt model its held-out twin."""
        return PROMPT_WORLDS[self.world] if self.condition == "prompt" else self.world

    def argv(self, out: Path) -> list[str]:
        args = ["--family", self.family, "--world", self.trained_on, "--steps", str(self.steps), "--n", str(self.n)]
        args += ["--condition", self.condition, "--source", self.source, "--out", str(out), "--threads", "2"]
        if self.condition == "prompt":
            args += ["--split", "train"]
        for key, value in self.config.items():
            args += ["--set", f"{key}={value}"]
        return args


def _name(recipe: SceneRecipe) -> str:
    middle = "-prompt" if recipe.condition == "prompt" else ""
    suffix = "-from-pixels" if recipe.source == "pixels" else ""
    return f"scene-{recipe.family}{middle}-{recipe.world}{suffix}"


RECIPES: dict[str, SceneRecipe] = {
    _name(r): r
    for r in [
        *(SceneRecipe("autoregressive", world, steps=2000) for world in WORLDS),
        *(SceneRecipe("autoregressive", world, steps=2000, condition="prompt", n=40_000) for world in PROMPT_WORLDS),
    ]
}


def results() -> dict:
    """The shipped models' measured figures ({world: {family: {...}}}, benchmarks/scene_models.py --save), or {}."""
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def path(name: str) -> Path:
    if name not in RECIPES:
        raise ValueError(f"no shipped scene model {name!r}; choose one of {', '.join(RECIPES)}")
    return WEIGHTS / f"{name}.safetensors"


def available() -> list[str]:
    return [name for name in RECIPES if path(name).is_file()]


@lru_cache(maxsize=None)
def load(name: str):
    """The shipped scene model `name`, loaded once per process (eval mode; treat it as read-only)."""
    file = path(name)
    if not file.is_file():
        raise FileNotFoundError(
            f"the weights of {name!r} are missing ({file}); train them with: python -m playground.scenes.shipped {name}"
        )
    return load_checkpoint(file)


def train(name: str) -> Path:
    """Run recipe `name` through the training CLI in a process of its own and copy its weights here."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / name
        command = [sys.executable, "-m", "playground.scenes.train", *RECIPES[name].argv(out)]
        if subprocess.run(command, cwd=Path(__file__).resolve().parents[2]).returncode != 0:
            raise RuntimeError(f"training {name} failed")
        WEIGHTS.mkdir(exist_ok=True)
        (out / "model.safetensors").replace(path(name))
    return path(name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.scenes.shipped", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="recipes to train (default: all)")
    parser.add_argument("--list", action="store_true", help="list the recipes and whether their weights are here")
    args = parser.parse_args(argv)
    if args.list:
        for name, recipe in RECIPES.items():
            mark = "✓" if path(name).is_file() else " "
            print(f"{mark} {name:44s} {recipe.family} on {recipe.trained_on}, {recipe.steps} steps")
        return 0
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        print(f"error: no scene recipe {unknown[0]!r}; see --list", file=sys.stderr)
        return 2
    for name in args.names or list(RECIPES):
        print(f"wrote {train(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
