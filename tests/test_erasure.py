"""LEACE linear concept erasure on synthetic data where the concept's direction is known."""

from __future__ import annotations

import pytest
import torch

from explorer.models.erasure import LinearEraser, NameBank, fit_eraser
from explorer.training.linear import LinearConfig, accuracy, fit_linear

PROBE = LinearConfig(steps=2000)  # uncentred synthetic features need more steps than the default recipe


def _data(n: int = 3000, h: int = 16, seed: int = 0):
    """Concept z shifts the features along a fixed direction; correlated noise makes the eraser's metric matter.

    The mechanism (mixing, offset, direction) is fixed; `seed` draws a new sample from it.
    """
    fixed = torch.Generator().manual_seed(100)
    mix = torch.randn(h, h, generator=fixed) / h ** 0.5
    offset, direction = torch.randn(h, generator=fixed), torch.randn(h, generator=fixed)
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(n, generator=g) < 0.4).long()  # (N,)
    noise = torch.randn(n, h, generator=g) @ mix + offset  # (N, H)
    return noise + 2.0 * z[:, None].float() * direction, z, noise


def test_linear_probe_falls_to_the_majority_rate_after_erasure():
    x, z, _ = _data()
    xt, zt, _ = _data(seed=1)
    majority = float(max(zt.float().mean(), 1 - zt.float().mean()))
    before = accuracy(fit_linear(x, z, 2, PROBE), xt, zt)
    eraser = fit_eraser(x, z)
    after = accuracy(fit_linear(eraser(x), z, 2, PROBE), eraser(xt), zt)
    assert before > 0.95
    assert after <= majority + 0.02


def test_group_means_match_and_what_is_unrelated_to_the_concept_survives():
    x, z, noise = _data()
    erased = fit_eraser(x, z)(x)
    assert torch.allclose(erased[z == 1].mean(0), erased[z == 0].mean(0), atol=1e-4)
    # rank-1 change for a binary concept: everything outside one direction passes through
    change = (x - erased) - (x - erased).mean(0)
    s = torch.linalg.svdvals(change)
    assert s[1] < 1e-4 * s[0]
    # a label that has nothing to do with the concept stays about as readable as before
    other = (noise[:, 3] - noise[:, 5] > (noise[:, 3] - noise[:, 5]).median()).long()
    before = accuracy(fit_linear(x, other, 2, PROBE), x, other)
    after = accuracy(fit_linear(erased, other, 2, PROBE), erased, other)
    assert after >= before - 0.05


def test_erasing_twice_changes_nothing_more_and_the_state_round_trips():
    x, z, _ = _data(n=2000)
    eraser = fit_eraser(x, z)
    once = eraser(x)
    assert torch.allclose(eraser(once), once, atol=1e-4)
    again = LinearEraser.from_state(eraser.state())
    assert torch.equal(again(x), once)
    assert LinearEraser.from_state({"head.weight": torch.zeros(1)}) is None


def test_multi_class_concepts_are_erased_too():
    g = torch.Generator().manual_seed(3)
    z = torch.randint(0, 3, (3000,), generator=g)
    centres = torch.randn(3, 8, generator=g) * 3
    x = torch.randn(3000, 8, generator=g) + centres[z]
    erased = fit_eraser(x, z)(x)
    means = torch.stack([erased[z == k].mean(0) for k in range(3)])
    assert (means - means.mean(0)).abs().max() < 1e-3


def test_a_constant_concept_is_refused_clearly():
    with pytest.raises(ValueError, match="single value"):
        fit_eraser(torch.randn(10, 4), torch.zeros(10, dtype=torch.long))


def test_erasing_within_groups_removes_a_concept_that_only_shows_inside_groups():
    # The concept shifts the features in opposite directions in two groups: marginally it cancels out, so the
    # plain eraser leaves it, while the within-group eraser removes it from each group.
    g = torch.Generator().manual_seed(3)
    n, h = 4000, 8
    z, groups = (torch.rand(n, generator=g) < 0.5).long(), (torch.rand(n, generator=g) < 0.5).long()
    direction = torch.randn(h, generator=g)
    sign = 2.0 * groups.float() - 1.0  # (N,) -1 / +1
    x = torch.randn(n, h, generator=g) + 2.0 * (z.float() * sign)[:, None] * direction + 3.0 * groups[:, None]

    def within_gap(x_: torch.Tensor) -> float:
        """Largest distance between concept means inside one group."""
        return max(float((x_[(groups == k) & (z == 1)].mean(0) - x_[(groups == k) & (z == 0)].mean(0)).norm())
                   for k in (0, 1))

    assert within_gap(fit_eraser(x, z)(x)) > 3.0  # marginal erasure misses it
    erased = fit_eraser(x, z, groups=groups)(x)
    assert within_gap(erased) < 0.1
    # the group itself (not the concept) stays readable
    assert float((erased[groups == 1].mean(0) - erased[groups == 0].mean(0)).norm()) > 5.0
    with pytest.raises(ValueError, match="groups"):
        fit_eraser(x, z, groups=groups[:-1])


def test_the_name_subspace_is_erased_for_unseen_names_and_the_kept_control_survives():
    # Names differ along a few hidden directions; one of them also carries the concept (race-like), another
    # the control (gender-like). The concept column alone, fitted on 12 training names, misses how new names
    # vary; the bank of 300 other names spans the identity subspace, so new names are erased too.
    g = torch.Generator().manual_seed(7)
    h, k = 24, 4
    basis = torch.linalg.qr(torch.randn(h, h, generator=g))[0]
    ident, control_dir = basis[:, :k], basis[:, k]  # (H, k) identity subspace, (H,) control direction

    def names(n):
        codes = torch.randn(n, k, generator=g)  # (n, k) each name's identity
        gender = (torch.rand(n, generator=g) < 0.5).long()
        return codes, gender, (codes[:, 0] > 0).long()  # concept = sign of the first identity coordinate

    def sentences(codes, gender, per=20):
        rep = codes.repeat_interleave(per, 0) @ ident.T * 3 + gender.repeat_interleave(per)[:, None] * control_dir * 3
        return rep + torch.randn(len(rep), h, generator=g)  # (n * per, H)

    bank, unseen = names(300), names(200)
    # 12 training persons balanced by design, as the template corpus pairs them: half carry the concept, and
    # half of each of those halves the control, so the concept's own columns carry no control.
    codes = torch.randn(12, k, generator=g)
    concept = torch.tensor([1] * 6 + [0] * 6)
    codes[:, 0] = codes[:, 0].abs() * (2 * concept - 1)
    train = (codes, torch.tensor([1, 0] * 6), concept)
    x = sentences(train[0], train[1])
    z, keep = train[2].repeat_interleave(20), train[1].repeat_interleave(20)  # (240,)
    xb = sentences(bank[0], bank[1], per=3).reshape(300, 3, h)
    xu = sentences(unseen[0], unseen[1])
    zu, gu = unseen[2].repeat_interleave(20), unseen[1].repeat_interleave(20)
    half = len(xu) // 2

    def probe(erased, labels):  # trained on half the unseen names, tested on the other half
        return accuracy(fit_linear(erased[:half], labels[:half], 2, PROBE), erased[half:], labels[half:])

    concept_only = fit_eraser(x, z)
    with_bank = fit_eraser(x, z, names=NameBank(xb, bank[1], rank=k), keep=keep)
    assert probe(concept_only(xu), zu) > 0.6  # the training names' direction does not carry to new names
    assert probe(with_bank(xu), zu) < min(0.6, probe(concept_only(xu), zu) - 0.05)
    before = probe(xu, gu)
    assert probe(with_bank(xu), gu) >= before - 0.03  # the control is kept
    # Without the within-gender centring the control's gap is itself a direction of name identity; `keep` is
    # what then saves it.
    ungrouped = NameBank(xb, torch.zeros(300, dtype=torch.long), rank=k + 1)
    assert probe(fit_eraser(x, z, names=ungrouped)(xu), gu) < before - 0.1
    assert probe(fit_eraser(x, z, names=ungrouped, keep=keep)(xu), gu) >= before - 0.03
    # keep_between: the bank's own gender gap is kept too. Here the bank is centred within gender already, so it
    # changes little; it must not erase the control either way.
    keeping = NameBank(xb, bank[1], rank=k + 2, keep_between=True)
    assert probe(fit_eraser(x, z, names=keeping, keep=keep)(xu), gu) >= before - 0.03
    # Scores: the bank's names scored on the concept (as O's probe reads them) erase its direction alone, even
    # at rank 0, and leave the rest of name identity largely readable (the identity subspace takes all of it).
    scored = fit_eraser(x, z, names=NameBank(xb, bank[1], rank=0, scores=bank[0][:, :1]), keep=keep)
    assert probe(scored(xu), zu) < min(0.6, probe(concept_only(xu), zu) - 0.05)
    other = (unseen[0][:, 1] > 0).long().repeat_interleave(20)  # another identity trait
    assert probe(scored(xu), other) > 0.75 > 0.6 > probe(with_bank(xu), other)
    assert probe(scored(xu), gu) >= before - 0.03
    with pytest.raises(ValueError, match="name bank"):
        fit_eraser(x, z, names=NameBank(xb[:, :, :5], bank[1], rank=2))
    with pytest.raises(ValueError, match="name bank"):
        fit_eraser(x, z, names=NameBank(xb, bank[1], rank=2, scores=torch.zeros(299, 1)))
