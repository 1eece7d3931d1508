"""The Causal graph lab's precomputed sweep (explorer/services/lab_sweep.py, `LabService.sweep`).

The picture and concepts the lab's quick sliders show while a slider moves must be the model's what-if at that
value: every sweep entry is checked against `LabService.what_if` at the same value, in the same edited graph.
"""

from __future__ import annotations

import numpy as np
import pytest

from explorer.paths import PRETRAINED
from explorer.scm.pendulum import VARIABLES

pytestmark = pytest.mark.skipif(not (PRETRAINED / "pendulum-causal-vae" / "card.json").exists(),
                                reason="no shipped pendulum model: python -m explorer train pendulum")

GREY_LEVELS = 1  # of 255: a batch of P scenes and one scene differ in float rounding, then both round to uint8
CONCEPTS = 1e-3  # scene units (degrees, scene units); measured differences are ~1e-5


@pytest.fixture(scope="module")
def lab(one_thread):
    from explorer.device import pick_device
    from explorer.services.lab import LabService

    return LabService(pick_device())


def _cut(lab, edge: tuple[str, str]) -> set[tuple[str, str]]:
    assert edge in lab.learned_graph.edges, f"the shipped model has not learned {edge}"
    return set(lab.learned_graph.edges) - {edge}


@pytest.mark.parametrize("index, do, cut", [(0, {"light": 70.0}, ("light", "shadow_position")),
                                            (5, {"pendulum": 10.0, "shadow_length": 8.0}, None)])
def test_every_sweep_entry_is_what_if_at_that_value(lab, index, do, cut):
    edges = _cut(lab, cut) if cut else set(lab.learned_graph.edges)
    sweeps = lab.sweep(index, do, edges)
    assert list(sweeps) == list(VARIABLES)  # every concept, in the page's order
    for name, sweep in sweeps.items():
        p = len(sweep.values)
        assert sweep.pictures.shape == (p, 64, 64, 3) and sweep.pictures.dtype == np.uint8
        assert sweep.values[0] == lab.specs[name].low and sweep.values[-1] == lab.specs[name].high
        for i in range(p):  # every position: ~3 ms a what_if
            result = lab.what_if(index, {**do, name: float(sweep.values[i])}, edges)
            diff = np.abs(result.generated.astype(int) - sweep.pictures[i].astype(int)).max()
            assert diff <= GREY_LEVELS, (name, i, diff)
            for concept in VARIABLES:
                assert abs(result.cf[concept] - sweep.cf[concept][i]) < CONCEPTS, (name, i, concept)


def test_the_edited_graph_is_part_of_the_key(lab):
    edge = ("light", "shadow_position")
    whole = lab.sweep(0, {}, None, ["light"])["light"]
    assert lab.sweep(0, {}, set(lab.learned_graph.edges), ["light"])["light"] is whole  # None: the learned graph
    cut = lab.sweep(0, {}, _cut(lab, edge), ["light"])["light"]
    assert cut is not whole
    # cut: the model's shadow position keeps the value it read off the scene, whatever the light
    assert np.ptp(cut.cf["shadow_position"]) < CONCEPTS < np.ptp(whole.cf["shadow_position"])
    assert not np.array_equal(cut.pictures, whole.pictures)


def test_recomputed_only_when_the_scene_graph_or_others_change(lab):
    before = lab.sweeps.computed
    first = lab.sweep(9, {"light": 80.0}, None, ["light", "pendulum"])
    assert lab.sweeps.computed == before + 2
    # a released light: only the pendulum's sweep depends on the light's value
    moved = lab.sweep(9, {"light": 81.0}, None, ["light", "pendulum"])
    assert moved["light"] is first["light"] and moved["pendulum"] is not first["pendulum"]
    assert lab.sweeps.computed == before + 3
    lab.sweep(10, {"light": 81.0}, None, ["light"])  # another scene
    assert lab.sweeps.computed == before + 4


def test_out_of_range_values_are_held_clamped_as_what_if_clamps_them(lab):
    sweep = lab.sweep(2, {"light": 999.0}, None, ["pendulum"])["pendulum"]
    result = lab.what_if(2, {"light": 999.0, "pendulum": float(sweep.values[0])})
    assert result.clamped == ["light"]
    assert np.abs(result.generated.astype(int) - sweep.pictures[0].astype(int)).max() <= GREY_LEVELS
    assert lab.sweep(2, {"light": lab.specs["light"].high}, None, ["pendulum"])["pendulum"] is sweep


def test_a_cycle_is_refused_as_what_if_refuses_it(lab):
    from explorer.scm.graph import CycleError

    p, c = sorted(lab.learned_graph.edges)[0]
    with pytest.raises(CycleError):
        lab.sweep(0, {}, set(lab.learned_graph.edges) | {(c, p)})


@pytest.mark.parametrize("index, do, cut", [(3, {"light": 70.0}, ("light", "shadow_position")), (7, {}, None)])
def test_every_sweep_entry_holds_the_true_answer_of_what_if(lab, index, do, cut):
    """The TRUE counterfactual (the simulator's concepts and scene) and the model's error at each position: what
    `what_if` answers at that value (the answer panel shows them while a slider moves)."""
    edges = _cut(lab, cut) if cut else set(lab.learned_graph.edges)
    for name, sweep in lab.sweep(index, do, edges, ["light", "shadow_length"]).items():
        assert sweep.true_pictures.shape == sweep.pictures.shape and sweep.mse.shape == sweep.values.shape
        for i in range(0, len(sweep.values), 7):
            result = lab.what_if(index, {**do, name: float(sweep.values[i])}, edges)
            assert np.array_equal(result.true_image, sweep.true_pictures[i]), (name, i)
            for concept in VARIABLES:
                assert sweep.true_cf[concept][i] == pytest.approx(result.true_cf[concept], abs=1e-9), (name, i)
            # the model's pictures may differ by a grey level (batch rounding): so may its error, a little
            assert sweep.mse[i] == pytest.approx(result.mse, abs=2e-4), (name, i)
    swept = lab.sweep(index, do, edges, ["light"])["light"]  # the cut holds in the truth as in the model
    if cut:
        assert np.ptp(swept.true_cf["shadow_position"]) == 0 < np.ptp(swept.true_cf["shadow_length"])
