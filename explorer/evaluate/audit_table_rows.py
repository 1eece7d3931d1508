"""The audit's rows: those the model fails on, the label's and a predictions column's values, the overall numbers of
the rows scored, and the rows as the causal model reads them. Split from `audit_table.py` (which imports
`world_view`, `WorldView`, `predictions_column`, `positive_value` and `is_multiclass` from here, so other modules
find them there too) to keep each file short.

**Rows the model fails on** (docs/audit-table.md, "Rows the model cannot score"). A model may fail on some rows
only: an encoder exported with handle_unknown='error' meets a category it never saw, or the model returns NaN.
Each chunk finds them (`table_onnx.score_rows`: the chunk halved until the failing rows are alone), they are left
out of every number (group metrics, counterfactual fairness, recourse) and listed in `report["data"]
["failed_rows"]` and the per-row file's `model_error` column. When half of the rows or more fail, the audit is
refused instead (`refuse`): a report on the other half would speak for rows chosen by the model's failures.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import selection_rate
from sklearn.metrics import accuracy_score, roc_auc_score

from explorer.metrics.cf_fairness import (CfConfig, RowEffects, cf_fairness, chunk_seed, default_paths, derived_columns,
                                          effect_section, scm_columns)
from explorer.metrics.group_fairness import JOIN
from explorer.scm.table_scm import TableSCM

Predict = Callable[[pd.DataFrame], np.ndarray]  # rows -> (n,) probability of the positive class
EXAMPLES = 20  # failing rows listed in the report (the per-row file has every one)
_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n"}


@dataclass(frozen=True)
class Failed:
    """The rows the model failed on, over every chunk.

    Attributes:
        errors: {row of the audited table (0-based): why, in plain words}.
        message: the first failing chunk's own error (said alone when every row fails).
        complete: False when a chunk stopped looking once half of the table's rows had failed.
    """

    errors: dict[int, str]
    message: str = ""
    complete: bool = True


def budget(n: int) -> int:
    """Failing rows at which the audit is refused: half of the table's n rows (rounded up)."""
    return (n + 1) // 2


def failures(parts: Sequence[tuple[int, dict[int, str], str, bool]]) -> Failed:
    """The chunks' (start, {row: why}, message, complete) as one `Failed`, in row order."""
    ordered = sorted(parts, key=lambda p: p[0])
    errors = {row: why for _, errs, _, _ in ordered for row, why in errs.items()}
    message = next((m for _, errs, m, _ in ordered if m), "")
    return Failed(dict(sorted(errors.items())), message, all(c for *_, c in ordered))


def failed_of(chunks: Sequence) -> Failed:
    """`failures` of chunks (`audit_table.ChunkResult` or `LabelChunk`: start, errors, message, complete)."""
    return failures([(c.start, c.errors, c.message, c.complete) for c in chunks])


def merge_cf(parts: Sequence[tuple[dict, pd.DataFrame]], rows: pd.DataFrame) -> dict:
    """`add_cf_fairness` run one protected column at a time (each part: its `cf_fairness` section and its rows'
    cf_ columns) as one run over all of them writes it: the sections joined, their notes in one, the columns added
    to `rows`."""
    section, notes = {}, []
    for part, cols in parts:
        part = dict(part)  # the caller keeps its part (the page's steps are kept in the session)
        notes += [part.pop("note")] if "note" in part else []
        section |= part
        for name in cols.columns:
            rows[name] = cols[name].to_numpy()
    if notes:
        section["note"] = " ".join(notes)
    return section


def refuse(failed: Failed, n: int) -> None:
    """ValueError (one line) when half of the n rows or more failed: every row, the chunk's own message; else how
    many, the first, and that message (what to do)."""
    count = len(failed.errors)
    if count == 0 or count < budget(n):
        return
    if count == n and failed.complete:
        raise ValueError(failed.message)
    row, why = next(iter(failed.errors.items()))
    least = "" if failed.complete else "at least "
    raise ValueError(f"the model cannot score {least}{count:,} of the {n:,} rows ({_share(count, n)}), half of them or "
                     f"more, so no number would speak for the table; the first: row {row}, {why}. "
                     f"{failed.message[:1].upper() + failed.message[1:]}")


def _share(count: int, n: int) -> str:
    pct = 100 * count / n
    return f"{pct:.1f} %" if pct >= 0.1 else f"{pct:.2g} %"


def failed_section(failed: Failed, n: int) -> dict:
    """`report["data"]["failed_rows"]`: count, the first EXAMPLES {row, error}, and a plain sentence."""
    count = len(failed.errors)
    examples = [{"row": row, "error": why} for row, why in list(failed.errors.items())[:EXAMPLES]]
    if not count:
        note = "the model scored every row"
    else:
        first = examples[0]
        note = (f"{count:,} row{'s' if count > 1 else ''} ({_share(count, n)}) could not be scored by the model and "
                f"{'is' if count == 1 else 'are'} left out of every number; the first: row {first['row']}, "
                f"{first['error']}")
    return {"count": count, "examples": examples, "note": note}


def mark_rows(rows: pd.DataFrame, failed: Failed) -> pd.DataFrame:
    """The per-row file with a `model_error` column (empty when the row was scored); a failed row's probability
    and prediction are left empty."""
    error = pd.Series("", index=rows.index, dtype=object)
    if failed.errors:
        where = rows.index[rows["row"].isin(list(failed.errors))]
        error[where] = rows.loc[where, "row"].map(failed.errors)
        if "prediction" in rows and rows["prediction"].dtype.kind in "iu":
            rows["prediction"] = rows["prediction"].astype("Int64")  # integers with an empty cell
        rows.loc[where, "prediction"] = pd.NA
        if "probability" in rows:
            rows.loc[where, "probability"] = np.nan
    rows["model_error"] = error
    return rows


def spread(rows: pd.DataFrame, column: str, values: np.ndarray, keep: np.ndarray) -> None:
    """`rows[column]` = `values` on the kept rows (in row order), empty on the rows the model failed on."""
    rows[column] = np.nan
    rows.loc[keep, column] = values


def kept(rows: pd.DataFrame) -> np.ndarray:
    """(n,) bool: the rows the model scored (no `model_error`)."""
    if "model_error" not in rows:
        return np.ones(len(rows), bool)
    return (rows["model_error"].fillna("").astype(str) == "").to_numpy()


def cf_on_kept(world: pd.DataFrame, predict: Predict, scm: TableSCM, config: CfConfig, proba: np.ndarray,
               keep: np.ndarray, chunk_rows: int,
               progress: Callable[[int, int], None] | None = None) -> tuple[dict, RowEffects]:
    """`cf_fairness.cf_fairness` on the kept rows only, chunked as the table was (the chunk from row `start` keeps
    its `chunk_seed(seed, start)` and loses its failed rows), as the Ray engine's tasks do: equal numbers on both
    engines. The columns derived are settled on the whole table, as there. Returns (section, RowEffects) of the
    kept rows, in row order; progress(rows done, rows) after each chunk."""
    mapping = scm_columns(scm, world.columns)
    derived = derived_columns(world, mapping, scm)
    section, effs = None, []
    for start in range(0, len(world), chunk_rows):
        idx = start + np.flatnonzero(keep[start:start + chunk_rows])
        if progress:
            progress(min(start + chunk_rows, len(world)), len(world))
        if not len(idx):
            continue
        seeded = CfConfig(config.protected, config.draws, chunk_seed(config.seed, start), config.threshold,
                          config.paths)
        part, eff = cf_fairness(world.iloc[idx], predict, scm, seeded, proba[idx], derived)
        section = section or part
        effs.append(eff)
    eff = RowEffects(np.concatenate([e.flip for e in effs]), np.concatenate([e.abs_dp for e in effs]),
                     {p: (np.concatenate([e.paths[p][0] for e in effs]), np.concatenate([e.paths[p][1] for e in effs]))
                      for p in effs[0].paths})
    groups = world[mapping[config.protected]].astype(str).to_numpy()[keep]
    section[config.protected] = effect_section(eff, groups, config.paths or default_paths(scm, config.protected))
    section["seed"] = config.seed
    return section, eff


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


def is_multiclass(frame: pd.DataFrame, label: str) -> bool:
    """Whether `label` is a column with more than two values (then a model is audited one class against the rest)."""
    return label in frame.columns and frame[label].dropna().astype(str).nunique() > 2


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
               column_map: Mapping[str, str] | None = None) -> WorldView:
    """`frame` renamed for `scm` (module `explorer.metrics.cf_fairness`, `match_variables`; ValueError on a bad map)."""
    from explorer.metrics.cf_fairness import match_variables
    from explorer.models.table_onnx import column_key

    matched = match_variables(scm.variables, list(frame.columns), dict(column_map or {}))
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
