"""Reading a user's table (CSV) for a model audit: the whole file, columns typed by pandas, one clear error.

UTF-8 (with or without a byte-order mark) only for now: a file in another encoding is refused with what to
do, rather than guessed (the text audit's reader guesses Windows-1252 for texts; a table's category names
must match the model's exactly, so a wrong guess would silently become an unknown category).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


class TableReadError(ValueError):
    """The file cannot be read as a table; the message says why and what to do."""


def read_table_csv(path: str | Path) -> pd.DataFrame:
    """Every row of a CSV with a header; numbers as numbers, the rest as strings (missing cells as NaN)."""
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True, low_memory=False)
    except pd.errors.EmptyDataError:
        raise TableReadError("the file is empty; pass a CSV whose first line names the columns") from None
    except UnicodeDecodeError as err:
        raise TableReadError(f"the file is not UTF-8 (byte {err.object[err.start]:#04x} at position {err.start}); "
                             "save it as 'CSV UTF-8' and try again") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise TableReadError(f"the file cannot be read as CSV ({' '.join(str(err).split())[:200]})") from None
    except OSError as err:
        raise TableReadError(f"the file cannot be read ({err.strerror or err})") from None
    if frame.empty:
        raise TableReadError("the file has a header but no rows; pass a CSV with rows to audit")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
