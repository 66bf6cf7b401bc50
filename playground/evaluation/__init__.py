"""Measurement: how close each family comes to the world's true distribution.

scores.py    exact checks of samples (valid, empty, wrong pixels) and likelihood scores
compare.py   the lecture's Table 1.1, measured (`python -m playground.evaluation.compare`)
coding.py    arithmetic coding with PixelCNN: bits/dim as real bytes
results/     the shipped evaluation the Compare tab shows
"""
