"""The page "Audit a model": its service against the command line, bad inputs and AppTest (Chromium visits:
test_audit_page_browser.py).

The service's numbers must be the command line's on the same rows (the same CSV through `audit-table --csv`);
each bad input must end in a message that says what went wrong and what to do, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apptest_pages import FIRST_LOAD, no_exceptions, open_page

from explorer.__main__ import main
from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.data.upload_onnx import MAX_BYTES
from explorer.services.audit_table_page import (AuditRequest, AuditTableError, AuditTableService, ModelChoice, RowView,
                                                columns, shipped_table, uploaded_table)
from explorer.ui.audit_table_row import HELD, row_html

PAGE = "pages/audit_model.py"
ROOT = Path(__file__).resolve().parent.parent
N = 400  # rows: enough for every sex and race group of Adult, quick enough for counterfactuals


@pytest.fixture(scope="module")
def service() -> AuditTableService:
    return AuditTableService()


@pytest.fixture(scope="module")
def adult_csv() -> bytes:
    """Adult's first N complete test rows as a user's CSV (the label then has no order: --positive is needed)."""
    return shipped_table("adult").frame.head(N).to_csv(index=False).encode()


def _plain(x):
    """A report with NaN made comparable (json has no NaN; a group without positives has a NaN rate)."""
    return json.loads(json.dumps(x, default=str).replace("NaN", "null"))


# --- the service -------------------------------------------------------------------------------------------------
def test_the_page_s_numbers_are_the_command_line_s_on_the_same_csv(service, adult_csv, tmp_path, capsys):
    (tmp_path / "t.csv").write_bytes(adult_csv)
    code = main(["audit-table", "--csv", str(tmp_path / "t.csv"), "--shipped", "adult-logreg", "--label", "income",
                 "--positive", ">50K", "--protected", "sex,race", "--cf", "--json", str(tmp_path / "cli.json"),
                 "--rows", str(tmp_path / "rows.csv")])
    capsys.readouterr()
    assert code == 0
    cli = json.loads((tmp_path / "cli.json").read_text())
    table = uploaded_table(adult_csv, "t.csv")
    plan = service.plan(table, AuditRequest("income", ">50K", ("sex", "race"), rows=N),
                        ModelChoice("shipped", "adult-logreg"))
    seen, done = [], {}
    view = service.compute(plan, lambda n, total: seen.append((n, total)), done)
    for key in ("overall", "groups", "intersections", "fairness", "cf_fairness", "reading"):
        assert _plain(view.report[key]) == _plain(cli[key]), key
    assert seen[0] == (0, len(plan.steps)) and seen[-1] == (len(plan.steps), len(plan.steps)) and len(plan.steps) > 2
    rows = pd.read_csv(tmp_path / "rows.csv")
    np.testing.assert_allclose(view.rows["cf_sex_flip_rate"], rows["cf_sex_flip_rate"])
    # every headline number read out: the overall ones, the group gaps (the library's), counterfactual fairness
    assert view.groups == cli["reading"]
    assert any(f"{100 * cli['overall']['selection_rate']:.1f} %" in s for s in view.overall)
    assert any(f"{100 * cli['cf_fairness']['sex']['flip_rate']:.1f} %" in s and "another sex" in s for s in view.cf)
    assert b"<h2>Counterfactual fairness</h2>" in view.html and view.html.startswith(b"<!DOCTYPE html>")
    # an interrupted audit resumes: only the steps not done run again (here the first chunk of rows)
    partial = {step: part for step, part in done.items() if step != ("score", 0)}
    again = service.compute(plan, lambda n, total: seen.append((n, total)), partial)
    assert seen[-2:] == [(len(plan.steps) - 1, len(plan.steps)), (len(plan.steps), len(plan.steps))]
    assert _plain(again.report) == _plain(view.report)


def test_a_shipped_table_s_first_rows_and_one_row_with_its_lab_link(service):
    table = shipped_table("adult")
    assert len(table.frame) == 15_060 and table.label == "income" and table.protected == ("sex", "race")
    kinds = {c.name: c.kind for c in columns(table.frame)}
    assert kinds["age"] == "number" and kinds["sex"] == "category"
    view = service.compute(service.plan(table, AuditRequest("income", None, ("sex",), rows=200, cf=False),
                                        ModelChoice("shipped", "adult-gbm")))
    assert view.report["data"]["rows"] == 200 and view.report["data"]["positive"] == ">50K"
    assert "cf_fairness" not in view.report and view.cf == []
    row = service.row(view, 7)
    assert row.lab_link == "/table_lab?source=adult&row=7" and row.values["sex"] == table.frame["sex"].iloc[7]
    assert row.decision in (">50K", "not >50K") and 0 <= row.probability <= 1
    with pytest.raises(AuditTableError, match="not among the 200 audited rows"):
        service.row(view, 200)


def test_a_predictions_column_gives_group_metrics_and_says_why_cf_is_missing(service):
    data = b"sex,y,decided\n" + b"".join(f"{s},{y},{d}\n".encode() for s, y, d in
                                         [("F", 1, 1), ("F", 0, 0), ("M", 1, 1), ("M", 0, 1)] * 10)
    plan = service.plan(uploaded_table(data, "mine.csv"), AuditRequest("y", None, ("sex",), rows=40),
                        ModelChoice("predictions", "decided"))
    view = service.compute(plan)
    assert view.report["groups"]["sex"]["M"]["selection_rate"] == 1.0
    assert view.report["groups"]["sex"]["F"]["selection_rate"] == 0.5
    assert any("a predictions column cannot be asked" in s for s in view.cf)
    assert service.row(view, 0).lab_link == ""  # an upload has no Table lab link


def test_an_uploaded_onnx_pipeline_exported_by_the_test_is_audited(service):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(5)
    t = pd.DataFrame({"sex": rng.choice(["F", "M"], 300), "age": rng.uniform(20, 60, 300)})
    y = ((t.sex == "M") & (t.age > 30)).astype(int)
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(), ["sex"])], remainder="passthrough")),
                     ("clf", LogisticRegression())]).fit(t, y)
    onx = to_onnx(pipe, initial_types=[("sex", StringTensorType([None, 1])), ("age", FloatTensorType([None, 1]))],
                  options={id(pipe): {"zipmap": False}}).SerializeToString()
    table = uploaded_table(t.assign(y=y).to_csv(index=False).encode(), "t.csv")
    view = service.compute(service.plan(table, AuditRequest("y", None, ("sex",), rows=300),
                                        ModelChoice("upload", "mine.onnx", onx)))
    expected = pipe.predict_proba(t)[:, 1] >= 0.5
    assert view.report["overall"]["selection_rate"] == pytest.approx(expected.mean(), abs=1 / 300)
    assert "census world's variable" in view.report["cf_fairness"]["note"]  # not Adult's columns: said why
    assert any("counterfactual fairness of sex is missing" in s for s in view.cf)


@pytest.mark.parametrize("case, words", [
    ("not onnx", "not an ONNX model"),
    ("no column", "match no column"),
    ("one label value", "exactly two"),
    ("one group", "one group only"),
    ("empty csv", "empty"),
    ("not utf-8", "not UTF-8"),
    ("workbook", "not a CSV"),
    ("text as numbers", "cannot be read as numbers"),
])
def test_bad_inputs_each_give_a_clear_message(service, case, words):
    rows = [("F", 1, 30.0), ("M", 0, 40.0), ("F", 0, 50.0), ("M", 1, 20.0)] * 5
    csv = b"sex,y,age\n" + b"".join(f"{s},{y},{a}\n".encode() for s, y, a in rows)
    request = AuditRequest("y", None, ("sex",), rows=20)
    model = ModelChoice("shipped", "adult-logreg")
    with pytest.raises(AuditTableError, match=words) as caught:
        if case in ("empty csv", "not utf-8", "workbook"):
            data = {"empty csv": b"", "not utf-8": "sex,y\nFemme é,1\n".encode("cp1252"),
                    "workbook": b"PK\x03\x04 a zip"}[case]
            uploaded_table(data, "bad.csv")
        table = uploaded_table(csv, "t.csv")
        if case == "not onnx":
            model = ModelChoice("upload", "model.onnx", b"\x80\x04 a pickle, never unpickled")
        elif case == "one label value":
            table = uploaded_table(csv.replace(b",0,", b",1,"), "t.csv")
        elif case == "one group":
            table = uploaded_table(csv.replace(b"M,", b"F,"), "t.csv")
        elif case == "text as numbers":
            request = AuditRequest("y", None, ("sex",), rows=20, categories=("y",))  # sex read as numbers
        service.plan(table, request, model)
    message = str(caught.value)
    assert message[0].isupper() and message.endswith(".") and "Traceback" not in message


# --- the page (AppTest) --------------------------------------------------------------------------------------------
def test_a_link_to_shipped_data_and_model_shows_groups_and_cf_fairness(service):
    link = {"data": "adult", "model": "adult-logreg", "protected": "sex", "rows": "300", "audit": "1", "row": "4"}
    at = open_page(PAGE, link)
    assert not at.error, [e.value for e in at.error]
    assert [t.label for t in at.tabs] == ["Groups", "Counterfactual fairness", "One row", "Report"]
    view = service.compute(service.plan(shipped_table("adult"), AuditRequest("income", ">50K", ("sex",), rows=300),
                                        ModelChoice("shipped", "adult-logreg")))
    from explorer.ui.audit_table import plain

    # the page shows text made from data literally (Markdown escaped)

    infos = [i.value for i in at.info]
    assert any(plain(view.groups[0]) in i for i in infos)  # the groups tab: the library's reading
    assert any(plain(view.cf[0]) in i for i in infos)  # the counterfactual fairness tab
    assert len(at.get("plotly_chart")) == 1  # the selection rates with their intervals
    assert any("four-fifths" in w.value.lower() for w in [*at.warning, *at.success])
    card, held = (h.proto.body for h in at.get("html")[:2])  # row 4's card, then rows 0-10's (swapped in on a step)

    def html(n: int) -> str:  # no answer found on screen: every row's recourse part is drawn alike (steps held)
        return row_html(service.row(view, n))

    assert card == f"<div data-drawn='4'>{html(4)}</div>" and "href='/table_lab?source=adult&amp;row=4'" in card
    assert service.row(view, 4) is service.row(view, 4) and 4 in view.made_rows  # made once per audit
    assert held == f"<template>{''.join(html(i) for i in range(0, 5 + HELD))}</template>"
    assert at.query_params["audit"] == "1" and at.query_params["data"] == "adult"
    assert at.number_input(key="at_row").value == 4


def test_a_row_card_shows_text_from_the_data_as_text():
    card = row_html(RowView(3, {}, "<i>yes</i>", 0.25, "not <b>ok</b>", {"<img src=x>": 0.5}, ""))
    assert "<b>Decision:</b> not &lt;b&gt;ok&lt;/b&gt; (probability 25.0%)" in card and "<img" not in card
    assert "another <b>&lt;img src=x&gt;</b>" in card and "True outcome:</b> &lt;i&gt;yes&lt;/i&gt;" in card
    assert card.startswith("<div class='ar-card' data-step='3'>") and "has no link there" in card


def _tab_opened_on_remount(at) -> str:
    """The result tab the page asks the browser to open when it mounts the tabs afresh (their `default`)."""
    found = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if type(proto).__name__ == "Block" and proto.HasField("tab_container"):
            found.append(proto.tab_container.default_tab_index)
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    assert len(found) == 1, found
    return [t.label for t in at.tabs][found[0]]


def test_find_recourse_on_a_rejected_row_side_by_side_and_all_locked(service):
    """Row 28 of Adult's test rows is rejected by adult-logreg; both searches answer it, the non-causal answer is
    inconsistent with the graph; the page shows the service's numbers; every column unticked: the search's refusal."""
    from explorer.counterfactual.search.recourse import RecourseConfig
    from explorer.evaluate.audit_table_recourse import table_recourse
    from explorer.services.audit_table_recourse import RecourseService
    from explorer.ui.audit_table_recourse import SETTINGS

    link = {"data": "adult", "model": "adult-logreg", "protected": "sex", "rows": "300", "cf": "0", "audit": "1",
            "row": "28"}
    at = open_page(PAGE, link)
    assert not at.error, [e.value for e in at.error]
    assert _tab_opened_on_remount(at) == "Groups"
    at.button(key="audit_model_recourse").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert _tab_opened_on_remount(at) == "One row"  # a redraw that remounts the tabs keeps the answer in sight
    view = service.compute(service.plan(shipped_table("adult"), AuditRequest("income", ">50K", ("sex",), rows=300,
                                                                             cf=False),
                                        ModelChoice("shipped", "adult-logreg")))
    recourse = RecourseService(service)
    spec = recourse.controls()
    found = recourse.find(view, 28, {k: s.default for k, s in spec.items()})
    causal, alone = found.answers["causal"], found.answers["noncausal"]
    assert causal["found"] and alone["found"] and alone["inconsistent"] and causal["p_after"] >= 0.5
    shown = " ".join(m.value for m in at.markdown)
    assert f"Found, cost **{causal['cost']:.2f}**" in shown and f"Found, cost **{alone['cost']:.2f}**" in shown
    assert "**Inconsistent with the graph**" in shown and len(at.dataframe) >= 2
    assert "Download the report (PDF)" in [b.proto.label for b in at.get("download_button")]
    # the command line's wiring gives the same answer for the same row
    direct = table_recourse(view.values, view.predict, service.census()).search([28], RecourseConfig())
    assert direct["causal"][0].do == causal["do"]
    refused = recourse.find(view, 28, {**{k: s.default for k, s in spec.items()}, "act_sex": 1})
    assert refused.note.startswith("These settings cannot be searched: sex can never be part of a recourse")
    accepted = int(np.flatnonzero(view.rows["prediction"].to_numpy() == 1)[0])
    assert "already gives this row the positive decision" in recourse.find(view, accepted, {}).note
    assert not [c for c in at.checkbox if c.key.startswith("at_rc_")]  # drawn only while their expander is open
    at.session_state[SETTINGS] = True
    at.run()
    for name in spec:
        if name.startswith("act_"):
            at.checkbox(key=f"at_rc_{name}").uncheck()
    at.run()
    at.session_state[SETTINGS] = False  # closed again: the ticks are kept
    at.run()
    assert not [c for c in at.checkbox if c.key.startswith("at_rc_")]
    at.button(key="audit_model_recourse").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert sum("every column is locked" in w.value for w in at.warning) == 2  # both searches say it
    at.session_state[SETTINGS] = True
    at.run()
    assert not any(at.checkbox(key=f"at_rc_{name}").value for name in spec if name.startswith("act_"))


def test_bad_link_values_are_named_not_raised():
    at = open_page(PAGE, {"data": "<script>", "model": "mine.onnx", "rows": "abc", "protected": "sex,zzz",
                          "label": "nope", "colour": "red"})
    warnings = " ".join(w.value for w in at.warning)
    for words in ("is not a shipped table", "is not a shipped model", "not a number", "not columns of the adult",
                  "label=", "not one this page reads"):
        assert words in warnings, words
    assert "<script>" not in warnings
    assert at.selectbox(key="at_data").value == "adult" and at.multiselect(key="at_protected").value == ["sex"]


def test_an_uploaded_table_with_a_predictions_column_and_a_bad_upload():
    at = open_page(PAGE)
    at.selectbox(key="at_data").set_value("upload").run()
    assert at.file_uploader(key="audit_model_csv").proto.max_upload_size_mb * 2**20 == MAX_UPLOAD_BYTES
    at.file_uploader(key="audit_model_csv").set_value(("[bad](x).csv", b"", "text/csv")).run()
    no_exceptions(at)
    errors = [e.value for e in at.error]
    assert any("\\[bad\\](x).csv cannot be read" in e and "the file is empty" in e for e in errors), errors  # no link
    data = b"gender,hired,decision\n" + b"F,1,1\nF,0,0\nM,1,1\nM,0,1\n" * 10
    at.file_uploader(key="audit_model_csv").set_value(("mine.csv", data, "text/csv")).run()
    at.selectbox(key="at_model").set_value("predictions").run()
    at.selectbox(key="at_predictions").set_value("decision").run()
    at.selectbox(key="at_label").set_value("hired").run()
    at.multiselect(key="at_protected").set_value(["gender"]).run()
    at.button(key="audit_model_run").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    assert any("gender = F got the positive decision" in i.value for i in at.info)
    assert any("counterfactual fairness is missing" in i.value.lower() for i in at.info)
    assert "data" not in at.query_params  # an upload is never in a link
    at.selectbox(key="at_model").set_value("upload").run()
    assert at.file_uploader(key="audit_model_onnx").proto.max_upload_size_mb * 2**20 == MAX_BYTES


def test_rows_the_model_could_not_score_are_said_above_the_results():
    """The library's `data.failed_rows` (when present): its note as a warning, its examples in an expander."""
    from streamlit.testing.v1 import AppTest

    def script():
        from types import SimpleNamespace

        from explorer.ui.audit_table_failed import failed_rows_note

        failed = {"count": 3, "examples": [{"row": 2, "error": "the model returns NaN"}, {"row": 9, "error": "[x](y)"}],
                  "note": "3 rows (7.5 %) could not be scored by the model and are left out of every number"}
        failed_rows_note(SimpleNamespace(report={"data": {"failed_rows": failed}}))
        failed_rows_note(SimpleNamespace(report={"data": {}}))  # every row scored: nothing drawn

    at = AppTest.from_function(script).run()
    no_exceptions(at)
    assert [w.value for w in at.warning] == ["3 rows (7.5 %) could not be scored by the model and are left out of "
                                             "every number. Listed\\: the first 2 of 3."]
    assert at.expander[0].label == "Rows the model could not score: the first 2"
    assert list(at.dataframe[0].value["row"]) == ["2", "9"] and at.dataframe[0].value["error"][1] == "[x](y)"


# --- Chromium ------------------------------------------------------------------------------------------------------
