"""The page "Audit a model": the recourse a visitor finds on the One row tab goes into the report's downloads (JSON,
HTML, PDF), rendered as the command line's `--recourse` section; found through the page (AppTest) and the service."""

from __future__ import annotations

import json

import pytest
from apptest_pages import FIRST_LOAD, no_exceptions, open_page

from explorer.services.audit_table_page import AuditRequest, AuditTableService, ModelChoice, shipped_table
from explorer.services.audit_table_recourse import RecourseService

PAGE = "pages/audit_model.py"
ROW = 28  # rejected by adult-logreg; both searches answer it, the baseline's answer inconsistent with the graph


@pytest.fixture(scope="module")
def found():
    """The audit (300 rows, no counterfactual fairness), row 28's recourse with the default settings and with one
    change at most, and the view rebuilt with both."""
    service = AuditTableService()
    view = service.compute(service.plan(shipped_table("adult"), AuditRequest("income", ">50K", ("sex",), rows=300,
                                                                             cf=False),
                                        ModelChoice("shipped", "adult-logreg")))
    recourse = RecourseService(service)
    values = {k: s.default for k, s in recourse.controls().items()}
    rows = [recourse.find(view, ROW, values), recourse.find(view, ROW, {**values, "max_changes": 1})]
    locked = recourse.find(view, ROW, {k: (0 if k.startswith("act_") else v) for k, v in values.items()})
    return view, rows, locked, recourse.report(view, [*rows, locked])


def test_the_json_holds_each_answer_with_cost_success_graph_check_and_time(found):
    view, rows, locked, with_found = found
    assert "recourse" not in view.report and "causal_graph" not in view.report  # the audit's own view: untouched
    rec = json.loads(with_found.json)["recourse"]
    assert rec["rows"] == 3 and [e["row"] for e in rec["examples"]] == [ROW] * 3
    first = rec["examples"][0]
    for method in ("causal", "noncausal"):
        want = rows[0].answers[method]
        assert first[method]["cost"] == want["cost"] and first[method]["found"] == want["found"]
        assert first[method]["seconds"] == want["seconds"] > 0
    assert first["noncausal"]["inconsistent"] is True and first["causal"]["p_after"] >= 0.5
    assert first["settings"]["max_changes"] == 2 and rec["examples"][1]["settings"]["max_changes"] == 1
    assert rec["examples"][2]["settings"]["actionable"] == [] and not rec["examples"][2]["causal"]["found"]
    assert rec["causal"]["queries"] == 3 and rec["causal"]["found"] == 2  # every column locked: no answer
    assert rec["noncausal"]["inconsistent_rate"] == pytest.approx(
        sum(r.answers["noncausal"]["inconsistent"] for r in rows) / 2)
    assert "different settings" in rec["note"] and any("For 2 of 3 rejected rows" in s for s in rec["reading"])
    assert rec["matching"]["by_map"] == {} and with_found.report["causal_graph"]["name"]  # the graph it followed


def test_the_html_and_pdf_render_the_command_line_s_recourse_section(found):
    from explorer.evaluate.audit_table_pdf import to_pdf

    _, rows, _, with_found = found
    html = with_found.html.decode()
    assert "<h2>Recourse</h2>" in html and f"<h3>Row {ROW}</h3>" in html and "<h2>Causal graph used</h2>" in html
    assert f"<td>non-causal</td><td>found</td><td class=\"n\">{rows[0].answers['noncausal']['cost']:.2f}</td>" in html
    assert "inconsistent</td>" in html and "every column is locked" in html
    assert "Searched with at most 1 change(s)" in html and "Find recourse" in html
    pdf = to_pdf(with_found.report, compress=False)
    assert with_found.pdf.startswith(b"%PDF") and len(with_found.pdf) > 0
    for words in (b"Recourse", f"Row {ROW}".encode(), b"Searched with at most 1 change", b"inconsistent"):
        assert words in pdf, words


def test_on_the_page_find_recourse_then_the_downloads_hold_it():
    at = open_page(PAGE, {"data": "adult", "model": "adult-logreg", "protected": "sex", "rows": "300", "cf": "0",
                          "audit": "1", "row": str(ROW)})
    assert not any("recourse you found" in c.value for c in at.caption)
    at.button(key="audit_model_recourse").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert any(f"1 search (row {ROW})" in c.value for c in at.caption)
    job = at.session_state["_at_job"]
    built = at.session_state["_at_recourse_report"][1]
    assert "recourse" not in job.view.report  # the audit's view kept; the downloads' is rebuilt
    assert built.report["recourse"]["examples"][0]["row"] == ROW and b"<h2>Recourse</h2>" in built.html
    assert '"recourse"' in built.json and built.pdf.startswith(b"%PDF")
    other = int(next(i for i in range(ROW + 1, 300) if job.view.rows["prediction"].iloc[i] == 0))
    at.number_input(key="at_row").set_value(other).run()  # another row: the answer found stays in the report
    no_exceptions(at)
    assert any(f"1 search (row {ROW})" in c.value for c in at.caption)
    at.button(key="audit_model_recourse").click().run(timeout=FIRST_LOAD)  # and this row's answer joins it
    no_exceptions(at)
    assert any(f"2 searches (rows {ROW}, {other})" in c.value for c in at.caption)
    assert [e["row"] for e in at.session_state["_at_recourse_report"][1].report["recourse"]["examples"]] == [ROW, other]
