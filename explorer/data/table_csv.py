"""Reading a user's table (CSV or Parquet) for a model audit: the whole file, columns typed, one clear error.

UTF-8 (with or without a byte-order mark) only for now: a file in another encoding is refused with what to
do, rather than guessed (the text audit's reader guesses Windows-1252 for texts; a table's category names
must match the model's exactly, so a wrong guess would silently become an unknown category).

Parquet (`read_table_parquet`, by pyarrow) carries its own types: numbers stay numbers, strings and dictionary
columns become categories. A nested column (a struct, list or map per cell) is refused, naming it: an audit reads
one value per cell, and flattening it is a choice (which field? which element?) the owner of the data should make.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from explorer.data.upload_csv import BINARY

PARQUET_MAGIC = b"PAR1"  # a Parquet file starts (and ends) with these bytes


class TableReadError(ValueError):
    """The file cannot be read as a table; the message says why and what to do."""


def read_table_csv(path: str | Path | BinaryIO) -> pd.DataFrame:
    """Every row of a CSV with a header; numbers as numbers, the rest as strings (missing cells as NaN)."""
    try:
        head = _head(path)
        frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True, low_memory=False)
    except pd.errors.EmptyDataError:
        raise TableReadError("the file is empty; pass a CSV whose first line names the columns") from None
    except UnicodeDecodeError as err:
        _refuse_binary(head)  # a workbook or UTF-16 text said as such, not as "byte 0xff"
        raise TableReadError(f"the file is not UTF-8 (byte {err.object[err.start]:#04x} at position {err.start}); "
                             "save it as 'CSV UTF-8' and try again") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise TableReadError(f"the file cannot be read as CSV ({' '.join(str(err).split())[:200]})") from None
    except OSError as err:
        raise TableReadError(f"the file cannot be read ({err.strerror or err})") from None
    _refuse_binary(head)  # NUL bytes would otherwise become values of the table
    if frame.empty:
        raise TableReadError("the file has a header but no rows; pass a CSV with rows to audit")
    # the header as written: pandas renames a repeated name (sex, sex.1) without a word
    names = [n.strip() for n in next(csv.reader([head.split(b"\n", 1)[0].decode("utf-8-sig", "replace")]), [])]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise TableReadError(f"the header names the column {doubled[0]!r} more than once; give each column its own "
                             "name and try again")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _head(source: str | Path | BinaryIO, size: int = 65536) -> bytes:
    """The file's first bytes (a path, or the page's in-memory file, left at its start)."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            return handle.read(size)
    source.seek(0)
    head = source.read(size)
    source.seek(0)
    return head


def _refuse_binary(head: bytes) -> None:
    """TableReadError for UTF-16 text, a workbook, a PDF or other binary data, named by the file's first bytes."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TableReadError("the file is UTF-16 text (Excel's 'Unicode text'), not UTF-8; save it as 'CSV UTF-8' "
                             "and try again")
    for magic, what in BINARY.items():
        if head.startswith(magic):
            raise TableReadError(f"the file is {what}, not a CSV; save it as 'CSV UTF-8' and try again")
    if b"\x00" in head:
        raise TableReadError("the file holds binary data (NUL bytes), not CSV text; save it as 'CSV UTF-8' and "
                             "try again")


def _nested(field: pa.Field) -> bool:
    t = field.type
    return pa.types.is_nested(t) or (pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type))


def read_table_parquet(source: str | Path | BinaryIO) -> pd.DataFrame:
    """Every row of a Parquet file (a path or an open binary file); TableReadError for a file that is not Parquet,
    one with nested columns (named), or one without rows."""
    try:
        handle = pq.ParquetFile(source)
        nested = [f"{f.name} ({f.type})" for f in handle.schema_arrow if _nested(f)]
        if nested:
            raise TableReadError(f"the Parquet file has nested column(s) {', '.join(nested)[:200]}; the audit reads "
                                 "one value per cell: flatten them into plain columns (one per field) and try again")
        frame = handle.read().to_pandas()
    except (pa.ArrowException, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise TableReadError(f"the file cannot be read ({err.strerror or err})") from None
        raise TableReadError(f"the file cannot be read as Parquet ({' '.join(str(err).split())[:200]})") from None
    if frame.empty:
        raise TableReadError("the Parquet file has no rows; pass one with rows to audit")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)
