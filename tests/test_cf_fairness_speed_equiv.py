"""The fast counterfactual-fairness path gives the numbers of the straightforward one.

- `TableSCM.posterior_draws` (explorer/scm/table_posterior.py), given `TableSCM.posterior`'s noise, gives the
  counterfactuals of `counterfactual_draws` bit for bit, in the world's graph and with arrows cut.
- Its own sampler (exponentials, one stream per column) draws from the same posterior: the observed category
  stays on top, the noise is Gumbel(0, 1) again on average over observations, the Gumbel-max pair's
  counterfactual probabilities match their closed form, and the census world's counterfactual categories are as
  frequent as with `TableSCM.posterior`'s draws.
- `row_effects` asking the model once per distinct counterfactual row equals asking it for every draw.
- `add_cf_fairness` in chunks equals the chunked in-process engine (`audit_table_engine`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from explorer.evaluate.audit_table import AuditTableConfig, add_cf_fairness, audit_table
from explorer.evaluate.audit_table_ray import audit_table_engine
from explorer.metrics.cf_fairness import (CfConfig, default_paths, distinct_rows, row_effects, scm_columns,
                                          world_frame)
from explorer.metrics.group_fairness import BootstrapConfig
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world
from explorer.scm.table_posterior import mech_linear
from explorer.scm.table_scm import TableSCM
from test_census_scm import gumbel_pair  # x -> y, whose counterfactuals are known in closed form there

FILL = {"capital_gain": 0.0, "capital_loss": 0.0}


@pytest.fixture(scope="module")
def world():
    return load_census_world()[0]


@pytest.fixture(scope="module")
def sample(world):
    return world.sample(600, seed=11)[1]


@pytest.mark.parametrize("protected, draws, seed", [("sex", 7, 0), ("sex", 3, 99), ("race", 4, 5),
                                                    ("marital_status", 5, 2)])
def test_given_the_same_noise_the_counterfactuals_are_bit_for_bit_equal(world, sample, protected, draws, seed):
    a = sample[protected]
    graphs = {"world": None, **{k: world.cut(v) for k, v in default_paths(world, protected).items()}}
    for value in range(world.columns[protected].levels):
        idx = np.flatnonzero(a != value)
        sub = {k: v[idx] for k, v in sample.items()}
        noise = world.posterior(sub, draws, seed)
        fast = world.posterior_draws(sub, draws, seed, [protected], noise=noise)
        assert set(fast.noise) == {c for c in world.columns if world.columns[c].discrete} & fast.changing
        for name, graph in graphs.items():
            slow = world.counterfactual_draws(sub, {protected: value}, graph, draws, seed, noise=noise)
            got = fast.tiled(fast.counterfactual(world.encode_do({protected: value}, len(idx)), graph))
            for col in world.columns:
                np.testing.assert_array_equal(got[col], slow[col], err_msg=f"{name}: {col}")


def test_the_sampler_keeps_the_observed_category_on_top(world, sample):
    fast = world.posterior_draws(sample, 5, 1, ["sex"])
    for col, noise in fast.noise.items():  # the observed parents' logits + the noise: the observed category wins
        top = np.argmax(mech_linear(world.mechanisms[col], sample) + noise, axis=-1)  # (draws, n)
        np.testing.assert_array_equal(top, np.broadcast_to(sample[col], top.shape), err_msg=col)


def test_the_sampler_gives_the_prior_back_on_average():
    """Drawing the observation, then Gumbels from its posterior, must give Gumbel(0, 1) noise again."""
    scm = gumbel_pair()
    _, values = scm.sample(40_000, 4)
    g = scm.posterior_draws(values, 1, 5, ["x"]).noise["y"][0]  # (n, 2)
    assert g.mean(0) == pytest.approx([np.euler_gamma] * 2, abs=0.03)
    assert g.std(0) == pytest.approx([np.pi / np.sqrt(6)] * 2, abs=0.03)


@pytest.mark.parametrize("x, y, do_x, expected", [(1, 1, 0, expit(-1.0) / expit(1.0)),
                                                  (0, 0, 1, expit(-1.0) / expit(1.0)), (0, 1, 1, 1.0)])
def test_the_pairs_counterfactual_probabilities_match_the_closed_form(x, y, do_x, expected):
    """As tests/test_census_scm.py checks `counterfactual_draws` (the gap between the logits moves by 2)."""
    scm = gumbel_pair()
    fast = scm.posterior_draws({"x": np.array([x]), "y": np.array([y])}, 20_000, 3, ["x"])
    cf = fast.counterfactual({"x": do_x})["y"]  # (20000, 1)
    assert (cf == y).mean() == pytest.approx(expected, abs=0.015)  # 4 standard errors


def test_the_census_worlds_counterfactuals_are_as_frequent_as_with_the_tiled_posterior(world, sample):
    sub = {k: v[:200] for k, v in sample.items()}
    do, draws = {"sex": 1 - sub["sex"]}, 400
    slow = world.counterfactual_draws(sub, do, None, draws, seed=6)
    fast = world.posterior_draws(sub, draws, 7, ["sex"]).tiled(
        world.posterior_draws(sub, draws, 7, ["sex"]).counterfactual(world.encode_do(do, 200)))
    for col in ("marital_status", "education", "relationship", "occupation", "income"):
        k = world.columns[col].levels
        freq = [np.bincount(d[col].reshape(-1), minlength=k) / d[col].size for d in (slow, fast)]
        assert np.abs(freq[0] - freq[1]).max() < 0.01, col  # the standard error is about 0.002


def test_posterior_draws_refuse_a_do_they_were_not_drawn_for(world, sample):
    fast = world.posterior_draws(sample, 2, 0, ["sex"])
    with pytest.raises(ValueError, match="do\\(\\) on \\['sex'\\]"):
        fast.counterfactual({"race": np.zeros(len(sample["sex"]), np.int64)})


def test_distinct_rows_spread_back_to_every_draw():
    cf = {"a": np.array([[0, 1, 1], [0, 1, 2]]), "b": np.array([0.5, 0.5, 0.7]), "c": np.array([[1.0, 2.0, 3.0],
                                                                                              [1.0, 2.0, 3.5]])}
    pick, inverse = distinct_rows(cf, ["a", "b", "c"], draws=2, n=3)
    assert len(pick) == 4  # rows 0 and 1 are the same in both draws; row 2 differs
    flat_a, flat_c = cf["a"].reshape(-1), cf["c"].reshape(-1)
    np.testing.assert_array_equal(flat_a[pick][inverse], flat_a)
    np.testing.assert_array_equal(flat_c[pick][inverse], flat_c)
    np.testing.assert_array_equal(pick[inverse] % 3, np.arange(6) % 3)  # never merged across rows


def slow_row_effects(frame, predict, scm, config, p0, derived):
    """The straightforward loop: every draw of every row asked of the model (the same posterior draws)."""
    mapping = scm_columns(scm, frame.columns)
    obs = {v: scm.columns[v].encode(frame[c].astype(object).to_numpy() if scm.columns[v].discrete
                                     else frame[c].to_numpy(), check_range=False) for v, c in mapping.items()}
    graphs = {None: None, **{k: scm.cut(v) for k, v in default_paths(scm, config.protected).items()}}
    n, d, a = len(frame), config.draws, obs[config.protected]
    flip = {g: np.zeros(n) for g in graphs}
    for value in range(scm.columns[config.protected].levels):
        idx = np.flatnonzero(a != value)
        post = scm.posterior_draws({k: v[idx] for k, v in obs.items()}, d, config.seed, [config.protected])
        for name, graph in graphs.items():
            cf = post.tiled(post.counterfactual(scm.encode_do({config.protected: value}, idx.size), graph))
            cols = {c: np.tile(frame[c].to_numpy()[idx], d) for c in frame.columns}
            for var, col in mapping.items():
                spec, v = scm.columns[var], cf[var].reshape(-1)
                cols[col] = np.asarray(spec.categories, dtype=object)[v] if spec.discrete else v
            for col, (var, table) in derived.items():
                cols[col] = pd.Series(cols[mapping[var]]).astype(str).map(table).to_numpy()
            p = predict(pd.DataFrame(cols)).reshape(d, idx.size)
            flip[name][idx] += ((p >= config.threshold) != (p0[idx] >= config.threshold)).mean(0)
    return flip


def test_row_effects_ask_each_distinct_row_once_and_get_every_draws_answer(world):
    model = load_table_classifier("adult-logreg")[0]
    _, values = world.sample(2000, seed=4)
    # education_num follows education (a "derived" column, as in Adult): any one-to-one map will do here
    derived = {"education_num": ("education", {c: float(i + 1) for i, c in
                                               enumerate(world.columns["education"].categories)})}
    frame = world_frame(world, values, FILL, derived)
    calls = []

    def predict(rows):
        calls.append(len(rows))
        return model.predict_proba(rows)

    config = CfConfig("sex", draws=6, seed=3)
    p0 = model.predict_proba(frame)
    eff, _ = row_effects(frame, predict, world, config, p0, derived)
    slow = slow_row_effects(frame, model.predict_proba, world, config, p0, derived)
    np.testing.assert_array_equal(eff.flip, slow[None])
    for name, (flip, _) in eff.paths.items():
        np.testing.assert_array_equal(flip, slow[name])
    assert sum(calls) < 3 * 6 * len(frame) * 0.7  # the "direct" graph alone gives one row per row, not six


def test_add_cf_fairness_in_chunks_equals_the_chunked_engine(world):
    _, values = world.sample(1000, seed=8)
    frame = world_frame(world, values, FILL, {})
    frame["education_num"] = world.columns["education"].encode(frame["education"].to_numpy()).astype(float) + 1
    config = AuditTableConfig(label="income", protected=("sex",), positive=">50K", chunk_rows=300,
                              boot=BootstrapConfig(20, 0))
    model = load_table_classifier("adult-logreg")[0]
    report, rows = audit_table(frame, config, model.predict_proba)
    seen = []
    add_cf_fairness(report, rows, frame, model.predict_proba, world, ("sex",), draws=4, seed=1, chunk_rows=300,
                    progress=lambda done, total: seen.append((done, total)))
    engine, engine_rows = audit_table_engine(frame, config, "adult-logreg", cf=("sex",), cf_draws=4, cf_seed=1)
    assert seen == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]
    assert report["cf_fairness"]["sex"] == engine["cf_fairness"]["sex"]
    np.testing.assert_array_equal(rows["cf_sex_flip_rate"], engine_rows["cf_sex_flip_rate"])
