"""Causal recourse through the LEARNED causal model (pretrained/census-vae-adult, `--causal-model learned`): answers
that flip the model on the row re-checked through the VAE, immutable columns never moving, columns the actions do not
reach in the LEARNED graph keeping their values, the baseline's search unchanged, and the command line's report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.__main__ import main
from explorer.counterfactual.search.recourse import RecourseConfig
from explorer.counterfactual.search.recourse_search import candidates
from explorer.data.tables import read_adult
from explorer.evaluate.audit_table_recourse import causal_models, table_recourse
from explorer.metrics.cf_fairness_learned import one_torch_thread
from explorer.registry import load_table_classifier
from explorer.scm.table_posterior import descendants

ROWS = 6  # rejected Adult rows searched per test


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with one_torch_thread():  # as add_recourse runs the learned searches
        yield


@pytest.fixture(scope="module")
def setup():
    frame = read_adult().rows("test", complete=True).iloc[:300].reset_index(drop=True)
    model, _ = load_table_classifier("adult-logreg")
    scm, vae = causal_models("learned")
    rejected = [int(i) for i in np.flatnonzero(model.predict_proba(frame) < 0.5)[:ROWS]]
    return frame, model, scm, vae, rejected


def search(setup, config: RecourseConfig, learned: bool = True):
    frame, model, scm, vae, rejected = setup
    wired = table_recourse(frame, model.predict_proba, scm, learned=vae if learned else None)
    return wired, wired.search(rejected, config)


def test_answers_flip_the_model_on_the_rechecked_row(setup):
    frame, model, scm, vae, rejected = setup
    wired, answers = search(setup, RecourseConfig())
    found = [a for a in answers["causal"] if a.found]
    assert len(found) >= 2  # adult-logreg: 2 of the first 6 rejected rows have an answer through the VAE
    for a in found:
        assert a.flip_share >= 0.8 and a.p_after >= 0.5 > a.p_before
        # the answer row asked again, independently of the search: the model says yes
        row = {c: np.asarray([scm.columns[c].encode(v, check_range=False)]).reshape(1) for c, v in a.row.items()}
        i = rejected[answers["causal"].index(a)]
        held = {c: v[i] for c, v in wired.held.items()}
        assert wired.predictor.predict_proba(row, held)[0] == pytest.approx(a.p_after)
        # and re-propagating its do() through the VAE on fresh noise draws flips most of them too
        obs = {c: v[i:i + 1] for c, v in wired.obs.items()}
        draws = vae.counterfactual_draws(obs, {c: [v] for c, v in a.do.items()}, draws=20, seed=7)
        p = wired.predictor.predict_proba({c: v[:, 0] for c, v in draws.items()}, held)
        assert (p >= 0.5).mean() >= 0.5


def test_immutable_columns_never_change_and_age_never_goes_down(setup):
    config = RecourseConfig(actionable=("education", "workclass", "occupation", "hours_per_week", "age",
                                        "marital_status"))
    _, answers = search(setup, config)
    found = [a for a in answers["causal"] if a.found]
    assert found
    for a in found:
        moved = {c["column"]: c for c in a.changes}
        assert not {"sex", "race", "native_country"} & set(moved)
        if "age" in moved:
            assert moved["age"]["new"] >= moved["age"]["old"]
    with pytest.raises(ValueError, match="can never be part of a recourse"):
        search(setup, RecourseConfig(actionable=("sex", "education")))


def test_columns_the_actions_do_not_reach_in_the_learned_graph_keep_their_values(setup):
    frame, model, scm, vae, rejected = setup
    # the VAE learned no arrow out of education (the world has education -> workclass, occupation, hours)
    assert not descendants(vae.graph, ["education"]) and descendants(scm.graph, ["education"])
    wired, answers = search(setup, RecourseConfig(actionable=("education",), max_changes=1, min_share=0.5))
    for a, i in zip(answers["causal"], rejected, strict=True):
        assert [c["column"] for c in a.changes] in (["education"], [])  # nothing follows
    # every candidate's propagated draws: columns outside actionable + learned descendants equal the factual row
    config = RecourseConfig(actionable=("workclass", "hours_per_week"))
    scorer = wired.causal.prepare(*wired.query(rejected[:1]).row(0), wired.predictor, 1, config)
    obs = {c: v[rejected[0]:rejected[0] + 1] for c, v in wired.obs.items()}
    cands, _ = candidates(wired.causal.scm, obs, config, wired.causal.scales)
    values = scorer.propagate(cands.take(slice(0, 40)))
    reached = {"workclass", "hours_per_week"} | descendants(vae.graph, ["workclass", "hours_per_week"])
    assert reached == {"workclass", "hours_per_week", "occupation"}
    for col in scm.columns:
        if col not in reached:
            assert np.array_equal(values[col], np.repeat(obs[col], len(values[col]))), col
    # a candidate that changes hours only leaves work class and occupation at their values in every draw
    only_hours = np.flatnonzero(cands.mask["hours_per_week"][:40] & ~cands.mask["workclass"][:40])[0]
    one = scorer.propagate(cands.take(slice(only_hours, only_hours + 1)))
    assert np.all(one["workclass"] == obs["workclass"]) and np.all(one["occupation"] == obs["occupation"])


def test_the_baseline_search_is_the_worlds(setup):
    _, learned = search(setup, RecourseConfig())
    _, world = search(setup, RecourseConfig(), learned=False)
    for a, b in zip(learned["noncausal"], world["noncausal"], strict=True):
        assert (a.found, a.cost, a.do, a.p_after, a.row) == (b.found, b.cost, b.do, b.p_after, b.row)


def test_the_command_line_says_which_causal_model(tmp_path, capsys):
    out = tmp_path / "a.json"
    code = main(["audit-table", "--table", "adult", "--shipped", "adult-logreg", "--protected", "sex",
                 "--n-boot", "100", "--recourse", "4", "--causal-model", "learned", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    rec = report["recourse"]
    assert rec["causal_model"] == "learned:census-vae-adult"
    assert rec["causal"]["queries"] == rec["noncausal"]["queries"] == 4
    assert report["causal_graph"]["name"] == "census-vae-adult"  # the graph the answers followed
    assert ["education", "occupation"] not in report["causal_graph"]["edges"]
