"""Gradient-free random search over do() sets (DiCE's "random" method, for images): the model-agnostic baseline.

The image latent stays at the factual abduction; only the attributes move. Each generation samples, for every
query, a population of do() sets (a random subset of the unlocked attributes, each set to a value drawn
uniformly in its range, the digit to another digit), renders them in one batched decoder call and asks the
classifier once for the whole batch. Of the candidates that flip it, the one with the smallest attribute
distance is kept. The classifier is only read, never differentiated, so this works for any model (ONNX too).
The kept do() set is re-made by the SCM, re-rendered and re-checked at the end.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.counterfactual.search.base import ANY, Query, SearchConfig, SearchResult, flipped, read, targets
from explorer.counterfactual.search.descent import no_flip_note, path_of
from explorer.counterfactual.search.space import MorphoSpace
from explorer.interfaces import Classifier
from explorer.types import VarSpec

POPULATION = 32  # candidates per query per generation: one decoder batch of B x 32 images
# A query that has a flip and has not found a cheaper one in this many generations stops: uniform sampling
# rarely improves after that, and the whole batch's time is set by its slowest queries.
PATIENCE = 10
DECIMALS = 2  # do() values are drawn rounded, so the search and the re-check render the same values


class RandomSearch:
    """Random search in attribute space (digit, thickness, intensity, hue), latent locked at the factual."""

    name = "random"

    def __init__(self, space: MorphoSpace):
        self.space = space

    def config_spec(self) -> dict[str, VarSpec]:
        d = SearchConfig()  # the defaults the search runs with when the caller sets nothing
        return {"steps": VarSpec("steps", "continuous", 1, 500, d.steps, 1, f"generations of {POPULATION} do() sets"),
                "seed": VarSpec("seed", "continuous", 0, 10_000, d.seed, 1, "random seed")}

    def search(self, query: Query, classifier: Classifier, target: int | np.ndarray | None,
               config: SearchConfig) -> SearchResult:
        """The cheapest do() set sampled that makes `classifier` read `target` (None: any other class)."""
        n = len(query)
        noise, latents0 = self.space.abduct(query)  # SCM noise; (B, Z) latents, held throughout
        current = read(classifier, query.images())  # (B,)
        goal = targets(target, n)
        free = [a for a in ("digit", *self.space.attributes(query)) if a not in config.locks]
        if not free:
            return self._answer(query, classifier, noise, latents0, [{} for _ in range(n)], current, goal,
                                np.full(n, -1), [], config, None)
        rng = np.random.default_rng(config.seed)
        best_do, best_cost = [{} for _ in range(n)], np.full(n, np.inf)
        first, calm = np.full(n, -1), np.zeros(n, int)
        with torch.inference_mode():  # the factual redrawn: the strip's start, until a flip is found
            factual = self._render(query, noise, latents0, np.arange(n), {}, {})  # (B, C, 28, 28)
        best_images = factual.clone()  # cloned outside inference mode, so that rows can be replaced
        frames_at = set(np.linspace(0, config.steps, config.frames).round().astype(int)[:-1].tolist())
        frames = []
        for step in range(config.steps):
            if step in frames_at:
                frames.append(best_images.clone())
            active = np.flatnonzero(~np.isfinite(best_cost) | (calm < PATIENCE))  # (A,) queries still searching
            if active.size == 0:
                break
            do, mask = self._sample(rng, query, free, active)  # each {attribute: (A, P)}
            with torch.inference_mode():  # a gradient-free search only reads
                images = self._render(query, noise, latents0, active, do, mask)  # (A*P, C, 28, 28)
            pred = read(classifier, images).reshape(len(active), POPULATION)  # (A, P)
            flips = flipped(pred, current[active, None], goal[active, None])  # (A, P)
            cost = np.where(flips, self._distance(query, active, do, mask), np.inf)  # (A, P)
            pick = cost.argmin(1)  # (A,) the cheapest flipping candidate of each query
            better = cost[np.arange(len(active)), pick] < best_cost[active]  # (A,)
            calm[active] += 1
            for row in np.flatnonzero(better):
                i, j = active[row], pick[row]
                best_cost[i], calm[i] = cost[row, j], 0
                best_do[i] = {a: (int if a == "digit" else float)(do[a][row, j]) for a in do if mask[a][row, j]}
                best_images[i] = images[row * POPULATION + j]
                first[i] = step if first[i] < 0 else first[i]
        tried = f"in {config.steps} generations of {POPULATION} do() sets over {', '.join(free)}"
        return self._answer(query, classifier, noise, latents0, best_do, current, goal, first, frames, config,
                            tried)

    def _sample(self, rng: np.random.Generator, query: Query, free: list[str], active: np.ndarray
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """A population per active query: which attributes each candidate sets, and to what. Each (A, P)."""
        shape = (len(active), POPULATION)
        k = rng.integers(1, len(free) + 1, shape)  # how many attributes a candidate changes: sparse ones too
        ranks = rng.random(shape + (len(free),)).argsort(-1).argsort(-1)  # (A, P, F) a random order of them
        mask = {a: ranks[..., f] < k for f, a in enumerate(free)}
        do = {}
        for a in free:
            if a == "digit":  # any digit but the factual one, uniformly
                do[a] = (np.asarray(query.obs["digit"])[active, None] + rng.integers(1, 10, shape)) % 10
            else:
                do[a] = rng.uniform(*self.space.bounds(a), shape).round(DECIMALS)
        return do, mask

    def _render(self, query: Query, noise: dict[str, np.ndarray], latents0: torch.Tensor, active: np.ndarray,
                do: dict[str, np.ndarray], mask: dict[str, np.ndarray]) -> torch.Tensor:
        """(A*P, C, 28, 28) the candidates (or (A, C, 28, 28) the factuals when `do` is empty), one decoder call.

        Attributes a candidate does not set follow the SCM's mechanisms, row by row: a candidate that sets only
        thickness moves intensity, one that sets the digit moves a hue that follows the digit.
        """
        per = POPULATION if do else 1
        device = self.space.device

        def column(a: str) -> torch.Tensor:  # (A*per,) the candidate's value where it sets `a`, else the factual
            factual = np.repeat(np.asarray(query.obs[a], np.float64)[active], per)
            chosen = np.where(mask[a], do[a], factual.reshape(-1, per)).ravel() if a in do else factual
            return torch.as_tensor(chosen, dtype=torch.float32, device=device)

        values = {"digit": column("digit").round().long(), "thickness": column("thickness")}
        values = self.space.follow(values, {k: np.repeat(np.asarray(v)[active], per) for k, v in noise.items()},
                                   query.coloured)
        for a in ("intensity", "hue"):
            if a in do:  # set where the candidate sets it, followed elsewhere
                values[a] = torch.where(torch.as_tensor(mask[a].ravel(), device=device), column(a), values[a])
        return self.space.render(latents0[active].repeat_interleave(per, 0), values, query.coloured)

    def _distance(self, query: Query, active: np.ndarray, do: dict[str, np.ndarray], mask: dict[str, np.ndarray]
                  ) -> np.ndarray:
        """(A, P) the size of each do() set: each attribute's change over its range, a new digit costs 1.

        Only the attributes set count: what follows through the mechanisms is the consequence, not the edit.
        """
        total = np.zeros(mask[next(iter(mask))].shape)
        for a, value in do.items():
            if a == "digit":
                change = np.ones_like(total)
            else:
                low, high = self.space.bounds(a)
                change = np.abs(value - np.asarray(query.obs[a], np.float64)[active, None])
                if a == "hue":
                    change = np.minimum(change, 1.0 - change)  # hue is a circle: 0.95 is next to 0.05
                change = change / (high - low)
            total += np.where(mask[a], change, 0.0)
        return total

    def _answer(self, query: Query, classifier: Classifier, noise: dict[str, np.ndarray], latents0: torch.Tensor,
                do: list[dict[str, float]], current: np.ndarray, goal: np.ndarray, first: np.ndarray,
                frames: list[torch.Tensor], config: SearchConfig, tried: str | None) -> SearchResult:
        """Re-makes each kept do() set through the SCM, re-renders and re-checks it; says why where none held.

        `tried` says what was searched (None: nothing could be, every attribute being locked).
        """
        n, world = len(query), self.space.world(query)
        rows = [world.counterfactual({k: np.asarray(v)[i:i + 1] for k, v in noise.items()}, do[i]) for i in range(n)]
        values = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}  # each (B,)
        parents = {k: torch.as_tensor(v, dtype=torch.float32, device=self.space.device) for k, v in values.items()}
        parents["digit"] = parents["digit"].long()
        with torch.inference_mode():
            images = self.space.render(latents0, parents, query.coloured)  # (B, C, 28, 28)
        pred = read(classifier, images)
        has_do = np.array([bool(d) for d in do])  # an empty do() is the factual: never an answer
        found = flipped(pred, current, goal) & has_do
        notes = [self._note(ok, bool(d), p, c, g, tried, list(classifier.classes))
                 for ok, d, p, c, g in zip(found, do, pred, current, goal)]
        return SearchResult(self.name, found, do, values, images.cpu(), pred, np.where(goal == ANY, pred, goal),
                            np.zeros(n), np.where(found, first, -1), path_of(frames, images, config.frames), notes)

    @staticmethod
    def _note(ok: bool, kept: bool, pred: int, current: int, goal: int, tried: str | None, classes: list[str]
              ) -> str:
        if ok:
            return ""
        if tried is None:
            return "no counterfactual found: every attribute is locked"
        if kept:  # a candidate flipped during the search, but not once re-made through the SCM's mechanisms
            return no_flip_note("(the do() set kept did not hold when re-made by the SCM)", pred, current, goal,
                                classes)
        return no_flip_note(tried, pred, current, goal, classes)
