"""Autoregressive scene model: a scene as a sequence of objects, each as a sequence of choices. Exact likelihood.

Vaswani et al. 2017 (the transformer); Germain et al. 2015, "MADE" (a joint as a chain of conditionals);
Vinyals, Bengio & Kudlur 2016, "Order Matters: Sequence to Sequence for Sets" (an order for a set);
Nash et al. 2020, "PolyGen" (objects as sequences of quantised coordinates, with masks that keep them valid).

The chain rule writes any distribution over sequences exactly:
    p(o_1, ..., o_n, stop) = prod_t p(o_t | o_<t) * p(stop | o_<=n),
and each object o_t = (x, y, shape, colour, size, material, rotation), all discrete (positions and
rotations in the fine bins of `codec.py`), is itself a chain:
    p(o_t | o_<t) = p(x | h_t) p(y | x, h_t) p(shape | x, y, h_t) ... p(rotation | ..., h_t).
h_t is a causal transformer's summary of the objects before t (`backbone.SlotTransformer`); each choice
is a softmax head fed h_t plus embeddings of the object's earlier choices.

From sequences to sets. The scene is written in its canonical order (x code, then y code, increasing).
Masks make the model put probability on canonical sequences only: an object's x bin is never left of
the previous object's, and in the same x bin its y bin is above the previous one (two objects never
share a bin: they would overlap). Each set of objects then has exactly one sequence, so
p(set) = p(sequence): an exact, normalised likelihood of the discretised scene, in bits per scene
comparable with the prior's entropy on the same bins (on `exact`, log2 768 = 9.585 bits). A cylinder
or sphere has no rotation code (its rotation changes no pixel), so its rotation choice is masked to 0.
These masks are structure of the distribution (every sequence they forbid has probability 0 in the
world too), not a correction of samples; nothing else is enforced: counts, attributes and the gaps
between objects are the model's own.

Conditioning on a prompt. The prompt's tokens (`backbone.PromptEncoder`) are read by cross-attention;
its object variables come first in the sequence, slot i marked as variable i, the other objects after
them in canonical order (`SceneCodec.encode(first=...)`). The masks above then apply among the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import nn

from playground.models.protocol import Model

from .backbone import KINDS, MAX_VARIABLES, PromptEncoder, SlotTransformer
from .codec import FIELDS, SceneCodec

MAX_SAMPLES = 4096  # scenes per sample call
NEG = -1e9  # a masked logit


@dataclass
class SceneARConfig:
    world: str = "shapes2d"  # the world whose scenes it models (fixes the slots and the bins)
    condition: str = "none"  # "none", or "prompt": parsed prompt rows (backbone.PROMPT_COLUMNS)
    dim: int = 128  # width of the transformer and of every embedding
    depth: int = 3  # transformer blocks
    heads: int = 4  # attention heads
    position_bins: int = 64  # bins per axis (worlds on a grid use the grid)
    rotation_bins: int = 16  # bins of a cube's rotation in [0, 90)
    pair_hidden: int = 32  # width of the pairwise position term


class SceneAutoregressive(Model):
    family = "scene-autoregressive"
    likelihood = "exact"
    conditions = ("none", "prompt")
    representation = "codes"  # what it trains on (codec.py)
    Config = SceneARConfig

    def __init__(self, config: SceneARConfig):
        super().__init__(config)
        self.codec = SceneCodec(config.world, config.position_bins, config.rotation_bins)
        vocab, dim, k = self.codec.vocab, config.dim, self.codec.slots
        # what a slot's input token is made of: the previous object's choices, its place in the sequence
        self.object_embed = nn.ModuleList(nn.Embedding(vocab[f], dim) for f in FIELDS)
        self.start = nn.Parameter(torch.zeros(1, 1, dim))
        self.slot_embed = nn.Embedding(k, dim)
        self.free_slot = nn.Parameter(torch.zeros(1, 1, dim))  # "an object the prompt did not name"
        self.backbone = SlotTransformer(dim, config.depth, config.heads, causal=True, cross=True)
        self.prompt = PromptEncoder(dim, vocab) if config.condition == "prompt" else None
        self.no_prompt = nn.Parameter(torch.zeros(1, 1, dim))
        # within an object: the choices made so far, and one head per choice
        self.choice_embed = nn.ModuleList(nn.Embedding(vocab[f], dim) for f in FIELDS[:-1])
        self.heads = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, vocab[f])) for f in FIELDS
        )
        # where an object may stand, given the objects already placed: a learned pairwise term
        hidden = config.pair_hidden
        self.pair = nn.ModuleDict(
            {
                axis: nn.Sequential(
                    nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1)
                )
                for axis, width in (("x", 3), ("y", 5))
            }
        )
        self.register_buffer("centres", torch.tensor(self.codec.positions, dtype=torch.float32), persistent=False)
        self.register_buffer("sizes", torch.tensor(self.codec.prior.sizes, dtype=torch.float32), persistent=False)

    @cached_property
    def _cube(self) -> int:
        shapes = self.codec.prior.shapes
        return shapes.index("cube") if "cube" in shapes else -1

    # --- the network

    def _memory(self, condition, n: int):
        """Prompt tokens, their padding mask and the number of variables of each row's prompt."""
        if self.prompt is None:
            memory = self.no_prompt.expand(n, 1, -1)
            return memory, None, torch.zeros(n, dtype=torch.long)
        memory, pad = self.prompt(condition)
        variables = (condition[..., 0] == KINDS.index("variable")).sum(1)
        return memory, pad, variables

    def _slot_inputs(self, x: torch.Tensor, variables: torch.Tensor) -> torch.Tensor:
        """(B, K, dim) input tokens: slot t sees object t - 1 (a start token at t = 0), its index, and
        either "you are variable t" (t < the prompt's variables) or "a free object"."""
        b, k, _ = x.shape
        objects = sum(embed(x[..., i]) for i, embed in enumerate(self.object_embed))  # (B, K, dim)
        tokens = torch.cat([self.start.expand(b, 1, -1), objects[:, :-1]], 1)
        t = torch.arange(k)
        bound = t[None] < variables[:, None]  # (B, K)
        role = torch.where(
            bound[..., None],
            self.prompt.variable(t.clamp(max=MAX_VARIABLES - 1))[None] if self.prompt is not None else 0.0,
            self.free_slot,
        )
        return tokens + self.slot_embed(t)[None] + role

    def _context(self, x: torch.Tensor, condition) -> tuple[torch.Tensor, torch.Tensor]:
        memory, pad, variables = self._memory(condition, x.shape[0])
        return self.backbone(self._slot_inputs(x, variables), memory, pad), variables

    def _masks(self, x: torch.Tensor, variables: torch.Tensor) -> dict[str, torch.Tensor]:
        """The structural masks of the module's docstring for teacher-forced codes x (B, K, F): True where
        a value is forbidden. x of slot t: not below the previous free object's; y: above it in the same
        x bin (so after an object in the last bin of all, the sequence must stop); rotation: 0 unless a cube."""
        b, k, _ = x.shape
        t = torch.arange(k)
        ordered = (t[None] >= variables[:, None] + 1)[..., None]  # slot t and slot t - 1 are both free
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)
        px, py = prev[..., FIELDS.index("x")], prev[..., FIELDS.index("y")]
        bins = torch.arange(self.codec.vocab["x"])
        top = py == self.codec.vocab["y"] - 1  # the previous object took the last y bin of its x bin
        mask_x = ordered & ((bins[None, None] < px[..., None]) | ((bins[None, None] == px[..., None]) & top[..., None]))
        same_x = x[..., FIELDS.index("x")] == px
        mask_y = ordered & same_x[..., None] & (bins[None, None] <= py[..., None])
        # no place is left after an object in the last bin: the sequence must stop
        full = ordered[..., 0] & (px == self.codec.vocab["x"] - 1) & top
        mask_p = full[..., None] & (torch.arange(2)[None, None] == 1)
        rot = torch.arange(self.codec.vocab["rotation"])
        not_cube = x[..., FIELDS.index("shape")] != self._cube
        mask_r = not_cube[..., None] & (rot[None, None] > 0)
        return {"present": mask_p, "x": mask_x, "y": mask_y, "rotation": mask_r}

    def _pair_logits(self, x: torch.Tensor, axis: str) -> torch.Tensor:
        """(B, K, bins): the pairwise term of slot t's position logits, sum_j phi(offset to object j) over
        the present objects j < t. For x it sees the offset along x, the two sizes' sum and the least
        gap that offset allows; for y (x chosen) both offsets, the distance and the gap between the
        footprints' edges, the quantity the world's minimum distance is about. Only the pairs that count
        are computed (a scene of 3 objects in 6 slots has 3 of the 15)."""
        b, k, _ = x.shape
        cx, cy = self.centres[x[..., FIELDS.index("x")]], self.centres[x[..., FIELDS.index("y")]]  # (B, K)
        radius = self.sizes[x[..., FIELDS.index("size")]]
        earlier = torch.tril(torch.ones(k, k, dtype=torch.bool), -1)  # [t, j]: j < t
        n, t, j = (earlier[None] & (x[..., 0] == 1)[:, None, :]).nonzero(as_tuple=True)  # the P pairs that count
        grid = self.centres[None, :]  # (1, bins)
        reach = (radius[n, t] + radius[n, j])[:, None].expand(-1, grid.shape[1])  # (P, bins)
        if axis == "x":
            dx = grid - cx[n, j][:, None]
            features = torch.stack([dx, reach, dx.abs() - reach], -1)
        else:
            dx = (cx[n, t] - cx[n, j])[:, None].expand_as(reach)
            dy = grid - cy[n, j][:, None]
            dist = torch.sqrt(dx**2 + dy**2)
            features = torch.stack([dx, dy, reach, dist, dist - reach], -1)
        phi = self.pair[axis](features)[..., 0]  # (P, bins)
        out = torch.zeros(b * k, grid.shape[1], dtype=phi.dtype)
        return out.index_add(0, n * k + t, phi).view(b, k, -1)

    def _logits(self, h: torch.Tensor, x: torch.Tensor, masks: dict) -> list[torch.Tensor]:
        """Teacher-forced logits of every choice of every slot: [(B, K, vocab_f)] in FIELDS order."""
        inputs = [h]
        for i in range(len(FIELDS) - 1):
            inputs.append(inputs[-1] + self.choice_embed[i](x[..., i]))
        logits = []
        for i, field in enumerate(FIELDS):
            z = self.heads[i](inputs[i])
            if field in self.pair:
                z = z + self._pair_logits(x, field)
            if field in masks:
                z = z.masked_fill(masks[field], NEG)
            logits.append(z)
        return logits

    def _log_probs(self, x: torch.Tensor, condition) -> torch.Tensor:
        """(B,) log p(codes) in nats: every choice of every present object, and the stop after the last."""
        h, variables = self._context(x, condition)
        logits = self._logits(h, x, self._masks(x, variables))
        present = x[..., 0] == 1  # (B, K)
        # a slot's choices count when the object is there; its present/stop choice when the slot
        # follows present objects only (the first absent slot is the stop; later slots are implied)
        before = torch.cat([torch.ones_like(present[:, :1]), present[:, :-1]], 1)
        total = torch.zeros(x.shape[0])
        for i, z in enumerate(logits):
            lp = torch.gather(F.log_softmax(z, -1), -1, x[..., i : i + 1])[..., 0]  # (B, K)
            total = total + (lp * (before if i == 0 else present)).sum(1)
        return total

    # --- the protocol

    def loss(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Negative log-likelihood in nats per slot (per scene / K keeps the rate independent of K)."""
        condition = self._check_condition(condition)
        return -self._log_probs(x, condition).mean() / self.codec.slots

    def log_prob(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) exact log p(scene) in nats, of the scenes' codes (B, K, F) in canonical order."""
        condition = self._check_condition(condition, x.shape[0])
        with torch.no_grad():
            return self._log_probs(x, condition)

    def bits_per_scene(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return -self.log_prob(x, condition) / math.log(2.0)

    @torch.no_grad()
    def sample(self, n: int, condition: torch.Tensor | None = None, *, generator: torch.Generator | None = None):
        """(n, K, F) codes drawn one choice at a time (each a real draw from its softmax)."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"can draw 1..{MAX_SAMPLES} scenes at once, got {n}")
        condition = self._check_condition(condition, n)
        k = self.codec.slots
        x = torch.zeros(n, k, len(FIELDS), dtype=torch.long)
        memory, pad, variables = self._memory(condition, n)
        alive = torch.ones(n, dtype=torch.bool)
        for t in range(k):
            h = self.backbone(self._slot_inputs(x, variables), memory, pad)[:, t]  # (n, dim) sees slots < t
            inp = h
            for i, field in enumerate(FIELDS):
                z = self.heads[i](inp)
                if field in self.pair:
                    z = z + self._pair_logits(x, field)[:, t]
                masks = self._masks(x, variables)  # masks of slot t depend on choices made so far
                if field in masks:
                    z = z.masked_fill(masks[field][:, t], NEG)
                choice = torch.multinomial(F.softmax(z, -1), 1, generator=generator)[:, 0]
                if field == "present":
                    choice = choice * alive
                    alive = alive & (choice == 1)
                x[:, t, i] = choice * alive
                if i < len(FIELDS) - 1:
                    inp = inp + self.choice_embed[i](x[:, t, i])
            if not alive.any():
                break
        return x
