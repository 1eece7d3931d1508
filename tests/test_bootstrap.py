"""Cluster bootstrap: resampling whole persons widens the interval exactly when a person's texts move together."""

from __future__ import annotations

import numpy as np

from explorer.metrics.bootstrap import bootstrap_means, interval


def test_a_constant_has_a_point_interval_and_columns_share_draws():
    b = bootstrap_means(np.stack([np.full(50, 0.3), np.arange(50.0)], 1))
    assert b.shape == (2000, 2)
    assert np.allclose(b[:, 0], 0.3)
    assert np.allclose(interval(b[:, 0]), 0.3)
    assert np.allclose(bootstrap_means(np.arange(50.0)), bootstrap_means(np.arange(50.0)))  # seeded


def test_clustered_texts_give_a_wider_interval_than_independent_ones():
    rng = np.random.default_rng(0)
    persons = [f"p{i}" for i in range(20) for _ in range(50)]  # 20 persons x 50 sentences
    person_effect = np.repeat(rng.normal(0, 1, 20), 50)
    values = person_effect + rng.normal(0, 0.1, 1000)  # (1000,) texts of one person move together
    lo_p, hi_p = interval(bootstrap_means(values, persons)[:, 0])
    lo_t, hi_t = interval(bootstrap_means(values)[:, 0])
    assert hi_p - lo_p > 4 * (hi_t - lo_t)
    # about 2 * 1.96 * sd of the person mean (1 / sqrt(20)); the text-level one pretends there are 1000 units
    assert 0.6 < hi_p - lo_p < 1.2
    assert lo_p < values.mean() < hi_p



def test_many_units_are_drawn_in_chunks_with_the_same_replicates_as_one_draw():
    values = np.random.default_rng(1).normal(size=(100_000, 2))  # 40 replicates per chunk: 3 chunks here
    draws = np.random.default_rng(7).integers(0, 100_000, (100, 100_000))  # the one-call reference
    weights = np.stack([np.bincount(d, minlength=100_000) for d in draws]).astype(float)
    expected = (weights @ values) / weights.sum(1, keepdims=True)
    assert np.allclose(bootstrap_means(values, n_boot=100, seed=7), expected, rtol=0, atol=1e-12)
