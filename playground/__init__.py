"""Generative models of every family on the toy world, one protocol, one training loop.

    from playground import build, fit, load, save
    from playground.data import load_world
"""
from .checkpoint import load, save
from .protocol import LIKELIHOOD_KINDS, GenerativeModel, Model, NoLikelihood, NoRepresentation
from .registry import FAMILIES, build, family_class


def __getattr__(name: str):
    """`fit` is imported on first use, so that `python -m playground.train` does not find its own module
    already imported by the package (runpy warns of that)."""
    if name == "fit":
        from .train import fit
        return fit
    raise AttributeError(f"module 'playground' has no attribute {name!r}")
