"""Render the README's pictures.

python docs/make_figures.py            # docs/scenes_*.png: the worlds
python docs/make_figures.py samples    # docs/samples_*.png: 8 samples of every shipped model (seed 0)
python docs/make_figures.py scenes     # docs/scene_samples.png: 8 clevr3d draws of every scene family, 128 px
"""

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worlds import get_world, render, sample_scenes  # noqa: E402
from worlds.images import image_grid  # noqa: E402

HERE = Path(__file__).resolve().parent


def grid(images, columns: int) -> Image.Image:
    return Image.fromarray(image_grid(list(images), columns))


def busy_scenes(world: str, at_least: int, count: int = 8):
    """The first `count` scenes of a world (seed 0) with at least `at_least` objects, at 128 px."""
    scenes = sample_scenes(get_world(world).replace(image_size=128), 0, 64)
    return [s for s in scenes if len(s.objects) >= at_least][:count]


def model_samples() -> None:
    """The README's row of 8 samples per shipped model (`pretrained.sample_grid`, seed 0)."""
    from playground.models import pretrained

    for name in pretrained.available():
        Image.fromarray(pretrained.sample_grid(name)).save(HERE / f"samples_{name}.png")
        print("wrote", HERE / f"samples_{name}.png", flush=True)


def scene_samples() -> None:
    """The README's grid of scene-level draws: one row of 8 clevr3d scenes (seed 0) per shipped family."""
    import torch

    from playground.scenes import shipped

    rows = []
    for name in [n for n in shipped.available() if n.endswith("-clevr3d") and "-prompt-" not in n]:
        model = shipped.load(name)
        settings = {**get_world("clevr3d").scene_settings(), "image_size": 128}
        with torch.no_grad():
            drawn = model.sample(8, generator=torch.Generator().manual_seed(0))
        if model.representation == "codes":
            scenes = model.codec.decode(drawn, seed=0, settings=settings)
        else:
            scenes = model.codec.from_vectors(drawn, settings=settings)
        rows += list(render(scenes))
        print(name, flush=True)
    grid(rows, 8).save(HERE / "scene_samples.png")
    print("wrote", HERE / "scene_samples.png")


if __name__ == "__main__":
    if sys.argv[1:] == ["samples"]:
        model_samples()
    elif sys.argv[1:] == ["scenes"]:
        scene_samples()
    else:
        grid(render(busy_scenes("shapes2d", 3)), 8).save(HERE / "scenes_2d.png")
        grid(render(busy_scenes("clevr3d", 4)), 8).save(HERE / "scenes_3d.png")
        print("wrote", HERE / "scenes_2d.png", HERE / "scenes_3d.png")
