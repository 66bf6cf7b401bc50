"""The 3D view: a CLEVR-like perspective render by ray casting, one numba kernel per batch.

Camera. A pinhole at `Camera.position` looking at `look_at`, with +z as up. With the unit
forward f, right r and up u, the ray through image point (sx, sy) (pixels, row 0 at the top)
is  o + t * d  with  d = f + (2 sx / W - 1) tan(fov/2) r + (1 - 2 sy / H) tan(fov/2) (H/W) u.
Since f . d = 1, the ray parameter t is also the depth along the camera axis (a z-buffer).

Geometry. Every ray is intersected analytically with the ground z = 0 and with each object:
a sphere (a quadratic), an upright cylinder (a quadratic for the side, clipped by the
slab 0 <= z <= 2 size, which gives the caps) and a cube (the slab method in its own rotated
frame: the ray is inside the box between the largest entry and the smallest exit of the
three slabs). Each object only tests the pixels of its screen-space bounding box, the
projection of its world bounding box.

Shading, in sRGB values 0..1 with the palette colour as albedo:
    light = gain * (ambient * (0.5 + 0.2 n.z + 0.4 max(n . v, 0)) + direct * lit * max(n . l, 0) * falloff)
where l points to the lamp, v to the camera (a fill light, as in CLEVR's three-lamp rig),
and `falloff` a softened inverse-square law normalised at the world origin, so that the
ground darkens away from the lamp as CLEVR's does. Matte surfaces add a faint
Blinn-Phong highlight. Metal keeps a quarter of its diffuse light and mirrors a fake
environment tinted by its colour (the ground below the horizon, a bright sky above, a glow
on the horizon under the lamp), with a glossy lobe and a sharp white highlight.

Shadows and anti-aliasing. A first pass casts one ray per pixel centre and one shadow ray
to the lamp's centre; it gives the masks and the depth, and a key per pixel: the object
seen and its shadow state (lit, shaded, or penumbra when the lamp's four corners disagree
with its centre). Pixels in a penumbra, and pixels whose key differs from one of their 8
neighbours', lie on an edge: they are re-rendered as the mean of n x n stratified
sub-samples, each with a shadow ray to a different point of an n x n grid over the lamp
(the square of half-side `Light.radius`), so object edges are anti-aliased and shadows
soft. Shadow rays from the ground only test the objects whose shadow's bounding box on
the ground holds the point; those from an object test bounding spheres first.

Determinism: no fast-math, no randomness, no transcendental functions in the kernel (only
+ - * / and sqrt, which IEEE 754 rounds exactly); trigonometry is done in Python float64.
Every scene is rendered by itself, so a batch gives the bytes of its scenes rendered alone.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .scene import PALETTE, SHAPES, Scene, color_rgb

CUBE, CYLINDER, SPHERE = (SHAPES.index(s) for s in ("cube", "cylinder", "sphere"))
SUPERSAMPLE = 3  # edge pixels average SUPERSAMPLE x SUPERSAMPLE sub-samples
GAIN, DIRECT = 1.25, 0.5  # exposure, and the lamp's share of the light next to the ambient
SKY = (0.80, 0.82, 0.86)  # what a ray that misses everything sees
# Packed object record: one row of float64 per object, in this column order (rgb in 0..1).
OBJECT_COLUMNS = ("shape", "x", "y", "size", "cos", "sin", "r", "g", "b", "metal")
# Packed scene settings: one row of 30 float64 per scene; `st[k]` in the kernel reads
#   0-2 eye, 3-5 ray0, 6-8 step_col, 9-11 step_row (the ray through image point (sx, sy) is
#   eye + t (ray0 + sx step_col + sy step_row)), 12-14 forward, 15-17 proj_right, 18-20 proj_up,
#   21-23 lamp position, 24 lamp radius, 25 ambient, 26 intensity, 27-29 ground rgb in 0..1.
_SHAPE_INDEX = {s: i for i, s in enumerate(SHAPES)}
_COLOR_01 = {name: tuple(c / 255.0 for c in rgb) for name, rgb in PALETTE.items()}


# --- packing: scenes -> flat arrays (the only per-object Python work) --------------------


def _object_row(o) -> tuple:
    angle = math.radians(o.rotation)
    rgb = _COLOR_01[o.color] if isinstance(o.color, str) else tuple(c / 255.0 for c in o.color)
    return (_SHAPE_INDEX[o.shape], *o.position, o.size, math.cos(angle), math.sin(angle), *rgb, o.material == "metal")


def _camera_rays(scene: Scene) -> tuple[float, ...]:
    """The camera's 21 settings: eye, ray0, step_col, step_row, forward, proj_right, proj_up."""
    H, W = scene.image_size
    cam = scene.camera
    e = cam.position
    f = [a - b for a, b in zip(cam.look_at, e)]
    norm = math.sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2])
    f = [v / norm for v in f]
    r = [f[1], -f[0], 0.0]  # f x (0, 0, 1): right, horizontal
    norm = math.sqrt(r[0] * r[0] + r[1] * r[1])
    r = [v / norm for v in r]
    u = [r[1] * f[2], -r[0] * f[2], r[0] * f[1] - r[1] * f[0]]  # r x f: up
    tx = math.tan(math.radians(cam.fov) / 2.0)
    ty = tx * H / W
    ray0 = [f[k] - tx * r[k] + ty * u[k] for k in range(3)]  # d at (sx, sy) = (0, 0)
    step_col = [2.0 * tx / W * v for v in r]
    step_row = [-2.0 * ty / H * v for v in u]
    # A point at offset v from the eye lands at sx = W/2 + proj_r . v / depth, sy = H/2 - proj_u . v / depth.
    proj_r = [W / (2.0 * tx) * v for v in r]
    proj_u = [H / (2.0 * ty) * v for v in u]
    return (*e, *ray0, *step_col, *step_row, *f, *proj_r, *proj_u)


def pixel_ray(scene: Scene, row: float, col: float) -> tuple[np.ndarray, np.ndarray]:
    """(eye, direction) of the camera ray through image point (row, col) in pixels, (0, 0) being the
    top-left corner of the top-left pixel: the renderer's own rays, for reading a picture back."""
    cam = np.array(_camera_rays(scene))
    return cam[0:3], cam[3:6] + col * cam[6:9] + row * cam[9:12]


def pack_scenes(scenes: list[Scene]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects (N, 10) float64, scene offsets (B+1,) int64, per-scene settings (B, 30) float64."""
    rows = [_object_row(o) for s in scenes for o in s.objects]
    objects = np.array(rows, np.float64).reshape(len(rows), len(OBJECT_COLUMNS))  # (N, 10)
    offsets = np.zeros(len(scenes) + 1, np.int64)
    np.cumsum([len(s.objects) for s in scenes], out=offsets[1:])
    cameras: dict = {}  # scenes usually share a camera: compute its rays once
    for s in scenes:
        if s.camera not in cameras:
            cameras[s.camera] = _camera_rays(s)
    settings = np.array(
        [
            (
                *cameras[s.camera],
                *s.light.position,
                s.light.radius,
                s.light.ambient,
                s.light.intensity,
                *(c / 255.0 for c in color_rgb(s.background)),
            )
            for s in scenes
        ],
        np.float64,
    )  # (B, 30)
    return objects, offsets, settings


def render_3d(scenes: list[Scene]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Perspective renders of a batch of scenes sharing one image size.

    Returns images uint8 (B, H, W, 3); masks int16 (B, H, W), the index in `objects` of the
    object seen at each pixel centre or -1 for ground and sky; depth float32 (B, H, W), the
    distance along the camera axis of the surface seen there, +inf for sky.
    """
    sizes = {s.image_size for s in scenes}
    if len(sizes) != 1:
        raise ValueError(f"render_3d needs one or more scenes sharing one image_size, got {sorted(sizes)}")
    (H, W), B = sizes.pop(), len(scenes)
    objects, offsets, settings = pack_scenes(scenes)
    images = np.empty((B, H, W, 3), np.uint8)
    masks = np.empty((B, H, W), np.int16)
    depth = np.empty((B, H, W), np.float32)
    _render_kernel(objects, offsets, settings, SUPERSAMPLE, images, masks, depth)
    return images, masks, depth


# --- intersections ------------------------------------------------------------------------

_JIT = dict(cache=True, error_model="numpy")  # numpy's error model: x / 0 is inf, no check


@numba.njit(**_JIT)
def _intersect(obj, ox, oy, oz, dx, dy, dz):
    """Ray o + t d against one object: (t_enter, t_exit, normal at entry); a miss has t_enter > t_exit."""
    shape, cx, cy, size = int(obj[0]), obj[1], obj[2], obj[3]
    if shape == SPHERE:
        # |o + t d - c|^2 = size^2  <=>  a t^2 + 2 b t + c0 = 0
        px, py, pz = ox - cx, oy - cy, oz - size
        a = dx * dx + dy * dy + dz * dz
        b = px * dx + py * dy + pz * dz
        disc = b * b - a * (px * px + py * py + pz * pz - size * size)
        if disc < 0.0:
            return np.inf, -np.inf, 0.0, 0.0, 1.0
        root = math.sqrt(disc)
        t0, t1 = (-b - root) / a, (-b + root) / a
        return t0, t1, (px + t0 * dx) / size, (py + t0 * dy) / size, (pz + t0 * dz) / size
    if shape == CYLINDER:
        # The side: the same quadratic in x, y only; the caps: the slab 0 <= z <= height.
        px, py = ox - cx, oy - cy
        a = dx * dx + dy * dy
        b = px * dx + py * dy
        disc = b * b - a * (px * px + py * py - size * size)
        if disc < 0.0 or (a == 0.0 and px * px + py * py > size * size):
            return np.inf, -np.inf, 0.0, 0.0, 1.0
        root = math.sqrt(disc)
        t0, t1 = ((-b - root) / a, (-b + root) / a) if a > 0.0 else (-np.inf, np.inf)
        nx, ny, nz = (px + t0 * dx) / size, (py + t0 * dy) / size, 0.0
        z0, z1 = -oz / dz, (2.0 * size - oz) / dz  # the ray crosses z = 0 and z = height
        if dz == 0.0:
            z0, z1 = (-np.inf, np.inf) if 0.0 <= oz <= 2.0 * size else (np.inf, -np.inf)
        elif z0 > z1:
            z0, z1 = z1, z0
        if z0 > t0:
            t0, nx, ny, nz = z0, 0.0, 0.0, (1.0 if dz < 0.0 else -1.0)
        return t0, min(t1, z1), nx, ny, nz
    # Cube: turn the ray by -rotation about the cube's centre, then intersect three slabs.
    c, s = obj[4], obj[5]
    half = size * 0.7071067811865476
    px, py = ox - cx, oy - cy
    p = (c * px + s * py, c * py - s * px, oz - half)
    d = (c * dx + s * dy, c * dy - s * dx, dz)
    t0, t1, axis, sign = -np.inf, np.inf, 2, 1.0
    for k in range(3):
        if d[k] == 0.0:
            if abs(p[k]) > half:
                return np.inf, -np.inf, 0.0, 0.0, 1.0
            continue
        near, far = (-half - p[k]) / d[k], (half - p[k]) / d[k]
        if near > far:
            near, far = far, near
        if near > t0:
            t0, axis, sign = near, k, (-1.0 if d[k] > 0.0 else 1.0)
        t1 = min(t1, far)
    lx, ly = (sign, 0.0) if axis == 0 else (0.0, sign) if axis == 1 else (0.0, 0.0)
    return t0, t1, c * lx - s * ly, s * lx + c * ly, (sign if axis == 2 else 0.0)


# --- shading ------------------------------------------------------------------------------


@numba.njit(**_JIT)
def _power(x, squarings):
    """x ** (2 ** squarings) by repeated squaring (exact and portable, unlike pow)."""
    for _ in range(squarings):
        x *= x
    return x


@numba.njit(inline="always", **_JIT)  # inlined into both passes: as a call it cost ~25% of the time
def _sample(objects, boxes, ground_shadows, spheres, st, i, j, sx, sy, lamp_x, lamp_y, probe):
    """Trace the ray through image point (sx, sy) of pixel (i, j), with a shadow ray to the lamp
    point (lamp_x, lamp_y, lamp z). Returns (r, g, b, id, depth, shadow state): the state is
    1 lit, 0 shaded, or, when `probe`, 2 if the lamp's four corners do not all agree with it."""
    ox, oy, oz = st[0], st[1], st[2]
    dx = st[3] + sx * st[6] + sy * st[9]
    dy = st[4] + sx * st[7] + sy * st[10]
    dz = st[5] + sx * st[8] + sy * st[11]
    best, hit, nx, ny, nz = np.inf, -2, 0.0, 0.0, 1.0
    for k in range(objects.shape[0]):
        if boxes[k, 0] <= i < boxes[k, 1] and boxes[k, 2] <= j < boxes[k, 3]:
            t0, t1, mx, my, mz = _intersect(objects[k], ox, oy, oz, dx, dy, dz)
            if 0.0 < t0 < best and t0 <= t1:
                best, hit, nx, ny, nz = t0, k, mx, my, mz
    if dz < 0.0 and -oz / dz < best:
        best, hit, nx, ny, nz = -oz / dz, -1, 0.0, 0.0, 1.0
    if hit == -2:
        return SKY[0], SKY[1], SKY[2], -2, np.inf, 1
    px, py, pz = ox + best * dx, oy + best * dy, oz + best * dz

    # Shadow rays p + t (q - p), 0 < t < 1, to lamp points q: bit 0 of `blocked` is the given
    # point, bits 1-4 the corners of the lamp's square (probe only). The candidates are the
    # objects whose ground shadow holds p (p on the ground), or whose bounding sphere, grown
    # by the lamp's half-diagonal, comes near the segment to the given point.
    lamp_z, lamp_r = st[23], st[24]
    sdx, sdy, sdz = lamp_x - px, lamp_y - py, lamp_z - pz
    seg2 = sdx * sdx + sdy * sdy + sdz * sdz
    points = 5 if probe else 1
    blocked, all_blocked = 0, (1 << points) - 1
    for k in range(objects.shape[0]):
        if k == hit:
            continue  # a convex object shades itself through n . l alone
        if hit == -1:
            g = ground_shadows[k]
            if not (g[0] <= px <= g[1] and g[2] <= py <= g[3]):
                continue
        else:
            # The point of the segment closest to the sphere's centre.
            wx, wy, wz = spheres[k, 0] - px, spheres[k, 1] - py, spheres[k, 2] - pz
            t = min(max((wx * sdx + wy * sdy + wz * sdz) / seg2, 0.0), 1.0)
            ex, ey, ez = wx - t * sdx, wy - t * sdy, wz - t * sdz
            reach = spheres[k, 3] + 1.4142135623730951 * lamp_r
            if ex * ex + ey * ey + ez * ez > reach * reach:
                continue
        for m in range(points):
            if blocked >> m & 1:
                continue
            qx = lamp_x if m == 0 else st[21] + (lamp_r if m & 1 else -lamp_r)
            qy = lamp_y if m == 0 else st[22] + (lamp_r if m & 2 else -lamp_r)
            t0, t1, _, _, _ = _intersect(objects[k], px, py, pz, qx - px, qy - py, lamp_z - pz)
            if t0 <= t1 and t0 < 1.0 and t1 > 1e-9:
                blocked |= 1 << m
        if blocked == all_blocked:
            break
    lit = 1 - (blocked & 1)
    state = lit if blocked == 0 or blocked == all_blocked else 2

    # Direct light from the lamp's centre: Lambert's cosine law, with an inverse-square falloff
    # normalised at the world origin and half of it kept (the ground darkens, but gently).
    lx, ly, lz = st[21] - px, st[22] - py, lamp_z - pz
    dist2 = lx * lx + ly * ly + lz * lz
    inv = 1.0 / math.sqrt(dist2)
    lx, ly, lz = lx * inv, ly * inv, lz * inv
    falloff = 0.5 + 0.5 * (st[21] * st[21] + st[22] * st[22] + lamp_z * lamp_z) * inv * inv
    direct = DIRECT * st[26] * lit * falloff
    # The ambient light comes from the sky (upward faces) and a fill light at the camera, v = -d / |d|.
    inv = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz)
    vx, vy, vz = -dx * inv, -dy * inv, -dz * inv
    ambient = st[25] * (0.5 + 0.2 * nz + 0.4 * max(nx * vx + ny * vy + nz * vz, 0.0))
    diffuse = GAIN * (ambient + direct * max(nx * lx + ny * ly + nz * lz, 0.0))
    if hit == -1:
        return st[27] * diffuse, st[28] * diffuse, st[29] * diffuse, -1, best, state
    # Blinn-Phong: the highlight peaks where n meets the half vector between light and viewer.
    hx, hy, hz = lx + vx, ly + vy, lz + vz
    cos_h = max(nx * hx + ny * hy + nz * hz, 0.0) / (math.sqrt(hx * hx + hy * hy + hz * hz) + 1e-12)
    obj = objects[hit]
    if obj[9] < 0.5:
        spec = 0.12 * direct * _power(cos_h, 4)  # matte: a faint (n . h)^16
        return obj[6] * diffuse + spec, obj[7] * diffuse + spec, obj[8] * diffuse + spec, hit, best, state
    # Metal: mirror the view ray, r = 2 (n . v) n - v, into a fake environment: the ground
    # below the horizon (dark straight down, in the object's own shadow), a sky brightening
    # upwards, and a glow on the horizon under the lamp, (r_h . l_h)^16 (1 - r_z^2) with r_h, l_h
    # the unit horizontal parts of r and l. The lamp adds a glossy lobe (r . l)^8 and a sharp
    # Blinn-Phong highlight (n . h)^256.
    nv = 2.0 * (nx * vx + ny * vy + nz * vz)
    rx, ry, rz = nv * nx - vx, nv * ny - vy, nv * nz - vz
    strength = lit * st[26]
    glossy = 0.5 * strength * _power(max(rx * lx + ry * ly + rz * lz, 0.0), 3)
    sharp = 1.5 * strength * _power(cos_h, 8)
    horizontal = math.sqrt((rx * rx + ry * ry) * (lx * lx + ly * ly)) + 1e-12
    glow = 0.6 * st[26] * (1.0 - rz * rz) * _power(max((rx * lx + ry * ly) / horizontal, 0.0), 4)
    below = 0.35 + 0.45 * (1.0 + rz)
    sky = 0.6 + 0.4 * rz
    env_r, env_g, env_b = (st[27] * below, st[28] * below, st[29] * below) if rz < 0.0 else (sky, sky, sky)
    tint = 0.25 * diffuse + glossy + glow
    white = 0.5 * (glossy + glow) + sharp
    return (
        obj[6] * (tint + 0.85 * env_r) + white,
        obj[7] * (tint + 0.85 * env_g) + white,
        obj[8] * (tint + 0.85 * env_b) + white,
        hit,
        best,
        state,
    )


# --- the kernel ---------------------------------------------------------------------------


@numba.njit(**_JIT)
def _to_byte(v):
    """A value in 0..1 to a byte: clip(round(255 v))."""
    return np.uint8(min(max(math.floor(v * 255.0 + 0.5), 0.0), 255.0))


@numba.njit(**_JIT)
def _render_scene(objects, st, n, image, mask, depth):
    """One scene: bounding regions, a pass at pixel centres, then supersampled edges."""
    H, W = mask.shape
    K = objects.shape[0]
    lamp_x, lamp_y, lamp_z, lamp_r = st[21], st[22], st[23], st[24]
    boxes = np.empty((K, 4), np.int64)  # (K, 4) pixel rows [i0, i1), columns [j0, j1)
    ground_shadows = np.empty((K, 4))  # (K, 4) x0, x1, y0, y1 of the shadow on z = 0
    spheres = np.empty((K, 4))  # (K, 4) bounding sphere centre and radius
    for k in range(K):
        x, y, size, shape = objects[k, 1], objects[k, 2], objects[k, 3], int(objects[k, 0])
        height = size * 1.4142135623730951 if shape == CUBE else 2.0 * size
        spheres[k, 0], spheres[k, 1], spheres[k, 2] = x, y, 0.5 * height
        spheres[k, 3] = size if shape == SPHERE else math.sqrt(size * size + 0.25 * height * height)
        s0, s1, c0, c1 = np.inf, -np.inf, np.inf, -np.inf
        g = ground_shadows[k]
        g[0], g[1], g[2], g[3] = np.inf, -np.inf, np.inf, -np.inf
        # The 8 corners of the world bounding box, seen by the camera and cast by the lamp.
        for corner in range(8):
            qx = x + (size if corner & 1 else -size)
            qy = y + (size if corner & 2 else -size)
            qz = height if corner & 4 else 0.0
            vx, vy, vz = qx - st[0], qy - st[1], qz - st[2]
            dist = vx * st[12] + vy * st[13] + vz * st[14]
            if dist <= 1e-6:  # behind the camera: the box may cover any pixel
                s0, s1, c0, c1 = -np.inf, np.inf, -np.inf, np.inf
            else:
                col = 0.5 * W + (vx * st[15] + vy * st[16] + vz * st[17]) / dist
                row = 0.5 * H - (vx * st[18] + vy * st[19] + vz * st[20]) / dist
                s0, s1, c0, c1 = min(s0, row), max(s1, row), min(c0, col), max(c1, col)
            # Project q from each corner of the lamp's square onto z = 0: p = L + (q - L) Lz / (Lz - qz).
            # (The projection maps convex sets to convex sets, so these 32 points bound the shadow.)
            if qz >= lamp_z:  # an object above the lamp may shade anything
                g[0], g[1], g[2], g[3] = -np.inf, np.inf, -np.inf, np.inf
                continue
            scale = lamp_z / (lamp_z - qz)
            for lamp_corner in range(4):
                Lx = lamp_x + (lamp_r if lamp_corner & 1 else -lamp_r)
                Ly = lamp_y + (lamp_r if lamp_corner & 2 else -lamp_r)
                gx, gy = Lx + (qx - Lx) * scale, Ly + (qy - Ly) * scale
                g[0], g[1], g[2], g[3] = min(g[0], gx), max(g[1], gx), min(g[2], gy), max(g[3], gy)
        boxes[k, 0] = max(math.floor(max(s0, -1.0)) - 1, 0)
        boxes[k, 1] = min(math.ceil(min(s1, H + 1.0)) + 1, H)
        boxes[k, 2] = max(math.floor(max(c0, -1.0)) - 1, 0)
        boxes[k, 3] = min(math.ceil(min(c1, W + 1.0)) + 1, W)

    # Pass 1: one ray per pixel centre. Its key (id, shadow state) is compared with the keys
    # of the 4 neighbours already traced (left, and the three above); a pixel whose key
    # differs from a neighbour's lies on an edge, and so does that neighbour.
    key = np.empty((H, W), np.int16)
    edge = np.zeros((H, W), np.bool_)
    for i in range(H):
        for j in range(W):
            r, g_, b, hit, t, state = _sample(
                objects, boxes, ground_shadows, spheres, st, i, j, j + 0.5, i + 0.5, lamp_x, lamp_y, True
            )
            image[i, j, 0], image[i, j, 1], image[i, j, 2] = _to_byte(r), _to_byte(g_), _to_byte(b)
            mask[i, j] = max(hit, -1)
            depth[i, j] = t
            here = 3 * (hit + 2) + state
            key[i, j] = here
            edge[i, j] |= state == 2  # a penumbra: the lamp is partly hidden
            if j > 0 and key[i, j - 1] != here:
                edge[i, j] = edge[i, j - 1] = True
            if i > 0:
                for jj in range(max(j - 1, 0), min(j + 2, W)):
                    if key[i - 1, jj] != here:
                        edge[i, j] = edge[i - 1, jj] = True

    # Pass 2: pixels on an edge average n x n sub-samples. Sub-sample (a, c) of pixel (i, j)
    # sends its shadow ray to lamp point ((a + c + i) % n, (a + 2c + j) % n) of an n x n grid
    # over the lamp's square: a bijection (the map has determinant 1 mod n), shifted from pixel
    # to pixel so that a wide penumbra dithers instead of banding.
    spacing = 2.0 * lamp_r / n
    weight = 1.0 / (n * n)
    for i in range(H):
        for j in range(W):
            if not edge[i, j]:
                continue
            acc_r, acc_g, acc_b = 0.0, 0.0, 0.0
            for a in range(n):
                for c in range(n):
                    lamp_u = lamp_x - lamp_r + spacing * ((a + c + i) % n + 0.5)
                    lamp_v = lamp_y - lamp_r + spacing * ((a + 2 * c + j) % n + 0.5)
                    r, g_, b, _, _, _ = _sample(
                        objects,
                        boxes,
                        ground_shadows,
                        spheres,
                        st,
                        i,
                        j,
                        j + (c + 0.5) / n,
                        i + (a + 0.5) / n,
                        lamp_u,
                        lamp_v,
                        False,
                    )
                    acc_r, acc_g, acc_b = acc_r + r, acc_g + g_, acc_b + b
            image[i, j, 0] = _to_byte(acc_r * weight)
            image[i, j, 1] = _to_byte(acc_g * weight)
            image[i, j, 2] = _to_byte(acc_b * weight)


@numba.njit(parallel=True, **_JIT)
def _render_kernel(objects, offsets, settings, n, images, masks, depth):
    for b in numba.prange(images.shape[0]):
        _render_scene(objects[offsets[b] : offsets[b + 1]], settings[b], n, images[b], masks[b], depth[b])
