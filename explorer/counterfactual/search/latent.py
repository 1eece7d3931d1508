"""Latent-only counterfactual search: the attributes held at their factual values, only the image latent moves.

The baseline that isolates AIP's other half. The digit, thickness, intensity (and hue) stay as observed, so
every answer's do() is empty; gradient descent moves the image's own latent (abducted by the generator) toward
the classifier reading the target by a margin, at a cost of the latent's mean squared shift. What such a flip
changes has no name: it is whatever the generator's latent happens to encode (slant, stroke style, or a digit
that morphs into another while still labelled the old one).
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.counterfactual.search.base import ANY, Query, SearchConfig, SearchResult, flipped, read, targets
from explorer.counterfactual.search.descent import descend, no_flip_note, path_of
from explorer.counterfactual.search.space import MorphoSpace
from explorer.interfaces import Classifier
from explorer.types import VarSpec


class LatentSearch:
    """Gradient search over the image latent alone, the attributes fixed at their factual values."""

    name = "latent"

    def __init__(self, space: MorphoSpace):
        self.space = space

    def config_spec(self) -> dict[str, VarSpec]:
        d = SearchConfig()  # the defaults the search runs with when the caller sets nothing
        return {"steps": VarSpec("steps", "continuous", 10, 500, d.steps, 10, "steps at most"),
                "lr": VarSpec("lr", "continuous", 0.01, 0.5, d.lr, 0.01, "step size"),
                "margin": VarSpec("margin", "continuous", 0.0, 5.0, d.margin, 0.1, "logit margin of the flip"),
                "latent_weight": VarSpec("latent_weight", "continuous", 0.0, 1.0, d.latent_weight, 0.01,
                                         "cost of a latent change")}

    def search(self, query: Query, classifier: Classifier, target: int | np.ndarray | None,
               config: SearchConfig) -> SearchResult:
        """The closest latent found that makes `classifier` read `target` (None: any other class)."""
        n = len(query)
        noise, latents0 = self.space.abduct(query)  # SCM noise; (B, Z) the factual image latents
        current = read(classifier, query.images())  # (B,) what the classifier reads on the factual digits
        goal = targets(target, n)
        if "latent" in config.locks:  # the latent is all this search may move
            return self._nothing(query, current, goal, "no counterfactual found: the latent is locked, and this "
                                 "search moves nothing else")
        values = self.space.follow(self._factual(query), noise, query.coloured)  # every parent, held

        def cost(z: torch.Tensor) -> torch.Tensor:
            return config.latent_weight * ((z - latents0) ** 2).mean(1)  # (B,)

        run = descend(latents0, lambda z: self.space.render(z, values, query.coloured), cost, classifier, current,
                      goal, config)
        with torch.inference_mode():  # the re-check only reads
            images = self.space.render(run.best, values, query.coloured)  # (B, C, 28, 28)
        pred = read(classifier, images)
        found = flipped(pred, current, goal)
        notes = ["" if ok else no_flip_note(f"in {config.steps} steps of the latent (attributes held)", p, c, g,
                                            list(classifier.classes))
                 for ok, p, c, g in zip(found, pred, current, goal)]
        shift = (run.best - latents0).norm(dim=1).cpu().numpy()  # (B,) L2 distance from the factual latent
        return SearchResult(self.name, found, [{} for _ in range(n)], self._obs(query), images.cpu(), pred,
                            np.where(goal == ANY, pred, goal), shift, np.where(found, run.first, -1),
                            path_of(run.frames, images, config.frames), notes)

    def _factual(self, query: Query) -> dict[str, torch.Tensor]:
        """The factual values as tensors on the space's device: the digit as classes, the rest as floats."""
        device = self.space.device
        out = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device) for k, v in query.obs.items()}
        out["digit"] = torch.as_tensor(np.asarray(query.obs["digit"]), dtype=torch.long, device=device)
        return out

    @staticmethod
    def _obs(query: Query) -> dict[str, np.ndarray]:
        return {k: np.asarray(v).copy() for k, v in query.obs.items()}

    def _nothing(self, query: Query, current: np.ndarray, goal: np.ndarray, note: str) -> SearchResult:
        n = len(query)
        return SearchResult(self.name, np.zeros(n, bool), [{} for _ in range(n)], self._obs(query),
                            query.images(), current, np.where(goal == ANY, current, goal), np.zeros(n),
                            np.full(n, -1), None, [note] * n)
