"""The confounding tables of docs/confounding.md, computed here: every figure is printed, none typed in.

    python -m bench.confounding_table        # from the repository root

The colour world's training split at each strength: the real MNIST training labels with the split's own noise
(explorer/datasets/morpho.py, no image rendered), as the issue-19 classifiers will be trained on.
"""

from __future__ import annotations

import time

import numpy as np

from explorer.datasets.morpho import noise_for
from explorer.metrics.confounding import codes_of, confounding_matrix, default_bins
from explorer.metrics.tables import cramers_v
from explorer.scm.morpho import MorphoSCM

STRENGTHS = (0.0, 0.9, 0.99, 1.0)
KINDS = {"digit": "categorical", "thickness": "continuous", "intensity": "continuous", "hue": "circular"}


def training_values(strength: float) -> dict[str, np.ndarray]:
    """{factor: (n,) values} of the colour world's training split at `strength`."""
    scm = MorphoSCM(strength)
    return scm.counterfactual(noise_for("train", scm))


def main() -> None:
    print("Digit-hue, training split (default bins per numeric factor):\n")
    print("| strength | rows | bins | C(digit, hue) | Cramér's V, same bins | Pearson r | seconds for C matrix |")
    print("|---|---|---|---|---|---|---|")
    matrices = {}
    for s in STRENGTHS:
        values = training_values(s)
        start = time.perf_counter()
        names, matrix = confounding_matrix(values, KINDS)
        seconds = time.perf_counter() - start
        matrices[s] = (names, matrix)
        i, j = names.index("digit"), names.index("hue")
        bins = default_bins(len(values["digit"]))
        v = cramers_v(codes_of(values["digit"], "categorical", bins), codes_of(values["hue"], "circular", bins))
        r = MorphoSCM(s).realised_correlation(values)
        print(f"| {s:g} | {len(values['digit'])} | {bins} | {matrix[i, j]:.3f} | {v:.3f} | {r:.3f} | {seconds:.3f} |")
    for s, (names, matrix) in matrices.items():
        print(f"\nEvery pair, strength {s:g}:\n")
        print("| | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for name, row in zip(names, matrix):
            print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in row) + " |")


if __name__ == "__main__":
    main()
