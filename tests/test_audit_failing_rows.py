"""Rows a model fails on (issue 21): found row by row, left out of every number, listed in the report and the
per-row file; half of the rows or more failing is one `error:` line and exit 2. The models are made here: a
scikit-learn pipeline exported by skl2onnx whose one-hot encoder refuses categories it never saw
(handle_unknown='error'), and a hand-made ONNX graph that returns NaN for some rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from onnx import TensorProto, helper

from explorer.data.tables import read_adult
from explorer.evaluate.audit_table import AuditTableConfig, add_cf_fairness, audit_table
from explorer.metrics.group_fairness import BootstrapConfig
from explorer.models.table_onnx import RowFailure, load_table_model, locate
from explorer.scm.census import load_census_world
from test_audit_table import _run  # main(argv) with the parser's SystemExit(2) read as a return code

N = 1200
BROKEN = {17: ("native_country", "Martian"), 400: ("native_country", "Martian"), 901: ("workclass", "Unicorn")}
COMPARED = ("overall", "groups", "intersections", "fairness", "reading")


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    """Adult's first complete test rows, then three cells holding categories no row had."""
    frame = read_adult().rows("test", complete=True).head(N).reset_index(drop=True)
    frame = frame.astype({c: object for c in ("native_country", "workclass")})
    for row, (col, value) in BROKEN.items():
        frame.loc[row, col] = value
    return frame


@pytest.fixture(scope="module")
def strict(adult) -> bytes:
    """A pipeline fitted on the same rows (every category but the three planted ones seen), exported by skl2onnx
    with OneHotEncoder(handle_unknown='error'): it fails on a row holding a category it never saw."""
    return _strict(adult, ["workclass", "native_country", "sex", "race"])


@pytest.fixture(scope="module")
def strict_country(adult) -> bytes:
    """The same without workclass: the census world never changes a native country, so counterfactual rows and
    recourse candidates hold only categories the model saw (a row holding Martian is left out before)."""
    return _strict(adult, ["native_country", "sex", "race"])


def _strict(adult: pd.DataFrame, cats: list[str]) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    nums = ["age", "hours_per_week"]
    fit = adult.drop(index=list(BROKEN))
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error"), cats)],
                                                remainder="passthrough")),
                     ("clf", LogisticRegression(max_iter=1000))])
    pipe.fit(fit[cats + nums].astype({c: str for c in cats}), (fit.income.astype(str) == ">50K").astype(int))
    types = [(c, StringTensorType([None, 1])) for c in cats] + [(c, FloatTensorType([None, 1])) for c in nums]
    return to_onnx(pipe, initial_types=types, options={id(pipe): {"zipmap": False}}).SerializeToString()


def _nan_model() -> bytes:
    """sigmoid(sqrt(age - 30) - 2): NaN for every row younger than 30."""
    age = helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])
    consts = [helper.make_tensor("thirty", TensorProto.FLOAT, [], [30.0]),
              helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])]
    nodes = [helper.make_node("Sub", ["age", "thirty"], ["a"]), helper.make_node("Sqrt", ["a"], ["r"]),
             helper.make_node("Sub", ["r", "two"], ["z"]), helper.make_node("Sigmoid", ["z"], ["score"])]
    graph = helper.make_graph(nodes, "g", [age], [score], initializer=consts)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10).SerializeToString()


def _audit(tmp_path: Path, capsys, csv: Path, model: Path, *extra: str) -> tuple[int, str, dict, pd.DataFrame]:
    out, rows = tmp_path / f"{csv.stem}.json", tmp_path / f"{csv.stem}_rows.csv"
    code, err = _run(["audit-table", "--csv", str(csv), "--model", str(model), "--label", "income",
                      "--positive", ">50K", "--protected", "sex,race", "--n-boot", "200", "--json", str(out),
                      "--rows", str(rows), *extra], capsys)
    if code:
        return code, err, {}, pd.DataFrame()
    return code, err, json.loads(out.read_text()), pd.read_csv(rows, keep_default_na=False)


def test_unseen_categories_are_listed_left_out_and_the_rest_equals_the_audit_without_them(adult, strict, tmp_path,
                                                                                           capsys):
    (tmp_path / "m.onnx").write_bytes(strict)
    adult.to_csv(tmp_path / "all.csv", index=False)
    adult.drop(index=list(BROKEN)).to_csv(tmp_path / "without.csv", index=False)
    code, err, report, rows = _audit(tmp_path, capsys, tmp_path / "all.csv", tmp_path / "m.onnx", "--chunk-rows", "500")
    assert code == 0, err
    failed = report["data"]["failed_rows"]
    assert failed["count"] == 3 and [e["row"] for e in failed["examples"]] == sorted(BROKEN)
    assert failed["examples"][0]["error"] == "category 'Martian' of column native_country was never seen by the model"
    assert failed["examples"][2]["error"] == "category 'Unicorn' of column workclass was never seen by the model"
    assert failed["note"].startswith("3 rows (0.2 %) could not be scored by the model and are left out of every "
                                     "number; the first: row 17, category 'Martian' of column native_country")
    assert "note: 3 rows (0.2 %) could not be scored" in err
    # the per-row file: every row, the failed ones with their reason and no decision
    assert len(rows) == N and list(np.flatnonzero(rows["model_error"] != "")) == sorted(BROKEN)
    assert (rows.loc[list(BROKEN), ["probability", "prediction"]] == "").all().all()
    assert rows.loc[17, "model_error"] == failed["examples"][0]["error"]
    # every number equals the audit of the table without those rows
    code, err, without, _ = _audit(tmp_path, capsys, tmp_path / "without.csv", tmp_path / "m.onnx")
    assert code == 0, err
    assert without["data"]["failed_rows"]["count"] == 0
    for key in COMPARED:
        assert report[key] == without[key], key


def test_failed_rows_are_left_out_of_counterfactual_fairness_and_recourse(adult, strict_country, tmp_path, capsys):
    """The same counterfactual numbers as the table without them (one chunk, so one seed: the same draws); no
    failed row is searched for recourse."""
    broken = [17, 400]  # Martian: the rows this model fails on
    adult = adult.copy()
    adult.loc[901, "workclass"] = "Private"  # Unicorn: a category the census world cannot read either
    model, scm = load_table_model(strict_country, "strict"), load_census_world()[0]
    config = AuditTableConfig("income", ("sex",), positive=">50K", boot=BootstrapConfig(100, 0))
    report, rows = audit_table(adult, config, model.predict_proba)
    add_cf_fairness(report, rows, adult, model.predict_proba, scm, ("sex",), draws=3, seed=0)
    without = adult.drop(index=broken).reset_index(drop=True)
    expected, rows_b = audit_table(without, config, model.predict_proba)
    add_cf_fairness(expected, rows_b, without, model.predict_proba, scm, ("sex",), draws=3, seed=0)
    assert report["data"]["failed_rows"]["count"] == 2
    assert report["cf_fairness"]["sex"] == expected["cf_fairness"]["sex"]
    assert rows.loc[broken, "cf_sex_flip_rate"].isna().all()
    np.testing.assert_array_equal(rows["cf_sex_flip_rate"].drop(index=broken), rows_b["cf_sex_flip_rate"])
    # recourse on the command line: the first rejected rows, the failed ones never among them
    (tmp_path / "m.onnx").write_bytes(strict_country)
    adult.head(30).to_csv(tmp_path / "head.csv", index=False)
    code, err, report, _ = _audit(tmp_path, capsys, tmp_path / "head.csv", tmp_path / "m.onnx", "--recourse", "3")
    assert code == 0, err
    assert report["data"]["failed_rows"]["count"] == 1 and report["recourse"]["rows"] == 3
    assert 17 not in [e["row"] for e in report["recourse"].get("examples", [])]


def test_a_model_returning_nan_for_some_rows(tmp_path, capsys):
    frame = pd.DataFrame({"sex": ["F", "M"] * 10, "age": np.linspace(20, 60, 20), "y": [0, 1, 1, 0] * 5})
    (tmp_path / "nan.onnx").write_bytes(_nan_model())
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.iloc[5:].to_csv(tmp_path / "older.csv", index=False)
    runs = []
    for csv in ("t.csv", "older.csv"):
        out = tmp_path / f"{csv}.json"
        code, err = _run(["audit-table", "--csv", str(tmp_path / csv), "--model", str(tmp_path / "nan.onnx"),
                          "--label", "y", "--protected", "sex", "--n-boot", "100", "--json", str(out)], capsys)
        assert code == 0, err
        runs.append(json.loads(out.read_text()))
    failed = runs[0]["data"]["failed_rows"]
    assert failed["count"] == 5 and [e["row"] for e in failed["examples"]] == [0, 1, 2, 3, 4]  # ages 20 to 28.4
    assert failed["examples"][0]["error"] == "the model returns NaN when column age is 20"
    for key in COMPARED:
        assert runs[0][key] == runs[1][key], key


@pytest.mark.parametrize("colour, words", [
    (["green"] * 20, "its OneHotEncoder node: Unknown Category"),  # every row: the model's own message
    (["green"] * 11 + ["red", "blue"] * 4 + ["red"], "cannot score at least 10 of the 20 rows (50.0 %)"),
])
def test_half_of_the_rows_or_more_failing_is_one_line_exit_2_and_nothing_written(colour, words, tmp_path, capsys):
    from test_audit_bad_inputs import ROWS, _strict_encoder_model  # trained on colour red/blue only

    (tmp_path / "strict.onnx").write_bytes(_strict_encoder_model())
    ROWS.assign(colour=colour).to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "out"
    out.mkdir()
    code, err = _run(["audit-table", "--csv", str(tmp_path / "t.csv"), "--model", str(tmp_path / "strict.onnx"),
                      "--label", "y", "--protected", "sex", "--json", str(out / "a.json"), "--rows",
                      str(out / "r.csv")], capsys)
    lines = [line for line in err.splitlines() if line.strip() and "auditing" not in line]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], err
    assert not list(out.iterdir())


def test_bisection_finds_a_few_failing_rows_among_many_in_few_runs():
    bad, calls = {17, 5000, 19999}, []

    def run(idx: np.ndarray) -> np.ndarray:
        calls.append(len(idx))
        if bad & set(idx.tolist()):
            raise RowFailure("fails", "reason")
        return np.zeros(len(idx))

    values, errors, complete = locate(run, 20_000)
    assert set(errors) == bad and complete and np.isnan(values).sum() == 3
    assert len(calls) < 120 and sum(calls) < 20_000 * 15  # about 2 x 3 x log2(20,000) runs
    calls.clear()
    _, errors, complete = locate(lambda idx: run(np.array([17] * len(idx))), 1000, budget=500)
    assert len(errors) == 500 and not complete  # everything fails: stops at the budget
