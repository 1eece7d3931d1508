"""AIP: counterfactual search in the generator's attribute-informed latent space.

After Yang, Liu, Du and Hu, "Generative Counterfactuals for Neural Networks via Attribute-Informed
Perturbation" (2021). No public code exists; this is written here from the method's idea. From the
factual abduction, gradient descent moves
- the continuous attributes (thickness, intensity; hue in the colour world), each inside its range,
- the digit, relaxed to class probabilities (softmax of free logits) in the decoder's condition,
- the image's own latent,
toward a classifier reading the target by a margin, at the cost of each attribute's change on its own scale,
the digit given up and the latent moved. Attributes not searched follow the SCM's mechanisms (do(thickness)
moves intensity unless intensity is searched too), so every answer is a do() set plus a latent offset. At the
end the digit is hardened, the answer re-made from its do() by the SCM, re-decoded and re-checked.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.counterfactual.search.base import (ANY, Query, SearchConfig, SearchResult, flipped, margin_loss,
                                                 read, targets)
from explorer.counterfactual.search.descent import no_flip_note
from explorer.counterfactual.search.space import MorphoSpace, soft_digit
from explorer.interfaces import Classifier
from explorer.scm.morpho import SPECS
from explorer.types import VarSpec

DIGIT_CONFIDENCE = 4.0  # initial logit of the factual digit: its probability starts at ~0.86, free to move
# Adam moves every coordinate by about its step size per step, whatever its gradient: the step sizes set the
# order in which the search tries things. The digit's logits move fastest, so the search tries another digit
# before it distorts the style; the attributes move slowest, so they change only where they pay.
LR_SCALE = {"digit": 3.0, "latent": 0.5, "attributes": 0.3}
EDGE = 1e-3  # keeps an attribute's starting value off its range's ends, where the logit parametrisation is flat


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EDGE, 1 - EDGE)
    return torch.log(p) - torch.log1p(-p)


class _Attributes:
    """The searched attributes as free parameters: a logit of the position in the range, so a value cannot
    leave its slider's range; hue instead is circular (red sits at both ends of the wheel), so it is its own
    parameter taken modulo 1 and its distance is measured round the circle."""

    def __init__(self, space: MorphoSpace, start: dict[str, torch.Tensor], names: list[str]):
        self.space, self.start = space, start
        self.low = {a: space.bounds(a)[0] for a in names}
        self.span = {a: space.bounds(a)[1] - space.bounds(a)[0] for a in names}
        self.raw = {a: (start[a].clone() if a == "hue" else _logit((start[a] - self.low[a]) / self.span[a])
                        ).requires_grad_(True) for a in names}

    def values(self) -> dict[str, torch.Tensor]:
        return {a: (r % 1.0 if a == "hue" else self.low[a] + self.span[a] * torch.sigmoid(r)) for a, r in self.raw.items()}

    def cost(self, values: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """(B,) each attribute's change over its range (hue: the shorter way round)."""
        total = 0.0
        for a in self.raw:
            d = (values[a] - self.start[a]).abs()  # (B,)
            total = total + (torch.minimum(d, 1.0 - d) if a == "hue" else d / self.span[a])
        return total


class AIPSearch:
    """Gradient AIP over the image world's generator, for classifiers with gradients."""

    name = "aip"

    def __init__(self, space: MorphoSpace):
        self.space = space

    def config_spec(self) -> dict[str, VarSpec]:
        return {"steps": VarSpec("steps", "continuous", 10, 500, 200, 10, "steps at most"),
                "lr": VarSpec("lr", "continuous", 0.01, 0.5, 0.1, 0.01, "step size"),
                "margin": VarSpec("margin", "continuous", 0.0, 5.0, 1.0, 0.1, "logit margin of the flip"),
                "attr_weight": VarSpec("attr_weight", "continuous", 0.0, 5.0, 1.0, 0.1, "cost of an attribute change"),
                "latent_weight": VarSpec("latent_weight", "continuous", 0.0, 1.0, 0.05, 0.01, "cost of a latent change")}

    def search(self, query: Query, classifier: Classifier, target: int | np.ndarray | None,
               config: SearchConfig) -> SearchResult:
        """The closest do() set (+ latent offset) found that makes `classifier` read `target` (None: any other)."""
        n, locks = len(query), set(config.locks)
        noise, latents0 = self.space.abduct(query)  # SCM noise; (B, Z) image latents
        current = read(classifier, query.images())  # (B,) what the classifier reads now
        goal = targets(target, n)
        searched = [a for a in self.space.attributes(query) if a not in locks]
        free_digit, free_latent = "digit" not in locks, "latent" not in locks
        if not (searched or free_digit or free_latent):
            return self._nothing(query, current, goal, "no counterfactual found: every attribute is locked")
        start = {a: torch.as_tensor(np.asarray(query.obs[a]), dtype=torch.float32) for a in self.space.attributes(query)}
        attrs = _Attributes(self.space, start, searched)
        digit0 = torch.as_tensor(np.asarray(query.obs["digit"]), dtype=torch.long)  # (B,)
        digit_logits = (DIGIT_CONFIDENCE * torch.nn.functional.one_hot(digit0, 10).float()).requires_grad_(free_digit)
        shift = torch.zeros_like(latents0, requires_grad=free_latent)  # (B, Z)
        groups = [{"params": list(attrs.raw.values()), "lr": config.lr * LR_SCALE["attributes"]}] if searched else []
        groups += [{"params": [p], "lr": config.lr * LR_SCALE[k]}
                   for k, p, free in (("digit", digit_logits, free_digit), ("latent", shift, free_latent)) if free]
        opt = torch.optim.Adam(groups)
        cur_t, goal_t = torch.as_tensor(current), torch.as_tensor(goal)
        first = np.full(n, -1)
        path, stride = [], 1  # images along the search, thinned as it goes so memory stays bounded
        params = [p for p in (*attrs.raw.values(), digit_logits, shift) if p.requires_grad]
        kept = [p.detach().clone() for p in params]  # each query's parameters when it first flipped clearly

        def point() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
            values = attrs.values()
            soft = soft_digit(digit_logits)  # (B, 10)
            # straight through: the decoder sees the hardened digit, so a flip found here survives hardening;
            # the gradient still reaches every digit's logit through the soft probabilities
            hard = torch.nn.functional.one_hot(soft.argmax(1), 10).to(soft.dtype)
            values["digit"] = hard + soft - soft.detach()
            values.setdefault("thickness", start["thickness"])
            values = self.space.follow(values, noise, query.coloured)
            return values, self.space.render(latents0 + shift, values, query.coloured)  # (B, C, 28, 28)

        for step in range(config.steps):
            values, images = point()
            logits = classifier.logits(images)  # (B, K)
            hinge = margin_loss(logits, cur_t, goal_t, config.margin)  # (B,)
            attr = attrs.cost(values)  # (B,)
            gave_up = 1.0 - soft_digit(digit_logits).gather(1, digit0[:, None])[:, 0]  # (B,) factual digit's lost mass
            moved = (shift ** 2).mean(1)  # (B,)
            loss = hinge + config.attr_weight * attr + config.digit_weight * gave_up + config.latent_weight * moved
            if step % stride == 0:
                path.append(images.detach())
                if len(path) >= 4 * config.frames:
                    path, stride = path[::2], stride * 2
            done = (hinge.detach() == 0).numpy() & (first < 0)
            first[done] = step
            with torch.no_grad():
                for p, keep in zip(params, kept):
                    keep[done] = p[done]
            if (first >= 0).all():
                break
            opt.zero_grad()
            loss.sum().backward()  # queries are independent: the sum gives each its own gradient
            opt.step()
            with torch.no_grad():  # finished queries go back to where they flipped (Adam's momentum moves them)
                for p, keep in zip(params, kept):
                    p[first >= 0] = keep[first >= 0]
        path.append(images.detach())
        frames = [path[i] for i in np.linspace(0, len(path) - 1, config.frames).round().astype(int)]
        with torch.no_grad():
            moved = {a: v.detach() for a, v in attrs.values().items()}
        return self._harden(query, classifier, noise, latents0, shift.detach(), digit_logits.detach(), moved,
                            start, current, goal, first, frames, config)

    def _harden(self, query, classifier, noise, latents0, shift, digit_logits, moved, start, current, goal, first,
                path, config) -> SearchResult:
        """The answer as a do() set: the digit hardened, the SCM's mechanisms applied, re-decoded, re-checked."""
        n = len(query)
        digit = digit_logits.argmax(1).numpy()  # (B,)
        do = []
        for i in range(n):
            # a move under half a slider step is no change: it would not show on the page's slider
            d = {a: round(float(v[i]), 2) for a, v in moved.items()
                 if abs(float(v[i] - start[a][i])) >= SPECS[a].step / 2}
            if digit[i] != int(query.obs["digit"][i]):
                d["digit"] = int(digit[i])
            do.append(d)
        world = self.space.world(query)
        values = {k: np.empty(n) for k in query.obs}
        for i in range(n):  # each query has its own do() set, so its own pass through the SCM
            row = world.counterfactual({k: v[i:i + 1] for k, v in noise.items()}, do[i])
            for k in values:
                values[k][i] = row[k][0]
        torch_values = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in values.items()}
        torch_values["digit"] = torch.as_tensor(values["digit"]).long()
        with torch.inference_mode():
            images = self.space.render(latents0 + shift, torch_values, query.coloured)
        pred = read(classifier, images)
        found = flipped(pred, current, goal)
        notes = ["" if ok else no_flip_note(f"in {config.steps} steps", p, c, g, list(classifier.classes))
                 for ok, p, c, g in zip(found, pred, current, goal)]
        return SearchResult(self.name, found, do, values, images, pred, np.where(goal == ANY, pred, goal),
                            shift.norm(dim=1).numpy(), np.where(found, first, -1),
                            torch.stack(path, 1) if path else None, notes)

    def _nothing(self, query: Query, current: np.ndarray, goal: np.ndarray, note: str) -> SearchResult:
        n = len(query)
        return SearchResult(self.name, np.zeros(n, bool), [{} for _ in range(n)], dict(query.obs), query.images(),
                            current, goal, np.zeros(n), np.full(n, -1), None, [note] * n)
