"""Group fairness from per-group confusion counts: fairlearn's MetricFrame and its disparity functions, with
stratified bootstrap intervals.

The state of an audit is one table of counts: rows per (protected values..., y, y_hat). Counts of two chunks
of rows add up to the counts of both (`merge_counts`), so the audit can run in chunks, on other processes or
machines, and still give exactly the whole table's numbers. fairlearn then runs on the counts as weighted
rows (at most 4 rows per group, each weighted by its count): every metric fairlearn computes with a
`sample_weight` is the same on those rows as on the original ones, and costs nothing at a million rows.

Bootstrap intervals resample each group's rows on its own (stratified: a group's size is fixed, as it is in
the question "how sure are we of this group's rate?"). Resampling n rows among the four confusion cells is a
multinomial draw of the cell counts, so B replicates are one vectorised call per group, not B passes over
the rows; the rates of a replicate are ratios of its cell counts (`rates_from_cells`; the tests check that
they equal fairlearn's on the real counts). A group of 10 rows gets a wide interval, one of 1,000 a narrow one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import (MetricFrame, demographic_parity_difference, demographic_parity_ratio,
                               equal_opportunity_difference, equal_opportunity_ratio, equalized_odds_difference,
                               equalized_odds_ratio, false_negative_rate, false_positive_rate, selection_rate,
                               true_positive_rate)
from sklearn.metrics import accuracy_score

from explorer.metrics.bootstrap import interval

METRICS = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
           "false_positive_rate": false_positive_rate, "false_negative_rate": false_negative_rate,
           "accuracy": accuracy_score}
DISPARITIES = {"demographic_parity_difference": demographic_parity_difference,
               "demographic_parity_ratio": demographic_parity_ratio,
               "equalized_odds_difference": equalized_odds_difference,
               "equalized_odds_ratio": equalized_odds_ratio,
               "equal_opportunity_difference": equal_opportunity_difference,
               "equal_opportunity_ratio": equal_opportunity_ratio}
FOUR_FIFTHS = 0.8  # EEOC Uniform Guidelines: a group's selection rate below 4/5 of the highest is adverse impact
JOIN = "×"  # intersections: "sex×race" for the columns, "Female×White" for a group


@dataclass(frozen=True)
class BootstrapConfig:
    """How the intervals are drawn."""

    n_boot: int = 1000
    seed: int = 0
    level: float = 0.95


def confusion_counts(groups: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray) -> pd.Series:
    """Rows per (protected values..., y, y_hat): the mergeable state of an audit (int64, zero cells left out)."""
    frame = groups.astype(str).assign(y=np.asarray(y_true, np.int64), y_hat=np.asarray(y_pred, np.int64))
    return frame.groupby(list(frame.columns), observed=True, sort=True).size().astype(np.int64)


def merge_counts(parts: Sequence[pd.Series]) -> pd.Series:
    """The counts of several chunks as those of all their rows (exact: a sum of integers)."""
    total = parts[0]
    for part in parts[1:]:
        total = total.add(part, fill_value=0)
    return total.astype(np.int64).sort_index()


def weighted_rows(counts: pd.Series, columns: Sequence[str]) -> pd.DataFrame:
    """The counts summed over the columns not in `columns`, as rows (columns..., y, y_hat, weight)."""
    return counts.groupby(level=[*columns, "y", "y_hat"], sort=True).sum().rename("weight").reset_index()


def group_keys(rows: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One group name per row: the value, or the values joined by JOIN for an intersection."""
    return rows[list(columns)].astype(str).agg(JOIN.join, axis=1)


def group_metrics(counts: pd.Series, columns: Sequence[str], boot: BootstrapConfig) -> dict[str, dict]:
    """{group: {count, metric, metric_ci_low, metric_ci_high, ...}} over `columns` (one, or an intersection)."""
    rows = weighted_rows(counts, columns)
    keys = group_keys(rows, columns)
    with warnings.catch_warnings():  # a group without positives has no TPR: sklearn warns and says 0
        warnings.simplefilter("ignore")
        frame = MetricFrame(metrics=METRICS, y_true=rows["y"], y_pred=rows["y_hat"],
                            sensitive_features=keys.rename("group"),
                            sample_params={m: {"sample_weight": rows["weight"].to_numpy()} for m in METRICS})
    cells = group_cells(rows, keys)
    reps = replicates(cells, boot)
    out = {}
    for group, c in cells.items():
        entry: dict[str, float | int | None] = {"count": int(c.sum())}
        for m in METRICS:
            entry[m] = float(frame.by_group.loc[group, m])
            low, high = _ci(reps[group][m], boot.level)
            entry[f"{m}_ci_low"], entry[f"{m}_ci_high"] = low, high
        out[group] = entry
    return out


def group_cells(rows: pd.DataFrame, keys: pd.Series) -> dict[str, np.ndarray]:
    """{group: (4,) counts of (tp, fp, fn, tn)}."""
    cell = np.select([(rows.y == 1) & (rows.y_hat == 1), (rows.y == 0) & (rows.y_hat == 1),
                      (rows.y == 1) & (rows.y_hat == 0)], [0, 1, 2], 3)
    table = np.zeros((keys.nunique(), 4), np.int64)
    names = sorted(keys.unique())
    np.add.at(table, (keys.map({g: i for i, g in enumerate(names)}).to_numpy(), cell), rows["weight"].to_numpy())
    return dict(zip(names, table))


def replicates(cells: dict[str, np.ndarray], boot: BootstrapConfig) -> dict[str, dict[str, np.ndarray]]:
    """{group: {metric: (B,) bootstrap replicates}}: the group's rows resampled, as a multinomial of its cells.

    Group k (in sorted order) draws from the generator seeded (seed, k), so a group's interval does not
    depend on which other groups are audited with it.
    """
    return {g: rates_from_cells(np.random.default_rng([boot.seed, k]).multinomial(c.sum(), c / c.sum(), boot.n_boot))
            for k, (g, c) in enumerate(cells.items())}  # (B, 4) counts -> (B,) per rate


def rates_from_cells(cells: np.ndarray) -> dict[str, np.ndarray]:
    """(..., 4) counts of (tp, fp, fn, tn) -> each METRICS rate, (...,), NaN where its denominator is 0."""
    tp, fp, fn, tn = (cells[..., i].astype(np.float64) for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"selection_rate": (tp + fp) / (tp + fp + fn + tn), "true_positive_rate": tp / (tp + fn),
                "false_positive_rate": fp / (fp + tn), "false_negative_rate": fn / (tp + fn),
                "accuracy": (tp + tn) / (tp + fp + fn + tn)}


def _ci(samples: np.ndarray, level: float) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    return interval(finite, level) if finite.size else (None, None)


def disparities(counts: pd.Series, columns: Sequence[str], boot: BootstrapConfig) -> dict[str, float | bool | None]:
    """fairlearn's differences and ratios between the groups of `columns`, the four-fifths rule, and an
    interval for the demographic parity difference (largest minus smallest selection rate, per replicate)."""
    rows = weighted_rows(counts, columns)
    keys = group_keys(rows, columns)
    out: dict[str, float | bool | None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in DISPARITIES.items():
            out[name] = float(fn(rows["y"], rows["y_hat"], sensitive_features=keys,
                                 sample_weight=rows["weight"].to_numpy()))
    out["four_fifths_ratio"] = out["demographic_parity_ratio"]
    out["four_fifths_passes"] = bool(out["demographic_parity_ratio"] >= FOUR_FIFTHS)
    selection = np.stack([r["selection_rate"] for r in replicates(group_cells(rows, keys), boot).values()])  # (G, B)
    out["demographic_parity_difference_ci_low"], out["demographic_parity_difference_ci_high"] = _ci(
        selection.max(axis=0) - selection.min(axis=0), boot.level)  # (B,) per replicate
    return out


def gap_interval(counts: pd.Series, column: str, low: str, high: str, boot: BootstrapConfig
                 ) -> tuple[float | None, float | None]:
    """Interval of selection_rate[high] - selection_rate[low] (same replicates as `group_metrics`)."""
    rows = weighted_rows(counts, [column])
    reps = replicates(group_cells(rows, group_keys(rows, [column])), boot)
    return _ci(reps[high]["selection_rate"] - reps[low]["selection_rate"], boot.level)


def one_vs_rest(groups: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str],
                sets: Sequence[Sequence[str]], boot: BootstrapConfig) -> dict[str, dict]:
    """A multiclass model's group metrics, one class against the rest: for each class c, the label "is c" and the
    decision "predicted c" as 0/1, then the binary audit's numbers (`group_metrics`, `disparities`) for every set
    of protected columns. {class: {"groups": {columns: {group: ...}}, "fairness": {columns: {...}}}}."""
    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    out = {}
    for c in classes:
        counts = confusion_counts(groups, (y_true == c).astype(np.int64), (y_pred == c).astype(np.int64))
        out[c] = {"groups": {JOIN.join(cols): group_metrics(counts, cols, boot) for cols in sets},
                  "fairness": {JOIN.join(cols): disparities(counts, cols, boot) for cols in sets}}
    return out
