"""Whether the generator can vouch for a style-only flip: the checks that AIP and black-box AIP share.

With the digit and the image's latent locked, an answer is a pure do() on the continuous attributes, and its TRUE
counterfactual is what the world would draw. The search only sees the generator's drawing, so a flip that the
generator's own error makes is a false alarm about the classifier. Measured before the search (`measure`): the
generator's bias on the classifier (`MorphoSpace.bias`), and for each digit whether its redrawing with no do()
still reads the class the classifier reads on the photo, and how much of that class's lead the redrawing takes
off; and its counterfactual bias (`cf_bias.py`): per thickness, how far its drawing of a do() on training digits
is read from the TRUE picture of the same do(). During the search (`floor`), a flip must lead by that much at its
own thickness; after it (`decline`): a flip the generator may have made is declined, the reason in the note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.search import cf_bias
from explorer.counterfactual.search.base import Query, SearchResult, lead
from explorer.counterfactual.search.space import MorphoSpace
from explorer.interfaces import Classifier

PREFIX = "no style-only counterfactual the generator can vouch for: "
# logits a flip aims above the counterfactual bias, so that hardening's rounding (0.01 of an attribute) does not
# take the final answer just under it and get it declined
CUSHION = 0.1


@dataclass(frozen=True)
class Vouching:
    """What the generator's redrawing of each factual digit does to the classifier's reading."""

    bias: float  # logits, at least 0: a flip's margin must reach it (MorphoSpace.bias)
    anchored: np.ndarray  # (B,) the redrawing reads the class read on the photo; else any flip is the generator's
    drop: np.ndarray  # (B,) logits the redrawing takes off that class's lead (negative: adds to it)
    redrawn: np.ndarray  # (B,) the class read on the redrawing
    cf: cf_bias.CounterfactualBias | None  # per thickness: the margin a flip there must reach; None: not asked

    def floor(self, thickness: torch.Tensor, base: float) -> torch.Tensor:
        """(N,) thickness -> (N,) the margin a search aims for there: `base`, or the counterfactual bias (plus
        CUSHION) where the space measures one (`MorphoSpace.cf_digits`), whichever is larger."""
        if self.cf is None:
            return torch.full(thickness.shape, float(base))
        return torch.clamp(self.cf.at(thickness) + CUSHION, min=base)


def measure(space: MorphoSpace, query: Query, classifier: Classifier, latents: torch.Tensor,
            current: np.ndarray) -> Vouching:
    """The checks' measurements for the factual digits of `query` (latents (B, Z): their abduction)."""
    factual = {k: torch.as_tensor(np.asarray(v), dtype=torch.long if k == "digit" else torch.float32)
               for k, v in query.obs.items()}
    with torch.inference_mode():  # the classifier's logits on the photo and on the generator's redrawing of it
        photo = classifier.logits(query.images().to(space.device)).float().cpu()
        redrawn = classifier.logits(space.render(latents, factual, query.coloured)).float().cpu()
    cur = torch.as_tensor(current)
    return Vouching(max(0.0, space.bias(classifier, query.coloured)), redrawn.argmax(1).numpy() == current,
                    (lead(photo, cur) - lead(redrawn, cur)).numpy(), redrawn.argmax(1).numpy(),
                    cf_bias.for_classifier(space, classifier, query.coloured, space.cf_digits)
                    if space.cf_digits else None)


def decline(v: Vouching, result: SearchResult, classifier: Classifier, current: np.ndarray, device) -> SearchResult:
    """Marks not found (in place, the reason in the note) every answer the generator may have made: on a digit
    whose redrawing already reads another class, flipping by less than that digit's own drop, or leading by less
    than the generator's counterfactual bias at the answer's thickness."""
    names = list(classifier.classes)
    with torch.inference_mode():
        after = classifier.logits(result.images.to(device)).float().cpu()
    short = result.found & (-lead(after, torch.as_tensor(current)).numpy() < v.drop)  # (B,) within the error
    ahead = lead(after, torch.as_tensor(result.pred)).numpy()  # (B,) how far the answer's class leads on the drawing
    need = (np.zeros(len(ahead)) if v.cf is None else
            v.cf.at(torch.as_tensor(np.asarray(result.values["thickness"], np.float64))).numpy())  # (B,)
    # (B,) within the error at the answer's style (only where the counterfactual bias was asked for)
    unsure = result.found & ~short & v.anchored & (ahead < need) & (v.cf is not None)
    for i in np.flatnonzero(unsure):
        result.found[i] = False
        result.notes[i] = PREFIX + (
            f"the flip found ({names[int(result.pred[i])]}) leads by {ahead[i]:.1f} logits on the generator's drawing, "
            f"less than the {need[i]:.1f} logits by which its drawings of training digits at thickness "
            f"{float(np.asarray(result.values['thickness'])[i]):.1f} px can differ from the TRUE ones")
    for i in np.flatnonzero(~v.anchored | short):
        result.found[i] = False
        result.notes[i] = PREFIX + (
            f"its redrawing of this digit already reads {names[int(v.redrawn[i])]}, where the classifier reads the "
            f"digit as {names[int(current[i])]}" if not v.anchored[i] else
            f"the flip found ({names[int(result.pred[i])]}) is smaller than the {v.drop[i]:.1f} logits by which the "
            "generator's redrawing of this digit already weakens the classifier's reading")
    return result
