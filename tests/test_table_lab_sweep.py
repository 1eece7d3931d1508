"""The Table lab's quick-slider sweep (explorer/services/table_lab_sweep.py): every entry is the what-if at its
position, and a sweep is kept under everything its answers depend on, its own slider's value excepted."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.paths import PRETRAINED

pytestmark = pytest.mark.skipif(not (PRETRAINED / "census_world" / "card.json").exists(),
                                reason="no census world: python -m explorer train census-world")


@pytest.fixture(scope="module")
def lab():
    from explorer.ui.table_lab import TABLE

    return TABLE.shared()  # the instance the page uses (one per process)


@pytest.fixture(scope="module")
def fresh():
    """A second service: its what_if answers from scratch, not from the first one's kept results."""
    from explorer.services.table_lab import TableLabService

    return TableLabService()


def _same(a, b) -> None:
    assert a.obs == b.obs and a.cf == b.cf and a.true_cf == b.true_cf and a.ceiling == b.ceiling
    assert a.agreement == b.agreement and a.learned == b.learned and a.changed == b.changed
    assert a.notes == b.notes and a.model == b.model


@pytest.mark.parametrize("source, index, seed, do, cuts, added, name", [
    ("world", 12, 0, {"sex": "Female"}, ["sex:occupation"], [], "age"),
    ("adult", 40, 0, {"age": 50, "education": "Masters"}, [], ["race:relationship"], "hours_per_week"),
])
def test_every_entry_is_the_what_if_at_its_position(lab, fresh, source, index, seed, do, cuts, added, name):
    sweep = lab.sweep(source, index, do, cuts, added, seed, [name])[name]
    spec = lab.columns[name]
    assert sweep.values[0] == spec.low and sweep.values[-1] == spec.high
    assert np.all(np.diff(sweep.values) == 1.0)  # every whole year, every whole hour: a key press is exact
    assert len(sweep.results) == len(sweep.values)
    for value, result in zip(sweep.values, sweep.results):
        _same(result, fresh.what_if(source, index, {**do, name: float(value)}, cuts, added, seed))
    # releasing the slider at a position finds its answer kept: the same object
    assert lab.what_if(source, index, {**do, name: float(sweep.values[5])}, cuts, added, seed) is sweep.results[5]


def test_a_sweep_is_kept_under_everything_its_answers_depend_on(lab):
    base = dict(source="world", index=3, do={"age": 40, "sex": "Male"}, cuts=[], added=[], seed=0)
    ask = lambda **kw: lab.sweep(**(base | kw), names=["hours_per_week"])["hours_per_week"]  # noqa: E731
    first = ask()
    before = lab.sweeps.computed
    assert ask(do={"age": 40, "sex": "Male", "hours_per_week": 70}) is first  # its own value: the same sweep
    assert lab.sweeps.computed == before
    changes = [dict(index=4), dict(source="adult"), dict(seed=1), dict(cuts=["sex:occupation"]),
               dict(added=["race:relationship"]), dict(do={"age": 41, "sex": "Male"}),
               dict(do={"age": 40, "sex": "Female"}), dict(do={"age": 40})]
    for k, change in enumerate(changes, 1):
        other = ask(**change)
        assert other is not first and lab.sweeps.computed == before + k, change
    assert ask() is first  # still kept


def test_only_the_continuous_columns_asked_for_are_swept(lab):
    assert set(lab.sweep("world", 0, {}, names=["age", "sex"])) == {"age"}  # a category has no quick slider
    assert set(lab.sweep("world", 0, {})) == {"age", "hours_per_week"}
    assert lab.sweep("world", 0, {}, names=[]) == {}


@pytest.mark.parametrize("kwargs, words", [
    (dict(source="mars", index=0, do={}), "unknown source"),
    (dict(source="world", index=10_000, do={}), "does not exist"),
    (dict(source="world", index=0, do={"age": 500}), "outside its range"),
    (dict(source="world", index=0, do={}, cuts=["age:race"]), "age"),
])
def test_bad_input_is_the_what_ifs_value_error(lab, kwargs, words):
    with pytest.raises(ValueError, match=words):
        lab.sweep(**kwargs)


class _RowsOnly:
    """A learned model with only the contract's `counterfactual_rows` (no `counterfactual_sweep`): it moves
    hours_per_week by a tenth of the asked age, so each position's answer is its own."""

    name = "rows-only"

    def __init__(self, graph):
        self.graph, self.calls = graph, 0

    def counterfactual_rows(self, obs, do, graph=None):
        self.calls += 1
        out = {c: np.asarray(v).copy() for c, v in obs.items()}
        out["age"] = np.asarray([float(do["age"])])
        out["hours_per_week"] = out["hours_per_week"] + float(do["age"]) / 10
        return out


def test_a_model_without_a_sweep_call_is_asked_once_per_position(fresh, monkeypatch):
    model = _RowsOnly(fresh.world.graph)
    monkeypatch.setitem(fresh.models, "world", model)
    monkeypatch.setitem(fresh.model_names, "world", model.name)
    sweep = fresh.sweep("world", 5, {"sex": "Male"}, names=["age"])["age"]
    assert model.calls == len(sweep.values)
    for value, result in zip(sweep.values, sweep.results):
        assert result.model == "rows-only" and result.learned["age"] == float(value)
        assert result.learned["hours_per_week"] == pytest.approx(result.obs["hours_per_week"] + value / 10)


def test_the_learned_models_sweep_call_equals_its_one_row_calls(fresh):
    model = fresh.models["adult"]
    if model is None:
        pytest.skip("no learned Adult model shipped")
    obs = {c: v[17:18] for c, v in fresh.adult.items()}
    graph = fresh.edited(["sex:occupation"])[0]
    grid = np.arange(17.0, 91.0, 7.0)
    swept = model.counterfactual_sweep(obs, {"sex": 0, "hours_per_week": 45.0}, "age", grid, graph)
    for q, age in enumerate(grid):
        one = model.counterfactual_rows(obs, {"sex": 0, "hours_per_week": 45.0, "age": age}, graph)
        assert {c: v[q] for c, v in swept.items()} == {c: v[0] for c, v in one.items()}  # bit for bit
    with pytest.raises(ValueError, match="one observed row"):
        model.counterfactual_sweep({c: v[:2] for c, v in fresh.adult.items()}, {}, "age", grid)
