"""What every counterfactual search shares: the query, the config, the answer, and the flip criterion.

A search answers "what is the smallest change to this digit that makes `classifier` say `target`?" Every
method (AIP, its baselines) takes the same `search(query, classifier, target, config)` and returns a
`SearchResult`, so the page and `evaluate search` swap methods without touching call sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.interfaces import Classifier
from explorer.scm.morpho import tint

ANY = -1  # target meaning "any class but the one the classifier reads now"


@dataclass
class Query:
    """Factual digits to search from, as the image world holds them.

    Attributes:
        grey: (B, 1, 28, 28) grey images on 0-255, the source strokes drawn at their factual values.
        obs: the SCM's factual values, (B,) arrays (digit, thickness, intensity, and hue when coloured).
        noise: the samples' exogenous noise, (B,) arrays (the hue noise cannot be read off the values).
        coloured: the colour world (the classifier then sees tinted images).
    """

    grey: torch.Tensor
    obs: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]
    coloured: bool = False

    def __len__(self) -> int:
        return len(self.grey)

    def images(self) -> torch.Tensor:
        """The factual images as the classifier sees them: (B, C, 28, 28), C = 3 when coloured."""
        if not self.coloured:
            return self.grey
        return torch.from_numpy(tint(self.grey[:, 0].numpy(), self.obs["hue"]))


@dataclass
class SearchConfig:
    """Settings shared by the searches; each method reads the ones it uses.

    Attributes:
        locks: what may not change: any of "digit", "thickness", "intensity", "hue", "latent".
        steps: optimisation steps (or generations, for gradient-free methods) at most.
        lr: step size.
        margin: logit margin by which the target must lead, so the search stops at a clear flip.
        attr_weight: cost of moving an attribute across its whole range.
        latent_weight: cost of the image's own latent moving away from the factual (mean squared).
        digit_weight: cost of giving up the factual digit.
        plausibility_weight: cost of a do() set the world would hardly produce (AIP: the SCM noise it implies,
            squared, beyond 3 standard deviations), where the generator has seen few digits and draws poorly.
        frames: images kept along the path, for the page's strip.
        restarts: starting points per query (AIP: the factual and R-1 others, the cheapest flip kept).
        seed: for restarts and gradient-free methods.
    """

    locks: tuple[str, ...] = ()
    steps: int = 200
    lr: float = 0.1
    margin: float = 1.0
    attr_weight: float = 1.0
    latent_weight: float = 0.05
    digit_weight: float = 0.5
    plausibility_weight: float = 0.1
    frames: int = 6
    restarts: int = 4
    seed: int = 0


@dataclass
class SearchResult:
    """Per query: whether a counterfactual was found, the do() that makes it, and what the classifier reads.

    Attributes:
        found: (B,) whether the final, re-checked answer makes the classifier read the target.
        do: per query, the interventions of the answer {variable: value} (empty when nothing changed).
        values: the answer's values of every variable, (B,) arrays, as the SCM's mechanisms give them.
        images: (B, C, 28, 28) the answer as the classifier saw it, 0-255.
        pred: (B,) the classifier's class on the answer; target: (B,) the class asked for (or reached, for ANY).
        latent_shift: (B,) distance of the image's latent from the factual one (0 when the latent was locked).
        steps: (B,) the step at which the answer first flipped the classifier (-1: never).
        path: (B, F, C, 28, 28) images along the search, for the page's strip.
        notes: per query, what went wrong when nothing was found ("" otherwise).
    """

    method: str
    found: np.ndarray
    do: list[dict[str, float]]
    values: dict[str, np.ndarray]
    images: torch.Tensor
    pred: np.ndarray
    target: np.ndarray
    latent_shift: np.ndarray
    steps: np.ndarray
    path: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)


def targets(target: int | np.ndarray | None, n: int) -> np.ndarray:
    """(B,) target classes; ANY (-1) where any class but the current one will do."""
    if target is None:
        return np.full(n, ANY)
    return np.broadcast_to(np.asarray(target, np.int64), (n,)).copy()


def margin_loss(logits: torch.Tensor, current: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    """(B, K) logits -> (B,) hinge: zero once the target leads every other class by `margin`.

    With target ANY the goal is that some class other than `current` leads `current` by `margin`.
    """
    anyone = target < 0
    ahead = lead(logits, torch.where(anyone, current, target))  # (B,) how far the goal leads its best rival
    toward = torch.clamp(margin - ahead, min=0.0)  # target must beat its best rival
    away = torch.clamp(ahead + margin, min=0.0)  # the current class must lose to some rival
    return torch.where(anyone, away, toward)


def lead(logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """(B, K) logits, (B,) classes -> (B,) how far each class leads its best rival (negative: behind it)."""
    cls = torch.as_tensor(cls, dtype=torch.long, device=logits.device)[:, None]
    return logits.gather(1, cls)[:, 0] - logits.scatter(1, cls, -torch.finfo(logits.dtype).max).amax(1)


def flipped(pred: np.ndarray, current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(B,) whether `pred` is what was asked: the target, or anything but the current class for ANY."""
    return np.where(target < 0, pred != current, pred == target)


def read(classifier: Classifier, images: torch.Tensor) -> np.ndarray:
    """(B,) the classifier's class for each image, without gradients."""
    with torch.inference_mode():
        return classifier.predict_proba(images).argmax(1).cpu().numpy()
