"""Lossless compression measured: the shipped PixelCNN as a real coder (rANS) against PNG and zlib.

    python benchmarks/coding.py                 # 32 exact-world images, a table
    python benchmarks/coding.py --json          # ... and one JSON object on the last line
    python benchmarks/coding.py --n 64 --threads 2

On --n of the `exact` world's images (evenly spaced over its scene order), with the shipped `pixelcnn`
(or --model PATH), in bits per image (means):
  * ideal: -log2 p(x) from the model's one-pass log_prob, what no code beats on average;
  * code: the rANS codes of playground.evaluation.coding, as whole bytes (8 x len) and as the exact bit length
    of the state integer; every code is decoded again and compared byte for byte with its image;
  * stream: all images in one rANS state (coding.encode_stream), its exact bit length shared out over
    the images: the ~log2 M bits of start-up are paid once, not once per image; decoded and compared too;
  * PNG (PIL, optimize=True) and zlib (level 9) of the raw 32 x 32 x 3 bytes;
  * for scale, the world's entropy log2 768: a perfect model's average code length;
  * encode and decode milliseconds per image (all images in one call, coded BATCH at a time),
    for the per-image codes and for the stream.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.evaluation import coding  # noqa: E402
from playground.evaluation.scores import exact_world, world_tensor  # noqa: E402
from playground.models import pretrained  # noqa: E402
from playground.models.checkpoint import load  # noqa: E402


def png_bits(image: np.ndarray) -> int:
    """Bits of one (H, W, 3) uint8 image as an optimized PNG file."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", optimize=True)
    return 8 * len(buffer.getvalue())


def measure(model, images: torch.Tensor) -> dict:
    n = len(images)
    start = time.perf_counter()
    codes = coding.encode_images(model, images)
    encode_ms = 1000 * (time.perf_counter() - start) / n
    start = time.perf_counter()
    decoded = coding.decode_images(model, codes)
    decode_ms = 1000 * (time.perf_counter() - start) / n
    start = time.perf_counter()
    stream = coding.encode_stream(model, images)
    stream_encode_ms = 1000 * (time.perf_counter() - start) / n
    start = time.perf_counter()
    stream_decoded = coding.decode_stream(model, stream, n)
    stream_decode_ms = 1000 * (time.perf_counter() - start) / n
    ideal = coding.ideal_lengths_bits(model, images)
    exact = coding.code_lengths_bits(codes)
    pixels = images.permute(0, 2, 3, 1).numpy()  # (n, H, W, 3) as image files store them
    return {
        "n": n,
        "entropy_bits_per_image": math.log2(768),
        "ideal_bits_per_image": float(ideal.mean()),
        "code_bits_per_image": float(np.mean([8 * len(c) for c in codes])),
        "code_exact_bits_per_image": float(exact.mean()),
        "code_overhead_bits": {
            "min": float((exact - ideal).min()),
            "mean": float((exact - ideal).mean()),
            "max": float((exact - ideal).max()),
        },
        "stream_bits_per_image": coding.stream_bits_per_image(stream, n),
        "png_bits_per_image": float(np.mean([png_bits(p) for p in pixels])),
        "zlib_bits_per_image": float(np.mean([8 * len(zlib.compress(p.tobytes(), 9)) for p in pixels])),
        "encode_ms_per_image": encode_ms,
        "decode_ms_per_image": decode_ms,
        "round_trip_exact": bool(torch.equal(decoded.cpu(), images)),
        "stream_encode_ms_per_image": stream_encode_ms,
        "stream_decode_ms_per_image": stream_decode_ms,
        "stream_round_trip_exact": bool(torch.equal(stream_decoded.cpu(), images)),
    }


def print_table(r: dict) -> None:
    print(f"== lossless coding of {r['n']} exact-world images (32 x 32 x 3 = 24576 raw bits each)")
    print(f"{'':<34} {'bits/image':>10}")
    print(f"{'world entropy log2 768':<34} {r['entropy_bits_per_image']:10.1f}")
    print(f"{'PixelCNN ideal -log2 p(x)':<34} {r['ideal_bits_per_image']:10.1f}")
    print(f"{'PixelCNN + rANS, exact bit length':<34} {r['code_exact_bits_per_image']:10.1f}")
    print(f"{'PixelCNN + rANS, whole bytes':<34} {r['code_bits_per_image']:10.1f}")
    print(f"{'PixelCNN + rANS, one stream':<34} {r['stream_bits_per_image']:10.1f}")
    print(f"{'PNG (optimize=True)':<34} {r['png_bits_per_image']:10.1f}")
    print(f"{'zlib level 9 of the raw bytes':<34} {r['zlib_bits_per_image']:10.1f}")
    o = r["code_overhead_bits"]
    print(f"code - ideal per image: min {o['min']:.1f}, mean {o['mean']:.1f}, max {o['max']:.1f} bits")
    print(
        f"encode {r['encode_ms_per_image']:.0f} ms/image, decode {r['decode_ms_per_image']:.0f} ms/image; "
        f"round trip exact: {r['round_trip_exact']}"
    )
    print(
        f"stream: encode {r['stream_encode_ms_per_image']:.0f} ms/image, "
        f"decode {r['stream_decode_ms_per_image']:.0f} ms/image; round trip exact: {r['stream_round_trip_exact']}"
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32, help="images (1..768)")
    parser.add_argument("--model", type=Path, default=None, help="a PixelCNN checkpoint (default: shipped pixelcnn)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 768:
        parser.error("--n must be in 1..768")
    world = world_tensor(exact_world())  # render first: the renderer's thread pool resets torch's threads
    torch.set_num_threads(args.threads)
    model = load(args.model) if args.model else pretrained.load("pixelcnn")
    images = world[np.linspace(0, len(world) - 1, args.n).round().astype(int)]
    result = measure(model, images)
    print_table(result)
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
