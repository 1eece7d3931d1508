"""`--graph tiers`: background knowledge from the published graph's causal order, arrows against it known absent."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.__main__ import main
from explorer.data.tables import ColumnSpec
from explorer.models.table_vae import fixed_matrix, tier_rank
from explorer.scm.census import CENSUS_COLUMNS, CENSUS_GRAPH, CENSUS_TIERS
from explorer.training.census_vae import ROOTS, CensusVAETrainConfig, likelihood_ratio_arrows


def test_the_tiers_follow_the_published_order():
    assert CENSUS_TIERS[0] == ("sex", "age", "race", "native_country") == ROOTS
    assert CENSUS_TIERS[1:] == (("marital_status",), ("relationship",), ("education",), ("workclass",),
                                ("occupation",), ("hours_per_week",), ("income",))
    rank = tier_rank(CENSUS_COLUMNS, CENSUS_TIERS)
    # the world's graph is one of the graphs the tiers allow: no arrow of it runs backwards
    assert all(rank[p] < rank[c] for p, c in CENSUS_GRAPH.edges)


def test_tiers_forbid_arrows_against_the_order_and_into_roots_and_leave_the_rest_free():
    fixed = np.array(fixed_matrix(CENSUS_COLUMNS, "tiers", ROOTS, tiers=CENSUS_TIERS))  # (11, 11) [parent, child]
    rank = tier_rank(CENSUS_COLUMNS, CENSUS_TIERS)
    for i, p in enumerate(CENSUS_COLUMNS):
        for j, c in enumerate(CENSUS_COLUMNS):
            forbidden = p == c or c in ROOTS or rank[p] > rank[c]
            assert fixed[i, j] == (0 if forbidden else -1), (p, c)
    # roots (4) -> the 7 others, then 6 + 5 + 4 + 3 + 2 + 1 arrows down the one-column tiers
    assert (fixed == -1).sum() == 4 * 7 + 21
    assert {(CENSUS_COLUMNS[i], CENSUS_COLUMNS[j]) for i, j in zip(*np.nonzero(fixed == -1))} >= CENSUS_GRAPH.edges


def test_a_known_arrow_is_kept_under_tiers():
    fixed = fixed_matrix(CENSUS_COLUMNS, "tiers", ROOTS, known=frozenset({("education", "income")}),
                         tiers=CENSUS_TIERS)
    assert fixed[CENSUS_COLUMNS.index("education")][CENSUS_COLUMNS.index("income")] == 1


def test_bad_modes_and_tiers_are_clear_errors():
    with pytest.raises(ValueError, match="unknown graph mode 'tier'.*tiers"):
        fixed_matrix(CENSUS_COLUMNS, "tier", ROOTS, tiers=CENSUS_TIERS)
    with pytest.raises(ValueError, match="every column exactly once"):
        fixed_matrix(CENSUS_COLUMNS, "tiers", ROOTS, tiers=CENSUS_TIERS[:-1])
    with pytest.raises(ValueError, match="every column exactly once"):
        fixed_matrix(CENSUS_COLUMNS, "tiers", ROOTS, tiers=CENSUS_TIERS + (("income",),))
    with pytest.raises(ValueError, match="unknown graph mode 'order'"):
        CensusVAETrainConfig(graph="order")
    with pytest.raises(ValueError, match="income:education runs against the tiers"):
        CensusVAETrainConfig(graph="tiers", known=("income:education",))
    CensusVAETrainConfig(graph="partial", known=("income:education",))  # no order to run against


def test_the_command_line_refuses_a_bad_graph_mode(capsys):
    with pytest.raises(SystemExit) as stop:  # refused while the arguments are parsed: nothing trained
        main(["train", "census", "--graph", "order"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "order" in err


def test_the_arrow_test_keeps_the_arrows_the_data_need():
    # a -> b -> c: c depends on a only through b, so a -> c is dropped; the order a, b, c is given
    rng = np.random.default_rng(0)
    n = 4000
    a = rng.integers(0, 2, n)
    b = (a + (rng.random(n) < 0.3) * rng.integers(1, 3, n)) % 3  # mostly a, sometimes shifted
    c = 1.5 * (b == 2) - 1.0 * (b == 1) + rng.normal(0, 1, n)
    columns = {"a": ColumnSpec("a", "categorical", ("0", "1")), "b": ColumnSpec("b", "categorical", ("0", "1", "2")),
               "c": ColumnSpec("c", "continuous", low=-10, high=10)}
    kept = likelihood_ratio_arrows({"a": a, "b": b, "c": c}, columns, (("a",), ("b",), ("c",)), 0.05)
    assert kept == {("a", "b"), ("b", "c")}


def test_the_arrow_test_needs_tiers_and_a_level():
    with pytest.raises(ValueError, match="--arrow-test .* needs --graph tiers"):
        CensusVAETrainConfig(graph="partial", arrow_test=0.05)
    with pytest.raises(ValueError, match="between 0 and 1"):
        CensusVAETrainConfig(graph="tiers", arrow_test=1.5)
    with pytest.raises(SystemExit) as stop:
        main(["train", "census", "--arrow-test", "0"])
    assert stop.value.code == 2


@pytest.mark.parametrize("argv, says", [
    (["train", "census", "--data", "adult", "--rows", "5000"], "needs --data world"),
    (["train", "pendulum", "--rows", "5000"], "--rows is for train census"),
])
def test_rows_is_for_world_rows_only(argv, says, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "model")]) == 2  # refused before any row is sampled
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and says in err
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("rows", ["10", "2e5", "1000001", "many"])
def test_rows_must_be_a_whole_number_in_range(rows, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "census", "--rows", rows])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "--rows" in err
