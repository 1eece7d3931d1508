"""The quick sliders' precomputed sweep (explorer/services/image_sweep.py, `ImageService.sweep`).

The picture the page shows while a slider moves must be the counterfactual the service computes for that value:
each sweep entry is checked against `what_if` at the same value (float tolerance: one batch against one row).
"""

from __future__ import annotations

import numpy as np
import pytest

from explorer.services.image_sweep import MOST_POSITIONS, positions
from explorer.types import VarSpec

PIXELS = 1e-2  # of 255: a batched decoder and a one-row one differ in float rounding only (measured ~2e-4)
PROBS = 1e-4


@pytest.fixture(scope="module")
def service(one_thread):
    from explorer.device import pick_device
    from explorer.services.image import ImageService

    return ImageService(pick_device())


def test_positions_are_the_step_grid_or_every_kth_step_with_both_ends():
    fine = positions(VarSpec("t", "continuous", 1.0, 5.5, 2.5, 0.1, "t"))
    assert len(fine) == 46 and fine[0] == 1.0 and fine[-1] == 5.5
    assert fine[15] == round(1.0 + 15 * 0.1, 1)  # the same float the page's slider rounds to
    coarse = positions(VarSpec("i", "continuous", 64.0, 255.0, 160.0, 1.0, "i"))
    assert len(coarse) <= MOST_POSITIONS + 1 and coarse[0] == 64.0 and coarse[-1] == 255.0
    assert np.all(np.diff(coarse) > 0) and np.allclose(coarse, np.round(coarse))  # on the 1.0 steps


@pytest.mark.parametrize("coloured, do", [(False, {"intensity": 200.0}), (True, {"hue": 0.3, "digit": 4})])
def test_every_sweep_entry_is_what_if_at_that_value(service, cnn, coloured, do):
    readers = {"mine": cnn}  # a visitor's uploaded classifier is read beside the shipped ones
    sweeps = service.sweep(12, do, coloured, readers)
    names = ["thickness", "intensity"] + (["hue"] if coloured else [])
    assert list(sweeps) == names  # the continuous sliders, in the world's order
    shape = (3, 28, 28) if coloured else (28, 28)
    for name, sweep in sweeps.items():
        p = len(sweep.values)
        assert sweep.pictures.shape == (p, *shape)
        assert set(sweep.probs) == set(service.classifiers) | {"mine"}
        assert all(q.shape == (p, 10) for q in sweep.probs.values())
        for i in sorted({0, p // 2, p - 1}):  # ends and middle (all of them: ~10 s)
            result = service.what_if(12, {**do, name: float(sweep.values[i])}, coloured, readers)
            assert np.abs(result.generated - sweep.pictures[i]).max() < PIXELS
            assert {k: round(float(v[i]), 6) for k, v in sweep.cf.items()} == {k: round(v, 6) for k, v in
                                                                                 result.cf.items()}
            if result.true_image is None:
                assert sweep.true_pictures is None
            else:  # the world's own renderer at the same values: the same picture
                assert np.abs(result.true_image - sweep.true_pictures[i]).max() < 1e-3
            for reader, (_, after) in result.probs.items():
                assert np.abs(after - sweep.probs[reader][i]).max() < PROBS


def test_a_slider_sweep_holds_the_other_do_values(service):
    held = service.sweep(3, {"intensity": 100.0})["thickness"]
    free = service.sweep(3, {})["thickness"]
    assert not np.allclose(held.pictures, free.pictures)  # intensity follows thickness unless held
    # its own value is not part of its sweep: moving thickness keeps thickness's sweep
    assert service.sweep(3, {"intensity": 100.0, "thickness": 4.0})["thickness"] is held


def test_recomputed_only_when_the_digit_world_others_or_readers_change(service, cnn):
    before = service.sweeps.computed
    first = service.sweep(7, {"thickness": 2.0})
    assert service.sweeps.computed == before + 2  # thickness and intensity
    assert service.sweep(7, {"thickness": 2.0}) == first
    moved = service.sweep(7, {"thickness": 3.0})  # a released thickness: only intensity's sweep depends on it
    assert moved["thickness"] is first["thickness"] and moved["intensity"] is not first["intensity"]
    assert service.sweeps.computed == before + 3
    service.sweep(8, {"thickness": 3.0})  # another digit
    service.sweep(8, {"thickness": 3.0}, True)  # the colour world (and its hue slider)
    service.sweep(8, {"thickness": 3.0}, True, {"mine": cnn})  # a visitor's own classifier
    assert service.sweeps.computed == before + 3 + 2 + 3 + 3


def test_out_of_range_values_are_held_clamped_as_what_if_clamps_them(service):
    sweep = service.sweep(12, {"thickness": 99.0})["intensity"]
    result = service.what_if(12, {"thickness": 99.0, "intensity": float(sweep.values[0])})
    assert result.clamped == ["thickness"]
    assert np.abs(result.generated - sweep.pictures[0]).max() < PIXELS


def test_a_new_upload_never_takes_a_freed_one_s_place_in_the_key():
    """The key names each reader by a weak reference: a freed upload's key equals no later classifier's, even one
    Python puts at the same address (where id() would repeat), and the cache does not keep the upload alive."""
    import gc
    import weakref

    from explorer.services.image_sweep import SweepCache

    class Upload:  # a visitor's model: any object the key can refer to weakly
        pass

    first = Upload()
    old = SweepCache.key(7, False, "thickness", {}, {"mine": first})
    assert SweepCache.key(7, False, "thickness", {}, {"mine": first}) == old  # the same model: the same key
    alive = weakref.ref(first)
    del first
    gc.collect()
    assert alive() is None  # the key did not keep it
    for _ in range(50):  # new objects, some of which CPython places where the freed one was
        assert SweepCache.key(7, False, "thickness", {}, {"mine": Upload()}) != old


@pytest.mark.parametrize("coloured, do, index", [(False, {}, 12), (False, {"intensity": 120.0}, 3),
                                                 (True, {"digit": 4}, 12)])
def test_the_answer_panel_at_each_position_is_the_answer_to_that_value(service, coloured, do, index):
    """While a slider moves the page's panel swaps to the sweep's parts (explorer/ui/image_answer.py, `swept`):
    pictures, notes, the values table (the measured row too), the classifiers' lines and chart must be what the
    released value's answer shows: a step to a position is final (the page then only writes the link)."""
    from explorer.ui import image_answer as ia

    world = service.world(coloured)
    on_screen = service.what_if(index, do, coloured)
    for name, sweep in service.sweep(index, do, coloured).items():
        parts = ia.swept(on_screen, sweep, world.specs, world.graph)
        assert len(parts) == len(sweep.values)
        for i in sorted({0, len(parts) // 2, len(parts) - 1}):
            exact = service.what_if(index, {**do, name: float(sweep.values[i])}, coloured)
            answer, readers = ia.answer(exact, world.specs), ia.readers(exact)
            got = parts[i]
            assert got["pictures"][:2] == [None, None]  # the original, and the model's (the quick slider's own)
            if exact.true_image is None:
                assert got["pictures"][2] == answer["pictures"][2] and got["unknown"] == ia.UNKNOWN
            else:  # the same world renderer at the same values: the same PNG
                assert got["pictures"][2] == answer["pictures"][2] and got["unknown"] == []
            assert got["knock"] == answer["knock"] and got["summary"] == readers["summary"]
            assert got["values"]["rows"][2] == answer["values"]["rows"][2]  # the what-if's values, marks included
            assert got["values"]["rows"][3] == answer["values"]["rows"][3]  # measured on the model's picture
            assert got["lines"] == readers["lines"]
            # the chart: the moving piece of this position's, after the fixed piece of the one on screen
            assert got["chart"][0] is None and ia.chart(on_screen)[0] == readers["chart"][0]
            assert got["chart"][1] == readers["chart"][1]
            # the difference map: the sweep's picture against the same original (float rounding aside)
            assert got["pictures"][3]["caption"] == answer["pictures"][3]["caption"]
