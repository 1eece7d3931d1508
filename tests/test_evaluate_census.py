"""`evaluate census` without a learned model: the ceiling and the two baselines on the census world."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.__main__ import main
from explorer.evaluate.census import evaluate_census, interventions
from explorer.scm.census import load_census_world

N = 300


@pytest.fixture(scope="module")
def world():
    return load_census_world()[0]


@pytest.fixture(scope="module")
def result(world):
    return evaluate_census(n=N, seed=3, world=world)


def test_keys_present(result, world):
    for method in (result["ceiling"], result["baselines"]["column_only"], result["baselines"]["no_abduction"]):
        assert set(method["gt_cf"]) == {"do_sex_flip", "do_age_30", "do_education_bachelors"}
        for cells in method["gt_cf"].values():
            assert 0 <= cells["all_correct"] <= 1
            for c, spec in world.columns.items():
                assert set(cells[c]) == ({"accuracy"} if spec.discrete else {"mae_sd"})


def test_columns_the_intervention_does_not_reach_are_exact(result, world):
    # By construction: a non-descendant's posterior noise reproduces its observed value (a Gumbel posterior is
    # conditioned on the observed category; additive noise is the residual), and its parents do not move; the
    # intervened column itself is set. So the ceiling is exact there, and so are both baselines (they keep them).
    for name, do in interventions(world, {"sex": np.zeros(1, np.int64)}).items():
        moved = world.graph.descendants(list(do))
        for method in (result["ceiling"], *result["baselines"].values()):
            for c, spec in world.columns.items():
                if c not in moved:
                    cell = method["gt_cf"][name][c]
                    assert cell == ({"accuracy": 1.0} if spec.discrete else {"mae_sd": 0.0}), (name, c)


def test_continuous_ceiling_is_exact_where_its_parents_are_right(world):
    # hours_per_week has additive noise, so its abducted noise is its true residual: in every posterior draw whose
    # parents equal the TRUE counterfactual parents, the draw equals the TRUE counterfactual value (up to rounding).
    noise, obs = world.sample(N, 4)
    do = {"age": 30.0}
    truth = world.counterfactual(noise, do)
    draws = world.counterfactual_draws(obs, do, draws=20, seed=1)
    parents = world.parents("hours_per_week")
    same = np.all([draws[p] == truth[p][None] for p in parents], axis=0)  # (draws, n)
    assert same.sum() > N  # the check is not vacuous
    np.testing.assert_allclose(draws["hours_per_week"][same], np.broadcast_to(truth["hours_per_week"], same.shape)[same],
                               atol=1e-6)


def test_ceiling_beats_or_equals_both_baselines_on_descendants(result, world):
    # The ceiling is the Bayes guess from the row under the TRUE mechanisms (most probable category / posterior
    # median), so on average over the descendants no predictor seeing only the row should beat it.
    for name, do in interventions(world, {"sex": np.zeros(1, np.int64)}).items():
        moved = sorted(world.graph.descendants(list(do)))

        def mean_score(method):  # accuracy, and 1 - mae_sd for the continuous: higher is better
            cells = method["gt_cf"][name]
            return np.mean([cells[c].get("accuracy", 1 - cells[c].get("mae_sd", 0)) for c in moved])

        ceiling = mean_score(result["ceiling"])
        for base in result["baselines"].values():
            assert ceiling >= mean_score(base) - 1e-9, name


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "census.json"
    assert main(["evaluate", "census", "--n", "40", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["setup"]["n"] == 40


@pytest.mark.parametrize("n", ["0", "-3", "1.5", "10001"])
def test_bad_n_is_one_error_line_exit_2(n, tmp_path, capsys):
    out = tmp_path / "census.json"
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "census", "--n", n, "--json", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert not out.exists()
