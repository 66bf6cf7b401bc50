"""Can a generator draw the world at all? Each GAN generator layout fitted to the exact world by regression.

    python benchmarks/generator_fit.py                       # a table
    python benchmarks/generator_fit.py --steps 1500 --json   # ... and one JSON object on the last line

A GAN's generator only ever learns through its critic, so when its samples are blurred it is hard to
tell a weak critic from a generator that cannot draw the picture. This takes the critic away. Generative
Latent Optimisation (Bojanowski et al. 2018, "Optimizing the Latent Space of Generative Networks")
gives each of the world's 768 images its own code z_i and fits the generator and the codes together,
min over G and z of mean_i |G(z_i) - x_i|, on batches of 64. So a layout that cannot reconstruct the
world this way will not learn to draw it from a critic's gradients either.

Each layout is `playground.models.gan.Generator` as the GAN builds it, with the same seed, width and latent
size as the shipped recipe. Codes start at N(0, 0.1^2 I) and take Adam at 1e-2, the generator at 1e-3.
A reconstruction is valid when at most 0.2% of its pixels are more than 24 levels off its own image
(the test `benchmarks/models.py` applies to samples).

With `--json` the last line is one JSON object: {"threads", "steps", "layouts": {name: {"valid",
"median_wrong_pixels", "l1", "ms_per_step"}}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.evaluation.scores import VALID_WRONG, exact_world, world_tensor, wrong_pixels  # noqa: E402
from playground.models.gan import GENERATORS, GANConfig, Generator  # noqa: E402
from playground.models.protocol import from_unit, to_unit  # noqa: E402

MAX_STEPS = 20_000


def fit_generator(layout: str, images: torch.Tensor, steps: int, batch_size: int = 64, seed: int = 0) -> dict:
    """GLO: G and one code per image fitted to uint8 `images` (N, C, H, W) by L1; the reconstructions' scores."""
    config = GANConfig(image_size=images.shape[-1], channels=images.shape[1])
    torch.manual_seed(seed)
    generator = Generator(
        config.channels, config.image_size, config.latent_dim, config.width, "none", config.condition_dim, style=layout
    )
    codes = torch.nn.Parameter(0.1 * torch.randn(len(images), config.latent_dim))
    optimizer = torch.optim.Adam([{"params": generator.parameters(), "lr": 1e-3}, {"params": [codes], "lr": 1e-2}])
    target = to_unit(images)
    batches = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(images), (batch_size,), generator=batches)
        loss = (generator(codes[idx], None) - target[idx]).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    ms = 1000 * (time.perf_counter() - start) / steps
    generator.eval()  # batch norm (dcgan) on its running statistics, as sampling uses
    with torch.no_grad():
        drawn = from_unit(torch.cat([generator(z, None) for z in codes.split(256)]))
    wrong = wrong_pixels(drawn, images)  # (N,)
    return {
        "valid": float((wrong <= VALID_WRONG).float().mean()),
        "median_wrong_pixels": float(wrong.median()),
        "l1": float((drawn.float() - images.float()).abs().mean() / 127.5),  # in [-1, 1] units
        "ms_per_step": ms,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help=f"fitting steps per layout (1..{MAX_STEPS})")
    parser.add_argument("--layouts", nargs="+", choices=GENERATORS, default=list(GENERATORS))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= MAX_STEPS or not 1 <= args.threads <= 256:
        parser.error(f"--steps must be in 1..{MAX_STEPS} and --threads in 1..256")
    images = world_tensor(exact_world("exact"))
    torch.set_num_threads(args.threads)
    result = {"threads": args.threads, "steps": args.steps, "layouts": {}}
    print(
        f"GAN generators fitted to the exact world's 768 images (GLO, L1), {args.steps} steps, {args.threads} thread(s)"
    )
    print(f"{'layout':<10} {'valid':>6} {'wrong px':>9} {'L1':>7} {'ms/step':>8}")
    for layout in args.layouts:
        row = fit_generator(layout, images, args.steps)
        result["layouts"][layout] = row
        print(
            f"{layout:<10} {row['valid']:6.2f} {100 * row['median_wrong_pixels']:8.2f}% {row['l1']:7.4f} "
            f"{row['ms_per_step']:8.1f}",
            flush=True,
        )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
