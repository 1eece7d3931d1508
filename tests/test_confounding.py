"""The confounding measure (explorer/metrics/confounding.py) on hand-made tables and on the colour world.

Tolerances, all at n = 20,000 rows: independent factors read below 0.005 (the sampling spread of the
bias-corrected estimate is about 0.0005 there; the uncorrected one would read about 0.015 on the 50-bin pair);
a relation where the binned values determine each other reads 1 within 1e-9; the colour world at strength 1.0
reads above 0.95 (not 1: hue bands overlap in their tails, so a hue near a band border does not settle the digit).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from explorer.metrics.confounding import confounding, confounding_matrix, default_bins
from explorer.scm.morpho import MorphoSCM

N = 20_000
INDEPENDENT_TOL = 0.005
EXACT_TOL = 1e-9


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _digits(seed: int = 0) -> np.ndarray:
    return _rng(seed).integers(0, 10, N)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_factors_read_about_zero(seed):
    rng = _rng(seed)
    values = {"digit": rng.integers(0, 10, N), "other": rng.integers(0, 3, N), "thickness": rng.gamma(10, 0.2, N),
              "hue": rng.random(N)}
    kinds = {"digit": "categorical", "other": "categorical", "thickness": "continuous", "hue": "circular"}
    _, matrix = confounding_matrix(values, kinds)
    off_diagonal = matrix[~np.eye(4, dtype=bool)]  # (12,)
    assert np.all(off_diagonal >= 0.0) and off_diagonal.max() < INDEPENDENT_TOL


def test_bias_correction_matters_on_many_cells():
    """50 x 50 bins: the plug-in estimate would read about 0.015 on independent factors; corrected, about 0."""
    rng = _rng(3)
    assert confounding(rng.random(N), rng.normal(size=N), "continuous", "continuous", bins=50) < INDEPENDENT_TOL


@pytest.mark.parametrize("relation, kind", [
    (lambda d: d % 3, "categorical"),  # categorical -> categorical, not one-to-one
    (lambda d: (d + 0.5) / 10.0, "circular"),  # hue = the digit's band centre
    (lambda d: np.sin(d.astype(float)), "continuous"),  # continuous = f(categorical), not monotone
    (lambda d: np.where(d < 5, 1.0, 2.0), "continuous"),  # a step: two values
])
def test_determined_factor_reads_one(relation, kind):
    digit = _digits()
    assert confounding(digit, relation(digit), "categorical", kind) == pytest.approx(1.0, abs=EXACT_TOL)


def test_measure_is_symmetric():
    rng = _rng(4)
    digit = rng.integers(0, 10, N)
    hue = np.where(rng.random(N) < 0.7, (digit + 0.5) / 10.0, rng.random(N))
    thickness = 1.0 + 0.1 * digit + rng.normal(0, 0.3, N)
    _, matrix = confounding_matrix({"digit": digit, "hue": hue, "thickness": thickness},
                                   {"digit": "categorical", "hue": "circular", "thickness": "continuous"})
    assert np.array_equal(matrix, matrix.T)
    assert confounding(hue, digit, "circular", "categorical") == confounding(digit, hue, "categorical", "circular")


def test_monotone_in_the_colour_worlds_strength():
    strengths = [0.0, 0.5, 0.9, 0.99, 1.0]
    measured = []
    for s in strengths:
        _, values = MorphoSCM(s).sample(N, seed=6)
        measured.append(confounding(values["digit"], values["hue"], "categorical", "circular"))
    assert all(a < b for a, b in zip(measured, measured[1:])), measured
    assert measured[0] < INDEPENDENT_TOL
    assert measured[-1] > 0.95


def test_a_relation_that_wraps_is_not_under_measured():
    """Digit 0's hue sits around 0 (0.99 and 0.01 alike): the measure equals that of the same relation turned
    so nothing wraps, while binning the hue on a line instead would split digit 0's cluster at the seam."""
    rng = _rng(7)
    digit = rng.integers(0, 10, N)
    wrapping = (digit / 10.0 + rng.normal(0, 0.01, N)) % 1.0  # digit 0 straddles 0
    turned = (wrapping + 0.05) % 1.0  # every cluster well inside [0, 1)
    on_circle = confounding(digit, wrapping, "categorical", "circular", bins=10)
    assert on_circle == pytest.approx(confounding(digit, turned, "categorical", "circular", bins=10), abs=EXACT_TOL)
    assert on_circle > 0.9
    assert on_circle > confounding(digit, wrapping, "categorical", "continuous", bins=10) + 0.1
    # Values outside [0, 1) are the same colours as their remainders.
    shifted = confounding(digit, wrapping + 3.0, "categorical", "circular", bins=10)
    assert shifted == pytest.approx(on_circle, abs=EXACT_TOL)


def test_a_constant_factor_tells_nothing():
    digit = _digits()
    assert confounding(digit, np.zeros(N), "categorical", "continuous") == 0.0


def test_default_bins_grow_with_rows_within_limits():
    assert [default_bins(n) for n in (2, 1_000, 20_000, 10**6)] == [10, 10, 44, 50]


def test_fast_on_fifty_thousand_rows():
    rng = _rng(8)
    _, values = MorphoSCM(0.9).sample(50_000, seed=8)
    values = dict(values, noise=rng.random(50_000))
    kinds = {"digit": "categorical", "thickness": "continuous", "intensity": "continuous", "hue": "circular",
             "noise": "continuous"}
    start = time.perf_counter()
    names, matrix = confounding_matrix(values, kinds)
    assert time.perf_counter() - start < 1.0
    assert names == list(values) and matrix.shape == (5, 5)


@pytest.mark.parametrize("values, kinds, bins, message", [
    ({"a": np.zeros(5), "b": np.zeros(4)}, {"a": "continuous", "b": "continuous"}, 20, "same length"),
    ({"a": np.zeros(5), "b": np.zeros(5)}, {"a": "continuous", "b": "ordinal"}, 20, "unknown factor kind"),
    ({"a": np.zeros(1), "b": np.zeros(1)}, {"a": "continuous", "b": "continuous"}, 20, "at least 2 rows"),
    ({"a": np.zeros(5)}, {"a": "continuous", "b": "continuous"}, 20, "same factors"),
    ({"a": np.zeros((5, 2))}, {"a": "continuous"}, 20, "1-D"),
    ({"a": np.zeros(5), "b": np.zeros(5)}, {"a": "continuous", "b": "continuous"}, 1, "bins"),
    ({"a": np.array([0.0, np.nan]), "b": np.zeros(2)}, {"a": "continuous", "b": "continuous"}, 20, "non-finite"),
])
def test_bad_input_is_a_clear_value_error(values, kinds, bins, message):
    with pytest.raises(ValueError, match=message):
        confounding_matrix(values, kinds, bins)
