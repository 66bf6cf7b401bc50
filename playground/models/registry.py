"""Family name -> model class, imported lazily so one family never pays for another."""

from __future__ import annotations

import dataclasses
import importlib

FAMILIES = {
    "pixelcnn": "playground.models.pixelcnn:PixelCNN",
    "flow": "playground.models.flow:Flow",
    "vae": "playground.models.vae:VAE",
    "gan": "playground.models.gan:GAN",
    "rbm": "playground.models.rbm:RBM",
    "ebm": "playground.models.ebm:EBM",
    "diffusion": "playground.models.diffusion:Diffusion",
}
# families whose sample(..., mode=True) also offers the most likely image given a latent draw (not a sample)
MODE_FAMILIES = ("vae", "rbm")
# the scene-level families: models of scene descriptions (object slots), drawn by the renderer
SCENE_FAMILIES = {
    "scene-autoregressive": "playground.scenes.autoregressive:SceneAutoregressive",
}
# models that are not generative families but are trained, saved and loaded the same way
ENCODERS = {
    "encoder": "playground.inverse.encoder:SceneEncoder",
    "classifier": "playground.uncertainty.adversarial:ShapeClassifier",
}


def family_class(name: str):
    known = {**FAMILIES, **SCENE_FAMILIES, **ENCODERS}
    if name not in known:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(known)}")
    module, cls = known[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, **config):
    """A new model of family `name`; `config` overrides fields of the family's Config."""
    cls = family_class(name)
    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(cls.Config)
    }  # every Config field has a default
    unknown = set(config) - set(defaults)
    if unknown:
        raise ValueError(
            f"{name} has no setting {sorted(unknown)[0]!r}; its settings are {', '.join(sorted(defaults))}"
        )
    for key, value in config.items():
        if not _same_kind(value, defaults[key]):
            raise ValueError(
                f"{name} setting {key!r} must be {_kind(defaults[key])} (like its default "
                f"{defaults[key]!r}), got {value!r}"
            )
    return cls(cls.Config(**config))


def _kind(default) -> str:
    if isinstance(default, (tuple, list)):
        plural = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
        return f"a list of {plural.get(type(default[0]), 'values')}" if default else "a list"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[type(default)]


def _same_kind(value, default) -> bool:
    """Whether a setting (e.g. parsed from `--set KEY=VALUE`) has the type of the field's default:
    bools are not integers here, and an integer is a fine float."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list)) and (not default or all(_same_kind(v, default[0]) for v in value))
    return True
