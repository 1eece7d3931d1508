"""What the searches share: the gradient loop of the pixel and latent baselines, the batched rendering and sizing
of candidate do() sets and their re-made answer (the gradient-free searches), and what a failed search says.

`descend` runs Adam on margin loss + distance from a factual point; a query stops, frozen at its best point,
once the target leads clearly, while the others go on. `render_candidates`, `do_distance` and `answer` serve the
searches that only read the classifier (random search, black-box AIP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.search.base import (ANY, Query, SearchConfig, SearchResult, flipped, margin_loss,
                                                 read)
from explorer.counterfactual.search.space import MorphoSpace
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


def render_candidates(space: MorphoSpace, query: Query, noise: dict[str, np.ndarray], latents: torch.Tensor,
                      active: np.ndarray, do: dict[str, np.ndarray], mask: dict[str, np.ndarray]) -> torch.Tensor:
    """(A*P, C, 28, 28) candidate do() sets of the active queries (P = len(latents) / A), one decoder call.

    `do` and `mask` are {attribute: (A, P)}: a candidate's value, and whether it sets it; `latents` (A*P, Z) is each
    candidate's image latent (with `do` empty and P = 1: the factuals redrawn). Attributes a candidate does not set
    follow the SCM's mechanisms (`candidate_values`).
    """
    values = candidate_values(space, query, noise, active, len(latents) // len(active), do, mask)
    return space.render(latents, values, query.coloured)


def candidate_values(space: MorphoSpace, query: Query, noise: dict[str, np.ndarray], active: np.ndarray, per: int,
                     do: dict[str, np.ndarray], mask: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """{variable: (A*per,)} every variable of the candidates (see `render_candidates`), row by row: a candidate
    that sets only thickness moves intensity, one that sets the digit moves a hue that follows the digit."""
    device = space.device

    def column(a: str) -> torch.Tensor:  # (A*per,) the candidate's value where it sets `a`, else the factual
        factual = np.repeat(np.asarray(query.obs[a], np.float64)[active], per)
        chosen = np.where(mask[a], do[a], factual.reshape(-1, per)).ravel() if a in do else factual
        return torch.as_tensor(chosen, dtype=torch.float32, device=device)

    values = {"digit": column("digit").round().long(), "thickness": column("thickness")}
    values = space.follow(values, {k: np.repeat(np.asarray(v)[active], per) for k, v in noise.items()}, query.coloured)
    for a in ("intensity", "hue"):
        if a in do:  # set where the candidate sets it, followed elsewhere
            values[a] = torch.where(torch.as_tensor(mask[a].ravel(), device=device), column(a), values[a])
    return values


def do_distance(space: MorphoSpace, query: Query, active: np.ndarray, do: dict[str, np.ndarray],
                mask: dict[str, np.ndarray]) -> np.ndarray:
    """(A, P) the size of each do() set: each attribute's change over its range, a new digit costs 1.

    Only the attributes set count: what follows through the mechanisms is the consequence, not the edit.
    """
    total = np.zeros(mask[next(iter(mask))].shape)
    for a, value in do.items():
        if a == "digit":
            change = np.ones_like(total)
        else:
            low, high = space.bounds(a)
            change = np.abs(value - np.asarray(query.obs[a], np.float64)[active, None])
            if a == "hue":
                change = np.minimum(change, 1.0 - change)  # hue is a circle: 0.95 is next to 0.05
            change = change / (high - low)
        total += np.where(mask[a], change, 0.0)
    return total


def answer(method: str, space: MorphoSpace, query: Query, classifier: Classifier, noise: dict[str, np.ndarray],
           latents: torch.Tensor, do: list[dict[str, float]], current: np.ndarray, goal: np.ndarray,
           first: np.ndarray, frames: list[torch.Tensor], config: SearchConfig, tried: str | None,
           shift: torch.Tensor | None = None) -> SearchResult:
    """Re-makes each kept do() set through the SCM, re-renders and re-checks it; says why where none held.

    `latents` (B, Z) are the factual latents, moved by `shift` (B, Z) when the search moved them; `tried` says
    what was searched (None: nothing could be, every attribute being locked).
    """
    n, world = len(query), space.world(query)
    rows = [world.counterfactual({k: np.asarray(v)[i:i + 1] for k, v in noise.items()}, do[i]) for i in range(n)]
    values = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}  # each (B,)
    parents = {k: torch.as_tensor(v, dtype=torch.float32, device=space.device) for k, v in values.items()}
    parents["digit"] = parents["digit"].long()
    moved = torch.zeros_like(latents) if shift is None else shift.to(latents.device)  # (B, Z)
    with torch.inference_mode():
        images = space.render(latents + moved, parents, query.coloured)  # (B, C, 28, 28)
    pred = read(classifier, images)
    has_do = np.array([bool(d) for d in do]) | (moved.norm(dim=1) > 0).cpu().numpy()  # the factual is no answer
    found = flipped(pred, current, goal) & has_do
    notes = [failure_note(ok, bool(d), p, c, g, tried, list(classifier.classes))
             for ok, d, p, c, g in zip(found, has_do, pred, current, goal)]
    return SearchResult(method, found, do, values, images.cpu(), pred, np.where(goal == ANY, pred, goal),
                        moved.norm(dim=1).cpu().numpy(), np.where(found, first, -1),
                        path_of(frames, images, config.frames), notes)


def failure_note(ok: bool, kept: bool, pred: int, current: int, goal: int, tried: str | None,
                 classes: list[str]) -> str:
    """"" for an answer; else whether everything was locked, a kept answer did not hold, or nothing flipped."""
    if ok:
        return ""
    if tried is None:
        return "no counterfactual found: every attribute is locked"
    if kept:  # a candidate flipped during the search, but not once re-made through the SCM's mechanisms
        return no_flip_note("(the do() set kept did not hold when re-made by the SCM)", pred, current, goal, classes)
    return no_flip_note(tried, pred, current, goal, classes)
