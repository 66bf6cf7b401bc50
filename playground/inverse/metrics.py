"""How well a reading matches the true scene: objects paired by position, and set-prediction AP."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from worlds import Scene

AP_THRESHOLDS = (math.inf, 0.1, 0.05, 0.02, 0.01)  # position thresholds of the AP, normalised units


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
    position_range: tuple[float, float],
) -> float:
    """Set-prediction AP (Locatello et al. 2020, CLEVR property prediction).

    `predictions[b]` holds (confidence, Object) pairs for image b, `truths[b]` its true scene. Ranked
    by confidence over all images, a prediction is a true positive when its discrete attributes all
    equal an unclaimed true object's of the same image and their normalised positions lie within
    `threshold` (math.inf: any distance); that object is then claimed. AP is the area under the
    precision-recall curve with precision made monotone (all-point interpolation)."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predicted scenes for {len(truths)} true ones")
    lo, hi = position_range
    total = sum(len(t.objects) for t in truths)
    if total == 0:
        raise ValueError("the true scenes hold no objects: AP is undefined")
    ranked = sorted(((conf, b, obj) for b, preds in enumerate(predictions) for conf, obj in preds), key=lambda r: -r[0])
    claimed = [np.zeros(len(t.objects), bool) for t in truths]
    hits = np.zeros(len(ranked))
    for r, (_, b, obj) in enumerate(ranked):
        best, best_j = math.inf, None
        p = (np.asarray(obj.position) - lo) / (hi - lo)
        for j, target in enumerate(truths[b].objects):
            if claimed[b][j] or attributes(target) != attributes(obj):
                continue
            d = float(np.linalg.norm(p - (np.asarray(target.position) - lo) / (hi - lo)))
            if d < best:
                best, best_j = d, j
        if best_j is not None and best <= threshold:
            claimed[b][best_j] = True
            hits[r] = 1.0
    tp = np.cumsum(hits)
    recall = np.concatenate([[0.0], tp / total, [1.0]])
    precision = np.concatenate([[0.0], tp / np.maximum(np.arange(1, len(ranked) + 1), 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone from the right
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))
