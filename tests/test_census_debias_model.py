"""The learned model's de-biased export (explorer/counterfactual/census_debias.py, `export census --model ...`)
and `evaluate census`'s `debias.*` keys (explorer/evaluate/census_debias_eval.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer import cli_census_export
from explorer.__main__ import main
from explorer.counterfactual import census_debias
from explorer.counterfactual.census_debias import card_text, export_learned, model_rows, to_csv
from explorer.data.tables import to_values
from explorer.evaluate.census_debias_eval import debias_floors, evaluate_debias
from explorer.models.table_vae import load_table_vae
from explorer.paths import PRETRAINED
from explorer.scm.census import load_census_world

pytestmark = pytest.mark.skipif(not (PRETRAINED / "census-vae-world").exists(), reason="no census-vae-world")


@pytest.fixture(scope="module")
def world():
    return load_census_world()[0]


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_table_vae(PRETRAINED / "census-vae-world", "cpu")


def test_the_learned_graph_is_not_the_worlds(model, world):
    # what the cuts may name: learned within the published order (--graph tiers), nothing out of income; the
    # world's arrows and a few it lacks, all to or from relationship
    assert not model.graph.children("income")
    extra = model.graph.edges - world.graph.edges
    assert world.graph.edges <= model.graph.edges and extra and all("relationship" in e for e in extra), extra
    assert set(model.graph.children("sex")) == set(world.graph.children("sex"))


def test_same_seed_same_bytes(model, world):
    a, b, c = (export_learned("learned-world", ["sex:occupation"], 1_500, s, world, model) for s in (7, 7, 8))
    assert to_csv(a[0]) == to_csv(b[0]) and card_text(a[1]) == card_text(b[1])
    assert to_csv(a[0]) != to_csv(c[0])
    assert a[1]["model"] == "census-vae-world" and a[1]["cuts"] == ["sex:occupation"] and a[1]["n"] == 1_500


def test_a_cut_child_ignores_the_new_parent_value(model, world):
    # marital status reads only roots in the learned graph (sex among them): cut from sex, it keeps its factual
    # value on every row while sex takes new values; not cut, it follows the new sex
    n, seed = 2_000, 4
    factual, _ = model_rows("learned-world", n, seed, world)
    assert set(model.graph.parents("marital_status")) <= {"sex", "age", "race", "native_country"}
    cut, _ = export_learned("learned-world", ["sex:marital_status"], n, seed, world, model)
    kept, _ = export_learned("learned-world", ["sex:occupation"], n, seed, world, model)
    cut, kept = to_values(cut, world.columns), to_values(kept, world.columns)
    moved = cut["sex"] != factual["sex"]
    assert 0.2 < moved.mean() < 0.8  # the shuffle gave many rows the other sex
    np.testing.assert_array_equal(cut["marital_status"], factual["marital_status"])
    changed = np.mean(kept["marital_status"][moved] != factual["marital_status"][moved])
    assert changed > 0.1, changed
    assert np.array_equal(kept["age"], np.round(factual["age"]))  # a root, untouched


def test_every_arrow_out_of_sex_cut_makes_sex_independent(model, world):
    cuts = [("sex", c) for c in sorted(model.graph.children("sex"))]
    frame, card = export_learned("learned-world", cuts, 4_000, 0, world, model)
    after = {k: v["after"] for k, v in card["pairs"].items() if "sex" in k.split(":")}
    assert len(after) == 10 and max(after.values()) <= 0.08, after  # loose: bias-corrected V on 4,000 rows
    assert card["pairs"]["sex:relationship"]["before"] > 0.3


@pytest.mark.parametrize("args, message", [
    (["learned-world", ["occupation:education"]], "not an arrow of the learned graph of census-vae-world"),
    (["learned-world", ["sex:age"]], "the arrows out of sex there are: sex:education"),
    (["learned-world", ["gender:income"]], "unknown column 'gender'"),
    (["learned-world", ["sex-income"]], "is not PARENT:CHILD"),
    (["learned-nothing", ["sex:income"]], "unknown model 'learned-nothing'"),
])
def test_bad_input_is_a_value_error(model, world, args, message):
    with pytest.raises(ValueError) as err:
        export_learned(*args, 100, 0, world, model)
    assert message in str(err.value)


@pytest.mark.parametrize("extra, message", [
    (["--model", "learned-nothing", "--cut", "sex:income"], "unknown model 'learned-nothing'"),
    (["--model", "learned-world", "--cut", "income:occupation"],
     "the arrows out of income there are: none"),
    (["--model", "learned-adult", "--cut", "sex:age"], "not an arrow of the learned graph of census-vae-adult"),
])
def test_bad_input_on_the_command_line_is_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "fair.csv"
    assert main(["export", "census", *extra, "--n", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_exports_the_learned_models(tmp_path, capsys):
    for name, model_name in (("learned-world", "census-vae-world"), ("learned-adult", "census-vae-adult")):
        out = tmp_path / f"{name}.csv"
        assert main(["export", "census", "--model", name, "--cut", "sex:occupation", "--n", "300", "--seed", "2",
                     "--out", str(out)]) == 0
        card = json.loads(out.with_suffix(".card.json").read_text())
        assert card["model"] == model_name and card["n"] == 300 and card["cuts"] == ["sex:occupation"]
        assert out.read_text().count("\n") == 301
        assert f"the learned model {model_name}" in capsys.readouterr().out
    assert "real Adult training rows" in card["rows"]


def test_the_command_line_and_the_export_name_the_same_models():
    assert cli_census_export.MODELS == census_debias.MODELS


def test_evaluate_debias_keys_and_floors(model, world):
    result = evaluate_debias(model, world, n=2_000, seed=1)
    for name in ("sex_all", "sex_occupation"):
        cell = result[name]
        pairs = [k for k, v in cell.items() if isinstance(v, dict)]
        assert len(pairs) == 55
        assert {"dependence_after", "dependence_after_true"} <= set(cell["sex:occupation"])
        gaps = [abs(cell[p]["dependence_after"] - cell[p]["dependence_after_true"]) for p in pairs]
        assert cell["max_abs_gap"] == pytest.approx(max(gaps), abs=1e-4)
    # every arrow out of a root cut: every other column is factual in both exports, so they agree exactly
    assert result["sex_all"]["max_abs_gap"] == 0.0
    for table in ("factual",):
        assert 0.7 < result["classifier"][table]["accuracy"] < 0.9
    assert set(result["classifier"]["sex_all"]) == {"model", "true"}
    assert set(debias_floors(result)) == {"debias.sex_all.sex_max_dependence", "debias.sex_all.max_abs_gap",
                                          "debias.sex_occupation.max_abs_gap"}
