"""AIP when only the style may move: scan the attribute box, then pull the cheapest flips back toward the factual.

With the digit and the image's latent locked ("keep the digit" on the Flip page, `style_only` in `evaluate
search`), a point of AIP's space is two or three numbers: thickness and intensity, and hue in the colour world.
AIP's objective is unchanged (the classifier toward the target by the margin, each attribute's change over its
range, the plausibility of the do() set), but in so few dimensions gradient descent from a few restarts is the
slow way to minimise it: where no flip exists it runs until it stalls (seconds per query), and a colour CNN's
reading of hue has several separate bands that descent from the factual walks past. Here instead:

1. **scan**: SCAN scrambled-Sobol points over the box of the searched attributes and AXIS points along each
   attribute's own line through the factual, one decoder and one classifier call each; where none flips, LOCAL
   points around each of the closest misses;
2. **sparsify**: for the cheapest flips, each attribute moved alone to the flip's value ("hue alone" reads better
   than three small changes, and costs less when it flips);
3. **pull back**: along the segment from the factual to each of the cheapest flips (hue the shorter way round), the
   first point that flips, then BISECT halvings of the interval where the flip begins.

A flip counts only where the margin is met and, with a plausibility weight, where the world could draw the do()
set (implausibility 0: intensity's noise within Z_FREE SDs): a thick, dim digit flips classifiers on the
generator's drawing and not on the TRUE one. The margin is at least the generator's own bias on the classifier
(`MorphoSpace.bias`) and, at each point, its counterfactual bias at that point's thickness (`floor`, cf_bias.py),
by which the class the flip reaches must lead every other; answers polished by descent are held to the same rule
(`vouch`). The answer is then hardened, re-made by the SCM, re-decoded and re-checked as every AIP answer is.
Everything is forward passes: about a hundred images per query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.search.base import Query, SearchConfig, lead, margin_loss
from explorer.counterfactual.search.space import MorphoSpace
from explorer.interfaces import Classifier

SCAN = 64  # Sobol points per query over the searched attributes' box ...
AXIS = 16  # ... and points along each attribute's own line through the factual (that attribute alone moved)
LOCAL, LOCAL_FROM, LOCAL_SPAN = 16, 2, 0.125  # around the 2 closest misses, within 1/8 of each range (hue: 1/16)
KEEP = 4  # cheapest flips carried into the sparsify and pull-back stages
SEGMENT = 8  # points (t = 1/8 ... 7/8) on the segment from the factual to a flip
BISECT = 4  # halvings where the flip begins: 1/128 of the segment
ROWS = 2048  # images per decoder call, so memory stays bounded for a big batch


@dataclass
class Scanned:
    """Points scored for some queries: each (Q, P)."""

    values: dict[str, torch.Tensor]  # the searched attributes
    hinge: torch.Tensor  # margin loss: 0 where the target leads by the margin
    cost: torch.Tensor  # attribute distance + plausibility, as AIP weighs them
    ok: torch.Tensor  # a flip that counts (margin met, plausible)


class StyleScan:
    """Scores batches of style-only do() sets for a batch of queries (digit and latent fixed)."""

    def __init__(self, space: MorphoSpace, query: Query, classifier: Classifier, searched: list[str],
                 noise: dict[str, np.ndarray], latents: torch.Tensor, current: np.ndarray, goal: np.ndarray,
                 config: SearchConfig, floor: Callable[[torch.Tensor, float], torch.Tensor] | None = None):
        self.space, self.query, self.classifier, self.searched, self.config = space, query, classifier, searched, config
        self.floor = floor  # ((N,) thickness, base margin) -> (N,) the margin needed there (`Vouching.floor`)
        self.noise, self.latents = noise, latents  # (B,) arrays; (B, Z) the factual latents
        self.start = {a: torch.as_tensor(np.asarray(query.obs[a]), dtype=torch.float32)
                      for a in space.attributes(query)}  # (B,) each, the factual values
        self.digit = torch.as_tensor(np.asarray(query.obs["digit"]), dtype=torch.long)  # (B,)
        self.current, self.goal = torch.as_tensor(current), torch.as_tensor(goal)
        self.low = {a: space.bounds(a)[0] for a in searched}
        self.span = {a: space.bounds(a)[1] - space.bounds(a)[0] for a in searched}

    def follow(self, q: np.ndarray, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every variable of the do() sets `values` ({a: (Q, P)}) of queries `q`, flattened to (Q*P,): the digit
        kept, attributes not set following their mechanisms."""
        p = next(iter(values.values())).shape[1]
        rows = np.repeat(q, p)  # (Q*P,) each point's query
        flat = {a: v.reshape(-1) for a, v in values.items()}
        flat["digit"] = self.digit[rows]
        flat.setdefault("thickness", self.start["thickness"][rows])
        return self.space.follow(flat, {k: np.asarray(v)[rows] for k, v in self.noise.items()}, self.query.coloured)

    def images(self, q: np.ndarray, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """(Q*P, C, 28, 28) the do() sets `values` ({a: (Q, P)}) of queries `q` as the classifier sees them."""
        return self._render(np.repeat(q, next(iter(values.values())).shape[1]), self.follow(q, values))

    def _render(self, rows: np.ndarray, flat: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([self.space.render(self.latents[rows[s:s + ROWS]],
                                                {k: v[s:s + ROWS] for k, v in flat.items()}, self.query.coloured)
                              for s in range(0, len(rows), ROWS)])

    def score(self, q: np.ndarray, values: dict[str, torch.Tensor], margin: float | None = None) -> Scanned:
        """Hinge, cost and whether each point counts as a flip, for the points `values` ({a: (Q, P)}) of queries q
        (by `margin`, the config's unless given, raised by `floor` at each point's thickness)."""
        shape = next(iter(values.values())).shape
        rows = np.repeat(q, shape[1])  # (Q*P,)
        flat = self.follow(q, values)
        images = self._render(rows, flat)  # (Q*P, C, 28, 28)
        base = self.config.margin if margin is None else margin
        need = (torch.full((len(rows),), float(base)) if self.floor is None
                else self.floor(flat["thickness"].cpu(), base))  # (Q*P,)
        with torch.inference_mode():
            logits = torch.cat([self.classifier.logits(images[s:s + ROWS]) for s in range(0, len(images), ROWS)])
            logits = logits.float().cpu()
            r = torch.as_tensor(rows)
            hinge = margin_loss(logits, self.current[r], self.goal[r], need)  # (Q*P,)
            # "any other class": beating the current class by the margin is not enough, the class reached must lead
            # them all by it (what the final check asks: `vouching.decline`)
            clear = (lead(logits, logits.argmax(1)) >= need) | (self.floor is None)  # (Q*P,)
            odd = self.space.implausibility({k: flat[k].cpu() for k in ("thickness", "intensity")})  # (Q*P,)
            cost = (self.config.attr_weight * self.distance(values, q).reshape(-1)
                    + self.config.plausibility_weight * odd)  # (Q*P,)
        ok = (hinge == 0) & clear & ((odd == 0) | (self.config.plausibility_weight == 0))
        return Scanned(values, hinge.view(shape), cost.view(shape), ok.view(shape))

    def distance(self, values: dict[str, torch.Tensor], q: np.ndarray) -> torch.Tensor:
        """(Q, P) each attribute's change over its range from the factual, hue the shorter way round."""
        total = 0.0
        for a, v in values.items():
            d = (v - self.start[a][q, None]).abs()
            total = total + (torch.minimum(d, 1.0 - d) if a == "hue" else d / self.span[a])
        return total

    def box(self, n: int, q: np.ndarray, centre: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """{a: (Q, n)} scrambled-Sobol points in the whole box, or within LOCAL_SPAN of `centre` ({a: (Q,)})."""
        u = torch.quasirandom.SobolEngine(len(self.searched), scramble=True, seed=self.config.seed).draw(n)  # (n, k)
        out = {}
        for j, a in enumerate(self.searched):
            if centre is None:
                out[a] = (u[:, j] if a == "hue" else self.low[a] + self.span[a] * u[:, j]).expand(len(q), n).clone()
            elif a == "hue":
                out[a] = (centre[a][:, None] + LOCAL_SPAN * (u[None, :, j] - 0.5)) % 1.0
            else:
                half = LOCAL_SPAN * self.span[a]
                out[a] = (centre[a][:, None] + 2 * half * (u[None, :, j] - 0.5)).clamp(self.low[a], self.low[a]
                                                                                         + self.span[a])
        return out

    def axes(self, q: np.ndarray) -> dict[str, torch.Tensor]:
        """{a: (Q, AXIS * k)} each searched attribute alone at AXIS evenly spaced values of its range (hue: round
        the wheel), the others at the factual's."""
        u = (torch.arange(AXIS, dtype=torch.float32) + 0.5) / AXIS  # (AXIS,)
        out = {a: [] for a in self.searched}
        for a in self.searched:
            for b in self.searched:
                line = u if b == "hue" else self.low[b] + self.span[b] * u
                out[b].append(line.expand(len(q), -1) if b == a else self.start[b][q, None].expand(-1, AXIS))
        return {b: torch.cat(v, 1) for b, v in out.items()}

    def segment(self, q: np.ndarray, ends: dict[str, torch.Tensor], t: torch.Tensor) -> dict[str, torch.Tensor]:
        """{a: (Q, T)} the points start + t (end - start) of queries q (ends: {a: (Q,)}, t: (Q, T)), hue round
        the shorter way."""
        out = {}
        for a in self.searched:
            s = self.start[a][q, None]  # (Q, 1)
            d = ends[a][:, None] - s
            if a == "hue":
                d = (d + 0.5) % 1.0 - 0.5  # (Q, 1) in [-0.5, 0.5): the shorter way round
                out[a] = (s + t * d) % 1.0
            else:
                out[a] = s + t * d
        return out


def _cat(parts: list[Scanned]) -> Scanned:
    return Scanned({a: torch.cat([p.values[a] for p in parts], 1) for a in parts[0].values},
                   torch.cat([p.hinge for p in parts], 1), torch.cat([p.cost for p in parts], 1),
                   torch.cat([p.ok for p in parts], 1))


def _take(s: Scanned, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """{a: (Q, K)} the values of the points at idx (Q, K)."""
    return {a: v.gather(1, idx) for a, v in s.values.items()}


def _cheapest(s: Scanned, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, k) indices of the k cheapest flips of each query, and (Q, k) whether each is a flip at all."""
    cost = torch.where(s.ok, s.cost, torch.full_like(s.cost, float("inf")))
    idx = cost.argsort(1)[:, :k]
    return idx, s.ok.gather(1, idx)


def scan(scanner: StyleScan) -> tuple[dict[str, torch.Tensor], np.ndarray, Scanned]:
    """Each query's cheapest flip found: ({a: (B,)} the searched attributes' values, (B,) whether found, every point
    scored); a query without one keeps its factual values."""
    n = len(scanner.query)
    every = np.arange(n)
    pool = _cat([scanner.score(every, scanner.box(SCAN, every)), scanner.score(every, scanner.axes(every))])  # 1. scan
    missed = np.flatnonzero(~pool.ok.any(1).numpy())
    if len(missed):  # ... and around the closest misses
        near = (pool.hinge[missed] + pool.cost[missed]).argsort(1)[:, :LOCAL_FROM]  # (M, L)
        local = []
        for j in range(near.shape[1]):
            centre = {a: v[:, 0] for a, v in _take(_sub(pool, missed), near[:, j:j + 1]).items()}
            local.append(scanner.score(missed, scanner.box(LOCAL, missed, centre)))
        extra = _cat(local)
        pad = _blank(pool, n, extra.hinge.shape[1])
        for f in ("hinge", "cost", "ok"):
            getattr(pad, f)[missed] = getattr(extra, f)
        for a in pad.values:
            pad.values[a][missed] = extra.values[a]
        pool = _cat([pool, pad])
    found = np.flatnonzero(pool.ok.any(1).numpy())
    best = {a: scanner.start[a].clone() for a in scanner.searched}
    if len(found):
        sub = _sub(pool, found)
        idx, _ = _cheapest(sub, KEEP)
        kept = _take(sub, idx)  # {a: (F, K)}
        alone = {}  # 2. sparsify: each attribute alone moved to a kept flip's value
        for a in scanner.searched:
            for b in scanner.searched:
                alone.setdefault(b, []).append(kept[a] if b == a else scanner.start[b][found, None].expand_as(kept[a]))
        sub = _cat([sub, scanner.score(found, {b: torch.cat(v, 1) for b, v in alone.items()})])
        sub = _cat([sub, _pull_back(scanner, found, sub)])  # 3. pull back toward the factual
        idx, _ = _cheapest(sub, 1)
        for a, v in _take(sub, idx).items():
            best[a][found] = v[:, 0]
    ok = np.zeros(n, bool)
    ok[found] = True
    return best, ok, pool


def vouch(scanner: StyleScan, q: np.ndarray, ends: dict[str, torch.Tensor], margin: float
          ) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Descent's hardened answers `ends` ({a: (Q,)}) for queries q held to the scan's rule: every non-empty subset
    of the searched attributes moved to its answer's value (the rest at the factual's) is scored, and the cheapest
    that counts (a flip by `margin`, implausibility 0) is kept. `margin` is the generator's bias, not the search's
    margin, which descent stops at and hardening's rounding can shave a little off. Descent weighs plausibility
    softly and drifts every attribute a little: a hue flip that also thins a digit past where the world draws one
    is kept as the hue alone, and an answer that only flips off the world is no answer. Returns ({a: (Q,)} the
    kept values, (Q,) whether any)."""
    k = len(scanner.searched)
    subsets = [[j for j in range(k) if m >> j & 1] for m in range(1, 2 ** k)]
    points = {a: torch.stack([ends[a] if j in s else scanner.start[a][q] for s in subsets], 1)
              for j, a in enumerate(scanner.searched)}  # {a: (Q, 2^k - 1)}
    got = scanner.score(q, points, margin)
    idx, ok = _cheapest(got, 1)
    return {a: v[:, 0] for a, v in _take(got, idx).items()}, ok[:, 0].numpy()


def closest(pool: Scanned, q: np.ndarray, r: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """For queries q without a flip: ({a: (Q, r)} their r closest misses, (Q,) the best one's hinge), closeness
    being the hinge plus AIP's cost (so an implausible point, whose cost is large, comes last)."""
    sub = _sub(pool, q)
    idx = (sub.hinge + sub.cost).argsort(1)[:, :r]  # (Q, r)
    return _take(sub, idx), sub.hinge.gather(1, idx[:, :1])[:, 0]


def strip(scanner: StyleScan, best: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """`frames` images (B, C, 28, 28) each, from the factual to each query's answer along their segment."""
    every = np.arange(len(scanner.query))
    t = torch.linspace(0, 1, scanner.config.frames).expand(len(every), -1)  # (B, F)
    images = scanner.images(every, scanner.segment(every, best, t))  # (B*F, C, 28, 28)
    images = images.view(len(every), t.shape[1], *images.shape[1:])
    return [images[:, f] for f in range(t.shape[1])]


def _pull_back(scanner: StyleScan, q: np.ndarray, sub: Scanned) -> Scanned:
    """For each query's KEEP cheapest flips: the first flipping point of the segment from the factual, then
    BISECT halvings of the interval where the flip begins (its flipping end kept)."""
    idx, real = _cheapest(sub, KEEP)  # (Q, K)
    ends = _take(sub, idx)  # {a: (Q, K)}
    k = idx.shape[1]
    rows = np.repeat(q, k)  # one segment per kept flip
    flat_ends = {a: v.reshape(-1) for a, v in ends.items()}
    t = torch.arange(1, SEGMENT, dtype=torch.float32) / SEGMENT  # (T,)
    on = scanner.score(rows, scanner.segment(rows, flat_ends, t.expand(len(rows), -1)))  # (QK, T)
    flips = torch.cat([on.ok, torch.ones(len(rows), 1, dtype=torch.bool)], 1)  # the end flips: t = 1
    first = flips.float().argmax(1)  # (QK,) the first flipping point
    grid = torch.cat([t, torch.ones(1)])
    hi = grid[first]  # (QK,)
    lo = torch.where(first > 0, grid[(first - 1).clamp(min=0)], torch.zeros(len(rows)))
    for _ in range(BISECT):
        mid = (lo + hi) / 2
        got = scanner.score(rows, scanner.segment(rows, flat_ends, mid[:, None]))
        hi, lo = torch.where(got.ok[:, 0], mid, hi), torch.where(got.ok[:, 0], lo, mid)
    final = scanner.score(rows, scanner.segment(rows, flat_ends, hi[:, None]))  # (QK, 1)
    final.ok &= real.reshape(-1, 1)  # a padded "flip" of a query with fewer than KEEP flips is none
    return Scanned({a: v.view(len(q), k) for a, v in final.values.items()}, final.hinge.view(len(q), k),
                   final.cost.view(len(q), k), final.ok.view(len(q), k))


def _sub(s: Scanned, q: np.ndarray) -> Scanned:
    return Scanned({a: v[q] for a, v in s.values.items()}, s.hinge[q], s.cost[q], s.ok[q])


def _blank(like: Scanned, n: int, p: int) -> Scanned:
    """n x p points that never count (queries that needed no local scan)."""
    inf = torch.full((n, p), float("inf"))
    return Scanned({a: torch.zeros(n, p) for a in like.values}, inf.clone(), inf, torch.zeros(n, p, dtype=torch.bool))
