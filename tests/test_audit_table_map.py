"""audit-table --map: columns named otherwise read as the census world's variables and as the model's inputs, the
explicit map before matching by name, the report saying which was which, and bad maps refused before anything is
written."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from explorer.__main__ import main
from explorer.data.tables import read_adult
from explorer.metrics.cf_fairness import match_variables
from explorer.models.table_onnx import match_columns, propose_inputs

RENAMED = {"sex": "gender", "marital_status": "civil", "income": "y", "hours_per_week": "Hours-Per-Week"}


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    """Adult's complete test rows, 12 per education level (every level present, so education_num follows it)."""
    test = read_adult().rows("test", complete=True).reset_index(drop=True)
    return test.groupby("education", observed=True).head(12).reset_index(drop=True)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        return main(argv), capsys.readouterr().err
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err


def _audit(csv, out, label, extra, capsys, protected="sex"):
    return _run(["audit-table", "--csv", str(csv), "--shipped", "adult-logreg", "--label", label, "--positive", ">50K",
                 "--protected", protected, "--n-boot", "100", "--cf", "--cf-draws", "4", "--recourse", "3",
                 "--json", str(out), *extra], capsys)


def test_match_variables_map_first_then_names():
    cols = ["gender", "Sex", "Marital-Status", "age"]
    got = match_variables(["sex", "marital_status", "age", "income"], cols, {"gender": "sex"})
    assert got == {"sex": ("gender", "map"), "marital_status": ("Marital-Status", "name"), "age": ("age", "name")}
    for bad, words in (({"nope": "sex"}, "no"), ({"gender": "sexx"}, "does not have"),
                       ({"gender": "sex", "Sex": "sex"}, "several columns")):
        with pytest.raises(ValueError, match=words):
            match_variables(["sex", "marital_status", "age", "income"], cols, bad)


def test_model_inputs_map_first_and_a_proposal_by_name():
    assert match_columns(["sex", "age"], ["gender", "AGE"], {"gender": "sex"}) == {"sex": "gender", "age": "AGE"}
    with pytest.raises(ValueError, match="match no column"):
        match_columns(["sex", "age"], ["gender", "AGE"])
    assert propose_inputs(["sex", "marital_status", "zzz"], ["Sex", "maritalstat", "age"]) == \
        {"sex": "Sex", "marital_status": "maritalstat", "zzz": None}


def test_renamed_columns_mapped_give_the_same_audit_as_the_original_names(small, tmp_path, capsys):
    small.to_csv(tmp_path / "a.csv", index=False)
    small.rename(columns=RENAMED).to_csv(tmp_path / "b.csv", index=False)
    code, err = _audit(tmp_path / "a.csv", tmp_path / "a.json", "income", [], capsys)
    assert code == 0, err
    code, err = _audit(tmp_path / "b.csv", tmp_path / "b.json", "y",
                       ["--map", "gender=sex,civil=marital_status", "--map", "y=income"], capsys, protected="gender")
    assert code == 0, err
    a, b = (json.loads((tmp_path / f"{k}.json").read_text()) for k in "ab")
    assert b["cf_fairness"]["gender"] == a["cf_fairness"]["sex"]
    m = b["cf_fairness"]["matching"]
    assert m["by_map"] == {"gender": "sex", "civil": "marital_status", "y": "income"}
    assert m["by_name"]["Hours-Per-Week"] == "hours_per_week" and "gender" not in m["by_name"]
    assert "capital_gain" in b["cf_fairness"]["held_columns"]  # outside the causal model: kept factual, and said
    assert b["cf_fairness"]["derived_columns"] == {"education_num": "education"}
    assert b["data"]["model_inputs"]["by_map"] == {"sex": "gender", "marital_status": "civil"}
    assert b["recourse"]["causal"] == a["recourse"]["causal"] | {"seconds_median": b["recourse"]["causal"]["seconds_median"],
                                                                 "seconds_p95": b["recourse"]["causal"]["seconds_p95"]}
    assert b["recourse"]["matching"]["by_map"]["gender"] == "sex"
    # every report says how the columns were matched: the PDF's text and the HTML as the Markdown does
    from explorer.evaluate.audit_table_html import to_html
    from explorer.evaluate.audit_table_pdf import to_pdf

    pdf, html = to_pdf(b, compress=False), to_html(b)
    for words in ("Model inputs mapped by you", "Columns matched to the causal model"):
        assert words.encode() in pdf and words in html, words
    assert "gender → sex" in html and "civil → marital_status" in html  # column → variable or model input


def test_without_the_map_the_renamed_label_leaves_a_note(small, tmp_path, capsys):
    small.rename(columns={"income": "y"}).to_csv(tmp_path / "t.csv", index=False)
    code, err = _audit(tmp_path / "t.csv", tmp_path / "t.json", "y", [], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "t.json").read_text())
    assert list(report["cf_fairness"]) == ["note"] and "income" in report["cf_fairness"]["note"]
    code, err = _audit(tmp_path / "t.csv", tmp_path / "t.json", "y", ["--map", "y=income"], capsys)
    assert code == 0 and json.loads((tmp_path / "t.json").read_text())["cf_fairness"]["matching"]["by_map"] == \
        {"y": "income"}


@pytest.mark.parametrize("bad,words", [
    ("nope=sex", "no column 'nope'"),
    ("gender=sexx", "neither an input of the model"),
    ("gender=sex,civil=sex", "several columns"),
    ("gender=sex,gender=race", "twice"),
    ("gender", "not COLUMN=NAME"),
])
def test_bad_maps_are_one_line_exit_2_and_nothing_written(bad, words, small, tmp_path, capsys):
    small.rename(columns=RENAMED).to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "t.json"
    code, err = _audit(tmp_path / "t.csv", out, "y", ["--map", bad, "--markdown", str(tmp_path / "t.md")], capsys,
                       protected="gender")
    assert code == 2 and words in err and err.count("\n") == 1 and err.startswith("error:")
    assert not out.exists() and not (tmp_path / "t.md").exists()


# --- the page -------------------------------------------------------------------------------------------------------
def _renamed_model() -> bytes:
    """A model exported by the test whose inputs are the census world's names (sex, marital_status, age)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    t = read_adult().rows("train", complete=True).head(2000)[["sex", "marital_status", "age", "income"]]
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"),
                                                  ["sex", "marital_status"])], remainder="passthrough")),
                     ("clf", LogisticRegression(max_iter=500))]).fit(t.drop(columns="income"),
                                                                      (t.income.astype(str) == ">50K").astype(int))
    return to_onnx(pipe, initial_types=[("sex", StringTensorType([None, 1])),
                                        ("marital_status", StringTensorType([None, 1])),
                                        ("age", FloatTensorType([None, 1]))],
                   options={id(pipe): {"zipmap": False}}).SerializeToString()


def test_the_service_proposes_what_to_confirm(small):
    from explorer.services.audit_table_page import AuditTableService, ModelChoice, variables_to_confirm

    service = AuditTableService()
    cols = list(small.rename(columns=RENAMED).columns)
    assert set(variables_to_confirm(cols)) == {"sex", "marital_status", "income"}
    assert variables_to_confirm(list(small.columns)) == {}
    asked = service.inputs_to_confirm(ModelChoice("upload", "m.onnx", _renamed_model()),
                                      ["gender", "marital-stat", "Age"])
    assert asked == {"sex": None, "marital_status": "marital-stat"}  # age matches by name; the closest name proposed
    assert service.inputs_to_confirm(ModelChoice("shipped", "adult-logreg"), list(small.columns)) == {}
    assert set(service.inputs_to_confirm(ModelChoice("shipped", "adult-logreg"), cols)) == {"sex", "marital_status"}
    assert service.inputs_to_confirm(ModelChoice("upload", "m.onnx", b"not a model"), cols) == {}


def test_on_the_page_the_visitor_confirms_both_mappings_and_the_link_holds_neither(small):
    from apptest_pages import FIRST_LOAD, no_exceptions, open_page

    at = open_page("pages/audit_model.py")
    at.selectbox(key="at_data").set_value("upload").run()
    data = small.rename(columns=RENAMED).head(200).to_csv(index=False).encode()
    at.file_uploader(key="audit_model_csv").set_value(("mine.csv", data, "text/csv")).run()
    at.selectbox(key="at_model").set_value("upload").run()
    at.file_uploader(key="audit_model_onnx").set_value(("m.onnx", _renamed_model(), "application/octet-stream")).run()
    no_exceptions(at)
    assert at.selectbox(key="atmap_in_sex").value == "(not in my table)"
    at.selectbox(key="atmap_in_sex").set_value("gender")
    at.selectbox(key="atmap_in_marital_status").set_value("civil")
    at.checkbox(key="atmap_in_ok").check().run()
    at.selectbox(key="at_label").set_value("y").run()
    at.selectbox(key="at_positive").set_value(">50K")
    at.multiselect(key="at_protected").set_value(["gender"]).run()
    for var, col in (("sex", "gender"), ("marital_status", "civil"), ("income", "y")):
        at.selectbox(key=f"atmap_var_{var}").set_value(col)
    at.checkbox(key="atmap_var_ok").check().run()
    at.button(key="audit_model_run").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    report = at.session_state["_at_job"].view.report
    assert report["cf_fairness"]["matching"]["by_map"] == {"gender": "sex", "civil": "marital_status", "y": "income"}
    assert report["data"]["model_inputs"]["by_map"] == {"sex": "gender", "marital_status": "civil"}
    assert 0 <= report["cf_fairness"]["gender"]["flip_rate"] <= 1
    assert not any(k.startswith("atmap") or k == "map" for k in at.query_params)  # never in the link


def test_find_recourse_on_the_page_follows_the_confirmed_mapping(small):
    """gender and Marital mapped to sex and marital_status (model inputs and census variables): the recourse the page
    finds for a rejected row is the one found on the original names; without the map, a note says what is missing."""
    from explorer.services.audit_table_page import AuditRequest, AuditTableService, ModelChoice, uploaded_table
    from explorer.services.audit_table_recourse import RecourseService

    service = AuditTableService()
    recourse = RecourseService(service)
    pairs = (("gender", "sex"), ("Marital", "marital_status"))
    names = dict(pairs)
    renamed = small.rename(columns={v: k for k, v in pairs})
    model = ModelChoice("shipped", "adult-logreg")

    def audit(frame, protected, column_map):  # the model's inputs mapped whenever the columns are renamed
        table = uploaded_table(frame.to_csv(index=False).encode(), "t.csv")
        inputs = pairs if protected == "gender" else ()
        return service.compute(service.plan(table, AuditRequest("income", ">50K", (protected,), rows=len(frame),
                                                                cf=False, column_map=column_map, input_map=inputs),
                                            model))

    plain, mapped, unmapped = audit(small, "sex", ()), audit(renamed, "gender", pairs), audit(renamed, "gender", ())
    values = {k: s.default for k, s in recourse.controls().items()}
    p = plain.rows["probability"].where(plain.rows["prediction"] == 0, 0.0)
    row = int(p.to_numpy().argmax())  # the rejected row closest to the threshold: an answer within two changes
    want, got = recourse.find(plain, row, values), recourse.find(mapped, row, values)
    assert not got.note and got.answers["causal"]["found"]
    for method in ("causal", "noncausal"):
        assert got.answers[method]["do"] == want.answers[method]["do"]
        assert got.answers[method]["cost"] == want.answers[method]["cost"]
        assert got.answers[method]["p_after"] == want.answers[method]["p_after"]
    assert got.matching["by_map"] == names and "gender" not in got.matching["by_name"]
    report = recourse.report(mapped, [got]).report["recourse"]
    assert report["matching"]["by_map"] == names
    assert "census world's columns" in recourse.find(unmapped, row, values).note  # not matched: said why


def test_on_the_page_find_recourse_reads_the_confirmed_mapping_with_cf_off(small):
    """Counterfactual fairness off: the census mapping is still asked for (recourse reads it), and Find recourse on a
    rejected row searches through it; a predictions column (no model to ask) is asked nothing."""
    from apptest_pages import FIRST_LOAD, no_exceptions, open_page

    at = open_page("pages/audit_model.py")
    at.selectbox(key="at_data").set_value("upload").run()
    data = small.rename(columns={"sex": "gender", "marital_status": "Marital"}).head(120).to_csv(index=False)
    at.file_uploader(key="audit_model_csv").set_value(("mine.csv", data.encode(), "text/csv")).run()
    at.selectbox(key="atmap_in_sex").set_value("gender")
    at.selectbox(key="atmap_in_marital_status").set_value("Marital")
    at.checkbox(key="atmap_in_ok").check().run()
    at.selectbox(key="at_positive").set_value(">50K")
    at.multiselect(key="at_protected").set_value(["gender"])
    at.toggle(key="at_cf").set_value(False).run()
    at.selectbox(key="atmap_var_sex").set_value("gender")
    at.selectbox(key="atmap_var_marital_status").set_value("Marital")
    at.checkbox(key="atmap_var_ok").check().run()
    at.button(key="audit_model_run").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    view = at.session_state["_at_job"].view
    assert "cf_fairness" not in view.report and view.column_map == {"gender": "sex", "Marital": "marital_status"}
    rejected = view.rows["probability"].where(view.rows["prediction"] == 0, 0.0)
    at.number_input(key="at_row").set_value(int(rejected.to_numpy().argmax())).run()
    at.button(key="audit_model_recourse").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    found = at.session_state["_at_recourse"][1]
    assert found.note == "" and found.matching["by_map"] == {"gender": "sex", "Marital": "marital_status"}
    at.selectbox(key="at_model").set_value("predictions").run()
    assert not [c for c in at.checkbox if c.key == "atmap_var_ok"]  # no model to ask: no census mapping
