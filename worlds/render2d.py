"""The 2D view: an orthographic camera looking straight down on the ground.

Cubes are (rotated) squares, cylinders flat discs, spheres discs shaded as hemispheres.
The view shows the ground square [-extent, extent]^2 of `Scene.camera`, scaled to fit the
image; world +y is image up.

Anti-aliasing is analytic: for every pixel we compute the signed distance `d` (in pixels)
from the pixel centre to the shape's edge, and take `clamp(0.5 - d, 0, 1)` as the fraction
of the pixel the shape covers (the exact coverage of a straight edge by a box filter one
pixel wide). Objects are drawn in order of height, tallest last, so a tall object hides
a flat one beneath it, as it does from above.

The kernel is compiled with numba and runs in parallel over the batch; each object only
visits the pixels of its own bounding box, so a scene costs little more than its
background fill.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .scene import SHAPES, Scene, color_rgb

CUBE, CYLINDER, SPHERE = (SHAPES.index(s) for s in ("cube", "cylinder", "sphere"))
# Packed object record: one row of floats per object, in this column order.
COLUMNS = ("shape", "x", "y", "size", "rotation", "r", "g", "b", "metal", "height")


def pack_objects(scenes: list[Scene]) -> tuple[np.ndarray, np.ndarray]:
    """All objects of all scenes as one float64 table (N, len(COLUMNS)) and scene offsets (B+1,)."""
    rows = [
        (SHAPES.index(o.shape), *o.position, o.size, o.rotation, *o.rgb, o.material == "metal", o.height)
        for s in scenes
        for o in s.objects
    ]
    table = np.array(rows, np.float64).reshape(len(rows), len(COLUMNS))
    offsets = np.zeros(len(scenes) + 1, np.int64)
    np.cumsum([len(s.objects) for s in scenes], out=offsets[1:])
    return table, offsets


def _light_direction(scene: Scene) -> tuple[float, float, float]:
    """Unit vector towards the lamp, as seen from the origin."""
    x, y, z = scene.light.position
    n = math.sqrt(x * x + y * y + z * z)
    return x / n, y / n, z / n


def render_2d(scenes: list[Scene], *, with_masks: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Top-down renders: images uint8 (B, H, W, 3) and masks int16 (B, H, W) (or None).

    masks[b, i, j] is the index in `scenes[b].objects` of the object that covers most of
    pixel (i, j) and is drawn last there, or -1 for the ground.
    """
    H, W = scenes[0].image_size
    B = len(scenes)
    table, offsets = pack_objects(scenes)
    # Per-scene settings: background, pixel scale, light.
    settings = np.array(
        [
            (
                *color_rgb(s.background),
                min(H, W) / (2.0 * s.camera.extent),
                *_light_direction(s),
                s.light.ambient,
                s.light.intensity,
            )
            for s in scenes
        ],
        np.float64,
    ).reshape(B, 9)
    # Per-object geometry in pixels, computed once in numpy (float64, IEEE ops only).
    scale = np.repeat(settings[:, 3], np.diff(offsets))  # (N,)
    theta = np.radians(table[:, 4])
    geometry = (
        np.stack(
            [
                W / 2.0 + table[:, 1] * scale,  # centre column
                H / 2.0 - table[:, 2] * scale,  # centre row (world y is up)
                table[:, 3] * scale,  # bounding radius in px
                np.cos(theta),
                np.sin(theta),
            ],
            axis=1,
        )
        if len(table)
        else np.zeros((0, 5))
    )
    images = np.empty((B, H, W, 3), np.uint8)
    masks = np.empty((B, H, W) if with_masks else (0, 0, 0), np.int16)
    _render_kernel(table, geometry, offsets, settings, images, masks)
    return images, masks if with_masks else None


# --- the kernel ---------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _signed_distance(shape, dx, dy, radius, c, s):
    """Distance in px from an offset (dx, dy) (image axes) to the footprint's edge; < 0 inside."""
    if shape == CUBE:
        # Turn the offset into the cube's frame (world y is image -y), then the exact box SDF.
        u = abs(c * dx - s * dy)
        v = abs(s * dx + c * dy)
        half = radius * 0.7071067811865476
        qu, qv = u - half, v - half
        outside = math.sqrt(max(qu, 0.0) ** 2 + max(qv, 0.0) ** 2)
        return outside + min(max(qu, qv), 0.0)
    return math.sqrt(dx * dx + dy * dy) - radius


@numba.njit(cache=True, inline="always")
def _shade(shape, metal, dx, dy, radius, lx, ly, lz, ambient, intensity):
    """Brightness factor of the surface seen from above, 1.0 for a flat top.

    Diffuse light is Lambert's cosine law, max(0, n . l); it is divided by its value on a
    flat top so cube and cylinder tops show their palette colour exactly. Returns
    (diffuse factor, additive white highlight).
    """
    flat = ambient + intensity * lz
    if shape == SPHERE:
        # The hemisphere's normal at this pixel: n = (x, y, sqrt(r^2 - x^2 - y^2)) / r.
        nx, ny = dx / radius, -dy / radius
        nz = math.sqrt(max(1.0 - nx * nx - ny * ny, 0.0))
        diffuse = (ambient + intensity * max(nx * lx + ny * ly + nz * lz, 0.0)) / flat
        if metal:
            # Blinn-Phong: half vector between light and the viewer (straight up), exponent 32.
            hx, hy, hz = lx, ly, lz + 1.0
            hn = math.sqrt(hx * hx + hy * hy + hz * hz)
            spec = max((nx * hx + ny * hy + nz * hz) / hn, 0.0)
            for _ in range(5):
                spec *= spec
            return 0.75 * diffuse, 0.9 * spec
        return diffuse, 0.0
    if metal:
        # A flat metal top mirrors the sky: a sheen that grows towards the lamp's side.
        along = (dx * lx - dy * ly) / (radius * math.sqrt(lx * lx + ly * ly) + 1e-9)
        return 0.8 + 0.12 * along, 0.18 + 0.12 * along
    return 1.0, 0.0


@numba.njit(parallel=True, cache=True)
def _render_kernel(table, geometry, offsets, settings, images, masks):
    B, H, W, _ = images.shape
    with_masks = masks.shape[0] == B
    for b in numba.prange(B):
        # Background: paint the first row, then copy it down (row copies are memcpy-fast).
        flat = images[b].reshape(H * W * 3)
        for j in range(W):
            for ch in range(3):
                flat[3 * j + ch] = np.uint8(settings[b, ch])
        for i in range(1, H):
            flat[i * 3 * W : (i + 1) * 3 * W] = flat[: 3 * W]
        if with_masks:
            masks[b] = -1
        start, stop = offsets[b], offsets[b + 1]
        # Draw order: by height, ties by index (a stable insertion sort of <= 10 objects).
        order = np.arange(start, stop)
        for a in range(1, stop - start):
            k = order[a]
            m = a - 1
            while m >= 0 and table[order[m], 9] > table[k, 9]:
                order[m + 1] = order[m]
                m -= 1
            order[m + 1] = k
        lx, ly, lz = settings[b, 4], settings[b, 5], settings[b, 6]
        ambient, intensity = settings[b, 7], settings[b, 8]
        for k in order:
            shape, metal = int(table[k, 0]), table[k, 8] > 0.5
            cx, cy, radius, c, s = geometry[k, 0], geometry[k, 1], geometry[k, 2], geometry[k, 3], geometry[k, 4]
            i0, i1 = max(int(math.floor(cy - radius - 1.0)), 0), min(int(math.ceil(cy + radius + 1.0)), H)
            j0, j1 = max(int(math.floor(cx - radius - 1.0)), 0), min(int(math.ceil(cx + radius + 1.0)), W)
            for i in range(i0, i1):
                dy = i + 0.5 - cy
                for j in range(j0, j1):
                    dx = j + 0.5 - cx
                    coverage = min(max(0.5 - _signed_distance(shape, dx, dy, radius, c, s), 0.0), 1.0)
                    if coverage <= 0.0:
                        continue
                    diffuse, highlight = _shade(shape, metal, dx, dy, radius, lx, ly, lz, ambient, intensity)
                    for ch in range(3):
                        colour = min(table[k, 5 + ch] * diffuse + 255.0 * highlight, 255.0)
                        old = float(images[b, i, j, ch])
                        images[b, i, j, ch] = np.uint8(math.floor(old + coverage * (colour - old) + 0.5))
                    if with_masks and coverage >= 0.5:
                        masks[b, i, j] = k - start
