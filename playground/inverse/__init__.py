"""Inference as inverse graphics: read a scene description back out of a picture.

    encoder.py   the set-prediction encoder (image -> object slots), its loss and metrics (AP, counts)
    refine.py    analysis by synthesis: render the reading, compare, improve it
"""
