"""The tables the page "Audit a model" audits: a shipped table's test split or a visitor's upload, and its columns.

Split from `audit_table_page.py` (the page's service) to keep each file short; that module re-exports these names.
Column types are inferred, shown and correctable (`columns`, `retype`); an upload is capped and read by
`explorer.data.table_csv`, never written to disk.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import pandas as pd

from explorer.data import file_size
from explorer.data.table_csv import PARQUET_MAGIC, TableReadError, read_table_csv, read_table_parquet
from explorer.data.tables import read_table
from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.evaluate.audit_table import positive_value

TABLES = {"adult": "Adult census income (test split)", "compas": "COMPAS recidivism (test split)",
          "german": "German credit (test split)"}
CATEGORY, NUMBER = "category", "number"


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


def uploaded_table(data: bytes, filename: str) -> TableChoice:
    """An uploaded CSV (UTF-8, a header) or Parquet file (flat columns), at most MAX_UPLOAD_BYTES; AuditTableError
    says what is wrong. Parquet is told by its first bytes (PAR1) or its name, so a renamed file is read as it is."""
    parquet = data[:4] == PARQUET_MAGIC or filename.lower().endswith((".parquet", ".pq"))
    if len(data) > MAX_UPLOAD_BYTES:
        raise AuditTableError(f"The file {filename} is {file_size(len(data))}; the page reads tables up to "
                              f"{file_size(MAX_UPLOAD_BYTES)}. Upload its first rows, or audit the whole file with "
                              f"`python -m explorer audit-table {'--parquet' if parquet else '--csv'} FILE ...`.")
    if data[:4] in (b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0"):
        raise AuditTableError(f"The file {filename} is a workbook, an archive or a PDF, not a CSV or Parquet file. "
                              "Save the table as “CSV UTF-8” (or Parquet) and upload that.")
    try:
        frame = read_table_parquet(io.BytesIO(data)) if parquet else read_table_csv(io.BytesIO(data))
    except TableReadError as err:
        raise AuditTableError(f"The file {filename} cannot be read: {err}.") from None
    return TableChoice(filename, frame, False, f"the uploaded file {filename}")


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


def label_values(frame: pd.DataFrame, label: str) -> tuple[list[str], str | None]:
    """The label's values (when it has two) and the one the command line would take as positive (or None)."""
    values = sorted(frame[label].dropna().astype(str).unique()) if label in frame.columns else []
    if len(values) != 2:
        return values, None
    try:
        return values, positive_value(frame[label], None)
    except ValueError:
        return values, None
