"""The table SCM on hand-checkable worlds (a linear chain, a two-category Gumbel-max), and the shipped census world.

Hand-checked answers: in the chain x1 := u1, x2 := 2 x1 + u2, x3 := 1 - x2 + u3 the row (1, 3, -1) has noise
(1, 1, 1), so do(x1 = 2) gives x2 = 5 and x3 = -3. In the Gumbel-max pair x ~ Bernoulli(1/2),
y := argmax(0 + g0, -1 + 2x + g1), the logit gap is d(x) = -1 + 2x and g1 - g0 is Logistic(0, 1), so
P(y' = 1 | y = 1, x = 1, do(x = 0)) = sigmoid(min(d(1), d(0))) / sigmoid(d(1)) = sigmoid(-1) / sigmoid(1).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from explorer.data.tables import categorical, continuous
from explorer.interfaces import SCM
from explorer.metrics.tables import cramers_v
from explorer.scm.census import CENSUS_COLUMNS, CENSUS_GRAPH, load_census_world, save_census_world
from explorer.scm.graph import Dag
from explorer.scm.table_mechanisms import Additive, GumbelMax, ParentEncoding, fit_mechanism
from explorer.scm.table_scm import TableSCM


def line(parent: str, slope: float, intercept: float) -> Additive:
    """child := intercept + slope * parent + u, u ~ Normal(0, 1) (the parent read as it is: mean 0, scale 1)."""
    return Additive((ParentEncoding(parent),), np.array([slope]), intercept, 1.0)


def linear_chain() -> TableSCM:
    columns = {c: continuous(c, -100, 100, c, integer=False) for c in ("x1", "x2", "x3")}
    mechanisms = {"x1": Additive((), np.zeros(0), 0.0, 1.0), "x2": line("x1", 2.0, 0.0), "x3": line("x2", -1.0, 1.0)}
    return TableSCM(columns, Dag(("x1", "x2", "x3"), frozenset({("x1", "x2"), ("x2", "x3")})), mechanisms, "chain")


def gumbel_pair() -> TableSCM:
    columns = {"x": categorical("x", ("no", "yes"), "x"), "y": categorical("y", ("no", "yes"), "y")}
    mechanisms = {"x": GumbelMax((), np.zeros((2, 0)), np.log([0.5, 0.5])),
                  "y": GumbelMax((ParentEncoding("x", levels=2),), np.array([[0.0, 0.0], [0.0, 2.0]]),
                                 np.array([0.0, -1.0]))}
    return TableSCM(columns, Dag(("x", "y"), frozenset({("x", "y")})), mechanisms, "pair")


@pytest.fixture(scope="module")
def world() -> TableSCM:
    return load_census_world()[0]


# --- the linear chain: closed form ------------------------------------------------------------------------
def test_linear_chain_counterfactual_in_closed_form():
    scm = linear_chain()
    obs = {"x1": np.array([1.0]), "x2": np.array([3.0]), "x3": np.array([-1.0])}
    noise = scm.abduct(obs)
    assert [float(noise[c][0]) for c in ("x1", "x2", "x3")] == [1.0, 1.0, 1.0]
    cf = scm.counterfactual(noise, {"x1": 2.0})
    assert (cf["x1"][0], cf["x2"][0], cf["x3"][0]) == (2.0, 5.0, -3.0)
    cf = scm.counterfactual(noise, {"x2": 0.0})
    assert (cf["x1"][0], cf["x2"][0], cf["x3"][0]) == (1.0, 0.0, 2.0)  # x1 is upstream: it stays


def test_a_cut_arrow_feeds_the_factual_parent():
    scm = linear_chain()
    noise = scm.abduct({"x1": np.array([1.0]), "x2": np.array([3.0]), "x3": np.array([-1.0])})
    cf = scm.counterfactual(noise, {"x1": 2.0}, scm.cut(["x1:x2"]))
    assert (cf["x2"][0], cf["x3"][0]) == (3.0, -1.0)  # x2 reads x1 = 1, so nothing downstream moves
    assert scm.counterfactual(noise, {}, scm.cut(["x1:x2"]))["x2"][0] == 3.0


# --- the Gumbel-max pair: the posterior and counterfactual probabilities ---------------------------------
def test_the_posterior_keeps_the_observed_category():
    scm = gumbel_pair()
    _, values = scm.sample(2000, 1)
    again = scm.counterfactual(scm.abduct(values, seed=2))
    np.testing.assert_array_equal(again["y"], values["y"])
    np.testing.assert_array_equal(again["x"], values["x"])


@pytest.mark.parametrize("x, y, do_x, expected", [
    (1, 1, 0, expit(-1.0) / expit(1.0)),  # the gap falls from 1 to -1: y stays 1 with this probability
    (0, 0, 1, expit(-1.0) / expit(1.0)),  # by symmetry of the logistic, y stays 0 as often
    (0, 1, 1, 1.0),  # the gap rises: a 1 stays 1 (Gumbel-max is counterfactually stable)
])
def test_counterfactual_probabilities_match_the_closed_form(x, y, do_x, expected):
    scm = gumbel_pair()
    draws = scm.counterfactual_draws({"x": np.array([x]), "y": np.array([y])}, {"x": do_x}, draws=20_000, seed=3)
    assert draws["y"].shape == (20_000, 1)
    assert (draws["y"] == y).mean() == pytest.approx(expected, abs=0.015)  # 4 standard errors
    assert scm.best_guess(draws)["y"][0] == (y if expected > 0.5 else 1 - y)


def test_the_gumbel_posterior_matches_the_prior_on_average():
    """Drawing the observation, then Gumbels from its posterior, must give Gumbel(0, 1) noise again."""
    scm = gumbel_pair()
    _, values = scm.sample(40_000, 4)
    g = scm.abduct(values, seed=5)["y"]  # (n, 2)
    assert g.mean(0) == pytest.approx([np.euler_gamma] * 2, abs=0.03)
    assert g.std(0) == pytest.approx([np.pi / np.sqrt(6)] * 2, abs=0.03)


# --- fitting recovers known mechanisms ---------------------------------------------------------------
def test_fitting_recovers_a_known_line_and_known_logits():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, 20_000)
    train = {"x": x, "z": 1.0 + 3.0 * x + rng.normal(0, 0.5, len(x)),
             "y": np.argmax(np.stack([np.zeros(len(x)), -1.0 + 2.0 * x], 1) + rng.gumbel(size=(len(x), 2)), 1)}
    parent = [ParentEncoding("x", levels=2)]
    line, _ = fit_mechanism(continuous("z", -10, 10, "z"), parent, train, train, [1e-6])
    assert line.mean({"x": np.array([0, 1])}, 2) == pytest.approx([1.0, 4.0], abs=0.03)
    assert line.noise_sd == pytest.approx(0.5, abs=0.02)
    logits, _ = fit_mechanism(categorical("y", ("a", "b"), "y"), parent, train, train, [1e-6])
    gap = np.diff(logits.logits({"x": np.array([0, 1])}, 2), axis=1)[:, 0]
    assert gap == pytest.approx([-1.0, 1.0], abs=0.08)


# --- the shipped census world ---------------------------------------------------------------------------
def test_the_world_satisfies_the_scm_contract(world):
    assert isinstance(world, SCM) and list(world.specs) == list(CENSUS_COLUMNS)
    assert world.specs["education"].high == 15 and world.specs["age"].low == 17


def test_the_world_reproduces_its_own_sample_from_its_noise(world):
    noise, values = world.sample(500, 0)
    again = world.counterfactual(noise)
    for c in CENSUS_COLUMNS:
        np.testing.assert_array_equal(again[c], values[c])
    abducted = world.abduct(values, seed=1)  # the posterior, not the stored noise: the same rows all the same
    for c in CENSUS_COLUMNS:
        np.testing.assert_allclose(world.counterfactual(abducted)[c], values[c], atol=1e-9)
    np.testing.assert_allclose(abducted["hours_per_week"], noise["hours_per_week"], atol=1e-9)


@pytest.mark.parametrize("do", [{"age": 30}, {"sex": "Female"}, {"education": "Bachelors"}])
def test_do_changes_only_the_descendants(world, do):
    noise, values = world.sample(1000, 2)
    cf = world.counterfactual(noise, do)
    (node,) = do
    moved = {c for c in CENSUS_COLUMNS if c != node and not np.array_equal(cf[c], values[c])}
    assert moved <= CENSUS_GRAPH.descendants([node])
    assert moved  # and something downstream did move
    assert set(np.unique(cf[node])) == set(world.columns[node].encode(do[node]).tolist())


def test_cutting_every_arrow_out_of_sex_makes_it_independent(world):
    """The de-biasing recipe: shuffled sex given with do(), the cut children reading the factual one."""
    noise, values = world.sample(20_000, 3)
    new_sex = np.random.default_rng(4).permutation(values["sex"])
    alone = world.counterfactual(noise, {"sex": new_sex}, world.cut(["sex:income"]))
    every = world.counterfactual(noise, {"sex": new_sex}, world.cut([f"sex:{c}" for c in CENSUS_GRAPH.children("sex")]))
    assert cramers_v(new_sex, alone["income"]) > 0.05  # other paths remain (sex -> occupation -> income)
    for c in CENSUS_COLUMNS:
        if c != "sex":
            assert cramers_v(new_sex, np.asarray(every[c]).round()) < 0.03, c


def test_the_world_round_trips_through_its_files(world, tmp_path):
    save_census_world(world, tmp_path / "w", {"description": "test"})
    again, card = load_census_world(tmp_path / "w")
    assert card["world"]["graph_source"]
    for c, v in world.sample(300, 5)[1].items():
        np.testing.assert_array_equal(again.sample(300, 5)[1][c], v)


# --- bad input: each a ValueError that says what to do ----------------------------------------------------
@pytest.mark.parametrize("do, message", [
    ({"age": 200}, r"age = 200 is outside its range \[17, 90\]; choose a value in that range"),
    ({"education": "PhD"}, r"unknown category 'PhD' for column 'education'; choose one of Preschool"),
    ({"sex": 5}, r"unknown category 5 for column 'sex'"),
    ({"salary": 1}, r"unknown column 'salary'; the census world has sex, age"),
    ({"age": [30, 40]}, r"do\(age\) has 2 values for 3 rows; give one, or one per row"),
])
def test_bad_do_values_are_refused_with_a_clear_message(world, do, message):
    noise, _ = world.sample(3, 0)
    with pytest.raises(ValueError, match=message):
        world.counterfactual(noise, do)


@pytest.mark.parametrize("cut, message", [
    (["age:sex"], r"age -> sex is not an arrow of the census graph, so it cannot be cut; the arrows out of age"),
    (["sex:salary"], r"unknown column 'salary'"),
    (["sex-income"], r"is not PARENT:CHILD"),
])
def test_a_cut_that_names_no_arrow_is_refused(world, cut, message):
    with pytest.raises(ValueError, match=message):
        world.cut(cut)


def test_abduction_needs_every_column(world):
    _, values = world.sample(3, 0)
    del values["income"]
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['income'\]"):
        world.abduct(values)
