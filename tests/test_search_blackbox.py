"""Black-box AIP (explorer/counterfactual/search/blackbox.py): a hand-checkable boundary, locks and ranges, the
re-checked answer, and the Flip service running it on an ONNX model kept on onnxruntime."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn as nn

from toys import Brightness, brightness_boundary, digit_query, reads, redrawn_brighter

from explorer.counterfactual.search import vouching
from explorer.counterfactual.search.base import ANY, SearchConfig, flipped
from explorer.counterfactual.search.blackbox import DIRECTIONS, LATENT_BOUND, BlackBoxAIPSearch, reflect
from explorer.counterfactual.search.methods import BLACK_BOX, METHODS
from explorer.models.cnn import TorchClassifier
from explorer.models.onnx_classifier import ENGINE_ORT, load_onnx_classifier
from explorer.registry import MORPHO, load_classifier
from explorer.scm.morpho import CONFOUNDED_HUE_STRENGTH, SPECS, MorphoSCM

pytestmark = pytest.mark.usefixtures("one_thread")


STEPS = 60  # generations at most: the searches below stop well before on a clear flip


class _Generated(nn.Module):
    """Class 1 on any image with fractional pixels (the generator's drawing), 0 on the stored whole grey levels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frac = (x - x.round()).abs().flatten(1).mean(1)  # (B,)
        return torch.stack([torch.zeros_like(frac), 100.0 * frac], 1)  # (B, 2)


def _black_box(clf: TorchClassifier) -> TorchClassifier:
    clf.differentiable = False  # as an ONNX model on onnxruntime says: the search must only read it
    return clf


@pytest.fixture(scope="module")
def hue_cnn(cpu):
    return _black_box(load_classifier(MORPHO["classifier_hue"], cpu))


def test_reflect_folds_into_the_range():
    np.testing.assert_allclose(reflect(np.array([0.3, 1.2, -0.25, 2.4, -1.5])), [0.3, 0.8, 0.25, 0.4, 0.5])


def test_one_attribute_lands_on_the_closed_form_boundary_and_nothing_else_moves(space, test_data, cpu):
    """Only intensity may move. The decoder's last step scales the drawing so that its median foreground pixel is
    the intensity, so the mean pixel is `per_grey` x intensity: the classifier leads by the margin m from
    intensity (c + m / w) / per_grey on, and AIP's objective (hinge + change) is smallest exactly there. With the
    digit and latent locked the margin is at least the generator's bias on the classifier and its counterfactual
    bias at this thickness (vouching.py), which take the boundary ~30 grey levels further: asked 10 above the
    factual, it stays where the world draws."""
    margin, w = 0.5, 1.0
    for k in np.flatnonzero(test_data.values["intensity"][:40] < 170)[:2]:  # room to brighten below 255
        query = digit_query(test_data, [k])
        per_grey, asked = brightness_boundary(space, query, offset=10.0)
        clf = _black_box(TorchClassifier("brightness", Brightness(per_grey * asked, w), 1, cpu,
                                         classes=["dark", "bright"]))
        config = SearchConfig(locks=("digit", "thickness", "latent"), steps=STEPS, margin=margin)
        result = BlackBoxAIPSearch(space).search(query, clf, 1, config)
        assert result.found.all(), result.notes
        check = vouching.measure(space, query, clf, space.abduct(query)[1], reads(clf, query.images()))
        needed = float(check.floor(torch.tensor([float(query.obs["thickness"][0])]), max(margin, check.bias))[0])
        boundary = asked + needed / (w * per_grey)  # where the margin is just met
        found = float(result.values["intensity"][0])
        assert boundary - 0.01 * boundary <= found <= boundary + 1.5, (found, boundary)  # closed form: to ~1 %
        assert set(result.do[0]) == {"intensity"} and result.latent_shift[0] == 0
        for name in ("digit", "thickness"):
            assert result.values[name][0] == query.obs[name][0]


def test_locks_and_ranges_are_respected_and_the_answer_is_the_scm_re_making_its_do(space, hue_cnn, test_data):
    query = digit_query(test_data, range(6), coloured=True)
    world = MorphoSCM(CONFOUNDED_HUE_STRENGTH)
    # the colour-trained CNN flips on style for most digits; with its favourite, hue, locked too, rarely
    for locks, floor in ((("digit", "latent"), 0.5), (("digit", "hue", "latent"), 0.0)):
        result = BlackBoxAIPSearch(space).search(query, hue_cnn, None, SearchConfig(locks=locks, steps=STEPS))
        assert result.found.mean() >= floor, (locks, result.notes)
        assert all(not set(d) & set(locks) for d in result.do), (locks, result.do)
        if "hue" in locks:  # and the digit: nothing moves the hue
            np.testing.assert_array_equal(result.values["hue"], query.obs["hue"])
        if "latent" in locks:
            assert (result.latent_shift == 0).all()
        if "digit" in locks:
            np.testing.assert_array_equal(result.values["digit"], query.obs["digit"])
        for name in ("thickness", "intensity", "hue"):  # whatever moved stayed inside the page's ranges
            spec, moved = SPECS[name], result.values[name] != query.obs[name]
            assert ((result.values[name][moved] >= spec.low) & (result.values[name][moved] <= spec.high)).all()
        for i in np.flatnonzero(result.found):  # the values are the SCM's answer to the do() set
            noise = world.abduct({k: v[i:i + 1] for k, v in query.obs.items()},
                                 {k: v[i:i + 1] for k, v in query.noise.items()})
            remade = world.counterfactual(noise, result.do[i])
            for name in remade:
                np.testing.assert_allclose(result.values[name][i], remade[name][0])


def test_found_is_the_re_checked_reading_of_the_returned_images(space, hue_cnn, test_data):
    query = digit_query(test_data, range(6), coloured=True)
    current = reads(hue_cnn, query.images())
    target = (current + 1) % 10  # a set target for half the batch, any other class for the rest
    target[3:] = ANY
    result = BlackBoxAIPSearch(space).search(query, hue_cnn, target, SearchConfig(steps=STEPS, frames=4))
    assert result.method == "aip-blackbox" and result.images.shape == (6, 3, 28, 28)
    assert result.found.mean() >= 0.5, result.notes
    again = reads(hue_cnn, result.images)
    np.testing.assert_array_equal(again, result.pred)
    has_change = np.array([bool(d) for d in result.do]) | (result.latent_shift > 0)
    np.testing.assert_array_equal(result.found, flipped(again, current, target) & has_change)
    assert ((result.steps >= 0) == result.found).all()
    assert all((note == "") == ok for note, ok in zip(result.notes, result.found))
    assert (result.latent_shift <= LATENT_BOUND * DIRECTIONS ** 0.5 + 1e-4).all()  # the latent's own box
    assert result.path.shape == (6, 4, 3, 28, 28)
    torch.testing.assert_close(result.path[:, -1], result.images)  # the strip ends on the answer
    same = BlackBoxAIPSearch(space).search(digit_query(test_data, [4], coloured=True), hue_cnn, None,
                                           SearchConfig(steps=STEPS, frames=4))
    assert same.do[0] == result.do[4]  # a query's answer does not depend on its batch (seeded by its pixels)


def test_everything_locked_ends_with_the_note_and_no_answer(space, test_data, cpu):
    fussy = _black_box(TorchClassifier("fussy", _Generated(), 1, cpu, classes=["stored", "drawn"]))
    locks = ("digit", "thickness", "intensity", "hue", "latent")
    result = BlackBoxAIPSearch(space).search(digit_query(test_data, range(2)), fussy, None, SearchConfig(locks=locks))
    assert not result.found.any() and result.do == [{}, {}] and (result.latent_shift == 0).all()
    assert result.notes == ["no counterfactual found: every attribute is locked"] * 2


def test_a_failed_search_says_what_it_tried(space, test_data, cpu):
    stubborn = _black_box(TorchClassifier("stubborn", Brightness(1e9), 1, cpu, classes=["dark", "bright"]))
    result = BlackBoxAIPSearch(space).search(digit_query(test_data, [0]), stubborn, 1, SearchConfig(steps=3))
    assert not result.found.any() and result.do == [{}]
    assert result.notes[0] == ("no counterfactual found in 3 generations of CMA-ES (16 candidates each) over digit, "
                               "thickness, intensity, latent: the classifier still reads dark (asked for bright)")


def test_the_flip_service_leads_with_black_box_aip_on_an_onnx_model_run_by_onnxruntime(cpu):
    from explorer.services.image import ImageService
    from explorer.services.search import FlipService

    module = load_classifier(MORPHO["classifier"], cpu).module  # the shipped grey CNN, exported here in memory
    buf = io.BytesIO()
    torch.onnx.export(module.eval(), (torch.rand(1, 1, 28, 28) * 255,), buf, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    ort = load_onnx_classifier(buf.getvalue(), name="cnn (onnxruntime)", prefer_gradients=False)
    assert ort.engine == ENGINE_ORT and not ort.differentiable
    service = FlipService(ImageService(cpu), steps=STEPS)
    assert "aip-blackbox" not in METHODS and list(BLACK_BOX) == ["aip-blackbox", "random"]
    for index in (0, 1, 2):
        result = service.flip(index, ort.name, None, (), False, {ort.name: ort})
        assert result.lead == "aip-blackbox" and list(result.answers) == ["aip-blackbox", "random"]
        assert set(result.skipped) == {"aip", "pixel", "latent"} and not result.differentiable
        lead = result.answers["aip-blackbox"]
        assert lead.found and lead.reading.index != result.reading.index, lead.note
        assert result.path and result.link_do == lead.do


def test_a_flip_the_generator_already_makes_is_declined(space, test_data, cpu):
    """As gradient AIP's style-only search (tests/test_search_style_scan.py): a classifier that reads the photo as
    dark and the generator's redrawing of it (with no do()) as light gets no style-only answer, and is told why."""
    query, clf = redrawn_brighter(space, test_data, cpu)
    clf = _black_box(clf)
    result = BlackBoxAIPSearch(space).search(query, clf, None, SearchConfig(locks=("digit", "latent"), steps=STEPS))
    assert not result.found.any()
    assert "its redrawing of this digit already reads light" in result.notes[0], result.notes

