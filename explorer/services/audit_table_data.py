"""The tables the page "Audit a model" audits: a shipped table's test split or a visitor's upload, and its columns.

Split from `audit_table_page.py` (the page's service) to keep each file short; that module re-exports these names.
Column types are inferred, shown and correctable (`columns`, `retype`); an upload is capped and read by
`explorer.data.table_csv`, never written to disk.
"""

from __future__ import annotations

import codecs
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from explorer.data import file_size
from explorer.data.table_csv import PARQUET_MAGIC, TableReadError, read_table_csv, read_table_parquet
from explorer.data.tables import read_table
from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.evaluate.audit_table import positive_value

TABLES = {"adult": "Adult census income (test split)", "compas": "COMPAS recidivism (test split)",
          "german": "German credit (test split)"}
CATEGORY, NUMBER = "category", "number"
# the kinds a column is read as, by the page's names and the table specs' (explorer/data/tables.py) synonyms
KINDS = {CATEGORY: CATEGORY, "categorical": CATEGORY, NUMBER: NUMBER, "continuous": NUMBER}


class AuditTableError(ValueError):
    """The page cannot audit what was asked; the message says what went wrong and what to do."""


@dataclass(frozen=True)
class TableChoice:
    """The rows to audit and what the page proposes for them.

    Attributes:
        name: a shipped table's name, or the uploaded file's name; shipped: whether it can go in a link.
        frame: every row (a shipped table: its complete test rows, in file order).
        label, protected: the proposed label and protected columns (None / () for an upload: the visitor says).
    """

    name: str
    frame: pd.DataFrame
    shipped: bool
    source: str
    label: str | None = None
    protected: tuple[str, ...] = ()
    encoding: str | None = None  # an uploaded CSV's text encoding, as read (the report's `data.encoding`)


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the page shows it: its inferred type, distinct and missing values, a few examples."""

    name: str
    kind: str
    distinct: int
    missing: int
    examples: str




# --- the table -----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=len(TABLES))  # read once per process; nothing changes the frame (retype copies)
def shipped_table(name: str) -> TableChoice:
    """A shipped table's complete test rows (as `--table NAME`), its target and its sensitive columns."""
    if name not in TABLES:
        raise AuditTableError(f"There is no shipped table called {name!r}; choose one of {', '.join(TABLES)}.")
    table = read_table(name)
    frame = table.rows("test", complete=True).reset_index(drop=True)
    return TableChoice(name, frame, True, f"the {name} table's test split (complete rows)", table.target,
                       table.sensitive)


def uploaded_table(data: bytes, filename: str, encoding: str | None = None) -> TableChoice:
    """An uploaded CSV (a header; UTF-8, UTF-16 with a byte-order mark, or `encoding`: `read_csv`) or Parquet file
    (flat columns), at most MAX_UPLOAD_BYTES; AuditTableError says what is wrong (a CSV that is not UTF-8:
    `NOT_UTF8` in the message, and the page offers ENCODINGS). Parquet is told by its first bytes (PAR1) or
    its name, so a renamed file is read as it is."""
    parquet = data[:4] == PARQUET_MAGIC or filename.lower().endswith((".parquet", ".pq"))
    if len(data) > MAX_UPLOAD_BYTES:
        raise AuditTableError(f"The file {filename} is {file_size(len(data))}; the page reads tables up to "
                              f"{file_size(MAX_UPLOAD_BYTES)}. Upload its first rows, or audit the whole file with "
                              f"`python -m explorer audit-table {'--parquet' if parquet else '--csv'} FILE ...`.")
    if data[:4] in (b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0"):
        raise AuditTableError(f"The file {filename} is a workbook, an archive or a PDF, not a CSV or Parquet file. "
                              "Save the table as “CSV UTF-8” (or Parquet) and upload that.")
    if parquet and encoding:
        raise AuditTableError(f"The file {filename} is Parquet, which carries its own text encoding: choose "
                              f"{DEFAULT_ENCODING}.")
    try:
        frame = read_table_parquet(io.BytesIO(data)) if parquet else read_csv(data, encoding)
    except TableReadError as err:
        raise AuditTableError(f"The file {filename} cannot be read: {err}.") from None
    if parquet:
        return TableChoice(filename, frame, False, f"the uploaded file {filename}")
    used = encoding or next((name for bom, name in BOMS if data.startswith(bom)), "utf-8")
    return TableChoice(filename, frame, False, f"the uploaded file {filename}" +
                       (f" (read as {used})" if encoding else ""), encoding=used)


NOT_UTF8 = "is not UTF-8"  # in the refusal of a CSV in another encoding: the page then offers ENCODINGS
DEFAULT_ENCODING = "UTF-8 (or UTF-16 with its byte-order mark)"
ENCODINGS = {DEFAULT_ENCODING: None, "Windows-1252 (cp1252, Western European Excel)": "cp1252",
             "Latin-1 (ISO-8859-1)": "latin-1", "ISO-8859-15 (Latin-9, with €)": "iso-8859-15",
             "UTF-16-LE (no byte-order mark)": "utf-16-le", "UTF-16-BE (no byte-order mark)": "utf-16-be",
             "Windows-1250 (Central European)": "cp1250", "Windows-1251 (Cyrillic)": "cp1251",
             "Mac Roman": "mac-roman", "Shift JIS (Japanese)": "shift_jis", "GB18030 (Chinese)": "gb18030"}

BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32's marks first: UTF-16's little-endian one begins UTF-32's


def check_encoding(name: str) -> str:
    """`name` when Python decodes text with it (cp1252, latin-1, utf-16...); TableReadError (one line) otherwise."""
    try:
        "".encode(name)  # LookupError for an unknown name and for bytes-to-bytes codecs (base64, rot13...)
    except LookupError:
        raise TableReadError(f"{name!r} is not a text encoding Python knows; pass one such as cp1252 (Windows' Western "
                         "European), latin-1, utf-16 or shift_jis") from None
    return name


def read_csv(source: bytes | str | Path, encoding: str | None = None, hint: str | None = None) -> pd.DataFrame:
    """Every row of a CSV (a path, or the file's bytes), read by `table_csv.read_table_csv` once it is UTF-8 text.

    encoding: any Python text codec (`check_encoding`); None: UTF-8, or UTF-16 / UTF-32 when the file starts with
        their byte-order mark (Excel's "Unicode text"). Another encoding is never guessed: a wrong guess would turn
        a category's name into another one the model never saw.
    hint: what to do about a file that is not UTF-8, said after the refusal (the command line: "try --encoding
        cp1252"); None: the refusal as `read_table_csv` says it.
    Raises TableReadError saying what is wrong and what to do.
    """
    head = source[:4] if isinstance(source, bytes) else _first_bytes(source)
    encoding = encoding or next((name for bom, name in BOMS if head.startswith(bom)), None)
    if encoding is None:
        try:
            return read_table_csv(io.BytesIO(source) if isinstance(source, bytes) else source)
        except TableReadError as err:  # table_csv's own refusal of bytes that are not UTF-8, with what to try
            if hint and str(err).startswith("the file is not UTF-8"):
                raise TableReadError(f"{str(err).split(';')[0]}; {hint}") from None
            if hint and len(head) == 4 and head[0] and not head[1] and head[2] and not head[3]:  # "s\0e\0"
                raise TableReadError("the file looks like UTF-16 text without a byte-order mark; try --encoding "
                                     "utf-16-le") from None
            raise
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        text = data.decode(check_encoding(encoding))
    except UnicodeError as err:
        where = f" (byte {err.object[err.start]:#04x} at position {err.start})" if isinstance(err, UnicodeDecodeError) \
            else ""
        raise TableReadError(f"the file is not {encoding} text{where}; pass the encoding it was saved in") from None
    return read_table_csv(io.BytesIO(text.removeprefix("\ufeff").encode("utf-8")))


def _first_bytes(path: str | Path, size: int = 4) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def columns(frame: pd.DataFrame) -> list[ColumnInfo]:
    """Each column's inferred type: a number when every filled cell is one, else a category."""
    out = []
    for name in frame.columns:
        col = frame[name]
        kind = NUMBER if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype) \
            else CATEGORY
        shown = ", ".join(map(str, col.dropna().unique()[:3]))
        out.append(ColumnInfo(str(name), kind, int(col.nunique()), int(col.isna().sum()), shown))
    return out


def retype(frame: pd.DataFrame, categories: tuple[str, ...] | None) -> pd.DataFrame:
    """`frame` with `categories` read as text and every other column as numbers (None: as inferred)."""
    if categories is None:
        return frame
    out = frame.copy()
    for info in columns(frame):
        if info.name in categories and info.kind == NUMBER:
            out[info.name] = frame[info.name].map(lambda v: v if pd.isna(v) else
                                                  (str(int(v)) if float(v).is_integer() else str(v)))
        elif info.name not in categories and info.kind == CATEGORY:
            numbers = pd.to_numeric(frame[info.name].astype(object), errors="coerce")
            bad = frame[info.name].notna() & numbers.isna()
            if bad.any():
                raise AuditTableError(f"Column {info.name} cannot be read as numbers: row {int(bad.idxmax())} holds "
                                      f"{str(frame[info.name][bad].iloc[0])!r}. Keep it a category, or fix the file.")
            out[info.name] = numbers
    return out


def column_types(frame: pd.DataFrame) -> dict[str, str]:
    """{column: "category" or "number"}: how each column is read (`columns`), as the report lists them."""
    return {info.name: info.kind for info in columns(frame)}


def retype_columns(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """The page's correction (`retype`) given column by column, as the command line's `--types COLUMN=KIND` gives
    it: {column: a KINDS name}; the other columns as inferred. AuditTableError for a column not in the table, an
    unknown kind, or a column that cannot be read as numbers (the first cell that is not one named)."""
    names = [str(c) for c in frame.columns]
    for col, kind in kinds.items():
        if col not in names:
            raise AuditTableError(f"--types names the column {col!r}, which is not in the table (its columns: "
                                  f"{', '.join(names)})")
        if kind not in KINDS:
            raise AuditTableError(f"--types {col}={kind}: a column is read as one of {', '.join(KINDS)}")
    asked = {col: KINDS[kind] for col, kind in kinds.items()}
    return retype(frame, tuple(c for c, k in column_types(frame).items() if asked.get(c, k) == CATEGORY))


def about_table(table: TableChoice, frame: pd.DataFrame) -> dict:
    """What the report's `data` says of the audited rows `frame` (the table's first rows, retyped): the source, an
    upload's encoding, each column's kind and the kinds the visitor corrected (the command line's `column_types` and
    `types_corrected`)."""
    inferred = column_types(table.frame)
    kinds = column_types(frame)
    first = f", its first {len(frame):,}" if len(frame) < len(table.frame) else ""
    return {"source": table.source + first, **({"encoding": table.encoding} if table.encoding else {}),
            "column_types": kinds, "types_corrected": {c: k for c, k in kinds.items() if inferred.get(c) != k}}


def variables_to_confirm(table_columns) -> dict[str, str | None]:
    """{census variable: the column proposed for it} for the variables no column matches by name (the page asks the
    visitor to confirm a mapping; "not in my table" is an answer): the closest name, or None."""
    from explorer.models.table_onnx import column_key, propose_inputs
    from explorer.scm.census import CENSUS_COLUMNS

    cols = [str(c) for c in table_columns]
    matched = {column_key(c) for c in cols}
    return {v: p for v, p in propose_inputs(CENSUS_COLUMNS, cols).items() if column_key(v) not in matched}


def label_values(frame: pd.DataFrame, label: str) -> tuple[list[str], str | None]:
    """The label's values (when it has two) and the one the command line would take as positive (or None)."""
    values = sorted(frame[label].dropna().astype(str).unique()) if label in frame.columns else []
    if len(values) != 2:
        return values, None
    try:
        return values, positive_value(frame[label], None)
    except ValueError:
        return values, None
