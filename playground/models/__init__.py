"""Pixel-level generative models: one file per family of the lecture's taxonomy, one protocol.

protocol.py     the verbs every family speaks: loss, sample, log_prob (with its kind), encode
registry.py     family name -> model class, imported lazily
train.py        the one training loop (`python -m playground.models.train`)
checkpoint.py   safetensors weights + config as JSON metadata
pretrained.py   the shipped recipes and weights (`python -m playground.models.pretrained`)
data.py         world images and their labels as tensors
text.py         the caption vocabulary and its encoder
pixelcnn.py flow.py vae.py gan.py rbm.py ebm.py diffusion.py    the families
"""
