"""Counterfactual draws of many observed rows at once: `TableSCM.posterior` + `counterfactual_draws`, vectorised.

`PosteriorDraws(scm, obs, draws, seed, movable)` is the same abduction as `TableSCM.posterior(obs, draws)`:
continuous residuals exactly; for each categorical column, `draws` draws of its Gumbels from their posterior
given that the observed category won, by the top-down construction of `GumbelMax.abduct` (Maddison, Tarlow &
Minka 2014): the maximum of the perturbed logits, Gumbel(logsumexp(logits)), goes to the observed category and
the others are Gumbel(logit_k) truncated below it. The draws are made differently, for speed (the distribution
is the same; tests/test_cf_fairness_speed_equiv.py checks it):

- A Gumbel(logit) is logit - log E with E ~ Exponential(1), so a truncated one, -log(exp(-top) + exp(-G_k)),
  is -log(exp(-top) + exp(-logit_k) E_k): one logarithm per draw and category, where drawing G_k (two) and
  truncating it with logaddexp (an exponential and a logarithm) took four; exponentials come from numpy's fast
  ziggurat. Computed relative to each row's logsumexp, so no exponential can overflow for a probable category.
- Each column draws from its own stream, seeded by (seed, the column's name, `POSTERIOR_STREAM`), so a column's
  draws do not depend on which other columns are drawn; `TableSCM.posterior` draws every column from one
  stream, with numpy's Gumbel sampler, so the two give different (equally distributed) draws.

And it does only the work that differs between draws and graphs:

- A mechanism's logits given the OBSERVED parents are the same in every draw: they are computed on the n rows
  once, not on the draws * n tiled rows (`TableSCM.posterior` tiles the rows, then builds a design matrix of
  draws * n rows per column).
- Only the columns downstream of the intervened ones (`movable`) need their Gumbels: every other column keeps its
  observed value in any counterfactual of those interventions, whatever its noise.
- A counterfactual value is (draws, n) only where it can differ between draws; a column whose inputs are the
  same in every draw stays (n,) (its parents observed, or all read at their factual values in a cut graph),
  and a column whose parents all hold their factual values is its factual value, computed once.
- Logits are built by gathering weight rows per parent (a category's one-hot feature selects one row of the
  weights), not by a sparse design matrix, accumulated in the design's feature order so the sums are the same
  floating-point sums as `design(...) @ weight.T` (scipy's CSR product accumulates the nonzero features of a
  row in column order, starting from 0).

Given the same noise (`noise=`, e.g. `TableSCM.posterior`'s), the counterfactuals are bit for bit those of
`TableSCM.counterfactual_draws` (tests/test_cf_fairness_speed_equiv.py).
"""

from __future__ import annotations

import zlib
from typing import Mapping

import numpy as np
from scipy.special import logsumexp

from explorer.scm.graph import Dag
from explorer.scm.table_mechanisms import Additive, GumbelMax, Mechanism, ParentEncoding

# A third word in each column's seed: `TableSCM.sample_noise` seeds a column with (seed, crc32 of its name), and
# rows sampled with seed s then abducted with seed s (the bench, the tests) must not reuse their own noise's
# random numbers as posterior draws.
POSTERIOR_STREAM = 0x706F7374  # "post"


def linear_terms(parents: tuple[ParentEncoding, ...], weight: np.ndarray, values: Mapping[str, np.ndarray]):
    """sum over the parents' features of feature * weight row: shape (..., out), or None for a root.

    weight: (D, out), the design's D features in order (GumbelMax: weight.T; Additive: coef[:, None]).
    values: each parent's values, (n,) or (draws, n); the result broadcasts over them.
    """
    acc = None
    off = 0
    for p in parents:
        x = values[p.name]
        if p.levels:
            terms = [weight[off:off + p.levels][np.asarray(x, np.int64)]]  # (..., out): the one-hot's 1.0 * row
        else:
            z = (np.asarray(x, np.float64) - p.mean) / p.scale  # (...,) as ParentEncoding.features
            feats = [z] + [np.maximum(0.0, z - k) for k in p.knots]
            terms = [f[..., None] * weight[off + j] for j, f in enumerate(feats)]  # (..., out) each
        for t in terms:  # one feature at a time, in order: the CSR product's summation order
            acc = t if acc is None else acc + t
        off += p.width
    return acc


def mech_linear(mech: Mechanism, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """GumbelMax: its logits (..., K); Additive: its mean (...); broadcast over the parents' shapes."""
    if isinstance(mech, GumbelMax):
        acc = linear_terms(mech.parents, mech.weight.T, values)
        return mech.bias if acc is None else mech.bias + acc  # (K,) or (..., K)
    acc = linear_terms(mech.parents, mech.coef[:, None], values)
    return np.float64(mech.intercept) + (0.0 if acc is None else acc[..., 0])  # () or (...)


def descendants(graph: Dag, nodes) -> set[str]:
    """Every node reachable from `nodes` along the graph's arrows (the nodes themselves excluded unless reached)."""
    out, todo = set(), list(nodes)
    while todo:
        for child in graph.children(todo.pop()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


class PosteriorDraws:
    """`draws` posterior draws of the noise of n observed rows, for counterfactuals that intervene on `movable`.

    Attributes:
        factual: {column: (n,)} the rows rebuilt from their noise (the observed values; a continuous child's is
            mean + residual, as `TableSCM.counterfactual` rebuilds it, equal to the observed up to rounding).
        noise: {column: (draws, n, K)} the Gumbels of the categorical columns downstream of `movable`.
        resid: {column: (n,)} every continuous column's residual (identified: the same in every draw).
    """

    def __init__(self, scm, obs: Mapping[str, np.ndarray], draws: int, seed: int, movable,
                 noise: Mapping[str, np.ndarray] | None = None):
        """noise: posterior draws already made ((draws * n, K) per column, row i of draw d at d * n + i, as
        `TableSCM.posterior` returns them), used instead of drawing."""
        obs = scm.encode_rows(obs)  # the same checks and encoding as TableSCM.abduct
        self.scm, self.draws = scm, draws
        self.n = n = len(next(iter(obs.values())))
        self.movable = set(movable)
        self.changing = descendants(scm.graph, self.movable)  # columns a do() on `movable` can change
        self.noise: dict[str, np.ndarray] = {}
        self.resid: dict[str, np.ndarray] = {}
        for node in scm.order:
            mech = scm.mechanisms[node]
            if isinstance(mech, Additive):  # the residual: exact, no draw (Additive.abduct)
                self.resid[node] = np.asarray(obs[node], np.float64) - mech_linear(mech, obs)  # (n,)
            elif node in self.changing and noise is not None:
                self.noise[node] = np.asarray(noise[node]).reshape(draws, n, -1)  # (draws, n, K)
            elif node in self.changing:
                rng = np.random.default_rng([seed, zlib.crc32(node.encode()), POSTERIOR_STREAM])  # its own stream
                self.noise[node] = gumbel_posterior(mech_linear(mech, obs), obs[node], draws, rng)  # (draws, n, K)
        self.factual = self._rebuild(obs)

    def _rebuild(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The factual run (`TableSCM._run` with no do()): categorical columns give back the observed category
        (the posterior puts it on top), continuous ones mean(rebuilt parents) + residual."""
        out: dict[str, np.ndarray] = {}
        for node in self.scm.order:
            mech = self.scm.mechanisms[node]
            if isinstance(mech, Additive):
                mean = mech_linear(mech, out)
                out[node] = np.broadcast_to(mean, (self.n,)) + self.resid[node]  # (n,)
            else:
                out[node] = np.asarray(obs[node], np.int64)  # (n,)
        return out

    def counterfactual(self, do: Mapping[str, np.ndarray | int], graph: Dag | None = None) -> dict[str, np.ndarray]:
        """{column: (n,) or (draws, n)}: `TableSCM.counterfactual_draws(obs, do, graph, draws, seed)` without the
        tiling (a (n,) column is the same in every draw). `do`: encoded values (a code or a number, or (n,)) of
        columns in `movable`; `graph`: the world's graph with arrows cut (a cut child reads its parent's factual
        value, module explorer/scm/table_scm.py)."""
        scm = self.scm
        if not set(do) <= self.movable:
            raise ValueError(f"these draws were made for do() on {sorted(self.movable)}, not {sorted(do)}")
        graph = scm.check_graph(graph)
        cut = scm.graph.edges - graph.edges
        out: dict[str, np.ndarray] = {}
        for node in scm.order:
            if node in do:
                out[node] = np.broadcast_to(np.asarray(do[node]), (self.n,))
                continue
            if node not in self.changing:  # upstream of, or beside, the intervention: factual
                out[node] = self.factual[node]
                continue
            reads = {p: self.factual[p] if (p, node) in cut else out[p] for p in scm.graph.parents(node)}
            if all(v is self.factual[p] for p, v in reads.items()):  # nothing it reads moved
                out[node] = self.factual[node]
                continue
            mech = scm.mechanisms[node]
            if isinstance(mech, Additive):
                out[node] = mech_linear(mech, reads) + self.resid[node]  # (n,) or (draws, n)
            else:
                scores = mech_linear(mech, reads) + self.noise[node]  # (draws, n, K)
                out[node] = np.argmax(scores, axis=-1).astype(np.int64)  # (draws, n)
        return {node: out[node] for node in scm.columns}

    def repeated(self, p: int) -> "PosteriorDraws":
        """These draws with each row repeated p times (row i's copies at i * p .. i * p + p - 1): the same noise and
        residuals, so a do() giving each copy its own value answers, per copy, what that value alone answers on
        the row (a slider's sweep in one pass; every step of `counterfactual` is elementwise over rows)."""
        out = object.__new__(PosteriorDraws)
        out.__dict__.update(self.__dict__)
        out.n = self.n * p
        out.factual = {k: np.repeat(v, p) for k, v in self.factual.items()}  # (n * p,)
        out.resid = {k: np.repeat(v, p) for k, v in self.resid.items()}  # (n * p,)
        out.noise = {k: np.repeat(v, p, axis=1) for k, v in self.noise.items()}  # (draws, n * p, K)
        return out

    def tiled(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`counterfactual`'s values as `TableSCM.counterfactual_draws` gives them: (draws, n) each."""
        return {k: np.broadcast_to(v, (self.draws, self.n)).copy() for k, v in values.items()}


def gumbel_posterior(logits: np.ndarray, obs: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, n, K) Gumbels from their posterior given that category `obs` won, `logits` (n, K) given the
    observed parents (module docstring: the top-down construction, with exponentials).

    Relative to each row's logsumexp (s = logits - lse <= 0), the maximum is Gumbel(0) = -log E_0 and a truncated
    other is -log(exp(log E_0) + exp(-s_k) E_k) = -log(E_0 + exp(-s_k) E_k); the noise is that minus s_k (the
    perturbed logit minus the logit: lse cancels).
    """
    n, k = logits.shape
    s = logits - logsumexp(logits, axis=1, keepdims=True)  # (n, K): log-probabilities, <= 0
    e_top = rng.standard_exponential(size=(draws, n))  # (draws, n): exp(-top)
    out = rng.standard_exponential(size=(draws, n, k))  # (draws, n, K): E_k
    out *= np.exp(-s)[None]  # exp(-G_k), G_k = s_k - log E_k ~ Gumbel(s_k); in place, as the steps below
    out += e_top[..., None]  # exp(-top) + exp(-G_k)
    np.log(out, out=out)
    np.negative(out, out=out)  # G_k truncated below top
    out[:, np.arange(n), np.asarray(obs, np.int64)] = -np.log(e_top)  # the observed category: top itself
    out -= s[None]  # the noise: perturbed logits minus the logits
    return out
