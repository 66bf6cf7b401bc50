"""Inference as inverse graphics: read a scene description back out of a picture.

encoder.py   the set-prediction encoder (image -> object slots) and its loss
metrics.py   objects paired by position, and set-prediction AP
refine.py    analysis by synthesis: render the reading, compare, improve it
"""
