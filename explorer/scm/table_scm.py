"""A structural causal model over the columns of a table: a graph plus one mechanism per column.

Values are dicts of (n,) arrays keyed by column: category codes (int64) for categorical and ordinal columns,
floats for continuous ones. Noise is a dict keyed the same way: (n,) for a continuous column, (n, K) Gumbels
for a categorical one (`explorer.scm.table_mechanisms`). Every sampled row keeps its noise, so the TRUE
counterfactual of any do() in any edited graph is the same mechanisms run again on the same noise.

Cut arrows, as in the pendulum lab (explorer/scm/pendulum.py, the page and the export alike): when
parent -> child is left out of the graph, the child's mechanism reads the parent's FACTUAL value (its value
before any intervention) instead of its counterfactual one. A cut changes nothing until something upstream
changes; a de-biased table is made by giving the cut parent new values with do() (shuffled across rows,
explorer/counterfactual/debias.py), and the child, reading the old ones, no longer follows it. Arrows the
world's graph lacks are ignored: no mechanism reads them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from explorer.data.tables import ColumnSpec
from explorer.scm.graph import Dag
from explorer.scm.table_mechanisms import Mechanism
from explorer.scm.table_posterior import PosteriorDraws
from explorer.types import VarSpec

Noise = dict[str, np.ndarray]
Do = Mapping[str, object]  # column -> a category name or code, a number, or one per row


@dataclass
class TableSCM:
    """The SCM of a table. `columns` fixes the variables and their order; `graph` must be a DAG over them,
    and `mechanisms[c].parents` must list exactly `graph.parents(c)` (checked at construction)."""

    columns: dict[str, ColumnSpec]
    graph: Dag
    mechanisms: dict[str, Mechanism]
    name: str = "table"
    order: list[str] = field(init=False)  # the graph's topological order, in which mechanisms run

    def __post_init__(self) -> None:
        if tuple(self.columns) != self.graph.nodes or set(self.mechanisms) != set(self.columns):
            raise ValueError("the columns, the graph's nodes and the mechanisms must name the same variables")
        for node, mech in self.mechanisms.items():
            if sorted(p.name for p in mech.parents) != sorted(self.graph.parents(node)):
                raise ValueError(f"the mechanism of {node} reads {[p.name for p in mech.parents]}, but the graph "
                                 f"gives it the parents {self.graph.parents(node)}")
        self.order = self.graph.topological_order()

    @property
    def variables(self) -> list[str]:
        return list(self.columns)

    @property
    def specs(self) -> dict[str, VarSpec]:
        return {name: c.to_varspec() for name, c in self.columns.items()}

    def parents(self, node: str) -> list[str]:
        return self.graph.parents(self._known(node))

    # --- sampling and the three steps -------------------------------------------------------------------
    def sample_noise(self, n: int, seed: int) -> Noise:
        """Exogenous noise of `n` rows; each column's from its own stream, keyed by its name (crc32), so the
        draws do not depend on the columns' order or on which other columns the world has."""
        return {node: self.mechanisms[node].sample_noise(n, np.random.default_rng([seed, zlib.crc32(node.encode())]))
                for node in self.columns}

    def sample(self, n: int, seed: int) -> tuple[Noise, dict[str, np.ndarray]]:
        """(noise, values) of `n` rows from the observational distribution."""
        noise = self.sample_noise(n, seed)
        return noise, self.counterfactual(noise)

    def abduct(self, obs: Mapping[str, np.ndarray], known: Noise | None = None, seed: int = 0) -> Noise:
        """Noise from observed rows: continuous residuals exactly, categorical Gumbels as ONE posterior draw.

        Args:
            obs: every column's observed values (codes or floats), (n,) each.
            known: the rows' true noise when it is known (the world's own samples); returned as it is,
                since values cannot say more about the noise than the noise itself.
            seed: the posterior draw's seed.
        """
        if known is not None:
            return {k: np.asarray(v) for k, v in known.items()}
        obs = self.encode_rows(obs)
        rng = np.random.default_rng(seed)
        return {node: self.mechanisms[node].abduct(obs[node], obs, rng) for node in self.order}

    def counterfactual(self, noise: Noise, do: Do | None = None, graph: Dag | None = None) -> dict[str, np.ndarray]:
        """Every column's value under hard interventions `do`, in `graph` (default: the world's own).

        Mechanisms run in the world's causal order; a parent whose arrow into a child is missing from `graph`
        enters the child's mechanism at its factual value (module docstring).

        Raises:
            ValueError: an unknown column, a category the column does not have, a number outside the column's
                range, or a graph over other variables (each message says what to give instead).
        """
        n = len(next(iter(noise.values())))
        do = self.encode_do(do or {}, n)
        graph = self.check_graph(graph)
        cut = self.graph.edges - graph.edges
        factual = self._run(noise, {}, set()) if cut and do else None
        return self._run(noise, do, cut, factual)

    def _run(self, noise: Noise, do: dict[str, np.ndarray], cut: set[tuple[str, str]],
             factual: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for node in self.order:
            if node in do:
                out[node] = do[node]
                continue
            parents = {p: (factual[p] if factual is not None and (p, node) in cut else out[p])
                       for p in self.graph.parents(node)}
            out[node] = self.mechanisms[node].decode(np.asarray(noise[node]), parents)
        return {node: out[node] for node in self.columns}

    def counterfactual_draws(self, obs: Mapping[str, np.ndarray], do: Do | None = None, graph: Dag | None = None,
                             draws: int = 100, seed: int = 0, noise: Noise | None = None) -> dict[str, np.ndarray]:
        """The counterfactual of observed rows, under `draws` draws of their noise's posterior: (draws, n) each.

        This is the ceiling of any counterfactual model that sees only the row: the world's TRUE mechanisms
        with the noise abducted from what was observed. Continuous columns whose parents do not move are the
        same in every draw (additive noise is identified); a categorical column's draws spread over the
        categories its posterior allows. `best_guess` reduces the draws to one row.
        """
        n = len(next(iter(obs.values())))
        noise = self.posterior(obs, draws, seed) if noise is None else noise  # `noise`: this posterior, kept
        do_tiled = {k: np.tile(v, draws) for k, v in self.encode_do(do or {}, n).items()}
        cf = self.counterfactual(noise, do_tiled, graph)
        return {k: v.reshape(draws, n) for k, v in cf.items()}

    def posterior(self, obs: Mapping[str, np.ndarray], draws: int = 100, seed: int = 0) -> Noise:
        """`draws` draws of the noise's posterior given observed rows, row i of draw d at d * n + i.

        What `counterfactual_draws` abducts; it depends on the rows alone, not on do() or the graph, so a caller
        asking many what-ifs of one row (the Table lab's slider) abducts once and keeps it.
        """
        obs = self.encode_rows(obs)
        return self.abduct({k: np.tile(v, draws) for k, v in obs.items()}, seed=seed)

    def posterior_draws(self, obs: Mapping[str, np.ndarray], draws: int, seed: int, movable: Iterable[str],
                        noise: Noise | None = None) -> PosteriorDraws:
        """`draws` posterior draws of the rows' noise and their counterfactuals under do() on `movable`,
        vectorised over draws and graphs (explorer/scm/table_posterior.py: the same posterior as `posterior`, drawn
        another way; given `posterior`'s draws as `noise`, the same values as `counterfactual_draws`)."""
        return PosteriorDraws(self, obs, draws, seed, movable, noise)

    def best_guess(self, draws: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """(draws, n) per column -> (n,): the most probable category (the best accuracy a guess can expect),
        or the median (the smallest expected absolute error)."""
        out = {}
        for name, d in draws.items():
            spec = self.columns[name]
            if spec.discrete:
                counts = np.stack([(d == k).sum(0) for k in range(spec.levels)], 1)  # (n, K)
                out[name] = counts.argmax(1).astype(np.int64)
            else:
                out[name] = np.median(d, axis=0)
        return out

    # --- edited graphs and checked input -----------------------------------------------------------------
    def cut(self, arrows: Iterable[str | tuple[str, str]]) -> Dag:
        """The world's graph without `arrows` ("parent:child" strings or pairs); a pair that is no arrow of the
        world is a ValueError naming the arrows it has."""
        cut = set()
        for arrow in arrows:
            pair = tuple(p.strip() for p in arrow.split(":")) if isinstance(arrow, str) else tuple(arrow)
            if len(pair) != 2 or not all(pair):
                raise ValueError(f"{arrow!r} is not PARENT:CHILD; an arrow is written parent:child, e.g. "
                                 "sex:occupation")
            parent, child = self._known(pair[0]), self._known(pair[1])
            if (parent, child) not in self.graph.edges:
                out = ", ".join(f"{parent}:{c}" for c in self.graph.children(parent)) or "none"
                raise ValueError(f"{parent} -> {child} is not an arrow of the {self.name} graph, so it cannot be "
                                 f"cut; the arrows out of {parent} are: {out}")
            cut.add((parent, child))
        return Dag(self.graph.nodes, self.graph.edges - cut)

    def encode_do(self, do: Do, n: int) -> dict[str, np.ndarray]:
        """do() values -> (n,) codes or floats per column; names the column and the fix on any bad value."""
        out = {}
        for name, value in do.items():
            encoded = self.columns[self._known(name)].encode(value)
            if encoded.size not in (1, n):
                raise ValueError(f"do({name}) has {encoded.size} values for {n} rows; give one, or one per row")
            out[name] = np.broadcast_to(encoded, (n,)).copy()
        return out

    def encode_rows(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every column's observed values as codes or floats, (n,) each; ValueError on a missing or unknown column."""
        missing = [c for c in self.columns if c not in obs]
        if missing:
            raise ValueError(f"observed rows lack the column(s) {missing}; abduction needs every column")
        for name in obs:
            self._known(name)
        return {c: self.columns[c].encode(obs[c], check_range=False) for c in self.columns}

    def _known(self, name: str) -> str:
        if name not in self.columns:
            raise ValueError(f"unknown column {name!r}; the {self.name} world has {', '.join(self.columns)}")
        return name

    def check_graph(self, graph: Dag | None) -> Dag:
        """`graph` (default: the world's own), after checking that it is over the world's columns."""
        if graph is None:
            return self.graph
        if set(graph.nodes) != set(self.columns):
            raise ValueError(f"the graph is over {sorted(graph.nodes)}, not the {self.name} world's columns")
        return graph
