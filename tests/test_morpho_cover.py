"""The generator's extra training data: each digit truly re-drawn at a thickness spread over the slider's range."""

from __future__ import annotations

import numpy as np

from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import COVER_RANGE, load_morpho, load_morpho_cover
from explorer.scm import morphology
from explorer.scm.morpho import MorphoSCM


def test_cover_digits_are_the_true_counterfactuals_of_the_factual_ones():
    n = 12
    cover, factual = load_morpho_cover("val", limit=n, workers=1), load_morpho("val", limit=n, workers=1)
    scm = MorphoSCM()
    # same noise as the factual digits; only thickness is intervened on, intensity follows its mechanism
    assert np.array_equal(cover.noise["u_i"], factual.noise["u_i"])
    want = scm.counterfactual(factual.noise, {"thickness": cover.values["thickness"]})
    assert np.allclose(cover.values["intensity"], want["intensity"])
    assert np.array_equal(cover.values["digit"], factual.values["digit"])
    assert not np.allclose(cover.values["thickness"], factual.values["thickness"])
    sources = load_mnist("val").images[:n]
    for k in range(n):
        true = scm.render(morphology.skeleton(sources[k]), {name: v[k] for name, v in cover.values.items()})
        assert np.abs(cover.images[k].astype(np.float32) - true).max() <= 0.5  # stored rounded to uint8


def test_cover_thickness_spreads_over_the_whole_range():
    t = load_morpho_cover("val", limit=400, workers=1).values["thickness"]
    lo, hi = COVER_RANGE
    assert t.min() >= lo and t.max() <= hi
    # uniform: about a fifth above 4.6 px, where the world itself draws ~0.2 % of its digits
    assert 0.12 < np.mean(t > 4.6) < 0.28
