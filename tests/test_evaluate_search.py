"""`evaluate search` writes its keys from real searches on the shipped models."""

from __future__ import annotations

import math

from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.pixel import PixelSearch
from explorer.counterfactual.search.space import MorphoSpace
from explorer.evaluate.search import evaluate_search


def test_keys_and_the_headline_on_four_digits(generator, cpu):
    space = MorphoSpace(generator, cpu)
    r = evaluate_search(n=4, methods={"aip": AIPSearch(space), "pixel": PixelSearch(space)},
                        classifiers=("morpho-cnn",), modes=("any", "style_only"), steps=60)
    for method in ("aip", "pixel"):
        for metric in ("success", "oracle_agrees", "attr_distance", "pixel_l1", "n_changed", "plausibility",
                       "ms_per_query_median", "ms_per_query_p95", "queries_per_s"):
            assert f"{method}.morpho-cnn.any.{metric}" in r, (method, metric)
    # only answers that are do() sets have a TRUE counterfactual to hold on
    assert "aip.morpho-cnn.style_only.holds_on_true" in r and "pixel.morpho-cnn.style_only.holds_on_true" not in r
    assert r["aip.morpho-cnn.any.success"] == 1.0  # the grey CNN is flipped on every digit to some other class
    assert r["aip.morpho-cnn.any.oracle_agrees"] >= 0.75  # by a real change of digit the oracle reads too
    assert r["pixel.morpho-cnn.any.n_changed"] == 0.0  # a pixel edit names no attribute
    # the pixel answer is further from anything the generator can draw than AIP's
    assert r["pixel.morpho-cnn.any.plausibility"] > r["aip.morpho-cnn.any.plausibility"]
    assert math.isfinite(r["aip.morpho-cnn.any.ms_per_query_median"])
