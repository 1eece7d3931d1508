"""The pendulum SCM: geometry on hand-computed cases, the renderer, and counterfactuals with cut edges."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.scm.graph import CycleError, Dag
from explorer.scm.pendulum import (SHADOW, TRUE_GRAPH, VARIABLES, PendulumSCM, length_mechanism,
                                   position_mechanism, shadow_ends)

SCM = PendulumSCM()


@pytest.mark.parametrize("theta, phi, length, position", [
    (0.0, 90.0, 3.0, 10.0),  # sun overhead: the shadow sits under the pivot, at its minimum length
    (0.0, 45.0, 9.5, 3.75),  # ends at 10 - 11 = -1 and 10 - 1.5 = 8.5
    (30.0, 135.0, 3.4772, 19.2614),  # ends at 21 and 14.75 + (0.5 + 10.5 - 9.5 cos 30°) = 17.5228
])
def test_shadow_geometry_on_hand_computed_cases(theta, phi, length, position):
    assert length_mechanism(np.array([theta]), np.array([phi]))[0] == pytest.approx(length, abs=1e-4)
    assert position_mechanism(np.array([theta]), np.array([phi]))[0] == pytest.approx(position, abs=1e-4)


def test_projection_follows_the_formula():
    a, b = shadow_ends(np.array([-20.0]), np.array([60.0]))
    cot = 1 / np.tan(np.radians(60.0))
    far_x, far_y = 10 + 9.5 * np.sin(np.radians(-20.0)), 10.5 - 9.5 * np.cos(np.radians(-20.0))
    assert a[0] == pytest.approx(10 + (-0.5 - 10.5) * cot)
    assert b[0] == pytest.approx(far_x + (-0.5 - far_y) * cot)


def test_render_places_shadow_and_bob_where_the_geometry_says():
    img = SCM.render({"pendulum": 0.0, "light": 90.0, "shadow_length": 3.0, "shadow_position": 10.0})[0]
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    # bottom row (y = -1.33) crosses the shadow box x in [8.5, 11.5]. Pixels are 0.3125 wide, the ramp is
    # one pixel (0.328) wide: centres 8.91 .. 11.09 (columns 28..35) are fully inside, columns 27 and 36
    # (centres 0.094 inside the edge) are 79 % covered, columns 26 and 37 are bare ground.
    dist = np.abs(img[63].astype(int) - np.rint(SHADOW * 255)).sum(1)
    assert np.flatnonzero(dist < 6).tolist() == list(range(28, 36))
    ground = np.abs(img[63].astype(int) - img[63, 5].astype(int)).sum(1)
    assert ground[26] == 0 and ground[37] == 0
    for c in (27, 36):
        frac = ground[c] / ground[31]
        assert 0.7 < frac < 0.86, (c, frac)
    # the bob's centre (10, 2.5) is at column 31.5, row 51.9: firebrick there, sky well above it
    assert img[52, 31, 0] > 150 and img[52, 31, 1] < 60
    assert img[20, 5].tolist() == [237, 242, 250]


def test_render_is_antialiased_and_fast_enough_in_batch():
    _, values = SCM.sample(256, 0)
    imgs = SCM.render(values)
    assert imgs.shape == (256, 64, 64, 3)
    levels = np.unique(imgs[:, 40:60, :, 0])
    assert len(levels) > 20  # edge pixels take intermediate values, not just the palette
    assert not np.array_equal(imgs[0], imgs[1])


def test_empty_intervention_is_the_factual_world_and_abduction_inverts_it():
    noise, values = SCM.sample(100, 1)
    again = SCM.counterfactual(SCM.abduct(values))
    for k in VARIABLES:
        np.testing.assert_allclose(again[k], values[k], atol=1e-9)
    np.testing.assert_allclose(SCM.abduct(values)["shadow_length"], noise["shadow_length"], atol=1e-9)


def test_intervening_on_the_light_moves_both_shadows_by_their_mechanisms():
    noise, values = SCM.sample(50, 2)
    cf = SCM.counterfactual(noise, {"light": 70.0})
    np.testing.assert_allclose(cf["pendulum"], values["pendulum"])
    np.testing.assert_allclose(cf["shadow_position"],
                               position_mechanism(values["pendulum"], np.full(50, 70.0)) + noise["shadow_position"])
    np.testing.assert_allclose(cf["shadow_length"],
                               length_mechanism(values["pendulum"], np.full(50, 70.0)) + noise["shadow_length"])


def test_a_cut_edge_feeds_the_factual_parent():
    noise, values = SCM.sample(50, 3)
    graph = Dag(VARIABLES, TRUE_GRAPH.edges - {("light", "shadow_position")})
    cf = SCM.counterfactual(noise, {"light": 120.0}, graph)
    np.testing.assert_allclose(cf["shadow_position"], values["shadow_position"])  # keeps its value
    assert not np.allclose(cf["shadow_length"], values["shadow_length"])  # its edge is intact: follows
    # the pendulum edge is still live: do(pendulum) moves the position even with the light edge cut
    cf2 = SCM.counterfactual(noise, {"light": 120.0, "pendulum": 30.0}, graph)
    np.testing.assert_allclose(cf2["shadow_position"],
                               position_mechanism(np.full(50, 30.0), values["light"]) + noise["shadow_position"])


def test_edges_the_physics_lacks_change_nothing():
    noise, _ = SCM.sample(20, 4)
    graph = Dag(VARIABLES, TRUE_GRAPH.edges | {("shadow_length", "shadow_position")})
    a = SCM.counterfactual(noise, {"shadow_length": 12.0}, graph)
    b = SCM.counterfactual(noise, {"shadow_length": 12.0})
    for k in VARIABLES:
        np.testing.assert_array_equal(a[k], b[k])


def test_cycles_and_unknown_variables_are_refused():
    with pytest.raises(CycleError):
        Dag(VARIABLES, TRUE_GRAPH.edges | {("shadow_position", "light")})
    with pytest.raises(ValueError, match="unknown variable"):
        SCM.counterfactual(SCM.sample_noise(3, 0), {"sun": 1.0})
