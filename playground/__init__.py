"""Learning the toy world: generative models (`models/`), inverse graphics (`inverse/`), uncertainty
(`uncertainty/`), measurement (`evaluation/`) and the app's plain functions (`app/`).

    from playground import build, fit, load, save
    from playground.models.data import load_world

The short-cuts are imported on first use: importing a part of the package (the app's scene table, say)
does not import torch, and `python -m playground.models.train` does not find its own module already
imported by the package (runpy warns of that).
"""

import importlib

_SHORTCUTS = {
    "build": "playground.models.registry",
    "family_class": "playground.models.registry",
    "FAMILIES": "playground.models.registry",
    "fit": "playground.models.train",
    "load": "playground.models.checkpoint",
    "save": "playground.models.checkpoint",
    **{
        name: "playground.models.protocol"
        for name in ("LIKELIHOOD_KINDS", "GenerativeModel", "Model", "NoLikelihood", "NoRepresentation")
    },
}
__all__ = sorted(_SHORTCUTS)


def __getattr__(name: str):
    if name in _SHORTCUTS:
        return getattr(importlib.import_module(_SHORTCUTS[name]), name)
    raise AttributeError(f"module 'playground' has no attribute {name!r}")
