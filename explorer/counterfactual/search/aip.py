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

import dataclasses

import numpy as np
import torch

from explorer.counterfactual.search import vouching
from explorer.counterfactual.search.base import (ANY, Query, SearchConfig, SearchResult, flipped,
                                                 margin_loss, read, targets)
from explorer.counterfactual.search.descent import no_flip_note
from explorer.counterfactual.search.space import MorphoSpace, soft_digit
from explorer.counterfactual.search.style_scan import (AXIS, LOCAL, LOCAL_FROM, SCAN, StyleScan, closest, scan,
                                                       strip, vouch)
from explorer.interfaces import Classifier
from explorer.scm.morpho import SPECS
from explorer.types import VarSpec

DIGIT_CONFIDENCE = 4.0  # initial logit of the factual digit: its probability starts at ~0.86, free to move
# Adam moves every coordinate by about its step size per step, whatever its gradient: the step sizes set the
# order in which the search tries things. The digit's logits move fastest, so the search tries another digit
# before it distorts the style; the attributes move slowest, so they change only where they pay.
LR_SCALE = {"digit": 3.0, "latent": 0.5, "attributes": 0.3}
PATIENCE = 25  # steps the other restarts of a query get once one of them has flipped
STALL, STALL_GAIN = 60, 0.01  # a query whose best hinge has not fallen by STALL_GAIN in STALL steps gives up
# Style only: descent (from the scan's closest misses) follows a scan that found no flip only where the scan came
# within this many logits of one. Farther, no flip is usually there (the grey CNNs: docs/search.md), and descent
# would spend seconds finding that out.
POLISH_WITHIN = 2.0
EDGE = 1e-3  # keeps an attribute's starting value off its range's ends, where the logit parametrisation is flat


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EDGE, 1 - EDGE)
    return torch.log(p) - torch.log1p(-p)


class _Attributes:
    """The searched attributes as free parameters: a logit of the position in the range, so a value cannot
    leave its slider's range; hue instead is circular (red sits at both ends of the wheel), so it is its own
    parameter taken modulo 1 and its distance is measured round the circle."""

    def __init__(self, space: MorphoSpace, start: dict[str, torch.Tensor], names: list[str],
                 init: dict[str, torch.Tensor]):
        self.space, self.start = space, start  # `start`: the factual values, which every change is measured from
        self.low = {a: space.bounds(a)[0] for a in names}
        self.span = {a: space.bounds(a)[1] - space.bounds(a)[0] for a in names}
        self.raw = {a: (init[a].clone() if a == "hue" else _logit((init[a] - self.low[a]) / self.span[a])
                        ).requires_grad_(True) for a in names}

    def values(self) -> dict[str, torch.Tensor]:
        return {a: (r % 1.0 if a == "hue" else self.low[a] + self.span[a] * torch.sigmoid(r)) for a, r in self.raw.items()}

    def cost(self, values: dict[str, torch.Tensor], rows: torch.Tensor) -> torch.Tensor | float:
        """(A,) each attribute's change over its range (hue: the shorter way round), for `values` of `rows`."""
        total = 0.0
        for a in self.raw:
            d = (values[a] - self.start[a][rows]).abs()  # (A,)
            total = total + (torch.minimum(d, 1.0 - d) if a == "hue" else d / self.span[a])
        return total


def _repeat(query: Query, r: int) -> Query:
    """Each query `r` times in a row: (B*R) rows, query-major."""
    if r == 1:
        return query
    return Query(query.grey.repeat_interleave(r, 0), {k: np.repeat(np.asarray(v), r) for k, v in query.obs.items()},
                 {k: np.repeat(np.asarray(v), r) for k, v in query.noise.items()}, query.coloured)


def _starts(space: MorphoSpace, start: dict[str, torch.Tensor], names: list[str], r: int, seed: int
            ) -> dict[str, torch.Tensor]:
    """Where each row's searched attributes start: restart 0 at the factual; restart k turns hue k/R of the way
    round the wheel and draws the other attributes uniformly inside their ranges (seeded)."""
    if r == 1 or not names:
        return start
    k = torch.arange(len(start[names[0]])) % r  # (BR,) each row's restart
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for a in names:
        low, high = space.bounds(a)
        if a == "hue":
            moved = (start[a] + k / r) % 1.0
        else:
            moved = low + (high - low) * (EDGE + (1 - 2 * EDGE) * torch.rand(len(k), generator=gen))
        out[a] = torch.where(k == 0, start[a], moved)
    return out


class _Stopping:
    """Which rows still search. A row stops when it flips clearly; a query (its R rows) stops PATIENCE steps after
    its first flip (a later restart may still find a cheaper one), or gives up when its best hinge has not fallen
    by STALL_GAIN in STALL steps (nothing is coming: the search is pressed against a range's end or a lock)."""

    def __init__(self, n: int, r: int):
        self.n, self.r = n, r
        self.first = np.full(n * r, -1)  # (BR,) the step each row first flipped
        self.halted = np.zeros(n * r, bool)  # (BR,)
        self.best = np.full(n, np.inf)  # (B,) each query's best hinge so far
        self.since = np.zeros(n, int)  # (B,) steps since it last improved by STALL_GAIN
        self.flipped_at = np.full(n, -1)  # (B,) the step of its first flip

    def active(self) -> np.ndarray:
        return ~self.halted

    def update(self, step: int, rows: np.ndarray, hinge: np.ndarray) -> np.ndarray:
        """Takes the active rows' hinges at `step`; returns (BR,) the rows that stop now."""
        before = self.halted.copy()
        flip = rows[hinge == 0]
        self.first[flip] = step
        self.halted[flip] = True
        q = rows // self.r
        best = np.full(self.n, np.inf)
        np.minimum.at(best, q, hinge)
        seen = np.unique(q)
        gained = best[seen] < self.best[seen] - STALL_GAIN
        self.since[seen] = np.where(gained, 0, self.since[seen] + 1)
        self.best[seen] = np.minimum(self.best[seen], best[seen])
        new = np.unique(flip // self.r)
        self.flipped_at[new[self.flipped_at[new] < 0]] = step
        over = ((self.flipped_at >= 0) & (step - self.flipped_at >= PATIENCE)) | (self.since >= STALL)
        self.halted |= np.repeat(over, self.r)
        return self.halted & ~before

    def cheapest(self, cost: np.ndarray) -> np.ndarray:
        """(B,) for each query the row with the cheapest flip (its first row when none flipped)."""
        c = np.where(self.first >= 0, cost, np.inf).reshape(self.n, self.r)  # (B, R)
        return np.arange(self.n) * self.r + np.where(np.isfinite(c).any(1), c.argmin(1), 0)


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
                "latent_weight": VarSpec("latent_weight", "continuous", 0.0, 1.0, 0.05, 0.01, "cost of a latent change"),
                "plausibility_weight": VarSpec("plausibility_weight", "continuous", 0.0, 1.0, 0.1, 0.01,
                                               "cost of a do() set the world would hardly produce"),
                "restarts": VarSpec("restarts", "continuous", 1, 8, 4, 1, "starting points per digit")}

    def search(self, query: Query, classifier: Classifier, target: int | np.ndarray | None,
               config: SearchConfig) -> SearchResult:
        """The closest do() set (+ latent offset) found that makes `classifier` read `target` (None: any other).

        Each query is searched from `config.restarts` starting points at once (rows q*R ... q*R + R-1): the
        factual, then the searched attributes elsewhere in their ranges (hue turned round the wheel). A
        classifier's reading is rarely monotone in an attribute (a colour CNN reads some hues as another digit
        and the hues either side of them as the factual one), so descent from the factual alone misses flips
        that lie past a bump. Every restart pays its distance from the factual; the cheapest flip is kept.
        """
        n, locks = len(query), set(config.locks)
        current = read(classifier, query.images())  # (B,) what the classifier reads now
        goal = targets(target, n)
        searched = [a for a in self.space.attributes(query) if a not in locks]
        free_digit, free_latent = "digit" not in locks, "latent" not in locks
        if not (searched or free_digit or free_latent):
            return self._nothing(query, current, goal, "no counterfactual found: every attribute is locked")
        if not (free_digit or free_latent):  # only the style moves: 2-3 numbers, scanned (style_scan.py)
            return self._style(query, classifier, searched, current, goal, config)
        return self._descend(query, classifier, searched, current, goal, config)

    def _descend(self, query: Query, classifier: Classifier, searched: list[str], current: np.ndarray,
                 goal: np.ndarray, config: SearchConfig, begin: dict[str, torch.Tensor] | None = None,
                 check: vouching.Vouching | None = None) -> SearchResult:
        """Gradient descent from `config.restarts` starting points per query (`begin`: {a: (B*R,)} given ones;
        `check`, style only: the margin raised to the generator's counterfactual bias at each point's thickness)."""
        n, locks = len(query), set(config.locks)
        free_digit, free_latent = "digit" not in locks, "latent" not in locks
        asked = free_digit and bool((goal != ANY).all())  # a class was asked for and the digit may become it
        # restarts differ in where the attributes start and, with a class asked for, in the digit (restart 1)
        r = max(1, int(config.restarts)) if searched else min(2, int(config.restarts)) if asked else 1
        rows = _repeat(query, r)  # B*R rows, query-major
        noise, latents0 = self.space.abduct(query)  # once per query, then shared by its R rows
        noise = {k: np.repeat(np.asarray(v), r, axis=0) for k, v in noise.items()}
        latents0 = latents0.repeat_interleave(r, 0)  # (BR, Z) image latents
        start = {a: torch.as_tensor(np.asarray(rows.obs[a]), dtype=torch.float32) for a in self.space.attributes(query)}
        at_target = (torch.arange(len(rows)) % r == 1) if asked and r > 1 else torch.zeros(len(rows), dtype=torch.bool)
        inits = _starts(self.space, start, searched, r, config.seed) if begin is None else begin
        inits = {a: torch.where(at_target, start[a], v) for a, v in inits.items()}
        attrs = _Attributes(self.space, start, searched, inits)
        digit0 = torch.as_tensor(np.asarray(rows.obs["digit"]), dtype=torch.long)  # (BR,)
        # restart 1 of a query with a class asked for starts as that digit, its style as the factual's: the
        # plainest answer a reader would give ("write it as a 3"), which descent from the factual digit can miss
        # when the classifier flips more cheaply on style first
        digit_start = torch.where(at_target, torch.as_tensor(np.repeat(goal, r)), digit0)  # (BR,)
        digit_logits = (DIGIT_CONFIDENCE * torch.nn.functional.one_hot(digit_start, 10).float()
                        ).requires_grad_(free_digit)
        shift = torch.zeros_like(latents0, requires_grad=free_latent)  # (BR, Z)
        groups = [{"params": list(attrs.raw.values()), "lr": config.lr * LR_SCALE["attributes"]}] if searched else []
        groups += [{"params": [p], "lr": config.lr * LR_SCALE[k]}
                   for k, p, free in (("digit", digit_logits, free_digit), ("latent", shift, free_latent)) if free]
        opt = torch.optim.Adam(groups)
        cur_t = torch.as_tensor(np.repeat(current, r))
        goal_t = torch.as_tensor(np.repeat(goal, r))
        params = [p for p in (*attrs.raw.values(), digit_logits, shift) if p.requires_grad]
        stop = _Stopping(n, r)
        kept = [p.detach().clone() for p in params]  # each row's parameters where it stopped
        shown = query.images().repeat_interleave(r, 0).float()  # (BR, C, 28, 28) each row's latest image
        path, stride = [], 1  # images along the search, thinned as it goes so memory stays bounded

        def point(act: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
            """The active rows' values and (A, C, 28, 28) images; only they are decoded and differentiated."""
            values = {a: v[act] for a, v in attrs.values().items()}
            soft = soft_digit(digit_logits[act])  # (A, 10)
            # straight through: the decoder sees the hardened digit, so a flip found here survives hardening;
            # the gradient still reaches every digit's logit through the soft probabilities
            hard = torch.nn.functional.one_hot(soft.argmax(1), 10).to(soft.dtype)
            values["digit"] = hard + soft - soft.detach()
            values.setdefault("thickness", start["thickness"][act])
            values = self.space.follow(values, {k: v[act.numpy()] for k, v in noise.items()}, query.coloured)
            return values, self.space.render(latents0[act] + shift[act], values, query.coloured)

        for step in range(config.steps):
            act = torch.as_tensor(np.flatnonzero(stop.active()))  # (A,) rows still searching
            if len(act) == 0:
                break
            values, images = point(act)
            logits = classifier.logits(images)  # (A, K)
            need = config.margin if check is None else check.floor(values["thickness"], config.margin)  # (A,)
            hinge = margin_loss(logits, cur_t[act], goal_t[act], need)  # (A,)
            attr = attrs.cost(values, act)  # (A,)
            gave_up = 1.0 - soft_digit(digit_logits[act]).gather(1, digit0[act, None])[:, 0]  # (A,) factual's lost mass
            moved = (shift[act] ** 2).mean(1)  # (A,)
            odd = self.space.implausibility(values)  # (A,)
            loss = (hinge + config.attr_weight * attr + config.digit_weight * gave_up + config.latent_weight * moved
                    + config.plausibility_weight * odd)
            shown[act] = images.detach().to(shown.dtype)
            if step % stride == 0:
                path.append(shown.clone())
                if len(path) >= 4 * config.frames:
                    path, stride = path[::2], stride * 2
            halted = stop.update(step, act.numpy(), hinge.detach().numpy())  # (BR,) rows that stop here
            with torch.no_grad():
                for p, keep in zip(params, kept):
                    keep[halted] = p[halted]
            if not stop.active().any():
                break
            # the gradient of the summed loss gives each row its own; only the searched values get one (not the
            # generator's or the classifier's weights), which halves the backward pass
            grads = torch.autograd.grad(loss.sum(), params)
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
            with torch.no_grad():  # stopped rows go back to where they stopped (Adam's momentum moves them)
                done = ~stop.active()
                for p, keep in zip(params, kept):
                    p[done] = keep[done]
        path.append(shown.clone())
        with torch.no_grad():
            for p, keep in zip(params, kept):  # rows that ran to the end keep their last point
                running = stop.active()
                keep[running] = p[running]
                p.copy_(keep)
            moved = {a: v.detach() for a, v in attrs.values().items()}
            every = torch.arange(len(rows))
            cost = (config.attr_weight * attrs.cost(moved, every)
                    + config.digit_weight * (1.0 - soft_digit(digit_logits).gather(1, digit0[:, None])[:, 0])
                    + config.latent_weight * (shift ** 2).mean(1))  # (BR,) what each row's answer costs
            if "intensity" in moved:  # else intensity follows thickness and the noise stays the factual's
                cost = cost + config.plausibility_weight * self.space.implausibility(
                    {"thickness": moved.get("thickness", start["thickness"]), "intensity": moved["intensity"]})
        pick = stop.cheapest(cost.numpy())  # (B,) the row kept for each query
        frames = [path[i][pick] for i in np.linspace(0, len(path) - 1, config.frames).round().astype(int)]
        return self._harden(query, classifier, {k: v[pick] for k, v in noise.items()}, latents0[pick],
                            shift.detach()[pick], digit_logits.detach()[pick], {a: v[pick] for a, v in moved.items()},
                            {a: v[pick] for a, v in start.items()}, current, goal, stop.first[pick], frames, config)

    def _style(self, query: Query, classifier: Classifier, searched: list[str], current: np.ndarray,
               goal: np.ndarray, config: SearchConfig) -> SearchResult:
        """The digit and latent locked: the cheapest flip of a scan of the attributes' box, pulled back toward the
        factual (style_scan.py), then hardened and re-checked like every answer.

        Every such answer is a pure do() whose TRUE counterfactual the world can draw, so a flip that exists only on
        the generator's drawing is a false alarm about the classifier. The search declines where the generator
        itself may have made the flip (`vouching.py`, shared with black-box AIP); descent's answers obey the scan's
        hard plausibility rule (`vouch`). Measured in docs/search.md: fewer flips, and those that remain hold."""
        noise, latents0 = self.space.abduct(query)
        check = vouching.measure(self.space, query, classifier, latents0, current)
        # a flip on the generator's drawing by less than the generator's own bias on this classifier may be the
        # generator's doing: the margin is raised to it (the project's CNNs: below the default margin, no change)
        config = dataclasses.replace(config, margin=max(config.margin, check.bias))
        scanner = StyleScan(self.space, query, classifier, searched, noise, latents0, current, goal, config,
                            None if check.cf is None else check.floor)
        best, found, pool = scan(scanner)
        missed = np.flatnonzero(~found)
        starts, gap = closest(pool, missed, max(1, int(config.restarts)))
        near = gap.numpy() <= POLISH_WITHIN
        if near.any():  # descent from the closest misses: flip regions narrower than the scan's spacing
            q = missed[near]
            sub = Query(query.grey[q], {k: np.asarray(v)[q] for k, v in query.obs.items()},
                        {k: np.asarray(v)[q] for k, v in query.noise.items()}, query.coloured)
            polished = self._descend(sub, classifier, searched, current[q], goal[q], config,
                                     {a: v[near].reshape(-1) for a, v in starts.items()}, check)
            hit = np.flatnonzero(polished.found)
            kept, ok = vouch(scanner, q[hit], {a: torch.as_tensor(np.asarray(polished.values[a])[hit],
                                                                  dtype=torch.float32) for a in searched},
                             check.bias) if len(hit) else ({}, np.zeros(0, bool))
            for j in np.flatnonzero(ok) if len(hit) else []:
                found[q[hit[j]]] = True
                for a in searched:
                    best[a][q[hit[j]]] = float(kept[a][j])
        found &= check.anchored  # else any "flip" would be the generator's doing
        loose = torch.as_tensor(~check.anchored)
        for a in searched:
            best[a][loose] = scanner.start[a][loose]
        digit_logits = DIGIT_CONFIDENCE * torch.nn.functional.one_hot(scanner.digit, 10).float()  # (B, 10)
        tried = (f"in a scan of {SCAN + AXIS * len(searched) + LOCAL * LOCAL_FROM} do() sets of "
                 f"{', '.join(searched[:-1]) + ' and ' if len(searched) > 1 else ''}{searched[-1]} "
                 "(digit and latent kept)")
        result = self._harden(query, classifier, noise, latents0, torch.zeros_like(latents0), digit_logits, best,
                              scanner.start, current, goal, np.where(found, 0, -1), strip(scanner, best), config,
                              tried)
        return vouching.decline(check, result, classifier, current, self.space.device)

    def _harden(self, query, classifier, noise, latents0, shift, digit_logits, moved, start, current, goal, first,
                path, config, tried: str | None = None) -> SearchResult:
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
        notes = ["" if ok else no_flip_note(tried or f"in {config.steps} steps", p, c, g, list(classifier.classes))
                 for ok, p, c, g in zip(found, pred, current, goal)]
        return SearchResult(self.name, found, do, values, images, pred, np.where(goal == ANY, pred, goal),
                            shift.norm(dim=1).numpy(), np.where(found, first, -1),
                            torch.stack(path, 1) if path else None, notes)

    def _nothing(self, query: Query, current: np.ndarray, goal: np.ndarray, note: str) -> SearchResult:
        n = len(query)
        return SearchResult(self.name, np.zeros(n, bool), [{} for _ in range(n)], dict(query.obs), query.images(),
                            current, goal, np.zeros(n), np.full(n, -1), None, [note] * n)
