"""Draw samples from a trained model: a run's checkpoint or a shipped model, into one PNG grid.

    python -m playground.models.sample runs/vae/model.safetensors --n 16 --out vae.png
    python -m playground.models.sample diffusion-class --shape cylinder --color red --out red.png
    python -m playground.models.sample diffusion-caption --caption "a large red cylinder" --steps 100

The same from Python:

    import torch
    from playground import load
    model = load("runs/vae/model.safetensors")             # any checkpoint python -m playground.models.train wrote
    images = model.sample(16, generator=torch.Generator().manual_seed(0))   # uint8 (16, 3, H, W)

Every sample is a draw (`sample`'s default); `--mode` asks the families that offer one (VAE, RBM) for
their most likely image instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .registry import MODE_FAMILIES

MAX_SAMPLES = 64  # one grid; more is a script's job


def load_model(what: str):
    """A checkpoint file, or the name of a shipped model."""
    from . import pretrained
    from .checkpoint import load

    path = Path(what)
    if path.suffix == ".safetensors" or path.exists():
        if path.is_dir():
            path = path / "model.safetensors"  # a run directory
        return load(path)
    if what in pretrained.ALL_RECIPES:
        return pretrained.load(what)
    raise FileNotFoundError(
        f"{what!r} is neither a checkpoint file nor a shipped model; shipped: {', '.join(pretrained.RECIPES)}"
    )


def condition_for(model, n: int, shape: str | None, color: str | None, caption: str | None):
    """The condition tensor a model of this kind needs, from the command line's words (None when unconditional)."""
    from .data import class_condition
    from .text import check_caption, encode_captions

    kind = getattr(model.config, "condition", "none")
    if kind == "none":
        if shape or color or caption:
            raise ValueError("this model is unconditional: drop --shape, --color and --caption")
        return None
    if kind == "class":
        if caption or not (shape and color):
            raise ValueError("this model is class-conditional: give --shape and --color (e.g. cylinder red)")
        return class_condition(shape, color).expand(n, -1)
    if kind == "caption":
        if not caption or shape or color:
            raise ValueError('this model is caption-conditional: give --caption (e.g. "a large red cylinder")')
        return encode_captions([check_caption(caption)] * n)
    raise ValueError(f"this model is conditioned on {kind!r}; it does not draw images")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.models.sample",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="a checkpoint (FILE.safetensors or a run directory) or a shipped model's name")
    parser.add_argument("--n", type=int, default=16, help=f"samples, 1..{MAX_SAMPLES} (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="the sampling seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("samples.png"), help="the PNG grid (default samples.png)")
    parser.add_argument("--columns", type=int, default=8, help="grid columns (default 8)")
    parser.add_argument("--scale", type=int, default=3, help="pixel magnification, 1..8 (default 3)")
    parser.add_argument("--shape", help="for a class-conditional model: cube, cylinder or sphere")
    parser.add_argument("--color", help="for a class-conditional model: a palette colour name")
    parser.add_argument("--caption", help="for a caption-conditional model")
    parser.add_argument("--steps", type=int, help="diffusion: denoising steps (default: the model's)")
    parser.add_argument("--mode", action="store_true", help="VAE, RBM: the most likely image, not a draw")
    args = parser.parse_args(argv)
    try:
        import torch
        from PIL import Image

        from worlds.images import image_grid

        from .protocol import channels_last

        if not 1 <= args.n <= MAX_SAMPLES:
            raise ValueError(f"--n must be in 1..{MAX_SAMPLES}, got {args.n}")
        if not 1 <= args.scale <= 8 or not 1 <= args.columns <= MAX_SAMPLES:
            raise ValueError("--scale must be in 1..8 and --columns in 1..64")
        if args.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
        model = load_model(args.model)
        condition = condition_for(model, args.n, args.shape, args.color, args.caption)
        options = {}
        if args.steps is not None:
            if model.family != "diffusion":
                raise ValueError("--steps is for diffusion models")
            options["steps"] = args.steps
        if args.mode:
            if model.family not in MODE_FAMILIES:
                raise ValueError("--mode is for the VAE and the RBM, the families with a most likely image")
            options["mode"] = True
        with torch.no_grad():
            images = model.sample(args.n, condition, generator=torch.Generator().manual_seed(args.seed), **options)
        grid = image_grid(channels_last(images), min(args.columns, args.n), scale=args.scale)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(args.out)
        print(f"drew {args.n} samples from {args.model} (seed {args.seed}); wrote {args.out}")
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
