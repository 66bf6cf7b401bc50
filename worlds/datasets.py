"""Datasets of the toy world: write them to disk, read them back, or render them on the fly.

`generate(world, n, seed, out, format)` writes scenes 0..n-1 of a world, one record each:

    imagefolder  images/00000042.png + metadata.jsonl      load_dataset("imagefolder", data_dir=out)
    parquet      data/train-00000-of-00001-part-00000.parquet   load_dataset("parquet", data_dir=out)
    npz          data/train-00000-of-00001-part-00000.npz       numpy.load(...)

A record holds the scene's global `index`, its JSON (`Scene.from_json` gives the scene back
exactly), its captions and relation facts, and flat attribute lists (`shapes`, `colors`,
...) for filtering; npz parts hold arrays instead (images, slot vectors, scene JSON).

How a run stays correct:

* Scene i is a pure function of (world, seed, i) (see `worlds.world`), so a run is cut into
  parts of `part_size` scenes that any process may make in any order, and shard i of k,
  the scenes [i*n//k, (i+1)*n//k), is byte for byte those scenes of a single run.
* A part is written under a hidden temporary name and renamed into place. A rename is
  atomic, so a file under its final name is always complete, and re-running the same
  command resumes by skipping finished parts.
* The stamp `.toyworld-run.json` is written first and names the run that owns the
  directory: another run is refused, never mixed in. `manifest.json`, with every file's
  size and SHA-256, is written last: it exists only when the export is complete.
* Shard i of k writes a whole export into `out/shard-0000i-of-0000k/`, so all shards can
  share `out` (on one machine or many) and `load_dataset(..., data_dir=out)` reads them all.

`load_export(path)` reads any of the formats back as an `ExportDataset`; `RenderedDataset`
renders scenes on the fly instead. Both are torch map-style datasets whose items are

    {"index": int, "image": uint8 tensor (3, H, W), "vector": float32 tensor (MAX_OBJECTS, SLOT_DIM),
     "scene": scene JSON str, "caption": str}

which torch's default collate batches as is (it could not batch `Scene` objects; use
`dataset.scene(i)` for those).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import multiprocessing
import os
import re
import shlex
import shutil
import struct
import threading
import zlib
from bisect import bisect_right
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image

from .captions import caption, captions, relations
from .render import render
from .scene import Scene
from .world import WORLDS, World, get_world, sample_scenes

FORMATS = ("imagefolder", "parquet", "npz")
VERIFY = ("size", "sha256")
MAX_SCENES = 10_000_000
PART_SIZE = 1_000
MIN_PARTS_PER_WORKER = 8
# zlib level of the PNGs. Measured on 32 px 2D and 64 px 3D scenes, level 6 (zlib's default)
# makes files 15-25% smaller than level 1 for 30% more encoding time; level 9 saves 4% more
# and takes 3x as long.
PNG_LEVEL = 6
STAMP, MANIFEST, PARTS = ".toyworld-run.json", "manifest.json", ".parts"
STAMP_KEYS = (
    "toyworld_run",
    "version",
    "world",
    "config_hash",
    "seed",
    "n",
    "format",
    "num_shards",
    "shard",
    "part_size",
)
SHARD_DIR = re.compile(r"shard-\d{5}-of-\d{5}")
VERSION = getattr(importlib.import_module(__package__), "__version__", "0.1.0")

# One Arrow schema for the records of every format (imagefolder's JSON lines infer the same).
RECORD_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("scene", pa.string()),
        ("caption", pa.string()),
        ("captions", pa.list_(pa.string())),
        (
            "relations",
            pa.list_(pa.struct([("subject", pa.int64()), ("relation", pa.string()), ("object", pa.int64())])),
        ),
        ("num_objects", pa.int64()),
        ("shapes", pa.list_(pa.string())),
        ("colors", pa.list_(pa.string())),
        ("sizes", pa.list_(pa.float64())),
        ("materials", pa.list_(pa.string())),
        ("positions", pa.list_(pa.list_(pa.float64()))),
        ("rotations", pa.list_(pa.float64())),
    ]
)
# Hugging Face's Image feature is stored as this struct; the schema metadata says to decode it.
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


class DatasetError(ValueError):
    """A dataset cannot be written or read as asked; the message says why and what to do."""


def _hf_feature(field_type: pa.DataType) -> dict:
    """The `datasets` feature (as its JSON dict) that an Arrow type decodes to."""
    if field_type == IMAGE_TYPE:
        return {"_type": "Image"}
    if pa.types.is_list(field_type):
        return {"feature": _hf_feature(field_type.value_type), "_type": "List"}
    if pa.types.is_struct(field_type):
        return {f.name: _hf_feature(f.type) for f in field_type}
    return {"dtype": {"double": "float64"}.get(str(field_type), str(field_type)), "_type": "Value"}


PARQUET_SCHEMA = pa.schema([("image", IMAGE_TYPE), *RECORD_SCHEMA])
PARQUET_SCHEMA = PARQUET_SCHEMA.with_metadata(
    {"huggingface": json.dumps({"info": {"features": {f.name: _hf_feature(f.type) for f in PARQUET_SCHEMA}}})}
)


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """Everything that decides a run's bytes, and where it writes them."""

    world: World
    seed: int
    n: int
    format: str
    shard: int
    num_shards: int
    part_size: int
    dir: Path

    @property
    def span(self) -> tuple[int, int]:
        return self.shard * self.n // self.num_shards, (self.shard + 1) * self.n // self.num_shards

    @property
    def stamp(self) -> dict:
        """The settings two runs must share to write into one directory (STAMP_KEYS)."""
        return {
            "toyworld_run": 1,
            "version": VERSION,
            "world": self.world.name,
            "config_hash": self.world.config_hash,
            "seed": self.seed,
            "n": self.n,
            "format": self.format,
            "num_shards": self.num_shards,
            "shard": self.shard,
            "part_size": self.part_size,
        }

    def parts(self) -> list[tuple[int, int, int]]:
        """(part number, first scene, end scene) of each part of this shard."""
        lo, hi = self.span
        return [(j, start, min(start + self.part_size, hi)) for j, start in enumerate(range(lo, hi, self.part_size))]

    def part_file(self, j: int) -> Path:
        """The file whose presence under its final name means part j is finished."""
        if self.format == "imagefolder":
            return self.dir / PARTS / f"part-{j:05d}.jsonl"
        # `load_dataset` reads `data/<name>-00000-of-00001*` as shards of a split called <name>
        # (so `shard-00000-of-...` would make a split "shard"); we name the split "train",
        # its default, whatever the world's split.
        return self.dir / "data" / f"train-{self.shard:05d}-of-{self.num_shards:05d}-part-{j:05d}.{self.format}"

    def data_files(self) -> list[Path]:
        if self.format == "imagefolder":
            return [self.dir / "metadata.jsonl"] + [self.dir / "images" / f"{i:08d}.png" for i in range(*self.span)]
        return [self.part_file(j) for j, _, _ in self.parts()]


def _resolve_world(world: World | str, image_size: int | None, split: str | None) -> World:
    world = get_world(world)
    if image_size is not None and image_size != world.image_size:
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
            raise DatasetError(f"image_size must be an integer, got {image_size!r}")
        world = world.replace(image_size=int(image_size))  # which checks it as Scene checks image sizes
    if split is not None and split != world.split:
        world = world.replace(split=split)
    return world


def _count(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise DatasetError(f"{name} must be an integer in {lo:,}..{hi:,}, got {value!r}")
    return int(value)


def generate(
    world: World | str,
    n: int,
    seed: int,
    out: str | os.PathLike,
    format: str,
    *,
    shard: int = 0,
    num_shards: int = 1,
    overwrite: bool = False,
    image_size: int | None = None,
    split: str | None = None,
    progress: Callable[[int, int], object] | None = None,
    part_size: int = PART_SIZE,
    workers: int | None = None,
) -> Path:
    """Write scenes [shard*n//num_shards, (shard+1)*n//num_shards) of `world` to `out`; return
    the export's directory (`out`, or `out/shard-0000i-of-0000k` for one of several shards).

    `image_size` and `split` override the world's; `progress(done, total)` is called as parts
    finish. `workers` processes make parts of `part_size` scenes in parallel (default: one
    per CPU when there are enough parts to repay their start); like any multiprocessing, that
    needs a script's own code under `if __name__ == "__main__":`.
    Re-running the same call resumes; a directory holding anything else is refused unless
    `overwrite=True`, which deletes its contents first.
    """
    if format not in FORMATS:
        raise DatasetError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    n = _count("n", n, 1, MAX_SCENES)
    num_shards = _count("num_shards", num_shards, 1, n)
    shard = _count("shard", shard, 0, num_shards - 1)
    seed = _count("seed", seed, 0, 2**63 - 1)
    part_size = _count("part_size", part_size, 1, MAX_SCENES)
    workers = None if workers is None else _count("workers", workers, 1, 256)
    out = Path(out)
    directory = out if num_shards == 1 else out / f"shard-{shard:05d}-of-{num_shards:05d}"
    run = _Run(_resolve_world(world, image_size, split), seed, n, format, shard, num_shards, part_size, directory)
    _claim(run, out, overwrite)

    total, done = run.span[1] - run.span[0], 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, total)

    if _is_complete(run):
        advance(total)
        return run.dir
    _remove_temporaries(run.dir)
    pending = [p for p in run.parts() if not run.part_file(p[0]).exists()]
    advance(total - sum(hi - lo for _, lo, hi in pending))  # parts finished by an earlier run
    _make_parts(run, pending, workers, advance)
    _finish(run)
    return run.dir


# --- who owns a directory -----------------------------------------------------------------


def _read_stamp(directory: Path) -> dict | None:
    try:
        stamp = json.loads((directory / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _differences(theirs: dict, ours: dict, ignore: tuple[str, ...] = ()) -> str:
    """'seed 3 (this run: 4), ...' for every setting in which two stamps (or manifests) differ."""
    keys = [k for k in STAMP_KEYS if k not in ignore and theirs.get(k) != ours.get(k)]
    return ", ".join(f"{k} {theirs.get(k)!r} (this run: {ours[k]!r})" for k in keys)


def _clear(directory: Path, entries: list[Path] | None = None) -> None:
    """Delete `entries` of a directory (default: all): what `overwrite` means. Some places,
    such as the home or the current directory, are never cleared."""
    resolved = directory.resolve()
    if resolved in (Path.home().resolve(), Path(resolved.anchor)) or resolved in (Path.cwd(), *Path.cwd().parents):
        raise DatasetError(f"refusing to delete the contents of {directory}; write the export to a new directory")
    for entry in resolved.iterdir() if entries is None else entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)  # a concurrent shard may be removing it too
        else:
            entry.unlink(missing_ok=True)


def _claim(run: _Run, out: Path, overwrite: bool) -> None:
    """Make `run.dir` ours: resume our own run, refuse (or with `overwrite` clear) anything else."""
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} is a file; the output must be a directory")
    hint = "choose another directory, or replace it (--overwrite on the command line, overwrite=True in Python)"
    if run.num_shards > 1 and out.is_dir():
        # `out` holds the shard directories of one run and nothing else.
        ours = f"of-{run.num_shards:05d}"
        strangers = [
            e for e in out.iterdir() if not (e.is_dir() and SHARD_DIR.fullmatch(e.name) and e.name.endswith(ours))
        ]
        if strangers and not overwrite:
            raise DatasetError(f"{out} holds {strangers[0].name!r}, which is not a shard of this run; {hint}")
        for sibling in (e for e in out.iterdir() if e not in strangers and e != run.dir):
            theirs = _read_stamp(sibling)
            diff = theirs and _differences(theirs, run.stamp, ignore=("shard",))
            if diff and not overwrite:  # with overwrite, re-running that shard replaces it
                raise DatasetError(f"{sibling} belongs to a different run ({diff}); {hint}")
        if strangers:
            _clear(out, strangers)
    if run.dir.is_dir() and any(run.dir.iterdir()):
        if not overwrite:
            theirs = _read_stamp(run.dir)
            if theirs is None:
                sharded = any(SHARD_DIR.fullmatch(e.name) for e in run.dir.iterdir())
                held = "the shards of an export" if sharded else "no toy-world export"
                raise DatasetError(f"{run.dir} is not empty and holds {held}; {hint}")
            diff = _differences(theirs, run.stamp)
            if diff:
                raise DatasetError(f"{run.dir} holds a different export ({diff}); {hint}")
            return  # our own run: resume it
        _clear(run.dir)
    run.dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(run.dir / STAMP, json.dumps(run.stamp, indent=2).encode())


def _is_complete(run: _Run) -> bool:
    """Whether the manifest is there and every file it lists has its size. If not, the
    manifest goes, and so do files of the wrong size, so that resuming makes them again."""
    manifest = _read_manifest(run.dir)
    if manifest is None:
        return False
    damaged = _check_files(run.dir, manifest, "size")
    if not damaged:
        shutil.rmtree(run.dir / PARTS, ignore_errors=True)  # left if a run was killed just after its manifest
        return True
    (run.dir / MANIFEST).unlink()
    for path, _ in damaged:
        path.unlink(missing_ok=True)
    return False


def _remove_temporaries(directory: Path) -> None:
    for temp in directory.rglob(".*.tmp"):
        temp.unlink(missing_ok=True)


def _temporary(path: Path) -> Path:
    """A hidden name beside `path` (which `load_dataset` skips), unique to this process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary beside `path`, then rename: readers see all of it or none."""
    temp = _temporary(path)
    temp.write_bytes(data)
    os.replace(temp, path)


# --- making parts ---------------------------------------------------------------------------


def _color_text(color) -> str:
    return color if isinstance(color, str) else "#{:02x}{:02x}{:02x}".format(*color)


def _record(index: int, scene: Scene) -> dict:
    """The metadata of one scene: everything but its pixels."""
    texts, objects = captions(scene), scene.objects
    return {
        "index": index,
        "scene": scene.to_json(),
        "caption": texts[0],
        "captions": texts,
        "relations": relations(scene),
        "num_objects": len(objects),
        "shapes": [o.shape for o in objects],
        "colors": [_color_text(o.color) for o in objects],
        "sizes": [o.size for o in objects],
        "materials": [o.material for o in objects],
        "positions": [list(o.position) for o in objects],
        "rotations": [o.rotation for o in objects],
    }


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _pngs(images: np.ndarray) -> list[bytes]:
    """Each uint8 (H, W, 3) image of a batch as the bytes of a PNG file.

    A PNG is a signature and chunks of (length, type, data, CRC-32): IHDR gives the size and
    pixel format (8-bit RGB), IDAT the zlib-compressed scanlines, each led by a filter byte
    (0: none, which suits flat colours), and IEND ends it. Written directly, small images
    encode twice as fast as through PIL, whose per-image overhead dominates at 32 px.
    """
    B, H, W, _ = images.shape
    scanlines = np.zeros((B, H, 1 + 3 * W), np.uint8)
    scanlines[:, :, 1:] = images.reshape(B, H, 3 * W)
    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    end = _png_chunk(b"IEND", b"")
    return [head + _png_chunk(b"IDAT", zlib.compress(lines.tobytes(), PNG_LEVEL)) + end for lines in scanlines]


def _write_part(run: _Run, j: int, lo: int, hi: int) -> int:
    """Make scenes [lo, hi) and write them as part j; returns the number of scenes.

    A pure function of its arguments, so it may run in any process, in any order, twice."""
    scenes = sample_scenes(run.world, run.seed, range(lo, hi))
    images = render(scenes)
    final = run.part_file(j)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temporary(final)
    if run.format == "npz":
        with open(temp, "wb") as f:  # a file object: given a name, numpy would append ".npz"
            np.savez_compressed(
                f,
                images=images,
                vectors=np.stack([s.to_vector() for s in scenes]),
                indices=np.arange(lo, hi, dtype=np.int64),
                scenes=np.array([s.to_json() for s in scenes]),
                captions=np.array([caption(s) for s in scenes]),
            )
    elif run.format == "parquet":
        rows = [
            {"image": {"bytes": png, "path": f"{i:08d}.png"}, **_record(i, s)}
            for i, s, png in zip(range(lo, hi), scenes, _pngs(images))
        ]
        pq.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA), temp, compression="zstd")
    else:  # imagefolder: the PNGs, then the part's records, whose arrival marks the part done
        (run.dir / "images").mkdir(exist_ok=True)
        lines = []
        for i, s, png in zip(range(lo, hi), scenes, _pngs(images)):
            (run.dir / "images" / f"{i:08d}.png").write_bytes(png)
            lines.append(json.dumps({"file_name": f"images/{i:08d}.png", **_record(i, s)}) + "\n")
        temp.write_text("".join(lines))
    os.replace(temp, final)
    return hi - lo


def _start_worker() -> None:
    """Set up a pool worker: one numba thread (the workers share the CPUs already), and a
    watcher that ends it with its parent, which a killed run would leave waiting forever."""
    import numba

    numba.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, daemon=True).start()


def _exit_with_parent() -> None:
    multiprocessing.parent_process().join()  # returns when the parent process has gone
    os._exit(1)


def _make_parts(
    run: _Run, pending: list[tuple[int, int, int]], workers: int | None, finished: Callable[[int], None]
) -> None:
    """Make the pending parts, serially or in a process pool; `finished(count)` follows each."""
    if workers is None:  # a pool takes ~2 s to start, the time of a few parts: use one for long runs
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = cpus if len(pending) >= MIN_PARTS_PER_WORKER * cpus else 1
    workers = min(workers, len(pending))
    if workers <= 1:
        for part in pending:
            finished(_write_part(run, *part))
        return
    # Not "fork": numba's OpenMP runtime aborts a child forked after the parent rendered.
    # The fork server starts clean and preloads this module once for all workers.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
    else:  # Windows
        context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker)
    try:
        for future in as_completed([pool.submit(_write_part, run, *part) for part in pending]):
            finished(future.result())
    finally:  # on an error or Ctrl-C, do not wait for parts nobody will collect
        pool.shutdown(wait=True, cancel_futures=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _command(run: _Run) -> str | None:
    """The CLI command that makes this export again, when the world is a preset."""
    preset = WORLDS.get(run.world.name)
    if preset is None or _resolve_world(preset, run.world.image_size, run.world.split) != run.world:
        return None
    args = [
        "python",
        "-m",
        "worlds",
        "generate",
        "--world",
        run.world.name,
        "--n",
        str(run.n),
        "--seed",
        str(run.seed),
        "--out",
        str(run.dir if run.num_shards == 1 else run.dir.parent),
        "--format",
        run.format,
        "--size",
        str(run.world.image_size),
        "--split",
        run.world.split,
    ]
    if run.num_shards > 1:
        args += ["--shard", str(run.shard), "--num-shards", str(run.num_shards)]
    return shlex.join(args)


def _finish(run: _Run) -> None:
    """Assemble imagefolder's metadata.jsonl, then write the manifest: last, and atomically."""
    if run.format == "imagefolder":
        lines = b"".join(run.part_file(j).read_bytes() for j, _, _ in run.parts())
        _atomic_write(run.dir / "metadata.jsonl", lines)
    lo, hi = run.span
    manifest = {
        **run.stamp,
        "world_config": run.world.to_dict(),
        "span": [lo, hi],
        "count": hi - lo,
        "image_size": [run.world.image_size] * 2,
        "created_by": _command(run),
        "parts": [[str(run.part_file(j).relative_to(run.dir)), a, b] for j, a, b in run.parts()]
        if run.format != "imagefolder"
        else [["metadata.jsonl", lo, hi]],
        "files": [
            {"path": str(p.relative_to(run.dir)), "bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in run.data_files()
        ],
    }
    _atomic_write(run.dir / MANIFEST, json.dumps(manifest, indent=1).encode())
    shutil.rmtree(run.dir / PARTS, ignore_errors=True)


# --- reading exports back -------------------------------------------------------------------


def _read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):  # absent, or not ours to read
        return None


def _check_files(directory: Path, manifest: dict, verify: str) -> list[tuple[Path, str]]:
    """(file, problem) for each file a manifest lists that is wrong: its size always, its
    contents too with verify="sha256"."""
    problems = []
    for entry in manifest["files"]:
        path = directory / entry["path"]
        size = path.stat().st_size if path.is_file() else None
        if size != entry["bytes"]:
            problems.append((path, "is missing" if size is None else f"has {size} bytes, not {entry['bytes']}"))
        elif verify == "sha256" and _sha256(path) != entry["sha256"]:
            problems.append((path, "does not match its SHA-256"))
    return problems


def _find_exports(path: Path) -> list[tuple[Path, dict]]:
    """(directory, manifest) of the export at `path`, or of each of its shards in order."""
    if not path.is_dir():
        raise DatasetError(f"{path} is not a directory; give the directory an export was written to")
    manifest = _read_manifest(path)
    if manifest is not None:
        return [(path, manifest)]
    shards = sorted(e for e in path.iterdir() if SHARD_DIR.fullmatch(e.name))
    if not shards:
        raise DatasetError(
            f"{path} holds no finished export (no {MANIFEST}); if a run was interrupted, "
            "re-run the same command to finish it"
        )
    found = []
    for directory in shards:
        manifest = _read_manifest(directory)
        if manifest is None:
            raise DatasetError(f"{directory} is not finished (no {MANIFEST}); re-run its command to finish it")
        found.append((directory, manifest))
    first = found[0][1]
    for directory, manifest in found[1:]:
        diff = _differences(manifest, first, ignore=("shard",))
        if diff:
            raise DatasetError(f"{directory} belongs to a different run than {found[0][0].name} ({diff})")
    missing = sorted(set(range(first["num_shards"])) - {m["shard"] for _, m in found})
    if missing:
        raise DatasetError(
            f"{path} lacks shard(s) {', '.join(map(str, missing))} of {first['num_shards']}; "
            "generate them with --shard i --num-shards k"
        )
    return found


@functools.lru_cache(maxsize=4)
def _load_part(path: str, format: str, mtime_ns: int) -> dict:
    """The columns an item needs from one part file (cached; `mtime_ns` notices a rewrite)."""
    if format == "parquet":
        table = pq.read_table(path, columns=["image", "index", "scene", "caption"])
        return {
            "png": table["image"].combine_chunks().field("bytes").to_pylist(),
            **{k: table[k].to_pylist() for k in ("index", "scene", "caption")},
        }
    if format == "npz":
        with np.load(path) as z:
            return {
                "images": z["images"],
                "vectors": z["vectors"],
                "index": z["indices"].tolist(),
                "scene": z["scenes"].tolist(),
                "caption": z["captions"].tolist(),
            }
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return {
        "file": [str(Path(path).parent / r["file_name"]) for r in rows],
        **{k: [r[k] for r in rows] for k in ("index", "scene", "caption")},
    }


def _item(index: int, image: np.ndarray, vector: np.ndarray, scene: str, text: str) -> dict:
    """One item in the form both datasets share (see the module docstring); its tensors are
    copies, so changing them in place cannot change a cached part."""
    return {
        "index": index,
        "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
        "vector": torch.from_numpy(np.array(vector, np.float32)),
        "scene": scene,
        "caption": text,
    }


class ExportDataset(torch.utils.data.Dataset):
    """An export written by `generate`, in any format, read back in index order.

    Opening it checks the size of every file in the manifest (`verify="sha256"` also
    checks contents); pointed at a directory of shards it reads them all, after checking
    that they come from one run and none is missing. Parts are read when first needed.
    """

    def __init__(self, path: str | os.PathLike, *, verify: str = "size"):
        if verify not in VERIFY:
            raise DatasetError(f"unknown verify {verify!r}; choose one of {', '.join(VERIFY)}")
        self.path = Path(path)
        exports = _find_exports(self.path)
        for directory, manifest in exports:
            problems = _check_files(directory, manifest, verify)
            if problems:
                (path, problem), more = problems[0], len(problems) - 1
                command = f"{manifest['created_by']} --overwrite" if manifest["created_by"] else "its manifest says how"
                raise DatasetError(
                    f"{directory} is damaged: {path.relative_to(directory)} {problem}"
                    f"{f' (and {more} more)' if more else ''}; make it again: {command}"
                )
        self.manifests = [manifest for _, manifest in exports]
        self.format = self.manifests[0]["format"]
        self._parts = [(str(d / name), lo, hi) for d, m in exports for name, lo, hi in m["parts"]]
        self._starts = np.cumsum([0] + [hi - lo for _, lo, hi in self._parts]).tolist()

    def __len__(self) -> int:
        return self._starts[-1]

    def _row(self, position: int) -> tuple[dict, int]:
        position = range(len(self))[position]  # negative positions count from the end; IndexError past it
        k = bisect_right(self._starts, position) - 1
        path = self._parts[k][0]
        return _load_part(path, self.format, os.stat(path).st_mtime_ns), position - self._starts[k]

    def __getitem__(self, position: int) -> dict:
        part, row = self._row(position)
        if "images" in part:
            image = part["images"][row]
        else:
            with Image.open(io.BytesIO(part["png"][row]) if "png" in part else part["file"][row]) as png:
                image = np.asarray(png.convert("RGB"))
        scene = part["scene"][row]
        vector = part["vectors"][row] if "vectors" in part else Scene.from_json(scene).to_vector()
        return _item(part["index"][row], image, vector, scene, part["caption"][row])

    def scene(self, position: int) -> Scene:
        part, row = self._row(position)
        return Scene.from_json(part["scene"][row])


def load_export(path: str | os.PathLike, *, verify: str = "size") -> ExportDataset:
    """Open an export written by `generate` (a run's directory, or the parent of its shards)."""
    return ExportDataset(path, verify=verify)


class RenderedDataset(torch.utils.data.Dataset):
    """Scenes 0..n-1 of a world, sampled and rendered when asked for; nothing is stored.

    Item i is scene i of (world, seed): a pure function of i, so DataLoader workers, shuffling
    and batch sizes never change the data. `__getitems__` samples and renders a whole batch in
    one call, and DataLoader uses it whenever it batches.

    With `num_workers > 0` in a process that has already rendered, give the DataLoader
    `multiprocessing_context="forkserver"` (or "spawn"): numba's OpenMP runtime aborts
    children forked after it has run.
    """

    def __init__(
        self, world: World | str, seed: int, n: int, *, image_size: int | None = None, split: str | None = None
    ):
        self.world = _resolve_world(world, image_size, split)
        self.seed = _count("seed", seed, 0, 2**63 - 1)
        self.n = _count("n", n, 1, 2**63 - 1)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, position: int) -> dict:
        return self.__getitems__([position])[0]

    def __getitems__(self, positions: list[int]) -> list[dict]:
        indices = [range(self.n)[p] for p in positions]
        scenes = sample_scenes(self.world, self.seed, indices)
        return [
            _item(i, image, s.to_vector(), s.to_json(), caption(s))
            for i, s, image in zip(indices, scenes, render(scenes))
        ]
