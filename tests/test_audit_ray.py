"""The audit as Ray tasks on a local Ray with one CPU: its numbers equal the in-process ones (group metrics and
counterfactual fairness), the model is built once per worker, and an unreachable address is one clear line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from explorer.data.tables import read_adult
from explorer.evaluate.audit_table import AuditTableConfig, add_cf_fairness, audit_table
from explorer.evaluate.audit_table_ray import audit_table_engine, audit_table_ray, connect, model_bytes_of
from explorer.metrics.group_fairness import BootstrapConfig
from explorer.metrics.cf_fairness import derived_columns, scm_columns, world_frame
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world

ray = pytest.importorskip("ray")

N, CHUNKS, DRAWS = 3000, 4, 5
CONFIG = AuditTableConfig(label="income", protected=("sex", "race"), positive=">50K", chunk_rows=N // CHUNKS,
                          boot=BootstrapConfig(200, 0))


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """3,000 census-world rows as the Adult columns adult-logreg reads (education_num follows education)."""
    world = load_census_world()[0]
    adult = read_adult().rows("test", complete=True).reset_index(drop=True)
    derived = derived_columns(adult, scm_columns(world, adult.columns), world)
    _, values = world.sample(N, seed=5)
    return world_frame(world, values, {"capital_gain": 0.0, "capital_loss": 0.0}, derived)


@pytest.fixture(scope="module")
def in_process(table):
    """The existing path: audit_table, then add_cf_fairness on the whole table."""
    model, _ = load_table_classifier("adult-logreg")
    report, rows = audit_table(table, CONFIG, model.predict_proba)
    add_cf_fairness(report, rows, table, model.predict_proba, load_census_world()[0], ("sex",), DRAWS, 0)
    return report, rows


def assert_same(a, b, where="report"):
    """Equal dicts/lists, floats to 1e-12 (onnxruntime may add in another order for another batch size)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=0, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)), where
    else:
        assert a == b, where


def test_group_metrics_in_four_chunks_on_ray_equal_the_in_process_audit(local_ray, table, in_process):
    report, rows = audit_table_ray(table, CONFIG, "adult-logreg")
    engine = report.pop("engine")
    assert engine["chunks"] == CHUNKS and engine["model_builds"] <= engine["workers"]  # once per worker
    assert_same(report, {k: v for k, v in in_process[0].items() if k not in ("cf_fairness", "causal_graph")})
    np.testing.assert_allclose(rows["probability"], in_process[1]["probability"], rtol=0, atol=1e-12)
    assert (rows["prediction"] == in_process[1]["prediction"]).all()


def test_cf_fairness_in_one_chunk_on_ray_equals_add_cf_fairness(local_ray, table, in_process):
    one = AuditTableConfig(**{**CONFIG.__dict__, "chunk_rows": N})  # one chunk keeps add_cf_fairness's own seed
    report, rows = audit_table_ray(table, one, "adult-logreg", cf=("sex",), cf_draws=DRAWS, cf_seed=0)
    report.pop("engine")
    assert_same(report, in_process[0])
    for col in ("cf_sex_flip_rate", "cf_sex_mean_abs_dp"):
        np.testing.assert_allclose(rows[col], in_process[1][col], rtol=0, atol=1e-12)


def test_cf_fairness_in_chunks_is_the_same_on_ray_and_in_process(local_ray, table, in_process):
    """Four chunks draw their own posterior noise (seeded by their first row), on any engine the same."""
    data, _ = model_bytes_of("adult-logreg")
    kw = dict(cf=("sex", "age"), cf_draws=DRAWS, cf_seed=0)  # age: not categorical, so a note, not an error
    on_ray, rows_ray = audit_table_engine(table, CONFIG, data, engine="ray", **kw)
    local, rows_local = audit_table_engine(table, CONFIG, data, engine="local", **kw)
    assert on_ray.pop("engine")["name"] == "ray" and local.pop("engine")["name"] == "local"
    assert_same(on_ray, local)
    pd.testing.assert_frame_equal(rows_ray, rows_local, rtol=0, atol=1e-12)
    assert "counterfactual fairness of age is missing" in on_ray["cf_fairness"]["note"]
    # another draw of the same posterior: close to the one-chunk estimate, not equal to it
    assert abs(on_ray["cf_fairness"]["sex"]["flip_rate"] - in_process[0]["cf_fairness"]["sex"]["flip_rate"]) < 0.03


def test_an_unreachable_address_is_one_clear_line(table):
    with pytest.raises(ValueError, match=r"no Ray cluster answers at 127\.0\.0\.1:1 .*ray start --head") as err:
        connect("127.0.0.1:1", None)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        connect("nowhere", None)
    with pytest.raises(ValueError, match="no Ray cluster answers at 127.0.0.1:1"):
        audit_table_ray(table, CONFIG, "adult-logreg", address="127.0.0.1:1")



def test_columns_mapped_by_hand_are_followed_as_add_cf_fairness_follows_them(local_ray, table):
    """--map: the label called `outcome` and education `degree` (columns the model does not read), mapped to the
    world's `income` and `education`; the report keeps the table's names."""
    frame = table.iloc[:1000].rename(columns={"income": "outcome", "education": "degree"})
    column_map = {"outcome": "income", "degree": "education"}
    config = AuditTableConfig(label="outcome", protected=("sex",), positive=">50K", boot=BootstrapConfig(200, 0))
    model, _ = load_table_classifier("adult-logreg")
    expected, rows = audit_table(frame, config, model.predict_proba)
    add_cf_fairness(expected, rows, frame, model.predict_proba, load_census_world()[0], ("sex",), 2, 0, column_map)
    report, rows_ray = audit_table_ray(frame, config, "adult-logreg", cf=("sex",), cf_draws=2, column_map=column_map)
    report.pop("engine")
    assert_same(report, expected)
    assert report["cf_fairness"]["matching"]["by_map"] == column_map
    np.testing.assert_allclose(rows_ray["cf_sex_flip_rate"], rows["cf_sex_flip_rate"], rtol=0, atol=1e-12)


def test_model_inputs_mapped_by_hand_are_read_on_the_workers(local_ray, table):
    """--map column=input: the model's `sex` and `hours_per_week` inputs read columns named `gender` and `hours`;
    the workers build the model once and follow the map, so the audit equals the one with the original names."""
    renamed = {"sex": "gender", "hours_per_week": "hours"}
    frame = table.iloc[:1000]
    config = AuditTableConfig(label="income", protected=("sex",), positive=">50K", boot=BootstrapConfig(200, 0))
    expected, _ = audit_table_ray(frame, config, "adult-logreg", cf=("sex",), cf_draws=2)
    config_b = AuditTableConfig(label="income", protected=("gender",), positive=">50K", boot=BootstrapConfig(200, 0))
    report, rows = audit_table_ray(frame.rename(columns=renamed), config_b, "adult-logreg", cf=("gender",), cf_draws=2,
                                   input_map={"gender": "sex", "hours": "hours_per_week"},
                                   column_map={"gender": "sex", "hours": "hours_per_week"})
    assert report["overall"] == expected["overall"]
    assert report["groups"]["gender"] == expected["groups"]["sex"]
    assert report["cf_fairness"]["gender"]["flip_rate"] == expected["cf_fairness"]["sex"]["flip_rate"]


@pytest.mark.parametrize("extra, words", [
    (["--address", "127.0.0.1:1"], "--address names a Ray cluster: add --engine ray"),
    (["--engine", "ray", "--address", "127.0.0.1:1"], "no Ray cluster answers at 127.0.0.1:1"),
])
def test_the_command_lines_engine_flags_refuse_what_they_cannot_do(tmp_path, extra, words):
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "audit.json"
    done = subprocess.run([sys.executable, "-m", "explorer", "audit-table", "--table", "adult", "--shipped",
                           "adult-logreg", "--protected", "sex", "--n-boot", "100", *extra, "--json", str(out)],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and words in errors[0], done.stderr[-500:]
    assert not out.exists()


def test_rows_the_model_fails_on_are_left_out_alike_on_ray_and_in_process(local_ray, table):
    """A model exported with OneHotEncoder(handle_unknown='error') meets a country it never saw in two rows (of two
    chunks): Ray and the command line's in-process path (audit_table, then add_cf_fairness) list the same rows and
    give the same numbers, group metrics and counterfactual fairness."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from explorer.models.table_onnx import load_table_model

    cats, nums = ["native_country", "sex", "race"], ["age", "hours_per_week"]
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error"), cats)],
                                                remainder="passthrough")), ("clf", LogisticRegression(max_iter=3000))])
    pipe.fit(table[cats + nums].astype({c: str for c in cats}), (table.income.astype(str) == ">50K").astype(int))
    data = to_onnx(pipe, initial_types=[(c, StringTensorType([None, 1])) for c in cats] +
                   [(c, FloatTensorType([None, 1])) for c in nums],
                   options={id(pipe): {"zipmap": False}}).SerializeToString()
    frame = table.astype({"native_country": object})
    frame.loc[[5, 1700], "native_country"] = "Martian"
    on_ray, rows_ray = audit_table_engine(frame, CONFIG, data, engine="ray", cf=("sex",), cf_draws=DRAWS)
    model = load_table_model(data, "strict")
    local, rows_local = audit_table(frame, CONFIG, model.predict_proba)
    add_cf_fairness(local, rows_local, frame, model.predict_proba, load_census_world()[0], ("sex",), DRAWS, 0,
                    chunk_rows=CONFIG.chunk_rows)
    assert on_ray.pop("engine")["chunks"] == CHUNKS
    assert [e["row"] for e in on_ray["data"]["failed_rows"]["examples"]] == [5, 1700]
    assert_same(on_ray, local)
    pd.testing.assert_frame_equal(rows_ray, rows_local, rtol=0, atol=1e-12)
    assert rows_ray["cf_sex_flip_rate"].isna().sum() == 2
