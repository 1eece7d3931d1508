"""The non-causal baseline: recourse that changes the actionable columns alone, every other column kept, as DiCE does.

Same candidates, costs and search loop as the causal recourse (`recourse.py`); only the candidate row differs: the
factual row with the do() columns replaced, nothing downstream following. One row per candidate, so its flip share
is 0 or 1. Its answer is then checked against the graph: the causal propagation of its own do() (the world's
mechanisms on `draws` posterior draws of the row's noise, `recourse_causal.DrawScorer`) either

- reverts the flip (the decision is the target in fewer than `min_share` of the draws), or
- moves descendants the baseline kept (best guess over the draws: another category, or a continuous column moved by
  more than `tolerance_sd` SDs),

and either makes the answer inconsistent with the graph: the world under the same noise would not produce the row
the baseline hands out (issue 21, section 2).
"""

from __future__ import annotations

import numpy as np

from explorer.counterfactual.search.recourse import RecourseConfig, TablePredictor
from explorer.counterfactual.search.recourse_search import Candidates, RecourseSearch, Scorer, describe
from explorer.counterfactual.search.recourse_causal import DrawScorer
from explorer.scm.table_scm import TableSCM


class AloneScorer:
    """Candidates of one row scored on the factual row with only their do() columns changed."""

    def __init__(self, scm: TableSCM, obs: dict[str, np.ndarray], held: dict[str, object],
                 classifier: TablePredictor, target: int, config: RecourseConfig, scales: dict[str, float],
                 causal: type[DrawScorer] = DrawScorer):
        self.scm, self.obs, self.held, self.classifier, self.target = scm, obs, held, classifier, target
        self.config, self.scales, self.causal = config, scales, causal  # causal: the graph check's propagation

    def rows(self, cands: Candidates) -> dict[str, np.ndarray]:
        """(C,) per column: the factual value, or the candidate's where it changes that column."""
        values = {c: np.repeat(v, len(cands)) for c, v in self.obs.items()}
        for c in cands.value:
            values[c] = np.where(cands.mask[c], cands.value[c], values[c])
        return values

    def score(self, cands: Candidates) -> np.ndarray:
        p = self.classifier.predict_proba(self.rows(cands), self.held)  # (C,)
        return ((p >= self.config.threshold) == bool(self.target)).astype(float)

    def answer(self, best: Candidates) -> tuple[dict[str, np.ndarray], float, float]:
        row = self.rows(best)
        p = float(self.classifier.predict_proba(row, self.held)[0])
        return row, p, float((p >= self.config.threshold) == bool(self.target))

    def check(self, best: Candidates) -> dict[str, object]:
        """The answer against the graph: its own do() propagated causally (module docstring)."""
        causal = self.causal(self.scm, self.obs, self.held, self.classifier, self.target, self.config)
        values, _, flips = causal.flips(best)  # (D,) per column; (1, D)
        guess = self.scm.best_guess({c: v[:, None] for c, v in values.items()})  # (1,) each
        acted = set(best.do(0))
        moved = [ch["column"] for ch in describe(self.scm, self.obs, guess, set(), self.scales,
                                                 self.config.tolerance_sd) if ch["column"] not in acted]
        share = float(flips.mean())
        return {"causal_share": share, "moved": moved, "inconsistent": share < self.config.min_share or bool(moved)}


class NonCausalRecourse(RecourseSearch):
    """The cheapest change of actionable columns alone (descendants kept factual) that gives the wanted decision."""

    name = "non_causal"
    causal: type[DrawScorer] = DrawScorer  # the graph check's causal propagation: the world's mechanisms

    def prepare(self, obs: dict[str, np.ndarray], held: dict[str, object], classifier: TablePredictor, target: int,
                config: RecourseConfig) -> Scorer:
        return AloneScorer(self.scm, obs, held, classifier, target, config, self.scales, self.causal)
