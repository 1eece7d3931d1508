"""CSVs in other encodings (issue 21): `audit-table --encoding NAME` reads any Python text codec, a UTF-16 file with
its byte-order mark is read without it, and a file that is not UTF-8 is still refused without a guess, now naming
the option. The same rows in any of these encodings give the same report; the page's reader takes the encoding as
an argument (`uploaded_table(..., encoding=...)`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from explorer.services.audit_table_data import AuditTableError, read_csv, uploaded_table
from test_audit_table import _run  # main(argv) with the parser's SystemExit(2) read as a return code

TEXT = "sex,region,y\n" + "".join(f"{s},{r},{y}\n" for s, r, y in [("Femme é", "Île-de-France", 1),
                                                                    ("Homme", "Nord", 0), ("Femme é", "Nord", 0),
                                                                    ("Homme", "Île-de-France", 1)] * 5)
FILES = {"utf8.csv": TEXT.encode("utf-8"), "cp1252.csv": TEXT.encode("cp1252"), "utf16.csv": TEXT.encode("utf-16"),
         "utf16le.csv": TEXT.encode("utf-16-le")}  # utf-16: with its byte-order mark; utf-16-le: without


@pytest.fixture()
def files(tmp_path):
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "out").mkdir()
    return tmp_path


def _audit(files, csv: str, *extra: str) -> tuple[int, str]:
    return ["audit-table", "--csv", str(files / csv), "--predictions", "y", "--label", "y", "--protected",
            "sex,region", "--n-boot", "100", "--json", str(files / "out" / f"{csv}.json"), *extra]


def _report(files, csv: str) -> dict:
    return json.loads((files / "out" / f"{csv}.json").read_text(encoding="utf-8"))


def test_cp1252_and_utf16_give_the_utf8_report(files, capsys):
    for csv, extra in (("utf8.csv", ()), ("cp1252.csv", ("--encoding", "cp1252")), ("utf16.csv", ()),
                       ("utf16le.csv", ("--encoding", "utf-16-le"))):
        code, err = _run(_audit(files, csv, *extra), capsys)
        assert code == 0, (csv, err)
    base = _report(files, "utf8.csv")
    assert set(base["groups"]["sex"]) == {"Femme é", "Homme"} and "Île-de-France" in base["groups"]["region"]
    for csv in ("cp1252.csv", "utf16.csv", "utf16le.csv"):
        other = _report(files, csv)
        for key in ("overall", "groups", "intersections", "fairness", "reading"):
            assert other[key] == base[key], (csv, key)


@pytest.mark.parametrize("csv, extra, words", [
    ("cp1252.csv", [], "the file is not UTF-8 (byte 0xe9 at position 19); save it as 'CSV UTF-8' and try again, or "
                       "pass its encoding: try --encoding cp1252"),
    ("utf16le.csv", [], "looks like UTF-16 text without a byte-order mark; try --encoding utf-16-le"),
    ("utf16.csv", ["--encoding", "ascii"], "the file is not ascii text (byte 0xff at position 0); pass the encoding"),
    ("utf8.csv", ["--encoding", "klingon"], "'klingon' is not a text encoding Python knows"),
    ("utf8.csv", ["--encoding", "base64"], "'base64' is not a text encoding Python knows"),  # bytes to bytes
])
def test_refusals_are_one_line_exit_2_and_nothing_written(files, capsys, csv, extra, words):
    code, err = _run(_audit(files, csv, "--rows", str(files / "out" / "r.csv"), *extra), capsys)
    lines = [line for line in err.splitlines() if line.strip() and "auditing" not in line]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], err
    assert not list((files / "out").iterdir())


def test_encoding_is_for_a_csv_only(files, capsys):
    code, err = _run(["audit-table", "--table", "german", "--predictions", "credit", "--protected", "sex",
                      "--encoding", "cp1252", "--json", str(files / "out" / "g.json")], capsys)
    assert code == 2 and "--encoding is a CSV's text encoding" in err and not list((files / "out").iterdir())


def test_the_pages_reader_takes_the_encoding():
    table = uploaded_table(FILES["cp1252.csv"], "t.csv", encoding="cp1252")
    assert list(table.frame["sex"].unique()) == ["Femme é", "Homme"]
    pd.testing.assert_frame_equal(uploaded_table(FILES["utf16.csv"], "t.csv").frame, table.frame)  # its mark
    with pytest.raises(AuditTableError, match=r"not UTF-8 \(byte 0xe9 at position 19\); save it as 'CSV UTF-8' and "
                                              r"try again\.$"):  # no encoding: refused as before
        uploaded_table(FILES["cp1252.csv"], "t.csv")
    with pytest.raises(AuditTableError, match="is not a text encoding Python knows"):
        uploaded_table(FILES["utf8.csv"], "t.csv", encoding="nope")
    pd.testing.assert_frame_equal(read_csv(FILES["cp1252.csv"], "cp1252"), table.frame)
