"""Linear concept erasure (LEACE: Belrose et al., "LEACE: Perfect linear concept erasure in closed form", 2023).

Gradient reversal makes the CF encoder's sentence adversary fail, but a freshly trained probe still reads the
concept from the pooled representation (README, "CausaLM"). LEACE closes that gap for linear readers: it is the
smallest affine change (in the representation's own whitened metric) after which the representation has zero
cross-covariance with the concept, so no linear classifier (the task head, a linear probe) can use the concept
better than a constant. It is an addition to CausaLM, applied after stage 1 to the CF encoder's pooled output;
it says nothing about non-linear readers.

With X the (N, H) representations, mu their mean, Sigma their covariance, W = Sigma^(-1/2) on its support and
P the orthogonal projection onto W Cov(X, Z):  erase(x) = x - W^+ P W (x - mu).

Optionally the eraser removes the concept *within* each group of a second variable (the task label): P then
projects onto the span of every W Cov(X, Z | group). Why: zero marginal covariance
still lets a linear task head trained on biased labels separate the concept inside a class (the pooled
output mixes the person's name with the emotion word), which is exactly the shortcut CF must not have.

Optionally, too, it removes a *name-identity subspace* (`NameBank`): the top directions along which many
first names, each read in the same fixed sentences, differ from one another (within gender). Why: the concept
columns above are estimated from the training persons only (58 names for race), and a direction fitted on those
names does not carry to names the eraser never saw: on validation persons a probe still separated Black from white
names. Thousands of names span where name identity lives, so erasing that subspace reaches unseen names too. The
control concept's direction (gender, for race) is taken out of those name directions first, so the control stays
readable; the concept's own columns are left whole. The bank's names can also carry concept scores (race: O's
linear probe read on each name, `NameBank.scores`), whose cross-covariance with the names is erased whole: the
concept's direction as thousands of names show it, rather than 58.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LinearEraser:
    """erase(x) = x - (x - mean) @ proj.T, fitted by `fit_eraser`."""

    proj: torch.Tensor  # (H, H) the oblique projection W^+ P W
    mean: torch.Tensor  # (H,)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H) -> (N, H)."""
        return x - (x - self.mean.to(x)) @ self.proj.to(x).T

    def to(self, device: torch.device | str) -> "LinearEraser":
        return LinearEraser(self.proj.to(device), self.mean.to(device))

    def state(self, prefix: str = "eraser.") -> dict[str, torch.Tensor]:
        return {f"{prefix}proj": self.proj.float().contiguous(), f"{prefix}mean": self.mean.float().contiguous()}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], prefix: str = "eraser.") -> "LinearEraser | None":
        """None when the checkpoint carries no eraser (the O encoder, or a CF encoder trained without one)."""
        if f"{prefix}proj" not in state:
            return None
        return cls(state[f"{prefix}proj"].float(), state[f"{prefix}mean"].float())


@dataclass
class NameBank:
    """Representations of many names, each read in the same S fixed sentences, and the rank to erase."""

    x: torch.Tensor  # (N_names, S, H)
    groups: torch.Tensor  # (N_names,) e.g. gender: names are centred within their group, so the group gap stays
    rank: int
    # With `keep`: also keep the gap between the groups' mean names (the groups being the control) out of the
    # erased directions. Not shipped; measured on val (README, "CausaLM": `evaluate causalm-names
    # --keep-bank-control`), where it keeps gender far better at high ranks.
    keep_between: bool = False
    # Optional (N_names, C) concept scores of the bank's names (race: O's probe logit, which carries the concept
    # to names no one labelled). The names' whitened within-group cross-covariance with them is erased whole,
    # like the concept's own columns; without a rank, only that.
    scores: torch.Tensor | None = None


def _identity_directions(bank: NameBank, mean: torch.Tensor, whiten: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(H, rank) orthonormal whitened directions along which the bank's names differ most within groups,
    (H, G-1) the whitened directions between the groups' mean names, and (H, C) the names' whitened
    within-group cross-covariance with the bank's concept scores (C = 0 without scores)."""
    names = ((bank.x.double() - mean) @ whiten.T).mean(1)  # (N, H): each name's mean over the fixed sentences
    groups = torch.unique(bank.groups)
    centres = torch.stack([names[bank.groups == g].mean(0) for g in groups])  # (G, H)
    scores = torch.zeros(len(names), 0, dtype=names.dtype) if bank.scores is None else bank.scores.double().clone()
    for g, c in zip(groups, centres):
        names[bank.groups == g] -= c
        scores[bank.groups == g] -= scores[bank.groups == g].mean(0)
    u, _, _ = torch.linalg.svd(names.T, full_matrices=False)  # (H, min(N, H))
    return u[:, :bank.rank], (centres[1:] - centres[0]).T, names.T @ scores / len(names)


@torch.no_grad()
def fit_eraser(x: torch.Tensor, z: torch.Tensor, groups: torch.Tensor | None = None,
               names: NameBank | None = None, keep: torch.Tensor | None = None,
               rel_eps: float = 1e-6) -> LinearEraser:
    """(N, H) representations and (N,) integer concept labels -> the LEACE eraser for that concept.

    Fitted in float64: the whitening divides by small eigenvalues of the covariance, which float32 blurs.
    Eigenvalues below rel_eps * the largest are treated as outside the support.

    Args:
        x: (N, H) representations.
        z: (N,) concept labels.
        groups: Optional (N,) labels of a second variable; the concept is then erased within each group
            (groups where the concept takes one value add nothing) instead of over all N.
        names: Optional bank of names whose identity subspace (`NameBank.rank` directions) is erased too.
        keep: Optional (N,) labels of a control concept whose (marginal) direction is kept out of the name
            bank's identity directions, so a linear reader still finds it (the concept's columns stay whole).
        rel_eps: Relative eigenvalue floor of the whitening.
    """
    if x.ndim != 2 or z.ndim != 1 or len(x) != len(z):
        raise ValueError(f"expected (N, H) features and (N,) labels, got {tuple(x.shape)} and {tuple(z.shape)}")
    for extra, what in ((groups, "groups"), (keep, "keep")):
        if extra is not None and extra.shape != z.shape:
            raise ValueError(f"expected (N,) {what}, got {tuple(extra.shape)}")
    if names is not None and (names.x.ndim != 3 or names.x.shape[-1] != x.shape[1]
                              or len(names.groups) != len(names.x)
                              or names.scores is not None and (names.scores.ndim != 2
                                                               or len(names.scores) != len(names.x))):
        raise ValueError(f"expected a name bank of shape (N, S, {x.shape[1]}) with (N,) groups and optional "
                         f"(N, C) scores, got {tuple(names.x.shape)}, {tuple(names.groups.shape)} and "
                         f"{None if names.scores is None else tuple(names.scores.shape)}")
    classes = torch.unique(z)
    if len(classes) < 2:
        raise ValueError("the concept takes a single value in these texts; there is nothing to erase")
    xd = x.double()
    mean = xd.mean(0)  # (H,)
    xc = xd - mean  # (N, H)
    # One-hot concept minus one column: the columns' span is what matters, and dropping one removes the
    # linear dependence of a full one-hot code.
    z1 = torch.stack([(z == c).double() for c in classes[1:]], 1)  # (N, K-1)
    zc = z1 - z1.mean(0)
    sigma = xc.T @ xc / len(x)  # (H, H)
    cross = xc.T @ zc / len(x)  # (H, K-1)
    if groups is not None:
        # Within-group columns only. The marginal column would add the between-group term, the chance
        # correlation of the concept with the groups times the gap between group means: tiny, yet the projection
        # gives every column's direction full weight, so it would erase the groups themselves (the task classes).
        blocks = []
        for g in torch.unique(groups):
            m = groups == g
            xg, zg = xd[m] - xd[m].mean(0), z1[m] - z1[m].mean(0)  # (N_g, H), (N_g, K-1)
            blocks.append(xg.T @ zg / len(x))  # (H, K-1), zero where the concept is constant in the group
        cross = torch.cat(blocks, 1)  # (H, G(K-1))
    evals, evecs = torch.linalg.eigh(sigma)
    support = evals > rel_eps * evals.max()
    v, lam = evecs[:, support], evals[support]  # (H, R), (R,)
    whiten = v @ torch.diag(lam.rsqrt()) @ v.T  # (H, H) W
    unwhiten = v @ torch.diag(lam.sqrt()) @ v.T  # (H, H) W^+
    u = whiten @ cross  # (H, C) C = K-1, or G(K-1) within groups
    if names is not None and (names.rank > 0 or names.scores is not None):
        ident, between, scored = _identity_directions(names, mean, whiten)  # (H, rank), (H, G-1), (H, C)
        if keep is not None:
            # The identity directions lose their component along the control's directions, so the control is not
            # erased with them: the training texts' control direction and, with keep_between, the gap between
            # the bank's group means, which 2,717 names estimate better than 58 persons do.
            # The concept's own columns are left whole: its erasure stays exact.
            k1 = torch.stack([(keep == c).double() for c in torch.unique(keep)[1:]], 1)  # (N, K'-1)
            control = whiten @ (xc.T @ (k1 - k1.mean(0)) / len(x))  # (H, K'-1)
            kept, _ = torch.linalg.qr(torch.cat([control, between], 1) if names.keep_between else control)
            ident = ident - kept @ (kept.T @ ident)
        u = torch.cat([u, scored, ident], 1)  # (H, C + C' + rank): the scored columns whole, like the concept's
    q, r = torch.linalg.qr(u)
    q = q[:, r.diagonal().abs() > 1e-12 * r.diagonal().abs().max().clamp_min(1e-300)]  # (H, rank)
    proj = unwhiten @ (q @ q.T) @ whiten  # (H, H)
    return LinearEraser(proj.float(), mean.float())
