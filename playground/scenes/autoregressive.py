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
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from playground.models.protocol import Model
from worlds.captions import RELATIONS

from .backbone import KINDS, MAX_VARIABLES, PromptEncoder, SlotTransformer
from .codec import FIELDS, SceneCodec

MAX_SAMPLES = 4096  # scenes per sample call
NEG = -1e9  # a masked logit
COPIED = ("shape", "color", "size", "material")  # the choices a prompt's description can name
COPY_GAIN = 4.0  # the copy term's initial gain (learned): the prompt's word starts out e^4 = 55x likelier
MAX_COUNTS = 3  # count facts a prompt can state
NO_COUNT = -2  # "remaining" of a count fact the prompt does not state
INVERSE = {"left": "right", "right": "left", "front": "behind", "behind": "front"}


class Plan(NamedTuple):
    memory: torch.Tensor  # (B, M, dim) prompt tokens
    pad: torch.Tensor | None  # (B, M) True = padding
    variables: torch.Tensor  # (B,) how many objects the prompt names (they lead the sequence)
    described: torch.Tensor  # (B, K, 4) what the prompt names of slot t's shape, colour, size, material (+1; 0 open)
    links: torch.Tensor | None  # (B, K, K) 1 + the relation slot t must stand in to slot j < t (0: none)
    counts: torch.Tensor | None  # (B, MAX_COUNTS, 6) count facts: number, shape, colour, size, material + 1, stated


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
        if self.prompt is not None:  # count fact c: "this many still to place" (-1 .. MAX_VARIABLES + 4)
            self.remaining = nn.ModuleList(nn.Embedding(MAX_VARIABLES + 7, dim) for _ in range(MAX_COUNTS))
            # a count's pointer: a learned gain per "still to place" value on its named values and on "go on"
            self.count_gain = nn.Parameter(torch.zeros(len(COPIED), MAX_VARIABLES + 7))
            self.count_present = nn.Parameter(torch.zeros(MAX_VARIABLES + 7))
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
                for axis, width in (("x", 3 + len(RELATIONS) + 1), ("y", 5 + len(RELATIONS) + 1))
            }
        )
        self.copy_gain = nn.Parameter(torch.full((len(COPIED),), COPY_GAIN))
        self.register_buffer("centres", torch.tensor(self.codec.positions, dtype=torch.float32), persistent=False)
        self.register_buffer("sizes", torch.tensor(self.codec.prior.sizes, dtype=torch.float32), persistent=False)

    @cached_property
    def _cube(self) -> int:
        shapes = self.codec.prior.shapes
        return shapes.index("cube") if "cube" in shapes else -1

    # --- the network

    def _plan(self, condition, n: int) -> Plan:
        """What the prompt asks of the slots (an empty plan without one): its tokens, how many objects
        it names, what it says of each named object, and the relation it states between two slots."""
        k = self.codec.slots
        if self.prompt is None:
            none = torch.zeros(n, dtype=torch.long)
            return Plan(self.no_prompt.expand(n, 1, -1), None, none, torch.zeros(n, k, 4, dtype=torch.long), None, None)
        memory, pad = self.prompt(condition)
        kind = condition[..., 0]
        variables = (kind == KINDS.index("variable")).sum(1)
        # the variables' rows come first, variable i in row i: slot i is told what they say of it
        rows = torch.zeros(n, max(k, condition.shape[1]), condition.shape[2], dtype=torch.long)
        rows[:, : condition.shape[1]] = condition
        named = (torch.arange(k)[None] < variables[:, None])[..., None]
        described = rows[:, :k, 1:5] * named  # (n, K, 4): shape, colour, size, material + 1; 0 = open
        # links[b, t, j] = 1 + the relation slot t must stand in to slot j (j < t), 0 = none stated
        links = torch.zeros(n, k, k, dtype=torch.long)
        for b, r in (kind == KINDS.index("relation")).nonzero().tolist():
            relation, subject, obj = condition[b, r, 5:8].tolist()
            if max(subject, obj) < k:
                later, earlier = max(subject, obj), min(subject, obj)
                seen = relation if later == subject else RELATIONS.index(INVERSE[RELATIONS[relation]])
                links[b, later, earlier] = 1 + seen
        counts = torch.zeros(n, MAX_COUNTS, 6, dtype=torch.long)
        filled = [0] * n
        for b, r in (kind == KINDS.index("count")).nonzero().tolist():
            if filled[b] < MAX_COUNTS:
                counts[b, filled[b], :5] = condition[b, r, [5, 1, 2, 3, 4]]
                counts[b, filled[b], 5] = 1
                filled[b] += 1
        return Plan(memory, pad, variables, described, links, counts)

    def _remaining(self, x: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """(B, K, MAX_COUNTS): for each count fact, how many more objects fitting its description slot t
        still has to place (its number less those among slots < t; unused facts read 0). A running
        count the network would otherwise have to learn to keep: counting is what it did worst."""
        fits = torch.ones(*x.shape[:2], MAX_COUNTS, dtype=torch.bool)  # (B, K, C): slot's object fits fact c
        for column, field in enumerate(COPIED, start=1):
            named = counts[:, None, :, column]  # (B, 1, C)
            fits &= (named == 0) | (x[..., FIELDS.index(field)][..., None] + 1 == named)
        fits &= (x[..., 0] == 1)[..., None]
        before = torch.cumsum(fits.long(), 1) - fits.long()  # fitting objects in slots < t
        stated = counts[:, None, :, 5] == 1
        return torch.where(stated, (counts[:, None, :, 0] - before).clamp(-1, MAX_VARIABLES + 4), NO_COUNT)

    def _slot_inputs(self, x: torch.Tensor, plan: Plan) -> torch.Tensor:
        """(B, K, dim) input tokens: slot t sees object t - 1 (a start token at t = 0), its index, and
        either "you are variable t" (t < the prompt's variables) or "a free object"; with count facts,
        how many objects each still needs."""
        variables = plan.variables
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
        tokens = tokens + self.slot_embed(t)[None] + role
        if plan.counts is not None:
            remaining = self._remaining(x, plan.counts) + 2  # (B, K, C): 0 = no such fact, 1 = one too many
            tokens = tokens + sum(self.remaining[c](remaining[..., c]) for c in range(MAX_COUNTS))
        return tokens

    def _context(self, x: torch.Tensor, plan: Plan) -> torch.Tensor:
        return self.backbone(self._slot_inputs(x, plan), plan.memory, plan.pad)

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

    def _pair_logits(self, x: torch.Tensor, axis: str, links: torch.Tensor | None, slot: int | None = None):
        """(B, K, bins): the pairwise term of slot t's position logits, sum_j phi(offset to object j) over
        the present objects j < t. For x it sees the offset along x, the two sizes' sum and the least
        gap that offset allows; for y (x chosen) both offsets, the distance and the gap between the
        footprints' edges, the quantity the world's minimum distance is about. Each pair also sees the
        relation the prompt asks between the two (`links`; none without a prompt), so "to the left of
        the cube" becomes a term on where the object may stand relative to the cube's place. Only the
        pairs that count are computed (a scene of 3 objects in 6 slots has 3 of the 15), and with `slot`
        only that slot's: (B, bins)."""
        b, k, _ = x.shape
        cx, cy = self.centres[x[..., FIELDS.index("x")]], self.centres[x[..., FIELDS.index("y")]]  # (B, K)
        radius = self.sizes[x[..., FIELDS.index("size")]]
        earlier = torch.tril(torch.ones(k, k, dtype=torch.bool), -1)  # [t, j]: j < t
        counted = earlier[None] & (x[..., 0] == 1)[:, None, :]  # (B, t, j)
        if slot is not None:
            counted = counted & (torch.arange(k) == slot)[None, :, None]
        n, t, j = counted.nonzero(as_tuple=True)  # the P pairs that count
        grid = self.centres[None, :]  # (1, bins)
        reach = (radius[n, t] + radius[n, j])[:, None].expand(-1, grid.shape[1])  # (P, bins)
        if axis == "x":
            dx = grid - cx[n, j][:, None]
            features = [dx, reach, dx.abs() - reach]
        else:
            dx = (cx[n, t] - cx[n, j])[:, None].expand_as(reach)
            dy = grid - cy[n, j][:, None]
            dist = torch.sqrt(dx**2 + dy**2)
            features = [dx, dy, reach, dist, dist - reach]
        stated = links[n, t, j] if links is not None else torch.zeros_like(n)
        relation = F.one_hot(stated, len(RELATIONS) + 1)[:, None].float().expand(-1, grid.shape[1], -1)  # (P, bins, 5)
        phi = self.pair[axis](torch.cat([torch.stack(features, -1), relation], -1))[..., 0]  # (P, bins)
        out = torch.zeros(b * k, grid.shape[1], dtype=phi.dtype).index_add(0, n * k + t, phi).view(b, k, -1)
        return out if slot is None else out[:, slot]

    def _choice_logits(self, i: int, inp: torch.Tensor, x: torch.Tensor, plan: Plan, t: int | None = None):
        """Logits of choice i (FIELDS[i]) of every slot, or of slot t: its head, the pairwise position
        term, the copy term (a learned gain on the value the prompt names for this slot, a pointer as
        in See et al. 2017: "red" in the prompt raises "red" whatever the shape, which is what lets a
        never-seen combination be drawn), and the structural masks."""
        field = FIELDS[i]
        z = self.heads[i](inp)
        at = slice(None) if t is None else t
        if field in self.pair:
            z = z + self._pair_logits(x, field, plan.links, t)
        if field in COPIED:
            # what the prompt names of this slot's object is chosen by the pointer alone (a learned gain on the
            # named value), not by the head: the head learns which combinations the data holds (never a red
            # cylinder in `shapes2d-holdout`), and a named "red" must not have to argue with it
            named = plan.described[:, at, COPIED.index(field)]  # 1 + the value the prompt names, 0 = open
            pointer = self.copy_gain[COPIED.index(field)] * F.one_hot(named, z.shape[-1] + 1)[..., 1:]
            z = torch.where((named > 0)[..., None], pointer, z)
        if plan.counts is not None and (field in COPIED or field == "present"):
            remaining = self._remaining(x, plan.counts)[:, at] + 2  # (B, [K,] C) index into the gains
            for c in range(MAX_COUNTS):
                if field == "present":  # "still to place" speaks for going on
                    z = z + F.pad(self.count_present[remaining[..., c]][..., None], (1, 0))
                else:
                    named = plan.counts[:, c, 1 + COPIED.index(field)]  # (B,)
                    named = named[:, None] if t is None else named
                    gain = self.count_gain[COPIED.index(field)][remaining[..., c]]
                    z = z + (gain * (named > 0))[..., None] * F.one_hot(named, z.shape[-1] + 1)[..., 1:]
        masks = self._masks(x, plan.variables)
        if field in masks:
            z = z.masked_fill(masks[field][:, at], NEG)
        return z

    def _log_probs(self, x: torch.Tensor, condition) -> torch.Tensor:
        """(B,) log p(codes) in nats: every choice of every present object, and the stop after the last."""
        plan = self._plan(condition, x.shape[0])
        inp = self._context(x, plan)
        present = x[..., 0] == 1  # (B, K)
        # a slot's choices count when the object is there; its present/stop choice when the slot
        # follows present objects only (the first absent slot is the stop; later slots are implied)
        before = torch.cat([torch.ones_like(present[:, :1]), present[:, :-1]], 1)
        total = torch.zeros(x.shape[0])
        for i in range(len(FIELDS)):
            z = self._choice_logits(i, inp, x, plan)
            lp = torch.gather(F.log_softmax(z, -1), -1, x[..., i : i + 1])[..., 0]  # (B, K)
            total = total + (lp * (before if i == 0 else present)).sum(1)
            if i < len(FIELDS) - 1:
                inp = inp + self.choice_embed[i](x[..., i])  # teacher forcing: the true earlier choices
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
        plan = self._plan(condition, n)
        alive = torch.ones(n, dtype=torch.bool)
        for t in range(k):
            inp = self._context(x, plan)[:, t]  # (n, dim): slot t sees slots < t
            for i, field in enumerate(FIELDS):
                z = self._choice_logits(i, inp, x, plan, t)
                choice = torch.multinomial(F.softmax(z, -1), 1, generator=generator)[:, 0]
                if field == "present":
                    alive = alive & (choice == 1)
                x[:, t, i] = choice * alive
                if i < len(FIELDS) - 1:
                    inp = inp + self.choice_embed[i](x[:, t, i])
            if not alive.any():
                break
        return x
