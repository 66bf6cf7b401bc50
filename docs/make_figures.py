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


if __name__ == "__main__":
    grid(render(sample_scenes(get_world("shapes2d").replace(image_size=128), 0, 8)), 8).save(HERE / "scenes_2d.png")
    grid(render(sample_scenes(get_world("clevr3d").replace(image_size=128), 0, 8)), 8).save(HERE / "scenes_3d.png")
    print("wrote", HERE / "scenes_2d.png", HERE / "scenes_3d.png")
