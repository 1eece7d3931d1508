"""Classifiers trained with counterfactuals (issue 19, section 3): the losses on cases known by hand, a tiny
end-to-end run of every method, the evaluation's keys and floors, and the command line's bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from explorer.__main__ import main
from explorer.cli_cf_generator import CF_METHODS
from explorer.training.cf_runs import folder_name
from explorer.training.cf_training import gradient_supervision, representation_pull, train_cf_classifier
from explorer.training.run_configs import METHODS, CFTrainConfig


class Linear(nn.Module):
    """logits = W x: the input gradient of f_a - f_b is W[a] - W[b], whatever x is."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)  # (10, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w.T  # (B, 10)


def test_the_command_line_knows_every_method():
    assert CF_METHODS == METHODS


def test_representation_pull_is_zero_for_identical_representations_and_grows_with_distance():
    h = torch.rand(8, 16) + 0.1
    assert float(representation_pull(h, h.clone())) == pytest.approx(0.0, abs=1e-6)
    assert float(representation_pull(h, 3 * h)) == pytest.approx(0.0, abs=1e-6)  # scale-free
    noise = torch.rand(8, 16)
    near, far = representation_pull(h, h + 0.1 * noise), representation_pull(h, h + 10 * noise)
    assert 0 < float(near) < float(far)
    opposite = representation_pull(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    assert float(opposite) == pytest.approx(1.0)  # orthogonal representations: 1 - cos = 1


@pytest.mark.parametrize("sign,expected", [(1.0, 0.0), (-1.0, 2.0), (0.0, 1.0)])
def test_gradient_supervision_loss_on_a_linear_model_known_by_hand(sign, expected):
    d = 12
    w = torch.zeros(10, d)
    direction = torch.zeros(d)
    direction[:3] = torch.tensor([1.0, 2.0, -1.0])
    w[3] = direction  # grad_x (f_3 - f_0) = W[3] - W[0] = direction
    x = torch.randn(4, d)
    if sign == 0.0:  # a pair difference orthogonal to the gradient
        step = torch.zeros(d)
        step[5] = 1.0
    else:
        step = sign * 2.5 * direction
    x_pair = x + step
    y, y_pair = torch.zeros(4, dtype=torch.long), torch.full((4,), 3)
    ce, gs = gradient_supervision(Linear(w), x, y, x_pair, y_pair)
    assert float(gs.detach()) == pytest.approx(expected, abs=1e-5)
    assert float(ce.detach()) > 0


def test_gradient_supervision_trains_the_weights_and_skips_pairs_of_one_label():
    torch.manual_seed(0)
    model = Linear(torch.randn(10, 12))
    x, x_pair = torch.randn(4, 12), torch.randn(4, 12)
    y = torch.tensor([0, 1, 2, 3])
    _, gs = gradient_supervision(model, x, y, x_pair, torch.tensor([5, 6, 7, 8]))
    gs.backward()
    assert model.w.grad is not None and model.w.grad.abs().sum() > 0
    _, same = gradient_supervision(model, x, y, x_pair, y.clone())  # every pair has its own label: nothing to align
    assert float(same.detach()) == 0.0


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Every method for one step pair on 256 digits at strength 0.99 (the shipped robust generator makes the bank)."""
    out = tmp_path_factory.mktemp("runs")
    cards = {m: train_cf_classifier(CFTrainConfig(strength=0.99, method=m, limit=256, epochs=1, out=out))
             for m in METHODS}
    return out, cards


def test_every_method_trains_and_writes_a_card(tiny_runs):
    out, cards = tiny_runs
    for method, card in cards.items():
        folder = out / folder_name(method, 0.99, 0)
        assert (folder / "weights.safetensors").exists(), method
        assert card["method"] == method and card["metrics"]["train_seconds"] > 0
    # the augmenting methods train on hues drawn independently of the digit: their labelled data is less confounded
    before = cards["erm"]["metrics"]["confounding_before"]
    assert before > 0.8
    for method in ("cf_augment", "cf_regularise", "true_augment"):
        assert cards[method]["metrics"]["confounding_after"] < before - 0.2, method
    assert cards["erm"]["metrics"]["confounding_after"] == before
    assert cards["unconfounded"]["metrics"]["confounding_before"] < 0.1


def test_the_evaluation_scores_every_run_and_computes_the_floors(tiny_runs, tmp_path):
    out, _ = tiny_runs
    path = tmp_path / "r.json"
    assert main(["evaluate", "cf-training", "--folder", str(out), "--limit", "200", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["runs"] == len(METHODS)
    for method in METHODS:
        for metric in ("iid_acc", "ood_acc", "anti_acc", "hue_invariance"):
            assert 0.0 <= result[f"s0.99.{method}.{metric}_mean"] <= 1.0
    assert result["s0.99.erm.n_seeds"] == 1 and result["s0.99.erm.ood_acc_sd"] == 0.0
    assert "s0.99.confounding_before" in result
    assert {"floors.cf_regularise_ood_gain", "floors.grad_supervision_beats_erm_ood"} <= set(result)
    assert all(v in (0.0, 1.0) for k, v in result.items() if k.startswith("floors."))
    assert "s0.unconfounded.ood_acc_mean" in result  # the reference is scored in every world


@pytest.mark.parametrize("argv,words", [
    (["train", "cf-training", "--method", "erm"], "needs --strength"),
    (["train", "cf-training", "--strength", "0.99"], "needs --method"),
    (["train", "cf-training", "--strength", "0.99", "--method", "magic"], "invalid choice"),
    (["train", "cf-training", "--strength", "1.5", "--method", "erm"], "--strength"),
    (["train", "cf-training", "--strength", "0.99", "--method", "erm", "--limit", "5"], "less than one batch"),
])
def test_bad_training_requests_are_one_line_errors(argv, words, tmp_path, capsys):
    try:
        code = main([*argv, "--out", str(tmp_path / "o")])
    except SystemExit as exit_:  # refused by the parser
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_evaluating_an_empty_folder_says_what_to_do(tmp_path, capsys):
    assert main(["evaluate", "cf-training", "--folder", str(tmp_path)]) == 2
    assert "train cf-training" in capsys.readouterr().err


def test_unknown_generator_strength_names_the_rebuild_command(tmp_path):
    """A strength with no trained generator: the message names the command that trains it (no bank is half-made)."""
    from explorer.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="cf-generator|rgb_generator"):
        train_cf_classifier(CFTrainConfig(strength=0.5, method="cf_augment", limit=256, epochs=1, out=tmp_path))
    assert not any(tmp_path.iterdir())


def test_bank_draws_do_not_depend_on_how_many_rows_are_asked():
    from explorer.training.cf_bank import asked

    digits = np.random.default_rng(0).integers(0, 10, 20_000)  # BANK_ROWS: every bank up to that size nests
    small_hues, small_other = asked(digits[:300], 2, 7)
    hues, other = asked(digits, 2, 7)
    np.testing.assert_array_equal(small_hues, hues[:, :300])
    np.testing.assert_array_equal(small_other, other[:300])
    assert (other != digits).all() and ((hues >= 0) & (hues < 1)).all()


def test_a_cancelled_run_saves_nothing(tmp_path):
    card = train_cf_classifier(CFTrainConfig(strength=0.99, method="erm", limit=256, epochs=1, out=tmp_path),
                               cancelled=lambda: True)
    assert card == {} and not any(tmp_path.iterdir())
