"""The gradient loop the pixel and latent baselines share, and what a failed search says.

`descend` runs Adam on margin loss + distance from a factual point; a query stops, frozen at its best point,
once the target leads clearly, while the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.search.base import ANY, SearchConfig, flipped, margin_loss
from explorer.interfaces import Classifier

UNFINISHED = 1e6  # added to the objective of points that do not flip: any flipping point is a better answer


@dataclass
class Descent:
    """Where a gradient search ended, per query.

    Attributes:
        best: (B, ...) the kept point: the flipping point of lowest objective, else the lowest objective seen.
        first: (B,) step at which the classifier first read the target (-1: never).
        frames: images along the way, each (B, C, 28, 28), at most `config.frames - 1` (the answer comes last).
    """

    best: torch.Tensor
    first: np.ndarray
    frames: list[torch.Tensor]


def descend(start: torch.Tensor, images_of: Callable[[torch.Tensor], torch.Tensor],
            cost: Callable[[torch.Tensor], torch.Tensor], classifier: Classifier, current: np.ndarray,
            goal: np.ndarray, config: SearchConfig, project: Callable[[torch.Tensor], torch.Tensor] | None = None
            ) -> Descent:
    """Adam from `start` on margin_loss + cost; a query stops (frozen at its best) once the target leads clearly.

    Args:
        start: (B, ...) the factual point (pixels, or latents).
        images_of: (B, ...) point -> (B, C, 28, 28) what the classifier sees, 0-255, differentiable.
        cost: (B, ...) point -> (B,) the distance term, already weighted.
        classifier, current, goal: the classifier, what it reads now and the targets ((B,); ANY allowed).
        config: steps, lr, margin, frames.
        project: applied to the point after every step (e.g. clipping to the valid range).
    """
    n, device = len(start), start.device
    point = start.clone().requires_grad_(True)  # (B, ...)
    opt = torch.optim.Adam([point], lr=config.lr)
    cur_t, goal_t = torch.as_tensor(current, device=device), torch.as_tensor(goal, device=device)
    best, best_key = start.clone(), torch.full((n,), float("inf"), device=device)
    first, done = np.full(n, -1), np.zeros(n, bool)
    frames_at = set(np.linspace(0, config.steps, config.frames).round().astype(int)[:-1].tolist())
    frames = []
    for step in range(config.steps + 1):  # the last pass only scores the last update
        images = images_of(point)  # (B, C, 28, 28)
        logits = classifier.logits(images).to(device)  # (B, K) on the point's device, whatever the classifier's
        hinge = margin_loss(logits, cur_t, goal_t, config.margin)  # (B,)
        loss = hinge + cost(point)  # (B,)
        with torch.no_grad():
            flips = flipped(logits.argmax(1).cpu().numpy(), current, goal)  # (B,)
            first[(first < 0) & flips] = step
            key = loss + UNFINISHED * torch.as_tensor(~flips, device=device)  # (B,)
            better = key < best_key  # (B,)
            best[better], best_key[better] = point[better], key[better]
            done |= (hinge == 0).cpu().numpy()  # a clear flip: this query is finished
            if step in frames_at:
                frames.append(images.detach().clone())
        if done.all() or step == config.steps:
            break
        opt.zero_grad()
        loss.sum().backward()  # queries are independent: the sum gives each its own gradient
        opt.step()
        with torch.no_grad():
            if project is not None:
                point.copy_(project(point))
            point[done] = best[done]  # finished queries stay at their answer while the others go on
    return Descent(best, first, frames)


def path_of(frames: list[torch.Tensor], answer: torch.Tensor, count: int) -> torch.Tensor | None:
    """(B, count, C, 28, 28) strip: the frames kept, padded with the answer (a search that stopped early)."""
    if count < 1:
        return None
    kept = frames[: count - 1] + [answer] * (count - min(len(frames), count - 1))
    return torch.stack([f.detach().cpu() for f in kept], 1)


def no_flip_note(tried: str, pred: int, current: int, goal: int, classes: list[str]) -> str:
    """What a failed search says: what it tried and what the classifier reads instead of the target."""
    reads = f"still reads {classes[current]}" if pred == current else f"reads {classes[pred]}"
    asked = "" if goal == ANY else f" (asked for {classes[goal]})"
    return f"no counterfactual found {tried}: the classifier {reads}{asked}"
