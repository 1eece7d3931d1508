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

from explorer.counterfactual.search.base import Query, SearchConfig, SearchResult, flipped, read, targets
from explorer.counterfactual.search.descent import answer, do_distance, render_candidates
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
            return answer(self.name, self.space, query, classifier, noise, latents0, [{} for _ in range(n)], current,
                          goal, np.full(n, -1), [], config, None)
        rng = np.random.default_rng(config.seed)
        best_do, best_cost = [{} for _ in range(n)], np.full(n, np.inf)
        first, calm = np.full(n, -1), np.zeros(n, int)
        with torch.inference_mode():  # the factual redrawn: the strip's start, until a flip is found
            factual = render_candidates(self.space, query, noise, latents0, np.arange(n), {}, {})  # (B, C, 28, 28)
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
                images = render_candidates(self.space, query, noise, latents0[active].repeat_interleave(POPULATION, 0),
                                           active, do, mask)  # (A*P, C, 28, 28)
            pred = read(classifier, images).reshape(len(active), POPULATION)  # (A, P)
            flips = flipped(pred, current[active, None], goal[active, None])  # (A, P)
            cost = np.where(flips, do_distance(self.space, query, active, do, mask), np.inf)  # (A, P)
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
        return answer(self.name, self.space, query, classifier, noise, latents0, best_do, current, goal, first, frames,
                      config, tried)

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
