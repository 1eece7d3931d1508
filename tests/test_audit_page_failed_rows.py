"""The page "Audit a model" and rows its model cannot score: the page scores as the command line does
(`table_onnx.score_rows` through `audit_chunk`), so on the same table and model its report lists the same failed
rows and gives the same numbers, counterfactual fairness included; half of the rows or more failing is the page's
one error message and nothing else. The models are skl2onnx pipelines whose one-hot encoder refuses categories it
never saw (handle_unknown='error'), built as tests/test_audit_failing_rows.py builds them."""

from __future__ import annotations

import json

import pytest
from apptest_pages import FIRST_LOAD, no_exceptions, upload_table_and_model
from test_audit_failing_rows import BROKEN, adult, strict, strict_country  # noqa: F401  (fixtures)
from test_audit_table import _run  # the command line as a test runs it: (exit status, stderr)

from explorer.services.audit_table_page import (AuditRequest, AuditTableError, AuditTableService, ModelChoice,
                                                uploaded_table)

COMPARED = ("overall", "groups", "intersections", "fairness", "reading")


def _plain(x):
    """NaN made comparable (JSON has none)."""
    return json.loads(json.dumps(x, default=str).replace("NaN", "null"))


def _cli(tmp_path, capsys, csv: bytes, model: bytes, protected: str, *extra: str) -> dict:
    (tmp_path / "t.csv").write_bytes(csv)
    (tmp_path / "m.onnx").write_bytes(model)
    out = tmp_path / "cli.json"
    code, err = _run(["audit-table", "--csv", str(tmp_path / "t.csv"), "--model", str(tmp_path / "m.onnx"),
                      "--label", "income", "--positive", ">50K", "--protected", protected, "--json", str(out),
                      *extra], capsys)
    assert code == 0, err
    return json.loads(out.read_text())


def test_the_page_lists_the_command_line_s_failed_rows_and_gives_its_numbers(adult, strict, tmp_path,  # noqa: F811
                                                                             capsys):
    csv = adult.to_csv(index=False).encode()
    cli = _cli(tmp_path, capsys, csv, strict, "sex,race")
    service = AuditTableService()
    plan = service.plan(uploaded_table(csv, "t.csv"), AuditRequest("income", ">50K", ("sex", "race"), rows=len(adult),
                                                                   cf=False), ModelChoice("upload", "m.onnx", strict))
    assert len([s for s in plan.steps if s[0] == "score"]) == 3  # rows 17 and 400 in the first chunk, 901 in the second
    view = service.compute(plan)
    failed = view.report["data"]["failed_rows"]
    assert failed == cli["data"]["failed_rows"] and failed["count"] == 3
    assert [e["row"] for e in failed["examples"]] == sorted(BROKEN) and "Martian" in failed["examples"][0]["error"]
    for key in COMPARED:
        assert _plain(view.report[key]) == _plain(cli[key]), key
    row = service.row(view, 17)  # a failed row: no decision, no recourse
    assert row.probability is None and "could not score" in row.decision and not row.rejected
    assert service.row(view, 16).probability is not None


def test_counterfactual_fairness_leaves_the_failed_rows_out_as_the_command_line_does(adult, strict_country,  # noqa: F811
                                                                                     tmp_path, capsys):
    head = adult.head(450)  # rows 17 and 400 fail
    csv = head.to_csv(index=False).encode()
    cli = _cli(tmp_path, capsys, csv, strict_country, "sex", "--cf")
    service = AuditTableService()
    view = service.compute(service.plan(uploaded_table(csv, "t.csv"), AuditRequest("income", ">50K", ("sex",),
                                                                                   rows=len(head)),
                                        ModelChoice("upload", "m.onnx", strict_country)))
    assert view.report["data"]["failed_rows"]["count"] == 2
    assert _plain(view.report["cf_fairness"]) == _plain(cli["cf_fairness"])
    flips = view.rows["cf_sex_flip_rate"]
    assert flips.isna().sum() == 2 and flips.iloc[[17, 400]].isna().all()


def test_half_of_the_rows_or_more_failing_is_one_message(strict, adult):  # noqa: F811
    broken = adult.head(200).copy()
    broken.loc[:119, "native_country"] = "Martian"  # 120 of 200 rows
    with pytest.raises(AuditTableError, match=r"^The model cannot score at least 100 of the 200 rows \(50.0 %\), half of them or more"):
        AuditTableService().compute(AuditTableService().plan(
            uploaded_table(broken.to_csv(index=False).encode(), "t.csv"),
            AuditRequest("income", ">50K", ("sex",), rows=200, cf=False), ModelChoice("upload", "m.onnx", strict)))


def _upload_and_run(csv: bytes, model: bytes, rows: int):
    at = upload_table_and_model(("t.csv", csv), model, "income", ["sex", "race"])
    at.number_input(key="at_rows").set_value(rows).run()
    at.toggle(key="at_cf").set_value(False).run()
    at.button(key="audit_model_run").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    return at


def test_on_the_page_the_failed_rows_are_said_and_in_the_json_report(adult, strict, tmp_path, capsys):  # noqa: F811
    csv = adult.to_csv(index=False).encode()
    cli = _cli(tmp_path, capsys, csv, strict, "sex,race")
    at = _upload_and_run(csv, strict, len(adult))
    assert not at.error, [e.value for e in at.error]
    assert any("3 rows (0.2 %) could not be scored" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "Download the report (JSON)" in [b.proto.label for b in at.get("download_button")]
    report = json.loads(at.session_state["_at_job"].view.json)  # the text the JSON download button serves
    assert report["data"]["failed_rows"] == cli["data"]["failed_rows"]
    for key in ("groups", "intersections", "fairness"):
        assert _plain(report[key]) == _plain(cli[key]), key
    broken = adult.head(200).copy()
    broken.loc[:119, "native_country"] = "Martian"
    at = _upload_and_run(broken.to_csv(index=False).encode(), strict, 200)
    assert [e.value for e in at.error] and "cannot score at least 100 of the 200 rows" in at.error[0].value
    assert len(at.error) == 1 and not at.warning and not at.tabs  # nothing else shown
