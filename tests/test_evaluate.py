"""`python -m explorer evaluate morpho` writes every key the issue asks for, with computed values."""

from __future__ import annotations

import json
import math

from explorer.__main__ import main

REQUIRED = ["effectiveness.digit_acc", "effectiveness.thickness_mae", "effectiveness.intensity_mae",
            "composition.l1_1", "composition.l1_10", "reversibility.l1_1", "gt_cf.l1_thickness",
            "gt_cf.l1_intensity", "classifier.morpho-cnn.acc", "classifier.morpho-cnn-hue.acc",
            "classifier.digit-recognizer-py.acc"]


def test_evaluate_writes_all_keys(tmp_path):
    out = tmp_path / "m.json"
    assert main(["evaluate", "morpho", "--n", "60", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for key in REQUIRED:
        assert isinstance(result[key], float) and math.isfinite(result[key]), key
    assert result["n"] == 60
    # sanity, not the acceptance bar: accuracies are probabilities, errors are non-negative
    for key in REQUIRED:
        assert result[key] >= 0 and (not key.endswith("acc") or result[key] <= 1)
    # applying the null intervention ten times drifts at least as far as once, give or take noise
    assert result["composition.l1_10"] >= result["composition.l1_1"] - 0.5
    # the true counterfactuals themselves measure back close to the intervened values
    assert result["reference.true_cf.thickness_mae"] < 0.3
    assert result["reference.true_cf.intensity_mae"] < 5


def test_unknown_world_is_refused(capsys):
    import pytest

    with pytest.raises(SystemExit) as err:
        main(["evaluate", "pendulum-that-does-not-exist"])
    assert err.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
