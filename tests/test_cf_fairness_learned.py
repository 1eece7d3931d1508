"""Counterfactual fairness through the LEARNED table model (pretrained/census-vae-world): the same report as the
world's, hand-checkable models (blind to sex and to everything downstream of it; reading only sex), no change
without an intervention, the per-draw rows the VAE gives, the truth check on world rows, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from explorer.data.tables import read_adult
from explorer.metrics.cf_fairness import CfConfig, cf_fairness, cf_frame, derived_columns, scm_columns, world_frame
from explorer.metrics.cf_fairness_learned import (LearnedCausalModel, cf_fairness_learned, learned_world_check,
                                                  one_torch_thread)
from explorer.models.table_vae import load_table_vae
from explorer.paths import PRETRAINED
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world
from explorer.scm.table_posterior import descendants

FILL = {"capital_gain": 0.0, "capital_loss": 0.0}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with one_torch_thread():  # the VAE is called directly below too
        yield


@pytest.fixture(scope="module")
def world():
    return load_census_world()[0]


@pytest.fixture(scope="module")
def vae():
    return load_table_vae(PRETRAINED / "census-vae-world", "cpu")


@pytest.fixture(scope="module")
def rows(world):
    _, values = world.sample(400, seed=3)
    return world_frame(world, values, FILL, {})


@pytest.fixture(scope="module")
def derived(world):
    """education_num of education, as in Adult's test split (what the shipped models read)."""
    adult = read_adult().rows("test", complete=True)
    return derived_columns(adult, scm_columns(world, adult.columns), world)


def roots_only(frame: pd.DataFrame) -> np.ndarray:
    """Reads age and race: in the learned graph no path from sex reaches either (arrows into roots are absent)."""
    older = frame["age"].to_numpy(np.float64) > 40
    return np.where(frame["race"].astype(str).to_numpy() == "White", 0.3, 0.1) + 0.5 * older


def sex_only(frame: pd.DataFrame) -> np.ndarray:
    return (frame["sex"].astype(str).to_numpy() == "Male").astype(float) * 0.6 + 0.2


def keys(tree: dict, skip: frozenset = frozenset()) -> set[str]:
    """Every key path of a nested dict, values ignored."""
    out = set()
    for k, v in tree.items():
        if k in skip:
            continue
        out.add(k)
        if isinstance(v, dict):
            out |= {f"{k}.{sub}" for sub in keys(v)}
    return out


def test_the_report_has_the_worlds_keys(world, vae, rows):
    learned, eff = cf_fairness_learned(rows, sex_only, vae, CfConfig(draws=4))
    ours, _ = cf_fairness(rows, sex_only, world, CfConfig(draws=4))
    derived_keys = frozenset({"derived_columns"})  # its values are columns, not keys: compared below
    assert keys(learned, derived_keys) == keys(ours, derived_keys)
    assert learned["causal_model"] == "learned:census-vae-world"
    assert learned["held_columns"] == ours["held_columns"] == list(FILL)
    assert learned["derived_columns"] == ours["derived_columns"] == {}
    assert set(learned["sex"]["path"]) == {"direct", "not_marital_status"}
    assert eff.flip.shape == eff.abs_dp.shape == (len(rows),)
    order = LearnedCausalModel(vae).order  # what a report draws the graph in
    assert all(order.index(p) < order.index(c) for p, c in vae.graph.edges)


def test_a_model_blind_to_sex_and_its_descendants_never_flips(vae, rows):
    assert not descendants(vae.graph, ["sex"]) & {"age", "race"}  # what the model reads is upstream of nothing
    report, eff = cf_fairness_learned(rows, roots_only, vae, CfConfig(draws=4))
    assert report["sex"]["flip_rate"] == 0.0 and report["sex"]["mean_abs_dp"] == 0.0
    assert all(v["flip_rate"] == 0.0 and v["mean_abs_dp"] == 0.0 for v in report["sex"]["path"].values())


def test_a_model_reading_only_sex_flips_every_row(vae, rows):
    report, _ = cf_fairness_learned(rows, sex_only, vae, CfConfig(draws=4), chunk_rows=150)
    assert report["sex"]["flip_rate"] == 1.0 and report["sex"]["mean_abs_dp"] == pytest.approx(0.6)
    assert report["sex"]["Female"]["flip_rate"] == report["sex"]["Male"]["flip_rate"] == 1.0
    assert report["sex"]["path"]["direct"]["flip_rate"] == 1.0


def test_no_intervention_changes_nothing(world, vae, derived):
    """do(sex = each row's own value) gives back the factual rows, so no decision changes; with the other value
    for half the rows, exactly those rows move."""
    logreg, _ = load_table_classifier("adult-logreg")
    values = world.sample(400, seed=3)[1]
    rows = world_frame(world, values, FILL, derived)
    learned = LearnedCausalModel(vae)
    mapping = {v: v for v in vae.columns}
    post = learned.posterior_draws(values, 4, 0, ["sex"])
    own = values["sex"]
    cf = post.counterfactual(learned.encode_do({"sex": own}, len(own)))
    assert all(np.array_equal(cf[c], values[c]) for c in vae.columns)  # (n,) each: the same in every draw
    pick = np.arange(len(rows))
    p0 = logreg.predict_proba(rows)
    assert np.array_equal(logreg.predict_proba(cf_frame(rows, cf, mapping, vae, derived, pick)), p0)
    half = np.where(np.arange(len(own)) % 2 == 0, own, 1 - own)
    cf = post.counterfactual(learned.encode_do({"sex": half}, len(own)))
    changed = np.any([np.any(np.atleast_2d(cf[c]) != values[c], axis=0) for c in vae.columns], axis=0)  # (n,)
    assert np.array_equal(changed, half != own)


def test_the_draws_are_what_the_best_guess_sums_up(world, vae):
    values = world.sample(200, seed=5)[1]
    do = {"sex": 1 - values["sex"]}
    draws = vae.counterfactual_draws(values, do)
    best = vae.counterfactual_rows(values, do)
    assert all(v.shape == (vae.draws, 200) for v in draws.values())
    assert np.array_equal(draws["sex"][0], do["sex"]) and np.array_equal(draws["age"][3], values["age"])
    # the median number as torch takes it: of an even number of draws, the lower of the two middle ones (numpy
    # averages them, which differs where hours follow drawn categories)
    lower_median = np.sort(draws["hours_per_week"], 0)[(vae.draws - 1) // 2]
    assert np.allclose(lower_median, best["hours_per_week"])
    counts = np.stack([(draws["occupation"] == k).sum(0) for k in range(vae.columns["occupation"].levels)])
    assert np.all(counts[best["occupation"], np.arange(200)] == counts.max(0))  # a most frequent category
    again = vae.counterfactual_draws(values, do, draws=6, seed=9)
    assert again["occupation"].shape == (6, 200)
    assert np.array_equal(again["occupation"], vae.counterfactual_draws(values, do, draws=6, seed=9)["occupation"])


def test_the_truth_check_reports_the_learned_gap(world, vae, derived):
    logreg, _ = load_table_classifier("adult-logreg")
    out = learned_world_check(world, vae, {"logreg": logreg.predict_proba}, 300, CfConfig(draws=5), FILL, derived)
    key = "world.logreg.sex."
    for name in ("flip_rate_true", "flip_rate_estimate", "flip_rate_column_only", "flip_rate_learned",
                 "abs_error", "abs_error_learned", "mean_abs_dp_learned"):
        assert math.isfinite(out[key + name]) and 0.0 <= out[key + name] <= 1.0
    assert out[key + "abs_error_learned"] == pytest.approx(abs(out[key + "flip_rate_learned"]
                                                               - out[key + "flip_rate_true"]))
    assert out[key + "flip_rate_learned"] > 0.0  # the learned model moves what the model reads


def test_columns_are_matched_by_their_normalised_names(vae, rows):
    renamed = rows.rename(columns={"marital_status": "Marital-Status", "hours_per_week": "hours.per.week"})
    a, _ = cf_fairness_learned(rows, sex_only, vae, CfConfig(draws=3))
    b, _ = cf_fairness_learned(renamed, sex_only, vae, CfConfig(draws=3))
    assert a == b


def test_bad_input_says_what_to_do(vae, rows):
    with pytest.raises(ValueError, match="not a categorical variable of the learned model census-vae-world"):
        cf_fairness_learned(rows, sex_only, vae, CfConfig("age"))
    with pytest.raises(ValueError, match="no column for the learned model census-vae-world's variable.*occupation"):
        cf_fairness_learned(rows.drop(columns="occupation"), sex_only, vae, CfConfig())
    with pytest.raises(ValueError, match="not an arrow of the learned graph"):
        cf_fairness_learned(rows, sex_only, vae, CfConfig(paths={"x": ("sex:age",)}))
