"""Dataset generation speed: 100,000 `shapes2d` scenes at 32x32 written to parquet.

    python benchmarks/dataset_speed.py              # a table
    python benchmarks/dataset_speed.py --json       # ... and one JSON object on the last line
    python benchmarks/dataset_speed.py --n 10000    # a smaller run

The figure is the wall time of one `generate(...)` call into a fresh temporary directory,
worker-pool start-up included (the interpreter's own start-up is not). Before it, one part
of 1,000 scenes is timed stage by stage in this process, to show where the time goes.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worlds import get_world, render, sample_scenes  # noqa: E402
from worlds import datasets  # noqa: E402

TARGET_SECONDS = 30.0   # for 100,000 scenes on a 2-core CPU


def stages(world, count: int = 1_000) -> list[tuple[str, float]]:
    """Seconds per 100,000 scenes of each stage of making a parquet part, measured on `count`."""
    scale = 100_000 / count
    sample_scenes(world, 0, 8)   # warm-up: numba loads its compiled kernels
    start = time.perf_counter()
    scenes = sample_scenes(world, 0, range(count))
    t_sample = time.perf_counter()
    images = render(scenes)
    t_render = time.perf_counter()
    for image in images:
        datasets._png(image)
    t_png = time.perf_counter()
    for i, scene in enumerate(scenes):
        datasets._record(i, scene)
    t_record = time.perf_counter()
    return [("sample scenes", (t_sample - start) * scale), ("render", (t_render - t_sample) * scale),
            (f"PNG (zlib level {datasets.PNG_LEVEL})", (t_png - t_render) * scale),
            ("records: JSON, captions", (t_record - t_png) * scale)]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="scenes to generate")
    parser.add_argument("--workers", type=int, help="worker processes (default: generate's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)

    world = get_world("shapes2d").replace(image_size=32)
    print("one process, seconds per 100,000 scenes:")
    for name, seconds in stages(world):
        print(f"  {name:<28} {seconds:6.1f}")

    with tempfile.TemporaryDirectory(prefix="toyworld-bench-") as tmp:
        start = time.perf_counter()
        out = datasets.generate(world, args.n, 0, Path(tmp) / "shapes2d", "parquet", workers=args.workers)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())

    target = TARGET_SECONDS * args.n / 100_000
    result = {"scenes": args.n, "seconds": round(seconds, 2), "scenes_per_s": round(args.n / seconds, 1),
              "bytes": size, "target_seconds": TARGET_SECONDS}
    print(f"\n{'generate shapes2d 32 px parquet':<32} {'scenes':>9} {'seconds':>8} {'scenes/s':>9} {'MB':>7}  target")
    print(f"{'':<32} {args.n:>9,} {seconds:>8.1f} {args.n / seconds:>9,.0f} {size / 1e6:>7.1f}  "
          f"<= {target:.0f} s: {'yes' if seconds <= target else 'NO'}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
