"""A 3-class scikit-learn pipeline exported by skl2onnx, audited end to end: group metrics one class against the
rest (checked against fairlearn on the raw rows), and counterfactual fairness and recourse said to be binary-only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference

from explorer.__main__ import main


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    """(table, predicted classes, model path): a 3-class logistic regression on a string and a number column."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(5)
    n = 600
    t = pd.DataFrame({"job": rng.choice(["clerk", "nurse", "smith"], n), "age": rng.uniform(20, 60, n)})
    noise = rng.uniform(size=n)
    y = np.where(noise < 0.15, "low", np.where(t.age > 45, "high", np.where(t.job == "nurse", "mid", "low")))
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(), ["job"])], remainder="passthrough")),
                     ("clf", LogisticRegression(max_iter=500))]).fit(t, y)
    onx = to_onnx(pipe, initial_types=[("job", StringTensorType([None, 1])), ("age", FloatTensorType([None, 1]))],
                  options={id(pipe): {"zipmap": False}})
    folder = tmp_path_factory.mktemp("mc")
    (folder / "m.onnx").write_bytes(onx.SerializeToString())
    table = t.assign(grade=y, sex=rng.choice(["F", "M"], n), region=rng.choice(["N", "S"], n))
    table.to_csv(folder / "t.csv", index=False)
    return table, pipe.predict(t), folder


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        return main(argv), capsys.readouterr().err
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err


def test_a_three_class_pipeline_is_audited_one_class_against_the_rest(three_classes, capsys):
    table, pred, folder = three_classes
    out, md, page = folder / "a.json", folder / "a.md", folder / "a.html"
    code, err = _run(["audit-table", "--csv", str(folder / "t.csv"), "--model", str(folder / "m.onnx"), "--label",
                      "grade", "--protected", "sex,region", "--n-boot", "200", "--cf", "--recourse", "5", "--json",
                      str(out), "--markdown", str(md), "--report", str(page), "--rows", str(folder / "r.csv")], capsys)
    assert code == 0, err
    assert "binary only" in err  # --cf and --recourse asked: the one note saying why they are missing
    report = json.loads(out.read_text())
    mc = report["multiclass"]
    assert mc["classes"] == ["high", "low", "mid"] and "binary only" in mc["note"]
    assert "cf_fairness" not in report and "recourse" not in report
    assert report["overall"]["accuracy"] == pytest.approx(float((pred == table.grade).mean()))
    for c in mc["classes"]:
        for g in ("F", "M"):
            m = (table.sex == g).to_numpy()
            got = mc["per_class"][c]["groups"]["sex"][g]
            assert got["selection_rate"] == pytest.approx(float((pred[m] == c).mean()))
            assert got["accuracy"] == pytest.approx(float(((pred[m] == c) == (table.grade[m] == c)).mean()))
            assert got["selection_rate_ci_low"] <= got["selection_rate"] <= got["selection_rate_ci_high"]
        want = demographic_parity_difference((table.grade == c).astype(int), (pred == c).astype(int),
                                             sensitive_features=table.sex)
        assert mc["per_class"][c]["fairness"]["sex"]["demographic_parity_difference"] == pytest.approx(want)
        assert "sex×region" in mc["per_class"][c]["groups"]
    rows = pd.read_csv(folder / "r.csv")
    assert list(rows["prediction"]) == list(pred)
    text = md.read_text()
    assert "## Multiclass: each class against the rest" in text and "### Class mid against the rest: sex" in text
    assert any(s.startswith("Class high (against the rest)") for s in report["reading"])
    assert "against the rest" in page.read_text()


def test_a_multiclass_label_with_a_predictions_column_is_refused(three_classes, capsys):
    _, _, folder = three_classes
    code, err = _run(["audit-table", "--csv", str(folder / "t.csv"), "--predictions", "job", "--label", "grade",
                      "--protected", "sex", "--json", str(folder / "p.json")], capsys)
    assert code == 2 and err.startswith("error:") and not (folder / "p.json").exists()


def test_a_three_class_model_on_a_yes_no_label_says_how_it_is_audited(three_classes, capsys):
    table, _, folder = three_classes
    table.assign(high=(table.grade == "high").astype(int)).to_csv(folder / "b.csv", index=False)
    code, err = _run(["audit-table", "--csv", str(folder / "b.csv"), "--model", str(folder / "m.onnx"), "--label",
                      "high", "--protected", "sex", "--json", str(folder / "b.json")], capsys)
    assert code == 2 and "3 classes" in err and "one class against the rest" in err
    assert not (folder / "b.json").exists()


def test_a_binary_model_on_a_label_of_other_classes_is_refused(three_classes, capsys):
    table, _, folder = three_classes
    table.rename(columns={"job": "occupation"}).to_csv(folder / "c.csv", index=False)
    code, err = _run(["audit-table", "--csv", str(folder / "c.csv"), "--model", str(folder / "m.onnx"), "--label",
                      "sex", "--positive", "M", "--protected", "region", "--json", str(folder / "c.json"), "--map",
                      "occupation=job"],
                     capsys)
    assert code == 2 and "3 classes" in err  # sex has two values: a 3-class model on a yes/no label (input mapped)
    table.assign(code=table.grade.map({"low": "a", "mid": "b", "high": "c"})).to_csv(folder / "d.csv", index=False)
    code, err = _run(["audit-table", "--csv", str(folder / "d.csv"), "--model", str(folder / "m.onnx"), "--label",
                      "code", "--protected", "sex", "--json", str(folder / "d.json")], capsys)
    assert code == 2 and "none of which is a value of the label" in err and not (folder / "d.json").exists()


def test_the_ray_engine_audits_a_multiclass_model_with_the_in_process_numbers(three_classes):
    """A local Ray with one CPU, four chunks, two rows holding a job the model never saw (its one-hot encoder
    refuses it): the same report and rows as `audit_multiclass` in this process, those two rows left out alike."""
    ray = pytest.importorskip("ray")
    from explorer.evaluate.audit_table import AuditTableConfig, audit_multiclass
    from explorer.evaluate.audit_table_ray import audit_table_ray
    from explorer.metrics.group_fairness import BootstrapConfig
    from explorer.models.table_onnx import load_table_model

    table, _, folder = three_classes
    table = table.copy()
    table.loc[[7, 333], "job"] = "pilot"
    config = AuditTableConfig("grade", ("sex", "region"), chunk_rows=150, boot=BootstrapConfig(200, 0))
    data = (folder / "m.onnx").read_bytes()
    expected, rows = audit_multiclass(table, config, load_table_model(data, "m").predict_labels)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        report, rows_ray = audit_table_ray(table, config, data, cf=("sex",))  # cf: binary only, not run
    finally:
        ray.shutdown()
    assert report.pop("engine")["chunks"] == 4
    assert report == expected and "cf_fairness" not in report
    assert [e["row"] for e in report["data"]["failed_rows"]["examples"]] == [7, 333]
    assert report["data"]["failed_rows"]["examples"][0]["error"] == "category 'pilot' of column job was never seen " \
                                                                    "by the model"
    pd.testing.assert_frame_equal(rows_ray, rows)
    assert list(rows.loc[[7, 333], "model_error"] != "") == [True, True] and rows["prediction"].isna().sum() == 2
