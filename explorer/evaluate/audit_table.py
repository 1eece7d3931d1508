"""`python -m explorer audit-table`: group fairness of a model (or a predictions column) on a table.

The job, in three steps that keep it ready to scale out:

1. `prepare`: the label as 0/1 (which value is positive: `--positive`, else 1/true/yes, else an ordered
   label's highest level) and the protected columns as strings; every check that can fail runs here, before
   a model is asked anything.
2. `audit_chunk`, once per chunk of rows: the model's probabilities, the decisions (probability >= threshold)
   and the chunk's confusion counts per protected group, without the rows the model fails on (found one by one:
   `table_onnx.score_rows`). It reads nothing but its arguments, so chunks can go to other processes or a Ray
   cluster (`audit_table_ray.py`) and come back in any order.
3. `merge`: the counts added up (exact), predictions put back in row order, the failed rows gathered; then
   fairlearn computes every number from the merged counts (`explorer.metrics.group_fairness`), and the report
   lists the failed rows (`audit_table_rows.py`; refused when half of the rows or more failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from explorer.evaluate.audit_table_report import reading
# WorldView, world_view, predictions_column, positive_value, is_multiclass moved to audit_table_rows; other modules
# import them from here too
from explorer.evaluate.audit_table_rows import (Failed, WorldView, budget, cf_on_kept, failed_of, failed_section,
                                                is_multiclass, kept, mark_rows, multiclass_reading, overall,
                                                positive_value, predictions_column, refuse, spread,
                                                world_view)
from explorer.metrics.group_fairness import (JOIN, BootstrapConfig, confusion_counts, disparities, group_metrics,
                                             merge_counts)
from explorer.models.table_onnx import score_rows
from explorer.scm.table_scm import TableSCM

Predict = Callable[[pd.DataFrame], np.ndarray]  # rows -> (n,) probability of the positive class
Progress = Callable[[int, int], None]  # (rows done, rows in all)
CF_CHUNK_ROWS = 20_000  # the default chunk of `AuditTableConfig`, so `add_cf_fairness` chunks as the engines do
MISSING = "(missing)"  # a protected value left empty is a group of its own, never dropped silently


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
    """One chunk's share of the audit: where it starts, its probabilities (None without a model; NaN where the
    model fails), its decisions and its confusion counts per group (of the rows scored); the rows the model fails
    on ({row of the table: why}), the chunk's own error message, and False when it stopped looking for them."""

    start: int
    proba: np.ndarray | None
    y_pred: np.ndarray
    counts: pd.Series
    errors: dict[int, str] = field(default_factory=dict)
    message: str = ""
    complete: bool = True


def check_columns(frame: pd.DataFrame, names: Sequence[str], what: str) -> None:
    """ValueError naming the first of `names` that is not a column of `frame`."""
    for name in names:
        if name not in frame.columns:
            raise ValueError(f"{what} column {name!r} is not in the table; its columns are: "
                             f"{', '.join(map(str, frame.columns))}")


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


def protected_groups(frame: pd.DataFrame, config: AuditTableConfig, among: str = "") -> pd.DataFrame:
    """The protected columns as text, an empty cell the group MISSING; ValueError for a column with one group
    (`among`: which rows, when not the whole table)."""
    groups = frame[list(config.protected)].astype(object).where(frame[list(config.protected)].notna(), MISSING)
    groups = groups.astype(str)
    for col in config.protected:
        if groups[col].nunique() < 2:
            raise ValueError(f"protected column {col!r} has one group only{' among ' + among if among else ''} "
                             f"({groups[col].iloc[0]!r}); an audit compares two or more groups")
    return groups


def audit_chunk(rows: pd.DataFrame, start: int, y: np.ndarray, groups: pd.DataFrame, predict: Predict | None,
                given: np.ndarray | None, threshold: float, limit: int | None = None) -> ChunkResult:
    """One chunk: probabilities (from `predict`, or `given`), decisions and the chunk's confusion counts. Rows the
    model fails on (`table_onnx.score_rows`; at most `limit` looked for) are left out of the counts."""
    if predict is None:
        proba, scored = given, None  # (n,)
    else:
        scored = score_rows(predict, rows, limit)
        proba = scored.values.astype(np.float64)  # (n,), NaN where the model fails
    y_pred = (proba >= threshold).astype(np.int64)  # a failed row's 0 is never counted
    keep = np.isfinite(proba)
    counts = confusion_counts(groups[keep], y[keep], y_pred[keep])
    if scored is None:
        return ChunkResult(start, None, y_pred, counts)
    return ChunkResult(start, proba, y_pred, counts, {start + i: why for i, why in scored.errors.items()},
                       scored.message, scored.complete)


def merge(results: Sequence[ChunkResult]) -> tuple[np.ndarray | None, np.ndarray, pd.Series, Failed]:
    """Chunks (in any order) -> (probabilities or None, decisions, counts, rows failed) of all their rows, in row
    order."""
    ordered = sorted(results, key=lambda r: r.start)
    proba = None if ordered[0].proba is None else np.concatenate([r.proba for r in ordered])
    failed = failed_of(ordered)
    return proba, np.concatenate([r.y_pred for r in ordered]), merge_counts([r.counts for r in ordered]), failed


def run_chunks(frame: pd.DataFrame, prepared: Prepared, config: AuditTableConfig, predict: Predict | None,
               given: np.ndarray | None, progress: Progress | None = None) -> list[ChunkResult]:
    """Every chunk in this process, in order (the local engine); refused (`refuse`) as soon as half of the rows
    failed."""
    results, n = [], len(frame)
    for start in range(0, n, config.chunk_rows):
        stop = min(start + config.chunk_rows, n)
        results.append(next_chunk(frame, start, stop, results, predict, prepared, config.threshold, given))
        if progress:
            progress(stop, n)
    return results


def next_chunk(frame: pd.DataFrame, start: int, stop: int, earlier: Sequence, predict: Callable | None,
               prepared: Prepared | None = None, threshold: float = 0.5, given: np.ndarray | None = None):
    """Rows start..stop of `frame` after the chunks `earlier`: `audit_chunk` (with the `prepared` labels and
    groups; None: a multiclass model's `multiclass_chunk`, `predict` giving classes), the rows the model fails on
    looked for up to the budget left; ValueError (`refuse`) once half of the rows or more failed. The local
    engines run it chunk after chunk; the page one chunk per step."""
    limit, part = budget(len(frame)) - sum(len(c.errors) for c in earlier), slice(start, stop)
    if prepared is None:
        chunk = multiclass_chunk(frame.iloc[part], start, predict, limit)
    else:
        chunk = audit_chunk(frame.iloc[part], start, prepared.y[part], prepared.groups.iloc[part], predict,
                            None if given is None else given[part], threshold, limit)
    if len(chunk.errors) >= limit:
        refuse(failed_of([*earlier, chunk]), len(frame))
    return chunk


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
    return assemble(frame, config, prepared, *merge(run_chunks(frame, prepared, config, predict, given, progress)),
                    about)


def assemble(frame: pd.DataFrame, config: AuditTableConfig, prepared: Prepared, proba: np.ndarray | None,
             y_pred: np.ndarray, counts: pd.Series, failed: Failed | None = None,
             about: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """The report and the per-row file from merged chunks (`merge`), wherever the chunks ran (here or on Ray). The
    rows the model failed on (`failed`) are left out of every number, listed in `data.failed_rows` and marked in
    the per-row file's `model_error`; ValueError (`refuse`) when half of the rows or more failed."""
    failed = failed or Failed({})
    refuse(failed, len(frame))
    keep = np.ones(len(frame), bool)
    keep[list(failed.errors)] = False
    if not keep.all():  # a group whose rows all failed is gone: the audit still needs two groups per column
        protected_groups(prepared.groups[keep], AuditTableConfig(config.label, config.protected), "the rows scored")
    report = {"data": {"rows": len(frame), "label": config.label, "positive": prepared.positive,
                       "threshold": config.threshold, "protected": list(config.protected), **(about or {})},
              "overall": overall(prepared.y[keep], y_pred[keep], None if proba is None else proba[keep]),
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
    if proba is not None:  # a model made the decisions: say which rows it could not score (none, usually)
        report["data"]["failed_rows"] = failed_section(failed, len(frame))
        rows = mark_rows(rows, failed)
    return report, rows


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
    each chunk; None: a bar on a terminal's stderr when there is more than one chunk (none elsewhere). Rows the
    model failed on (a `model_error` in `rows`) are left out, and their cf_ columns left empty."""
    from explorer.metrics.cf_fairness import CfConfig, cf_fairness

    threshold = report["data"]["threshold"]
    proba = rows["probability"].to_numpy() if "probability" in rows else None
    keep = kept(rows)  # rows the model failed on (`model_error`) have no counterfactual either
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
                if keep.all():
                    part, eff = cf_fairness(world.frame, world.predict, scm, CfConfig(var, draws, seed, threshold),
                                            proba, chunk_rows=chunk_rows, progress=step)
                else:  # the rows the model failed on left out, the others chunked as the Ray engine chunks them
                    part, eff = cf_on_kept(world.frame, world.predict, scm, CfConfig(var, draws, seed, threshold),
                                           proba, keep, chunk_rows, step)
            except ValueError as err:
                notes.append(f"counterfactual fairness of {col} is missing: {err}")
                continue
            part = {(col if k == var else k): v for k, v in part.items()}
            part["held_columns"] = [world.names[c] for c in part["held_columns"]]
            part["derived_columns"] = {world.names[c]: v for c, v in part["derived_columns"].items()}
            section |= part
            spread(rows, f"cf_{col}_flip_rate", eff.flip, keep)  # a failed row has none
            spread(rows, f"cf_{col}_mean_abs_dp", eff.abs_dp, keep)
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


@dataclass(frozen=True)
class LabelChunk:
    """One chunk of a multiclass audit: where it starts, each row's predicted class as text (None where the model
    fails), and the rows it fails on, as `ChunkResult` has them."""

    start: int
    labels: np.ndarray
    errors: dict[int, str]
    message: str = ""
    complete: bool = True


def multiclass_chunk(rows: pd.DataFrame, start: int, labels_of: Callable[[pd.DataFrame], np.ndarray],
                     limit: int | None = None) -> LabelChunk:
    """One chunk's predicted classes; the rows the model fails on found as `audit_chunk` finds them."""
    scored = score_rows(labels_of, rows, limit)
    values = scored.values
    bad = np.array([v is None or v != v for v in values], bool) if values.dtype.kind in "fO" else \
        np.zeros(len(values), bool)  # None (or NaN, when no row was scored): not scored
    labels = values.astype(str).astype(object)
    labels[bad] = None
    return LabelChunk(start, labels, {start + i: why for i, why in scored.errors.items()}, scored.message,
                      scored.complete)


def audit_multiclass(frame: pd.DataFrame, config: AuditTableConfig, labels_of: Callable[[pd.DataFrame], np.ndarray],
                     about: dict | None = None, progress: Progress | None = None) -> tuple[dict, pd.DataFrame]:
    """A multiclass classifier's audit, one class against the rest (`group_fairness.one_vs_rest`): per class, the
    selection rate, accuracy and the other rates of "predicted c" against "is c" per group, and fairlearn's
    differences. `labels_of`: rows -> (n,) predicted classes as text. Counterfactual fairness and recourse are
    binary only (the report's `multiclass.note`). Chunks in this process (`multiclass_chunk`), then
    `assemble_multiclass`, as the Ray engine does."""
    checked_label(frame, config)
    protected_groups(frame, config)
    chunks, n = [], len(frame)
    for start in range(0, n, config.chunk_rows):
        chunks.append(next_chunk(frame, start, min(start + config.chunk_rows, n), chunks, labels_of))
        if progress:
            progress(min(start + config.chunk_rows, n), n)
    return assemble_multiclass(frame, config, chunks, about)


def assemble_multiclass(frame: pd.DataFrame, config: AuditTableConfig, chunks: Sequence[LabelChunk],
                        about: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """The multiclass report and per-row file from its chunks (in any order), the rows the model failed on left
    out of every number (`assemble`'s rule)."""
    from explorer.metrics.group_fairness import one_vs_rest

    label = checked_label(frame, config)
    groups = protected_groups(frame, config)
    y = label.astype(str).to_numpy(object)
    classes = sorted(set(y))
    n = len(frame)
    chunks = sorted(chunks, key=lambda c: c.start)
    failed = failed_of(chunks)
    refuse(failed, n)
    y_pred = np.concatenate([c.labels for c in chunks]) if chunks else np.zeros(0, object)
    keep = np.ones(n, bool)
    keep[list(failed.errors)] = False
    unknown = sorted(set(y_pred[keep]) - set(classes))
    if unknown and len(unknown) == len(set(y_pred[keep])):
        raise ValueError(f"the model predicts {', '.join(unknown[:5])}, none of which is a value of the label "
                         f"{config.label!r} ({', '.join(classes[:5])}); give the label column the model was trained "
                         "to predict")
    if not keep.all():
        protected_groups(groups[keep], AuditTableConfig(config.label, config.protected), "the rows scored")
    sets = [[c] for c in config.protected] + ([list(config.protected)] if len(config.protected) > 1 else [])
    per_class = one_vs_rest(groups[keep], y[keep], y_pred[keep], classes, sets, config.boot)
    report = {"data": {"rows": n, "label": config.label, "positive": "each class, one against the rest",
                       "threshold": "none (the model's predicted class)", "protected": list(config.protected),
                       "classes": classes, **(about or {}), "failed_rows": failed_section(failed, n)},
              "overall": {"accuracy": float((y[keep] == y_pred[keep]).mean()), "selection_rate": None,
                          "base_rate": None, "auc": None},
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
    return report, mark_rows(rows, failed)
