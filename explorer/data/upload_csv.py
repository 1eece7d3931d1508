"""Reading an uploaded CSV of texts for the audit: encodings, separators, columns.

Encoding, decided once here: UTF-8 (with or without a byte-order mark, as Excel's "CSV UTF-8" writes it)
is read silently; UTF-16 with a byte-order mark (Excel's "Unicode text") is read with a notice. Any other
bytes are read as Windows-1252, the code page Excel's plain "CSV" uses in Western locales, with a notice
naming the first non-UTF-8 byte, because refusing those files would turn away the most common export
there is. Bytes undefined even in Windows-1252, binary files (Excel workbooks, PDFs, NUL bytes) and empty
files end in an `AuditError` whose message says what to do.

Rows with more fields than the header are left out with a note naming them: the usual cause is a text with an
unquoted comma ("Mary was late, sadly,sadness"), and no reading of such a row is safe. (pandas would silently
make the first field an index when every row has one too many, and audit "sadly" as the text.) Trailing empty
fields, as spreadsheets write them, are not counted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from explorer.data import file_size

OPTIONAL = ("label", "concept", "text_cf", "group")
# On the page (the command line takes whole files): its audit reads the first 2,000 rows, well under 1 MB of
# texts, and a bigger file would only cost the server memory to parse. Below server.maxUploadSize, which is
# the ONNX upload's 50 MB.
MAX_UPLOAD_BYTES = 10 * 2**20
BINARY = {b"PK\x03\x04": "an Excel workbook or a zip archive", b"%PDF": "a PDF document",
           b"\xd0\xcf\x11\xe0": "an old Excel (.xls) or Word file"}


class AuditError(ValueError):
    """The file or the request cannot be audited; the message says why and what to do."""


def _decode(raw: bytes) -> tuple[str, list[str]]:
    """The file's text and what the reader had to assume (see the module docstring)."""
    if not raw.strip():
        raise AuditError("The file is empty. Upload a CSV whose first line names the columns, e.g. `text,label`.")
    for magic, what in BINARY.items():
        if raw.startswith(magic):
            raise AuditError(f"This file is {what}, not a CSV. Save it as CSV (in Excel: File → Save As → "
                             "“CSV UTF-8”) and upload that.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), ["The file is UTF-16 text (Excel's “Unicode text”); it was read as such."]
        except UnicodeDecodeError as err:
            raise AuditError(f"The file starts like UTF-16 text but byte {err.start} is not valid UTF-16. "
                             "Save it as “CSV UTF-8” and upload it again.") from err
    if b"\x00" in raw[:65536]:
        raise AuditError("This file holds binary data (NUL bytes), not CSV text. Save it as “CSV UTF-8”.")
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as err:
        where = _where(raw, err.start)
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as err:
        raise AuditError(f"The file is not text in a known encoding: it is not UTF-8 ({where}) and "
                         f"{_where(raw, err.start)} is not Windows-1252 either. Save it as “CSV UTF-8” and "
                         "upload it again.") from err
    return text, [f"The file is not UTF-8 ({where}), so it was read as Windows-1252, the encoding of Excel's "
                  "plain “CSV”. If accents or quotes look wrong, save it as “CSV UTF-8” and upload it again."]


def _where(raw: bytes, at: int) -> str:
    """"byte 0xe9 on line 3": where decoding failed, for the message."""
    line = raw[:at].count(b"\n") + 1
    return f"byte 0x{raw[at]:02x} on line {line}"


def _separator(text: str) -> str:
    """Comma, or the semicolon / tab some spreadsheets write, whichever makes `text` a header column."""
    header = text.split("\n", 1)[0]
    for sep in (",", ";", "\t"):
        if "text" in (c.strip().strip('"').strip().lower() for c in header.split(sep)):
            return sep
    return ","


def read_audit_csv(data: bytes | str | Path, max_bytes: int | None = None) -> pd.DataFrame:
    """A CSV to audit, as strings, with lower-case column names; notices go in `frame.attrs["notes"]`.

    Args:
        data: The file's bytes, or a path to it.
        max_bytes: the largest file accepted (None: any; the page passes MAX_UPLOAD_BYTES).

    Returns:
        A frame with `text` and whichever of `label`, `concept`, `text_cf` the file has.

    Raises:
        AuditError: Too big, empty, binary or undecodable file; not CSV; no `text` column; no rows.
    """
    if isinstance(data, (str, Path)):
        try:
            data = Path(data).read_bytes()
        except OSError as err:
            raise AuditError(f"Cannot read {data}: {err.strerror or err}.") from err
    if max_bytes is not None and len(data) > max_bytes:
        raise AuditError(f"The file is {file_size(len(data))}; the page audits files up to {file_size(max_bytes)}. "
                         "Upload its first rows (the header and up to 2,000 texts), or audit the whole file with "
                         "`python -m explorer audit-text --csv FILE --json report.json`.")
    text, notes = _decode(bytes(data))
    frame = _frame(text, notes)
    if "text" not in frame.columns:
        found = ", ".join(f"`{c}`" for c in frame.columns[:8]) or "none"
        raise AuditError(f"The file has no column named `text` (columns found: {found}). Its first line must "
                         "name the columns, e.g. `text,label`: `text` is required; `label`, `concept` and "
                         "`text_cf` are optional.")
    if frame.empty and not frame.attrs["too_long"]:
        raise AuditError("The file has a header but no rows to audit.")
    if frame.empty:
        raise AuditError(frame.attrs["too_long"])
    if frame.attrs["too_long"]:
        notes.append(frame.attrs["too_long"] + " They were left out.")
    n_file_rows = frame.attrs["n_file_rows"]
    numbers = frame.index.to_numpy()
    frame = frame.reset_index(drop=True)
    ignored = [c for c in frame.columns if c not in ("text", *OPTIONAL)]
    if ignored:
        notes.append(f"Columns ignored: {', '.join(ignored)} (the audit reads text, label, concept, text_cf, group).")
    frame = frame[[c for c in ("text", *OPTIONAL) if c in frame.columns]]
    frame.attrs["notes"] = notes
    frame.attrs["n_file_rows"] = n_file_rows
    frame.attrs["row_numbers"] = numbers  # (len(frame),) each row's data-row number in the file
    return frame


def _frame(text: str, notes: list[str]) -> pd.DataFrame:
    """The records of `text` as a frame of strings indexed by data-row number (1 = the record after the header);
    rows with too many fields are left out and described in `frame.attrs["too_long"]` ("" when none)."""
    try:  # strict: an unclosed quote is an error, not a text running to the end of the file
        records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=_separator(text), strict=True)
                   if r]  # [] is a blank line
    except csv.Error as err:
        raise AuditError(f"The file could not be read as CSV ({err}). A text that contains commas or line breaks "
                         "must be in double quotes, as spreadsheets write it.") from err
    if not records:
        raise AuditError("The file has no columns. Its first line must name them, e.g. `text,label`.")
    width = len(records[0])
    header = [c.strip().lower() or f"(unnamed column {i + 1})" for i, c in enumerate(records[0])]
    doubled = sorted({c for c in header if header.count(c) > 1})
    if doubled:
        raise AuditError(f"The header names {', '.join(f'`{c}`' for c in doubled)} more than once; each column "
                         "needs its own name, e.g. `text,label`.")
    rows, too_long, most = {}, [], 0
    for number, record in enumerate(records[1:], start=1):
        while len(record) > width and not record[-1].strip():
            record = record[:-1]  # trailing empty fields (a spreadsheet's "text,label,,")
        if len(record) > width:
            too_long.append(number)
            most = max(most, len(record))
        else:
            rows[number] = record + [""] * (width - len(record))  # a short row: the missing fields are empty
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=header, dtype=str) if rows else \
        pd.DataFrame(columns=header, dtype=str)
    shown = ", ".join(map(str, too_long[:10])) + (f" and {len(too_long) - 10:,} more" if len(too_long) > 10 else "")
    frame.attrs["n_file_rows"] = len(records) - 1
    frame.attrs["too_long"] = "" if not too_long else (
        f"{len(too_long):,} row(s) have more fields than the header's {width} (up to {most}): rows {shown}, "
        "counted from the first row under the header. "
        "Most likely a text contains a comma and is not in double quotes; spreadsheets quote such texts when "
        "they save as CSV.")
    return frame


