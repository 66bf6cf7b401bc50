"""Uncertainty: what a discriminative p(y|x) and a generative p(x, y) know, on data we can draw exactly.

study.py         decision maps, missing data and out-of-distribution points on 2D layouts
adversarial.py   adversarial noise against a classifier, and what the exact world says of it
"""
