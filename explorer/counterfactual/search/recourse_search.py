"""The search both recourse methods share: candidate do() sets, their costs, the loop that scores them, the answer.

The search is gradient-free (the shipped models are ONNX) and exact over its candidate set: every do() set of at most
`max_changes` actionable columns - each categorical column to each other category, an ordinal one to each allowed
level, a continuous one to a grid of `grid_sd` steps up to `max_sd` SDs - is costed before any model call, sorted
by cost, and scored cheapest first in growing batches: one pass through the world's mechanisms and one model
call score a whole batch (the causal search makes two: a few draws screen the batch first, `recourse_causal.py`).
The first batch holding a flip stops the search: its cheapest flip is the cheapest of all candidates, since every
later candidate costs more. A continuous change is then refined between its grid point and the factual value
(whole numbers for whole-number columns), in one more model call.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

import numpy as np

from explorer.counterfactual.search.recourse import (ALWAYS_UP, IMMUTABLE, OUTCOME, Recourse, RecourseConfig,
                                                     RecourseQuery, TablePredictor, check_config, config_spec)
from explorer.scm.table_scm import TableSCM
from explorer.types import VarSpec

FIRST_BATCH = 64  # candidates in the first model call; each later batch doubles up to MAX_BATCH
MAX_BATCH = 1024
SCALE_ROWS = 20_000  # world rows the continuous columns' SDs are measured on (seed 0)


@dataclass
class Candidates:
    """do() sets over the actionable columns: value (C,) per column (the factual one where unchanged), mask (C,)
    True where the column changes, cost (C,)."""

    value: dict[str, np.ndarray]
    mask: dict[str, np.ndarray]
    cost: np.ndarray

    def __len__(self) -> int:
        return len(self.cost)

    def take(self, idx: np.ndarray | slice) -> Candidates:
        return Candidates({c: v[idx] for c, v in self.value.items()}, {c: m[idx] for c, m in self.mask.items()},
                          self.cost[idx])

    def do(self, i: int) -> dict[str, np.ndarray]:
        """Candidate i's interventions, (1,) each."""
        return {c: self.value[c][i:i + 1] for c in self.value if self.mask[c][i]}


def column_scales(scm: TableSCM) -> dict[str, float]:
    """A distance unit per column: the SD of a continuous column over SCALE_ROWS world rows, 1 for the others."""
    _, values = scm.sample(SCALE_ROWS, seed=0)
    return {c: (1.0 if s.discrete else float(np.std(values[c]))) for c, s in scm.columns.items()}


def options(scm: TableSCM, col: str, old: float, config: RecourseConfig, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """One column's allowed new values (k,) and their costs (k,)."""
    spec, weight = scm.columns[col], float(config.costs.get(col, 1.0))
    up = col in ALWAYS_UP or col in config.up_only
    if spec.discrete:
        new = np.asarray([k for k in range(spec.levels) if k != old and (k > old or not up)], np.int64)
        dist = np.abs(new - old).astype(float) if spec.kind == "ordinal" else np.ones(len(new))
        return new, dist * weight
    steps = np.arange(1, round(config.max_sd / config.grid_sd) + 1) * config.grid_sd * scale  # (K,)
    new = old + np.concatenate([steps, -steps])
    new = np.clip(np.round(new) if spec.integer else new, spec.low, spec.high)
    new = np.unique(new[(new != old) & ((new > old) | (not up))])
    return new, np.abs(new - old) / scale * weight


def candidates(scm: TableSCM, obs: Mapping[str, np.ndarray], config: RecourseConfig,
               scales: Mapping[str, float]) -> tuple[Candidates, bool]:
    """Every do() set of 1..max_changes actionable columns, sorted by cost (then fewer changes); and whether the
    list was cut at max_candidates."""
    cols = list(config.actionable)
    opts = {c: options(scm, c, obs[c][0], config, scales[c]) for c in cols}
    value = {c: [] for c in cols}
    mask = {c: [] for c in cols}
    cost, size = [], []
    for k in range(1, min(config.max_changes, len(cols)) + 1):
        for subset in itertools.combinations(cols, k):
            grids = np.meshgrid(*[np.arange(len(opts[c][0])) for c in subset], indexing="ij")
            idx = {c: g.ravel() for c, g in zip(subset, grids, strict=True)}  # (m,) option index per changed column
            m = grids[0].size if grids else 0
            if not m:
                continue
            for c in cols:
                value[c].append(opts[c][0][idx[c]] if c in idx else np.repeat(obs[c], m))
                mask[c].append(np.full(m, c in idx))
            cost.append(sum(opts[c][1][idx[c]] for c in subset))
            size.append(np.full(m, k))
    if not cost:
        return Candidates({c: np.zeros(0) for c in cols}, {c: np.zeros(0, bool) for c in cols}, np.zeros(0)), False
    cost_all, size_all = np.concatenate(cost), np.concatenate(size)
    order = np.lexsort((size_all, cost_all))[:config.max_candidates]  # cheapest first, then fewest changes
    out = Candidates({c: np.concatenate(v)[order] for c, v in value.items()},
                     {c: np.concatenate(v)[order] for c, v in mask.items()}, cost_all[order])
    return out, len(cost_all) > config.max_candidates


Score = Callable[[Candidates], np.ndarray]  # candidates -> (C,) share of draws (or rows) whose decision flips


def cheapest(cands: Candidates, score: Score, min_share: float) -> tuple[int, float, int]:
    """(index of the cheapest flip or -1, its share, candidates scored): batches in cost order, first flip stops."""
    start, size = 0, FIRST_BATCH
    while start < len(cands):
        share = score(cands.take(slice(start, start + size)))  # (b,)
        ok = np.flatnonzero(share >= min_share)
        if ok.size:  # sorted by cost: the first flip of the first batch holding one is the cheapest of all
            return start + int(ok[0]), float(share[ok[0]]), start + len(share)
        start, size = start + len(share), min(2 * size, MAX_BATCH)
    return -1, 0.0, len(cands)


def refine(scm: TableSCM, best: Candidates, obs: Mapping[str, np.ndarray], config: RecourseConfig,
           scales: Mapping[str, float], score: Score) -> tuple[Candidates, int]:
    """The answer with each continuous change moved as close to the factual value as still flips (between the grid
    point below and the one found; whole numbers for whole-number columns). One model call per continuous column;
    returns the answer and the number of candidates scored."""
    scored = 0
    for col in [c for c in best.value if best.mask[c][0] and not scm.columns[c].discrete]:
        old, new, spec = float(obs[col][0]), float(best.value[col][0]), scm.columns[col]
        step = config.grid_sd * scales[col]
        lo = new - np.sign(new - old) * step
        grid = np.arange(np.ceil(min(lo, new)), np.floor(max(lo, new)) + 1) if spec.integer \
            else np.linspace(lo, new, 5)  # (k,) a finer grid between the two grid points
        grid = grid[(np.abs(grid - old) < abs(new - old)) & (np.sign(grid - old) == np.sign(new - old))]
        if not grid.size:
            continue
        trial = best.take(np.zeros(len(grid), np.int64))
        trial.value[col] = grid
        trial.cost = best.cost[0] + (np.abs(grid - old) - abs(new - old)) / scales[col] * config.costs.get(col, 1.0)
        order = np.argsort(trial.cost)
        trial = trial.take(order)
        shares = score(trial)
        scored += len(grid)
        ok = np.flatnonzero(shares >= config.min_share)
        if ok.size:
            best = trial.take(ok[:1])
    return best, scored


def describe(scm: TableSCM, old: Mapping[str, np.ndarray], new: Mapping[str, np.ndarray], acted: set[str],
             scales: Mapping[str, float], tolerance_sd: float) -> list[dict[str, object]]:
    """[{column, old, new, kind}] for every column that differs between two rows ((1,) each), the outcome left out."""
    out = []
    for col, spec in scm.columns.items():
        a, b = old[col][0], new[col][0]
        same = a == b if spec.discrete else abs(float(a) - float(b)) <= tolerance_sd * scales[col]
        if col == OUTCOME or (same and col not in acted):
            continue
        out.append({"column": col, "old": plain(scm, col, a), "new": plain(scm, col, b),
                    "kind": "action" if col in acted else "downstream"})
    return out


def plain(scm: TableSCM, col: str, value: object) -> object:
    """A code as its category's name, a number rounded to 0.1 as a float, for reports and JSON."""
    spec = scm.columns[col]
    return spec.categories[int(value)] if spec.discrete else round(float(value), 1)


def named_row(scm: TableSCM, row: Mapping[str, np.ndarray]) -> dict[str, object]:
    """A (1,) row as category names and exact numbers (not rounded: the model can be asked again on it)."""
    return {c: (plain(scm, c, v[0]) if scm.columns[c].discrete else float(v[0])) for c, v in row.items()}


class RecourseSearch:
    """The loop both searches share; a subclass's `prepare` gives the `Scorer` that makes and scores its rows.

    `search(x, classifier, target, config)` is the project's one search signature (`CounterfactualSearch`).
    """

    name = "recourse"

    def __init__(self, scm: TableSCM, scales: Mapping[str, float] | None = None):
        self.scm = scm
        self.scales = dict(scales) if scales is not None else column_scales(scm)

    def config_spec(self) -> dict[str, VarSpec]:
        return config_spec(self.scm)

    def search(self, x: RecourseQuery, classifier: TablePredictor, target: int = 1,
               config: RecourseConfig | None = None) -> list[Recourse]:
        """Per row of `x`, the cheapest recourse giving decision `target` (1: positive); found False with a note
        (never an exception) when nothing within the config flips it. A bad config is a ValueError."""
        config = config or RecourseConfig()
        check_config(self.scm, config)
        return [self.one(*x.row(i), classifier, target, config) for i in range(len(x))]

    def one(self, obs: dict[str, np.ndarray], held: dict[str, object], classifier: TablePredictor, target: int,
            config: RecourseConfig) -> Recourse:
        start = time.perf_counter()
        obs = {c: self.scm.columns[c].encode(obs[c], check_range=False) for c in self.scm.columns}
        p0 = float(classifier.predict_proba(obs, held)[0])

        def result(found: bool, note: str = "", **kw) -> Recourse:
            base = {"method": self.name, "found": found, "cost": 0.0, "do": {}, "changes": [], "p_before": p0,
                    "p_after": p0, "flip_share": float(found), "row": named_row(self.scm, obs), "evaluated": 0,
                    "note": note}
            return Recourse(**{**base, **kw, "seconds": time.perf_counter() - start})

        if (p0 >= config.threshold) == bool(target):
            return result(True, "the model already gives this row the wanted decision; nothing to change")
        if not config.actionable:
            return result(False, "every column is locked: no actionable column is left to change; unlock at least "
                                 f"one of {', '.join(c for c in self.scm.columns if c not in IMMUTABLE + (OUTCOME,))}")
        cands, cut = candidates(self.scm, obs, config, self.scales)
        if not len(cands):
            return result(False, f"no allowed change exists for {', '.join(config.actionable)} from this row "
                                 "(each is at the end of its allowed direction); unlock other columns")
        scorer = self.prepare(obs, held, classifier, target, config)
        i, share, scored = cheapest(cands, scorer.score, config.min_share)
        if i < 0:
            # the baseline scores one row per candidate, not draws
            how = f" in at least {config.min_share:.0%} of the draws" if self.name == "causal" else ""
            return result(False, f"no change of at most {config.max_changes} of {', '.join(config.actionable)} gives "
                                 f"the wanted decision{how} ({scored} candidates tried"
                                 + (", list cut at max_candidates" if cut else "") + ")", evaluated=scored)
        best, more = refine(self.scm, cands.take(slice(i, i + 1)), obs, config, self.scales, scorer.score)
        row, p_after, share = scorer.answer(best)
        do = {c: (plain(self.scm, c, v[0]) if self.scm.columns[c].discrete else float(v[0]))  # exact: re-runnable
              for c, v in best.do(0).items()}
        changes = describe(self.scm, obs, row, set(do), self.scales, config.tolerance_sd)
        return result(True, cost=float(best.cost[0]), do=do, changes=changes, p_after=p_after, flip_share=share,
                      row=named_row(self.scm, row), evaluated=scored + more, **scorer.check(best))

    def prepare(self, obs: dict[str, np.ndarray], held: dict[str, object], classifier: TablePredictor, target: int,
                config: RecourseConfig) -> Scorer:
        """The search's way of making and scoring candidate rows for one factual row."""
        raise NotImplementedError


class Scorer(Protocol):
    """Makes and scores the candidate rows of one factual row."""

    def score(self, cands: Candidates) -> np.ndarray:
        """(C,) share of the candidate's rows (posterior draws, or its one row) whose decision is the target."""
        ...

    def answer(self, best: Candidates) -> tuple[dict[str, np.ndarray], float, float]:
        """The chosen candidate's row ((1,) per column), the model's probability on it, and its flip share."""
        ...

    def check(self, best: Candidates) -> dict[str, object]:
        """Extra answer fields (the baseline's check against the graph); timed with the search."""
        ...
