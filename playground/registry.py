"""Family name -> model class, imported lazily so one family never pays for another."""
from __future__ import annotations

import dataclasses
import importlib

FAMILIES = {
    "pixelcnn": "playground.pixelcnn:PixelCNN",
    "flow": "playground.flow:Flow",
    "vae": "playground.vae:VAE",
    "gan": "playground.gan:GAN",
    "rbm": "playground.rbm:RBM",
    "ebm": "playground.ebm:EBM",
    "diffusion": "playground.diffusion:Diffusion",
}
# models that are not generative families but are trained, saved and loaded the same way
ENCODERS = {
    "encoder": "playground.inverse:SceneEncoder",
    "classifier": "playground.adversarial:ShapeClassifier",
}


def family_class(name: str):
    known = {**FAMILIES, **ENCODERS}
    if name not in known:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(known)}")
    module, cls = known[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, **config):
    """A new model of family `name`; `config` overrides fields of the family's Config."""
    cls = family_class(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = set(config) - fields
    if unknown:
        raise ValueError(f"{name} has no setting {sorted(unknown)[0]!r}; its settings are {', '.join(sorted(fields))}")
    return cls(cls.Config(**config))
