"""`python -m explorer train pendulum`: the causal-layer VAE and the concept regressor that judges it.

The VAE learns from observational scenes (the physics' own correlations) mixed with interventional ones:
in an `interventional_fraction` of the scenes, do() has set the shadow concepts to values drawn uniformly
over their range, independently of the pendulum and the light. Without them the decoder never sees a
shadow that disagrees with the physics, and do(shadow_length = v) is only half followed. Every scene
trains the encoder and the decoder; the causal layer's mechanism of an intervened node ignores that scene
(a do() cuts the node from its parents). The regressor is trained on true renders of independently drawn
concepts, so that it reads each concept off the pixels without leaning on the others. Validation scenes
report the metrics; the test seed is left to `evaluate`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from explorer import checkpoints
from explorer.counterfactual.pendulum import ConceptSCM, VAEMechanism
from explorer.counterfactual.procedure import counterfactual
from explorer.datasets.pendulum import SEEDS, labels, scenes, to_input
from explorer.registry import PENDULUM as NAMES
from explorer.registry import load_regressor
from explorer.models.causal_vae import CausalVAE, CausalVAEConfig, ConceptRegressor
from explorer.paths import PRETRAINED
from explorer.scm.pendulum import (ROOTS, SPECS, TRUE_GRAPH, VARIABLES, PendulumSCM, independent_values,
                                   normalise)
from explorer.training.modules import PrintProgress
from explorer.training.run_configs import PENDULUM_COMPONENTS as COMPONENTS

GRAPH_MODES = ("partial", "learned", "fixed")
VAL_BATCH = 250  # scenes per validation step: bounds the decoder's activations at a few hundred MB


def fixed_matrix(mode: str) -> list[list[int]]:
    """What is known about each edge before training (1 present, 0 absent, -1 learned).

    partial: nothing causes the pendulum or the light (the experimenter sets them), the rest is learned;
    learned: every edge is learned; fixed: the physics' graph is given.
    """
    d = len(VARIABLES)
    out = []
    for i, p in enumerate(VARIABLES):
        row = []
        for j, c in enumerate(VARIABLES):
            if i == j:
                row.append(0)
            elif mode == "fixed":
                row.append(int((p, c) in TRUE_GRAPH.edges))
            elif mode == "partial" and c in ROOTS:
                row.append(0)
            else:
                row.append(-1)
        out.append(row)
    assert len(out) == d
    return out


def interventional_scenes(n: int, seed: int, targets: tuple[str, ...]
                          ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """`n` scenes in which do() set a random non-empty subset of `targets`, each uniform over its range.

    The TRUE counterfactual of an observational scene (the children of an intervened node follow it).

    Returns:
        values, images uint8 (n, 64, 64, 3), intervened (n, d) float32 0/1 in VARIABLES order.
    """
    scm = PendulumSCM()
    rng = np.random.default_rng(seed)
    noise, values = scm.sample(n, int(rng.integers(2 ** 31)))
    k = len(targets)
    subset = rng.integers(1, 2 ** k, n)  # (n,) a bit mask over `targets`, never empty
    hit = {t: (subset >> b) & 1 == 1 for b, t in enumerate(targets)}  # {target: (n,) bool}
    new = {t: rng.uniform(SPECS[t].low, SPECS[t].high, n) for t in targets}
    do = {t: np.where(hit[t], new[t], values[t]) for t in targets}  # do(x = its own value) changes nothing
    cf = scm.counterfactual(noise, do)
    intervened = np.stack([hit.get(v, np.zeros(n, bool)) for v in VARIABLES], 1).astype(np.float32)
    return cf, scm.render(cf), intervened


class Scenes(Dataset):
    """(uint8 image (64, 64, 3), label (4,)) pairs; converted to floats on the batch, not per item."""

    def __init__(self, images: np.ndarray, y: np.ndarray):
        self.images, self.y = torch.from_numpy(images), torch.from_numpy(y)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, k: int):
        return self.images[k], self.y[k]


@dataclass
class PendulumTrainConfig:
    """What to train and how; the main fields are options of `python -m explorer train pendulum`."""

    components: tuple[str, ...] = COMPONENTS
    graph: str = "partial"
    n_train: int = 24000  # observational and interventional scenes together
    epochs: int = 7  # 24,000 scenes x 7 epochs = 2,600 steps of ~0.22 s: ~10 min on 2 free CPU cores
    # of the training scenes; the rest are observational. 0.4 took the validation effectiveness of
    # do(shadow_length / shadow_position) from 0.135 / 0.160 (observational only) to 0.034 / 0.037
    interventional_fraction: float = 0.4
    intervene_on: tuple[str, ...] = ("shadow_length", "shadow_position")
    harden_epoch: int = 2  # epochs of graph learning; then the graph is frozen and the mechanisms refit
    batch: int = 64
    lr: float = 2e-3
    concept_weight: float = 10000.0
    beta: float = 1.0
    latent_noise: float = 0.01
    sparsity: float = 0.05
    acyclic: float = 1.0
    graph_batch: int = 2048
    n_regressor: int = 16000
    regressor_epochs: int = 4
    n_val: int = 1000  # validation scenes for both cards' metrics (the shipped cards' figures use 1000)
    devices: int = 1
    strategy: str = "auto"
    out: Path = PRETRAINED
    command: str = "python -m explorer train pendulum"


class VAEModule(L.LightningModule):
    """VAE loss on image batches + the causal layer's loss on a larger batch of labels per step."""

    def __init__(self, model: CausalVAE, graph_labels: torch.Tensor, intervened: torch.Tensor,
                 cfg: PendulumTrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg
        self.register_buffer("graph_labels", graph_labels, persistent=False)  # (N, 4)
        self.register_buffer("intervened", intervened, persistent=False)  # (N, 4) 0/1: set by do()

    def on_train_epoch_start(self) -> None:
        if self.current_epoch >= self.cfg.harden_epoch and not self.model.causal.hardened:
            dag = self.model.causal.harden()
            if self.trainer.is_global_zero:
                names = [f"{p}->{c}" for p, c in sorted(dag.edges)]
                print(f"[causal layer] graph frozen: {', '.join(names) or '(no edges)'}", flush=True)

    def training_step(self, batch, _):
        images, y = batch
        x = to_input(images)  # (B, 3, 64, 64)
        warm = min(1.0, (self.global_step + 1) / 500)
        out = self.model.vae_loss(x, y, self.cfg.beta * warm, self.cfg.concept_weight, self.cfg.latent_noise)
        k = torch.randint(len(self.graph_labels), (self.cfg.graph_batch,), device=self.graph_labels.device)
        rho = self.cfg.acyclic * (1 + self.current_epoch)  # the acyclicity weight grows while learning
        g = self.model.causal.loss(self.graph_labels[k], self.cfg.sparsity, rho, intervened=self.intervened[k])
        # 0 * logits keeps every parameter in the graph once the graph is frozen (DDP requires it)
        loss = out["loss"] + g["loss"] + 0.0 * self.model.causal.logits.sum()
        self.log_dict({"rec": out["rec"], "concept": out["concept"], "nll": g["nll"]}, prog_bar=True, on_step=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=1e-5)
        steps = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.cfg.lr, total_steps=steps, pct_start=0.05)
        return [opt], [{"scheduler": sched, "interval": "step"}]


class RegressorModule(L.LightningModule):
    def __init__(self, model: ConceptRegressor, lr: float = 2e-3):
        super().__init__()
        self.model, self.lr = model, lr

    def training_step(self, batch, _):
        images, y = batch
        loss = F.mse_loss(self.model(to_input(images)), y)
        self.log("mse", loss, prog_bar=True, on_step=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-5)
        steps = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=steps, pct_start=0.1)
        return [opt], [{"scheduler": sched, "interval": "step"}]


def _trainer(cfg: PendulumTrainConfig, epochs: int, name: str) -> L.Trainer:
    tty = sys.stdout.isatty()
    return L.Trainer(max_epochs=epochs, accelerator="auto", devices=cfg.devices, strategy=cfg.strategy,
                     logger=False, enable_checkpointing=False, enable_model_summary=False,
                     log_every_n_steps=20, num_sanity_val_steps=0, enable_progress_bar=tty,
                     callbacks=[] if tty else [PrintProgress(name, every=100)])


def mae_by_var(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Mean absolute error per concept as a fraction of its range (latent units span 2)."""
    return {k: float(np.abs(pred[:, j] - target[:, j]).mean() / 2.0) for j, k in enumerate(VARIABLES)}


@torch.no_grad()
def predict_batches(fn, images: np.ndarray, batch: int = 500) -> torch.Tensor:
    return torch.cat([fn(to_input(images[s:s + batch])) for s in range(0, len(images), batch)])


def train_pendulum(cfg: PendulumTrainConfig) -> None:
    """Trains the requested components, each saved as soon as it is done."""
    if "regressor" in cfg.components:
        _train_regressor(cfg)
    if "vae" in cfg.components:
        _train_vae(cfg)


def _train_regressor(cfg: PendulumTrainConfig) -> None:
    L.seed_everything(SEEDS["regressor"], workers=True)
    scm = PendulumSCM()
    train_v = independent_values(cfg.n_regressor, SEEDS["regressor"])
    val_v = independent_values(cfg.n_val, SEEDS["regressor_val"])
    model_cfg = CausalVAEConfig(enc_width=16, style_dim=1)
    model = ConceptRegressor(model_cfg)
    start = time.time()
    trainer = _trainer(cfg, cfg.regressor_epochs, NAMES["regressor"])
    data = Scenes(scm.render(train_v), labels(train_v))
    trainer.fit(RegressorModule(model), DataLoader(data, batch_size=cfg.batch, shuffle=True, drop_last=True))
    if trainer.is_global_zero:
        model.eval()
        mae = mae_by_var(predict_batches(model, scm.render(val_v)).numpy(), labels(val_v))
        checkpoints.save(cfg.out / NAMES["regressor"], model.state_dict(), {
            "kind": "regressor", "config": model_cfg.to_dict(), "seed": SEEDS["regressor"],
            "description": "Concept regressor (pendulum, light, shadow length and position read off the "
                           "pixels), trained on true renders of independently drawn concepts: the judge of "
                           "`evaluate pendulum`.",
            "data": f"{cfg.n_regressor} renders, every concept uniform over its range independently",
            "metrics": {**{f"val_mae_{k}": v for k, v in mae.items()}, "train_seconds": time.time() - start},
            "command": cfg.command})
        print(f"[regressor] validation MAE (fraction of range): {mae}", flush=True)


def training_scenes(cfg: PendulumTrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The VAE's training set: (images uint8 (N, 64, 64, 3), labels (N, d), intervened (N, d) 0/1).

    Observational scenes first, then interventional ones; the loader shuffles them, so every batch holds
    about `interventional_fraction` of the latter.
    """
    n_do = int(round(cfg.n_train * cfg.interventional_fraction))
    _, obs_v, obs_x = scenes(cfg.n_train - n_do, SEEDS["train"])
    parts = [(obs_x, labels(obs_v), np.zeros((len(obs_x), len(VARIABLES)), np.float32))]
    if n_do:
        do_v, do_x, hit = interventional_scenes(n_do, SEEDS["train_do"], tuple(cfg.intervene_on))
        parts.append((do_x, labels(do_v), hit))
    return tuple(np.concatenate(a) for a in zip(*parts))


def _train_vae(cfg: PendulumTrainConfig) -> None:
    L.seed_everything(SEEDS["train"], workers=True)
    train_x, y, hit = training_scenes(cfg)
    val_noise, val_v, val_x = scenes(cfg.n_val, SEEDS["val"])
    model_cfg = CausalVAEConfig(fixed=fixed_matrix(cfg.graph))
    model = CausalVAE(model_cfg)
    start = time.time()
    trainer = _trainer(cfg, cfg.epochs, NAMES["vae"])
    module = VAEModule(model, torch.from_numpy(y), torch.from_numpy(hit), cfg)
    trainer.fit(module, DataLoader(Scenes(train_x, y), batch_size=cfg.batch, shuffle=True, drop_last=True))
    if not trainer.is_global_zero:
        return
    seconds = time.time() - start
    if not model.causal.hardened:  # fewer epochs than harden_epoch (smoke runs): freeze it now
        model.causal.harden()
    model.eval()
    metrics = _vae_val_metrics(model, val_x, labels(val_v))
    metrics.update(_val_interventions(model, cfg, val_noise, val_x))
    metrics["train_seconds"] = seconds
    probs = model.causal.probabilities().detach()
    n_do = int(hit.any(1).sum())
    targets = " and/or ".join(cfg.intervene_on)
    checkpoints.save(cfg.out / NAMES["vae"], model.state_dict(), {
        "kind": "causal-vae", "config": model_cfg.to_dict(), "seed": SEEDS["train"],
        "description": "VAE with a partly trainable causal layer over four concept latents (pendulum, light, "
                       "shadow_length, shadow_position) and a spatial-broadcast decoder; trained on "
                       "observational and interventional pendulum scenes (the causal layer's mechanism of an "
                       "intervened node skips the scenes that intervened on it).",
        "data": f"{len(y) - n_do} observational scenes (seed {SEEDS['train']}) + {n_do} interventional scenes "
                f"(seed {SEEDS['train_do']}: do() on {targets}, a random non-empty subset per scene, each "
                f"value uniform over its range, true renders); {cfg.n_val} validation scenes (seed {SEEDS['val']}, "
                f"interventions seed {SEEDS['val_do']}) for metrics",
        "graph_mode": cfg.graph, "learned_edges": learned_edges(model),
        "edge_probabilities": [[round(float(p), 4) for p in row] for row in probs],
        "train": {k: v for k, v in asdict(cfg).items() if k not in ("out", "command")},
        "metrics": metrics, "command": cfg.command})
    print(f"[vae] validation: {metrics}", flush=True)


def learned_edges(model: CausalVAE) -> list[str]:
    a = model.causal.adjacency()
    return [f"{p}:{c}" for i, p in enumerate(VARIABLES) for j, c in enumerate(VARIABLES) if a[i, j] > 0]


@torch.no_grad()
def _vae_val_metrics(model: CausalVAE, images: np.ndarray, y: np.ndarray) -> dict[str, float]:
    z, recon = [], []
    for s in range(0, len(images), VAL_BATCH):
        x = to_input(images[s:s + VAL_BATCH])
        zz, style = model.encode(x)
        z.append(zz)
        recon.append(((model.decode(zz, style) - x) ** 2).mean((1, 2, 3)))
    mae = mae_by_var(torch.cat(z).numpy(), y)
    truth = {f"{p}:{c}" for p, c in TRUE_GRAPH.edges}
    shd = len(truth.symmetric_difference(learned_edges(model)))  # a reversed edge counts twice here
    return {"val_recon_mse": float(torch.cat(recon).mean()), **{f"val_concept_mae_{k}": v for k, v in mae.items()},
            "graph_edge_differences": float(shd)}


@torch.no_grad()
def _val_interventions(model: CausalVAE, cfg: PendulumTrainConfig, noise: dict[str, np.ndarray],
                       images: np.ndarray) -> dict[str, float]:
    """`evaluate`'s intervention metrics on the validation scenes: do(concept = uniform value) per concept.

    gt_cf: image MSE against the TRUE counterfactual render; effectiveness: the regressor's reading of the
    intervened concept against its target (fraction of range), when a regressor checkpoint exists.
    """

    folder = cfg.out / NAMES["regressor"]
    try:  # the one trained alongside, else the shipped one (runs into a scratch folder)
        regressor = load_regressor(torch.device("cpu"), folder if folder.exists() else None)
    except checkpoints.CheckpointError:
        regressor = None
    scm, rng, out = PendulumSCM(), np.random.default_rng(SEEDS["val_do"]), {}
    for j, name in enumerate(VARIABLES):
        new = rng.uniform(SPECS[name].low, SPECS[name].high, len(images))
        target = normalise(name, new).astype(np.float32)  # (n,)
        truth = to_input(scm.render(scm.counterfactual(noise, {name: new})))  # (n, 3, 64, 64)
        cf = torch.cat([counterfactual(ConceptSCM(model), VAEMechanism(model), to_input(images[s:s + VAL_BATCH]),
                                       {name: torch.from_numpy(target[s:s + VAL_BATCH])}, reconstruct=True).x_cf
                        for s in range(0, len(images), VAL_BATCH)])  # (n, 3, 64, 64)
        out[f"val_gt_cf_mse_{name}"] = float(((cf - truth) ** 2).mean())
        if regressor is not None:
            read = predict_batches(regressor, (cf * 255).round().byte().permute(0, 2, 3, 1).numpy())[:, j]
            out[f"val_effectiveness_mae_{name}"] = float((read - torch.from_numpy(target)).abs().mean() / 2)
    return out
