"""Scene-level generation: models of scene descriptions (sets of objects), drawn by the world's renderer.

A scene description plus the renderer is an image, so a model over descriptions is a model of images:
the reason latent diffusion models a small code and decodes it with a fixed decoder. Every family of
the taxonomy has one here, over the same object slots and the same small transformer:

codec.py           scenes as integer codes (canonical order, fine bins) and as continuous slot vectors
backbone.py        the shared slot transformer; prompts as fact tokens
data.py            training scenes from the world's prior, or read back from rendered pictures
autoregressive.py  objects as a sequence of discrete choices: an exact likelihood
metrics.py         validity, count and attribute TV, pair coverage, gap W1, novelty
train.py           train and save one (python -m playground.scenes.train)
"""
