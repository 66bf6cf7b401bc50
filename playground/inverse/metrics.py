"""How well a reading matches the true scene: objects paired by position, and set-prediction AP.

The AP is Slot Attention's (Locatello et al. 2020, their `average_precision_clevr`): every prediction of
every image, ranked by confidence; each looks at the true objects of its own image with the same four
discrete attributes and takes the nearest. Within the threshold and not yet claimed: a true positive,
which claims it. Already claimed, too far, or no such object: a false positive. AP is the area under
the precision envelope (VOC all-point interpolation). Distances are in scene units, as the paper's
(CLEVR's coordinates, stored in [0, 1], are multiplied back by 6); our objects stand on the ground, so
two with equal attributes have equal heights and the ground distance is the 3D one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from worlds import Scene

AP_THRESHOLDS = (math.inf, 1.0, 0.5, 0.25, 0.125)  # Slot Attention's distance thresholds, scene units
# Slot Attention's published AP on CLEVR (10 objects at most, 128 px), at the thresholds above
SLOT_ATTENTION_CLEVR = {math.inf: 0.943, 1.0: 0.867, 0.5: 0.560, 0.25: 0.108, 0.125: 0.009}


def attributes(obj) -> tuple[str, str, str, str]:
    """The discrete attributes an answer must get right: shape, colour name, size name, material."""
    return obj.shape, obj.color_name, obj.size_name, obj.material


def match_scenes(predicted: Scene, truth: Scene) -> list[tuple[int, int]]:
    """Pairs (i, j) of predicted object i and true object j, one-to-one, least total ground distance."""
    if not predicted.objects or not truth.objects:
        return []
    a = np.array([o.position for o in predicted.objects])
    b = np.array([o.position for o in truth.objects])
    rows, cols = linear_sum_assignment(np.linalg.norm(a[:, None] - b[None], axis=-1))
    return list(zip(rows.tolist(), cols.tolist()))


def average_precision(
    predictions: list[list[tuple[float, object]]],
    truths: list[Scene],
    threshold: float,
    unit: float = 1.0,
) -> float:
    """Set-prediction AP by Slot Attention's rule (the module's docstring).

    `predictions[b]` holds (confidence, Object) pairs for image b, `truths[b]` its true scene; `threshold`
    is a distance (math.inf: attributes only) measured in units of `unit` scene units: 1 is the paper's
    rule; a world's position range (e.g. 6) gives the normalised variant, to be labelled as such."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predicted scenes for {len(truths)} true ones")
    if unit <= 0:
        raise ValueError(f"unit must be > 0, got {unit}")
    total = sum(len(t.objects) for t in truths)
    if total == 0:
        raise ValueError("the true scenes hold no objects: AP is undefined")
    ranked = sorted(((conf, b, obj) for b, preds in enumerate(predictions) for conf, obj in preds), key=lambda r: -r[0])
    claimed = [np.zeros(len(t.objects), bool) for t in truths]
    hits = np.zeros(len(ranked))
    for r, (_, b, obj) in enumerate(ranked):
        same = [j for j, target in enumerate(truths[b].objects) if attributes(target) == attributes(obj)]
        if not same:
            continue  # no true object with these attributes: a false positive
        where = np.asarray(obj.position, float)
        distances = [np.linalg.norm(where - np.asarray(truths[b].objects[j].position, float)) / unit for j in same]
        nearest = same[int(np.argmin(distances))]
        if min(distances) < threshold and not claimed[b][nearest]:  # the paper: strictly within
            claimed[b][nearest] = True
            hits[r] = 1.0  # otherwise (claimed, or too far) a false positive
    tp = np.cumsum(hits)
    recall = np.concatenate([[0.0], tp / total, [1.0]])
    precision = np.concatenate([[0.0], tp / np.arange(1, len(ranked) + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone from the right
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))
