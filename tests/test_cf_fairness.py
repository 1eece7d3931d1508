"""Counterfactual fairness through the census world: hand-checkable models (one blind to sex, one reading only
sex), the estimate against the world's TRUE counterfactual, the audit's --cf keys and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from explorer.__main__ import main
from explorer.data.tables import read_adult
from explorer.metrics.cf_fairness import (CfConfig, cf_fairness, derived_columns, scm_columns, world_check,
                                          world_frame)
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world

FILL = {"capital_gain": 0.0, "capital_loss": 0.0}


@pytest.fixture(scope="module")
def world():
    return load_census_world()[0]


@pytest.fixture(scope="module")
def adult_test():
    return read_adult().rows("test", complete=True).reset_index(drop=True)


@pytest.fixture(scope="module")
def rows(world):
    _, values = world.sample(400, seed=3)
    return world_frame(world, values, FILL, {})


def blind(frame: pd.DataFrame) -> np.ndarray:
    """Reads age only (a root: no path from sex reaches it)."""
    return (frame["age"].to_numpy(np.float64) > 40).astype(float) * 0.8 + 0.1


def sex_only(frame: pd.DataFrame) -> np.ndarray:
    return (frame["sex"].astype(str).to_numpy() == "Male").astype(float) * 0.6 + 0.2


def test_a_model_blind_to_sex_never_flips(world, rows):
    report, eff = cf_fairness(rows, blind, world, CfConfig(draws=5))
    assert report["sex"]["flip_rate"] == 0.0 and report["sex"]["mean_abs_dp"] == 0.0
    assert all(v["flip_rate"] == 0.0 for v in report["sex"]["path"].values())
    assert eff.flip.shape == (len(rows),)


def test_a_model_reading_only_sex_flips_every_row(world, rows):
    report, _ = cf_fairness(rows, sex_only, world, CfConfig(draws=5))
    assert report["sex"]["flip_rate"] == 1.0 and report["sex"]["mean_abs_dp"] == pytest.approx(0.6)
    assert report["sex"]["Female"]["flip_rate"] == 1.0 and report["sex"]["path"]["direct"]["flip_rate"] == 1.0
    assert report["held_columns"] == list(FILL)


def test_race_moves_every_row_to_every_other_value(world, rows):
    report, _ = cf_fairness(rows, blind, world, CfConfig("race", draws=2, paths={}))
    assert report["race"]["flip_rate"] == 0.0 and report["race"]["path"] == {}


def test_the_estimate_is_close_to_the_true_counterfactual_flip_rate(world, adult_test):
    derived = derived_columns(adult_test, scm_columns(world, adult_test.columns), world)
    assert set(derived) == {"education_num"}
    model, _ = load_table_classifier("adult-logreg")
    out = world_check(world, {"logreg": model.predict_proba}, 3000, CfConfig(draws=10), FILL, derived)
    assert out["world.logreg.sex.abs_error"] <= 0.02  # the floor
    assert out["world.logreg.sex.abs_error_column_only"] > 0.03  # the column alone misses the paths


def test_bad_input_says_what_to_do(world, rows):
    with pytest.raises(ValueError, match="not a categorical variable of the census world"):
        cf_fairness(rows.assign(group="a"), blind, world, CfConfig("group"))
    with pytest.raises(ValueError, match="no column for the census world's variable.*marital_status"):
        cf_fairness(rows.drop(columns="marital_status"), blind, world, CfConfig())


def test_cli_cf_keys_and_the_note_when_columns_do_not_map(tmp_path, adult_test, capsys):
    csv = tmp_path / "t.csv"
    small = adult_test.groupby("education", observed=True).head(20)  # every education, so education_num follows it
    small.to_csv(csv, index=False)
    out = tmp_path / "r.json"
    args = ["audit-table", "--csv", str(csv), "--label", "income", "--positive", ">50K", "--shipped", "adult-logreg", "--protected",
            "sex", "--n-boot", "100", "--cf", "--cf-draws", "4", "--json", str(out), "--rows", str(tmp_path / "r.csv")]
    assert main(args) == 0
    cf = json.loads(out.read_text())["cf_fairness"]
    for key in ("flip_rate", "mean_abs_dp"):
        assert 0 <= cf["sex"][key] <= 1 and key in cf["sex"]["Female"] and key in cf["sex"]["path"]["direct"]
    assert "capital_gain" in cf["held_columns"] and cf["derived_columns"] == {"education_num": "education"}
    assert "cf_sex_flip_rate" in pd.read_csv(tmp_path / "r.csv").columns
    small.rename(columns={"income": "y"}).to_csv(csv, index=False)
    args[args.index("income")] = "y"
    assert main(args) == 0
    cf = json.loads(out.read_text())["cf_fairness"]
    assert list(cf) == ["note"] and "income" in cf["note"]
    assert "Counterfactual fairness" in capsys.readouterr().out
