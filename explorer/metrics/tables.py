"""How faithful a synthetic table (a world's sample) is to a real one: marginals, dependence, a classifier.

- Marginals: each column's total-variation distance, TV(p, q) = 1/2 sum_k |p_k - q_k| (0: the same
  distribution, 1: disjoint), over its categories, or over bins for a continuous column.
- Dependence: a matrix of bias-corrected Cramer's V (Bergsma 2013, "A bias-correction for Cramer's V and
  Tschuprow's T") over every pair of columns, continuous ones binned. One measure for every mix of types;
  the correction keeps independent columns near 0 at any sample size, where plain V is biased upwards by
  about sqrt((r - 1)(c - 1) / (n (min(r, c) - 1))) (0.14 for sex x native country on 2,000 rows).
- A classifier: logistic regression predicting the target from the other columns, trained on the world's
  rows and tested on real ones, and the reverse ("train synthetic, test real"), beside real -> real.

Continuous columns are binned at the real table's deciles (equal ones merged: hours per week has 40 as five
of its nine deciles), so every bin holds a similar share of real rows and both tables share the edges.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.special import log_softmax
from scipy.stats import rankdata

from explorer.data.tables import ColumnSpec
from explorer.scm.table_mechanisms import design, encoding_for, fit_softmax

Values = Mapping[str, np.ndarray]
DECILES = np.linspace(0.1, 0.9, 9)
CLASSIFIER_L2 = 1e-4


def bin_edges(real: Values, specs: Mapping[str, ColumnSpec]) -> dict[str, np.ndarray]:
    """Per continuous column, the real table's distinct deciles (a value v falls in bin searchsorted(edges, v))."""
    return {c: np.unique(np.quantile(np.asarray(real[c], np.float64), DECILES)) for c, s in specs.items()
            if not s.discrete}


def binned(values: Values, specs: Mapping[str, ColumnSpec], edges: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every column as codes 0..levels-1: categories as they are, continuous values by bin (right-closed)."""
    return {c: (np.asarray(values[c], np.int64) if s.discrete
                else np.searchsorted(edges[c], np.asarray(values[c], np.float64), side="left"))
            for c, s in specs.items()}


def _levels(spec: ColumnSpec, edges: Mapping[str, np.ndarray]) -> int:
    return spec.levels if spec.discrete else len(edges[spec.name]) + 1


def total_variation(real: Values, world: Values, specs: Mapping[str, ColumnSpec],
                    edges: Mapping[str, np.ndarray]) -> dict[str, float]:
    """{column: TV distance between its real and its world marginal}."""
    a, b = binned(real, specs, edges), binned(world, specs, edges)
    out = {}
    for c, s in specs.items():
        k = _levels(s, edges)
        p, q = np.bincount(a[c], minlength=k) / len(a[c]), np.bincount(b[c], minlength=k) / len(b[c])
        out[c] = float(0.5 * np.abs(p - q).sum())
    return out


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Bias-corrected Cramer's V of two code arrays (levels not taken count as absent)."""
    n = len(a)
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    r, k = a.max() + 1, b.max() + 1
    if n < 2 or r < 2 or k < 2:
        return 0.0
    table = np.bincount(a * k + b, minlength=r * k).reshape(r, k).astype(np.float64)  # (r, k) counts
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    phi2 = ((table - expected) ** 2 / expected).sum() / n
    phi2 = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_c, k_c = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_c - 1, r_c - 1)
    return float(np.sqrt(phi2 / denominator)) if denominator > 0 else 0.0


def dependence_matrix(values: Values, specs: Mapping[str, ColumnSpec], edges: Mapping[str, np.ndarray]) -> np.ndarray:
    """(d, d) bias-corrected Cramer's V between the columns of `specs` (in their order), 1 on the diagonal."""
    codes, names = binned(values, specs, edges), list(specs)
    out = np.eye(len(names))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            out[i, j] = out[j, i] = cramers_v(codes[names[i]], codes[names[j]])
    return out


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney: the chance a positive outscores a negative, ties half)."""
    pos = labels == 1
    ranks = rankdata(scores)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)) if n_pos and n_neg else float("nan")


def classifier_scores(train: Values, tests: Mapping[str, Values], specs: Mapping[str, ColumnSpec], target: str
                      ) -> dict[str, dict[str, float]]:
    """A logistic regression of binary `target` on the other columns, fitted on `train`: {test: {accuracy, auc}}.

    Features as the world's mechanisms read their parents (one-hot, or a spline knotted on `train`).
    """
    features = [encoding_for(s, train[c]) for c, s in specs.items() if c != target]
    n = len(train[target])
    weight, bias = fit_softmax(design(features, train, n), np.asarray(train[target], np.int64), 2, CLASSIFIER_L2)
    out = {}
    for name, test in tests.items():
        y = np.asarray(test[target], np.int64)
        logp = log_softmax(design(features, test, len(y)) @ weight.T + bias, axis=1)  # (n, 2)
        out[name] = {"accuracy": float((logp.argmax(1) == y).mean()), "auc": _auc(logp[:, 1] - logp[:, 0], y)}
    return out


def table_fidelity(real_train: Values, real_test: Values, world_train: Values, world_test: Values,
                   specs: Mapping[str, ColumnSpec], target: str) -> dict:
    """Every fidelity number of a world against the real table, flat keys for a card, plus both matrices.

    `world_train` stands in for the real training rows (same size) when a classifier is trained on the world;
    `world_test` is compared with `real_test` column by column and pair by pair. The real training rows against
    the real test rows give the noise floor each number should be read against (`reference.*`).

    Returns:
        {"metrics": {"tv.<col>", "tv_reference.<col>", "dependence.max_abs_diff", "dependence.mean_abs_diff",
        "dependence_reference.max_abs_diff", "classifier.<train>_to_<test>.accuracy|auc"}, "dependence":
        {"columns", "real", "world"}}.
    """
    edges = bin_edges(real_test, specs)
    metrics: dict[str, float] = {}
    for prefix, other in (("tv", world_test), ("tv_reference", real_train)):
        metrics |= {f"{prefix}.{c}": v for c, v in total_variation(real_test, other, specs, edges).items()}
    real_dep = dependence_matrix(real_test, specs, edges)
    world_dep = dependence_matrix(world_test, specs, edges)
    upper = np.triu_indices(len(specs), 1)
    diff = np.abs(world_dep - real_dep)[upper]
    metrics["dependence.max_abs_diff"] = float(diff.max())
    metrics["dependence.mean_abs_diff"] = float(diff.mean())
    metrics["dependence_reference.max_abs_diff"] = float(
        np.abs(dependence_matrix(real_train, specs, edges) - real_dep)[upper].max())
    for trained, rows in (("real", real_train), ("world", world_train)):
        scores = classifier_scores(rows, {"real": real_test, "world": world_test}, specs, target)
        metrics |= {f"classifier.{trained}_to_{test}.{k}": v for test, s in scores.items() for k, v in s.items()}
    return {"metrics": metrics, "dependence": {"columns": list(specs), "real": real_dep.round(4).tolist(),
                                               "world": world_dep.round(4).tolist()}}


def worst_pairs(dependence: dict, k: int = 3) -> list[tuple[str, str, float, float]]:
    """The `k` pairs whose dependence the world misses most: (a, b, real V, world V)."""
    names: Sequence[str] = dependence["columns"]
    real, world = np.asarray(dependence["real"]), np.asarray(dependence["world"])
    pairs = [(names[i], names[j], float(real[i, j]), float(world[i, j]))
             for i in range(len(names)) for j in range(i + 1, len(names))]
    return sorted(pairs, key=lambda p: -abs(p[3] - p[2]))[:k]
