"""Concept effects on a classifier, from class probabilities (CausaLM, section 3).

All inputs are (N, C) arrays of class probabilities for the same N texts. Differences are averaged over the C
classes, as the paper does, so for two classes each estimate is the mean |difference in P(class 1)|.
"""

from __future__ import annotations

import numpy as np


def _check(*probs: np.ndarray) -> None:
    shapes = {np.shape(p) for p in probs}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"expected probability arrays of one (N, C) shape, got {sorted(shapes)}")


def treate(p_o: np.ndarray, p_cf: np.ndarray) -> float:
    """TReATE(O, CF): mean over texts and classes of |P_O(y|x) - P_CF(y|x)|, on the factual texts only."""
    _check(p_o, p_cf)
    return float(np.abs(np.asarray(p_o) - np.asarray(p_cf)).mean()) if len(p_o) else float("nan")


def ate_gt(p_o: np.ndarray, p_o_cf_text: np.ndarray) -> float:
    """Ground-truth effect: mean |P_O(y|x) - P_O(y|x_cf)| over the TRUE counterfactual texts x_cf."""
    return treate(p_o, p_o_cf_text)


def conexp(p: np.ndarray, concept: np.ndarray) -> float:
    """Correlational baseline: mean over classes of |E[P(y|x) | C=1] - E[P(y|x) | C=0]|.

    NaN when one of the two groups is empty (the contrast is undefined, not zero).
    """
    p, c = np.asarray(p, dtype=float), np.asarray(concept).astype(bool)
    if p.ndim != 2 or len(c) != len(p):
        raise ValueError("conexp needs (N, C) probabilities and N concept values")
    if c.all() or (~c).all():
        return float("nan")
    return float(np.abs(p[c].mean(0) - p[~c].mean(0)).mean())
