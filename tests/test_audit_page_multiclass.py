"""The page "Audit a model" with a multiclass model: a 3-class scikit-learn pipeline exported by skl2onnx, uploaded
with its table, audited one class against the rest with the command line's numbers; counterfactual fairness and
recourse say they are binary only; the HTML and PDF reports hold the multiclass section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from apptest_pages import FIRST_LOAD, no_exceptions, upload_table_and_model

from explorer.__main__ import main
from explorer.services.audit_table_page import AuditRequest, AuditTableService, ModelChoice, uploaded_table


@pytest.fixture(scope="module")
def three_classes():
    """(table CSV bytes, ONNX bytes, predicted classes): a 3-class logistic regression on a string and a number
    column, as tests/test_audit_multiclass.py builds it, with sex and region as protected columns."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(5)
    n = 300
    t = pd.DataFrame({"job": rng.choice(["clerk", "nurse", "smith"], n), "age": rng.uniform(20, 60, n)})
    y = np.where(rng.uniform(size=n) < 0.15, "low",
                 np.where(t.age > 45, "high", np.where(t.job == "nurse", "mid", "low")))
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(), ["job"])], remainder="passthrough")),
                     ("clf", LogisticRegression(max_iter=500))]).fit(t, y)
    onx = to_onnx(pipe, initial_types=[("job", StringTensorType([None, 1])), ("age", FloatTensorType([None, 1]))],
                  options={id(pipe): {"zipmap": False}}).SerializeToString()
    table = t.assign(grade=y, sex=rng.choice(["F", "M"], n), region=rng.choice(["N", "S"], n))
    return table.to_csv(index=False).encode(), onx, pipe.predict(t)


def test_the_service_gives_the_command_line_s_multiclass_audit(three_classes, tmp_path, capsys):
    csv, onx, pred = three_classes
    (tmp_path / "t.csv").write_bytes(csv)
    (tmp_path / "m.onnx").write_bytes(onx)
    code = main(["audit-table", "--csv", str(tmp_path / "t.csv"), "--model", str(tmp_path / "m.onnx"), "--label",
                 "grade", "--protected", "sex,region", "--json", str(tmp_path / "cli.json")])
    capsys.readouterr()
    assert code == 0
    cli = json.loads((tmp_path / "cli.json").read_text())
    service = AuditTableService()
    plan = service.plan(uploaded_table(csv, "t.csv"), AuditRequest("grade", None, ("sex", "region"), rows=300, cf=True),
                        ModelChoice("upload", "m.onnx", onx))
    assert plan.multiclass and all(kind == "score" for kind, _ in plan.steps)  # no counterfactual steps
    view = service.compute(plan)
    assert view.multiclass and list(view.classes) == ["high", "low", "mid"]
    assert json.loads(json.dumps(view.report["multiclass"])) == cli["multiclass"]
    assert view.report["reading"] == cli["reading"] and "cf_fairness" not in view.report
    assert list(view.rows["prediction"]) == list(pred)
    assert any("3 classes (high, low, mid)" in s for s in view.overall)
    assert set(view.classes["mid"][0]) == {"sex", "region", "sex×region"} and "sex" in view.classes["mid"][1]
    row = service.row(view, 0)
    assert (row.decision, row.label, row.rejected) == (pred[0], pd.read_csv(tmp_path / "t.csv").grade[0], False)
    html = view.html.decode()
    assert "<h2>Multiclass: each class against the rest</h2>" in html and "Class mid against the rest" in html
    assert "demographic_parity_difference" in html
    from explorer.evaluate.audit_table_pdf import to_pdf

    pdf = to_pdf(view.report, compress=False)
    assert b"Multiclass: each class against the rest" in pdf and b"Class mid against the rest: sex" in pdf


def test_on_the_page_a_multiclass_upload_is_audited_class_by_class(three_classes):
    csv, onx, _ = three_classes
    at = upload_table_and_model(("grades.csv", csv), onx, "grade", ["sex", "region"])
    no_exceptions(at)
    assert any("one class against the rest" in i.value for i in at.info)
    assert not [c for c in at.checkbox if c.key == "atmap_var_ok"]  # no census mapping: cf and recourse binary only
    assert not [r for r in at.radio if r.key == "atopt_causal"]  # nor a causal model to choose
    at.button(key="audit_model_run").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    infos = " ".join(i.value for i in at.info)
    assert "Class high (against the rest)" in infos
    assert "**Counterfactual fairness:** Counterfactual fairness and recourse are binary only" in infos
    assert "**Recourse:**" in infos and "audit_model_recourse" not in [b.key for b in at.button]
    assert at.selectbox(key="atmc_class").value == "high" and len(at.get("plotly_chart")) == 2
    at.selectbox(key="atmc_class").set_value("mid").run()
    no_exceptions(at)
    assert any("Class mid against the rest, sex" in m.value for m in at.markdown)
    view = at.session_state["_at_job"].view
    assert view.report["multiclass"]["classes"] == ["high", "low", "mid"] and view.pdf.startswith(b"%PDF")
    assert "Download the report (PDF)" in [b.proto.label for b in at.get("download_button")]


def test_a_yes_no_model_on_a_label_of_five_classes_is_said_not_raised():
    from explorer.services.audit_table_page import AuditTableError, shipped_table

    service = AuditTableService()
    plan = service.plan(shipped_table("adult"), AuditRequest("race", None, ("sex",), rows=200),
                        ModelChoice("shipped", "adult-logreg"))
    with pytest.raises(AuditTableError, match=r"^The model predicts 0, 1, none of which is a value of the label"):
        service.compute(plan)
    with pytest.raises(AuditTableError, match="needs exactly two"):  # a predictions column: yes/no labels only
        service.plan(shipped_table("adult"), AuditRequest("race", None, ("sex",), rows=200),
                     ModelChoice("predictions", "sex"))
