"""Confounding between generative factors: how much one factor tells about another, from 0 to 1.

Every factor is first binned to codes (docs/confounding.md):
    categorical  its own levels;
    continuous   `bins` equal-frequency bins (tied values share a bin, so a step function stays a function);
    circular     values taken mod 1, the circle cut in the middle of its widest empty arc, then `bins` equal arcs
                 from the cut — so a cluster around 0 (hue 0.99 and 0.01 are the same red) is not split by a
                 fixed seam, and turning every value by a constant changes nothing. Equal arcs rather than equal
                 frequencies: a hue is an angle, and equal-frequency edges drift into the middle of a colour band
                 as soon as the classes are not equally frequent (MNIST's are not), mixing two bands in one bin.
By default bins = clip(floor(sqrt(n / 10)), 10, 50): about 10 rows per cell of a numeric-by-numeric table, where
the bias correction below still holds, and finer bins the more rows there are (a bin straddling the border of
two colour bands is what keeps a near-deterministic relation below 1).

Then, with Miller-Madow corrected entropies H(.) = plug-in + (occupied cells - 1) / 2n (nats),
    I(X; Y) = H(X) + H(Y) - H(X, Y),      C(X, Y) = clip(I(X; Y) / min(H(X), H(Y)), 0, 1),
the larger of the two uncertainty coefficients I/H(Y) and I/H(X). C is symmetric; it is exactly 1 when the
binned X determines the binned Y or the reverse (then H(X, Y) = H(X) with the same occupied cells, so the
corrections cancel), and the correction removes the (r - 1)(k - 1) / 2n the plug-in estimate gains on
independent factors, so those read about 0 rather than a positive bias that shrinks only with n.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

KINDS = ("categorical", "continuous", "circular")
MIN_BINS, MAX_BINS, ROWS_PER_CELL = 10, 50, 10


def _equal_frequency(x: np.ndarray, bins: int) -> np.ndarray:
    """(n,) float -> (n,) int codes of `bins` equal-frequency bins; equal values always share a bin."""
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)[1:-1]))  # (<= bins - 1,)
    return np.searchsorted(edges, x, side="right")


def _cut_circle(x: np.ndarray) -> np.ndarray:
    """(n,) values on the circle [0, 1) -> (n,) values in [0, 1) measured from the middle of the widest gap.

    Why the widest gap: it is where the fewest values are, so no cluster straddles the cut, and it moves with
    the data, so rotating every value by a constant leaves the bins (and the measure) unchanged.
    """
    s = np.sort(x)  # (n,)
    gaps = np.diff(s, append=s[0] + 1.0)  # (n,) gap after each value, the last one across the wrap
    widest = int(np.argmax(gaps))
    cut = s[widest] + gaps[widest] / 2.0
    return (x - cut) % 1.0


def default_bins(n: int) -> int:
    """Bins per numeric factor for `n` rows: about ROWS_PER_CELL rows per cell of a bins x bins table, clipped."""
    return int(np.clip(np.sqrt(n / ROWS_PER_CELL), MIN_BINS, MAX_BINS))


def codes_of(x: np.ndarray, kind: str, bins: int) -> np.ndarray:
    """One factor's (n,) values as (n,) int codes 0..levels-1, binned as its `kind` says (module docstring)."""
    if kind == "categorical":
        return np.unique(x, return_inverse=True)[1].reshape(-1)
    values = np.asarray(x, np.float64)
    if kind == "circular":
        arcs = np.floor(_cut_circle(values % 1.0) * bins).astype(np.int64)  # (n,)
        return np.minimum(arcs, bins - 1)  # a value a rounding error below 1.0 stays in the last arc
    return _equal_frequency(values, bins)


def _entropy(codes: np.ndarray) -> float:
    """Miller-Madow entropy (nats) of (n,) int codes: plug-in plus (occupied cells - 1) / 2n."""
    counts = np.bincount(codes)
    counts = np.sort(counts[counts > 0])  # (m,) occupied cells; sorted so C(a, b) == C(b, a) to the last bit
    n = codes.size
    p = counts / n
    return float(-(p * np.log(p)).sum() + (counts.size - 1) / (2.0 * n))


def _from_codes(a: np.ndarray, b: np.ndarray, h_a: float, h_b: float) -> float:
    """C(a, b) from two (n,) code arrays and their entropies (the module docstring's formula)."""
    smaller = min(h_a, h_b)
    if smaller <= 0.0:  # a constant factor tells nothing and is told nothing
        return 0.0
    joint = a * (int(b.max()) + 1) + b  # (n,) one code per (a, b) cell
    mutual = h_a + h_b - _entropy(joint)
    return float(np.clip(mutual / smaller, 0.0, 1.0))


def _check(values: Mapping[str, np.ndarray], kinds: Mapping[str, str], bins: int | None) -> int:
    """Raises ValueError on input the measure cannot read; returns the number of rows."""
    missing = sorted(set(values) ^ set(kinds))
    if missing:
        raise ValueError(f"values and kinds must name the same factors; unmatched: {missing}")
    unknown = {k: v for k, v in kinds.items() if v not in KINDS}
    if unknown:
        raise ValueError(f"unknown factor kind(s) {unknown}; expected one of {KINDS}")
    lengths = {k: np.shape(v) for k, v in values.items()}
    if len(set(lengths.values())) > 1 or any(len(s) != 1 for s in lengths.values()):
        raise ValueError(f"every factor must be one 1-D array of the same length; got shapes {lengths}")
    n = next(iter(lengths.values()))[0] if lengths else 0
    if n < 2:
        raise ValueError(f"the measure needs at least 2 rows; got {n}")
    if bins is not None and (not isinstance(bins, (int, np.integer)) or bins < 2):
        raise ValueError(f"bins must be an integer >= 2; got {bins!r}")
    for k, v in values.items():
        if kinds[k] != "categorical" and not np.isfinite(np.asarray(v, np.float64)).all():
            raise ValueError(f"factor {k!r} has non-finite values")
    return n


def confounding_matrix(values: Mapping[str, np.ndarray], kinds: Mapping[str, str], bins: int | None = None
                       ) -> tuple[list[str], np.ndarray]:
    """The confounding C between every pair of factors.

    Args:
        values: {factor: (n,) values}, one row per sample.
        kinds: {factor: "categorical" | "continuous" | "circular"}; circular values live on [0, 1) (hue).
        bins: bins per continuous or circular factor; None for `default_bins(n)`.

    Returns:
        (names in the order of `values`, (d, d) symmetric matrix with 1 on the diagonal).

    Raises:
        ValueError: factors not matching between the dicts, an unknown kind, arrays of unequal length or not
            1-D, fewer than 2 rows, bins < 2, non-finite numeric values.
    """
    n = _check(values, kinds, bins)
    bins = default_bins(n) if bins is None else bins
    names = list(values)
    codes = [codes_of(np.asarray(values[k]), kinds[k], bins) for k in names]  # d x (n,)
    entropies = [_entropy(c) for c in codes]
    out = np.eye(len(names))  # (d, d)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            out[i, j] = out[j, i] = _from_codes(codes[i], codes[j], entropies[i], entropies[j])
    return names, out


def confounding(x: np.ndarray, y: np.ndarray, kind_x: str, kind_y: str, bins: int | None = None) -> float:
    """C between two factors given as (n,) arrays with their kinds (see `confounding_matrix`)."""
    _, matrix = confounding_matrix({"x": x, "y": y}, {"x": kind_x, "y": kind_y}, bins)
    return float(matrix[0, 1])
