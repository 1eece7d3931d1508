"""The baselines beside AIP (pixel, latent-only, random search) on the shipped models, and the shared pieces
they stand on (margin_loss on hand-made logits, hue_to_rgb against colorsys)."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch
from torch import nn

from toys import digit_query, reads

from explorer.counterfactual.search.base import ANY, SearchConfig, margin_loss
from explorer.counterfactual.search.latent import LatentSearch
from explorer.counterfactual.search.descent import descend
from explorer.counterfactual.search.pixel import PixelSearch
from explorer.counterfactual.search.random_search import RandomSearch
from explorer.counterfactual.search.space import hue_to_rgb
from explorer.models.cnn import TorchClassifier
from explorer.scm.morpho import CONFOUNDED_HUE_STRENGTH, SPECS, MorphoSCM

pytestmark = pytest.mark.usefixtures("one_thread")


METHODS = (PixelSearch, LatentSearch, RandomSearch)
N = 6  # digits per search: enough to catch a method that rarely works, few enough to stay fast


class _Stubborn(nn.Module):
    """Reads class 0 by 10 logits whatever the image (the image enters at weight 0, so gradients exist)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([10.0] + [0.0] * 9) + 0.0 * x.flatten(1).mean(1, keepdim=True)  # (B, 10)


class _Generated(nn.Module):
    """Reads class 1 on any image with fractional pixels (what a decoder draws), class 0 on whole grey levels (the
    stored factual digits): a classifier that tells the generator's redrawing of the factual from the factual."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frac = (x - x.round()).abs().flatten(1).mean(1)  # (B,) 0 on the stored digits
        return torch.stack([torch.zeros_like(frac), 100.0 * frac], 1)  # (B, 2)


class _Line(nn.Module):
    """Two classes on a scalar x: logits (0, 10 x), so class 1 leads by the margin m from x = m / 10 on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(x), 10.0 * x], 1)  # (B, 2)


# --- the shared pieces, by hand ------------------------------------------------------------------------------
def test_margin_loss_is_zero_exactly_when_the_target_leads_by_the_margin():
    logits = torch.tensor([[3.0, 1.0, 0.0], [1.0, 2.0, 0.0], [1.0, 1.5, 0.0], [1.0, 2.5, 0.0]])
    current, target = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    loss = margin_loss(logits, current, target, 1.0)
    torch.testing.assert_close(loss, torch.tensor([3.0, 0.0, 0.5, 0.0]))  # (best rival - target + margin)+
    assert loss[1].item() == 0.0  # leading by exactly the margin is enough


def test_margin_loss_with_any_class_asks_some_rival_to_beat_the_current_class():
    logits = torch.tensor([[3.0, 1.0, 0.0], [1.0, 0.0, 2.0], [1.5, 2.0, 0.0], [0.0, 5.0, 1.0]])
    current = torch.tensor([0, 0, 0, 2])
    loss = margin_loss(logits, current, torch.full((4,), ANY), 1.0)
    torch.testing.assert_close(loss, torch.tensor([3.0, 0.0, 0.5, 0.0]))  # (current - best rival + margin)+
    mixed = margin_loss(logits[:2], current[:2], torch.tensor([ANY, 1]), 1.0)  # one batch, both kinds of target
    torch.testing.assert_close(mixed, torch.tensor([3.0, 3.0]))


def test_hue_to_rgb_matches_colorsys():
    hues = torch.tensor([0.0, 1 / 6, 0.2, 1 / 3, 0.45, 0.5, 2 / 3, 0.8, 5 / 6, 0.99])
    expected = torch.tensor([colorsys.hsv_to_rgb(float(h), 1.0, 1.0) for h in hues])  # (10, 3)
    torch.testing.assert_close(hue_to_rgb(hues)[:, :, 0, 0], expected, atol=1e-5, rtol=0)


def test_descend_keeps_the_flip_and_freezes_a_finished_query_while_the_others_go_on(cpu):
    """Two queries on the line classifier, cost 5 (x - x0): the gradient is -10 + 5 throughout and Adam moves x by
    exactly lr a step. From x = 0 one step of 0.1 reaches the margin 0.5 (logit 1 vs 0): query 0 is done at step 1,
    its objective (0.5) no lower than the start's (0.5, unflipped) - the flip is kept all the same. Query 1
    starts at -100, cannot flip in 5 steps, and keeps its lowest objective: the last point."""
    line = TorchClassifier("line", _Line(), None, cpu, classes=["a", "b"])
    start = torch.tensor([[0.0], [-100.0]])  # (2, 1)
    config = SearchConfig(steps=5, lr=0.1, margin=0.5, frames=6)
    run = descend(start, lambda x: x, lambda x: 5.0 * (x - start)[:, 0], line, np.zeros(2, int), np.ones(2, int),
                  config)
    np.testing.assert_array_equal(run.first, [1, -1])
    torch.testing.assert_close(run.best, torch.tensor([[0.1], [-99.5]]))
    strip = torch.stack(run.frames, 1)[:, :, 0]  # (2, 5) x at steps 0..4
    torch.testing.assert_close(strip[0], torch.tensor([0.0, 0.1, 0.1, 0.1, 0.1]))  # frozen once done
    torch.testing.assert_close(strip[1], torch.tensor([-100.0, -99.9, -99.8, -99.7, -99.6]))


# --- every baseline: shapes, the re-read answer, ranges ----------------------------------------------------
@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_found_answers_are_read_as_asked(method, space, cnn, test_data):
    query = digit_query(test_data, range(N))
    current = reads(cnn, query.images())
    target = (current + 1) % 10  # a set target for half the batch, any other class for the rest
    target[N // 2:] = ANY
    config = SearchConfig(steps=40, frames=4)
    result = method(space).search(query, cnn, target, config)
    assert result.method == method.name and result.found.shape == result.pred.shape == (N,)
    assert result.images.shape == (N, 1, 28, 28) and result.path.shape == (N, 4, 1, 28, 28)
    assert len(result.do) == len(result.notes) == N and result.latent_shift.shape == result.steps.shape == (N,)
    assert result.found.mean() >= 0.5, result.notes
    again = reads(cnn, result.images)
    np.testing.assert_array_equal(again, result.pred)  # the answer is what the classifier reads on the images
    set_target = np.arange(N) < N // 2
    assert (again[result.found & set_target] == target[result.found & set_target]).all()
    assert (again[result.found & ~set_target] != current[result.found & ~set_target]).all()
    assert (result.target[set_target] == target[set_target]).all()
    assert all(note == "" for note, ok in zip(result.notes, result.found) if ok)
    assert all(note.startswith("no counterfactual found") for note, ok in zip(result.notes, result.found) if not ok)
    assert ((result.steps >= 0) == result.found).all()
    torch.testing.assert_close(result.path[:, -1], result.images)  # the strip ends on the answer
    for name in query.obs:  # whatever moved stayed inside the page's ranges
        spec, moved = SPECS[name], result.values[name] != query.obs[name]
        assert ((result.values[name][moved] >= spec.low) & (result.values[name][moved] <= spec.high)).all()


def test_pixel_answers_are_pixel_edits_inside_0_255(space, cnn, test_data):
    query = digit_query(test_data, range(N))
    result = PixelSearch(space).search(query, cnn, None, SearchConfig(steps=60))
    assert result.images.min() >= 0.0 and result.images.max() <= 255.0
    assert result.do == [{}] * N and (result.latent_shift == 0).all()
    for name, v in query.obs.items():
        np.testing.assert_array_equal(result.values[name], v)
    assert (result.images != query.images()).flatten(1).any(1)[result.found].all()  # it did edit the pixels


def test_latent_search_never_changes_an_attribute(space, hue_cnn, test_data):
    query = digit_query(test_data, range(N), coloured=True)
    result = LatentSearch(space).search(query, hue_cnn, None, SearchConfig(steps=40))
    assert result.images.shape == (N, 3, 28, 28)
    assert result.do == [{}] * N
    for name, v in query.obs.items():
        np.testing.assert_array_equal(result.values[name], v)
    assert (result.latent_shift[result.found] > 0).all() and result.found.any()


def test_random_search_with_the_digit_locked_keeps_it_and_re_makes_the_answer_by_the_scm(space, hue_cnn,
                                                                                        test_data):
    query = digit_query(test_data, range(N), coloured=True)
    result = RandomSearch(space).search(query, hue_cnn, None, SearchConfig(locks=("digit",), steps=10))
    assert result.found.mean() >= 0.5, result.notes  # the colour-trained CNN flips on style (hue) alone
    assert all("digit" not in d for d in result.do)
    np.testing.assert_array_equal(result.values["digit"], query.obs["digit"])
    assert min(len(result.do[i]) for i in np.flatnonzero(result.found)) < 3  # only what a candidate set is kept
    world = MorphoSCM(CONFOUNDED_HUE_STRENGTH)
    for i in np.flatnonzero(result.found):
        assert result.do[i] and all(SPECS[a].low <= v <= SPECS[a].high for a, v in result.do[i].items())
        row = {k: v[i:i + 1] for k, v in query.obs.items()}
        noise = world.abduct(row, {k: v[i:i + 1] for k, v in query.noise.items()})
        remade = world.counterfactual(noise, result.do[i])  # intensity follows a new thickness unless it is set
        for name in remade:
            np.testing.assert_allclose(result.values[name][i], remade[name][0])


def test_random_search_is_seeded(space, cnn, test_data):
    query = digit_query(test_data, range(3))
    runs = [RandomSearch(space).search(query, cnn, None, SearchConfig(steps=3, seed=s)) for s in (7, 7, 8)]
    assert runs[0].do == runs[1].do and runs[0].do != runs[2].do


# --- searches that cannot succeed say so ---------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_an_unreachable_target_ends_with_a_note(method, space, test_data, cpu):
    stubborn = TorchClassifier("stubborn", _Stubborn(), 1, cpu)
    query = digit_query(test_data, range(2))
    result = method(space).search(query, stubborn, 1, SearchConfig(steps=3))
    assert not result.found.any() and (result.steps == -1).all()
    assert result.notes == [result.notes[0]] * 2 and result.notes[0].startswith("no counterfactual found in 3")
    assert "reads 0 (asked for 1)" in result.notes[0]


def test_every_attribute_locked_ends_with_a_note(space, cnn, test_data, cpu):
    query = digit_query(test_data, range(2))
    locks = ("digit", "thickness", "intensity", "hue")
    # this classifier reads the generator's redrawing of the factual as another class: an empty do() must still
    # not count as an answer
    fussy = TorchClassifier("fussy", _Generated(), 1, cpu, classes=["stored", "drawn"])
    result = RandomSearch(space).search(query, fussy, None, SearchConfig(locks=locks))
    assert not result.found.any() and result.do == [{}, {}]
    assert result.notes == ["no counterfactual found: every attribute is locked"] * 2
    latent = LatentSearch(space).search(query, cnn, None, SearchConfig(locks=("latent",)))
    assert not latent.found.any() and all("latent is locked" in n for n in latent.notes)
