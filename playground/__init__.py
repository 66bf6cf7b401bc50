"""Generative models of every family on the toy world, one protocol, one training loop.

    from playground import build, fit, load, save
    from playground.models.data import load_world
"""
from playground.models.checkpoint import load, save
from playground.models.protocol import LIKELIHOOD_KINDS, GenerativeModel, Model, NoLikelihood, NoRepresentation
from playground.models.registry import FAMILIES, build, family_class


def __getattr__(name: str):
    """`fit` is imported on first use, so that `python -m playground.models.train` does not find its own module
    already imported by the package (runpy warns of that)."""
    if name == "fit":
        from playground.models.train import fit
        return fit
    raise AttributeError(f"module 'playground' has no attribute {name!r}")
