"""The packed inference pass (explorer/models/bert_packed.py) must give the `transformers` modules' numbers."""

from __future__ import annotations

import pytest
import torch

from explorer.models.bert_packed import pack_layer
from explorer.registry import load_text_pair

TEXTS = ["Lakisha was furious about the letter from the landlord.",  # the padded batch mixes lengths
         "ok",
         "A funny, clever and very charming film with a dull ending, though the second half drags on and on "
         "and the music never stops telling you what to feel.",
         "¡Qué día! 😀 Мой брат был в ярости."]


@pytest.fixture(scope="module")
def pair():
    return load_text_pair("race")


def test_packed_pass_equals_the_modules_on_a_padded_batch(pair):
    fast = pair.represent(TEXTS, erase=False)
    ref = pair.represent(TEXTS, erase=False, reference=True)
    for w in ("o", "cf"):
        assert fast[w].shape == (len(TEXTS), pair.base.hidden)
        torch.testing.assert_close(fast[w], ref[w], rtol=0, atol=1e-5)
    # each text alone (no padding, no mask) reads the same as inside the batch
    alone = pair.represent(TEXTS[1:2], erase=False)
    torch.testing.assert_close(alone["cf"][0], fast["cf"][1], rtol=0, atol=1e-5)


def test_packed_predictions_equal_the_modules_for_every_level(pair):
    for level in pair.levels:
        fast, ref = pair.predict(TEXTS, level), pair.predict(TEXTS, level, reference=True)
        for w in ("o", "cf"):
            assert abs(fast[w] - ref[w]).max() < 1e-6


def test_packing_follows_the_weights_to_a_new_dtype(pair):
    pair.packed()
    pair.double()  # what .to(device) does too: new tensors; the old packed layers must not be used
    try:
        assert pair.packed()["o"][0].qkv_weight.dtype == torch.float64
    finally:
        pair.float()
    assert pair.packed()["lower"][0].qkv_weight.dtype == torch.float32


def test_an_approximate_gelu_is_refused(pair):
    import copy

    layer = copy.deepcopy(pair.base.lower_layers[0])
    layer.intermediate.intermediate_act_fn = torch.nn.GELU(approximate="tanh")
    with pytest.raises(ValueError, match="exact GELU"):
        pack_layer(layer, 12)
