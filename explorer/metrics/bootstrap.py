"""Cluster bootstrap intervals for the evaluation's means, resampling whole units (a template's persons).

Why: the template test sets name 32 persons in 2,000 sentences. Sentences about one person share its name, so
they are not independent draws: an interval over sentences would be far too narrow. Resampling persons (with
all their sentences) says how much a number would move with another set of persons. Reviews are one unit each.
"""

from __future__ import annotations

import numpy as np

from explorer.types import DEFAULT_SEED

N_BOOT = 2000
SEED = DEFAULT_SEED


def _unit_sums(values: np.ndarray, groups: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) per-text values -> (U, K) per-unit sums and (U,) per-unit counts."""
    if not groups:
        return values, np.ones(len(values))
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.zeros((inverse.max() + 1, values.shape[1]))
    np.add.at(sums, inverse, values)
    return sums, np.bincount(inverse).astype(float)


def bootstrap_means(values: np.ndarray, groups: list[str] | None = None, n_boot: int = N_BOOT,
                    seed: int = SEED) -> np.ndarray:
    """(N,) or (N, K) per-text values -> (n_boot, K) means of K columns over resampled units (same draws)."""
    v = np.asarray(values, dtype=float)
    v = v[:, None] if v.ndim == 1 else v
    sums, counts = _unit_sums(v, groups)
    n_units = len(counts)
    rng = np.random.default_rng(seed)
    # Draws in chunks of ~4M indices, so 100,000 audited rows need ~30 MB, not 1.6 GB; the generator hands out
    # the same stream in chunks as in one call, so the replicates do not depend on the chunk size.
    chunk = max(1, 4_000_000 // max(n_units, 1))
    out = []
    for start in range(0, n_boot, chunk):
        draws = rng.integers(0, n_units, (min(chunk, n_boot - start), n_units))  # (b, U) unit indices
        weights = np.stack([np.bincount(d, minlength=n_units) for d in draws]).astype(float)  # (b, U)
        out.append((weights @ sums) / (weights @ counts)[:, None])  # (b, K)
    return np.concatenate(out)  # (B, K)


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """(B,) bootstrap replicates -> the percentile interval."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
