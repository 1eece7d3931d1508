"""The confounding matrix of a colour split (docs/confounding.md): one call for any split's values."""

from __future__ import annotations

import numpy as np

from explorer.metrics.confounding import confounding_matrix

# How each generative factor of the colour world is binned: hue is an angle on the colour wheel.
FACTOR_KINDS = {"digit": "categorical", "thickness": "continuous", "intensity": "continuous", "hue": "circular"}


def split_confounding(values: dict[str, np.ndarray], bins: int | None = None) -> tuple[list[str], np.ndarray]:
    """{factor: (n,) values} -> (names, (k, k) confounding matrix) over the factors present."""
    kinds = {k: kind for k, kind in FACTOR_KINDS.items() if k in values}
    return confounding_matrix({k: values[k] for k in kinds}, kinds, bins)


def digit_hue(values: dict[str, np.ndarray]) -> float:
    """C(digit, hue) of a split: 0 when hue says nothing about the digit, 1 when it settles it."""
    names, matrix = split_confounding(values)
    return float(matrix[names.index("digit"), names.index("hue")])
