"""The packed pass in ONNX Runtime (explorer/models/bert_ort.py) must answer as the torch pass does, and the pair
must fall back to torch when ONNX Runtime is missing or the export fails."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from explorer.models import bert_ort
from explorer.models.bert_ort import check_standard_ops
from explorer.registry import load_text_pair
from explorer.services.text import examples

pytest.importorskip("onnxruntime")

ODD = ["ok",  # two word pieces beside a long review: padding in the same batch
       "A funny, clever and very charming film with a dull ending, though the second half drags on and on "
       "and the music never stops telling you what to feel.",
       "¡Qué día! 😀 Мой брат был в ярости."]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))  # the exports of this test stay in its own folder


@pytest.mark.parametrize("concept", ["gender", "race", "adjectives"])
def test_ort_probabilities_equal_torch_on_padded_batches(concept):
    pair = load_text_pair(concept)
    assert pair.use_onnx_runtime()
    texts = [e.text for e in examples(concept)] + ODD  # real test-set sentences of the concept
    for level in pair.levels:
        for batch in (texts, texts[:3], texts[-2:], texts[:1]):  # several lengths, with and without padding
            fast, ref = pair.predict(batch, level), pair.predict(batch, level, onnx=False)
            for w in ("o", "cf"):
                assert fast[w].shape == ref[w].shape == (len(batch), len(pair.classes))
                assert np.abs(fast[w] - ref[w]).max() < 1e-5, (concept, level, w)


def test_a_second_build_reads_the_cache_and_equals_the_first(tmp_path):
    pair = load_text_pair("race")
    assert pair.use_onnx_runtime()
    files = list((tmp_path / "ort").glob("causalm-race-*.onnx"))
    assert len(files) == 1
    first = pair.predict(ODD, "balanced")
    pair.ort = None
    assert pair.use_onnx_runtime()  # from the file this time
    again = pair.predict(ODD, "balanced")
    for w in ("o", "cf"):
        np.testing.assert_array_equal(first[w], again[w])
    check_standard_ops(files[0].read_bytes())  # the graph needs no custom-op library


def test_a_damaged_cache_file_is_exported_again(tmp_path):
    pair = load_text_pair("gender")
    assert pair.use_onnx_runtime()
    path = next((tmp_path / "ort").glob("causalm-gender-*.onnx"))
    path.write_bytes(b"not an onnx model")
    pair.ort = None
    assert pair.use_onnx_runtime()
    assert path.stat().st_size > 1_000_000  # rewritten whole
    fast, ref = pair.predict(ODD, "balanced"), pair.predict(ODD, "balanced", onnx=False)
    assert np.abs(fast["o"] - ref["o"]).max() < 1e-5


def test_without_onnxruntime_the_torch_pass_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    pair = load_text_pair("race")
    assert not pair.use_onnx_runtime()
    assert pair.ort is None
    probs = pair.predict(ODD, "balanced")
    ref = pair.predict(ODD, "balanced", reference=True)
    assert np.abs(probs["cf"] - ref["cf"]).max() < 1e-6


def test_a_failing_export_falls_back_to_torch_and_is_logged(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(torch.onnx, "export", broken)
    pair = load_text_pair("race")
    with caplog.at_level("WARNING", logger=bert_ort.__name__):
        assert not pair.use_onnx_runtime()
    assert "torch pass runs instead" in caplog.text
    assert pair.predict(["ok"], "balanced")["o"].shape == (1, len(pair.classes))


def test_custom_operators_are_refused():
    import onnx
    from onnx import helper

    node = helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(ValueError, match="com.microsoft"):
        check_standard_ops(model.SerializeToString())


def test_moving_the_pair_drops_the_session():
    pair = load_text_pair("race")
    assert pair.use_onnx_runtime()
    pair.float()  # any .to()/.float() makes new tensors: the export no longer describes them
    assert pair.ort is None
