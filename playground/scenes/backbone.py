"""The backbone every scene-level family shares: a small transformer over object slots, and the prompt
as a set of fact tokens it can attend to.

Slots. A scene is a set of up to K objects. A transformer with no position code is permutation-
equivariant: permute its input slots and its outputs permute the same way (Vaswani et al. 2017;
Lee et al. 2019, "Set Transformer"), the right prior for a set. The families that write a scene in the
canonical order of `codec.py` (the autoregressive model, the flow, the VAE and GAN decoders) add a
learned code per slot index, and the autoregressive one a causal mask: slot t sees slots < t only.

Prompts. A prompt is parsed by the grammar (`worlds.prompts`) into object variables ("a red cube"), exact
counts ("three spheres") and relations ("... to the left of ..."). Each becomes one row of eight
integers, `PROMPT_COLUMNS`, and each row one token: the sum of an embedding per column. Variables carry
their index, and slot i of a conditional model is told "you are variable i" by the same index
embedding, so the model binds the words to the object it writes there (the variables' objects lead
the canonical order: `SceneCodec.encode(first=...)`). The slots read the tokens by cross-attention.
"""

from __future__ import annotations

import torch
from torch import nn

from worlds import get_world
from worlds.captions import RELATIONS
from worlds.prompts import Count, Description, Prompt, PromptError, Relation, check_world, parse
from worlds.scene import MAX_OBJECTS, SIZES, nearest_color_name

# One prompt row: what kind of fact, the description it names (index + 1 in the world's lists, 0 =
# "any"), and three numbers whose meaning depends on the kind:
#   variable:  a = its index          count:  a = the number          relation: a = which relation,
#                                                                                b, c = subject and object variables
PROMPT_COLUMNS = ("kind", "shape", "color", "size", "material", "a", "b", "c")
KINDS = ("pad", "variable", "count", "relation")
MAX_VARIABLES = 6  # three relation facts name at most six objects
MAX_ROWS = MAX_VARIABLES + 3  # the variables, then up to three count or relation facts
MAX_NUMBER = MAX_OBJECTS


class Block(nn.Module):
    """A pre-norm transformer block: self-attention over slots, optional cross-attention to the prompt's
    tokens, a two-layer MLP; each behind a residual connection."""

    def __init__(self, dim: int, heads: int, cross: bool, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True) if cross else None
        self.norm2 = nn.LayerNorm(dim) if cross else None
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, h, mask=None, memory=None, memory_pad=None):
        a = self.norm1(h)
        h = h + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
        if self.cross is not None:
            a = self.norm2(h)
            h = h + self.cross(a, memory, memory, key_padding_mask=memory_pad, need_weights=False)[0]
        return h + self.mlp(self.norm3(h))


class SlotTransformer(nn.Module):
    """(B, K, dim) slot features -> (B, K, dim). `causal`: slot t attends to slots <= t only.
    With `cross`, every block also reads a memory (B, M, dim) of prompt tokens."""

    def __init__(self, dim: int, depth: int, heads: int, *, causal: bool = False, cross: bool = False):
        super().__init__()
        self.causal = causal
        self.blocks = nn.ModuleList(Block(dim, heads, cross) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, h, memory=None, memory_pad=None):
        mask = None
        if self.causal:
            k = h.shape[1]
            mask = torch.triu(torch.ones(k, k, dtype=torch.bool, device=h.device), 1)  # True = may not attend
        for block in self.blocks:
            h = block(h, mask, memory, memory_pad)
        return self.norm(h)


class PromptEncoder(nn.Module):
    """Prompt rows (B, M, 8) int64 -> tokens (B, M, dim) and their padding mask (B, M), True = padding.
    An empty prompt (all padding: the unconditional case of classifier-free guidance) reads as one
    learned "no prompt" token, so attention always has something to attend to."""

    def __init__(self, dim: int, vocab: dict[str, int]):
        super().__init__()
        sizes = {
            "kind": len(KINDS),
            "shape": vocab["shape"] + 1,
            "color": vocab["color"] + 1,
            "size": vocab["size"] + 1,
            "material": vocab["material"] + 1,
            "a": max(MAX_VARIABLES, MAX_NUMBER + 1, len(RELATIONS)),
            "b": MAX_VARIABLES,
            "c": MAX_VARIABLES,
        }
        self.columns = nn.ModuleList(nn.Embedding(sizes[name], dim) for name in PROMPT_COLUMNS)
        self.empty = nn.Parameter(torch.zeros(1, 1, dim))
        self.variable = nn.Embedding(MAX_VARIABLES, dim)  # shared with the slots: "you are variable i"

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = sum(embed(rows[..., i]) for i, embed in enumerate(self.columns))  # (B, M, dim)
        is_variable = rows[..., 0] == KINDS.index("variable")
        tokens = tokens + self.variable(rows[..., 5].clamp(max=MAX_VARIABLES - 1)) * is_variable[..., None]
        pad = rows[..., 0] == 0
        # a leading "no prompt" token, never padded: attention always has a key
        tokens = torch.cat([self.empty.expand(rows.shape[0], 1, -1), tokens], 1)
        pad = torch.cat([torch.zeros_like(pad[:, :1]), pad], 1)
        return tokens, pad


def prompt_rows(prompt: Prompt, world: str) -> torch.Tensor:
    """(MAX_ROWS, 8) int64: the prompt's variables, then its counts and relations, as `PROMPT_COLUMNS`
    rows, padded with zeros. Attributes are indices into `world`'s own lists, plus one (0 = any)."""
    w = get_world(world)
    values = {
        "shape": list(w.shapes),
        "color": [nearest_color_name(c) for c in w.colors],
        "size": [min(SIZES, key=lambda name: abs(SIZES[name] - s)) for s in w.sizes],
        "material": list(w.materials),
    }

    def described(d: Description) -> list[int]:
        return [values[a].index(getattr(d, a)) + 1 if getattr(d, a) in values[a] else 0 for a in values]

    if len(prompt.variables) > MAX_VARIABLES:
        raise PromptError(f"a prompt may name at most {MAX_VARIABLES} objects, got {len(prompt.variables)}")
    rows = [[KINDS.index("variable"), *described(d), i, 0, 0] for i, d in enumerate(prompt.variables)]
    for fact in prompt.facts:
        if isinstance(fact, Count):
            rows.append([KINDS.index("count"), *described(fact.what), fact.number, 0, 0])
        elif isinstance(fact, Relation):
            rows.append(
                [KINDS.index("relation"), 0, 0, 0, 0, RELATIONS.index(fact.relation), fact.subject, fact.object]
            )
    out = torch.zeros(MAX_ROWS, len(PROMPT_COLUMNS), dtype=torch.long)
    out[: len(rows)] = torch.tensor(rows, dtype=torch.long).reshape(len(rows), len(PROMPT_COLUMNS))
    return out


def encode_prompts(texts, world: str) -> tuple[list[Prompt], torch.Tensor]:
    """Parse prompts (clear `PromptError`s for words outside the grammar or things `world` cannot hold)
    and turn them into rows (B, MAX_ROWS, 8) for a conditional model of `world`."""
    prompts = [parse(text) for text in texts]
    for prompt in prompts:
        check_world(prompt, world)
    return prompts, torch.stack([prompt_rows(p, world) for p in prompts])
