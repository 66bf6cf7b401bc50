"""Captions as model conditions: a closed vocabulary taken from the world, and a tiny encoder.

The world's captions use a small fixed set of words (sizes, colours, materials, shapes,
relation phrases), so a caption becomes a short sequence of token ids. The encoder is a
bidirectional GRU over word embeddings: order matters ("a red cube to the left of a blue
cylinder" is not "a blue cube to the left of a red cylinder"), which a bag of words loses.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from worlds.scene import COLOR_NAMES, SHAPES, SIZES

PAD, UNK = 0, 1
WORDS = (
    "<pad>",
    "<unk>",
    "a",
    "an",
    "empty",
    "scene",
    "from",
    "left",
    "to",
    "right",
    ":",
    ",",
    "and",
    "the",
    "of",
    "in",
    "front",
    "behind",
    "metal",
    *SIZES,
    *COLOR_NAMES,
    *SHAPES,
)
VOCAB = {w: i for i, w in enumerate(WORDS)}
MAX_TOKENS = 48


def tokenize(caption: str, length: int = MAX_TOKENS) -> list[int]:
    """Token ids of a caption, padded with PAD to `length`; unknown words become UNK."""
    if not isinstance(caption, str):
        raise ValueError(f"a caption must be text, got {type(caption).__name__}")
    words = re.findall(r"[a-z]+|[:,]", caption.lower())
    if len(words) > length:
        raise ValueError(f"caption has {len(words)} words; at most {length} are supported")
    return [VOCAB.get(w, UNK) for w in words] + [PAD] * (length - len(words))


def unknown_words(caption: str) -> list[str]:
    """Words of a caption that are not in the world's vocabulary (for friendly errors)."""
    return [w for w in re.findall(r"[a-z]+|[:,]", caption.lower()) if w not in VOCAB]


MAX_CAPTION_CHARS = 200


def check_caption(text: str) -> str:
    """The caption, stripped, or a ValueError that says what is wrong: too long, or words the world does not
    have (each quoted at most 20 characters long, so a pasted essay is not echoed back)."""
    text = (text or "").strip()
    if len(text) > MAX_CAPTION_CHARS:
        raise ValueError(f"the caption is {len(text):,} characters; at most {MAX_CAPTION_CHARS}")
    unknown = list(dict.fromkeys(unknown_words(text)))
    if unknown:
        quoted = ", ".join(repr(w[:20] + ("…" if len(w) > 20 else "")) for w in unknown[:3])
        raise ValueError(
            f"unknown word{'s' * (len(unknown) > 1)} {quoted} in the caption; the world's words are sizes, "
            "colours, shapes and relations, e.g. 'a large blue cylinder'"
        )
    return text


def encode_captions(captions: list[str], length: int = MAX_TOKENS) -> torch.Tensor:
    """(B, length) int64 token ids."""
    return torch.tensor([tokenize(c, length) for c in captions], dtype=torch.long)


class CaptionEncoder(nn.Module):
    """Token ids (B, T) -> a condition vector (B, dim): the GRU's final states, both directions."""

    def __init__(self, dim: int = 64):
        super().__init__()
        self.embed = nn.Embedding(len(WORDS), dim, padding_idx=PAD)
        self.gru = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        lengths = (tokens != PAD).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)  # (2, B, dim/2)
        return torch.cat([h[0], h[1]], dim=1)  # (B, dim)


class ConditionEncoder(nn.Module):
    """Any condition -> a vector (B, dim): class labels (shape, colour) by two embeddings,
    captions by the caption encoder. `kind="none"` gives no vector at all."""

    def __init__(self, kind: str, dim: int = 64):
        super().__init__()
        self.kind, self.dim = kind, dim
        if kind == "class":
            self.shape = nn.Embedding(len(SHAPES), dim)
            self.color = nn.Embedding(len(COLOR_NAMES), dim)
        elif kind == "caption":
            self.caption = CaptionEncoder(dim)
        elif kind != "none":
            raise ValueError(f"unknown condition kind {kind!r}; expected none, class or caption")

    def forward(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        if self.kind == "none":
            return None
        if self.kind == "class":
            return self.shape(condition[:, 0]) + self.color(condition[:, 1])
        return self.caption(condition)
