"""AIP with the digit and latent locked (explorer/counterfactual/search/style_scan.py): the scan, the pull back toward
the factual, and a failed search that says what it scanned."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from toys import Brightness, brightness_boundary, digit_query, reads, redrawn_brighter

from explorer.counterfactual.search import vouching
from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.base import SearchConfig
from explorer.counterfactual.search.style_scan import AXIS, LOCAL, LOCAL_FROM, SCAN
from explorer.models.cnn import TorchClassifier
from explorer.scm.morpho import SPECS

STYLE = SearchConfig(locks=("digit", "latent"))


class Constant(nn.Module):
    """Reads every image as class 0, by far: no do() set flips it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([10.0, 0.0]).expand(len(x), 2)


def _cost(values: dict, query, i: int) -> float:
    """Each attribute's change over its range, as AIP weighs them (hue the shorter way round)."""
    total = 0.0
    for a in ("thickness", "intensity", "hue"):
        if a in values and a in query.obs:
            d = abs(float(values[a][i]) - float(query.obs[a][i]))
            total += min(d, 1 - d) if a == "hue" else d / (SPECS[a].high - SPECS[a].low)
    return total


def test_the_answer_costs_no_more_than_the_known_one_attribute_answer(space, test_data, cpu):
    """Brightness flips at a known intensity with thickness held: moving intensity alone to just past it is an
    answer whose cost is known. With thickness free too, the scan must find one at least as cheap (up to the
    pull back's resolution), and it must flip the classifier on the re-checked image. The margin is the search's,
    the generator's bias on this classifier (MorphoSpace.bias) or its counterfactual bias at the factual's
    thickness (vouching.py), whichever is largest."""
    aip = AIPSearch(space)
    for k in np.flatnonzero(test_data.values["intensity"][:40] < 170)[:2]:
        query = digit_query(test_data, [k])
        per_grey, asked = brightness_boundary(space, query)
        clf = TorchClassifier("brightness", Brightness(per_grey * asked, 1.0), 1, cpu, classes=["dark", "bright"])
        result = aip.search(query, clf, 1, STYLE)
        assert result.found.all(), result.notes
        assert reads(clf, result.images)[0] == 1 and float(result.latent_shift[0]) == 0.0
        assert result.values["digit"][0] == query.obs["digit"][0]
        span = SPECS["intensity"].high - SPECS["intensity"].low
        check = vouching.measure(space, query, clf, space.abduct(query)[1], reads(clf, query.images()))
        margin = float(check.floor(torch.tensor([float(query.obs["thickness"][0])]), max(STYLE.margin, check.bias))[0])
        alone = asked + margin / per_grey  # intensity alone, just past the margin
        odd = float(space.implausibility({"thickness": torch.tensor([float(query.obs["thickness"][0])]),
                                          "intensity": torch.tensor([alone])})[0])
        known = (alone - float(query.obs["intensity"][0])) / span + STYLE.plausibility_weight * odd
        assert _cost(result.values, query, 0) <= known + 4.0 / span, (result.do, alone, odd, known)


def test_a_classifier_nothing_flips_ends_with_what_was_scanned(space, test_data, cpu):
    clf = TorchClassifier("constant", Constant(), 1, cpu, classes=["a", "b"])
    query = digit_query(test_data, [0, 1])
    result = AIPSearch(space).search(query, clf, None, STYLE)
    assert not result.found.any()
    assert all(f"scan of {SCAN + 2 * AXIS + LOCAL * LOCAL_FROM} do() sets of thickness and intensity" in n for n in result.notes)
    assert result.do == [{}, {}]


def test_hue_flips_of_the_colour_cnn_keep_the_digit_and_latent_and_are_re_checked(space, hue_cnn, test_data):
    query = digit_query(test_data, range(16), coloured=True)
    result = AIPSearch(space).search(query, hue_cnn, None, STYLE)
    assert result.found.sum() >= 4, result.notes  # the colour shortcut: style alone flips a fair share of digits
    np.testing.assert_array_equal(result.values["digit"], query.obs["digit"])
    assert (result.latent_shift == 0).all() and all("digit" not in d for d in result.do)
    before, after = reads(hue_cnn, query.images()), reads(hue_cnn, result.images)
    assert (after[result.found] != before[result.found]).all()
    for i in np.flatnonzero(~result.found):  # a miss reads as the photo does, unless declined with its reason
        assert after[i] == before[i] or "can vouch for" in result.notes[i], result.notes[i]
    # every answer is a do() the world draws: descent's drift past it (a digit thinned or thickened out of the
    # world) is pulled back or refused, since such flips need not hold on the TRUE counterfactual
    values = {a: torch.as_tensor(np.asarray(result.values[a]), dtype=torch.float32) for a in ("thickness", "intensity")}
    assert (space.implausibility(values)[torch.as_tensor(result.found)] == 0).all()
    # the strip runs from the factual drawing to the answer (before hardening rounds the values to the page's
    # steps, which moves a few pixels by a few grey levels)
    assert result.path.shape[:2] == (16, STYLE.frames)
    torch.testing.assert_close(result.path[:, -1][result.found].float(), result.images[result.found].float(),
                               atol=6.0, rtol=0)


def test_a_flip_the_generator_already_makes_is_declined(space, test_data, cpu):
    """A classifier that reads the photo as dark and the generator's redrawing of it (with no do()) as light: any
    style-only "flip" to light would be the generator's doing, so the search declines and says why."""
    query, clf = redrawn_brighter(space, test_data, cpu)
    result = AIPSearch(space).search(query, clf, None, STYLE)
    assert not result.found.any()
    assert "its redrawing of this digit already reads light" in result.notes[0], result.notes
