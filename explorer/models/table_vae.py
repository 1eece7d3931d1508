"""The tabular causal-layer VAE (CCGM's tabular half), rows in and rows out: the wrapper the Table lab and
`evaluate census` call, its loader, and the graph helpers of its training.

The network and the three steps of its counterfactual are in `explorer.models.table_vae_net` (its docstring
states the conventions: do() sets a column and its concept; a cut arrow feeds the child its parent's FACTUAL
value, as in the pendulum lab and `explorer.scm.table_scm`). Values here are TableSCM's: {column: (n,) array} of
category codes (int64) or floats, in the census world's column order. A counterfactual row is the best guess over
`draws` posterior draws (the most frequent category, the median number), as for the world's ceiling.
Nothing is unpickled: weights.safetensors + card.json.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from explorer import checkpoints
from explorer.data.tables import ColumnSpec
from explorer.device import pick_device
from explorer.models.table_vae_net import TableVAE, TableVAEConfig
from explorer.scm.graph import Dag

__all__ = ["TableVAE", "TableVAEConfig", "TableVAEModel", "load_table_vae", "fixed_matrix", "tier_rank", "shd",
           "GRAPH_MODES"]
DRAWS = 32  # posterior draws of a counterfactual row (the categorical columns' Gumbels)
ROWS_PER_CALL = 32768  # rows x draws per call of the model: bounds the quadrature's (B, Q, K) tensors


GRAPH_MODES = ("partial", "learned", "fixed", "tiers")


def fixed_matrix(columns: tuple[str, ...], mode: str, roots: tuple[str, ...] = (), graph: Dag | None = None,
                 known: frozenset[tuple[str, str]] = frozenset(),
                 tiers: tuple[tuple[str, ...], ...] = ()) -> list[list[int]]:
    """What is known about each arrow before training (1 present, 0 absent, -1 learned).

    partial: arrows into `roots` absent, the arrows in `known` present, the rest learned;
    tiers: as partial, and every arrow from a later tier of `tiers` (a causal order of column groups, earliest
    first) to an earlier one absent: background knowledge orients the arrows, the data say which exist;
    learned: every arrow learned (but `known`); fixed: `graph`'s arrows, nothing learned.
    """
    if mode not in GRAPH_MODES:
        raise ValueError(f"unknown graph mode {mode!r}; choose one of {', '.join(GRAPH_MODES)}")
    if mode == "fixed" and graph is None:
        raise ValueError("--graph fixed needs the graph to fix")
    rank = tier_rank(columns, tiers) if mode == "tiers" else {}
    out = []
    for p in columns:
        row = []
        for c in columns:
            if p == c:
                row.append(0)
            elif mode == "fixed":
                row.append(int((p, c) in graph.edges))
            elif (p, c) in known:
                row.append(1)
            elif mode in ("partial", "tiers") and c in roots:
                row.append(0)
            elif rank and rank[p] > rank[c]:  # against the causal order
                row.append(0)
            else:
                row.append(-1)
        out.append(row)
    return out


def tier_rank(columns: tuple[str, ...], tiers: tuple[tuple[str, ...], ...]) -> dict[str, int]:
    """{column: index of its tier}; a ValueError unless `tiers` holds every column exactly once."""
    rank = {c: i for i, tier in enumerate(tiers) for c in tier}
    listed = [c for tier in tiers for c in tier]
    if len(listed) != len(rank) or set(rank) != set(columns):
        raise ValueError(f"the tiers must hold every column exactly once; they hold {listed}, the columns are "
                         f"{list(columns)}")
    return rank


def shd(learned: Dag, truth: Dag) -> int:
    """Structural Hamming distance: arrows missing + arrows extra, a reversed arrow counted once."""
    missing, extra = truth.edges - learned.edges, learned.edges - truth.edges
    reversed_ = {(p, c) for p, c in missing if (c, p) in extra}
    return len(missing) + len(extra) - len(reversed_)


def standardiser(values: dict, kinds: dict[str, bool]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, sd) per column of training `values` {column: (n,)}; 0 and 1 for discrete ones (`kinds[c]` True)."""
    mean, sd = [], []
    for c, discrete in kinds.items():
        v = values[c]
        mean.append(0.0 if discrete else float(v.mean()))
        sd.append(1.0 if discrete else float(v.std()) or 1.0)
    return tuple(mean), tuple(sd)


def n_params(model: nn.Module) -> int:
    return int(sum(math.prod(p.shape) for p in model.parameters()))


# --- rows in, rows out: the wrapper the Table lab and `evaluate census` use -----------------------------------
class TableVAEModel:
    """A trained TableVAE over named columns, in TableSCM's encoding: {column: (n,) codes (int64) or floats}.

    Attributes:
        name: the checkpoint's folder name (e.g. "census-vae-world").
        draws: posterior draws per row; a counterfactual row is their best guess, as for the world's ceiling.
        columns: the columns' specs, in the model's order (the census world's).
        card: the checkpoint's card (data, graph mode, learned edges, validation metrics).
    """

    def __init__(self, model: TableVAE, columns: dict[str, ColumnSpec], name: str, card: dict | None = None,
                 device: torch.device | str = "cpu", draws: int = DRAWS, seed: int = 0):
        if tuple(columns) != model.cfg.columns:
            raise ValueError("the column specs must list the model's columns, in its order")
        self.model, self.columns, self.name, self.card = model.to(device).eval(), columns, name, card or {}
        self.device, self.draws, self.seed = torch.device(device), draws, seed

    @property
    def graph(self) -> Dag:
        """The learned (hardened) graph."""
        return self.model.graph()

    def counterfactual_rows(self, obs: Mapping[str, np.ndarray], do: Mapping[str, object],
                            graph: Dag | None = None) -> dict[str, np.ndarray]:
        """What the observed rows would have been under `do`, in `graph` (None: the learned one).

        Args:
            obs: every column's observed values, (n,) codes or floats each.
            do: {column: a category name or code, a number, or one per row} (as TableSCM.encode_do takes).
            graph: an edited graph over the same columns; arrows of the learned graph it lacks are cut.

        Raises:
            ValueError: an unknown column, a category the column lacks, a number outside the column's range, rows
                without every column, or a graph over other columns; each message says what to give instead.
        """
        x = self._rows(obs)  # (n, C)
        n = len(x)
        cf = self._draws(x, self._do(do, n), graph, self.draws, self.seed)  # (draws, n, C)
        with torch.inference_mode():
            best = cf.median(0).values  # (n, C): the median number (the smallest expected absolute error) ...
            best[:, self.model.disc] = cf[:, :, self.model.disc].mode(0).values  # ... and the most frequent category
        return self._asked(self._values(best, x, obs), do, (n,))

    def counterfactual_sweep(self, obs: Mapping[str, np.ndarray], do: Mapping[str, object], name: str,
                             values: np.ndarray, graph: Dag | None = None) -> dict[str, np.ndarray]:
        """`counterfactual_rows` of ONE observed row at each of `values` of do(`name`), `do`'s other values held:
        {column: (P,)}, entry p the one-row answer with do(name = values[p]), in one model call.

        Why equal to P one-row calls: a one-row call draws its Gumbels from a fresh stream of the model's seed, and
        which columns draw them depends on the graph and on which columns are set, not on the values they are set
        to; so every position meets the same draws. They are drawn once here (at the first position) and repeated
        for the others (a P-row call would lay its stream out over P rows and draw others).
        """
        x = self._rows(obs)  # (1, C)
        if len(x) != 1:
            raise ValueError(f"a sweep starts from one observed row, not {len(x)}")
        values = np.asarray(values)
        p, r = len(values), self.draws
        keep = None if graph is None else self._keep(graph)
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        codes = self._do({**do, name: values[0]}, 1)
        gumbels: dict[int, torch.Tensor] = {}  # filled with the draws of the first call: {column index: (r, K)}
        with torch.inference_mode():
            self.model._counterfactual(x, codes, keep, generator, r, gumbels=gumbels)  # (r, C): position 0
            codes[self._known(name)] = self._do({name: values}, p)[self._known(name)].repeat_interleave(r)  # (P*r,)
            cf = self.model._counterfactual(x, codes, keep, None, p * r, gumbels={
                j: g.repeat(p, 1) for j, g in gumbels.items()})[0]  # (P*r, C): position q's draw d at q*r + d
            cf = cf.view(p, r, -1).transpose(0, 1)  # (r, P, C), as `_draws` lays out P rows' draws
            best = cf.median(0).values  # (P, C), as counterfactual_rows sums up its draws
            best[:, self.model.disc] = cf[:, :, self.model.disc].mode(0).values
        tiled = {c: np.repeat(np.asarray(obs[c]), p) for c in self.columns}
        return self._asked(self._values(best, x.repeat(p, 1), tiled), {**do, name: values}, (p,))

    def counterfactual_draws(self, obs: Mapping[str, np.ndarray], do: Mapping[str, object],
                             graph: Dag | None = None, draws: int | None = None, seed: int | None = None
                             ) -> dict[str, np.ndarray]:
        """Every posterior draw of the counterfactual rows, {column: (draws, n)}: the draws `counterfactual_rows`
        sums up into one best guess, for callers that average over them (a decision's flip rate over draws).

        Args:
            obs, do, graph: as `counterfactual_rows`.
            draws, seed: the number of draws and the seed of their stream (None: the model's own; with both None,
                the draws are exactly those `counterfactual_rows` sums up).
        """
        x = self._rows(obs)  # (n, C)
        n = len(x)
        d = self.draws if draws is None else draws
        cf = self._draws(x, self._do(do, n), graph, d, self.seed if seed is None else seed)  # (d, n, C)
        tiled = {c: np.tile(np.asarray(obs[c]), d) for c in self.columns}  # draw k's row i at k * n + i
        flat = self._values(cf.reshape(d * n, -1), x.repeat(d, 1), tiled)  # {column: (d * n,)}
        return self._asked({c: v.reshape(d, n) for c, v in flat.items()}, do, (d, n))

    def _draws(self, x: torch.Tensor, codes: dict[int, torch.Tensor], graph: Dag | None, draws: int,
               seed: int) -> torch.Tensor:
        """`draws` counterfactual draws of the rows x (n, C) under do `codes`: (draws, n, C), ROWS_PER_CALL rows
        a call, the Gumbels from one stream of `seed` (same rows in, same rows out)."""
        keep = None if graph is None else self._keep(graph)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        n, per = len(x), max(1, ROWS_PER_CALL // max(1, len(x)))
        out = []
        with torch.inference_mode():
            for start in range(0, draws, per):
                k = min(per, draws - start)
                out.append(self.model.counterfactual_draws(x, codes, keep, generator, k).view(k, n, -1))
        return torch.cat(out)  # (draws, n, C)

    # --- abducted noise, then many actions on it (recourse) ------------------------------------------------
    def posterior_noise(self, obs: Mapping[str, np.ndarray], draws: int, seed: int) -> dict[int, torch.Tensor]:
        """The categorical columns' noise of the n observed rows, `draws` posterior draws from one stream of
        `seed`: {column index: (draws * n, K)} Gumbels, draw d's row i at d * n + i (`TableVAE.posterior_noise`)."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        with torch.inference_mode():
            return self.model.posterior_noise(self._rows(obs), draws, generator)

    def intervene(self, obs: Mapping[str, np.ndarray], value: Mapping[str, np.ndarray],
                  mask: Mapping[str, np.ndarray], gumbels: Mapping[int, torch.Tensor]) -> dict[str, np.ndarray]:
        """Counterfactual rows on abducted noise, a different do() per row: B = k * n rows, row b the observed row
        b % n; `value` {column: (B,) codes or numbers} holds where `mask` {column: (B,) bool} is True, elsewhere
        the column follows its mechanism; `gumbels` {column index: (B, K)} the categorical noise
        (`posterior_noise`, tiled as the caller lays its rows out). Deterministic: no draw is made here.
        Returns {column: (B,)} codes or floats; an unmoved number is the observed one exactly."""
        x = self._rows(obs)  # (n, C)
        b = len(next(iter(value.values())))
        names = list(self.columns)
        do = {names.index(c): torch.as_tensor(np.asarray(v, np.float64), dtype=torch.float32, device=self.device)
              for c, v in value.items()}
        rows = {names.index(c): torch.as_tensor(np.asarray(m, bool), device=self.device) for c, m in mask.items()}
        with torch.inference_mode():
            out = self.model._counterfactual(x, do, None, None, b // len(x), rows, dict(gumbels))[0]  # (B, C)
        reps = b // len(x)
        values = self._values(out, x.repeat(reps, 1), {c: np.tile(np.asarray(obs[c]), reps) for c in self.columns})
        for c, v in value.items():  # the asked values themselves, not their float32 round trip
            values[c] = np.where(mask[c], np.asarray(v).astype(values[c].dtype), values[c])
        return values

    def _asked(self, out: dict[str, np.ndarray], do: Mapping[str, object], shape: tuple[int, ...]
               ) -> dict[str, np.ndarray]:
        """`out` with every intervened column holding the asked values themselves (float64), not their float32
        round trip; `shape` (n,) or (draws, n)."""
        for name in do:
            out[name] = np.broadcast_to(self.columns[name].encode(do[name]), shape).astype(out[name].dtype)
        return out

    def concept_readings(self, obs: Mapping[str, np.ndarray], do: Mapping[str, object]) -> dict[str, np.ndarray]:
        """What the decoder reads off each counterfactual concept (the intervened column's: effectiveness)."""
        x = self._rows(obs)
        with torch.inference_mode():
            _, read = self.model.counterfactual(x, self._do(do, len(x)))
        return self._values(read)

    def reconstruct_rows(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The VAE's reconstruction of the rows (encoder mean, decoder arg-max)."""
        with torch.inference_mode():
            return self._values(self.model.reconstruct(self._rows(obs)))

    # --- checked input --------------------------------------------------------------------------------------
    def _known(self, name: str) -> int:
        if name not in self.columns:
            raise ValueError(f"unknown column {name!r}; the model {self.name} has {', '.join(self.columns)}")
        return list(self.columns).index(name)

    def _rows(self, obs: Mapping[str, np.ndarray]) -> torch.Tensor:
        for name in obs:
            self._known(name)
        missing = [c for c in self.columns if c not in obs]
        if missing:
            raise ValueError(f"observed rows lack the column(s) {missing}; the model needs every column")
        cols = [np.asarray(s.encode(obs[c], check_range=False), np.float64) for c, s in self.columns.items()]
        if len({len(c) for c in cols}) != 1:
            raise ValueError("every observed column must hold the same number of rows")
        return torch.from_numpy(np.stack(cols, 1)).float().to(self.device)  # (n, C)

    def _do(self, do: Mapping[str, object], n: int) -> dict[int, torch.Tensor]:
        out = {}
        for name, value in do.items():
            j = self._known(name)
            encoded = self.columns[name].encode(value)
            if encoded.size not in (1, n):
                raise ValueError(f"do({name}) has {encoded.size} values for {n} rows; give one, or one per row")
            out[j] = torch.from_numpy(np.broadcast_to(encoded, (n,)).astype(np.float64)).float().to(self.device)
        return out

    def _keep(self, graph: Dag) -> torch.Tensor:
        if set(graph.nodes) != set(self.columns):
            raise ValueError(f"the graph is over {sorted(graph.nodes)}, not the model's columns {list(self.columns)}")
        names = list(self.columns)
        keep = torch.zeros(len(names), len(names), device=self.device)  # (C, C) [parent, child]
        for p, c in graph.edges:
            keep[names.index(p), names.index(c)] = 1.0
        return keep

    def _values(self, rows: torch.Tensor, x: torch.Tensor | None = None, obs: Mapping | None = None
                ) -> dict[str, np.ndarray]:
        """(n, C) rows -> {column: codes or floats}. With the float32 input `x` and the observed `obs`, a number
        is the observed float64 value plus the model's change, so an unmoved one is returned exactly."""
        arr = rows.cpu().double().numpy()  # (n, C)
        if x is not None and obs is not None:
            change = arr - x.cpu().double().numpy()  # (n, C)
            for j, (c, s) in enumerate(self.columns.items()):
                if not s.discrete:
                    arr[:, j] = np.asarray(obs[c], np.float64) + change[:, j]
        return {c: (np.rint(arr[:, j]).astype(np.int64) if s.discrete else arr[:, j])
                for j, (c, s) in enumerate(self.columns.items())}


def load_table_vae(folder: Path | str, device: torch.device | str | None = None) -> TableVAEModel:
    """The wrapper from `folder` (weights.safetensors + card.json, nothing unpickled); CheckpointError if absent."""
    folder = Path(folder)
    rebuild = f"python -m explorer train census --data {'adult' if folder.name.endswith('adult') else 'world'}"
    model, card = checkpoints.load_module(folder, lambda cfg: TableVAE(TableVAEConfig(**cfg)), rebuild, "table VAE")
    try:
        columns = {s["name"]: ColumnSpec(**{**s, "categories": tuple(s["categories"])}) for s in card["columns"]}
        return TableVAEModel(model, columns, folder.name, card, device or pick_device())
    except (KeyError, TypeError, ValueError) as err:
        raise checkpoints.CheckpointError(f"The table VAE card in {folder} does not match the code ({err}). "
                                          f"Rebuild it with: {rebuild}") from err
