"""audit-table: fairlearn's numbers on a hand-made table, chunks that merge exactly, bootstrap intervals, the
shipped Adult models against their cards, column-name matching, the CLI and its refusals."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from onnx import TensorProto, helper

from explorer.__main__ import main
from explorer.data.tables import read_adult
from explorer.evaluate.audit_table import AuditTableConfig, audit_table
from explorer.metrics.group_fairness import (METRICS, BootstrapConfig, confusion_counts, disparities, group_cells,
                                             group_keys, group_metrics, merge_counts, rates_from_cells,
                                             weighted_rows)
from explorer.models.table_onnx import load_table_model, match_columns
from explorer.registry import TABLE_MODELS, load_table_classifier
from explorer.training.adult_models import labels

BOOT = BootstrapConfig(n_boot=300, seed=0)


def hand_table() -> pd.DataFrame:
    """F: 4 rows, 1 of 4 selected, TPR 1/2, FPR 0. M: 6 rows, 3 of 6 selected, TPR 2/3, FPR 1/3."""
    return pd.DataFrame({"sex": ["F"] * 4 + ["M"] * 6, "race": list("ABAB") + list("AABBAB"),
                         "y": [1, 1, 0, 0, 1, 1, 1, 0, 0, 0], "pred": [1, 0, 0, 0, 1, 1, 0, 1, 0, 0]})


def test_fairlearn_numbers_on_a_hand_made_table():
    t = hand_table()
    counts = confusion_counts(t[["sex"]], t.y, t.pred)
    g = group_metrics(counts, ["sex"], BOOT)
    assert g["F"]["selection_rate"] == 0.25 and g["M"]["selection_rate"] == 0.5
    assert g["F"]["true_positive_rate"] == 0.5 and g["M"]["true_positive_rate"] == pytest.approx(2 / 3)
    assert g["F"]["false_positive_rate"] == 0 and g["M"]["false_positive_rate"] == pytest.approx(1 / 3)
    assert g["F"]["count"] == 4 and g["M"]["accuracy"] == pytest.approx(4 / 6)
    d = disparities(counts, ["sex"], BOOT)
    assert d["demographic_parity_difference"] == pytest.approx(0.25)
    assert d["demographic_parity_ratio"] == pytest.approx(0.5)
    assert d["equal_opportunity_difference"] == pytest.approx(2 / 3 - 1 / 2)
    assert d["equalized_odds_difference"] == pytest.approx(1 / 3)  # the FPR gap is the larger one
    assert d["four_fifths_passes"] is False


def test_counts_from_chunks_give_fairlearn_s_numbers_on_the_raw_rows():
    rng = np.random.default_rng(1)
    n = 3000
    t = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "race": rng.choice(list("ABC"), n),
                      "y": rng.integers(0, 2, n), "pred": rng.integers(0, 2, n)})
    parts = [confusion_counts(t[["sex", "race"]].iloc[i:i + 700], t.y[i:i + 700], t.pred[i:i + 700])
             for i in range(0, n, 700)]
    whole = confusion_counts(t[["sex", "race"]], t.y, t.pred)
    pd.testing.assert_series_equal(merge_counts(parts[::-1]), whole)  # any order, exactly
    raw = MetricFrame(metrics=METRICS, y_true=t.y, y_pred=t.pred, sensitive_features=t["sex"] + "×" + t["race"])
    ours = group_metrics(whole, ["sex", "race"], BOOT)
    rows = weighted_rows(whole, ["sex", "race"])
    by_cells = {g: rates_from_cells(c) for g, c in group_cells(rows, group_keys(rows, ["sex", "race"])).items()}
    for group, values in raw.by_group.iterrows():
        for m in METRICS:
            assert ours[group][m] == pytest.approx(values[m], abs=1e-12)
            assert by_cells[group][m] == pytest.approx(values[m], abs=1e-12)  # the bootstrap's rates: fairlearn's


def test_intervals_contain_the_estimate_and_a_small_group_s_is_wider():
    rng = np.random.default_rng(2)
    sex = np.array(["small"] * 10 + ["large"] * 1000)
    y, pred = rng.integers(0, 2, 1010), rng.integers(0, 2, 1010)
    g = group_metrics(confusion_counts(pd.DataFrame({"sex": sex}), y, pred), ["sex"], BootstrapConfig(1000, 0))
    for group in g.values():
        for m in ("selection_rate", "accuracy"):
            assert group[f"{m}_ci_low"] <= group[m] <= group[f"{m}_ci_high"]
    width = {k: v["selection_rate_ci_high"] - v["selection_rate_ci_low"] for k, v in g.items()}
    assert width["small"] > 3 * width["large"]
    again = group_metrics(confusion_counts(pd.DataFrame({"sex": sex}), y, pred), ["sex"], BootstrapConfig(1000, 0))
    assert again == g  # seeded


@pytest.fixture(scope="module")
def adult_test() -> pd.DataFrame:
    return read_adult().rows("test", complete=True).reset_index(drop=True)


@pytest.mark.parametrize("name", TABLE_MODELS)
def test_shipped_models_score_adult_test_rows_with_their_card_s_accuracy(name, adult_test):
    model, card = load_table_classifier(name)
    p = model.predict_proba(adult_test)
    assert float(((p >= 0.5) == labels(adult_test)).mean()) == card["metrics"]["test_accuracy"]
    assert model.output_kind == "probability" and card["metrics"]["test_accuracy"] > 0.84


def test_inputs_match_columns_ignoring_case_hyphens_and_underscores(adult_test):
    assert match_columns(["marital_status", "Age"], ["Marital-Status", "age", "x"]) == \
        {"marital_status": "Marital-Status", "Age": "age"}
    model, _ = load_table_classifier("adult-logreg")
    renamed = adult_test.head(50).rename(columns={"marital_status": "Marital-Status", "hours_per_week": "HOURS-PER-WEEK"})
    np.testing.assert_array_equal(model.predict_proba(renamed), model.predict_proba(adult_test.head(50)))
    with pytest.raises(ValueError, match="sex match no column"):
        model.predict_proba(adult_test.head(5).drop(columns="sex"))


def _onnx(nodes, inputs, outputs, domain_ops=()) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    opsets = [helper.make_opsetid("", 18), *[helper.make_opsetid(d, 1) for d in domain_ops]]
    return helper.make_model(graph, opset_imports=opsets, ir_version=10).SerializeToString()


def test_refuses_custom_operators_and_outputs_that_are_not_probabilities():
    age = helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])
    out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])
    custom = _onnx([helper.make_node("Magic", ["age"], ["score"], domain="my.ops")], [age], [out], ["my.ops"])
    with pytest.raises(ValueError, match="outside the standard ONNX set"):
        load_table_model(custom, "custom")
    ten = helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0])
    scaled = _onnx([helper.make_node("Mul", ["age", "ten"], ["score"])], [age], [out])
    model = onnx.load_model_from_string(scaled)
    model.graph.initializer.append(ten)
    m = load_table_model(model.SerializeToString(), "scaled")
    with pytest.raises(ValueError, match="neither a probability"):
        m.predict_proba(pd.DataFrame({"AGE": [30.0, 40.0]}))


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def test_cli_on_adult_writes_the_documented_keys_and_every_row(tmp_path, capsys):
    out, rows = tmp_path / "a.json", tmp_path / "rows.csv"
    code, _ = _run(["audit-table", "--table", "adult", "--shipped", "adult-logreg", "--protected", "sex,race",
                    "--n-boot", "200", "--json", str(out), "--rows", str(rows), "--markdown", str(tmp_path / "a.md")],
                   capsys)
    assert code == 0
    report = json.loads(out.read_text())
    female = report["groups"]["sex"]["Female"]
    assert female["selection_rate_ci_low"] <= female["selection_rate"] <= female["selection_rate_ci_high"]
    for key in ("demographic_parity_difference", "equalized_odds_difference", "four_fifths_passes",
                "equal_opportunity_ratio", "demographic_parity_difference_ci_low"):
        assert key in report["fairness"]["sex"]
    assert "Female×White" in report["intersections"]["sex×race"] and "sex×race" in report["fairness"]
    per_row = pd.read_csv(rows)
    assert len(per_row) == report["data"]["rows"] == 15060
    recomputed = per_row[per_row.sex == "Female"].prediction.mean()
    assert recomputed == pytest.approx(female["selection_rate"], abs=1e-12)
    assert report["reading"][0].startswith("sex = Female got the positive decision")


def test_a_predictions_column_is_audited_without_a_model(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    hand_table().assign(pred=lambda t: np.where(t.pred == 1, "yes", "no"), y=lambda t: np.where(t.y == 1, "yes", "no")
                        ).to_csv(csv, index=False)
    out = tmp_path / "a.json"
    code, _ = _run(["audit-table", "--csv", str(csv), "--predictions", "pred", "--label", "y", "--protected", "sex",
                    "--json", str(out)], capsys)
    report = json.loads(out.read_text())
    assert code == 0 and report["groups"]["sex"]["F"]["selection_rate"] == 0.25
    assert report["fairness"]["sex"]["demographic_parity_difference"] == pytest.approx(0.25)
    assert report["overall"]["auc"] is None and "no model" in report["data"]["predictions"]


BAD = [
    ("--csv {d}/missing.csv --predictions pred --label y --protected sex", "no such file"),
    ("--csv {d}/t.csv --predictions pred --label nope --protected sex", "'nope' is not in the table"),
    ("--csv {d}/t.csv --predictions pred --label three --protected sex", "needs exactly two"),
    ("--csv {d}/t.csv --predictions pred --label y --protected sex,colour", "protected column 'colour'"),
    ("--csv {d}/t.csv --predictions pred --label y --protected one", "one group only"),
    ("--csv {d}/t.csv --predictions race --label y --protected sex", "not a value of the label"),
    ("--csv {d}/t.csv --shipped adult-logreg --label y --protected sex", "match no column"),
    ("--csv {d}/empty.csv --predictions pred --label y --protected sex", "empty"),
    ("--csv {d}/t.csv --predictions pred --label y --protected sex --positive maybe", "--positive"),
    ("--table adult --shipped adult-gbm --protected sex --json {d}/no/such/folder/a.json", "folder does not exist"),
    ("--csv {d}/t.csv --model {d}/t.csv --label y --protected sex", "not an ONNX model"),
]


@pytest.mark.parametrize("argv, words", BAD)
def test_bad_inputs_are_one_line_exit_2_and_nothing_written(argv, words, tmp_path, capsys):
    hand_table().assign(one="x", three=[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    out = tmp_path / "out"
    out.mkdir()
    args = argv.format(d=tmp_path).split()
    if "--json" not in args:
        args += ["--json", str(out / "a.json"), "--rows", str(out / "rows.csv")]
    code, err = _run(["audit-table", *args], capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err
    assert words in err, err
    assert not list(out.iterdir())


def test_an_audit_in_chunks_equals_the_audit_in_one():
    t = pd.concat([hand_table()] * 7, ignore_index=True)
    config = AuditTableConfig(label="y", protected=("sex", "race"), boot=BOOT)
    given = t.pred.to_numpy(float)
    one, rows_one = audit_table(t, config, given=given)
    many, rows_many = audit_table(t, AuditTableConfig(**{**config.__dict__, "chunk_rows": 3}), given=given)
    assert one == many
    pd.testing.assert_frame_equal(rows_one, rows_many)


def test_a_pipeline_exported_by_the_test_with_zipmap_is_audited_end_to_end(tmp_path, capsys):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(3)
    t = pd.DataFrame({"marital_status": rng.choice(["married", "single"], 400), "age": rng.uniform(20, 60, 400)})
    y = ((t.marital_status == "married") & (t.age > 35)).astype(int)
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(), ["marital_status"])], remainder="passthrough")),
                     ("clf", LogisticRegression())]).fit(t, y)
    onx = to_onnx(pipe, initial_types=[("marital_status", StringTensorType([None, 1])),
                                       ("age", FloatTensorType([None, 1]))])  # ZipMap output: skl2onnx's default
    (tmp_path / "m.onnx").write_bytes(onx.SerializeToString())
    t.rename(columns={"marital_status": "Marital-Status"}).assign(y=y, sex=rng.choice(["F", "M"], 400)).to_csv(
        tmp_path / "t.csv", index=False)
    code, _ = _run(["audit-table", "--csv", str(tmp_path / "t.csv"), "--model", str(tmp_path / "m.onnx"), "--label",
                    "y", "--protected", "sex", "--json", str(tmp_path / "a.json")], capsys)
    report = json.loads((tmp_path / "a.json").read_text())
    assert code == 0
    expected = pipe.predict_proba(t)[:, 1]
    assert report["overall"]["selection_rate"] == pytest.approx(float((expected >= 0.5).mean()), abs=1 / 400)
