"""Checkpoints that rebuild themselves: safetensors weights + the config as JSON metadata.

    save(model, "vae.safetensors", extra={"world": "exact"})
    model = load("vae.safetensors")          # family and config read from the file

Only safetensors is ever read: no pickle, so a checkpoint cannot run code.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_model, save_model

from .registry import family_class

FORMAT = "toyworld-checkpoint/1"


def save(model, path: str | Path, extra: dict | None = None) -> Path:
    """Write weights and config atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": FORMAT,
        "family": model.family,
        "config": json.dumps(dataclasses.asdict(model.config)),
        "extra": json.dumps(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    save_model(model, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's family, config and extra fields, without loading weights."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"{path} is not a safetensors checkpoint: {err}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file (format={meta.get('format')!r})")
    return {"family": meta["family"], "config": json.loads(meta["config"]), "extra": json.loads(meta["extra"])}


def load(path: str | Path):
    """Rebuild the model a checkpoint was saved from, in eval mode."""
    meta = read_metadata(path)
    cls = family_class(meta["family"])
    try:
        config = cls.Config(**meta["config"])
    except TypeError as err:  # a setting this version of the family does not have
        raise ValueError(f"{path} was saved with settings this version of {meta['family']} lacks: {err}") from None
    model = cls(config)
    try:
        load_model(model, str(path), strict=True)
    except RuntimeError as err:  # the weights do not fit the model this code builds from the config
        first = str(err).split("\n")[0][:300]
        raise ValueError(
            f"{path} does not match this version of {meta['family']} (saved by older code?): {first}"
        ) from None
    model.eval()
    model.checkpoint_extra = meta["extra"]
    return model
