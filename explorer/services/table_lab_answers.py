"""The Table lab's answers computed: TRUE, the ceiling and the learned model's, for one do() or a slider's sweep.

`TableAnswers.answers` takes one person and either one do() (a what-if: one answer) or a do() whose swept column
holds P values (a quick slider's sweep: P answers). A sweep is computed in one pass, not as P what-ifs: the
census world's noise posterior is repeated over the positions (`PosteriorDraws.repeated`) and the learned model
answers all positions in one call (`counterfactual_sweep`). Every entry is the what-if at its position, bit for
bit (tests/test_table_lab_sweep.py), because each step is elementwise over rows and every position meets the
same posterior draws as a one-row what-if.

Why: the sweep was 74-99 separate what-ifs on the model thread (~0.5 s alone, ~1.3 s under a class of 16); the
first move of every visitor waited for all 16 interleaved sweeps (docs/performance.md, "The labs under a class").
Model thread only (explorer/model_thread.py): the per-person posteriors are kept here without a lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

import numpy as np
import torch

from explorer.scm.graph import Dag
from explorer.scm.table_posterior import PosteriorDraws
from explorer.scm.table_scm import TableSCM

POSTERIORS_KEPT = 256  # persons whose noise posterior is kept (~90 kB each)
DRAWS = 200  # posterior draws behind the ceiling: the best guess's share is known to about +-3.5 %
SHOWN_DECIMALS = 1  # a continuous cell "changed" when it differs at the page's precision (one decimal)
Arrow = tuple[str, str]
Values = dict[str, float | int]


def scalar(value: np.ndarray) -> float | int:
    v = np.asarray(value).reshape(-1)[0]
    return int(v) if np.asarray(value).dtype.kind in "iu" else float(v)


def changed(columns: Mapping, obs: Mapping[str, float | int], cf: Mapping[str, float | int]) -> list[str]:
    """Columns whose value differs: another category, or a number that differs as the page shows it (a change of
    0.001 hours is no change a visitor could see, and highlighting it would look like a bug)."""
    return [c for c, s in columns.items()
            if (obs[c] != cf[c] if s.discrete else
                round(float(obs[c]), SHOWN_DECIMALS) != round(float(cf[c]), SHOWN_DECIMALS))]


def _row(values: Mapping[str, np.ndarray], q: int) -> Values:
    """Position q of {column: (P,) or (1, P)} values (a truth's one draw included) as {column: code or float}."""
    return {c: scalar(np.asarray(v)[..., q]) for c, v in values.items()}


class TableAnswers:
    """The census world, the learned models (the service's own dict: a test may swap one) and the per-person
    posteriors; `answers` returns the pieces of a TableResult per position (the service builds it)."""

    def __init__(self, world: TableSCM, models: dict[str, object], model_names: dict[str, str]):
        self.world, self.models, self.model_names = world, models, model_names
        self._persons: OrderedDict[tuple[str, int, int], tuple[PosteriorDraws, PosteriorDraws | None]] = OrderedDict()
        self._graphs: dict[object, Dag] = {}  # a learned model's graph (reading it builds a Dag: ~1 ms a call)

    def answers(self, source: str, seed: int, i: int, values: Mapping[str, np.ndarray],
                noise: Mapping[str, np.ndarray] | None, do_codes: Mapping[str, float | int], graph: Dag,
                cut: list[Arrow], new: list[Arrow], sweep: tuple[str, np.ndarray] | None = None) -> list[dict]:
        """Per position (one without `sweep`; else one per value of `sweep` = (column, (P,) codes), which
        overrides that column's do()): {obs, cf, true_cf, ceiling, agreement, learned, model, changed...}."""
        columns = self.world.columns
        obs = {c: v[i:i + 1] for c, v in values.items()}  # (1,) each
        world_graph = Dag(graph.nodes, graph.edges & self.world.graph.edges)  # the world reads no added arrow
        posterior, truth = self._person(source, seed, i, obs, noise)
        p = 1 if sweep is None else len(sweep[1])
        do = dict(do_codes) if sweep is None else {**do_codes, sweep[0]: np.asarray(sweep[1])}
        if p > 1:
            posterior, truth = posterior.repeated(p), None if truth is None else truth.repeated(p)
        true_cf = None if truth is None else truth.counterfactual(do, world_graph)  # (P,) or (1, P) each
        draws = posterior.tiled(posterior.counterfactual(do, world_graph))  # (DRAWS, P) each
        ceiling = self.world.best_guess(draws)  # (P,) each
        learned, notes = self._learned(source, obs, do_codes, cut, new, sweep)
        model = self.model_names[source] if learned is not None else "the census world (ceiling)"
        if self.models[source] is None:
            notes.append(f"The learned model's answer is not shown: {self.model_names[source]}. The answer shown "
                         "is the census world's own, with this person's noise abducted from the record.")
        if new:
            notes.append(f"The census world has no mechanism reading {', '.join(f'{a} → {b}' for a, b in new)}: "
                         "its answers ignore the added arrow(s).")
        factual = _row(obs, 0)
        downstream = sorted(world_graph.descendants(list(do)) - set(do))
        out = []
        for q in range(p):
            best = _row(ceiling, q)
            mine = None if learned is None else _row(learned, q)
            true_q = None if true_cf is None else _row(true_cf, q)
            cf = mine if mine is not None else best
            out.append(dict(
                obs=factual, cf=cf, true_cf=true_q, intervened=sorted(do), downstream=downstream, ceiling=best,
                agreement={c: float(np.mean(d[:, q] == best[c])) for c, d in draws.items() if columns[c].discrete},
                learned=mine, model=model, changed=changed(columns, factual, cf),
                changed_true=changed(columns, factual, true_q) if true_q is not None else [],
                changed_ceiling=changed(columns, factual, best), notes=list(notes)))
        return out

    def _person(self, source: str, seed: int, i: int, obs: dict[str, np.ndarray], noise: Mapping | None
                ) -> tuple[PosteriorDraws, PosteriorDraws | None]:
        """What no do() changes, made once per person and kept (bounded): the noise's posterior (DRAWS draws,
        `TableSCM.posterior`) and, for a world row, its own noise, each with the residuals and the factual run
        precomputed (`PosteriorDraws`). A do() then runs only the mechanisms downstream of it, vectorised over
        the draws: the same values as `TableSCM.counterfactual_draws` on that posterior, bit for bit
        (explorer/scm/table_posterior.py). The scipy path ran every column's mechanism twice per move (TRUE, then
        the draws), building a sparse design matrix each time: in-process, a what-if took 27 ms that way and
        11 ms this way, 7 ms of it the learned model (40 moves of do(age), load average ~9)."""
        key = (source, int(seed) if source == "world" else 0, i)
        if key not in self._persons:
            if len(self._persons) >= POSTERIORS_KEPT:
                self._persons.popitem(last=False)  # the oldest
            every = set(self.world.columns)  # any column may be set with do()
            posterior = PosteriorDraws(self.world, obs, DRAWS, 0, every, noise=self.world.posterior(obs, DRAWS, seed=0))
            truth = None if noise is None else PosteriorDraws(self.world, obs, 1, 0, every,
                                                             noise={c: v[i:i + 1] for c, v in noise.items()})
            self._persons[key] = posterior, truth
        return self._persons[key]

    def _learned(self, source: str, obs: dict[str, np.ndarray], do: Mapping[str, float | int], cut: list[Arrow],
                 added: list[Arrow], sweep: tuple[str, np.ndarray] | None
                 ) -> tuple[dict[str, np.ndarray] | None, list[str]]:
        """The learned model's counterfactual(s) in its own graph with the visitor's edits, {column: (P,)}, or
        (None, notes). A model without `counterfactual_sweep` (only the contract's `counterfactual_rows`) is
        asked once per position."""
        model = self.models[source]
        if model is None:
            return None, []
        notes = []
        try:
            if model not in self._graphs:  # keyed by the model itself: a swapped model (a test's) reads its own
                self._graphs[model] = model.graph
            own = self._graphs[model]
            try:
                graph = Dag(own.nodes, (own.edges - set(cut)) | set(added))
            except ValueError as err:  # the added arrows close a cycle in the learned graph (not in the published)
                graph = Dag(own.nodes, own.edges - set(cut))
                notes.append(f"The added arrows were left out of the learned model's graph: {err}.")
            with torch.inference_mode():  # reading only: no model method turns autograd off itself
                out = self._rows(model, obs, do, graph, sweep)
            return {c: np.asarray(out[c]).reshape(-1) for c in self.world.columns}, notes
        except Exception as err:  # noqa: BLE001 - the world's answer is still shown; the note says what failed
            return None, notes + [f"The learned model could not answer ({type(err).__name__}: {err}); the census "
                                  "world's answer is shown instead."]

    @staticmethod
    def _rows(model, obs: dict[str, np.ndarray], do: Mapping[str, float | int], graph: Dag,
              sweep: tuple[str, np.ndarray] | None) -> Mapping[str, np.ndarray]:
        if sweep is None:
            return model.counterfactual_rows(obs, do, graph)
        name, values = sweep
        at_once: Callable | None = getattr(model, "counterfactual_sweep", None)
        if at_once is not None:
            return at_once(obs, {k: v for k, v in do.items() if k != name}, name, values, graph)
        each = [model.counterfactual_rows(obs, {**do, name: v}, graph) for v in values]
        return {c: np.concatenate([np.asarray(e[c]).reshape(-1) for e in each]) for c in each[0]}
