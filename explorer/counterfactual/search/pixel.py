"""Pixel-space counterfactual search (Wachter, Mittelstadt and Russell, 2017): gradient descent on the pixels.

The baseline AIP is measured against. From the factual image, Adam moves every pixel toward the classifier
reading the target by a margin, at an L1 cost of the change (which keeps edits sparse), clipped to 0-255 after
every step. The answer is an image, not a do() set: nothing says which attribute changed, and nothing keeps it
on the data, which is what the issue's `oracle_agrees` column shows in numbers.

The gradient loop (`descend`, in descent.py) is shared with the latent-only baseline, which moves the image latent.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from explorer.counterfactual.search.base import (ANY, Query, SearchConfig, SearchResult, flipped, read, targets)
from explorer.counterfactual.search.descent import descend, no_flip_note, path_of
from explorer.counterfactual.search.space import MorphoSpace
from explorer.interfaces import Classifier
from explorer.types import VarSpec

# The L1 term sums |change| over the C*28*28 pixels on [0, 1]. Adam moves a pixel only where the classifier's
# gradient on it beats the L1 gradient (weight x this constant), so the constant sets how sparse the edit is.
# Measured on 20 test digits: 0.1 keeps success at 1.00 on the three shipped classifiers (any other class and a
# set target) with ~20% of pixels moved by more than 10 grey levels; 0.3 halves that but drops the colour-trained
# CNN to 0.95, 1.0 the grey CNN to 0.85.
L1_PER_PIXEL = 0.1
# config.lr is shared with AIP, whose coordinates move in units of about one. Adam moves every pixel by about
# its step size a step: at 0.1 (25 grey levels) the grey CNN flipped after a median of 1 step with every pixel
# moved ~21 levels on average, so pixels take a tenth of it (a median of 9 steps, an edit half as large).
LR_SCALE = 0.1
class PixelSearch:
    """Wachter et al.'s search on the pixels of the factual image (a pixel edit is not a do())."""

    name = "pixel"

    def __init__(self, space: MorphoSpace):
        self.space = space  # only for its device: a pixel search abducts nothing

    def config_spec(self) -> dict[str, VarSpec]:
        d = SearchConfig()  # the defaults the search runs with when the caller sets nothing
        return {"steps": VarSpec("steps", "continuous", 10, 500, d.steps, 10, "steps at most"),
                "lr": VarSpec("lr", "continuous", 0.01, 0.5, d.lr, 0.01, f"step size ({LR_SCALE} of it on pixels 0-1)"),
                "margin": VarSpec("margin", "continuous", 0.0, 5.0, d.margin, 0.1, "logit margin of the flip"),
                "attr_weight": VarSpec("attr_weight", "continuous", 0.0, 5.0, d.attr_weight, 0.1,
                                       "cost of a pixel change (L1)")}

    def search(self, query: Query, classifier: Classifier, target: int | np.ndarray | None,
               config: SearchConfig) -> SearchResult:
        """The closest image found (L1 on pixels) that makes `classifier` read `target` (None: any other class)."""
        n = len(query)
        factual = query.images().to(self.space.device).float() / 255.0  # (B, C, 28, 28) on [0, 1]
        current = read(classifier, factual * 255.0)  # (B,)
        goal = targets(target, n)

        def cost(x: torch.Tensor) -> torch.Tensor:
            return config.attr_weight * L1_PER_PIXEL * (x - factual).abs().flatten(1).sum(1)  # (B,)

        # the optimiser works on [0, 1] so that its step size means the same for every classifier's input scale
        run = descend(factual, lambda x: x * 255.0, cost, classifier, current, goal,
                      replace(config, lr=config.lr * LR_SCALE), project=lambda x: x.clamp(0.0, 1.0))
        images = run.best.detach() * 255.0  # (B, C, 28, 28) on 0-255
        pred = read(classifier, images)  # the re-check: what the classifier reads on the kept pixels
        found = flipped(pred, current, goal)
        notes = ["" if ok else no_flip_note(f"in {config.steps} steps", p, c, g, list(classifier.classes))
                 for ok, p, c, g in zip(found, pred, current, goal)]
        factual_values = {k: np.asarray(v).copy() for k, v in query.obs.items()}  # pixels move, attributes do not
        return SearchResult(self.name, found, [{} for _ in range(n)], factual_values, images.cpu(), pred,
                            np.where(goal == ANY, pred, goal), np.zeros(n), np.where(found, run.first, -1),
                            path_of(run.frames, images, config.frames), notes)
