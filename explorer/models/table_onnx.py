"""Tabular ONNX classifiers run by onnxruntime: one named input per column in, the positive class's probability out.

The file is read and checked by `explorer.data.upload_onnx.read_onnx` (size, format, no custom operators, no
external data, the ONNX checker) with a 100 MB cap, then run by onnxruntime on one thread. Each model input is
matched to a table column by name, ignoring case, hyphens, underscores and spaces (`marital_status` =
`Marital-Status`), because exporters keep a training frame's column names and tables spell them differently.

Outputs, in order of preference: a probability tensor ((n, 2): the second column; (n, 1) or (n,): itself), a
ZipMap (skl2onnx's default: a list of {class: probability}), or a 0/1 label (then the "probability" is 0 or 1
and the caller is told through `.output_kind`). Anything else, or NaN, is refused with what to do instead.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from explorer.data.upload_onnx import OnnxUploadError, ort_session, read_onnx

MAX_BYTES = 100 * 2**20  # 100 MB: a gradient-boosted model of thousands of trees stays well below it
PROBE_EXPORT = ("Export it with a probability output (skl2onnx: `options={'zipmap': False}` gives an (n, 2) "
                "float tensor) or a 0/1 label.")
_FLOATS = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_INTS = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


def column_key(name: str) -> str:
    """The form names are compared in: lower case without hyphens, underscores, dots or spaces."""
    return re.sub(r"[-_\s.]", "", name).lower()


def match_columns(inputs: Sequence[str], columns: Sequence[str]) -> dict[str, str]:
    """{model input: table column}, by `column_key`; raises ValueError naming inputs that match no column."""
    by_key: dict[str, list[str]] = {}
    for c in columns:
        by_key.setdefault(column_key(str(c)), []).append(str(c))
    missing = [i for i in inputs if column_key(i) not in by_key]
    if missing:
        raise ValueError(f"the model's input(s) {', '.join(missing)} match no column of the table (its columns: "
                         f"{', '.join(map(str, columns))}); rename the column to the input's name (case, hyphens "
                         "and underscores do not matter) or export the model with one named input per column")
    twice = [i for i in inputs if len(by_key[column_key(i)]) > 1]
    if twice:
        raise ValueError(f"the model's input {twice[0]} matches several columns ({', '.join(by_key[column_key(twice[0])])}); "
                         "rename or drop all but one of them")
    return {i: by_key[column_key(i)][0] for i in inputs}


class TableOnnxModel:
    """A binary classifier over table rows, run by onnxruntime (no gradients).

    Attributes:
        name: shown in reports (the file's stem, or the shipped folder's name).
        inputs: {input name: onnxruntime type}, e.g. {"sex": "tensor(string)", "age": "tensor(float)"}.
        output_kind: "probability" or "label", known after the first `predict_proba`.
    """

    def __init__(self, data: bytes, name: str):
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

    def columns(self, table_columns: Sequence[str]) -> dict[str, str]:
        """{model input: table column}; ValueError when an input has no column."""
        return match_columns(list(self.inputs), table_columns)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """(n,) float64 probability of the positive class (label 1) for every row of `frame`."""
        if not len(frame):
            return np.zeros(0)
        feeds = {i: self._feed(i, frame[c]) for i, c in self.columns(list(frame.columns)).items()}
        outputs = self.session.run(None, feeds)
        names = [o.name for o in self.session.get_outputs()]
        for kind in ("probability", "label"):
            for name, out in zip(names, outputs):
                p = _read_output(out, kind, len(frame))
                if p is not None:
                    if np.isnan(p).any():
                        raise ValueError(f"the model returns NaN for {int(np.isnan(p).sum())} of {len(p)} rows "
                                         f"(output {name}); check those rows' values or the model")
                    self.output_kind = kind
                    return p
        shapes = ", ".join(f"{n} {np.shape(o) if not isinstance(o, list) else 'list'}" for n, o in zip(names, outputs))
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


def load_table_model(data: bytes, name: str) -> TableOnnxModel:
    """An ONNX file's bytes as a `TableOnnxModel`; ValueError (OnnxUploadError) with what to do when it cannot be."""
    return TableOnnxModel(data, name)
