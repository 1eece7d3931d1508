"""Counterfactual fairness (Kusner et al. 2017) of a table classifier through the table lab's LEARNED causal model.

The same measure, report and code as `explorer.metrics.cf_fairness` (its `cf_fairness`, chunking, seeds, draws,
paths and report are used as they are), with the tabular causal-layer VAE (`explorer.models.table_vae`, e.g.
pretrained/census-vae-world or census-vae-adult) in place of the census world's fitted mechanisms.
`LearnedCausalModel` gives the VAE the few parts of `TableSCM` that `cf_fairness` reads, so the three steps are:

1. abduction: the VAE's concepts and their noise from the row (a continuous column's exactly, a categorical
   column's Gumbels from their posterior given the observed category), `draws` draws, seeded;
2. action: do(protected = another value), the VAE's convention (the column set, its concept set to the
   category's centre);
3. prediction: the learned mechanisms rerun in the learned graph on the same noise
   (`TableVAEModel.counterfactual_draws`, one row per draw), then the model asked on every draw's row.

Composition: a row asked to take values it already has is the factual row, as in the world, where the same noise
gives the same row; the VAE would move it (a category's concept is set to the category's centre, not the row's
own score; docs/census.md, "The learned model's export"). `cf_fairness` never asks that (every row moves to every
OTHER value), but a caller of `LearnedCausalModel` may.

Path-specific versions cut arrows of the model's LEARNED graph (`learned_cut`; a cut child reads its parent's
factual concept): "direct" cuts every arrow out of the protected column in that graph, so only the model's own
reading of it changes; "not_marital_status" cuts that one arrow when the learned graph has it (the shipped
models learned relationship -> marital status, so sex still reaches marital status through relationship).

Columns the VAE does not model keep their factual values ("held"), except one that is a function of a modelled
categorical column in the rows given ("derived"), as in `cf_fairness`; columns are matched to the VAE's variables
by `column_key` (rename the table first to apply a user's map, as the audit does for the world).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import torch

from explorer.counterfactual.census_debias import learned_cut
from explorer.data.tables import ColumnSpec
from explorer.metrics.cf_fairness import (CfConfig, Predict, RowEffects, cf_fairness, replace_paths, row_effects,
                                          world_check, world_frame)
from explorer.models.table_onnx import column_key
from explorer.models.table_vae import TableVAEModel, load_table_vae
from explorer.scm.graph import Dag
from explorer.scm.table_scm import TableSCM

CHUNK_ROWS = 2000  # rows per chunk: memory ~ CHUNK_ROWS x draws counterfactual rows


class LearnedDraws:
    """`draws` posterior draws of the VAE's counterfactual of n observed rows, as `cf_fairness` asks for them
    (`TableSCM.posterior_draws(...).counterfactual(do, graph)`)."""

    def __init__(self, vae: TableVAEModel, obs: Mapping[str, np.ndarray], draws: int, seed: int):
        self.vae, self.obs, self.draws, self.seed = vae, dict(obs), draws, seed
        self.n = len(next(iter(self.obs.values())))

    def counterfactual(self, do: Mapping[str, np.ndarray | int], graph: Dag | None = None) -> dict[str, np.ndarray]:
        """{column: (n,) when the same in every draw, else (draws, n)}; `do` encoded (a code or number, or (n,)),
        `graph` the learned graph with arrows cut (None: the learned graph). Rows that already hold every asked
        value are the factual rows (composition); only the others go through the VAE."""
        asked = {c: np.broadcast_to(np.asarray(v), (self.n,)) for c, v in do.items()}
        moved = np.any([asked[c] != self.obs[c] for c in asked], axis=0) if asked else np.zeros(self.n, bool)
        out = {c: np.broadcast_to(np.asarray(v), (self.draws, self.n)).copy() for c, v in self.obs.items()}
        if moved.any():
            cf = self.vae.counterfactual_draws({c: v[moved] for c, v in self.obs.items()},
                                               {c: v[moved] for c, v in asked.items()}, graph, self.draws, self.seed)
            for c, v in cf.items():
                out[c] = out[c].astype(np.result_type(out[c], v))
                out[c][:, moved] = v
        return {c: v[0] if (v == v[:1]).all() else v for c, v in out.items()}  # (n,) where no draw differs


class LearnedCausalModel:
    """The VAE seen through the parts of `TableSCM` that `cf_fairness` reads (`name`, `columns`, `variables`,
    `graph`: the learned one, `cut`, `encode_do`, `posterior_draws`) and the audit's report (`order`)."""

    def __init__(self, vae: TableVAEModel):
        self.vae, self.name = vae, vae.name
        self.columns: dict[str, ColumnSpec] = vae.columns
        self.graph: Dag = vae.graph
        self.order: list[str] = self.graph.topological_order()  # the learned graph's causal order

    @property
    def variables(self) -> list[str]:
        return list(self.columns)

    def cut(self, arrows: Iterable[str | tuple[str, str]]) -> Dag:
        return learned_cut(self.vae, arrows)

    def encode_do(self, do: Mapping[str, object], n: int) -> dict[str, np.ndarray]:
        return {c: np.broadcast_to(self.columns[c].encode(v), (n,)).copy() for c, v in do.items()}

    def posterior_draws(self, obs: Mapping[str, np.ndarray], draws: int, seed: int, movable=()) -> LearnedDraws:
        return LearnedDraws(self.vae, obs, draws, seed)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """The VAE's tensors are small (rows x 11): on a shared 2-core machine a second intra-op thread only spins
    against the other jobs (ten times slower measured), as in training and `evaluate census`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def learned_model(folder: str = "census-vae-adult") -> LearnedCausalModel:
    """The shipped learned model of Adult (trained on its rows) as `cf_fairness` takes a causal model; a missing
    or damaged checkpoint raises CheckpointError (the command line turns it into a note)."""
    from explorer.paths import PRETRAINED

    return LearnedCausalModel(load_table_vae(PRETRAINED / folder, "cpu"))


def causal_model_name(vae: TableVAEModel) -> str:
    """The report's `causal_model`: "learned:<checkpoint folder name>"."""
    return f"learned:{vae.name}"


def check_table(vae: TableVAEModel, columns, protected: str) -> None:
    """ValueError (one line, what to do) when the protected column is not a categorical variable of the VAE or
    a variable has no column (abduction needs every one); checked before `cf_fairness`, in the VAE's words."""
    if protected not in vae.columns or not vae.columns[protected].discrete:
        raise ValueError(f"protected column {protected!r} is not a categorical variable of the learned model "
                         f"{vae.name}, so it cannot be intervened on; choose one of "
                         f"{', '.join(c for c, s in vae.columns.items() if s.discrete)}")
    keys = {column_key(str(c)) for c in columns}
    missing = [v for v in vae.columns if column_key(v) not in keys]
    if missing:
        raise ValueError(f"the table has no column for the learned model {vae.name}'s variable(s) "
                         f"{', '.join(missing)}; abduction needs every variable of the causal model (rename the "
                         "columns or map them: --map column=variable)")


def cf_fairness_learned(frame: pd.DataFrame, predict: Predict, vae: TableVAEModel, config: CfConfig,
                        p0: np.ndarray | None = None, derived: dict | None = None,
                        chunk_rows: int | None = CHUNK_ROWS,
                        progress: Callable[[int, int], None] | None = None) -> tuple[dict, RowEffects]:
    """`cf_fairness.cf_fairness` through the learned VAE: the same report, key for key ({protected: {flip_rate,
    mean_abs_dp, <group>: {...}, path: {<name>: {...}}}, held_columns, derived_columns, draws, seed,
    causal_model}), with `causal_model` = "learned:<folder name>", and the per-row effects. Chunked as
    `cf_fairness` (`chunk_rows` rows a chunk, each with its `chunk_seed`; None: one call), on one torch thread.

    Raises:
        ValueError: the protected column is not a categorical variable of the VAE, a variable has no column, a
            path cuts an arrow the learned graph lacks; each message says what to give instead.
    """
    check_table(vae, frame.columns, config.protected)
    with one_torch_thread():
        report, eff = cf_fairness(frame, predict, LearnedCausalModel(vae), config, p0, derived, chunk_rows, progress)
    return {**report, "causal_model": causal_model_name(vae)}, eff


def learned_world_check(scm: TableSCM, vae: TableVAEModel, models: Mapping[str, Predict], n: int,
                        config: CfConfig, fill: Mapping[str, object], derived: dict,
                        sample_seed: int = 1) -> dict[str, float]:
    """`cf_fairness.world_check` (truth, world-mechanism estimate, column alone) and the learned estimate next to
    it, on the same `n` world rows sampled with their noise: extra flat keys world.<model>.<protected>.
    {flip_rate_learned, abs_error_learned, mean_abs_dp_learned}. `vae` should be the one trained on world rows
    (census-vae-world); the learned estimate runs as `row_effects` does for the world (one call, every row)."""
    out = world_check(scm, models, n, config, fill, derived, sample_seed)
    _, values = scm.sample(n, sample_seed)  # the same rows world_check scored
    factual = world_frame(scm, values, fill, derived)
    learned = LearnedCausalModel(vae)
    for name, predict in models.items():
        with one_torch_thread():
            eff, _ = row_effects(factual, predict, learned, replace_paths(config), None, derived)
        key = f"world.{name}.{config.protected}."
        est = float(eff.flip.mean())
        out |= {key + "flip_rate_learned": est, key + "abs_error_learned": abs(est - out[key + "flip_rate_true"]),
                key + "mean_abs_dp_learned": float(eff.abs_dp.mean())}
    return out
