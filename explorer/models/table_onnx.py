"""Tabular ONNX classifiers run by onnxruntime: one named input per column in, the positive class's probability out.

The file is read and checked by `explorer.data.upload_onnx.read_onnx` (size, format, no custom operators, no
external data, the ONNX checker) with a 100 MB cap, then run by onnxruntime on one thread. Each model input is
matched to a table column by name, ignoring case, hyphens, underscores and spaces (`marital_status` =
`Marital-Status`), because exporters keep a training frame's column names and tables spell them differently.

Outputs, in order of preference: a probability tensor ((n, 2): the second column; (n, 1) or (n,): itself), a
ZipMap (skl2onnx's default: a list of {class: probability}), or a 0/1 label (then the "probability" is 0 or 1
and the caller is told through `.output_kind`). Anything else is refused with what to do instead. A model that
fails on some rows (onnxruntime stops, or NaN) raises `RowFailure`; `score_rows` finds those rows and says why.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import onnxruntime as ort
import pandas as pd

from explorer.data import file_size
from explorer.data.upload_onnx import OnnxUploadError, first_line, ort_session, read_onnx

MAX_BYTES = 100 * 2**20  # 100 MB: a gradient-boosted model of thousands of trees stays well below it
PROBE_EXPORT = ("Export it with a probability output (skl2onnx: `options={'zipmap': False}` gives an (n, 2) "
                "float tensor) or a 0/1 label.")
_FLOATS = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_INTS = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
NAN = "the model returns NaN for this row"
SINGLES = 16  # a failing part this small is tried row by row (halving it would cost more failing runs)
MAX_DIAGNOSED = 200  # rows per batch whose failing column is looked for (one run per input each; the rest reuse)


class RowFailure(ValueError):
    """The model fails on some of the rows it was given: onnxruntime stops, or it returns NaN. The message is the
    whole batch's; `reason` the short cause ("its OneHotEncoder node: Unknown Category ..." or NAN); `batch` the
    batch's inputs, to find the rows (`score_rows`) and say why each fails (`Batch.explain`)."""

    def __init__(self, message: str, reason: str = "", batch: Batch | None = None):
        super().__init__(message)
        self.reason, self.batch = reason or message, batch


def column_key(name: str) -> str:
    """The form names are compared in: lower case without hyphens, underscores, dots or spaces."""
    return re.sub(r"[-_\s.]", "", name).lower()


def check_map(mapping: Mapping[str, str], columns: Sequence[str], names: Sequence[str], what: str, owner: str) -> None:
    """`--map column=name` checked against the table and `owner`'s names (`what`: "model input", "variable"):
    ValueError (one line) for a column not in the table, a name `owner` does not have, or one name given twice."""
    for col, name in mapping.items():
        if col not in columns:
            raise ValueError(f"--map names column {col!r}, which is not in the table (its columns: "
                             f"{', '.join(columns)})")
        if name not in names:
            raise ValueError(f"--map names {what} {name!r}, which {owner} does not have (its "
                             f"{what.split()[-1]}s: {', '.join(names)})")
    targets = list(mapping.values())
    twice = sorted({n for n in targets if targets.count(n) > 1})
    if twice:
        raise ValueError(f"--map maps several columns ({', '.join(c for c, n in mapping.items() if n == twice[0])}) "
                         f"to the {what} {twice[0]!r}; map one column to each {what.split()[-1]}")


def match_columns(inputs: Sequence[str], columns: Sequence[str],
                  input_map: Mapping[str, str] | None = None) -> dict[str, str]:
    """{model input: table column}: `input_map` ({column: input}, confirmed by the user: `--map column=input`) first,
    then by `column_key`; ValueError naming inputs that match no column, or a map naming what does not exist."""
    input_map, cols = dict(input_map or {}), [str(c) for c in columns]
    check_map(input_map, cols, inputs, "model input", "the model")
    by_key: dict[str, list[str]] = {}
    for c in cols:
        by_key.setdefault(column_key(c), []).append(c)
    out = {i: c for c, i in input_map.items()}
    missing = [i for i in inputs if i not in out and column_key(i) not in by_key]
    if missing:
        raise ValueError(f"the model's input(s) {', '.join(missing)} match no column of the table (its columns: "
                         f"{', '.join(cols)}); rename the column to the input's name (case, hyphens and underscores "
                         "do not matter), map it (`--map column=input`, or the page's mapping) or export the model "
                         "with one named input per column")
    twice = [i for i in inputs if i not in out and len(by_key[column_key(i)]) > 1]
    if twice:
        raise ValueError(f"the model's input {twice[0]} matches several columns ({', '.join(by_key[column_key(twice[0])])}); "
                         "rename or drop all but one of them, or map one (`--map column=input`)")
    return out | {i: by_key[column_key(i)][0] for i in inputs if i not in out}


def propose_inputs(inputs: Sequence[str], columns: Sequence[str]) -> dict[str, str | None]:
    """{model input: the column proposed for it}: the column of the same `column_key`, else the closest name
    (difflib, ratio >= 0.6), else None; a guess the user confirms, never applied unseen."""
    keys = {column_key(str(c)): str(c) for c in columns}
    out: dict[str, str | None] = {}
    for i in inputs:
        near = difflib.get_close_matches(column_key(i), list(keys), n=1, cutoff=0.6)
        out[i] = keys.get(column_key(i)) or (keys[near[0]] if near else None)
    return out


class TableOnnxModel:
    """A binary classifier over table rows, run by onnxruntime (no gradients).

    Attributes:
        name: shown in reports (the file's stem, or the shipped folder's name).
        inputs: {input name: onnxruntime type}, e.g. {"sex": "tensor(string)", "age": "tensor(float)"}.
        output_kind: "probability" or "label", known after the first `predict_proba`.
    """

    def __init__(self, data: bytes, name: str):
        if len(data) > MAX_BYTES:  # said here: read_onnx's own message speaks of image classifiers
            raise OnnxUploadError(f"the file is {file_size(len(data))}; a table model may be up to "
                                  f"{file_size(MAX_BYTES)}. Export a smaller one (e.g. fewer or shallower trees)")
        model = read_onnx(data, max_bytes=MAX_BYTES)  # OnnxUploadError (a ValueError) says what is wrong
        self.name = name
        self.session = ort_session(model.SerializeToString())
        self.inputs = {i.name: i.type for i in self.session.get_inputs()}
        self._ranks = {i.name: len(i.shape) for i in self.session.get_inputs()}
        unsupported = {n: t for n, t in self.inputs.items() if t != "tensor(string)" and t not in _FLOATS | _INTS}
        if unsupported:
            raise OnnxUploadError(f"the model's input(s) {', '.join(f'{n} ({t})' for n, t in unsupported.items())} "
                                  "are neither strings nor numbers; export it with one string or number input per "
                                  "column")
        self.output_kind = ""
        self.input_map: dict[str, str] = {}  # {column: input} the user confirmed, before matching by name

    def columns(self, table_columns: Sequence[str]) -> dict[str, str]:
        """{model input: table column}; ValueError when an input has no column."""
        return match_columns(list(self.inputs), table_columns, self.input_map)

    def with_inputs(self, input_map: Mapping[str, str]) -> TableOnnxModel:
        """A copy (sharing the session) that reads `input_map`'s columns ({column: input}) for those inputs."""
        other = copy.copy(self)
        other.input_map = dict(input_map)
        return other

    def feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """{input: the column as the input wants it}; ValueError for a missing value or text for a number (a fault of
        the whole column, said once, not a row the model fails on)."""
        return {i: self._feed(i, frame[c]) for i, c in self.columns(list(frame.columns)).items()}

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, object]]:
        """(output name, value) of every output; RowFailure when onnxruntime fails on these rows."""
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # fatal only: the failure is said once, in the error below
        try:
            outputs = self.session.run(None, dict(feeds), quiet)
        except Exception as err:  # onnxruntime's errors share no base class beyond Exception
            reason = _run_error(err)
            raise RowFailure(f"the model fails on the table's rows ({reason}); a category it never saw, or an input "
                             "of the wrong shape, are the usual causes: check those columns' values, or export the "
                             "model so that it takes them (e.g. OneHotEncoder(handle_unknown='ignore'))",
                             reason) from None
        return list(zip([o.name for o in self.session.get_outputs()], outputs))

    def predict_labels(self, frame: pd.DataFrame) -> np.ndarray:
        """(n,) the predicted class of every row, as text (a multiclass model's label output, or the class of
        highest probability in a ZipMap); ValueError when the model gives neither, RowFailure (with the `Batch` to
        find the rows) when it fails on some rows."""
        feeds = self.feeds(frame)
        try:
            return self.labels_of(feeds, len(frame))
        except RowFailure as err:
            batch = Batch(self, feeds, "labels", self.columns(list(frame.columns)))
            raise RowFailure(str(err), err.reason, batch) from None

    def labels_of(self, feeds: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """`predict_labels` of ready feeds (n rows)."""
        outputs = self.run(feeds)
        for name, out in outputs:
            arr = None if isinstance(out, list) else np.asarray(out)
            if arr is not None and arr.shape[:1] == (n,) and arr.size == n and arr.dtype.kind in "iuUOb":
                return arr.reshape(-1).astype(str).astype(object)
        for name, out in outputs:
            if isinstance(out, list) and out and isinstance(out[0], dict):
                return np.asarray([str(max(row, key=row.get)) for row in out], dtype=object)
        raise ValueError("the model gives no class label per row (an (n,) label output or a ZipMap); export it "
                         "with its label output (skl2onnx does by default)")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """(n,) float64 probability of the positive class (label 1) for every row of `frame`; RowFailure (with the
        `Batch` to find the rows) when the model fails on some rows or returns NaN for them."""
        if not len(frame):
            return np.zeros(0)
        feeds = self.feeds(frame)
        try:
            return self.proba_of(feeds, len(frame), nan_ok=False)
        except RowFailure as err:
            batch = Batch(self, feeds, "proba", self.columns(list(frame.columns)))
            raise RowFailure(str(err), err.reason, batch) from None

    def proba_of(self, feeds: Mapping[str, np.ndarray], n: int, nan_ok: bool = True) -> np.ndarray:
        """`predict_proba` of ready feeds (n rows); NaN where the model returns it when `nan_ok`."""
        pairs = self.run(feeds)
        names, outputs = [name for name, _ in pairs], [out for _, out in pairs]
        for kind in ("probability", "label"):
            for name, out in zip(names, outputs):
                p = _read_output(out, kind, n)
                if p is not None:
                    if np.isnan(p).any() and not nan_ok:
                        raise RowFailure(f"the model returns NaN for {int(np.isnan(p).sum())} of {len(p)} rows "
                                         f"(output {name}); check those rows' values or the model", NAN)
                    self.output_kind = kind
                    return p
        shapes = ", ".join(f"{k} {np.shape(o) if not isinstance(o, list) else 'list'}" for k, o in zip(names, outputs))
        wide = [np.shape(o)[1] for o in outputs if not isinstance(o, list) and np.ndim(o) == 2 and np.shape(o)[1] > 2]
        if wide:
            raise ValueError(f"the model gives {wide[0]} classes ({shapes}); a multiclass model is audited one class "
                             "against the rest with a label column that holds those classes (more than two values)")
        raise ValueError(f"the model's outputs ({shapes}) are neither a probability in [0, 1] nor a 0/1 label. "
                         + PROBE_EXPORT)

    def _feed(self, name: str, col: pd.Series) -> np.ndarray:
        """A column as the input wants it: (n, 1) (or (n,) for a rank-1 input) strings or numbers; no NaN."""
        if col.isna().any():
            raise ValueError(f"column {col.name} has {int(col.isna().sum())} missing value(s), which the model's "
                             f"input {name} cannot take; drop or fill those rows first")
        kind = self.inputs[name]
        if kind == "tensor(string)":
            values = col.astype(str).to_numpy(dtype=object)
        else:
            try:
                values = pd.to_numeric(col.astype(object)).to_numpy((_FLOATS | _INTS)[kind])
            except (TypeError, ValueError):
                raise ValueError(f"the model's input {name} takes numbers, but column {col.name} holds text such "
                                 f"as {str(col.iloc[0])!r}; pass a table whose {col.name} is numeric") from None
        return values if self._ranks[name] == 1 else values.reshape(-1, 1)


def _run_error(err: Exception) -> str:
    """onnxruntime's run failure as "its OneHotEncoder node: Unknown Category ...", without status codes, source
    locations and C++ signatures (which say nothing to the user and push the useful words past the cut)."""
    text = " ".join(str(err).split())
    found = re.search(r"running (\w+) node\..*?Status Message: (?:/\S+:\d+ (?:\S+\(.*?\) )?)?(.*)", text)
    return f"its {found[1]} node: {found[2][:300].rstrip('.')}" if found else first_line(err)


def _read_output(out: object, kind: str, n: int) -> np.ndarray | None:
    """One output as (n,) positive-class probabilities when it is of `kind`, else None."""
    if kind == "probability" and isinstance(out, list) and out and isinstance(out[0], dict):  # ZipMap
        keys = sorted(out[0])
        return np.asarray([row[keys[-1]] for row in out], np.float64) if len(keys) == 2 and len(out) == n else None
    arr = np.asarray(out) if not isinstance(out, list) else None
    if arr is None or arr.shape[:1] != (n,) or arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] not in (1, 2)):
        return None
    if kind == "probability" and arr.dtype.kind == "f":
        p = arr[:, -1] if arr.ndim == 2 else arr
        finite = p[np.isfinite(p)]
        return p.astype(np.float64) if ((finite >= 0) & (finite <= 1)).all() else None
    if kind == "label" and arr.dtype.kind in "iub" and arr.ndim - (arr.ndim == 2 and arr.shape[1] == 1) == 1:
        labels = arr.reshape(n)
        return labels.astype(np.float64) if np.isin(labels, (0, 1)).all() else None
    return None


@dataclass(frozen=True)
class Batch:
    """Rows the model failed on, as its inputs: run again on any subset (by position) and explained row by row.

    Attributes:
        model: the model; feeds: {input: (n, 1) or (n,) values}; kind: "proba" or "labels" (what `run` returns);
        columns: {input: the table column it reads}, so an explanation names the user's column.
    """

    model: TableOnnxModel
    feeds: dict[str, np.ndarray]
    kind: str
    columns: dict[str, str]

    def run(self, idx: np.ndarray) -> np.ndarray:
        """The rows `idx`: (k,) probabilities (NaN where the model returns NaN) or labels; RowFailure when
        onnxruntime fails on one of them."""
        return self.run_feeds({k: v[idx] for k, v in self.feeds.items()})

    def _value(self, name: str, i: int) -> object:
        value = np.asarray(self.feeds[name][i]).reshape(-1)[0]
        return value.item() if isinstance(value, np.generic) else value

    def _culprit(self, i: int, good: int) -> str | None:
        """The first input whose value in row `i`, put into row `good` (which the model scores), fails there too."""
        for name in self.feeds:
            sub = {k: v[[good]] for k, v in self.feeds.items()}
            sub[name] = self.feeds[name][[i]]
            try:
                out = self.run_feeds(sub)
            except RowFailure:
                return name
            if out.dtype.kind == "f" and np.isnan(out).any():
                return name
        return None

    def run_feeds(self, sub: Mapping[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(sub.values())))  # `run` on feeds of its own (a row with one value swapped)
        return self.model.proba_of(sub, n) if self.kind == "proba" else self.model.labels_of(sub, n)

    def explain(self, failed: Mapping[int, str], good: int | None) -> dict[int, str]:
        """{position: why the model fails on it, in plain words}. `failed`: {position: the run's reason}; `good`: a
        row the model scores (None: the reasons are kept). A value that fails in the good row too is named
        (a category never seen, a number giving NaN); the value found is reused for the other rows holding it."""
        known: list[tuple[str, object, str]] = []  # (input, value, sentence)
        out, tried = {}, 0
        for i, reason in sorted(failed.items()):
            hit = next((text for name, value, text in known if self._value(name, i) == value), None)
            if hit is None and good is not None and tried < MAX_DIAGNOSED:
                tried += 1
                name = self._culprit(i, good)
                if name is not None:
                    hit = self._sentence(name, self._value(name, i), reason)
                    known.append((name, self._value(name, i), hit))
            out[i] = hit or (NAN if reason == NAN else f"the model fails on this row ({reason})")
        return out

    def _sentence(self, name: str, value: object, reason: str) -> str:
        col, shown = self.columns.get(name, name), repr(value) if isinstance(value, str) else f"{value:g}"
        if reason == NAN:
            return f"the model returns NaN when column {col} is {shown}"
        if self.model.inputs[name] == "tensor(string)" and "unknown" in reason.lower():
            return f"category {shown} of column {col} was never seen by the model"
        return f"the value {shown} of column {col} makes the model fail ({reason})"


@dataclass(frozen=True)
class Scored:
    """Rows scored one by one where the model fails on some.

    Attributes:
        values: (n,) probabilities (NaN where the model fails) or labels (None where it fails).
        errors: {position in the rows: why the model fails on it}, empty when every row was scored.
        message: the whole batch's error when some rows failed (the audit's error when every row fails).
        complete: False when `budget` failing rows were found before every row was tried (values NaN there).
    """

    values: np.ndarray
    errors: dict[int, str]
    message: str = ""
    complete: bool = True


def locate(run: Callable[[np.ndarray], np.ndarray], n: int,
           budget: int | None = None) -> tuple[np.ndarray, dict[int, str], bool]:
    """(values, {position: reason}, complete) of n rows by bisection: a part that fails is halved, a part of at most
    SINGLES rows tried row by row, so a few failing rows among many cost about 2 x failing x log2(n) runs and every
    row failing about 1.1 n runs (a failing run costs onnxruntime about 0.5 ms). `budget`: stop once that many rows
    are found failing (the audit refuses then whatever the rest); `complete` is False when it stopped so."""
    values, errors, stack = None, {}, [np.arange(n)]
    while stack and (budget is None or len(errors) < budget):
        idx = stack.pop()
        try:
            part = np.asarray(run(idx))
        except RowFailure as err:
            if len(idx) == 1:
                errors[int(idx[0])] = err.reason
            elif len(idx) <= SINGLES:
                stack += [idx[i:i + 1] for i in range(len(idx) - 1, -1, -1)]
            else:
                stack += [idx[len(idx) // 2:], idx[:len(idx) // 2]]
            continue
        if values is None:
            values = np.full(n, np.nan) if part.dtype.kind == "f" else np.full(n, None, object)
        values[idx] = part
    return (np.full(n, np.nan) if values is None else values), errors, not stack


def score_rows(predict: Callable[[pd.DataFrame], np.ndarray], rows: pd.DataFrame,
               budget: int | None = None) -> Scored:
    """`predict(rows)`, and where it fails (RowFailure: onnxruntime stops, or NaN) the rows it fails on, each with
    a plain reason (`locate`, with its `budget`). Any other ValueError (a column's missing values, text for a
    number) is the whole table's and propagates."""
    batch, message, complete = None, "", True
    try:
        values, errors = np.asarray(predict(rows)), {}
    except RowFailure as err:
        batch, message = err.batch, str(err)
        run = batch.run if batch is not None else (lambda idx: np.asarray(predict(rows.iloc[idx])))
        values, errors, complete = locate(run, len(rows), budget)
        rest = np.array([i for i in range(len(rows)) if i not in errors], np.int64)
        if complete and len(rest):  # the rows scored, again in one run: the numbers of a batch without the others
            values[rest] = run(rest)
    if values.dtype.kind == "f":
        nan = np.flatnonzero(np.isnan(values))
        if complete:  # else NaN also marks the rows never tried
            errors |= {int(i): NAN for i in nan if int(i) not in errors}
        message = message or (f"the model returns NaN for {len(nan)} of {len(values)} rows; check those rows' "
                              "values or the model" if len(nan) else "")
    if errors and batch is not None:
        scored = np.flatnonzero(np.isfinite(values) if values.dtype.kind == "f" else values != None)  # noqa: E711
        good = next((int(i) for i in scored if int(i) not in errors), None)  # a row the model scores
        errors = batch.explain(errors, good)
    return Scored(values, errors, message, complete)


def load_table_model(data: bytes, name: str) -> TableOnnxModel:
    """An ONNX file's bytes as a `TableOnnxModel`; ValueError (OnnxUploadError) with what to do when it cannot be."""
    return TableOnnxModel(data, name)
