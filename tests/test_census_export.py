"""The census world's de-biased export (explorer/counterfactual/census_debias.py) and `export census`."""

from __future__ import annotations

import json

import pytest

from explorer.__main__ import main
from explorer.counterfactual.census_debias import card_text, export_world, to_csv
from explorer.scm.census import CENSUS_GRAPH, load_census_world

SEX_ALL = [("sex", c) for c in sorted(CENSUS_GRAPH.children("sex"))]


@pytest.fixture(scope="module")
def world():
    return load_census_world()[0]


def _sex_dependence(card: dict) -> dict[str, float]:
    return {k.split(":")[1]: v["after"] for k, v in card["pairs"].items() if k.startswith("sex:")}


def test_cutting_every_arrow_out_of_sex_makes_it_independent_of_every_column(world):
    frame, card = export_world(SEX_ALL, 20_000, 0, world)
    after = _sex_dependence(card)
    assert len(frame) == 20_000 and set(after) == set(world.columns) - {"sex"}
    assert max(after.values()) <= 0.05, after
    assert card["pairs"]["sex:relationship"]["before"] > 0.3  # it was dependent before
    assert all(r["paths"] == 0 for r in card["remaining_paths"])


def test_cutting_sex_to_occupation_alone_leaves_the_path_through_marital_status(world):
    _, card = export_world([("sex", "occupation")], 20_000, 0, world)
    pair = card["pairs"]["sex:occupation"]
    assert 0.05 < pair["after"] < pair["before"]  # weaker, still there
    remain = card["remaining_paths"][0]
    assert "sex -> marital_status -> occupation" in remain["shortest"] and remain["paths"] > 1
    assert card["pairs"]["sex:marital_status"]["after"] > 0.3  # not cut: still follows sex


def test_same_seed_same_bytes(world):
    a, b, c = (export_world(["sex:occupation"], 2_000, s, world) for s in (7, 7, 8))
    assert to_csv(a[0]) == to_csv(b[0]) and card_text(a[1]) == card_text(b[1])
    assert to_csv(a[0]) != to_csv(c[0])


@pytest.mark.parametrize("cuts, message", [
    ([("sex", "age")], "the arrows out of sex are: "),
    ([("income", "sex")], "the arrows out of income are: none"),
    ([("gender", "income")], "unknown column 'gender'"),
])
def test_a_cut_that_names_no_arrow_is_refused(world, cuts, message):
    with pytest.raises(ValueError) as err:
        export_world(cuts, 100, 0, world)
    assert message in str(err.value)


def test_the_command_line_writes_the_table_and_its_card(tmp_path, capsys):
    out = tmp_path / "fair.csv"
    assert main(["export", "census", "--cut", "sex:occupation", "--n", "500", "--seed", "3", "--out", str(out)]) == 0
    card = json.loads((tmp_path / "fair.card.json").read_text())
    assert card["cuts"] == ["sex:occupation"] and card["n"] == 500 and card["seed"] == 3
    assert out.read_text().count("\n") == 501
    assert "sex -> marital_status -> occupation" in capsys.readouterr().out


@pytest.mark.parametrize("cut, message", [
    ("sex-occupation", "is not PARENT:CHILD"),
    ("sex:age", "is not an arrow of the census graph"),
    ("sex:", "is not PARENT:CHILD"),
])
def test_a_bad_cut_is_one_error_line_and_writes_nothing(tmp_path, capsys, cut, message):
    out = tmp_path / "fair.csv"
    assert main(["export", "census", "--cut", cut, "--n", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_model_world_is_the_default_and_gives_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["export", "census", "--cut", "sex:income", "--n", "300", "--seed", "1", "--out", str(a)]) == 0
    assert main(["export", "census", "--model", "world", "--cut", "sex:income", "--n", "300", "--seed", "1",
                 "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a.card.json").read_bytes() == (tmp_path / "b.card.json").read_bytes()
