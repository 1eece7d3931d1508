"""Per-row results and 95 % intervals of a text audit (explorer/audit.py).

An auditor needs two things beyond the headline numbers: which texts drive them (every row's predictions from
both models, to open in a spreadsheet) and how far the numbers could move with another sample of texts (a
bootstrap interval). Rows that share a `group` (the same person, the same document) are resampled together,
as the evaluation resamples the template persons (explorer/metrics/bootstrap.py); without one, each row is
its own unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.metrics.bootstrap import bootstrap_means, interval

MIN_UNITS = 2  # an interval over one unit would be a point, which reads as certainty


@dataclass
class RowData:
    """What the audit computed for each audited row; the optional parts are None when the file lacks them."""

    row_no: np.ndarray  # (N,) the file's data-row numbers
    texts: list[str]
    groups: list[str]  # (N,) resampling units
    classes: tuple[str, ...]
    p_o: np.ndarray  # (N, C) O on the text
    p_cf: np.ndarray  # (N, C) CF on the text
    has_cf: np.ndarray | None = None  # (N,) bool: the row has a true counterfactual text
    text_cf: list[str] | None = None  # (N,) as in the file ("" where missing)
    p_o_x_cf: np.ndarray | None = None  # (has_cf.sum(), C) O on the true counterfactual texts
    concept: np.ndarray | None = None  # (N,) 1 / 0 / -1 (unreadable)
    labels: np.ndarray | None = None  # (N,) class index / -1 (unreadable)


def _mean_interval(values: np.ndarray, groups: list[str]) -> list[float] | None:
    if len(set(groups)) < MIN_UNITS:
        return None
    return list(interval(bootstrap_means(values, groups)[:, 0]))


def _conexp_interval(p: np.ndarray, concept: np.ndarray, groups: list[str]) -> list[float] | None:
    """CONEXP is a contrast of two group means: each replicate recomputes both from resampled sums."""
    if len(set(groups)) < MIN_UNITS:
        return None
    c = concept[:, None].astype(float)  # (N, 1)
    n_classes = p.shape[1]
    b = bootstrap_means(np.hstack([p * c, c, p * (1 - c), 1 - c]), groups)  # (B, 2C + 2)
    with np.errstate(invalid="ignore", divide="ignore"):  # a replicate without one of the two groups: NaN
        ones = b[:, :n_classes] / b[:, n_classes:n_classes + 1]
        zeros = b[:, n_classes + 1:2 * n_classes + 1] / b[:, -1:]
    reps = np.abs(ones - zeros).mean(1)  # (B,)
    reps = reps[np.isfinite(reps)]
    return list(interval(reps)) if len(reps) >= len(b) // 2 else None


def intervals(d: RowData) -> dict[str, list[float]]:
    """{metric: [low, high]}: 95 % bootstrap intervals of the metrics the rows allow."""
    groups = np.asarray(d.groups)
    out = {"treate": _mean_interval(np.abs(d.p_o - d.p_cf).mean(1), d.groups)}
    if d.p_o_x_cf is not None:
        per_row = np.abs(d.p_o[d.has_cf] - d.p_o_x_cf).mean(1)  # (n,)
        out["ate_gt"] = _mean_interval(per_row, list(groups[d.has_cf]))
    if d.concept is not None:
        ok = d.concept >= 0
        out["conexp"] = _conexp_interval(d.p_o[ok], d.concept[ok], list(groups[ok]))
    if d.labels is not None:
        ok = d.labels >= 0
        hits = np.stack([d.p_o[ok].argmax(1) == d.labels[ok], d.p_cf[ok].argmax(1) == d.labels[ok]], 1)  # (n, 2)
        if len(set(groups[ok])) >= MIN_UNITS:
            b = bootstrap_means(hits.astype(float), list(groups[ok]))  # (B, 2): the same draws for O and CF
            out["acc_o"], out["acc_cf"] = list(interval(b[:, 0])), list(interval(b[:, 1]))
    return {k: v for k, v in out.items() if v is not None}


def row_table(d: RowData) -> pd.DataFrame:
    """One line per audited row: both models' classes and probabilities, and what the optional columns add."""
    classes = d.classes
    table = {"row": d.row_no, "text": d.texts}
    if len(set(d.groups)) < len(d.groups):  # the file had groups: keep them next to the text
        table["group"] = d.groups
    table |= {"o_says": [classes[i] for i in d.p_o.argmax(1)], "cf_says": [classes[i] for i in d.p_cf.argmax(1)],
              "o_cf_difference": np.abs(d.p_o - d.p_cf).mean(1)}
    table |= {f"p_o_{c}": d.p_o[:, k] for k, c in enumerate(classes)}
    table |= {f"p_cf_{c}": d.p_cf[:, k] for k, c in enumerate(classes)}
    if d.labels is not None:
        table["label"] = [classes[i] if i >= 0 else "" for i in d.labels]
    if d.concept is not None:
        table["concept"] = [int(c) if c >= 0 else None for c in d.concept]
    if d.p_o_x_cf is not None:
        says = np.full(len(d.texts), "", dtype=object)
        change = np.full(len(d.texts), np.nan)
        says[d.has_cf] = [classes[i] for i in d.p_o_x_cf.argmax(1)]
        change[d.has_cf] = np.abs(d.p_o[d.has_cf] - d.p_o_x_cf).mean(1)
        table |= {"text_cf": d.text_cf, "o_says_on_text_cf": says, "o_change_to_text_cf": change}
    return pd.DataFrame(table)
