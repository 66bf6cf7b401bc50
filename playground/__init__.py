"""Generative models of every family on the toy world, one protocol, one training loop.

    from playground import build, fit, load, save
    from playground.data import load_world
"""
from .checkpoint import load, save
from .protocol import LIKELIHOOD_KINDS, GenerativeModel, Model, NoLikelihood, NoRepresentation
from .registry import FAMILIES, build, family_class
from .train import fit
