"""Counterfactual fairness through the LEARNED causal model (census-vae-adult) on a local Ray with one CPU: its
numbers equal the in-process ones, on the command line (`--cf --causal-model learned --engine ray`, with
`--recourse`) and through `audit_table_engine`; 400 Adult test rows in three chunks, so each chunk's own seed counts."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from test_audit_ray import assert_same  # dicts equal key for key, floats to 1e-12
from test_audit_table import _run  # the command line run as a test runs it: (exit status, stderr)

from explorer.evaluate.audit_table import AuditTableConfig
from explorer.evaluate.audit_table_ray import audit_table_engine, connect
from explorer.evaluate.audit_table_ray_learned import causal_model
from explorer.metrics.cf_fairness import CfConfig
from explorer.metrics.cf_fairness_learned import cf_fairness_learned
from explorer.metrics.group_fairness import BootstrapConfig
from explorer.registry import load_table_classifier
from explorer.services.audit_table_page import shipped_table

ray = pytest.importorskip("ray")

N, CHUNK, DRAWS = 400, 150, 4  # three chunks: 150, 150, 100 rows


@pytest.fixture(scope="module")
def local_ray():
    started = connect(None, 1)  # the engine's own start-up: one CPU, workers import this repository
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return shipped_table("adult").frame.head(N).reset_index(drop=True)


@pytest.fixture(scope="module")
def table(tmp_path_factory, frame):
    path = tmp_path_factory.mktemp("learned_ray") / "t.csv"
    frame.to_csv(path, index=False)
    return path


def untimed(value):
    """`value` without the measured times: keys `seconds...` dropped, "0.04 s per row" in sentences blanked."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return re.sub(r"[\d.]+ s per row", "? s per row", value) if isinstance(value, str) else value


def test_the_command_line_on_ray_equals_the_command_line_in_process(local_ray, table, tmp_path, capsys):
    """The same command, once per engine: exit 0 both times, the same JSON (but for the engine section), the same
    per-row file; the counterfactual fairness of sex and race went through the learned model, as did recourse."""
    out = {}
    for engine in ("local", "ray"):
        code, err = _run(["audit-table", "--csv", str(table), "--shipped", "adult-gbm", "--label", "income",
                          "--positive", ">50K", "--protected", "sex,race", "--n-boot", "100", "--cf",
                          "--cf-draws", str(DRAWS), "--causal-model", "learned", "--chunk-rows", str(CHUNK),
                          "--recourse", "2", "--engine", engine, "--json", str(tmp_path / f"{engine}.json"),
                          "--rows", str(tmp_path / f"{engine}.csv")], capsys)
        assert code == 0, err
        out[engine] = json.loads((tmp_path / f"{engine}.json").read_text())
    out = {e: untimed(r) for e, r in out.items()}  # recourse's time per row is measured, not computed: left out
    engine = out["ray"].pop("engine")
    assert engine["name"] == "ray" and engine["chunks"] == 3 and engine["model_builds"] <= engine["workers"]
    assert_same(out["ray"], out["local"])
    cf = out["ray"]["cf_fairness"]
    assert cf["causal_model"] == "learned:census-vae-adult" and {"sex", "race"} <= set(cf)
    assert 0.0 < cf["sex"]["flip_rate"] < 1.0 and 0.0 < cf["race"]["flip_rate"] < 1.0
    assert out["ray"]["recourse"]["causal_model"].startswith("learned")
    rows = {e: pd.read_csv(tmp_path / f"{e}.csv") for e in ("local", "ray")}
    pd.testing.assert_frame_equal(rows["ray"], rows["local"], rtol=0, atol=1e-12)
    assert rows["ray"]["cf_race_flip_rate"].notna().all()


def test_one_chunk_on_ray_equals_the_learned_metric_itself(local_ray, frame):
    """In one chunk the task keeps the audit's seed: Ray's numbers are `cf_fairness_learned`'s on the whole table
    in one call, row for row; in three chunks they are another draw of the same posterior, close but not equal."""
    config = AuditTableConfig(label="income", protected=("sex",), positive=">50K", chunk_rows=N,
                              boot=BootstrapConfig(100, 0))
    report, rows = audit_table_engine(frame, config, "adult-gbm", engine="ray", cf=("sex",), cf_draws=DRAWS,
                                      causal_model_name="learned")
    model, _ = load_table_classifier("adult-gbm")
    expected, eff = cf_fairness_learned(frame, model.predict_proba, causal_model("learned").vae,
                                        CfConfig("sex", DRAWS, 0), chunk_rows=None)
    assert_same(report["cf_fairness"]["sex"], expected["sex"])
    assert report["cf_fairness"]["causal_model"] == expected["causal_model"]
    np.testing.assert_allclose(rows["cf_sex_flip_rate"], eff.flip, rtol=0, atol=1e-12)
    chunked, _ = audit_table_engine(frame, AuditTableConfig(**{**config.__dict__, "chunk_rows": CHUNK}), "adult-gbm",
                                    engine="ray", cf=("sex",), cf_draws=DRAWS, causal_model_name="learned")
    assert chunked["engine"]["chunks"] == 3
    assert abs(chunked["cf_fairness"]["sex"]["flip_rate"] - expected["sex"]["flip_rate"]) < 0.05
    with pytest.raises(ValueError, match="not one of world, learned"):
        audit_table_engine(frame, config, "adult-gbm", cf=("sex",), causal_model_name="vae")
