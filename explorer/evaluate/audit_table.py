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
CF_CHUNK_ROWS = 20_000  # the default chunk of `AuditTableConfig`, so `add_cf_fairness` chunks as the engines do
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
    chunk_rows: int = CF_CHUNK_ROWS
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


def checked_label(frame: pd.DataFrame, config: AuditTableConfig) -> pd.Series:
    """The label column, once it and the protected columns are in the table and no label is missing."""
    check_columns(frame, [config.label], "label")
    check_columns(frame, config.protected, "protected")
    label = frame[config.label]
    if label.isna().any():
        raise ValueError(f"label column {config.label!r} is empty in {int(label.isna().sum())} row(s); drop or fill "
                         "those rows")
    return label


def prepare(frame: pd.DataFrame, config: AuditTableConfig) -> Prepared:
    """Labels and groups checked; ValueError with what to do on the first problem."""
    label = checked_label(frame, config)
    positive = positive_value(label, config.positive)
    return Prepared((label.astype(str) == positive).to_numpy(np.int64), positive, protected_groups(frame, config))


def protected_groups(frame: pd.DataFrame, config: AuditTableConfig) -> pd.DataFrame:
    """The protected columns as text, an empty cell the group MISSING; ValueError for a column with one group."""
    groups = frame[list(config.protected)].astype(object).where(frame[list(config.protected)].notna(), MISSING)
    groups = groups.astype(str)
    for col in config.protected:
        if groups[col].nunique() < 2:
            raise ValueError(f"protected column {col!r} has one group only ({groups[col].iloc[0]!r}); an audit compares "
                             "two or more groups")
    return groups


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
    return assemble(frame, config, prepared, proba, y_pred, counts, about)


def assemble(frame: pd.DataFrame, config: AuditTableConfig, prepared: Prepared, proba: np.ndarray | None,
             y_pred: np.ndarray, counts: pd.Series, about: dict | None) -> tuple[dict, pd.DataFrame]:
    """The report and the per-row file from merged chunks (`merge`), wherever the chunks ran (here or on Ray)."""
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


@dataclass(frozen=True)
class WorldView:
    """The audited rows as the causal model reads them: every matched column renamed to its variable (a column the
    map displaced, whose name would match a variable, renamed out of the way), and the model asked on the table's own
    names. `names`: {view name: table column}; `matching`: what the report says of how columns were matched."""

    frame: pd.DataFrame
    predict: Predict | None
    names: dict[str, str]
    matching: dict


def world_view(frame: pd.DataFrame, predict: Predict | None, scm: TableSCM,
               column_map: dict[str, str] | None = None) -> WorldView:
    """`frame` renamed for `scm` (module `explorer.metrics.cf_fairness`, `match_variables`; ValueError on a bad map)."""
    from explorer.metrics.cf_fairness import match_variables
    from explorer.models.table_onnx import column_key

    matched = match_variables(scm.variables, list(frame.columns), column_map)
    rename = {col: var for var, (col, _) in matched.items()}
    keys = {column_key(v) for v in scm.variables}
    rename |= {str(c): f"{c} (not mapped)" for c in frame.columns if str(c) not in rename and column_key(str(c)) in keys}
    back = {new: old for old, new in rename.items()}
    view = frame.rename(columns=rename)
    ask = None if predict is None else (lambda rows: predict(rows.rename(columns=back)))
    matching = {"by_name": {c: v for v, (c, how) in matched.items() if how == "name"},
                "by_map": {c: v for v, (c, how) in matched.items() if how == "map"},
                "variables_without_column": [v for v in scm.variables if v not in matched]}
    return WorldView(view, ask, {str(c): back.get(str(c), str(c)) for c in view.columns}, matching)


def add_cf_fairness(report: dict, rows: pd.DataFrame, frame: pd.DataFrame, predict: Predict, scm: TableSCM,
                    protected: Sequence[str], draws: int = 20, seed: int = 0,
                    column_map: dict[str, str] | None = None, chunk_rows: int = CF_CHUNK_ROWS,
                    progress: Progress | None = None) -> None:
    """Counterfactual fairness (explorer/metrics/cf_fairness.py) into `report["cf_fairness"]` and per-row columns
    `cf_<column>_flip_rate`, `cf_<column>_mean_abs_dp`; when the table's columns do not map to the causal model's
    variables, or a protected column is not one of them, `cf_fairness.note` says why, and nothing else changes.
    `column_map`: {column: variable} the user confirmed (`--map`), before matching by name; keys stay the table's
    column names, and `cf_fairness.matching` says which columns were matched by name and which by the map.

    Rows go through the causal model `chunk_rows` at a time (memory ~ chunk_rows x draws counterfactual rows),
    each chunk with its own seed (`cf_fairness.chunk_seed`), as the chunked engines do, so the numbers equal
    `audit_table_engine`'s with the same chunk size, in this process or on Ray. progress(rows done, rows) after
    each chunk; None: a bar on a terminal's stderr when there is more than one chunk (none elsewhere)."""
    from explorer.metrics.cf_fairness import CfConfig, cf_fairness

    threshold = report["data"]["threshold"]
    proba = rows["probability"].to_numpy() if "probability" in rows else None
    world = world_view(frame, predict, scm, column_map)
    to_view = {old: new for new, old in world.names.items()}
    section: dict = {}
    notes = []
    total = len(frame) * len(protected)
    bar = None
    if progress is None and len(frame) > chunk_rows:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="row", desc="counterfactual fairness", disable=None)  # None: off a terminal
        progress = lambda done, _: bar.update(done - bar.n)  # noqa: E731
    try:
        for i, col in enumerate(protected):
            var = to_view.get(col, col)
            step = None if progress is None else (lambda done, n, i=i: progress(i * n + done, total))
            try:
                part, eff = cf_fairness(world.frame, world.predict, scm, CfConfig(var, draws, seed, threshold), proba,
                                        chunk_rows=chunk_rows, progress=step)
            except ValueError as err:
                notes.append(f"counterfactual fairness of {col} is missing: {err}")
                continue
            part = {(col if k == var else k): v for k, v in part.items()}
            part["held_columns"] = [world.names[c] for c in part["held_columns"]]
            part["derived_columns"] = {world.names[c]: v for c, v in part["derived_columns"].items()}
            section |= part
            rows[f"cf_{col}_flip_rate"], rows[f"cf_{col}_mean_abs_dp"] = eff.flip, eff.abs_dp
    finally:
        if bar is not None:
            bar.close()
    if notes:
        section["note"] = " ".join(notes)
    if any(isinstance(v, dict) and "flip_rate" in v for v in section.values()):
        section["matching"] = world.matching
        add_graph(report, scm)
    report["cf_fairness"] = section


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


def is_multiclass(frame: pd.DataFrame, label: str) -> bool:
    """Whether `label` is a column with more than two values (then a model is audited one class against the rest)."""
    return label in frame.columns and frame[label].dropna().astype(str).nunique() > 2


def audit_multiclass(frame: pd.DataFrame, config: AuditTableConfig, labels_of: Callable[[pd.DataFrame], np.ndarray],
                     about: dict | None = None, progress: Progress | None = None) -> tuple[dict, pd.DataFrame]:
    """A multiclass classifier's audit, one class against the rest (`group_fairness.one_vs_rest`): per class, the
    selection rate, accuracy and the other rates of "predicted c" against "is c" per group, and fairlearn's
    differences. `labels_of`: rows -> (n,) predicted classes as text. Counterfactual fairness and recourse are
    binary only (the report's `multiclass.note`)."""
    from explorer.metrics.group_fairness import one_vs_rest

    label = checked_label(frame, config)
    groups = protected_groups(frame, config)
    y = label.astype(str).to_numpy(object)
    classes = sorted(set(y))
    parts, n = [], len(frame)
    for start in range(0, n, config.chunk_rows):
        parts.append(np.asarray(labels_of(frame.iloc[start:start + config.chunk_rows])).astype(str))
        if progress:
            progress(min(start + config.chunk_rows, n), n)
    y_pred = np.concatenate(parts) if parts else np.zeros(0, object)
    unknown = sorted(set(y_pred) - set(classes))
    if unknown and len(unknown) == len(set(y_pred)):
        raise ValueError(f"the model predicts {', '.join(unknown[:5])}, none of which is a value of the label "
                         f"{config.label!r} ({', '.join(classes[:5])}); give the label column the model was trained "
                         "to predict")
    sets = [[c] for c in config.protected] + ([list(config.protected)] if len(config.protected) > 1 else [])
    per_class = one_vs_rest(groups, y, y_pred, classes, sets, config.boot)
    report = {"data": {"rows": n, "label": config.label, "positive": "each class, one against the rest",
                       "threshold": "none (the model's predicted class)", "protected": list(config.protected),
                       "classes": classes, **(about or {})},
              "overall": {"accuracy": float((y == y_pred).mean()), "selection_rate": None, "base_rate": None,
                          "auc": None},
              "groups": {}, "intersections": {}, "fairness": {},
              "bootstrap": {"n_boot": config.boot.n_boot, "seed": config.boot.seed, "level": config.boot.level,
                            "method": "stratified: each group's rows resampled on their own"},
              "multiclass": {"classes": classes, "per_class": per_class,
                             "note": "a multiclass model: every group metric is one class against the rest "
                                     "(\"predicted c\" as the decision, \"is c\" as the label); counterfactual "
                                     "fairness and recourse are binary only and were not computed"}}
    report["reading"] = multiclass_reading(report)
    rows = pd.DataFrame({"row": np.arange(n)}).join(groups.reset_index(drop=True))
    rows["label"], rows["prediction"] = y, y_pred
    return report, rows


def multiclass_reading(report: dict) -> list[str]:
    """One sentence per class and protected column: the selection-rate gap, one class against the rest."""
    out = [f"Overall, the model predicts the true {report['data']['label']} for {100 * report['overall']['accuracy']:.1f} % "
           "of rows; each number below is one class against the rest."]
    for c, sec in report["multiclass"]["per_class"].items():
        for col, groups in sec["groups"].items():
            if JOIN in col:
                continue
            low = min(groups, key=lambda g: groups[g]["selection_rate"])
            high = max(groups, key=lambda g: groups[g]["selection_rate"])
            out.append(f"Class {c} (against the rest): {col} = {low} is predicted {c} "
                       f"{100 * (groups[high]['selection_rate'] - groups[low]['selection_rate']):.1f} points less often "
                       f"than {col} = {high} ({100 * groups[low]['selection_rate']:.1f} % vs "
                       f"{100 * groups[high]['selection_rate']:.1f} %).")
    return out
