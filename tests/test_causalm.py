"""CausaLM parts: effect estimators on hand-made numbers, gradient reversal, the offline encoder, stage-1 losses."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch

from explorer.metrics.effects import ate_gt, conexp, treate
from explorer.data.pos import IGNORE
from explorer.models.causalm import CausalmConfig, CausalmPretrainer, grad_reverse
from explorer.models.text_encoder import BaseModelMissing, TextEncoder, TextEncoderConfig, load_tokenizer, resolve_base
from explorer.training.causalm_data import build_stage1, collate, pos_index, static_mask, token_labels
from explorer.training.linear import accuracy, fit_linear


def test_treate_and_ate_gt_on_hand_made_probabilities():
    p_o = np.array([[0.9, 0.1], [0.2, 0.8]])
    p_cf = np.array([[0.6, 0.4], [0.2, 0.8]])
    # class-averaged: (|0.3| + |0.3|) / 2 = 0.3 for text 1, 0 for text 2 -> 0.15
    assert treate(p_o, p_cf) == pytest.approx(0.15)
    assert ate_gt(p_o, p_o) == 0.0
    three = np.array([[0.5, 0.25, 0.25]])
    assert treate(three, np.array([[0.2, 0.55, 0.25]])) == pytest.approx(0.2)  # (0.3 + 0.3 + 0) / 3
    with pytest.raises(ValueError):
        treate(p_o, three)


def test_conexp_contrasts_group_means_and_refuses_one_group():
    p = np.array([[1.0, 0.0], [0.6, 0.4], [0.2, 0.8], [0.0, 1.0]])
    c = np.array([1, 1, 0, 0])
    # E[p|C=1] = (0.8, 0.2), E[p|C=0] = (0.1, 0.9) -> (0.7 + 0.7) / 2
    assert conexp(p, c) == pytest.approx(0.7)
    assert np.isnan(conexp(p, np.ones(4)))


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    out = grad_reverse(x, 0.5)
    assert torch.equal(out, x)
    (out * torch.tensor([3.0, 4.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-1.5, -2.0]))


def test_static_mask_masks_about_fifteen_percent_never_specials():
    rng = np.random.default_rng(0)
    ids = torch.arange(1000, 1200)
    special = torch.zeros(200, dtype=torch.bool)
    special[[0, 199]] = True
    masked, target = static_mask(ids, special, 103, rng)
    picked = target != IGNORE
    assert 15 <= int(picked.sum()) <= 50
    assert not picked[special].any()
    assert torch.equal(masked[picked], torch.full((int(picked.sum()),), 103))
    assert torch.equal(target[picked], ids[picked])
    assert torch.equal(masked[~picked], ids[~picked])


def test_word_labels_spread_to_word_pieces():
    assert token_labels([None, 0, 0, 1, None], [7, 8]) == [IGNORE, 7, 7, 8, IGNORE]
    assert pos_index("ADJ") == IGNORE and pos_index("NOUN") == 0 and pos_index("INTJ") == pos_index("OTHER")


def test_linear_fit_learns_a_separable_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] > 0).long()
    head = fit_linear(x, y, 2)
    assert accuracy(head, x, y) > 0.95


def test_unknown_base_folder_is_a_clear_error(tmp_path):
    with pytest.raises(BaseModelMissing, match="config.json"):
        resolve_base(str(tmp_path))


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder(TextEncoderConfig()).eval()


def test_packaged_encoder_loads_offline_and_matches_the_full_model(encoder, monkeypatch):
    from transformers import BertModel

    # Offline: any attempt to open a network connection fails the test.
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    tok = load_tokenizer(encoder.cfg)
    b = tok(["a gentle, funny film.", "dull"], padding=True, return_tensors="pt")
    ours = encoder(b["input_ids"], b["attention_mask"])  # (2, T, 384)
    full = BertModel.from_pretrained(str(resolve_base(encoder.cfg.base)), local_files_only=True).eval()
    ref = full(**b).last_hidden_state
    assert ours.shape == ref.shape == (2, b["input_ids"].shape[1], 384)
    assert torch.allclose(ours, ref, atol=1e-5)
    assert all(not p.requires_grad for p in encoder.lower_layers.parameters())
    assert all(p.requires_grad for p in encoder.upper.parameters())


def test_stage1_losses_are_finite_and_reach_only_trainable_parts(encoder):
    tok = load_tokenizer(encoder.cfg)
    words = [["a", "gentle", ",", "funny", "film", "."], ["dull", "and", "long"]]
    items = build_stage1(encoder, tok, [" ".join(w) for w in words], [1, 0], [IGNORE, IGNORE], words,
                         [[0, 1, 0, 1, 0, 0], [1, 0, 1]], [[2, IGNORE, 6, IGNORE, 0, 6], [IGNORE, 9, IGNORE]])
    model = CausalmPretrainer(CausalmConfig("adjectives", adversarial=True, token_level=True, n_control=11),
                              encoder=encoder)
    parts = model.losses(collate(items), lam=1.0)
    assert set(parts) == {"mlm", "control", "adv_sentence", "adv_token"}
    loss = model.total(parts)
    assert torch.isfinite(loss)
    loss.backward()
    assert encoder.embeddings.word_embeddings.weight.grad is None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.upper.parameters())
    model.zero_grad(set_to_none=True)


def test_rebuild_command_names_the_concept_the_folder_and_a_users_own_base(tmp_path):
    import json

    from explorer.checkpoints import CheckpointError
    from explorer.registry import load_text_pair, rebuild_causalm
    from explorer.paths import ROOT

    assert rebuild_causalm("race", ROOT / "pretrained") == "python -m explorer train causalm --only race"
    assert rebuild_causalm(folder=tmp_path) == f"python -m explorer train causalm --out {tmp_path}"
    # another concept's card in the folder says these models were built on the user's own BERT
    (tmp_path / "causalm-gender-o").mkdir()
    (tmp_path / "causalm-gender-o" / "card.json").write_text(
        json.dumps({"config": {"encoder": {"base": "/models/my-bert"}}}))
    command = f"python -m explorer train causalm --only race --base /models/my-bert --out {tmp_path}"
    assert rebuild_causalm("race", tmp_path) == command
    with pytest.raises(CheckpointError) as err:
        load_text_pair("race", tmp_path)
    assert command in str(err.value)
