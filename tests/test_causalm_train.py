"""A tiny end-to-end CausaLM run: both stages, the shipped checkpoint format, loading, and the evaluation keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.evaluate.causalm import evaluate_causalm, interval_table
from explorer.registry import load_text_pair
from explorer.training.causalm import CausalmTrainConfig, train_causalm


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("causalm")
    # name_rank: the race setting's name-identity eraser, exercised here on the smaller gender run
    cfg = CausalmTrainConfig(concepts=("gender",), epochs={"gender": 1}, limit=96, out=out, devices=1,
                             name_rank={"gender": 8}, name_teacher={"gender": True})
    metrics = train_causalm(cfg)
    return out, metrics


def test_training_writes_small_self_describing_checkpoints(trained):
    out, metrics = trained
    for which in ("o", "cf"):
        folder = out / f"causalm-gender-{which}"
        card = json.loads((folder / "card.json").read_text())
        assert card["role"] == which and card["concept"] == "gender"
        assert card["classes"] == ["anger", "fear", "joy", "sadness"]
        assert card["command"] == "python -m explorer train causalm"
        assert set(metrics["gender"][which]) >= {"val_acc.balanced", "val_acc.gentle", "val_acc.aggressive"}
        # a delta: two float16 layers + heads, far below the 90 MB base
        assert (folder / "weights.safetensors").stat().st_size < 10_000_000


def test_the_pair_loads_and_predicts_probabilities(trained):
    out, _ = trained
    pair = load_text_pair("gender", out)
    probs = pair.predict(["My sister feels furious.", "Greg is glad."], "gentle")
    for which in ("o", "cf"):
        assert probs[which].shape == (2, 4)
        assert np.allclose(probs[which].sum(1), 1.0, atol=1e-5)
    # O and CF share the frozen base but have their own top layers: they must differ somewhere
    assert not np.allclose(probs["o"], probs["cf"])
    clf = pair.classifier("o", "balanced")
    assert clf.classes == ("anger", "fear", "joy", "sadness")
    assert clf.predict_proba(["I am scared."]).shape == (1, 4)


def test_evaluation_writes_every_issue_key(trained):
    out, _ = trained
    res = evaluate_causalm(("gender",), limit=64, folder=out)
    for level in ("balanced", "gentle", "aggressive"):
        for key in ("ate_gt", "treate", "conexp", "acc_o", "acc_cf", "probe_o", "probe_cf", "probe_majority",
                    "probe_o_heldout", "probe_cf_heldout"):
            value = res[f"gender.{level}.{key}"]
            assert isinstance(value, float) and not np.isnan(value), key
        assert 0.0 <= res[f"gender.{level}.treate"] <= 1.0
        gap = abs(res[f"gender.{level}.treate"] - res[f"gender.{level}.ate_gt"])
        assert 0.0 <= res[f"gender.{level}.gap_ci_low"] <= res[f"gender.{level}.gap_ci_high"] <= 1.0
        assert res[f"gender.{level}.gap_ci_low"] <= gap + 0.05  # (|.| folds the draws near 0, so not strictly)
        excess = res[f"gender.{level}.probe_cf"] - res[f"gender.{level}.probe_majority"]
        assert res[f"gender.{level}.probe_cf_excess_ci_low"] <= excess <= res[f"gender.{level}.probe_cf_excess_ci_high"]
    assert {"check.gender.ordering_kept", "check.gender.probe_cf_at_majority"} <= set(res)
    assert "[" in interval_table(res)
    # by kind of person: the kinds partition the texts, so their text-weighted probes give the overall ones
    kinds = {k.split(".")[2] for k in res if k.startswith("gender.by_kind.")}
    assert kinds and kinds <= {"census", "phrase", "resume"}
    n = sum(res[f"gender.by_kind.{k}.n_texts"] for k in kinds)
    assert n == res["gender.balanced.n_test"]
    for which in ("o", "cf"):
        pooled = sum(res[f"gender.by_kind.{k}.probe_{which}"] * res[f"gender.by_kind.{k}.n_texts"] for k in kinds)
        assert abs(pooled / n - res[f"gender.balanced.probe_{which}"]) < 1e-6


def test_cf_carries_an_eraser_that_hides_the_concept_from_linear_readers(trained):
    from explorer.datasets.text_tasks import load_task

    out, _ = trained
    pair = load_text_pair("gender", out)
    assert pair.erasers["o"] is None and pair.erasers["cf"] is not None
    task = load_task("gender", 96)
    texts, concept = task.stage1["texts"], np.asarray(task.stage1["sent_concept"])
    labels = np.asarray(task.stage1["labels"])
    erased, raw = pair.represent(texts)["cf"].numpy(), pair.represent(texts, erase=False)["cf"].numpy()

    def gap(z, label):  # distance between the two concept groups' mean representations within one task class
        m = labels == label
        return np.linalg.norm(z[m & (concept == 1)].mean(0) - z[m & (concept == 0)].mean(0))

    # gender's eraser works within each task class (CausalmTrainConfig.erase_within_label)
    classes = [c for c in range(4) if len(set(concept[labels == c])) == 2]
    assert classes
    for c in classes:
        assert gap(raw, c) > 0.05
        assert gap(erased, c) < 1e-3 * gap(raw, c)  # the eraser was fitted on exactly these texts
    card = json.loads((out / "causalm-gender-cf" / "card.json").read_text())
    assert card["config"]["erase"] is True and card["config"]["erase_within_label"] is True
    assert "LEACE" in card["description"] and "within each task class" in card["description"]
    assert card["config"]["name_rank"] == 8 and "8-dimensional name-identity subspace from 96" in card["description"]
    assert card["config"]["name_teacher"] and "as O's linear probe reads it" in card["description"]
    o_card = json.loads((out / "causalm-gender-o" / "card.json").read_text())
    assert o_card["config"]["name_rank"] == 0 and not o_card["config"]["name_teacher"]


def test_the_name_rank_sweep_reports_probes_control_and_effects_for_each_rank_asked(trained):
    from explorer.evaluate.name_rank_sweep import markdown_table, name_rank_sweep

    out, _ = trained
    res = name_rank_sweep(("gender",), limit=64, folder=out, split="val", halvings=2, ranks=(0, 32))
    assert res["split_is_val"] == 1.0
    assert not any(k.startswith("gender.rank16") for k in res)  # only the ranks asked for
    for rank in (0, 32):
        for key in ("probe", "probe_mlp", "probe_halves", "control", "aggressive.gap", "aggressive.acc"):
            for variant in ("", "_reading"):
                assert 0.0 <= res[f"gender.rank{rank}{variant}.{key}"] <= 1.0
    table = markdown_table(res, "gender")
    assert "CF, rank 32 |" in table and "CF, rank 0 + O reading |" in table
    with pytest.raises(ValueError, match="template concepts"):
        name_rank_sweep(("adjectives",), limit=8, folder=out)


def test_erasure_ablation_agrees_with_the_evaluation_on_the_shipped_variant(trained):
    from explorer.evaluate.ablation_causalm import VARIANTS, erasure_ablation, markdown_table

    out, _ = trained
    res = erasure_ablation(("gender",), split="val", folder=out, limit=64)
    ref = evaluate_causalm(("gender",), limit=64, folder=out, split="val")
    for level in ("balanced", "gentle", "aggressive"):
        # the same texts in other batches: padding differs, so the floats may differ in the last bits
        assert res[f"gender.{level}.adversary+eraser.treate"] == pytest.approx(ref[f"gender.{level}.treate"], abs=1e-4)
        assert res[f"gender.{level}.ate_gt"] == pytest.approx(ref[f"gender.{level}.ate_gt"], abs=1e-4)
        for v in VARIANTS:
            assert 0.0 <= res[f"gender.{level}.{v}.treate"] <= 1.0
    assert res["gender.adversary+eraser.probe"] == pytest.approx(ref["gender.balanced.probe_cf"], abs=1.5 / 64)
    assert "| gender | balanced |" in markdown_table(res)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A local BERT folder that is not the packaged one: random weights, hidden 96, 4 heads, 3 layers (the
    packaged MiniLM has 384, 12 and 6), with MiniLM's tokenizer files."""
    import shutil

    from transformers import BertConfig, BertModel

    from explorer.models.text_encoder import packaged_minilm

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=96, num_hidden_layers=3, num_attention_heads=4,
                         intermediate_size=192, max_position_embeddings=128), add_pooling_layer=False).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (packaged_minilm() / name).exists():
            shutil.copy(packaged_minilm() / name, folder / name)
    return folder


def test_any_local_bert_folder_can_be_the_base_from_the_command_line(tiny_bert, tmp_path):
    from explorer.__main__ import main

    out = tmp_path / "models"
    assert main(["train", "causalm", "--only", "gender", "--limit", "48", "--epochs", "1", "--base", str(tiny_bert),
                 "--trainable-layers", "1", "--out", str(out)]) == 0
    card = json.loads((out / "causalm-gender-cf" / "card.json").read_text())
    assert card["config"]["encoder"]["base"] == str(tiny_bert.resolve())
    pair = load_text_pair("gender", out)  # the base comes from the card, not from the packaged default
    assert pair.base.hidden == 96 and len(pair.base.lower_layers) == 2 and len(pair.uppers["o"]) == 1
    texts = ["My sister feels furious.", "ok"]
    probs = pair.predict(texts, "gentle")
    assert probs["cf"].shape == (2, 4) and np.allclose(probs["cf"].sum(1), 1.0, atol=1e-5)
    fast, ref = pair.represent(texts, erase=False), pair.represent(texts, erase=False, reference=True)
    torch.testing.assert_close(fast["o"], ref["o"], rtol=0, atol=1e-5)


def test_a_bad_base_or_layer_count_ends_with_a_message(tiny_bert, tmp_path, capsys):
    from explorer.__main__ import main

    assert main(["train", "causalm", "--only", "gender", "--base", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "not a Hugging Face model folder" in capsys.readouterr().err
    assert main(["train", "causalm", "--only", "gender", "--base", str(tiny_bert), "--trainable-layers", "4",
                 "--out", str(tmp_path)]) == 2
    assert "trainable layers must be in 1..3" in capsys.readouterr().err
