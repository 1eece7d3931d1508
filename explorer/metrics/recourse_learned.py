"""Causal recourse (`explorer/counterfactual/search/recourse*.py`) through the table lab's LEARNED causal model.

The search is the census world's, unchanged (candidates, costs, batches, the screen over draws, the refinement, the
answer row); only the causal model under it changes, as `LearnedCausalModel` does for counterfactual fairness:

    abduction   the VAE's concepts and their noise from the row (`TableVAEModel.posterior_noise`): a continuous
                column's residual exactly, a categorical column's Gumbels drawn `draws` times from their posterior
                given the observed category, ONCE per row, so every candidate meets the same draws (as the world's
                `TableSCM.abduct` noise is shared);
    action      do() on each candidate's own actionable columns (a per-row mask: one pass scores a whole batch);
    prediction  the learned mechanisms in the LEARNED graph on that noise (`TableVAEModel.intervene`): only the
                columns the actions reach in that graph move (Adult's VAE learned workclass -> occupation and nothing
                out of education or hours per week, so more education moves no other column there, where in the
                world it moves work class, occupation and hours).

Nothing is approximated away: the VAE's counterfactual is a deterministic function of the action once its noise
is abducted, which is all the search needs. The non-causal baseline's search is the same as with the world (same
candidates, rows and answers); its check "inconsistent with the graph" propagates its do() through the causal model
in use, here the learned one, so both methods are judged in the same model.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from explorer.counterfactual.search.recourse import RecourseConfig
from explorer.counterfactual.search.recourse_baseline import NonCausalRecourse
from explorer.counterfactual.search.recourse_causal import CausalRecourse, DrawScorer
from explorer.counterfactual.search.recourse_search import Candidates
from explorer.metrics.cf_fairness_learned import LearnedCausalModel
from explorer.models.table_vae import TableVAEModel
from explorer.scm.table_scm import TableSCM


class LearnedRecourseModel(LearnedCausalModel):
    """The VAE seen through what the recourse searches read of a causal model: `name`, `columns`, `graph` (the
    learned one), `order`, `best_guess`; the draws themselves are `LearnedDrawScorer`'s."""

    def best_guess(self, draws: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """(draws, n) per column -> (n,): the most frequent category, the median number. `TableSCM.best_guess`
        reads only the column specs, which the VAE shares with the world, so it is called rather than copied."""
        return TableSCM.best_guess(self, draws)  # type: ignore[arg-type]


class LearnedDrawScorer(DrawScorer):
    """`DrawScorer` with the VAE's abduction and propagation in place of the world's mechanisms (module docstring):
    candidate c's draw d at c * D + d, as the world's."""

    scm: LearnedRecourseModel

    def abduct(self, obs: dict[str, np.ndarray], config: RecourseConfig) -> dict[int, object]:
        self.obs = obs  # (1,) per column: the factual row the VAE abducts again on every call (cheap, exact)
        return self.scm.vae.posterior_noise(obs, self.draws, config.seed)  # {column index: (D, K)}

    def propagate(self, cands: Candidates, draws: slice = slice(None)) -> dict[str, np.ndarray]:
        d = len(range(self.draws)[draws])
        gumbels = {j: g[draws].repeat(len(cands), 1) for j, g in self.noise.items()}  # (C * D, K)
        value = {c: np.repeat(v, d) for c, v in cands.value.items()}  # (C * D,)
        mask = {c: np.repeat(m, d) for c, m in cands.mask.items()}
        return self.scm.vae.intervene(self.obs, value, mask, gumbels)


class LearnedCausalRecourse(CausalRecourse):
    """The cheapest do() on actionable columns whose row, propagated by the LEARNED model, gets the decision."""

    scorer = LearnedDrawScorer


class LearnedNonCausalRecourse(NonCausalRecourse):
    """The non-causal baseline, its graph check through the learned model."""

    causal = LearnedDrawScorer


def learned_searches(vae: TableVAEModel, scales: Mapping[str, float]
                     ) -> tuple[LearnedCausalRecourse, LearnedNonCausalRecourse]:
    """Both searches through `vae`, with the cost units `scales` (the world's SDs, so costs compare with it)."""
    model = LearnedRecourseModel(vae)
    return LearnedCausalRecourse(model, scales), LearnedNonCausalRecourse(model, scales)  # type: ignore[arg-type]
