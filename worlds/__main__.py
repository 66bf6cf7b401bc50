"""The toy world from the command line: list its worlds, make datasets, show and render scenes.

    python -m worlds list
    python -m worlds generate --world shapes2d --n 100000 --seed 0 --out data/shapes2d --format parquet
    python -m worlds generate ... --shard 0 --num-shards 4      # a quarter of the same dataset
    python -m worlds show --world clevr3d --seed 0 --index 42 [--json]
    python -m worlds render scene.json --out scene.png          # '-' reads the scene from stdin

`generate` resumes when run again with the same arguments. `show --json` prints one JSON
record whose "scene" `render` accepts, so `show ... --json | render - --out x.png` works.
Every error (an unknown world, a bad number, a directory that holds something else,
malformed scene JSON) prints one line `error: ...` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

from .captions import caption, captions, relations
from .render import render
from .scene import Scene, SceneError
from .world import SPLITS, WORLDS, WorldError, get_world, sample_scene

FORMATS = ("imagefolder", "parquet", "npz")  # as worlds.datasets, which is imported only to generate


class CommandError(Exception):
    """A problem with what the user asked for; shown as one line, never as a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors read like ours: one line, exit status 2."""

    def error(self, message):
        raise CommandError(f"{message} (see: {self.prog} --help)")


def _world(args):
    """The world a command names, at the size and split it asks for (as generate makes them)."""
    world = get_world(args.world)
    if args.size is not None and args.size != world.image_size:
        world = world.replace(image_size=args.size)
    if args.split is not None and args.split != world.split:
        world = world.replace(split=args.split)
    return world


def cmd_list(args) -> None:
    rows = [
        (w.name, w.view, str(w.image_size), "-".join(map(str, sorted(set(w.num_objects)))), w.description)
        for w in WORLDS.values()
    ]
    header = ("world", "view", "size", "objects", "description")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])


def cmd_generate(args) -> None:
    from tqdm import tqdm

    from .datasets import DatasetError, generate  # imports torch: only this command pays for it

    bars = []  # the progress bar, made when generate says how many scenes this run has

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=total,
                    initial=done,
                    unit="scene",
                    file=sys.stderr,
                    dynamic_ncols=True,
                    desc=f"{args.world} -> {args.format}",
                )
            )
        bars[0].update(done - bars[0].n)

    try:
        out = generate(
            args.world,
            args.n,
            args.seed,
            args.out,
            args.format,
            shard=args.shard,
            num_shards=args.num_shards,
            overwrite=args.overwrite,
            image_size=args.size,
            split=args.split,
            progress=progress,
            workers=args.workers,
        )
    except DatasetError as err:
        raise CommandError(str(err)) from None
    finally:
        for bar in bars:
            bar.close()
    print(f"{out}: {bars[0].n:,} scenes ({args.format})")


def cmd_show(args) -> None:
    scene = sample_scene(_world(args), args.seed, args.index)
    if args.json:
        print(
            json.dumps(
                {
                    "world": args.world,
                    "seed": args.seed,
                    "index": args.index,
                    "caption": caption(scene),
                    "captions": captions(scene),
                    "relations": relations(scene),
                    "scene": scene.to_dict(),
                }
            )
        )
    else:
        print(f"caption: {caption(scene)}")
        print(scene.to_json(indent=2))


def _read_scene(source: str) -> Scene:
    """A scene from a JSON file (or stdin for '-'): the scene itself, or a record holding it
    under "scene" (as `show --json` and the datasets' metadata write it)."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CommandError(f"{source}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    if isinstance(data, dict) and "scene" in data:
        data = json.loads(data["scene"]) if isinstance(data["scene"], str) else data["scene"]
    return Scene.from_dict(data)


def cmd_render(args) -> None:
    image = render([_read_scene(args.scene)])[0]
    Image.fromarray(image).save(args.out, format="PNG")
    print(f"{args.out}: {image.shape[1]}x{image.shape[0]}")


def _add_world_options(parser) -> None:
    parser.add_argument("--world", required=True, help=f"a preset: {', '.join(WORLDS)}")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--size", type=int, help="image side in pixels (default: the world's)")
    parser.add_argument("--split", choices=SPLITS, help="held-out split (default: the world's)")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="python -m worlds", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="the preset worlds").set_defaults(run=cmd_list)

    gen = commands.add_parser("generate", help="write a dataset (resumes when re-run)")
    _add_world_options(gen)
    gen.add_argument("--n", type=int, required=True, help="number of scenes in the whole dataset")
    gen.add_argument("--out", type=Path, required=True, help="output directory")
    gen.add_argument("--format", choices=FORMATS, required=True)
    gen.add_argument("--shard", type=int, default=0, help="which shard to write (0-based)")
    gen.add_argument("--num-shards", type=int, default=1, help="into how many shards the dataset is cut")
    gen.add_argument("--workers", type=int, help="processes to use (default: one per CPU for long runs)")
    gen.add_argument("--overwrite", action="store_true", help="delete what the output directory holds first")
    gen.set_defaults(run=cmd_generate)

    show = commands.add_parser("show", help="print one scene of a world: its caption and JSON")
    _add_world_options(show)
    show.add_argument("--index", type=int, required=True, help="which scene (as in a dataset's `index`)")
    show.add_argument("--json", action="store_true", help="print one JSON record instead")
    show.set_defaults(run=cmd_show)

    ren = commands.add_parser("render", help="render a scene JSON file to a PNG")
    ren.add_argument("scene", help="scene JSON file, or '-' for stdin")
    ren.add_argument("--out", type=Path, required=True, help="PNG file to write")
    ren.set_defaults(run=cmd_render)
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        args.run(args)
    except (CommandError, SceneError, WorldError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
