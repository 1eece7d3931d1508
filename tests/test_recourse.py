"""Causal recourse and its non-causal baseline: a hand-checkable two-column world, the rules on what may change, and
the shipped census world with adult-logreg.

Hand-checked answer. The world: study := u1, score := 2 study + u2; the "model" approves when study + score >= 12. The
row (study 2, score 5) has noise (2, 1) and sum 7: rejected. Only study may change, one unit of study costs 1.
- Causal: do(study = s) gives score = 2 s + 1, so the sum is 3 s + 1 >= 12 when s >= 11/3: s = 4 (whole numbers),
  cost 2, score 5 -> 9 downstream.
- Non-causal: score kept at 5, so s + 5 >= 12: s = 7, cost 5. The world would not keep score at 5 under
  do(study = 7) (it would be 15): the answer is inconsistent with the graph, though its flip still holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.counterfactual.search.recourse import (IMMUTABLE, RecourseConfig, RecourseQuery, TablePredictor,
                                                     config_spec)
from explorer.counterfactual.search.recourse_baseline import NonCausalRecourse
from explorer.counterfactual.search.recourse_causal import CausalRecourse, DrawScorer
from explorer.counterfactual.search.recourse_search import Candidates, candidates, column_scales, options
from explorer.data.tables import continuous
from explorer.evaluate.recourse import FILL, adult_derived, evaluate_recourse, rejected_rows, to_markdown
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world
from explorer.scm.graph import Dag
from explorer.scm.table_mechanisms import Additive, ParentEncoding
from explorer.scm.table_scm import TableSCM

TOY_SCALES = {"study": 1.0, "score": 1.0}
TOY = RecourseConfig(actionable=("study",), up_only=(), grid_sd=1.0, max_sd=10.0, draws=4)


def toy_world() -> TableSCM:
    columns = {"study": continuous("study", 0, 20, "study"), "score": continuous("score", -100, 100, "score")}
    mechanisms = {"study": Additive((), np.zeros(0), 0.0, 1.0),
                  "score": Additive((ParentEncoding("study"),), np.array([2.0]), 0.0, 1.0)}
    return TableSCM(columns, Dag(("study", "score"), frozenset({("study", "score")})), mechanisms, "toy")


def sum_model(frame: pd.DataFrame) -> np.ndarray:
    return (frame["study"].to_numpy(float) + frame["score"].to_numpy(float) >= 12).astype(float)


@pytest.fixture(scope="module")
def toy():
    world = toy_world()
    query = RecourseQuery({"study": np.array([2.0]), "score": np.array([5.0])})
    return world, query, TablePredictor("sum", sum_model, world)


@pytest.fixture(scope="module")
def census():
    world = load_census_world()[0]
    model, _ = load_table_classifier("adult-logreg")
    predictor = TablePredictor("adult-logreg", model.predict_proba, world, adult_derived(world))
    _, values, _ = rejected_rows(world, predictor, 8, seed=3, threshold=0.5)
    query = RecourseQuery(values, {c: np.full(8, v) for c, v in FILL.items()})
    return world, column_scales(world), predictor, query


def test_the_cheapest_causal_recourse_is_the_hand_checked_one(toy):
    world, query, predictor = toy
    [a] = CausalRecourse(world, TOY_SCALES).search(query, predictor, 1, TOY)
    assert a.found and a.do == {"study": 4.0} and a.cost == pytest.approx(2.0)
    assert {(c["column"], c["old"], c["new"], c["kind"]) for c in a.changes} == {
        ("study", 2.0, 4.0, "action"), ("score", 5.0, 9.0, "downstream")}
    assert a.p_before == 0.0 and a.p_after == 1.0 and a.flip_share == 1.0


def test_the_baseline_keeps_descendants_fixed_and_is_flagged(toy):
    world, query, predictor = toy
    [b] = NonCausalRecourse(world, TOY_SCALES).search(query, predictor, 1, TOY)
    assert b.found and b.do == {"study": 7.0} and b.cost == pytest.approx(5.0)
    assert b.row["score"] == 5.0 and [c["column"] for c in b.changes] == ["study"]  # score kept at its factual value
    assert b.moved == ["score"] and b.inconsistent and b.causal_share == 1.0


def test_every_column_locked_is_a_clear_failure_not_an_exception(toy, census):
    world, query, predictor = toy
    [a] = CausalRecourse(world, TOY_SCALES).search(query, predictor, 1, RecourseConfig(actionable=()))
    assert not a.found and "every column is locked" in a.note and a.do == {}
    world, scales, predictor, query = census
    for method in (CausalRecourse(world, scales), NonCausalRecourse(world, scales)):
        answers = method.search(query, predictor, 1, RecourseConfig(actionable=()))
        assert all(not a.found and "every column is locked" in a.note for a in answers)


def test_immutable_columns_are_refused_and_never_offered(census):
    world, scales, predictor, query = census
    for col in (*IMMUTABLE, "income"):
        with pytest.raises(ValueError, match="can never be part of a recourse"):
            CausalRecourse(world, scales).search(query, predictor, 1, RecourseConfig(actionable=(col, "education")))
        assert f"act_{col}" not in config_spec(world)
    with pytest.raises(ValueError, match="unknown column 'salary'"):
        CausalRecourse(world, scales).search(query, predictor, 1, RecourseConfig(actionable=("salary",)))


def test_age_never_goes_down(census):
    world, scales, predictor, query = census
    new, cost = options(world, "age", 40.0, RecourseConfig(up_only=()), scales["age"])
    assert new.size and (new > 40).all() and (cost > 0).all()
    config = RecourseConfig(actionable=("age", "hours_per_week", "education"), draws=8)
    answers = CausalRecourse(world, scales).search(query, predictor, 1, config)
    for i, a in enumerate(answers):
        assert a.row["age"] >= float(query.obs["age"][i]) and ("age" not in a.do or a.do["age"] > a.row["age"] - 1e-9)
        for col in IMMUTABLE:
            assert a.row[col] == world.columns[col].categories[query.obs[col][i]]


def test_one_pass_propagation_equals_the_scm_counterfactual(census):
    """The masked do() of DrawScorer.propagate is the same hard intervention as TableSCM.counterfactual."""
    world, _, predictor, query = census
    obs, held = query.row(0)
    config = RecourseConfig(draws=5)
    scorer = DrawScorer(world, obs, held, predictor, 1, config)
    cols = config.actionable
    value = {c: np.repeat(obs[c], 2) for c in cols}
    mask = {c: np.zeros(2, bool) for c in cols}
    value["education"][0], mask["education"][0] = 12, True  # candidate 0: do(education = Bachelors)
    value["occupation"][1], mask["occupation"][1] = 4, True  # candidate 1: do(occupation, hours)
    value["hours_per_week"][1], mask["hours_per_week"][1] = 50.0, True
    got = scorer.propagate(Candidates(value, mask, np.zeros(2)))  # (2 * 5,) each
    for k, do in enumerate(({"education": 12}, {"occupation": 4, "hours_per_week": 50.0})):
        want = world.counterfactual(scorer.noise, do)  # (5,) each
        for c in world.columns:
            np.testing.assert_allclose(got[c][k * 5:(k + 1) * 5], want[c])


def test_the_screen_on_a_few_draws_is_exact(census):
    """Screened shares equal the full ones wherever min_share can be reached, and stay below it elsewhere."""
    world, scales, predictor, query = census
    obs, held = query.row(7)  # a row with candidates that flip all, some and none of the draws
    config = RecourseConfig()
    scorer = DrawScorer(world, obs, held, predictor, 1, config)
    cands, _ = candidates(world, obs, config, scales)
    cands = cands.take(slice(0, 400))
    screened, full = scorer.score(cands), scorer.flips(cands)[2].mean(1)  # (C,) each
    reach = full >= config.min_share
    np.testing.assert_allclose(screened[reach], full[reach])
    assert (screened[~reach] < config.min_share).all() and scorer.screen == 5
    assert reach.any() and ((full > 0) & ~reach).any()


def test_census_answers_flip_the_model_when_asked_again(census):
    world, scales, predictor, query = census
    config = RecourseConfig(draws=10)
    flipped = 0
    for method in (CausalRecourse(world, scales), NonCausalRecourse(world, scales)):
        for a in method.search(query, predictor, 1, config):
            assert a.p_before < 0.5 and a.seconds < 5
            if not a.found:
                assert "no change of at most 2" in a.note
                continue
            flipped += 1
            row = {c: world.columns[c].encode(np.asarray([v], dtype=object if isinstance(v, str) else float),
                                              check_range=False) for c, v in a.row.items()}
            p = predictor.predict_proba(row, FILL)[0]
            assert p >= 0.5 and p == pytest.approx(a.p_after)
            assert set(a.do) <= set(config.actionable) and a.cost > 0
            changed = {c["column"] for c in a.changes if c["kind"] == "action"}
            assert changed == set(a.do)
    assert flipped >= 4  # about half of the rejected rows have a recourse of at most two changes


def test_the_config_spec_gives_the_default_config_back(census):
    world = census[0]
    spec = config_spec(world)
    config = RecourseConfig.from_controls({k: v.default for k, v in spec.items()})
    d = RecourseConfig()
    assert config.actionable == d.actionable and (config.max_changes, config.draws) == (d.max_changes, d.draws)
    assert set(config.costs.values()) == {1.0} and "act_marital_status" in spec and "act_age" in spec


def test_evaluate_recourse_reports_every_number(census):
    r = evaluate_recourse(4, "adult-logreg", seed=0)
    assert r["n"] == 4 and r["causal"]["queries"] == r["non_causal"]["queries"] == 4
    for key in ("success_rate", "cost_median", "cost_p95", "seconds_median", "seconds_p95", "true_flip_share"):
        assert key in r["causal"] and key in r["non_causal"]
    assert {"inconsistent_share", "reverted_share", "moved_descendants_share"} <= set(r["non_causal"])


def test_to_markdown_prints_one_line_per_model_and_method():
    s = {"found": 1, "queries": 2, "success_rate": 0.5, "cost_median": 1.0, "cost_p95": 2.0, "seconds_median": 0.1,
         "seconds_p95": 0.2, "true_flip_share": 1.0}
    table = to_markdown({"models": {"m": {"causal": s, "non_causal": {**s, "inconsistent_share": 0.5,
                                                                      "reverted_share": 0.0,
                                                                      "moved_descendants_share": 0.5}}}})
    assert table.count("\n") == 3 and "| `m` | non-causal | 50.0% (1/2) |" in table and "50.0% (0.0% / 50.0%)" in table
