"""`python -m explorer audit-table`: group fairness of a model (or a predictions column) on a table.

The job, in three steps that keep it ready to scale out:

1. `prepare`: the label as 0/1 (which value is positive: `--positive`, else 1/true/yes, else an ordered
   label's highest level) and the protected columns as strings; every check that can fail runs here, before
   a model is asked anything.
2. `audit_chunk`, once per chunk of rows: the model's probabilities, the decisions (probability >= threshold)
   and the chunk's confusion counts per protected group. It reads nothing but its arguments, so chunks can go
   to other processes or a Ray cluster (not built yet) and come back in any order.
3. `merge`: the counts added up (exact), predictions put back in row order; then fairlearn computes every
   number from the merged counts (`explorer.metrics.group_fairness`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import selection_rate
from sklearn.metrics import accuracy_score, roc_auc_score

from explorer.evaluate.audit_table_report import reading
from explorer.metrics.group_fairness import (JOIN, BootstrapConfig, confusion_counts, disparities, group_metrics,
                                             merge_counts)
from explorer.scm.table_scm import TableSCM

Predict = Callable[[pd.DataFrame], np.ndarray]  # rows -> (n,) probability of the positive class
Progress = Callable[[int, int], None]  # (rows done, rows in all)
MISSING = "(missing)"  # a protected value left empty is a group of its own, never dropped silently
_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n"}


@dataclass(frozen=True)
class AuditTableConfig:
    """What to audit and how.

    Attributes:
        label: the true outcome's column (two values).
        protected: the columns whose groups are compared; with two or more, their intersection too.
        positive: the label value that counts as the positive decision (None: inferred, see `positive_value`).
        threshold: a probability at or above it is a positive decision.
        chunk_rows: rows per chunk (memory per chunk ~ chunk_rows x columns).
        boot: the bootstrap intervals' replicates, seed and level.
    """

    label: str
    protected: tuple[str, ...]
    positive: str | None = None
    threshold: float = 0.5
    chunk_rows: int = 20_000
    boot: BootstrapConfig = field(default_factory=BootstrapConfig)


@dataclass(frozen=True)
class Prepared:
    """The checked inputs: (n,) 0/1 labels, the positive value's name, the protected columns as strings."""

    y: np.ndarray
    positive: str
    groups: pd.DataFrame


@dataclass(frozen=True)
class ChunkResult:
    """One chunk's share of the audit: where it starts, its probabilities (None without a model), its decisions
    and its confusion counts per group."""

    start: int
    proba: np.ndarray | None
    y_pred: np.ndarray
    counts: pd.Series


def check_columns(frame: pd.DataFrame, names: Sequence[str], what: str) -> None:
    """ValueError naming the first of `names` that is not a column of `frame`."""
    for name in names:
        if name not in frame.columns:
            raise ValueError(f"{what} column {name!r} is not in the table; its columns are: "
                             f"{', '.join(map(str, frame.columns))}")


def positive_value(col: pd.Series, positive: str | None) -> str:
    """The label value that counts as positive; ValueError when the label is not binary or it is unclear."""
    values = sorted(col.dropna().astype(str).unique())
    if len(values) != 2:
        shown = ", ".join(values[:5]) + (" ..." if len(values) > 5 else "")
        raise ValueError(f"label column {col.name!r} has {len(values)} distinct value(s) ({shown}); the audit needs "
                         "exactly two (a yes/no outcome)")
    if positive is not None:
        if positive not in values:
            raise ValueError(f"--positive {positive!r} is not a value of {col.name!r}; choose {values[0]} or {values[1]}")
        return positive
    lower = [v.lower() for v in values]
    if set(lower) <= _TRUE | _FALSE and len({v in _TRUE for v in lower}) == 2:
        return values[[v in _TRUE for v in lower].index(True)]
    if isinstance(col.dtype, pd.CategoricalDtype) and col.dtype.ordered:
        return str([c for c in col.cat.categories if str(c) in values][-1])
    raise ValueError(f"label column {col.name!r} has the values {values[0]!r} and {values[1]!r}: say which one is the "
                     "positive decision with --positive")


def prepare(frame: pd.DataFrame, config: AuditTableConfig) -> Prepared:
    """Labels and groups checked; ValueError with what to do on the first problem."""
    check_columns(frame, [config.label], "label")
    check_columns(frame, config.protected, "protected")
    label = frame[config.label]
    if label.isna().any():
        raise ValueError(f"label column {config.label!r} is empty in {int(label.isna().sum())} row(s); drop or fill "
                         "those rows")
    positive = positive_value(label, config.positive)
    groups = frame[list(config.protected)].astype(object).where(frame[list(config.protected)].notna(), MISSING)
    groups = groups.astype(str)
    for col in config.protected:
        if groups[col].nunique() < 2:
            raise ValueError(f"protected column {col!r} has one group only ({groups[col].iloc[0]!r}); an audit compares "
                             "two or more groups")
    return Prepared((label.astype(str) == positive).to_numpy(np.int64), positive, groups)


def predictions_column(col: pd.Series, label: pd.Series, positive: str) -> np.ndarray:
    """A predictions column as (n,) probabilities (or 0/1): numbers in [0, 1], or the label's own two values."""
    if col.isna().any():
        raise ValueError(f"predictions column {col.name!r} is empty in {int(col.isna().sum())} row(s); fill them")
    numbers = pd.to_numeric(col, errors="coerce")
    if numbers.notna().all() and not isinstance(col.dtype, pd.CategoricalDtype):
        if ((numbers >= 0) & (numbers <= 1)).all():
            return numbers.to_numpy(np.float64)
        raise ValueError(f"predictions column {col.name!r} holds numbers outside [0, 1]; give probabilities or 0/1")
    known = set(label.astype(str).unique())
    unknown = sorted(set(col.astype(str).unique()) - known)
    if unknown:
        raise ValueError(f"predictions column {col.name!r} has {unknown[0]!r}, which is not a value of the label "
                         f"({', '.join(sorted(known))}); give the label's values, probabilities or 0/1")
    return (col.astype(str) == positive).to_numpy(np.float64)


def audit_chunk(rows: pd.DataFrame, start: int, y: np.ndarray, groups: pd.DataFrame, predict: Predict | None,
                given: np.ndarray | None, threshold: float) -> ChunkResult:
    """One chunk: probabilities (from `predict`, or `given`), decisions and the chunk's confusion counts."""
    proba = predict(rows) if predict is not None else given  # (n,)
    y_pred = (proba >= threshold).astype(np.int64)
    return ChunkResult(start, proba if predict is not None else None, y_pred, confusion_counts(groups, y, y_pred))


def merge(results: Sequence[ChunkResult]) -> tuple[np.ndarray | None, np.ndarray, pd.Series]:
    """Chunks (in any order) -> (probabilities or None, decisions, counts) of all their rows, in row order."""
    ordered = sorted(results, key=lambda r: r.start)
    proba = None if ordered[0].proba is None else np.concatenate([r.proba for r in ordered])
    return proba, np.concatenate([r.y_pred for r in ordered]), merge_counts([r.counts for r in ordered])


def run_chunks(frame: pd.DataFrame, prepared: Prepared, config: AuditTableConfig, predict: Predict | None,
               given: np.ndarray | None, progress: Progress | None = None) -> list[ChunkResult]:
    """Every chunk in this process, in order (the local engine)."""
    results, n = [], len(frame)
    for start in range(0, n, config.chunk_rows):
        stop = min(start + config.chunk_rows, n)
        part = slice(start, stop)
        results.append(audit_chunk(frame.iloc[part], start, prepared.y[part], prepared.groups.iloc[part], predict,
                                   None if given is None else given[part], config.threshold))
        if progress:
            progress(stop, n)
    return results


def audit_table(frame: pd.DataFrame, config: AuditTableConfig, predict: Predict | None = None,
                given: np.ndarray | None = None, about: dict | None = None, progress: Progress | None = None,
                prepared: Prepared | None = None) -> tuple[dict, pd.DataFrame]:
    """The audit's report (see docs/audit-table.md for its keys) and its per-row file.

    Args:
        frame: the rows, with the label, the protected columns and the model's inputs.
        config: label, protected columns, threshold, chunks, bootstrap.
        predict: the model (rows -> probabilities); or None with `given`, a predictions column's values.
        about: what the report's "data" section says of the source and the model.
        progress: called after each chunk with (rows done, rows in all).
        prepared: `prepare(frame, config)` when the caller checked the inputs already.
    """
    prepared = prepared or prepare(frame, config)
    proba, y_pred, counts = merge(run_chunks(frame, prepared, config, predict, given, progress))
    report = {"data": {"rows": len(frame), "label": config.label, "positive": prepared.positive,
                       "threshold": config.threshold, "protected": list(config.protected), **(about or {})},
              "overall": overall(prepared.y, y_pred, proba),
              "groups": {c: group_metrics(counts, [c], config.boot) for c in config.protected},
              "intersections": {}, "fairness": {},
              "bootstrap": {"n_boot": config.boot.n_boot, "seed": config.boot.seed, "level": config.boot.level,
                            "method": "stratified: each group's rows resampled on their own"}}
    sets = [[c] for c in config.protected] + ([list(config.protected)] if len(config.protected) > 1 else [])
    for cols in sets:
        report["fairness"][JOIN.join(cols)] = disparities(counts, cols, config.boot)
    if len(config.protected) > 1:
        report["intersections"][JOIN.join(config.protected)] = group_metrics(counts, config.protected, config.boot)
    report["reading"] = reading(report, counts, config.boot)
    rows = pd.DataFrame({"row": np.arange(len(frame))}).join(prepared.groups.reset_index(drop=True))
    rows["label"] = prepared.y
    if proba is not None:
        rows["probability"] = proba
    rows["prediction"] = y_pred
    return report, rows


def add_cf_fairness(report: dict, rows: pd.DataFrame, frame: pd.DataFrame, predict: Predict, scm: TableSCM,
                    protected: Sequence[str], draws: int = 20, seed: int = 0) -> None:
    """Counterfactual fairness (explorer/metrics/cf_fairness.py) into `report["cf_fairness"]` and per-row columns
    `cf_<column>_flip_rate`, `cf_<column>_mean_abs_dp`; when the table's columns do not map to the causal model's
    variables, or a protected column is not one of them, `cf_fairness.note` says why, and nothing else changes."""
    from explorer.metrics.cf_fairness import CfConfig, cf_fairness

    threshold = report["data"]["threshold"]
    proba = rows["probability"].to_numpy() if "probability" in rows else None
    section: dict = {}
    notes = []
    for col in protected:
        try:
            part, eff = cf_fairness(frame, predict, scm, CfConfig(col, draws, seed, threshold), proba)
        except ValueError as err:
            notes.append(f"counterfactual fairness of {col} is missing: {err}")
            continue
        section |= part
        rows[f"cf_{col}_flip_rate"], rows[f"cf_{col}_mean_abs_dp"] = eff.flip, eff.abs_dp
    if notes:
        section["note"] = " ".join(notes)
    report["cf_fairness"] = section
    if any(isinstance(v, dict) and "flip_rate" in v for v in section.values()):
        add_graph(report, scm)


def add_graph(report: dict, scm: TableSCM) -> None:
    """`report["causal_graph"]`: the world's name, its variables in causal order and its arrows, so a report says
    which graph its counterfactuals and recourse followed (the HTML and PDF reports draw it)."""
    report["causal_graph"] = {"name": scm.name, "nodes": list(scm.order),
                              "edges": [list(e) for e in sorted(scm.graph.edges)]}


def overall(y: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None) -> dict[str, float | None]:
    """Accuracy and selection rate of all rows; AUC when the model gives probabilities."""
    out: dict[str, float | None] = {"accuracy": float(accuracy_score(y, y_pred)),
                                    "selection_rate": float(selection_rate(y, y_pred)), "base_rate": float(y.mean()),
                                    "auc": None}
    if proba is not None and len(np.unique(y)) == 2 and len(np.unique(proba)) > 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["auc"] = float(roc_auc_score(y, proba))
    return out
