"""The Morpho SCM's mechanisms, abduction and counterfactuals, checked against the formulas."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.scm.graph import CycleError, Dag
from explorer.scm.morpho import MorphoSCM, tint


@pytest.fixture
def world():
    scm = MorphoSCM()
    labels = np.random.default_rng(0).integers(0, 10, 20000)
    noise = scm.sample_noise(labels, seed=1)
    return scm, noise, scm.counterfactual(noise)


def test_thickness_follows_the_published_gamma(world):
    _, _, v = world
    # 0.5 + Gamma(10, rate 5): mean 2.5, variance 10 / 25
    assert v["thickness"].mean() == pytest.approx(2.5, abs=0.02)
    assert v["thickness"].var() == pytest.approx(0.4, rel=0.05)


def test_intensity_mechanism(world):
    _, noise, v = world
    expected = 64 + 191 / (1 + np.exp(-(2 * (v["thickness"] - 2.5) + noise["u_i"])))
    np.testing.assert_allclose(v["intensity"], expected)
    assert 64 <= v["intensity"].min() and v["intensity"].max() <= 255
    assert np.corrcoef(v["thickness"], v["intensity"])[0, 1] > 0.5  # thicker digits are brighter


def test_abduction_then_empty_intervention_reproduces(world):
    scm, noise, v = world
    u = scm.abduct(v, {"digit": noise["digit"], "source": noise["source"]})
    cf = scm.counterfactual(u, {})
    for k in ("thickness", "intensity"):
        np.testing.assert_allclose(cf[k], v[k], atol=1e-6)


def test_do_thickness_moves_intensity_downstream_unless_held(world):
    scm, noise, v = world
    u = scm.abduct(v, noise)
    cf = scm.counterfactual(u, {"thickness": 4.0})
    # same noise u_i, new parent: the intensity mechanism evaluated at thickness 4
    expected = 64 + 191 / (1 + np.exp(-(2 * (4.0 - 2.5) + noise["u_i"])))
    np.testing.assert_allclose(cf["intensity"], expected, rtol=1e-6)
    held = scm.counterfactual(u, {"thickness": 4.0, "intensity": 100.0})
    assert np.all(held["intensity"] == 100.0)
    np.testing.assert_array_equal(cf["digit"], v["digit"])  # digit is not downstream of thickness


def test_do_intensity_leaves_thickness(world):
    scm, noise, v = world
    cf = scm.counterfactual(scm.abduct(v, noise), {"intensity": 90.0})
    np.testing.assert_allclose(cf["thickness"], v["thickness"])


@pytest.mark.parametrize("strength,low,high", [(0.0, -0.05, 0.05), (0.5, 0.35, 0.65), (1.0, 0.95, 1.0)])
def test_hue_confounding_strength_sets_realised_correlation(strength, low, high):
    scm = MorphoSCM(strength)
    labels = np.random.default_rng(2).integers(0, 10, 20000)
    v = scm.counterfactual(scm.sample_noise(labels, seed=3))
    assert low <= scm.realised_correlation(v) <= high


def test_do_digit_moves_hue_when_confounded():
    scm = MorphoSCM(1.0)
    noise = scm.sample_noise(np.array([3]), seed=0)
    cf = scm.counterfactual(noise, {"digit": 8})
    assert cf["hue"][0] == pytest.approx(0.85, abs=0.1)


def test_tint_keeps_grey_in_the_brightest_channel():
    grey = np.random.default_rng(0).random((28, 28)).astype(np.float32) * 255
    for hue in (0.0, 0.33, 0.71):
        np.testing.assert_allclose(tint(grey, hue).max(axis=0), grey, rtol=1e-6)


def test_graph_of_both_worlds():
    assert MorphoSCM().graph.descendants(["thickness"]) == {"intensity", "image"}
    assert MorphoSCM(0.5).graph.descendants(["digit"]) == {"hue", "image"}


def test_cycles_are_refused():
    with pytest.raises(CycleError, match="cycle"):
        Dag(("a", "b", "c"), frozenset({("a", "b"), ("b", "c"), ("c", "a")}))
    assert Dag(("a", "b"), frozenset({("a", "b")})).topological_order() == ["a", "b"]
    # the message names the cycle itself, not the nodes merely downstream of it (d, e)
    with pytest.raises(CycleError, match=r"cycle: b → c → b$"):
        Dag(("a", "b", "c", "d", "e"), frozenset({("a", "b"), ("b", "c"), ("c", "b"), ("c", "d"), ("d", "e")}))
