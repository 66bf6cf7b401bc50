"""Inverse graphics: an image in, the `Scene` that rendered it out ("inference is vision").

Carion et al. 2020, "End-to-End Object Detection with Transformers" (DETR); Locatello et al. 2020,
"Object-Centric Learning with Slot Attention" (the CLEVR property-prediction AP used below);
Liu et al. 2018, "An intriguing failing of convolutional neural networks and the CoordConv solution".

Model. A scene is a *set* of objects, so the encoder predicts a fixed number K of slots, each
"is there an object, and which": presence, shape, colour (a palette name and an RGB value),
material, ground position (x, y), size and rotation, in exactly the slot layout of
`Scene.to_vector` (`worlds.scene.SLOT_LAYOUT`), from which `Scene.from_vector` builds the answer.
A small CNN (with two coordinate channels, CoordConv, so positions are easy to read off) turns the
image into a grid of feature tokens with a 2D sinusoidal position code. Two stages, as in Efficient
DETR (Yao et al. 2021) and two-stage Deformable DETR (Zhu et al. 2021), because plain DETR's learned
queries take very long to learn where to look: first every token proposes a slot vector of its own
(a dense set of N proposals, trained with the same matching loss); the K tokens most confident that
they hold an object then become the K slots (their features plus a learned code per rank), which a
transformer decoder refines (self-attention between slots, so two slots learn not to claim one
object; cross-attention to the whole image), and a small head maps each slot to its fields.

Training: Hungarian matching. The slots have no order, and the scene's objects have an arbitrary
one, so a fixed slot-to-object assignment would ask the network to guess the order. For every image
the Hungarian algorithm (`scipy.optimize.linear_sum_assignment`) finds the one-to-one assignment
sigma of objects to slots with the least total cost
    C(slot, object) = -[p(shape) + p(colour) + p(material) + p(present)] / 4
                      + w_pos |pos - pos*|_1 / scale + |size - size*| / u,
and the loss is taken under it: binary cross-entropy of presence for every slot (unmatched slots
should say "nothing here"), cross-entropies of the discrete attributes and L1 errors of the
continuous ones for matched slots. As in DETR, every decoder layer's output is scored the same way
(auxiliary losses), which speeds up training of the cross-attention a lot.

Targets come from `Scene.to_vector` (the same slot layout the answer decodes from), never from a
second copy of the factor table. The encoder is trained by `playground.models.train.fit` like every
family; the "condition" it asks for is the scenes' vectors (`WorldData.condition("scene")`).

Metrics (`metrics.py`). `match_scenes` pairs predicted and true objects by position (Hungarian again) for count,
attribute and position accuracy; `average_precision` is the Slot Attention paper's set-prediction AP:
predictions are ranked by confidence; one is a true positive when its shape, colour, size and
material all equal those of a not-yet-claimed true object of its image whose position lies within
distance d of it (positions normalised to [0, 1] over the world's position range); AP is the area
under the precision-recall curve (all-point interpolation, as in their code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from playground.models.protocol import Model
from worlds import get_world
from worlds.render3d import _camera_rays
from worlds.scene import MAX_OBJECTS, MAX_SIZE, POSITION_LIMIT, SHAPES, SLOT_DIM, SLOT_LAYOUT, Scene

L = SLOT_LAYOUT
MAX_BATCH = 1024  # images per infer call
POSITION_WEIGHT = 5.0  # w_pos of the matching cost and of the position loss
NO_OBJECT_WEIGHT = 0.2  # weight of the presence loss of unmatched slots (most slots are empty)
SIZE_UNIT = 0.5  # sizes are predicted as SIZE_UNIT * (1 + output): CLEVR's 0.35 and 0.7 are -0.3 and 0.4
TWIN_DISTANCE = 0.4  # two answers whose centres are closer than this (world units) are one object


def sinusoidal_grid(dim: int, side: int) -> torch.Tensor:
    """(dim, side, side) 2D sinusoidal position code: dim/4 frequencies each of sin, cos of row and column."""
    quarter = dim // 4
    freqs = torch.exp(-math.log(100.0) * torch.arange(quarter) / max(quarter - 1, 1))  # 1 .. 1/100 cycles/px
    pos = torch.arange(side, dtype=torch.float32)[:, None] * freqs[None] * math.pi  # (side, quarter)
    rows, cols = torch.cat([pos.sin(), pos.cos()], 1), torch.cat([pos.sin(), pos.cos()], 1)  # (side, dim/2)
    code = torch.cat([rows[:, None, :].expand(side, side, -1), cols[None, :, :].expand(side, side, -1)], -1)
    return code.permute(2, 0, 1).contiguous()  # (dim, side, side)


def coordinate_channels(batch: int, size: int) -> torch.Tensor:
    """(batch, 2, size, size): pixel-centre column and row coordinates in [-1, 1] (CoordConv)."""
    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([cols, rows])[None].expand(batch, -1, -1, -1)


@dataclass
class EncoderConfig:
    image_size: int = 64  # square input images of this side (others are resized first)
    channels: int = 3  # colour channels
    world: str = "shapes2d"  # the world the encoder reads: its scenes' view, camera, ranges
    condition: str = "scene"  # what the training loop passes along with images: scene vectors
    slots: int = MAX_OBJECTS  # K, the set size (at least the world's largest object count)
    width: int = 32  # channels of the CNN's first stages (doubled at the token grid)
    dim: int = 128  # token and slot width
    layers: int = 3  # transformer decoder layers
    heads: int = 4  # attention heads
    downsample: int = 2  # stride-2 stages: tokens form a (image_size / 2^downsample)^2 grid


class SceneEncoder(Model):
    Config = EncoderConfig
    family = "encoder"
    likelihood = "none"
    conditions = ("scene",)  # scene vectors: what it learns to read

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        world = get_world(config.world)
        if not 1 <= config.slots <= MAX_OBJECTS or config.slots < world.num_objects[1]:
            raise ValueError(
                f"slots must be in {world.num_objects[1]}..{MAX_OBJECTS} for world {world.name!r} "
                f"(up to {world.num_objects[1]} objects), got {config.slots}"
            )
        if not 1 <= config.downsample <= 4 or config.image_size % 2**config.downsample:
            raise ValueError(
                f"image_size {config.image_size} must be divisible by 2^downsample "
                f"(downsample in 1..4, got {config.downsample})"
            )
        if config.dim % (4 * config.heads) or min(config.width, config.layers) < 1:
            raise ValueError("dim must be a multiple of 4 * heads; width and layers must be positive")
        c, w, d = config.channels, config.width, config.dim
        stages = [nn.Conv2d(c + 2, w, 3, padding=1), nn.ReLU()]
        for k in range(config.downsample):
            w_in, w_out = (w, w) if k < config.downsample - 1 else (w, 2 * w)
            stages += [
                nn.Conv2d(w_in, w_out, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(w_out, w_out, 3, padding=1),
                nn.ReLU(),
            ]
        self.backbone = nn.Sequential(*stages, nn.Conv2d(2 * w, d, 1))
        side = config.image_size // 2**config.downsample
        self.register_buffer("position_code", sinusoidal_grid(d, side), persistent=False)
        self.dense_head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, SLOT_DIM))
        self.query_norm = nn.LayerNorm(d)
        self.queries = nn.Parameter(torch.randn(config.slots, d) * 0.1)  # a learned code per slot rank
        self.decoder = nn.ModuleList(
            nn.TransformerDecoderLayer(d, config.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
            for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, SLOT_DIM))
        lo, hi = world.position_range
        self.view = world.view
        settings = {**world.scene_settings(), "image_size": config.image_size}
        self.px_per_unit = config.image_size / (2.0 * world.camera.extent)
        cam = _camera_rays(Scene([], **settings))  # the 3D renderer's own camera model
        for name, values in (
            ("eye", cam[0:3]),
            ("forward_axis", cam[12:15]),
            ("proj_right", cam[15:18]),
            ("proj_up", cam[18:21]),
        ):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32), persistent=False)
        self.register_buffer("center", torch.tensor((lo + hi) / 2), persistent=False)
        self.register_buffer("scale", torch.tensor((hi - lo) / 2), persistent=False)

    # --- the network

    def _slot_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """uint8 (B, C, H, W) -> raw slot vectors: the dense proposals (B, N, SLOT_DIM), then the K slots
        (B, K, SLOT_DIM) after each decoder layer."""
        size = self.config.image_size
        if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != (self.config.channels, size, size):
            raise ValueError(
                f"expected uint8 images (B, {self.config.channels}, {size}, {size}), got {x.dtype} {tuple(x.shape)}"
            )
        h = torch.cat([x.float() / 127.5 - 1, coordinate_channels(x.shape[0], size).to(x.device)], 1)
        tokens = (self.backbone(h) + self.position_code).flatten(2).transpose(1, 2)  # (B, N, d)
        dense = self.dense_head(tokens)  # (B, N, SLOT_DIM)
        # two-stage queries: the K heat-map peaks (tokens more confident than their 8 neighbours) most
        # sure they hold an object start the slots
        side = self.config.image_size // 2**self.config.downsample
        heat = dense[..., L["present"]].detach().view(-1, 1, side, side)
        peaks = heat == F.max_pool2d(heat, 3, stride=1, padding=1)
        top = torch.where(peaks, heat, heat - 1e4).flatten(1).topk(self.config.slots, dim=1).indices  # (B, K)
        slots = self.query_norm(tokens.gather(1, top[..., None].expand(-1, -1, tokens.shape[-1]))) + self.queries
        outputs = [dense]
        for layer in self.decoder:
            slots = layer(slots, tokens)
            outputs.append(self.head(self.norm(slots)))  # (B, K, SLOT_DIM)
        return outputs

    def _fields(self, raw: torch.Tensor) -> dict:
        """Raw slot vectors -> the fields in world units (positions and sizes scaled)."""
        return {
            "present": raw[..., L["present"]],
            "shape": raw[..., L["shape"]],
            "color": raw[..., L["color"]],
            "rgb": raw[..., L["rgb"]],
            "material": raw[..., L["material"]],
            "position": self.center + self.scale * raw[..., L["position"]],
            "size": SIZE_UNIT * (1 + raw[..., L["size"]]),
            "rotation": raw[..., L["rotation"]],
        }

    # --- training: Hungarian matching

    @torch.no_grad()
    def _assign(self, f: dict, targets: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image, (slot indices, object indices) of the least-cost one-to-one matching."""
        present = targets[..., L["present"]] > 0.5  # (B, M)
        p = {k: f[k].softmax(-1) for k in ("shape", "color", "material")}
        t = {k: targets[..., L[k]] for k in ("shape", "color", "material")}
        # (B, K, M) probability each slot gives to each object's value, averaged over fields
        prob = sum(torch.einsum("bkc,bmc->bkm", p[k], t[k]) for k in p) + torch.sigmoid(f["present"])[..., None]
        distance = torch.cdist(f["position"], targets[..., L["position"]], p=1) / self.scale
        size = (f["size"][..., None] - targets[..., L["size"]][:, None]).abs() / SIZE_UNIT
        cost = (-prob / 4 + POSITION_WEIGHT * distance + size).cpu().numpy()
        pairs = []
        for b in range(cost.shape[0]):
            objects = np.flatnonzero(present[b].cpu().numpy())
            rows, cols = linear_sum_assignment(cost[b][:, objects])
            pairs.append((rows, objects[cols]))
        return pairs

    def _matched_loss(self, f: dict, targets: torch.Tensor, b_idx, s_idx, o_idx) -> torch.Tensor:
        """Attribute cross-entropies and continuous L1 errors of slots s_idx against objects o_idx."""
        t = targets[b_idx, o_idx]  # (P, SLOT_DIM) matched truths
        m = {k: v[b_idx, s_idx] for k, v in f.items()}  # matched predictions
        loss = sum(F.cross_entropy(m[key], t[:, L[key]].argmax(1)) for key in ("shape", "color", "material"))
        loss = loss + (m["rgb"] - t[:, L["rgb"]]).abs().mean()
        loss = loss + POSITION_WEIGHT * (m["position"] - t[:, L["position"]]).abs().mean() / self.scale
        loss = loss + (m["size"] - t[:, L["size"]]).abs().mean() / SIZE_UNIT
        symmetric = t[:, L["shape"]][:, SHAPES.index("cube")]  # only cubes have a rotation
        return loss + (symmetric[:, None] * (m["rotation"] - t[:, L["rotation"]]) ** 2).sum() / symmetric.sum().clamp(
            min=1
        )

    def _set_loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The slots' loss under the Hungarian matching."""
        f = self._fields(raw)
        pairs = self._assign(f, targets)
        b_idx = torch.cat([torch.full((len(r),), b, dtype=torch.long) for b, (r, _) in enumerate(pairs)])
        s_idx = torch.cat([torch.as_tensor(r, dtype=torch.long) for r, _ in pairs])
        o_idx = torch.cat([torch.as_tensor(c, dtype=torch.long) for _, c in pairs])
        occupied = torch.zeros_like(f["present"])
        occupied[b_idx, s_idx] = 1.0
        weight = torch.where(occupied > 0, 1.0, NO_OBJECT_WEIGHT)
        loss = F.binary_cross_entropy_with_logits(f["present"], occupied, weight=weight, reduction="sum") / weight.sum()
        return loss if len(b_idx) == 0 else loss + self._matched_loss(f, targets, b_idx, s_idx, o_idx)

    def _dense_loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The proposals' loss (CenterNet): the token under each object's centre is its proposal. Its
        presence learns a heat map with the penalty-reduced focal loss of Law & Deng 2018 / Zhou et al.
        2019 (target 1 at the centre's token, exp(-r^2 / 2) one token r away, whose "no" is forgiven
        (1 - y)^4 times), its fields the object's."""
        f = self._fields(raw)
        side = self.config.image_size // 2**self.config.downsample
        present = targets[..., L["present"]] > 0.5  # (B, M)
        centre = self.image_centres(targets) / 2**self.config.downsample  # (B, M, 2) in token units
        cell = centre.floor().clamp(0, side - 1)  # (B, M, 2): column, row
        grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="xy"), -1).flatten(0, 1)
        r2 = ((grid[None, None].float() - cell[:, :, None]) ** 2).sum(-1)  # (B, M, N)
        heat = torch.where(present[..., None], torch.exp(-r2 / 2.0), 0.0).amax(1)  # (B, N)
        p = torch.sigmoid(f["present"]).clamp(1e-4, 1 - 1e-4)
        peak = heat > 0.999
        focal = torch.where(peak, (1 - p) ** 2 * torch.log(p), (1 - heat) ** 4 * p**2 * torch.log(1 - p))
        loss = -focal.sum() / peak.sum().clamp(min=1)
        b_idx, o_idx = present.nonzero(as_tuple=True)
        if len(b_idx) == 0:
            return loss
        s_idx = (cell[b_idx, o_idx, 1] * side + cell[b_idx, o_idx, 0]).long()
        return loss + self._matched_loss(f, targets, b_idx, s_idx, o_idx)

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The proposals' loss plus the matched set loss of every decoder layer, averaged; `condition`
        is the scenes' vectors (B, M, SLOT_DIM)."""
        if (
            condition is None
            or condition.ndim != 3
            or condition.shape[-1] != SLOT_DIM
            or condition.shape[0] != x.shape[0]
        ):
            raise ValueError(f"the encoder's loss needs the scenes' vectors (B, slots, {SLOT_DIM}) as its condition")
        targets = condition.float().to(x.device)
        dense, *slots = self._slot_outputs(x)
        return (self._dense_loss(dense, targets) + sum(self._set_loss(raw, targets) for raw in slots)) / (
            1 + len(slots)
        )

    def image_centres(self, vectors: torch.Tensor) -> torch.Tensor:
        """(..., 2) pixel (column, row) where each slot's object centre appears in the image: the 2D
        view's scaling, or the 3D camera's perspective projection of the point half-way up the object."""
        position = vectors[..., L["position"]]
        if self.view == "2d":
            col = self.config.image_size / 2 + position[..., 0] * self.px_per_unit
            row = self.config.image_size / 2 - position[..., 1] * self.px_per_unit
            return torch.stack([col, row], -1)
        cube = vectors[..., L["shape"]][..., SHAPES.index("cube")]
        z = vectors[..., L["size"]] * torch.where(cube > 0.5, math.sqrt(0.5), 1.0)  # half the object's height
        v = torch.cat([position, z[..., None]], -1) - self.eye  # offset from the eye
        depth = (v @ self.forward_axis).clamp(min=1e-3)
        half = self.config.image_size / 2
        return torch.stack([half + (v @ self.proj_right) / depth, half - (v @ self.proj_up) / depth], -1)

    # --- inference

    @torch.no_grad()
    def predict_vectors(self, x: torch.Tensor) -> np.ndarray:
        """Soft slot vectors (B, K, SLOT_DIM) in `Scene.to_vector`'s layout: probabilities for the
        present flag and the discrete fields, world units for positions and sizes."""
        f = self._fields(self._slot_outputs(x)[-1])
        out = torch.zeros(*f["present"].shape, SLOT_DIM)
        out[..., L["present"]] = torch.sigmoid(f["present"])
        for key in ("shape", "color", "material"):
            out[..., L[key]] = f[key].softmax(-1)
        out[..., L["rgb"]] = f["rgb"].clamp(0, 1)
        out[..., L["position"]] = f["position"].clamp(-POSITION_LIMIT, POSITION_LIMIT)
        out[..., L["size"]] = f["size"].clamp(1e-3, MAX_SIZE)
        out[..., L["rotation"]] = F.normalize(f["rotation"], dim=-1)
        return drop_twins(out.numpy())

    def scene_settings(self) -> dict:
        """View, camera, light and ground of the world's scenes, at this encoder's image size."""
        return {**get_world(self.config.world).scene_settings(), "image_size": self.config.image_size}

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> list[Scene]:
        """uint8 (B, C, H, W) images of this encoder's size -> one `Scene` each (renderable as it is)."""
        if not 1 <= x.shape[0] <= MAX_BATCH:
            raise ValueError(f"can read 1..{MAX_BATCH} images at once, got {x.shape[0]}")
        settings = self.scene_settings()
        return [Scene.from_vector(v, **settings) for v in self.predict_vectors(x)]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The slot vectors as a tensor (B, K, SLOT_DIM): the scene read from the image is its representation."""
        return torch.from_numpy(self.predict_vectors(x))


def drop_twins(vectors: np.ndarray, distance: float = TWIN_DISTANCE) -> np.ndarray:
    """Soft slot vectors (B, K, SLOT_DIM) with the less confident of any two present slots whose centres
    lie closer than `distance` marked absent. Matching trains a set predictor to claim each object once,
    but a briefly trained one still sometimes gives one object two slots; the world's geometry settles
    it, since solid objects cannot stand that close (CLEVR's smallest objects are 0.35 in radius)."""
    vectors = vectors.copy()
    for v in vectors:
        order = np.argsort(-v[:, L["present"]])
        kept: list[int] = []
        for k in order:
            if v[k, L["present"]] < 0.5:
                break
            if any(np.linalg.norm(v[k, L["position"]] - v[j, L["position"]]) < distance for j in kept):
                v[k, L["present"]] = 0.0
            else:
                kept.append(int(k))
    return vectors


def doubtful_objects(vectors: np.ndarray, settings: dict, lo: float = 0.02) -> list[list[object]]:
    """Per image, the objects of the slots the encoder was unsure of (present probability in [lo, 1/2)),
    most likely first: analysis by synthesis tries adding them (`playground.inverse.refine.discrete_sweep`)."""
    out = []
    for v in vectors:
        p = v[:, L["present"]]
        rows = [k for k in np.argsort(-p) if lo <= p[k] < 0.5]
        sure = v[rows].copy()
        sure[:, L["present"]] = 1.0
        out.append(list(Scene.from_vector(sure, **settings).objects) if rows else [])
    return out


def confident_objects(vectors: np.ndarray, settings: dict) -> list[list[tuple[float, object]]]:
    """(confidence, Object) of every present slot of each image's soft slot vectors (B, K, SLOT_DIM);
    the confidence is the present probability."""
    out = []
    for v in vectors:
        keep = v[:, L["present"]] >= 0.5
        scene = Scene.from_vector(v, **settings)
        out.append(list(zip(v[keep, L["present"]].tolist(), scene.objects)))
    return out


# --- reading a user's image ----------------------------------------------------------------

MAX_INPUT_SIDE = 4096  # larger uploads are refused (a decompression bomb, or not a toy scene)


def prepare_image(image, size: int, background=(128, 128, 128)) -> np.ndarray:
    """Any picture -> uint8 (size, size, 3), the encoder's input.

    Accepts a PIL image or an array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8 or floats in [0, 1].
    Grey images are repeated over the three channels, palette images expanded, an alpha channel is
    composited over the world's ground colour; a non-square image is centre-cropped to a square, then
    resized with a box filter (each output pixel the mean of the input pixels it covers)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        if max(image.size) > MAX_INPUT_SIDE:
            raise ValueError(
                f"image is {image.size[0]}x{image.size[1]} px; the largest side accepted is {MAX_INPUT_SIDE}"
            )
        if image.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
            image = image.convert("RGBA")
        elif image.mode != "RGB":
            image = image.convert("RGB")
        array = np.asarray(image)
    else:
        array = np.asarray(image)
        if array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise ValueError("image holds NaN or infinite values")
            array = np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
        elif array.dtype != np.uint8:
            raise ValueError(f"image must be uint8 or floats in [0, 1], got {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise ValueError(f"image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")
    if max(array.shape[:2]) > MAX_INPUT_SIDE:
        raise ValueError(
            f"image is {array.shape[1]}x{array.shape[0]} px; the largest side accepted is {MAX_INPUT_SIDE}"
        )
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        alpha = array[..., 3:].astype(np.float64) / 255.0
        array = np.round(array[..., :3] * alpha + np.asarray(background, np.float64) * (1 - alpha)).astype(np.uint8)
    h, w = array.shape[:2]
    side = min(h, w)
    array = array[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    if side != size:
        array = np.asarray(Image.fromarray(np.ascontiguousarray(array)).resize((size, size), Image.BOX))
    return np.ascontiguousarray(array)


@dataclass(frozen=True)
class Reading:
    """The answer to "what scene is this?": the scene, its re-render and how well it explains the image."""

    scene: Scene
    image: np.ndarray  # uint8 (S, S, 3): the input as the encoder saw it
    rendered: np.ndarray  # uint8 (S, S, 3): the scene re-rendered
    error: dict  # image_error(rendered, image): rmse, psnr, iou
    history: tuple[float, ...]  # RMSE after each refinement step (the start first); () without refinement
    explained: bool  # the error is within what the world's own images show
    candidates: tuple = ()  # objects of slots the encoder was unsure of (refinement may add them)

    @classmethod
    def of(cls, scene: Scene, image: np.ndarray, background, history=(), candidates=()) -> "Reading":
        """The reading that answers `image` (uint8 (S, S, 3)) with `scene`: re-rendered and scored."""
        from worlds import render

        from .refine import image_error

        rendered = render([scene])[0]
        error = image_error(rendered, image, background)
        return cls(scene, image, rendered, error, tuple(history), error["rmse"] <= UNEXPLAINED_RMSE, tuple(candidates))


# RMSE (levels) above which an image is "not one I can explain": well above the re-render error of the
# world's own images after reading (benchmarks/inverse.py prints it), far below a photo's or noise's.
UNEXPLAINED_RMSE = 12.0


def read_scene(encoder: SceneEncoder, image, *, refine_steps: int = 0, callback=None) -> Reading:
    """Read the scene in `image` (see `prepare_image`), optionally refine it by analysis by synthesis
    (`playground.inverse.refine.refine`), and report the re-render error."""
    from .refine import refine

    settings = encoder.scene_settings()
    x = prepare_image(image, encoder.config.image_size, settings["background"])
    vectors = encoder.predict_vectors(torch.from_numpy(np.array(x)).permute(2, 0, 1)[None])  # a writable copy
    scene = Scene.from_vector(vectors[0], **settings)
    candidates = tuple(doubtful_objects(vectors, settings)[0])
    history: tuple[float, ...] = ()
    if refine_steps:
        scene, steps = refine(scene, x, steps=refine_steps, callback=callback, candidates=candidates)
        history = tuple(steps)
    return Reading.of(scene, x, settings["background"], history, candidates)
