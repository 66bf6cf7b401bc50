"""Render the README's pictures: `python docs/make_figures.py` writes docs/scenes_*.png."""
from pathlib import Path
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worlds import get_world, render, sample_scenes  # noqa: E402

HERE = Path(__file__).resolve().parent


def grid(images: np.ndarray, columns: int, gap: int = 2) -> Image.Image:
    """Tile (N, H, W, 3) images into a white-separated grid."""
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    canvas = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        canvas[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = image
    return Image.fromarray(canvas)


def busy_scenes(world: str, at_least: int, count: int = 8):
    """The first `count` scenes of a world (seed 0) with at least `at_least` objects, at 128 px."""
    scenes = sample_scenes(get_world(world).replace(image_size=128), 0, 64)
    return [s for s in scenes if len(s.objects) >= at_least][:count]


if __name__ == "__main__":
    grid(render(busy_scenes("shapes2d", 3)), 8).save(HERE / "scenes_2d.png")
    grid(render(busy_scenes("clevr3d", 4)), 8).save(HERE / "scenes_3d.png")
    print("wrote", HERE / "scenes_2d.png", HERE / "scenes_3d.png")
