"""Analysis by synthesis: improve a scene guess by rendering it and following the image error downhill.

The encoder (`playground.inverse.encoder`) reads a scene off an image in one pass, to within a pixel or so.
Refinement closes the rest of the gap the way vision-as-inverse-graphics proposes: render the guess,
compare it with the image, and change the scene's continuous factors (positions, sizes, rotations,
colours) to reduce the difference

    E(theta) = 1/(H W 3) sum_pixels (render(theta) - image)^2.

2D: `soft_render_2d` is the 2D renderer (`worlds/render2d.py`) written again in torch, formula for
formula, so autograd gives dE/dtheta. The renderer's anti-aliasing is already a soft edge, a pixel's
coverage clamp(0.5 - d, 0, 1) of its signed distance d to the outline; here the ramp is
clamp(0.5 - d / s, 0, 1), and refinement starts with a softness s of a few pixels (a wide basin: an
edge pixels away still pulls) and anneals it to s = 1, where the soft renderer equals the real one up
to the rounding of each layer to bytes. Adam takes the steps.

3D: the ray tracer (`worlds/render3d.py`) is not written in torch. Its adaptive anti-aliasing and
soft shadows still make the image a smooth enough function of the scene, so `refine` estimates the
gradient of E by central differences — every object's x, y, size and rotation nudged both ways, all
nudged scenes rendered in one batched call — and takes normalised steps downhill, keeping a step only
when the error falls. Colours and shading in 3D depend on lighting and material, so only the geometry
is refined there.

Discrete factors have no gradient, so twice on the way (at 40% and 80% of the steps) a sweep tries them
by synthesis too: each
object rendered with each other shape and material (and the nearest palette colour, when its colour
is off the palette), a change kept when the error falls, and objects the picture does not need are
dropped (`discrete_sweep`).

Every answer carries its re-render error (`image_error`): RMSE in levels, PSNR in dB and the IoU of
the object (non-background) pixels. An error far above the world's typical one says that the image
is not one the world can make (a photo, noise, a drawing), whatever the encoder answered.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from worlds import render
from worlds.scene import (
    MATERIALS,
    MAX_OBJECTS,
    MAX_SIZE,
    PALETTE,
    POSITION_LIMIT,
    SHAPES,
    Scene,
    color_rgb,
    nearest_color_name,
)

CUBE, SPHERE = SHAPES.index("cube"), SHAPES.index("sphere")
MAX_STEPS = 500
FOREGROUND_LEVELS = 12  # a pixel belongs to an object when a channel differs this much from the ground


# --- the differentiable 2D renderer ----------------------------------------------------------


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x.clamp(min=1e-12))  # sqrt's gradient is infinite at 0


def soft_render_2d(
    scene: Scene,
    shapes: torch.Tensor,
    metal: torch.Tensor,
    position: torch.Tensor,
    size: torch.Tensor,
    rotation: torch.Tensor,
    rgb: torch.Tensor,
    softness: float = 1.0,
) -> torch.Tensor:
    """float (H, W, 3) in 0..255: the 2D view of `scene`'s settings with K objects given as tensors —
    shapes (K,) int, metal (K,) bool, position (K, 2), size (K,), rotation (K,) degrees, rgb (K, 3) —
    differentiable in the last four. `softness` = 1 is the real renderer's anti-aliasing."""
    H, W = scene.image_size
    scale = min(H, W) / (2.0 * scene.camera.extent)
    lx, ly, lz = (v / math.sqrt(sum(u * u for u in scene.light.position)) for v in scene.light.position)
    ambient, intensity = scene.light.ambient, scene.light.intensity
    image = torch.tensor(color_rgb(scene.background), dtype=torch.float32).expand(H, W, 3)
    rows = torch.arange(H, dtype=torch.float32)[:, None] + 0.5
    cols = torch.arange(W, dtype=torch.float32)[None, :] + 0.5
    heights = torch.where(shapes == CUBE, size.detach() * math.sqrt(2.0), 2.0 * size.detach())
    order = sorted(range(len(shapes)), key=lambda k: (float(heights[k]), k))  # tallest drawn last, ties by index
    flat = ambient + intensity * lz
    for k in order:
        cx, cy = W / 2.0 + position[k, 0] * scale, H / 2.0 - position[k, 1] * scale
        radius = size[k] * scale
        dx, dy = cols - cx, rows - cy  # (H, W) each
        if int(shapes[k]) == CUBE:  # the box's exact signed distance
            theta = torch.deg2rad(rotation[k])
            c, s = torch.cos(theta), torch.sin(theta)
            u, v = (c * dx - s * dy).abs(), (s * dx + c * dy).abs()
            half = radius * 0.7071067811865476
            qu, qv = u - half, v - half
            d = _safe_sqrt(qu.clamp(min=0) ** 2 + qv.clamp(min=0) ** 2) + torch.maximum(qu, qv).clamp(max=0)
        else:
            d = _safe_sqrt(dx * dx + dy * dy) - radius
        coverage = (0.5 - d / softness).clamp(0.0, 1.0)[..., None]  # (H, W, 1)
        if int(shapes[k]) == SPHERE:  # a hemisphere lit by Lambert's law
            nx, ny = dx / radius, -dy / radius
            nz = _safe_sqrt(1.0 - nx * nx - ny * ny)
            diffuse = (ambient + intensity * (nx * lx + ny * ly + nz * lz).clamp(min=0)) / flat
            if bool(metal[k]):
                hx, hy, hz = lx, ly, lz + 1.0
                hn = math.sqrt(hx * hx + hy * hy + hz * hz)
                spec = ((nx * hx + ny * hy + nz * hz) / hn).clamp(min=0) ** 32
                diffuse, highlight = 0.75 * diffuse, 0.9 * spec
            else:
                highlight = torch.zeros_like(diffuse)
        elif bool(metal[k]):  # a flat metal top's sheen
            along = (dx * lx - dy * ly) / (radius * math.sqrt(lx * lx + ly * ly) + 1e-9)
            diffuse, highlight = 0.8 + 0.12 * along, 0.18 + 0.12 * along
        else:
            diffuse, highlight = torch.ones_like(dx), torch.zeros_like(dx)
        colour = (rgb[k] * diffuse[..., None] + 255.0 * highlight[..., None]).clamp(max=255.0)  # (H, W, 3)
        image = image + coverage * (colour - image)
    return image


def _tensors(scene: Scene) -> dict:
    objs = scene.objects
    return {
        "shapes": torch.tensor([SHAPES.index(o.shape) for o in objs], dtype=torch.long),
        "metal": torch.tensor([o.material == "metal" for o in objs], dtype=torch.bool),
        "position": torch.tensor([o.position for o in objs], dtype=torch.float32).reshape(-1, 2),
        "size": torch.tensor([o.size for o in objs], dtype=torch.float32),
        "rotation": torch.tensor([o.rotation for o in objs], dtype=torch.float32),
        "rgb": torch.tensor([o.rgb for o in objs], dtype=torch.float32).reshape(-1, 3),
    }


def _palette_name(rgb: tuple[int, int, int], was) -> str | tuple[int, int, int]:
    """A refined colour snaps back to the palette colour it started from when it is still nearest to it."""
    nearest = min(PALETTE, key=lambda n: sum((a - b) ** 2 for a, b in zip(PALETTE[n], rgb)))
    return nearest if isinstance(was, str) and nearest == was else (was if isinstance(was, str) else rgb)


def _with(scene: Scene, position, size, rotation, rgb=None) -> Scene:
    """`scene` with new continuous factors (clipped to what a Scene allows)."""
    objects = []
    for k, o in enumerate(scene.objects):
        changes = dict(
            position=tuple(float(np.clip(v, -POSITION_LIMIT, POSITION_LIMIT)) for v in position[k]),
            size=float(np.clip(size[k], 1e-3, MAX_SIZE)),
            rotation=float(rotation[k]) % 360.0,
        )
        if rgb is not None:
            changes["color"] = _palette_name(tuple(int(v) for v in np.clip(np.round(rgb[k]), 0, 255)), o.color)
        objects.append(dataclasses.replace(o, **changes))
    return dataclasses.replace(scene, objects=tuple(objects))


# --- errors ----------------------------------------------------------------------------------


def image_error(rendered: np.ndarray, image: np.ndarray, background=(128, 128, 128)) -> dict:
    """How well a re-render explains an image, both uint8 (H, W, 3): RMSE (levels), PSNR (dB), and the IoU
    of their object pixels (those differing from the ground by more than FOREGROUND_LEVELS)."""
    if rendered.shape != image.shape:
        raise ValueError(f"re-render {rendered.shape} and image {image.shape} differ in shape")
    diff = rendered.astype(np.float64) - image.astype(np.float64)
    rmse = float(np.sqrt(np.mean(diff**2)))
    ground = np.asarray(background, np.float64)
    a = np.abs(rendered - ground).max(-1) > FOREGROUND_LEVELS
    b = np.abs(image - ground).max(-1) > FOREGROUND_LEVELS
    union = np.logical_or(a, b).sum()
    return {
        "rmse": rmse,
        "psnr": float(20 * math.log10(255.0 / max(rmse, 1e-6))),
        "iou": float(np.logical_and(a, b).sum() / union) if union else 1.0,
    }


# --- refinement ------------------------------------------------------------------------------


def refine_steps(scene: Scene, image: np.ndarray, steps: int = 60, candidates=()):
    """Yield (step, scene, rmse) after each refinement step of `scene` towards `image` (uint8 (H, W, 3)
    at the scene's size); rmse is the real renderer's re-render error in levels. The best scene seen
    is the answer (`refine` keeps it). `candidates` are objects the discrete sweep may add."""
    if not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be in 0..{MAX_STEPS}, got {steps}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != (*scene.image_size, 3):
        raise ValueError(
            f"image must be uint8 {(*scene.image_size, 3)} to match the scene, got {image.dtype} {image.shape}"
        )
    if not (scene.objects or candidates) or not steps:
        return iter(())
    return _schedule(scene, image, steps, _refine_2d if scene.view == "2d" else _refine_3d, tuple(candidates))


def _schedule(scene: Scene, image: np.ndarray, steps: int, continuous, candidates=()):
    """The continuous factors in three stretches (40%, 40%, 20% of the steps) with a sweep over the
    discrete ones from the best scene so far between them: the second sweep revisits the first's
    choices once positions and sizes are sharp. After the first stretch, edges are sharp from the start."""
    cuts = [0, (2 * steps) // 5, (4 * steps) // 5, steps]
    current, step = scene, 0
    for stretch in range(3):
        best, best_rmse = current, math.inf
        length = cuts[stretch + 1] - cuts[stretch] - (stretch > 0)  # a sweep takes one step
        if stretch > 0 and step < steps:
            # the first sweep offers what the encoder doubted; the second, once the rest is sharp,
            # an object for what the picture still shows and the scene does not
            current, rmse = discrete_sweep(current, image, candidates if stretch == 1 else (), propose=stretch == 2)
            step += 1
            best, best_rmse = current, rmse
            yield step, current, rmse
        for k, scene_k, rmse in (
            continuous(current, image, max(length, 0), sharp=stretch > 0) if current.objects else ()
        ):
            if rmse < best_rmse:
                best, best_rmse = scene_k, rmse
            yield step + k, scene_k, rmse
        step += max(length, 0)
        current = best


def discrete_sweep(scene: Scene, image: np.ndarray, candidates=(), propose: bool = False) -> tuple[Scene, float]:
    """Analysis by synthesis over the discrete factors. First every object whose removal does not raise
    the re-render error is dropped (a twin hidden under another, or one the picture does not show);
    then for each object in turn the scene is rendered with each other shape (at the sizes and turns the
    swap suggests), the other material, and
    (for a colour off the palette) the nearest palette colour, in one batch, and the change that lowers
    the error most, if any, is kept; last, each of `candidates` (objects the encoder was unsure of) is
    added if it explains at least MIN_EXPLAINED; with `propose` (3D), so is the best object for the
    largest blob of the picture still unexplained. Returns the scene and its RMSE."""
    target = image.astype(np.float64)

    def errors(scenes):
        return ((render(scenes).astype(np.float64) - target) ** 2).mean((1, 2, 3))

    current, error = scene, float(errors([scene])[0])
    # first, objects the picture does not need: drop each whose removal does not raise the error
    k = 0
    while k < len(current.objects) and len(current.objects) > 1:
        without = dataclasses.replace(current, objects=current.objects[:k] + current.objects[k + 1 :])
        e = float(errors([without])[0])
        if e <= error + 1e-9:
            current, error = without, e
        else:
            k += 1
    for k, obj in enumerate(current.objects):
        options = []
        for shape in SHAPES:
            # the object's own shape is searched over the same grid, so a switch must beat its best
            # a disc fitted to a square is its inscribed circle, a square fitted to a disc its inscribed square:
            # try the new shape at the same bounding radius and near the radius that swap implies, and a
            # cube at twelve turns of its 90-degree period (a disc's rotation says nothing about the square's)
            swap = (
                (math.sqrt(2) if shape == "cube" else math.sqrt(0.5))
                if "cube" in (shape, obj.shape) and shape != obj.shape
                else 1.0
            )
            sizes = {obj.size} | {float(np.clip(obj.size * swap * f, 1e-3, MAX_SIZE)) for f in (0.85, 1.0, 1.15)}
            turns = tuple(np.arange(0.0, 90.0, 7.5)) if shape == "cube" else (0.0,)
            if shape == obj.shape and shape != "cube":
                sizes.discard(obj.size)  # that one is the scene as it is
            options += [
                dataclasses.replace(obj, shape=shape, size=size, rotation=(obj.rotation + t) % 360)
                for size in sorted(sizes)
                for t in turns
            ]
        options += [dataclasses.replace(obj, material=m) for m in MATERIALS if m != obj.material]
        if not isinstance(obj.color, str):
            options.append(dataclasses.replace(obj, color=nearest_color_name(obj.color)))
        trials = [
            dataclasses.replace(current, objects=current.objects[:k] + (o,) + current.objects[k + 1 :]) for o in options
        ]
        e = errors(trials)
        if e.min() < error:
            current, error = trials[int(e.argmin())], float(e.min())
    if propose and scene.view == "3d":
        candidates = (*candidates, *_residual_proposals(current, image))
    for obj in candidates:
        if len(current.objects) >= MAX_OBJECTS:
            break
        bigger = dataclasses.replace(current, objects=current.objects + (obj,))
        e = float(errors([bigger])[0])
        if (error - e) * target.size >= MIN_EXPLAINED:  # it must explain enough to be worth an object
            current, error = bigger, e
    return current, math.sqrt(error)


def _residual_proposals(scene: Scene, image: np.ndarray) -> list:
    """The best object for the largest blob of the picture that `scene` leaves unexplained (3D): the
    ray through the blob's centre meets the plane of an object's centre (z = its size), and every CLEVR
    shape, size, material and colour is tried there, in one batch. [] if nothing is left to explain."""
    from scipy import ndimage

    from worlds.render3d import pixel_ray

    if not scene.objects:
        return []
    residual = np.abs(render([scene])[0].astype(np.float64) - image).sum(2)  # (H, W), levels
    labels, n = ndimage.label(residual > 60)
    if not n:
        return []
    mass = ndimage.sum(residual, labels, range(1, n + 1))
    rows, cols = np.nonzero(labels == int(np.argmax(mass)) + 1)
    eye, ray = pixel_ray(scene, rows.mean() + 0.5, cols.mean() + 0.5)  # through the blob's centre
    if len(rows) < 6 or ray[2] >= 0:  # a speck, or a blob above the horizon
        return []
    options = []
    for size in (0.35, 0.7):  # CLEVR's small and large
        x, y = (eye + (size - eye[2]) / ray[2] * ray)[:2]
        options += [
            dataclasses.replace(
                scene.objects[0],
                shape=shape,
                color=color,
                size=size,
                material=m,
                position=(float(x), float(y)),
                rotation=0.0,
            )
            for shape in SHAPES
            for color in CLEVR_COLORS
            for m in MATERIALS
        ]
    trials = [dataclasses.replace(scene, objects=scene.objects + (o,)) for o in options]
    e = ((render(trials).astype(np.float64) - image.astype(np.float64)) ** 2).mean((1, 2, 3))
    return [options[int(e.argmin())]]


CLEVR_COLORS = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")


# An object must earn its place: the squared error (summed over subpixels, in levels²) it explains
# must be at least this, 8 pixels' worth at 20 levels in each channel. A two-part code of the
# picture (the scene, then the residual) pays for each object; without that price a spurious object
# fitted to the residual of a slightly misplaced neighbour always lowers the error a little. Over 60
# fresh clevr3d scenes the smallest true object explained 30,000; the spurious ones 135 to 1,500.
MIN_EXPLAINED = 8 * 3 * 20.0**2


def prune(scene: Scene, image: np.ndarray) -> Scene:
    """Drop, one at a time and the least useful first, each object whose removal raises the summed
    squared error by less than MIN_EXPLAINED."""
    target = image.astype(np.float64)
    while len(scene.objects) > 1:
        trials = [
            dataclasses.replace(scene, objects=scene.objects[:k] + scene.objects[k + 1 :])
            for k in range(len(scene.objects))
        ]
        sse = ((render([scene, *trials]).astype(np.float64) - target) ** 2).sum((1, 2, 3))
        k = int(np.argmin(sse[1:]))
        if sse[1 + k] - sse[0] >= MIN_EXPLAINED:
            return scene
        scene = trials[k]
    return scene


def refine(
    scene: Scene, image: np.ndarray, *, steps: int = 60, callback=None, candidates=()
) -> tuple[Scene, list[float]]:
    """Refine `scene` to explain `image` (uint8 (H, W, 3) at the scene's size); returns the best scene
    found and the RMSE (levels) after every step, the start first. `callback(step, scene, rmse)` is
    called after each step (for animation; raise to stop); `candidates` are objects it may add."""
    stepper = refine_steps(scene, image, steps, candidates)  # checks the arguments before any work
    best = scene
    history = [image_error(render([scene])[0], np.asarray(image), color_rgb(scene.background))["rmse"]]
    best_rmse = history[0]
    for step, current, rmse in stepper:
        history.append(rmse)
        if rmse < best_rmse:  # the real renderer is the judge
            best, best_rmse = current, rmse
        if callback is not None:
            callback(step, current, rmse)
    return (prune(best, np.asarray(image)) if len(history) > 1 else best), history


def _refine_2d(scene: Scene, image: np.ndarray, steps: int, sharp: bool = False):
    t = _tensors(scene)
    params = {k: t[k].clone().requires_grad_(True) for k in ("position", "size", "rotation", "rgb")}
    # step sizes in each factor's own units: world units, world units, degrees, colour levels
    optimizer = torch.optim.Adam(
        [
            {"params": [params["position"]], "lr": 0.02},
            {"params": [params["size"]], "lr": 0.01},
            {"params": [params["rotation"]], "lr": 1.0},
            {"params": [params["rgb"]], "lr": 2.0},
        ]
    )
    target = torch.from_numpy(np.array(image, dtype=np.float32))  # a writable copy
    for step in range(1, steps + 1):
        # edges 3 px soft at first (a wide basin), sharpened to the real renderer's 1 px over 60% of the run
        softness = 1.0 if sharp else 1.0 + 2.0 * max(0.0, 1.0 - step / (0.6 * steps))
        optimizer.zero_grad(set_to_none=True)
        rendered = soft_render_2d(
            scene,
            t["shapes"],
            t["metal"],
            params["position"],
            params["size"].clamp(min=0.02),
            params["rotation"],
            params["rgb"].clamp(0, 255),
            softness,
        )
        loss = ((rendered - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            current = _with(
                scene,
                params["position"].numpy(),
                params["size"].numpy(),
                params["rotation"].numpy(),
                params["rgb"].numpy(),
            )
        yield step, current, image_error(render([current])[0], image, color_rgb(scene.background))["rmse"]


def _refine_3d(scene: Scene, image: np.ndarray, steps: int, sharp: bool = False):
    K = len(scene.objects)
    theta = np.array([[*o.position, o.size, o.rotation] for o in scene.objects], np.float64)  # (K, 4)
    h = np.array([0.03, 0.03, 0.02, 3.0])  # nudge of x, y, size, rotation
    step_size = np.array([0.05, 0.05, 0.02, 4.0])  # first step, in the same units
    target = image.astype(np.float64)

    def scene_of(th):
        return _with(scene, th[:, :2], th[:, 2], th[:, 3])

    def errors(thetas):
        images = render([scene_of(th) for th in thetas]).astype(np.float64)
        return ((images - target) ** 2).mean((1, 2, 3))

    current_error = float(errors([theta])[0])
    for step in range(1, steps + 1):
        nudged = []
        for k in range(K):
            for j in range(4):
                for sign in (1, -1):
                    th = theta.copy()
                    th[k, j] += sign * h[j]
                    nudged.append(th)
        e = errors(nudged).reshape(K, 4, 2)
        grad = (e[..., 0] - e[..., 1]) / (2 * h)  # (K, 4) central differences
        scaled = grad * h  # per unit nudge
        norm = np.abs(scaled).max()
        if norm > 0:
            candidate = theta - step_size * scaled / norm  # the largest factor moves by its step
            candidate_error = float(errors([candidate])[0])
            if candidate_error < current_error:
                theta, current_error = candidate, candidate_error
                step_size = step_size * 1.2
            else:
                step_size = step_size * 0.5  # overshot: halve the step
        yield step, scene_of(theta), math.sqrt(current_error)
