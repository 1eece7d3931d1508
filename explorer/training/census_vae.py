"""`python -m explorer train census`: the tabular causal-layer VAE (explorer/models/table_vae.py) on census rows.

Two data sources, one model each:
- world: rows sampled from the census world (pretrained/census_world), training seed `SEEDS["train"]`,
  validation seed `SEEDS["val"]`. `evaluate census` scores it on rows of seed 0 against their TRUE
  counterfactuals; those rows are never drawn here (each seed is its own random stream).
- adult: the complete rows of the real Adult training split, the validation split for metrics (the test split
  is not touched).

The graph is learned for `harden_epoch` epochs (relaxed Bernoulli arrows, sparsity and a NOTEARS penalty whose
weight grows each epoch), then frozen; the VAE and the mechanisms keep training in the frozen graph. After
training every category's concept centre (what do(column = category) sets) is the mean encoder score of the
training rows in it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from scipy.special import log_softmax
from scipy.stats import chi2
from torch.utils.data import DataLoader, TensorDataset

from explorer import checkpoints
from explorer.data.tables import ColumnSpec, read_adult
from explorer.models.table_vae import (GRAPH_MODES, TableVAE, TableVAEConfig, fixed_matrix, n_params, shd,
                                      standardiser, tier_rank)
from explorer.paths import PRETRAINED
from explorer.scm.census import (CENSUS_COLUMNS, CENSUS_GRAPH, CENSUS_TIERS, TIERS_SOURCE, census_rows,
                                 load_census_world)
from explorer.scm.graph import Dag
from explorer.scm.table_mechanisms import ParentEncoding, design, encoding_for, fit_ridge, fit_softmax
from explorer.training.modules import PrintProgress

DATA = ("world", "adult")
ROOTS = tuple(c for c in CENSUS_COLUMNS if not CENSUS_GRAPH.parents(c))  # sex, age, race, native_country
SEEDS = {"train": 1000, "val": 1001, "torch": 2026}
FOLDERS = {"world": "census-vae-world", "adult": "census-vae-adult"}


@dataclass
class CensusVAETrainConfig:
    """What to train and how; the main fields are options of `python -m explorer train census`."""

    data: str = "world"
    graph: str = "partial"  # partial, learned, fixed or tiers (explorer.models.table_vae.fixed_matrix)
    n_world: int = 30000  # world rows sampled for training (Adult's complete training rows: 27,156)
    n_world_val: int = 3000
    epochs: int = 50
    harden_epoch: int = 20  # epochs of graph learning; then the graph is frozen and everything refits in it
    batch: int = 256
    lr: float = 3e-3
    beta: float = 0.1  # weight of the KL (the causal prior's NLL minus the encoder's entropy); see TableVAE.loss
    sparsity: float = 0.002
    known: tuple[str, ...] = ()  # "parent:child" arrows known present: kept, not learned (partial, learned)
    arrow_test: float = 0.0  # tiers only: the level of a likelihood-ratio test that decides every allowed arrow
    # before training, then fixed (likelihood_ratio_arrows); 0: the causal layer learns them
    edge_init: float = 3.0  # the learned arrows' starting logit (3: probability 0.95)
    graph_warmup: int = 5  # epochs before the sparsity and acyclicity penalties start
    acyclic: float = 0.05
    hidden: int = 128
    mech_hidden: int = 64
    concept_dim: int = 1  # latent dims of a categorical column's concept (a vector node of the causal layer)
    logit_heads: str = ""  # K-logit mechanisms of the categorical columns: "", "concepts" or "categories" (the
    # parents' concepts, or their categories and numbers, in; explorer/models/table_vae_heads.py)
    devices: int = 1
    strategy: str = "auto"
    out: Path | None = None  # default pretrained/census-vae-<data>
    command: str = "python -m explorer train census"

    def __post_init__(self) -> None:
        for arrow in self.known:
            pair = arrow.split(":")
            if len(pair) != 2 or not set(pair) <= set(CENSUS_COLUMNS) or pair[0] == pair[1] or pair[1] in ROOTS:
                raise ValueError(f"--known-arrow {arrow!r} is not PARENT:CHILD over two census columns with a "
                                 f"non-root child; the columns: {', '.join(CENSUS_COLUMNS)}; the roots: "
                                 f"{', '.join(ROOTS)}")
        Dag(CENSUS_COLUMNS, frozenset(tuple(a.split(":")) for a in self.known))  # a cycle of known arrows: CycleError
        if self.data not in DATA:
            raise ValueError(f"unknown data {self.data!r}; choose {' or '.join(DATA)}")
        if self.graph not in GRAPH_MODES:
            raise ValueError(f"unknown graph mode {self.graph!r}; choose one of {', '.join(GRAPH_MODES)}")
        rank = tier_rank(CENSUS_COLUMNS, CENSUS_TIERS)
        against = [a for a in self.known if rank[a.split(":")[0]] > rank[a.split(":")[1]]]
        if self.arrow_test and (self.graph != "tiers" or not 0 < self.arrow_test < 1):
            raise ValueError(f"--arrow-test {self.arrow_test} needs --graph tiers and a level between 0 and 1")
        if self.graph == "tiers" and against:
            raise ValueError(f"--known-arrow {', '.join(against)} runs against the tiers of --graph tiers "
                             f"({' -> '.join('/'.join(t) for t in CENSUS_TIERS)})")


def training_rows(cfg: CensusVAETrainConfig) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict, str]:
    """(train values, validation values, column specs, description) for `cfg.data`."""
    world, _ = load_census_world()
    if cfg.data == "world":
        _, train = world.sample(cfg.n_world, SEEDS["train"])
        _, val = world.sample(cfg.n_world_val, SEEDS["val"])
        text = (f"{cfg.n_world} census-world rows (seed {SEEDS['train']}); {cfg.n_world_val} validation rows "
                f"(seed {SEEDS['val']}); evaluate census scores other rows (seed 0)")
    else:
        table = read_adult()
        train, val = census_rows(table, "train"), census_rows(table, "val")
        text = (f"{len(train['sex'])} complete Adult training rows, {len(val['sex'])} complete validation rows "
                "(the test split untouched); the census world's eleven columns")
    return train, val, world.columns, text


def to_tensor(values: dict[str, np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(values[c], np.float64) for c in CENSUS_COLUMNS], 1)).float()


class TableVAEModule(L.LightningModule):
    """Negative ELBO (the causal layer as prior) + graph penalties; freezes the graph at `harden_epoch`."""

    def __init__(self, model: TableVAE, cfg: CensusVAETrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def on_train_epoch_start(self) -> None:
        if self.current_epoch >= self.cfg.harden_epoch and not self.model.causal.hardened:
            dag = self.model.causal.harden()
            if self.trainer.is_global_zero:
                print(f"[census-vae] graph frozen ({len(dag.edges)} arrows, SHD to the world's "
                      f"{shd(dag, CENSUS_GRAPH)})", flush=True)

    def training_step(self, batch, _):
        (x,) = batch
        warm = min(1.0, (self.global_step + 1) / 300)  # KL warm-up: the decoder first learns to read the concepts
        # No graph penalty for the first `graph_warmup` epochs: with arrows starting nearly certain, the mechanisms
        # first learn what each parent tells them (a penalty from the start pushed both arrows of every pair of
        # non-root columns to zero together, and only arrows out of the roots survived); then the acyclicity
        # weight grows every epoch, and of two arrows in a cycle the less useful one gives way.
        ramp = max(0, self.current_epoch - self.cfg.graph_warmup + 1)
        sparsity = self.cfg.sparsity if ramp else 0.0
        out = self.model.loss(x, self.cfg.beta * warm, sparsity, self.cfg.acyclic * ramp)
        # 0 * logits keeps every parameter in the graph once it is frozen (DDP requires it)
        loss = out["loss"] + 0.0 * self.model.causal.logits.sum()
        logged = {"rec": out["rec"], "kl": out["kl"], **({"heads": out["heads"]} if self.cfg.logit_heads else {})}
        self.log_dict(logged, prog_bar=True, on_step=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=1e-5)
        steps = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.cfg.lr, total_steps=steps, pct_start=0.05)
        return [opt], [{"scheduler": sched, "interval": "step"}]


def build_model(cfg: CensusVAETrainConfig, train: dict[str, np.ndarray], columns: dict) -> TableVAE:
    mean, sd = standardiser(train, {c: columns[c].discrete for c in CENSUS_COLUMNS})
    known = frozenset(tuple(a.split(":")) for a in cfg.known)
    fixed = fixed_matrix(CENSUS_COLUMNS, cfg.graph, ROOTS, CENSUS_GRAPH, known, CENSUS_TIERS)
    if cfg.arrow_test:  # the test's graph (with the known arrows), nothing left to learn
        tested = Dag(CENSUS_COLUMNS, likelihood_ratio_arrows(train, columns, CENSUS_TIERS, cfg.arrow_test) | known)
        print(f"[census-vae] arrow test at level {cfg.arrow_test}: {len(tested.edges)} arrows, SHD to the world's "
              f"{shd(tested, CENSUS_GRAPH)}", flush=True)
        fixed = fixed_matrix(CENSUS_COLUMNS, "fixed", graph=tested)
    model_cfg = TableVAEConfig(columns=CENSUS_COLUMNS, levels=tuple(columns[c].levels for c in CENSUS_COLUMNS),
                               mean=mean, sd=sd, fixed=fixed, hidden=cfg.hidden, mech_hidden=cfg.mech_hidden,
                               concept_dim=cfg.concept_dim, logit_heads=cfg.logit_heads)
    model = TableVAE(model_cfg)
    with torch.no_grad():
        model.causal.logits.fill_(cfg.edge_init)
    return model


def likelihood_ratio_arrows(train: dict[str, np.ndarray], columns: dict[str, ColumnSpec],
                            tiers: tuple[tuple[str, ...], ...], alpha: float, l2: float = 1e-6
                            ) -> frozenset[tuple[str, str]]:
    """The arrows p -> c (p in an earlier tier than c) that a likelihood-ratio test on the rows `train` keeps:
    those whose p-value (arrow_p_values) is below `alpha`."""
    return frozenset(a for a, p in arrow_p_values(train, columns, tiers, l2).items() if p < alpha)


def arrow_p_values(train: dict[str, np.ndarray], columns: dict[str, ColumnSpec],
                   tiers: tuple[tuple[str, ...], ...], l2: float = 1e-6) -> dict[tuple[str, str], float]:
    """{(p, c): p-value} of a likelihood-ratio test on the rows `train` for every arrow p -> c the tiers allow.

    With the order known, a column's parents are the predecessors it still depends on given all its other
    predecessors (under faithfulness), so each allowed arrow is one test: c's mechanism of the world's kind
    (multinomial logistic over one-hot categories and knotted numbers; linear-Gaussian for a number), fitted on
    every predecessor with and without p; 2 x the log-likelihood gained against chi-square with the added
    parameters as degrees of freedom. Columns of one tier get no arrow between them (the census tiers hold one
    column each after the roots'). `l2` is near zero: a penalty would shrink the likelihood ratio. The causal layer's relaxed masks could not do this on the census world (the
    weakest true arrows gain ~2e-4 nats a row, less than the encoder's concepts give arrows the world lacks).
    """
    rank = tier_rank(tuple(columns), tiers)
    enc = {c: encoding_for(spec, train[c]) for c, spec in columns.items()}
    p_values = {}
    for child, spec in columns.items():
        before = [p for p in columns if rank[p] < rank[child]]
        if not before:
            continue
        full = _log_likelihood(spec, [enc[p] for p in before], train, l2)
        for p in before:
            without = _log_likelihood(spec, [enc[q] for q in before if q != p], train, l2)
            df = (enc[p].width - (1 if enc[p].levels else 0)) * (spec.levels - 1 if spec.discrete else 1)
            p_values[(p, child)] = float(chi2.sf(2 * (full - without), df))
    return p_values


def _log_likelihood(spec: ColumnSpec, parents: list[ParentEncoding], train: dict[str, np.ndarray], l2: float
                    ) -> float:
    """The training rows' total log-likelihood of column `spec` given `parents` (ParentEncodings)."""
    y = np.asarray(train[spec.name])
    n = len(y)
    x = design(parents, train, n)  # (n, features), sparse
    if spec.discrete:
        w, b = fit_softmax(x, y.astype(np.int64), spec.levels, l2)
        return float(log_softmax(x @ w.T + b, axis=1)[np.arange(n), y.astype(np.int64)].sum())
    coef, intercept = fit_ridge(x, y.astype(np.float64), l2)
    resid = y - x @ coef - intercept  # (n,)
    return float(-0.5 * n * (1.0 + np.log(2 * np.pi * resid.var())))


def fit(model: TableVAE, x: torch.Tensor, cfg: CensusVAETrainConfig, name: str = "census-vae") -> L.Trainer:
    """Trains `model` on rows `x` (N, C) with Lightning (`cfg.devices`, `cfg.strategy`); returns the trainer."""
    tty = sys.stdout.isatty()
    trainer = L.Trainer(max_epochs=cfg.epochs, accelerator="auto", devices=cfg.devices, strategy=cfg.strategy,
                        logger=False, enable_checkpointing=False, enable_model_summary=False,
                        log_every_n_steps=50, num_sanity_val_steps=0, enable_progress_bar=tty,
                        callbacks=[] if tty else [PrintProgress(name, every=500)])
    loader = DataLoader(TensorDataset(x), batch_size=cfg.batch, shuffle=True, drop_last=True)
    trainer.fit(TableVAEModule(model, cfg), loader)
    return trainer


@torch.no_grad()
def val_metrics(model: TableVAE, x: torch.Tensor) -> dict[str, float]:
    """Validation: negative ELBO terms, each discrete column's reconstruction accuracy, each continuous one's
    reconstruction error in SDs (0 by construction), and the learned graph's SHD to the census world's."""
    model.eval()
    out = model.loss(x, 1.0, 0.0, 0.0)
    recon = model.reconstruct(x)
    metrics = {"val_rec": float(out["rec"]), "val_kl": float(out["kl"])}
    if model.heads is not None:  # the K-logit mechanisms' cross-entropy given their parents
        metrics["val_heads"] = float(out["heads"])
    for j, c in enumerate(CENSUS_COLUMNS):
        if model.cfg.levels[j]:
            metrics[f"val_recon_accuracy_{c}"] = float((recon[:, j] == x[:, j]).float().mean())
    metrics["graph_shd"] = float(shd(model.graph(), CENSUS_GRAPH))
    return metrics


def train_census_vae(cfg: CensusVAETrainConfig) -> Path:
    """Trains one model and saves it (weights.safetensors + card.json); returns its folder."""
    L.seed_everything(SEEDS["torch"], workers=True)
    # The tensors are tiny ((256, 11) batches): on this shared 2-core machine two intra-op threads spin against
    # the other jobs, and a step took 0.3-1.5 s instead of 11 ms on one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: CensusVAETrainConfig) -> Path:
    train, val, columns, text = training_rows(cfg)
    x, xv = to_tensor(train), to_tensor(val)
    start = time.time()  # before build_model: the arrow test (--arrow-test) is part of the training time
    model = build_model(cfg, train, columns)
    trainer = fit(model, x, cfg, FOLDERS[cfg.data])
    out = cfg.out or PRETRAINED / FOLDERS[cfg.data]
    if not trainer.is_global_zero:
        return out
    seconds = time.time() - start
    model = model.cpu()
    if not model.causal.hardened:  # fewer epochs than harden_epoch (smoke runs): freeze it now
        model.causal.harden()
    model.eval()
    model.set_centres(x)
    metrics = {**val_metrics(model, xv), "train_seconds": round(seconds, 1)}
    dag = model.graph()
    checkpoints.save(out, model.state_dict(), {
        "kind": "table-vae", "config": model.cfg.to_dict(), "seed": SEEDS["torch"],
        "description": "Tabular causal-layer VAE (CCGM's tabular half) over the census world's eleven columns: "
                       "one concept per column (continuous: the standardised value; categorical: a latent "
                       "score), the pendulum model's CausalLayer as the prior, one decoder per column. Built "
                       "from the CCGM paper's idea; no public code for its tabular half was used."
                       + (f" The categorical columns' mechanisms are K-logit heads over the parents' "
                          f"{cfg.logit_heads} (P(k | parents) = softmax of K logits)." if cfg.logit_heads else ""),
        "data": text, "graph_mode": cfg.graph,
        **({"graph_tiers": [list(t) for t in CENSUS_TIERS], "tiers_source": TIERS_SOURCE} if cfg.graph == "tiers"
           else {}),
        "learned_edges": sorted(f"{p}:{c}" for p, c in dag.edges),
        "edge_probabilities": [[round(float(p), 4) for p in row] for row in model.causal.probabilities()],
        "columns": [asdict(columns[c]) for c in CENSUS_COLUMNS], "parameters": n_params(model),
        "train": {k: v for k, v in asdict(cfg).items() if k not in ("out", "command")},
        "metrics": metrics, "command": cfg.command})
    print(f"[census-vae] {out.name}: {len(dag.edges)} arrows, validation {metrics}", flush=True)
    return out
