"""`evaluate search` writes its keys from real searches on the shipped models."""

from __future__ import annotations

import math

import numpy as np

from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.pixel import PixelSearch
from explorer.counterfactual.search.space import MorphoSpace
from explorer.datasets.morpho import load_morpho
from explorer.evaluate.search import evaluate_search, queries


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


def test_a_stopped_run_goes_on_from_the_chunks_it_kept(generator, cpu, tmp_path, monkeypatch):
    """With `resume`, each chunk's rows are kept as it finishes; the same run again reads them instead of
    searching, and gives the same numbers (bar the run's own seconds)."""
    import explorer.evaluate.search as ev

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    monkeypatch.setattr(ev, "CHUNK", 2)  # two chunks of two digits
    space = MorphoSpace(generator, cpu)
    args = dict(n=4, methods={"aip": AIPSearch(space)}, classifiers=("morpho-cnn",), modes=("any",), steps=40,
                resume=True)
    first = evaluate_search(**args)
    kept = sorted(p.name for p in tmp_path.glob("evaluate-search/*/*.json"))
    assert kept == ["aip.morpho-cnn.any.0.json", "aip.morpho-cnn.any.2.json"]

    def no_search(*a, **k):
        raise AssertionError("a kept chunk was searched again")

    monkeypatch.setattr(ev, "chunk_rows", no_search)
    again = evaluate_search(**args)
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in first.items() if k != "seconds"}


def test_validation_digits_are_other_digits_than_the_test_ones():
    """`split="val"` (for choosing a method's settings) draws from the validation split: its images are the
    validation set's, and not the test set's at the same indices."""
    val, k = queries(6, False, 0, "val")
    test, k_test = queries(6, False, 0)
    np.testing.assert_array_equal(k, k_test)  # the same draw of indices ...
    np.testing.assert_array_equal(val.grey[:, 0].numpy(), load_morpho("val").images[k])  # ... into another split
    assert not np.array_equal(val.grey.numpy(), test.grey.numpy())
    np.testing.assert_array_equal(val.obs["thickness"], load_morpho("val").values["thickness"][k])


def test_kept_rows_belong_to_one_generator(tmp_path):
    """A retrained generator (other weights) never reads the rows another one's run kept."""
    from explorer.evaluate.search import _cache_folder
    from explorer.paths import PRETRAINED

    other = tmp_path / "other-generator"
    other.mkdir()
    (other / "weights.safetensors").write_bytes(b"other weights")
    shipped = _cache_folder(500, 0, 200, "test", PRETRAINED / "morpho-cvae")
    assert _cache_folder(500, 0, 200, "test", other) != shipped
    assert _cache_folder(500, 0, 200, "test", PRETRAINED / "morpho-cvae") == shipped  # the same one does
