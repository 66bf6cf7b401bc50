"""Renderer throughput on this machine, against a per-image PIL ImageDraw baseline.

    python benchmarks/render_speed.py            # a table
    python benchmarks/render_speed.py --json     # ... and one JSON object on the last line

The baseline draws the same 2D scenes one image at a time with PIL's ImageDraw (aliased
polygons and ellipses, flat colours, the same draw order), which is what a simple
hand-written generator does. Our renderers take batches of `--batch` scenes; every
figure is the best of `--repeats` timed passes after a warm-up (numba compiles once).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worlds import get_world, render, render_layers, sample_scenes  # noqa: E402
from worlds.scene import color_rgb  # noqa: E402

TARGETS = {"2d_64_scenes_per_s": 50_000, "3d_64_scenes_per_s": 2_000, "3d_128_scenes_per_s": 500}


def pil_render(scene) -> np.ndarray:
    """One scene drawn with PIL, top-down, no anti-aliasing: the baseline."""
    H, W = scene.image_size
    scale = min(H, W) / (2.0 * scene.camera.extent)
    image = Image.new("RGB", (W, H), color_rgb(scene.background))
    draw = ImageDraw.Draw(image)
    for obj in sorted(scene.objects, key=lambda o: o.height):
        cx, cy, r = W / 2 + obj.position[0] * scale, H / 2 - obj.position[1] * scale, obj.size * scale
        if obj.shape == "cube":
            t = math.radians(obj.rotation)
            corners = [
                (cx + r * math.cos(t + a), cy - r * math.sin(t + a))
                for a in (math.pi / 4, 3 * math.pi / 4, 5 * math.pi / 4, 7 * math.pi / 4)
            ]
            draw.polygon(corners, fill=obj.rgb)
        else:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=obj.rgb)
    return np.asarray(image)


def throughput(fn, scenes, batch: int, repeats: int) -> float:
    """Best scenes/s over `repeats` passes of `fn` over `scenes` in batches."""
    fn(scenes[:batch])  # warm-up: compile kernels, fault in memory
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for k in range(0, len(scenes), batch):
            fn(scenes[k : k + batch])
        best = min(best, time.perf_counter() - start)
    return len(scenes) / best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096, help="scenes per pass (2D; 3D uses n/4)")
    parser.add_argument("--batch", type=int, default=512, help="scenes per render call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)

    shapes2d = sample_scenes("shapes2d", 0, args.n)
    clevr64 = sample_scenes("clevr3d", 0, max(args.n // 4, args.batch))
    clevr128 = sample_scenes(get_world("clevr3d").replace(image_size=128), 0, max(args.n // 8, args.batch))

    def pil_batch(scenes):
        return np.stack([pil_render(s) for s in scenes])

    rows = [
        ("2d_64_scenes_per_s", "ours 2D 64x64, anti-aliased", throughput(render, shapes2d, args.batch, args.repeats)),
        ("pil_64_scenes_per_s", "PIL ImageDraw 2D 64x64, aliased", throughput(pil_batch, shapes2d, args.batch, 1)),
        (
            "2d_64_layers_scenes_per_s",
            "ours 2D 64x64 + masks/boxes/counts",
            throughput(render_layers, shapes2d, args.batch, args.repeats),
        ),
        ("3d_64_scenes_per_s", "ours 3D 64x64, shadows + AA", throughput(render, clevr64, args.batch, args.repeats)),
        (
            "3d_128_scenes_per_s",
            "ours 3D 128x128, shadows + AA",
            throughput(render, clevr128, args.batch, args.repeats),
        ),
    ]
    result = {key: round(value, 1) for key, _, value in rows}
    result["2d_vs_pil_ratio"] = round(result["2d_64_scenes_per_s"] / result["pil_64_scenes_per_s"], 2)
    result["batch"] = args.batch

    print(f"{'renderer':<40} {'scenes/s':>12} {'target':>10}  met")
    for key, label, value in rows:
        target = TARGETS.get(key)
        met = "" if target is None else ("yes" if value >= target else "NO")
        print(f"{label:<40} {value:>12,.0f} {target if target else '':>10}  {met}")
    ratio_met = "yes" if result["2d_vs_pil_ratio"] >= 2 else "NO"
    print(f"{'ours 2D / PIL (target >= 2x)':<40} {result['2d_vs_pil_ratio']:>11.2f}x {'2x':>10}  {ratio_met}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
