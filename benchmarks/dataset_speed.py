"""Dataset generation speed: 100,000 `shapes2d` scenes at 32x32 written to parquet.

    python benchmarks/dataset_speed.py              # a table
    python benchmarks/dataset_speed.py --json       # ... and one JSON object on the last line
    python benchmarks/dataset_speed.py --n 10000    # a smaller run

The figure is the wall time of one `generate(...)` call into a fresh temporary directory,
worker-pool start-up included (the interpreter's own start-up is not). Before it, one part
of 1,000 scenes is made stage by stage in this process and its CPU time measured, to show
where the time goes. CPU time hardly changes when other programs compete for the CPUs;
wall time does, so the load average is printed too.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numba
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worlds import datasets, get_world, render, sample_scenes  # noqa: E402

TARGET_SECONDS = 30.0  # for 100,000 scenes on a 2-core CPU


def stages(world, count: int = 1_000) -> list[tuple[str, float]]:
    """CPU seconds per 100,000 scenes of each stage of making a parquet part, measured on `count`.

    Like generate's workers, it renders on one numba thread: idle OpenMP threads spin for a
    while after a parallel loop, and their spinning would count as the next stage's time.
    """
    numba.set_num_threads(1)
    scale = 100_000 / count
    rows = [{"image": {"bytes": b"", "path": ""}, **datasets._record(0, s)} for s in sample_scenes(world, 0, 8)]
    pq.write_table(
        pa.Table.from_pylist(rows, schema=datasets.PARQUET_SCHEMA),
        io.BytesIO(),  # warm-up
        compression="zstd",
    )
    clock = [time.process_time()]

    def lap():
        clock.append(time.process_time())
        return (clock[-1] - clock[-2]) * scale

    scenes = sample_scenes(world, 0, range(count))
    t_sample = lap()
    images = render(scenes)
    t_render = lap()
    pngs = datasets._pngs(images)
    t_png = lap()
    rows = [
        {"image": {"bytes": png, "path": f"{i:08d}.png"}, **datasets._record(i, s)}
        for i, (s, png) in enumerate(zip(scenes, pngs))
    ]
    t_record = lap()
    pq.write_table(pa.Table.from_pylist(rows, schema=datasets.PARQUET_SCHEMA), io.BytesIO(), compression="zstd")
    t_parquet = lap()
    return [
        ("sample scenes", t_sample),
        ("render", t_render),
        (f"PNG (zlib level {datasets.PNG_LEVEL})", t_png),
        ("records: JSON, captions", t_record),
        ("parquet table + write", t_parquet),
    ]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="scenes to generate")
    parser.add_argument("--workers", type=int, help="worker processes (default: generate's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)

    world = get_world("shapes2d").replace(image_size=32)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs\n\nCPU seconds per 100,000 scenes, one process:")
    parts = stages(world)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for name, seconds in parts:
        print(f"  {name:<28} {seconds:6.1f}")
    cpu = sum(seconds for _, seconds in parts)
    print(f"  {'total':<28} {cpu:6.1f}")

    with tempfile.TemporaryDirectory(prefix="toyworld-bench-") as tmp:
        start = time.perf_counter()
        out = datasets.generate(world, args.n, 0, Path(tmp) / "shapes2d", "parquet", workers=args.workers)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())

    target = TARGET_SECONDS * args.n / 100_000
    result = {
        "scenes": args.n,
        "seconds": round(seconds, 2),
        "scenes_per_s": round(args.n / seconds, 1),
        "bytes": size,
        "target_seconds": TARGET_SECONDS,
        "cpu_seconds_per_100k": round(cpu, 1),
        "load_average": round(load, 2),
    }
    print(f"\n{'generate shapes2d 32 px parquet':<32} {'scenes':>9} {'seconds':>8} {'scenes/s':>9} {'MB':>7}  target")
    print(
        f"{'':<32} {args.n:>9,} {seconds:>8.1f} {args.n / seconds:>9,.0f} {size / 1e6:>7.1f}  "
        f"<= {target:.0f} s: {'yes' if seconds <= target else 'NO'}"
    )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
