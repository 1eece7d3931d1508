"""Audit your own texts: a CSV in, the concept effects of one shipped CausaLM model on it out.

Each row's `text` goes through both task models of the chosen pair, O and CF (the encoder trained to forget
the concept); the optional columns `label`, `concept` and `text_cf` each unlock one more number:
- TReATE: mean |P_O(y|text) - P_CF(y|text)|, CausaLM's estimate of the concept's effect (needs only `text`);
- ATE_gt: mean |P_O(y|text) - P_O(y|text_cf)|, the effect measured on true counterfactuals (needs `text_cf`);
- CONEXP: the O model's contrast between rows with concept 1 and 0 (needs `concept`, both values present);
- accuracy of O and CF (needs `label`, a class name or its index);
- `group` (optional): rows that belong together (one person, one document) for the 95 % intervals.
Every row's predictions and the intervals come from explorer/audit_rows.py.

Reading the file (encodings, separators, bad files): `explorer/data/upload_csv.py`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from explorer.metrics.audit_rows import RowData, intervals, row_table
from explorer.datasets.text_tasks import LEVELS
from explorer.data.upload_csv import OPTIONAL, AuditError, read_audit_csv  # noqa: F401  (re-exported)
from explorer.metrics.effects import ate_gt, conexp, treate
from explorer.registry import load_text_pair

MODELS = {"emotion-gender": "gender", "emotion-race": "race", "sentiment-adjectives": "adjectives"}
DEFAULT_MODEL = "emotion-gender"
DEFAULT_LEVEL = "balanced"
BATCH = 256  # texts per model call: the progress bar moves every ~1 s on a 2-core CPU
N_LARGEST = 5
COMMAND = "python -m explorer audit-text --csv FILE --model {model} --json report.json"
CONCEPT_VALUES = {"gender": "1 = the person is female, 0 = male", "race": "1 = a Black-associated name, "
                  "0 = a white-associated one", "adjectives": "1 = the text is rich in adjectives, 0 = not"}
METRIC_WORDS = {  # what each number means, for reports and the page
    "ate_gt": "ATE_gt: how much the original model's class probabilities move from each text to its true "
              "counterfactual (mean absolute difference over rows and classes)",
    "treate": "TReATE: how much the original and the counterfactual model disagree on the same text, "
              "CausaLM's estimate of the concept's effect without any rewritten text",
    "conexp": "CONEXP: the original model's mean probabilities on rows with concept 1 minus those with "
              "concept 0; a correlation, not an effect",
    "acc_o": "accuracy of the original model (O)",
    "acc_cf": "accuracy of the counterfactual model (CF)",
}
METRIC_NAMES = {"ate_gt": "ATE_gt", "treate": "TReATE", "conexp": "CONEXP", "acc_o": "accuracy O",
                "acc_cf": "accuracy CF"}  # as the page's effects table names them
MODEL_WORDS = {"emotion-gender": "Emotion classifier, gender models", "emotion-race": "Emotion classifier, race models",
               "sentiment-adjectives": "Review sentiment classifier, adjectives models"}
_SYNONYMS = {"positive": "fresh", "pos": "fresh", "negative": "rotten", "neg": "rotten"}
_TRUE, _FALSE = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}


def interval_words(grouped: bool) -> str:
    """What the intervals are, for reports and the page; `grouped`: the file had a `group` column."""
    how = ("rows sharing a `group` are resampled together" if grouped
           else "each row on its own; add a `group` column to resample rows that belong together as one")
    return (f"95 % bootstrap intervals (2,000 resamples of the rows; {how}): how far each number could move "
            "with another sample of texts like these.")


# --- models ---------------------------------------------------------------------------------------------
def parse_model_name(name: str) -> tuple[str, str, str]:
    """"emotion-race:gentle" -> ("emotion-race", "race", "gentle"); the level defaults to balanced."""
    base, _, level = (name or DEFAULT_MODEL).strip().partition(":")
    if base not in MODELS:
        raise AuditError(f"Unknown model {base!r}; choose from {', '.join(MODELS)} (optionally with "
                         f":{'|:'.join(LEVELS)}).")
    level = level or DEFAULT_LEVEL
    if level not in LEVELS:
        raise AuditError(f"Unknown bias level {level!r} for {base}; choose from {', '.join(LEVELS)}.")
    return base, MODELS[base], level


def model_names() -> list[str]:
    """Every model name the audit accepts, the default first."""
    return [f"{m}:{lv}" for m in MODELS for lv in LEVELS]


def model_for(concept: str, level: str) -> str:
    """The audit model of a concept and bias level: ("race", "gentle") -> "emotion-race:gentle"."""
    return next(f"{m}:{level}" for m, c in MODELS.items() if c == concept)


def describe_model(name: str) -> str:
    """"emotion-race:gentle" -> "Emotion classifier, race models, gentle bias level (emotion-race:gentle)"."""
    base, _, level = parse_model_name(name)
    return f"{MODEL_WORDS[base]}, {level} bias level ({name})"


@dataclass
class AuditModel:
    """What an audit needs from a model; tests pass cheap fakes through the same fields."""

    name: str  # "<model>:<level>"
    concept: str
    classes: tuple[str, ...]
    predict: Callable[[list[str]], dict[str, np.ndarray]]  # texts -> {"o": (N, C), "cf": (N, C)}
    count_tokens: Callable[[list[str]], list[int]] | None = None
    max_len: int | None = None


def pair_model(pair, name: str, lock: threading.Lock | None = None) -> AuditModel:
    """A loaded CausalmPair behind the audit interface; `lock` serialises calls shared with other users."""
    base, concept, level = parse_model_name(name)
    lock = lock or threading.Lock()

    def predict(texts: list[str]) -> dict[str, np.ndarray]:
        with lock:  # per batch, so a long audit does not hold other visitors' what-ifs for its whole run
            return pair.predict(texts, level)

    def count(texts: list[str]) -> list[int]:
        with lock:
            return pair.count_tokens(texts).n_tokens

    return AuditModel(f"{base}:{level}", concept, tuple(pair.classes), predict, count, pair.base.cfg.max_len)


def load_audit_model(name: str = DEFAULT_MODEL, folder: Path | None = None) -> AuditModel:
    """Loads the named pair from `pretrained/` (CheckpointError / BaseModelMissing on faults)."""
    _, concept, _ = parse_model_name(name)
    return pair_model(load_text_pair(concept, folder), name)


# --- auditing -------------------------------------------------------------------------------------------
@dataclass
class AuditReport:
    """The numbers of one audit, how many rows each used, and what could not be computed and why."""

    model: str
    concept: str
    classes: tuple[str, ...]
    n_rows: int  # data rows in the file
    n_audited: int  # rows that went through the models
    metrics: dict[str, float | None]
    n_used: dict[str, int]
    notes: list[str] = field(default_factory=list)
    largest: list[dict] = field(default_factory=list)  # rows where O and CF disagree most
    seconds: float = 0.0
    intervals: dict[str, list[float]] = field(default_factory=dict)  # metric -> 95 % [low, high]
    rows: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # one line per audited row

    @property
    def grouped(self) -> bool:
        """Whether the audited file had groups (its per-row table then carries them)."""
        return self.rows is not None and "group" in self.rows

    def to_dict(self) -> dict:
        """Everything but the per-row table (`to_rows_csv`), as JSON-ready values."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rows"}
        out["metrics"] = {k: _finite(v) for k, v in self.metrics.items()}
        out["classes"] = list(self.classes)
        out["intervals"] = {k: [float(x) for x in v] for k, v in self.intervals.items()}
        return out

    def to_rows_csv(self) -> str:
        """Every audited row with both models' predictions (and what the optional columns add), as CSV."""
        return "" if self.rows is None else self.rows.to_csv(index=False, float_format="%.4f")

    def interval_text(self, key: str, digits: int = 4) -> str:
        low_high = self.intervals.get(key)
        return "" if not low_high else f"{low_high[0]:.{digits}f}–{low_high[1]:.{digits}f}"

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """The report as a Markdown document (what the page offers for download)."""
        lines = [f"# Text audit: {self.model}", "",
                 f"{self.n_audited:,} of {self.n_rows:,} rows audited in {self.seconds:.1f} s; "
                 f"classes: {', '.join(self.classes)}.", "", "| metric | value | 95 % interval | rows | meaning |",
                 "|---|---|---|---|---|"]
        for key, words in METRIC_WORDS.items():
            value = self.metrics.get(key)
            shown = "not computed" if _finite(value) is None else f"{value:.4f}"
            lines.append(f"| {METRIC_NAMES[key]} | {shown} | {self.interval_text(key)} | {self.n_used.get(key, 0):,} "
                         f"| {words} |")
        lines += ["", f"Intervals: {interval_words(self.grouped)}"]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        if self.largest:
            lines += ["", "## Rows where the two models disagree most", "", "| row | O says | CF says | "
                      "mean abs. difference | text |", "|---|---|---|---|---|"]
            for r in self.largest:
                text = r["text"].replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {r['row']} | {r['o']} | {r['cf']} | {r['difference']:.3f} | {text} |")
        return "\n".join(lines) + "\n"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _predict(model: AuditModel, texts: list[str], batch_size: int, progress, done: int, total: int,
             ) -> dict[str, np.ndarray]:
    """{"o": (N, C), "cf": (N, C)} for `texts`, `batch_size` at a time, reporting progress(done, total)."""
    parts: dict[str, list[np.ndarray]] = {"o": [], "cf": []}
    for i in range(0, len(texts), batch_size):
        out = model.predict(texts[i:i + batch_size])
        for which in parts:
            parts[which].append(np.asarray(out[which], dtype=np.float64))
        if progress is not None:
            progress(done + min(i + batch_size, len(texts)), total)
    c = len(model.classes)
    return {w: np.concatenate(v) if v else np.zeros((0, c)) for w, v in parts.items()}


def _rows(mask: np.ndarray, row_no: np.ndarray, limit: int = 5) -> str:
    """"3, 8, 12 and 4 more": the file's data-row numbers (1-based) of the first few True entries of a mask."""
    idx = [str(int(row_no[i])) for i in np.flatnonzero(mask)[:limit]]
    more = int(mask.sum()) - len(idx)
    return ", ".join(idx) + (f" and {more:,} more" if more > 0 else "")


def _labels(values: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    """Class indices from names (any case; positive/negative for sentiment) or indices; -1 when unknown."""
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    lookup |= {k: lookup[v] for k, v in _SYNONYMS.items() if v in lookup}
    lookup |= {str(i): i for i in range(len(classes))}
    return np.array([lookup.get(v.strip().lower(), -1) for v in values.astype(str)], dtype=np.int64)


def _binary(values: pd.Series) -> np.ndarray:
    """1 / 0 from 1, 0, true, false, yes, no (any case); -1 for anything else."""
    low = [v.strip().lower() for v in values.astype(str)]
    return np.array([1 if v in _TRUE else 0 if v in _FALSE else -1 for v in low], dtype=np.int64)


def audit(frame: pd.DataFrame, model: str | AuditModel = DEFAULT_MODEL, max_rows: int | None = None,
          batch_size: int = BATCH, progress: Callable[[int, int], None] | None = None) -> AuditReport:
    """Runs one model pair over the texts of `frame` (from `read_audit_csv`) and computes what the columns allow.

    Args:
        frame: `text` and optional `label`, `concept`, `text_cf` columns, as strings.
        model: A model name ("emotion-gender", "emotion-race:aggressive", ...) or a ready AuditModel.
        max_rows: Audit only the first rows (the page's cap); the report says so.
        batch_size: Texts per model call.
        progress: Called with (texts done, texts in all) after every batch.

    Returns:
        The report. Metrics that cannot be computed are None, with a note saying why.
    """
    start = time.perf_counter()
    model = load_audit_model(model) if isinstance(model, str) else model
    notes = list(frame.attrs.get("notes", []))
    # the file's data-row numbers (read_audit_csv leaves out rows it cannot read, so they may have gaps)
    numbers = np.asarray(frame.attrs.get("row_numbers", np.arange(1, len(frame) + 1)))
    n_rows = int(frame.attrs.get("n_file_rows", len(frame)))  # rows read_audit_csv left out count too
    if max_rows is not None and len(frame) > max_rows:
        notes.append(f"The file has {len(frame):,} readable rows; the first {max_rows:,} were audited here. For "
                     f"all of them run `{COMMAND.format(model=model.name)}`.")
        frame, numbers = frame.iloc[:max_rows], numbers[:max_rows]
    filled = (frame["text"].astype(str).str.strip() != "").to_numpy()
    row_no = numbers[filled]  # (N,) the file's data-row number of every audited text
    if not filled.all():
        notes.append(f"{int((~filled).sum()):,} row(s) with an empty text were skipped "
                     f"(rows {_rows(~filled, numbers)}).")
    frame = frame[filled]
    if frame.empty:
        raise AuditError("No row of the file has a text to audit: the `text` column is empty.")
    run = _Run(frame, model, row_no, batch_size, progress, notes)
    run.ground_truth()
    run.correlation()
    run.accuracy()
    run.truncation()
    return AuditReport(model.name, model.concept, tuple(model.classes), n_rows, len(frame), run.metrics,
                       run.n_used, notes, run.largest(), time.perf_counter() - start,
                       {k: v for k, v in intervals(run.data).items() if _finite(run.metrics[k]) is not None},
                       row_table(run.data))


class _Run:
    """One audit in progress: the texts' predictions, then one method per metric (each notes why it cannot)."""

    def __init__(self, frame: pd.DataFrame, model: AuditModel, row_no: np.ndarray, batch_size: int,
                 progress: Callable[[int, int], None] | None, notes: list[str]):
        self.frame, self.model, self.row_no, self.notes = frame, model, row_no, notes
        self.batch_size, self.progress = batch_size, progress
        self.texts = frame["text"].astype(str).tolist()
        self.has_cf = frame["text_cf"].astype(str).str.strip().ne("").to_numpy() if "text_cf" in frame else None
        self.total = len(self.texts) + (int(self.has_cf.sum()) if self.has_cf is not None else 0)
        self.probs = _predict(model, self.texts, batch_size, progress, 0, self.total)  # {"o", "cf"}: (N, C)
        self.metrics: dict[str, float | None] = {k: None for k in METRIC_WORDS}
        self.n_used = {k: 0 for k in METRIC_WORDS}
        self.metrics["treate"], self.n_used["treate"] = treate(self.probs["o"], self.probs["cf"]), len(self.texts)
        groups = frame["group"].astype(str).str.strip().tolist() if "group" in frame else [""] * len(frame)
        # a row without a group is a unit of its own
        groups = [g if g else f"row {n}" for g, n in zip(groups, row_no)]
        self.data = RowData(row_no, self.texts, groups, tuple(model.classes), self.probs["o"], self.probs["cf"])

    def rows(self, mask: np.ndarray) -> str:
        return _rows(mask, self.row_no)

    def ground_truth(self) -> None:
        has_cf = self.has_cf
        if has_cf is None or not has_cf.any():
            why = "has no `text_cf` column" if has_cf is None else "has an empty `text_cf` in every row"
            self.notes.append(f"ATE_gt was not computed: the file {why} (each text's true counterfactual, e.g. "
                              "the same sentence with the person's name swapped).")
            return
        n = int(has_cf.sum())
        p_x_cf = _predict(self.model, self.frame["text_cf"].astype(str)[has_cf].tolist(), self.batch_size,
                          self.progress, self.total - n, self.total)["o"]  # (n, C): O on the true counterfactuals
        self.metrics["ate_gt"], self.n_used["ate_gt"] = ate_gt(self.probs["o"][has_cf], p_x_cf), n
        self.data.has_cf, self.data.p_o_x_cf = has_cf, p_x_cf
        self.data.text_cf = self.frame["text_cf"].astype(str).tolist()
        if not has_cf.all():
            self.notes.append(f"ATE_gt uses the {n:,} rows with a `text_cf`; rows {self.rows(~has_cf)} have none.")

    def correlation(self) -> None:
        values = CONCEPT_VALUES[self.model.concept]
        if "concept" not in self.frame:
            self.notes.append(f"CONEXP was not computed: the file has no `concept` column ({values}).")
            return
        concept = _binary(self.frame["concept"])
        self.data.concept = concept
        ok = concept >= 0
        if not ok.all():
            self.notes.append(f"`concept` must be 0 or 1 (also true/false, yes/no); rows {self.rows(~ok)} were "
                              "left out of CONEXP.")
        if not (concept[ok] == 1).any() or not (concept[ok] == 0).any():
            self.notes.append(f"CONEXP was not computed: it needs rows with concept 1 and rows with concept 0 "
                              f"({values}).")
            return
        self.metrics["conexp"], self.n_used["conexp"] = conexp(self.probs["o"][ok], concept[ok]), int(ok.sum())

    def accuracy(self) -> None:
        classes = tuple(self.model.classes)
        accepted = f"one of {', '.join(classes)}, or its index 0–{len(classes) - 1}"
        if "label" not in self.frame:
            self.notes.append(f"Accuracy was not computed: the file has no `label` column (the true class, "
                              f"{accepted}).")
            return
        labels = _labels(self.frame["label"], classes)
        self.data.labels = labels
        ok = labels >= 0
        if not ok.any():
            self.notes.append(f"Accuracy was not computed: no `label` is {accepted}.")
            return
        if not ok.all():
            self.notes.append(f"Rows {self.rows(~ok)} have a `label` that is not {accepted}; they were left out "
                              "of the accuracy.")
        for which in ("o", "cf"):
            self.metrics[f"acc_{which}"] = float((self.probs[which][ok].argmax(1) == labels[ok]).mean())
            self.n_used[f"acc_{which}"] = int(ok.sum())

    def truncation(self) -> None:
        if self.model.count_tokens is None or not self.model.max_len:
            return
        long = np.array(self.model.count_tokens(self.texts)) > self.model.max_len
        if long.any():
            self.notes.append(f"{int(long.sum()):,} text(s) are longer than the models' {self.model.max_len} word "
                              f"pieces; only their beginning was read (rows {self.rows(long)}).")

    def largest(self) -> list[dict]:
        """The rows where O and CF disagree most: where the concept matters most to the model."""
        gap = np.abs(self.probs["o"] - self.probs["cf"]).mean(1)  # (N,)
        classes = self.model.classes
        return [{"row": int(self.row_no[i]), "text": self.texts[i][:200],
                 "o": classes[int(self.probs["o"][i].argmax())], "cf": classes[int(self.probs["cf"][i].argmax())],
                 "difference": float(gap[i])} for i in np.argsort(-gap, kind="stable")[:N_LARGEST]]
