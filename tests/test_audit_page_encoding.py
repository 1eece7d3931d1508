"""The page "Audit a model" and a CSV that is not UTF-8: the refusal says so, an "Encoding" select box appears under
the uploader, the same upload is read again in the encoding chosen, and the report's data section names it (with
each column's type, `column_types`, as the command line writes it)."""

from __future__ import annotations

import json

from apptest_pages import FIRST_LOAD, no_exceptions, open_page
from test_audit_table import _run  # the command line as a test runs it: (exit status, stderr)

from explorer.services.audit_table_data import ENCODINGS, column_types
from explorer.services.audit_table_page import AuditRequest, AuditTableService, ModelChoice, shipped_table, \
    uploaded_table

PAGE = "pages/audit_model.py"
N = 300
CP1252 = next(label for label, name in ENCODINGS.items() if name == "cp1252")


def _cp1252() -> bytes:
    """Adult's first N rows with a column of words Excel writes in Windows-1252 (é is 0xe9 there, not UTF-8)."""
    frame = shipped_table("adult").frame.head(N).assign(remarque=["café", "naïve", "résumé"] * (N // 3))
    return frame.to_csv(index=False).encode("cp1252")


def test_the_service_reads_the_encoding_given_and_says_it_as_the_command_line_does(tmp_path, capsys):
    data = _cp1252()
    (tmp_path / "t.csv").write_bytes(data)
    code, err = _run(["audit-table", "--csv", str(tmp_path / "t.csv"), "--encoding", "cp1252", "--shipped",
                      "adult-logreg", "--label", "income", "--positive", ">50K", "--protected", "sex",
                      "--json", str(tmp_path / "cli.json")], capsys)
    assert code == 0, err
    cli = json.loads((tmp_path / "cli.json").read_text())
    table = uploaded_table(data, "t.csv", "cp1252")
    assert table.encoding == "cp1252" and list(table.frame["remarque"][:3]) == ["café", "naïve", "résumé"]
    view = AuditTableService().compute(AuditTableService().plan(
        table, AuditRequest("income", ">50K", ("sex",), rows=N, cf=False), ModelChoice("shipped", "adult-logreg")))
    data_section = view.report["data"]
    assert data_section["encoding"] == "cp1252" and "(read as cp1252)" in data_section["source"]
    assert data_section["column_types"] == cli["data"]["column_types"]  # every column, as the command line's
    assert data_section["column_types"]["remarque"] == "category" and data_section["column_types"]["age"] == "number"
    assert data_section["types_corrected"] == {}
    for key in ("overall", "groups", "fairness"):
        assert view.report[key] == cli[key], key
    assert uploaded_table(b"a,b\n1,2\n", "u.csv").encoding == "utf-8"  # said for every CSV upload


def test_corrected_types_are_in_the_report_as_the_command_line_writes_them():
    table = shipped_table("adult")
    categories = tuple(c for c, k in column_types(table.frame).items() if k == "category") + ("age",)
    view = AuditTableService().compute(AuditTableService().plan(
        table, AuditRequest("income", None, ("sex",), rows=200, categories=categories, cf=False),
        ModelChoice("predictions", "income")))
    assert view.report["data"]["types_corrected"] == {"age": "category"}
    assert view.report["data"]["column_types"]["age"] == "category" and "encoding" not in view.report["data"]


def test_on_the_page_a_cp1252_upload_is_refused_then_read_in_the_encoding_chosen():
    at = open_page(PAGE)
    at.selectbox(key="at_data").set_value("upload").run()
    assert not [s for s in at.selectbox if s.key == "atopt_encoding"]  # no upload yet: no encoding asked
    at.file_uploader(key="audit_model_csv").set_value(("excel.csv", _cp1252(), "text/csv")).run()
    no_exceptions(at)
    assert len(at.error) == 1 and "is not UTF-8" in at.error[0].value and "Encoding" in at.error[0].value
    picker = at.selectbox(key="atopt_encoding")
    assert picker.label == "Encoding" and picker.value == next(iter(ENCODINGS)) and CP1252 in picker.options
    picker.set_value(CP1252).run()
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="atopt_encoding").value == CP1252  # still shown: it can be changed again
    at.selectbox(key="at_label").set_value("income").run()
    at.multiselect(key="at_protected").set_value(["sex"]).run()
    at.toggle(key="at_cf").set_value(False).run()
    at.button(key="audit_model_run").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    data = json.loads(at.session_state["_at_job"].view.json)["data"]
    assert data["encoding"] == "cp1252" and data["column_types"]["remarque"] == "category"
    assert "data" not in at.query_params  # an upload is never in a link
    at.file_uploader(key="audit_model_csv").set_value(("plain.csv", b"a,b,y\n1,x,1\n2,z,0\n", "text/csv")).run()
    no_exceptions(at)
    assert not at.error and not [s for s in at.selectbox if s.key == "atopt_encoding"]  # a new file: UTF-8 again
