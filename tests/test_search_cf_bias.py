"""The generator's counterfactual bias (explorer/counterfactual/search/cf_bias.py) and the margin it sets at a
style-only answer's own thickness (vouching.py): measured on a few training digits, kept once, and a flip below it
declined with its reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from toys import Brightness, brightness_boundary, digit_query, reads

from explorer.counterfactual.search import cf_bias, vouching
from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.base import SearchConfig, lead
from explorer.counterfactual.search.space import MorphoSpace
from explorer.models.cnn import TorchClassifier

N = 40  # training digits: enough for the sanity checks, a second or two
STYLE = SearchConfig(locks=("digit", "latent"))


class Constant(nn.Module):
    """Reads every image as class 0 by 10 logits, whatever it shows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([10.0, 0.0]).expand(len(x), 2)


def test_one_margin_per_thickness_of_the_grid_read_between_and_beyond_its_points(space, cnn):
    table = cf_bias.measure(space, cnn, False, n=N)
    assert table.thickness == cf_bias.GRID and len(table.drop) == len(cf_bias.GRID)
    assert table.thickness[0] == 1.0 and table.thickness[-1] == 5.5  # the thickness slider's range
    grid = torch.tensor(table.thickness)
    np.testing.assert_allclose(table.at(grid).numpy(), table.drop, atol=1e-5)
    mid = (grid[:-1] + grid[1:]) / 2
    np.testing.assert_allclose(table.at(mid).numpy(), (np.array(table.drop[:-1]) + table.drop[1:]) / 2, atol=1e-5)
    np.testing.assert_allclose(table.at(torch.tensor([0.5, 9.0])).numpy(), [table.drop[0], table.drop[-1]], atol=1e-6)


def test_the_drop_is_zero_for_a_classifier_blind_to_the_picture_and_linear_in_a_linear_one(space, cpu):
    """A constant classifier reads the drawing and the TRUE picture alike: no drop anywhere. A brightness
    classifier's drop is sign(TRUE score) x w x (TRUE mean pixel - drawing's): doubling w doubles it exactly."""
    blind = TorchClassifier("blind", Constant(), 1, cpu, classes=["a", "b"])
    assert np.all(cf_bias.drops(space, blind, False, n=N) == 0)
    one, two = (TorchClassifier("bright", Brightness(8.0, w), 1, cpu, classes=["dark", "bright"]) for w in (1.0, 2.0))
    np.testing.assert_allclose(cf_bias.drops(space, two, False, n=N), 2 * cf_bias.drops(space, one, False, n=N),
                               rtol=1e-4, atol=1e-4)


def test_the_generator_errs_more_at_thick_strokes_than_thin_ones(space, cnn):
    """Sanity, as bench/generator_cover_check.py measured on validation digits: the generator draws thick strokes
    furthest from the truth, so the grey CNN's drop is larger at 5.5 px than at 1.0 px."""
    d = cf_bias.drops(space, cnn, False, n=N)  # (T, N)
    assert d.shape == (len(cf_bias.GRID), N)
    assert np.quantile(d[-1], 0.95) > np.quantile(d[0], 0.95) and d[-1].mean() > d[0].mean()


def test_a_table_is_measured_once_and_kept_on_disk_only_for_a_shipped_classifier(generator, cnn, cpu, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(cf_bias, "cache_dir", lambda: tmp_path)
    space = MorphoSpace(generator, cpu, cf_digits=N)
    first = cf_bias.for_classifier(space, cnn, False, N)
    assert cf_bias.for_classifier(space, cnn, False, N) is first  # in memory
    assert len(list(tmp_path.glob("cf-bias/*morpho-cnn*.json"))) == 1
    assert len(list(tmp_path.glob("cf-bias/pictures-*.npz"))) == 1
    toy = TorchClassifier("bright", Brightness(8.0), 1, cpu, classes=["dark", "bright"])
    cf_bias.for_classifier(space, toy, False, N)
    assert len(list(tmp_path.glob("cf-bias/*.json"))) == 1  # a visitor's model: its table lives in memory only

    def measured_again(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(cf_bias, "measure", measured_again)
    again = cf_bias.for_classifier(MorphoSpace(generator, cpu, cf_digits=N), cnn, False, N)  # a new space: disk
    assert again == first


def _steep(drop: float) -> cf_bias.CounterfactualBias:
    return cf_bias.CounterfactualBias(cf_bias.GRID, tuple(drop for _ in cf_bias.GRID))


def _brightness_query(space, test_data, cpu):
    k = int(np.flatnonzero(test_data.values["intensity"][:40] < 170)[0])
    query = digit_query(test_data, [k])
    per_grey, asked = brightness_boundary(space, query)
    return query, TorchClassifier("brightness", Brightness(per_grey * asked, 1.0), 1, cpu,
                                  classes=["dark", "bright"])


def test_a_flip_below_the_counterfactual_bias_at_its_thickness_is_declined_with_the_reason(space, test_data, cpu):
    query, clf = _brightness_query(space, test_data, cpu)
    aip = AIPSearch(space)
    result = aip.search(query, clf, 1, STYLE)
    assert result.found.all(), result.notes
    with torch.inference_mode():
        ahead = float(lead(clf.logits(result.images), torch.as_tensor(result.pred))[0])
    current = reads(clf, query.images())
    check = vouching.measure(space, query, clf, space.abduct(query)[1], current)
    kept = vouching.decline(dataclasses.replace(check, cf=_steep(ahead - 0.05)), dataclasses.replace(
        result, found=result.found.copy(), notes=list(result.notes)), clf, current, cpu)
    assert kept.found.all()  # leading by more than the bias at its thickness: kept
    out = vouching.decline(dataclasses.replace(check, cf=_steep(ahead + 0.05)), result, clf, current, cpu)
    assert not out.found.any()
    t = float(result.values["thickness"][0])
    assert out.notes[0].startswith(vouching.PREFIX) and f"thickness {t:.1f} px" in out.notes[0], out.notes[0]
    assert f"leads by {ahead:.1f} logits" in out.notes[0]


def test_the_search_pushes_past_the_counterfactual_bias_instead_of_stopping_short(space, test_data, cpu,
                                                                                   monkeypatch):
    """With the generator's counterfactual bias a logit above where the search stops without it, at every
    thickness, the answer leads by it on the drawing (so it is not declined), farther from the factual."""
    query, clf = _brightness_query(space, test_data, cpu)
    plain = AIPSearch(space).search(query, clf, 1, STYLE)
    with torch.inference_mode():
        before = float(lead(clf.logits(plain.images), torch.as_tensor(plain.pred))[0])
    need = before + 1.0
    monkeypatch.setattr(cf_bias, "for_classifier", lambda *args, **kwargs: _steep(need))
    pushed = AIPSearch(MorphoSpace(space.generator, cpu, cf_digits=N)).search(query, clf, 1, STYLE)
    assert pushed.found.all(), pushed.notes
    with torch.inference_mode():
        after = float(lead(clf.logits(pushed.images), torch.as_tensor(pushed.pred))[0])
    assert after >= need
    assert float(pushed.values["intensity"][0]) > float(plain.values["intensity"][0])


def test_the_shipped_space_does_not_ask_for_it_and_searches_as_before(space, test_data, cpu, monkeypatch):
    """Off unless a space is built with cf_digits (docs/search.md: not yet the shipped rule): no table is measured,
    the margin is the config's or the generator's bias, and the answer equals one with the table forced to zero."""
    query, clf = _brightness_query(space, test_data, cpu)
    assert space.cf_digits == 0
    check = vouching.measure(space, query, clf, space.abduct(query)[1], reads(clf, query.images()))
    assert check.cf is None
    np.testing.assert_allclose(check.floor(torch.tensor([1.0, 5.5]), 0.7).numpy(), [0.7, 0.7])
    off = AIPSearch(space).search(query, clf, 1, STYLE)
    monkeypatch.setattr(cf_bias, "for_classifier", lambda *args, **kwargs: _steep(-10.0))
    zeroed = AIPSearch(MorphoSpace(space.generator, cpu, cf_digits=N)).search(query, clf, 1, STYLE)
    np.testing.assert_allclose(off.values["intensity"], zeroed.values["intensity"], atol=1e-4)
