"""Causal recourse: the candidate do() sets scored on the rows the world would produce, downstream columns following.

For one rejected row:
    abduction   the row's noise, `draws` times from its posterior (`TableSCM.abduct`): continuous residuals exactly,
                categorical Gumbels drawn given the observed category (they are not identified by one row);
    action      do() on the candidate's actionable columns;
    prediction  the world's mechanisms rerun on each draw's noise (as `TableSCM.counterfactual` runs them, for a
                whole batch of candidates in one pass: `DrawScorer.propagate`), so education's descendants (work
                class, occupation, hours) follow it; then the model on every draw's row.
A candidate flips when the decision is the target in at least `min_share` of the draws: the answer is required to
hold for most of the people this row could be, not for one guess of the unidentified noise (a best-guess row
would ignore that uncertainty; several draws are what the census world's own ceiling uses). The row returned is the
flipping draw closest to the draws' best guess (`TableSCM.best_guess`), so re-asking the model on it flips too.
"""

from __future__ import annotations

import numpy as np

from explorer.counterfactual.search.recourse import RecourseConfig, TablePredictor
from explorer.counterfactual.search.recourse_search import Candidates, RecourseSearch, Scorer
from explorer.scm.table_scm import TableSCM


class DrawScorer:
    """Candidates of one row scored over `draws` posterior draws of its noise."""

    def __init__(self, scm: TableSCM, obs: dict[str, np.ndarray], held: dict[str, object],
                 classifier: TablePredictor, target: int, config: RecourseConfig):
        self.scm, self.held, self.classifier, self.target = scm, held, classifier, target
        self.draws, self.threshold = config.draws, config.threshold
        # A candidate needs `need` flipping draws; one with none among the first `screen` draws cannot reach that
        # even if every later draw flips, so those draws screen the batch first: exact, and most candidates of a row
        # without recourse stop there (the search ran twice as fast on 30 census rows at 20 draws and 0.8).
        self.need = int(np.ceil(config.min_share * self.draws - 1e-9))
        self.screen = self.draws - self.need + 1
        # abduction: one posterior draw per copy of the row; the empty do() gives the factual row back in every draw
        self.noise = self.abduct(obs, config)
        self.factual = {c: np.repeat(v, self.draws) for c, v in obs.items()}  # (D,) each
        self.moving = set(config.actionable) | scm.graph.descendants(set(config.actionable))

    def abduct(self, obs: dict[str, np.ndarray], config: RecourseConfig) -> object:
        """The row's noise, `draws` posterior draws of it ((D, ...) per column); a causal model other than the
        world (the learned one, `explorer.metrics.recourse_learned`) overrides this and `propagate`."""
        return self.scm.abduct({c: np.repeat(v, self.draws) for c, v in obs.items()}, seed=config.seed)

    def propagate(self, cands: Candidates, draws: slice = slice(None)) -> dict[str, np.ndarray]:
        """(C * D,) values per column over the D draws in `draws`, candidate c's draw d at c * D + d, in ONE pass.

        `TableSCM.counterfactual` takes one do() set for all rows; candidates change different columns, so that
        would be one pass per set of changed columns (ten passes per batch, 3/4 of the search's time). Here each
        actionable column is set where its candidate changes it and left to its mechanism elsewhere, which is the
        same hard intervention row by row in the world's own graph (tests/test_recourse.py checks it against
        `TableSCM.counterfactual`). Columns no actionable column reaches keep the factual value, as they would.
        """
        d = len(range(self.draws)[draws])
        n = len(cands) * d
        out: dict[str, np.ndarray] = {}
        for node in self.scm.order:  # causal order: parents first
            if node not in self.moving:
                out[node] = np.tile(self.factual[node][draws], len(cands))  # (C * D,) unchanged by any do()
                continue
            noise = self.noise[node][draws]
            noise = np.tile(noise, (len(cands),) + (1,) * (noise.ndim - 1))  # (C * D, ...)
            value = self.scm.mechanisms[node].decode(noise, {p: out[p] for p in self.scm.parents(node)})
            if node in cands.value:  # action: do(node = value) on the candidates that change it
                value = np.where(np.repeat(cands.mask[node], d), np.repeat(cands.value[node], d), value)
            out[node] = value.reshape(n)
        return {c: out[c] for c in self.scm.columns}

    def flips(self, cands: Candidates, draws: slice = slice(None)
              ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(values (C * D,), probabilities (C, D), flips (C, D)): one model call for all candidates and draws."""
        values = self.propagate(cands, draws)
        p = self.classifier.predict_proba(values, self.held).reshape(len(cands), -1)  # (C, D)
        return values, p, (p >= self.threshold) == bool(self.target)

    def score(self, cands: Candidates) -> np.ndarray:
        """(C,) share of draws that flip; exact for every candidate that can reach min_share, below it otherwise."""
        if self.screen >= self.draws:  # nothing to screen: a candidate may lack a flip in all but `need` draws
            return self.flips(cands)[2].mean(1)
        count = self.flips(cands, slice(0, self.screen))[2].sum(1)  # (C,) flips among the screening draws
        alive = np.flatnonzero(count > 0)
        if alive.size:
            count[alive] += self.flips(cands.take(alive), slice(self.screen, None))[2].sum(1)
        return count / self.draws

    def answer(self, best: Candidates) -> tuple[dict[str, np.ndarray], float, float]:
        values, p, flips = self.flips(best)  # (D,) per column; (1, D); (1, D)
        guess = self.scm.best_guess({c: v[:, None] for c, v in values.items()})  # (1,) each
        k = closest(self.scm, values, guess, flips[0])
        return {c: v[k:k + 1] for c, v in values.items()}, float(p[0, k]), float(flips.mean())

    def check(self, best: Candidates) -> dict[str, object]:
        return {}


def closest(scm: TableSCM, values: dict[str, np.ndarray], guess: dict[str, np.ndarray], ok: np.ndarray) -> int:
    """Index of the draw among `ok` ones (any, if none) that disagrees with the best guess in the fewest categorical
    columns, then by the smallest continuous distance: a row the model flips on that is also the most typical."""
    miss = sum((values[c] != guess[c]).astype(float) for c, s in scm.columns.items() if s.discrete)  # (D,)
    far = sum(np.abs(values[c] - guess[c]) for c, s in scm.columns.items() if not s.discrete)  # (D,)
    key = miss + far / (1.0 + far.max()) + (~ok) * 1e6  # far only breaks ties (< 1); a flipping draw always wins
    return int(np.argmin(key))


class CausalRecourse(RecourseSearch):
    """The cheapest do() on actionable columns whose world-propagated row gets the wanted decision."""

    name = "causal"
    scorer: type[DrawScorer] = DrawScorer  # how draws are made and propagated: the world's mechanisms

    def prepare(self, obs: dict[str, np.ndarray], held: dict[str, object], classifier: TablePredictor, target: int,
                config: RecourseConfig) -> Scorer:
        return self.scorer(self.scm, obs, held, classifier, target, config)
