"""Our RBM beside scikit-learn's BernoulliRBM on the same binarized exact world, scored the same two ways.

    python benchmarks/rbm_sklearn.py            # a table
    python benchmarks/rbm_sklearn.py --json     # ... and one JSON object on the last line

Ours is the shipped `rbm` (PCD with Adam, `python -m playground.models.pretrained rbm`). scikit-learn's
BernoulliRBM (PCD-1, plain SGD) is trained here on the 768 binarized scenes of the `exact` world for
as many images as ours saw. Both are then scored on those 768 scenes by scikit-learn's
pseudo-likelihood (`score_samples`: D log sigmoid of the free-energy change of one random bit flip)
and by an estimated log-likelihood in bits/dim and bits/image, against the binarized world's entropy (the
bound no model can beat). log Z is estimated two ways, both printed with the relative error of Z: AIS from
the base rate, and importance sampling over the hidden units from the training images' posteriors
(RBM.estimate_log_z_from_data); the one with the smaller error is used, raised to the exact floor
log sum_world exp(-F) where it falls below it (see RBM.log_prob).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.evaluation.scores import binarized_entropy_bits, exact_world, world_tensor  # noqa: E402
from playground.models import pretrained  # noqa: E402
from playground.models.rbm import binarize, compare_with_sklearn  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = pretrained.load("rbm")
    world = exact_world()
    bits = binarize(world_tensor(world))  # (768, D)
    report = compare_with_sklearn(bits, model)
    report["entropy_bits"] = binarized_entropy_bits(world)[0]
    print(
        f"binarized exact world: {bits.shape[0]} scenes, {bits.shape[1]} bits each, entropy "
        f"{report['entropy_bits']:.3f} bits/image; both RBMs saw {report['images_seen']:,} images "
        f"(sklearn trained {report['sklearn_train_seconds']} s)"
    )
    print(
        f"{'model':<8} {'pseudo-LL/dim':>14} {'AIS log Z (rel.)':>18} {'IS over h (rel.)':>18} {'floor':>9} "
        f"{'bits/dim':>9} {'bits/image':>11}"
    )
    for name in ("ours", "sklearn"):
        r = report[name]
        print(
            f"{name:<8} {r['pseudo_log_likelihood_per_dim']:14.4f} {r['ais_log_z']:10.1f} ({r['ais_log_z_stderr']:5.3f}) "
            f"{r['is_log_z']:10.1f} ({r['is_log_z_stderr']:5.3f}) {r['log_z_floor']:9.1f} {r['bits_per_dim']:9.4f} "
            f"{r['bits_per_image']:11.1f}"
        )
    print(
        "rel.: the relative standard error of Z; floor: log of the sum of exp(-F) over the world's images, an exact "
        "lower bound on log Z; the likelihood uses the estimate with the smaller error, or the floor if it is larger"
    )
    if args.json:
        print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
