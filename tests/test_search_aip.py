"""AIP (explorer/counterfactual/search/aip.py): a hand-checkable case, locks, ranges, and the re-checked answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toys import Brightness, brightness_boundary, digit_query, reads

from explorer.counterfactual.search import vouching
from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.base import SearchConfig
from explorer.counterfactual.search.space import MorphoSpace
from explorer.models.cnn import TorchClassifier
from explorer.registry import MORPHO, load_classifier
from explorer.scm.morpho import SPECS


@pytest.fixture(scope="module")
def aip(generator, cpu):
    return AIPSearch(MorphoSpace(generator, cpu))


def test_one_attribute_against_a_linear_classifier_lands_just_past_the_closed_form_boundary(aip, generator,
                                                                                           test_data, cpu):
    """Only intensity may move. The decoder's last step scales the drawing so its median foreground pixel is the
    intensity, so the mean pixel is proportional to intensity: the boundary is known in closed form. With the digit
    and latent locked the margin is the config's, the generator's bias on this classifier (MorphoSpace.bias) or its
    counterfactual bias at this thickness (cf_bias.py, vouching.py), whichever is largest, all measured on training
    digits. The closed form holds to about
    1 % of the intensity (the decoder's shape moves a little with its intensity condition); on the drawing itself
    the answer meets the margin and one grey level less does not."""
    space = MorphoSpace(generator, cpu)
    margin, w = 0.5, 1.0
    for k in np.flatnonzero(test_data.values["intensity"][:40] < 170)[:2]:  # room to brighten below 255
        query = digit_query(test_data, [k])
        # 10 grey levels up, which the generator's bias on this classifier (30 to 40 more) takes to where the world
        # still draws a digit of this thickness: further, no plausible flip exists and the search rightly declines
        per_grey, asked = brightness_boundary(space, query, offset=10.0)
        clf = TorchClassifier("brightness", Brightness(per_grey * asked, w), 1, cpu, classes=["dark", "bright"])
        config = SearchConfig(locks=("digit", "thickness", "latent"), steps=150, lr=0.3, margin=margin)
        result = aip.search(query, clf, 1, config)
        assert result.found.all(), result.notes
        check = vouching.measure(aip.space, query, clf, aip.space.abduct(query)[1], reads(clf, query.images()))
        needed = float(check.floor(torch.tensor([float(query.obs["thickness"][0])]), max(margin, check.bias))[0])
        boundary = asked + needed / (w * per_grey)  # the intensity at which the margin is just met
        found = float(result.values["intensity"][0])
        assert boundary - 0.01 * boundary <= found <= boundary + 6.0, (found, boundary)  # just past it
        values = {n: torch.as_tensor(np.asarray(v), dtype=torch.float32).repeat(2) for n, v in query.obs.items()}
        values["digit"] = torch.as_tensor(query.obs["digit"]).long().repeat(2)
        values["intensity"] = torch.tensor([found, found - 1.0])
        with torch.inference_mode():
            logits = clf.logits(aip.space.render(aip.space.abduct(query)[1].repeat(2, 1), values, False))
        ahead = (logits[:, 1] - logits[:, 0]).numpy()
        assert ahead[0] >= needed - 1e-3 and ahead[1] < needed, (ahead, needed)  # the cost bites right there
        assert set(result.do[0]) == {"intensity"}
        assert result.values["thickness"][0] == query.obs["thickness"][0]


def test_locks_ranges_and_the_re_checked_answer(aip, test_data, cpu):
    clf = load_classifier(MORPHO["classifier"], cpu)
    query = digit_query(test_data, range(8))
    result = aip.search(query, clf, None, SearchConfig(locks=("digit",)))
    assert result.images.shape == (8, 1, 28, 28) and result.found.mean() >= 0.5
    assert all("digit" not in d for d in result.do)
    np.testing.assert_array_equal(result.values["digit"], query.obs["digit"])
    for name in ("thickness", "intensity"):
        assert (result.values[name] >= SPECS[name].low - 1e-6).all() and (result.values[name] <= SPECS[name].high + 1e-6).all()
    # the answer is what the classifier reads on the returned images: re-read, it is not the factual class
    with torch.inference_mode():
        again = clf.predict_proba(result.images).argmax(1).numpy()
        factual = clf.predict_proba(query.images()).argmax(1).numpy()
    np.testing.assert_array_equal(again, result.pred)
    assert (again[result.found] != factual[result.found]).all()
    # and the values are the SCM's own answer to the do() set: intensity follows thickness unless set
    for i, d in enumerate(result.do):
        if "thickness" in d and "intensity" not in d:
            assert result.values["intensity"][i] != pytest.approx(query.obs["intensity"][i], abs=1e-3)


def test_digit_only_reaches_a_chosen_target_and_the_oracle_agrees(aip, test_data, cpu):
    clf = load_classifier(MORPHO["classifier"], cpu)
    oracle = load_classifier(MORPHO["oracle"], cpu)
    query = digit_query(test_data, range(6))
    target = (query.obs["digit"] + 4) % 10
    result = aip.search(query, clf, target, SearchConfig(locks=("thickness", "intensity", "latent")))
    assert result.found.mean() >= 5 / 6, result.notes
    assert all(set(d) <= {"digit"} for d in result.do)
    with torch.inference_mode():
        read = oracle.predict_proba(result.images).argmax(1).numpy()
    assert (read[result.found] == target[result.found]).mean() >= 0.8  # a real digit change, not a trick


def test_everything_locked_ends_with_a_message(aip, test_data, cpu):
    clf = load_classifier(MORPHO["classifier"], cpu)
    result = aip.search(digit_query(test_data, [0]), clf, 3,
                        SearchConfig(locks=("digit", "thickness", "intensity", "latent")))
    assert not result.found.any() and "every attribute is locked" in result.notes[0]


def test_implausibility_is_zero_on_the_worlds_own_digits_and_large_on_a_thick_dim_one(generator, test_data, cpu):
    space = MorphoSpace(generator, cpu)
    own = {a: torch.as_tensor(test_data.values[a], dtype=torch.float32) for a in ("thickness", "intensity")}
    assert (space.implausibility(own) == 0).float().mean() >= 0.99  # u_i beyond 3 SD: 0.3 % of draws
    odd = space.implausibility({"thickness": torch.tensor([4.5, 4.5, 5.5]), "intensity": torch.tensor([70.0, 250.0,
                                                                                                      254.53])})
    # thickness 4.5, intensity 70: u_i = logit(6 / 191) - 4 = -7.43, i.e. 14.9 SDs of 0.5, 11.9 beyond the 3 allowed
    assert float(odd[0]) == pytest.approx(11.86 ** 2, rel=0.02) and float(odd[1]) == 0.0
    # thickness 5.5 with the intensity it implies (u_i = 0): u_t = 5 lies 3.5 SDs up Gamma(10, rate 5)'s tail (Wilson-Hilferty), 0.5 beyond the 3
    assert float(odd[2]) == pytest.approx(0.49 ** 2, rel=0.05)
