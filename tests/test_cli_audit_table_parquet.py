"""Parquet tables: `audit-table --parquet` gives the CSV's numbers on the same rows, the page reads a .parquet upload,
and a file with nested columns (written here) or one that is not Parquet is refused with one clear line."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apptest_pages import no_exceptions, open_page

from explorer.__main__ import main
from explorer.services.audit_table_page import (AuditRequest, AuditTableError, AuditTableService, ModelChoice,
                                                shipped_table, uploaded_table)

N = 300


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        return main(argv), capsys.readouterr().err
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err


def nested_parquet() -> bytes:
    """Two plain columns and two nested ones (a struct and a list per cell)."""
    table = pa.table({"sex": ["F", "M"] * 5, "y": [0, 1] * 5, "address": [{"city": "A", "zip": 1}] * 10,
                      "jobs": [["a", "b"], ["c"]] * 5})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def adult_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("parquet")
    frame = shipped_table("adult").frame.head(N)
    frame.to_csv(d / "t.csv", index=False)
    frame.to_parquet(d / "t.parquet")
    return d


def test_parquet_and_csv_of_the_same_rows_give_the_same_audit(adult_files, capsys):
    reports = {}
    for kind in ("csv", "parquet"):
        out = adult_files / f"{kind}.json"
        code, err = _run(["audit-table", f"--{kind}", str(adult_files / f"t.{kind}"), "--shipped", "adult-logreg",
                          "--label", "income", "--positive", ">50K", "--protected", "sex,race", "--n-boot", "200",
                          "--cf", "--json", str(out)], capsys)
        assert code == 0, err
        reports[kind] = json.loads(out.read_text())
    for key in ("overall", "groups", "intersections", "fairness", "cf_fairness", "reading"):
        assert reports["csv"][key] == reports["parquet"][key], key
    assert reports["parquet"]["data"]["rows"] == N


@pytest.mark.parametrize("name, words", [("nested.parquet", "nested column(s) address (struct"),
                                         ("t.csv", "cannot be read as Parquet")])
def test_a_nested_or_a_non_parquet_file_is_one_line_exit_2_nothing_written(name, words, adult_files, tmp_path,
                                                                             capsys):
    (adult_files / "nested.parquet").write_bytes(nested_parquet())
    out = tmp_path / "out"
    out.mkdir()
    code, err = _run(["audit-table", "--parquet", str(adult_files / name), "--predictions", "y", "--label", "y",
                      "--protected", "sex", "--json", str(out / "a.json"), "--report", str(out / "r.pdf")], capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err
    assert words in err, err
    if name == "nested.parquet":
        assert "jobs (list" in err, err  # every nested column named
    assert not list(out.iterdir())


def test_the_page_reads_a_parquet_upload_and_refuses_a_nested_one(adult_files):
    data = (adult_files / "t.parquet").read_bytes()
    table = uploaded_table(data, "t.parquet")
    assert len(table.frame) == N and list(table.frame.columns) == list(shipped_table("adult").frame.columns)
    service = AuditTableService()
    from_parquet = service.compute(service.plan(table, AuditRequest("income", ">50K", ("sex",), rows=N, cf=False),
                                                ModelChoice("shipped", "adult-gbm")))
    from_csv = service.compute(service.plan(uploaded_table((adult_files / "t.csv").read_bytes(), "t.csv"),
                                            AuditRequest("income", ">50K", ("sex",), rows=N, cf=False),
                                            ModelChoice("shipped", "adult-gbm")))
    assert from_parquet.report["groups"] == from_csv.report["groups"]
    with pytest.raises(AuditTableError, match=r"nested column\(s\) address .* flatten them") as caught:
        uploaded_table(nested_parquet(), "nested.parquet")
    assert str(caught.value).endswith(".")
    with pytest.raises(AuditTableError, match="cannot be read as Parquet"):
        uploaded_table(b"PAR1 and then nothing a Parquet reader wants", "broken.csv")  # told by its first bytes


def test_a_nested_parquet_upload_on_the_page_is_a_red_message():
    at = open_page("pages/audit_model.py")
    at.selectbox(key="at_data").set_value("upload").run()
    at.file_uploader(key="audit_model_csv").set_value(("nested.parquet", nested_parquet(),
                                                       "application/octet-stream")).run()
    no_exceptions(at)
    assert any("nested column" in e.value and "flatten" in e.value for e in at.error), [e.value for e in at.error]
