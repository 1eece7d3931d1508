"""`python -m explorer train morpho`: everything the image what-if page needs, trained from scratch.

Trains on the train split, reports on the validation split (the test split is left to `evaluate`),
and writes each model to `pretrained/<name>/` with its card.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader

from explorer import checkpoints
from explorer.datasets.morpho import DEFAULT_SEED, load_morpho, load_morpho_cover
from explorer.models.cnn import CNNConfig, DigitCNN
from explorer.models.cvae import CVAEConfig, MorphoCVAE
from explorer.paths import PRETRAINED
from explorer.registry import MORPHO as NAMES
from explorer.scm.morpho import CONFOUNDED_HUE_STRENGTH
from explorer.training.datasets import MorphoPairs, MorphoTorch, colour_values
from explorer.training.modules import ClassifierModule, CounterfactualPairModule, GeneratorModule, PrintProgress
from explorer.training.run_configs import MORPHO_COMPONENTS as COMPONENTS

HUE_STRENGTH = CONFOUNDED_HUE_STRENGTH  # the confounded training world: 95 % of digits wear "their" colour



@dataclass
class TrainConfig:
    """What to train and how; every field is on the command line."""

    components: tuple[str, ...] = COMPONENTS
    gen_epochs: int = 6
    # Train the generator on the split's true counterfactuals at thickness uniform over the slider's range as
    # well (`load_morpho_cover`): the world itself draws strokes thicker than 4.3 px ~0.5 % of the time.
    gen_cover: bool = False
    # Then fine-tune it this many epochs on (factual, TRUE counterfactual) pairs: each train digit and its
    # `load_morpho_cover` redrawing (CounterfactualPairModule).
    gen_cf_epochs: int = 0
    clf_epochs: int = 2
    batch: int = 128
    limit: int | None = None  # train on the first `limit` samples only (tests, smoke runs)
    seed: int = DEFAULT_SEED
    devices: int = 1
    strategy: str = "auto"
    out: Path = PRETRAINED
    command: str = "python -m explorer train morpho"
    extra: dict = field(default_factory=dict)


def _trainer(cfg: TrainConfig, epochs: int, name: str) -> L.Trainer:
    tty = sys.stdout.isatty()
    return L.Trainer(max_epochs=epochs, accelerator="auto", devices=cfg.devices, strategy=cfg.strategy,
                     logger=False, enable_checkpointing=False, enable_model_summary=False,
                     log_every_n_steps=20, num_sanity_val_steps=0, enable_progress_bar=tty,
                     callbacks=[] if tty else [PrintProgress(name)])


def _val_accuracy(model: DigitCNN, data: MorphoTorch) -> float:
    model.eval()
    with torch.no_grad():
        xs = torch.stack([data[k][0] for k in range(len(data))])  # (N, C, 28, 28)
        pred = torch.cat([model(xs[s:s + 1000]).argmax(1) for s in range(0, len(xs), 1000)])
    return float((pred == data.values["digit"]).float().mean())


def _val_recon_l1(model: MorphoCVAE, data: MorphoTorch, n: int = 2000) -> float:
    model.eval()
    k = torch.arange(min(n, len(data)))
    x = torch.stack([data[i][0] for i in k])  # (n, C, 28, 28)
    parents = {name: v[k] for name, v in data.values.items()}
    with torch.inference_mode():  # a reading: the model's methods keep autograd on for searches
        recon = model.decode(model.abduct(x, parents), parents)
    return float((recon - x).abs().mean())


def _train_classifier(name: str, cfg: TrainConfig, model_cfg: CNNConfig, train: MorphoTorch, val: MorphoTorch,
                      seed: int, description: str, data_note: str) -> None:
    L.seed_everything(seed, workers=True)
    model = DigitCNN(model_cfg)
    trainer = _trainer(cfg, cfg.clf_epochs, name)
    start = time.time()
    trainer.fit(ClassifierModule(model), DataLoader(train, batch_size=cfg.batch, shuffle=True))
    if trainer.is_global_zero:
        acc = _val_accuracy(model, val)
        checkpoints.save(cfg.out / name, model.state_dict(), {
            "kind": "classifier", "description": description, "config": model_cfg.to_dict(),
            "data": data_note, "seed": seed, "metrics": {"val_acc": acc, "train_seconds": time.time() - start},
            "command": cfg.command})
        print(f"[{name}] validation accuracy {acc:.4f}")


def train_morpho(cfg: TrainConfig) -> None:
    """Trains the requested components, each saved as soon as it is done."""
    torch.set_num_threads(max(1, torch.get_num_threads() // max(1, cfg.devices)))
    train_data, val_data = load_morpho("train", cfg.seed, cfg.limit), load_morpho("val", cfg.seed, 2000)
    train_hue = colour_values(train_data, HUE_STRENGTH, cfg.seed + 1)["hue"]
    val_hue = colour_values(val_data, HUE_STRENGTH, cfg.seed + 2)["hue"]
    grey_train, grey_val = MorphoTorch(train_data, labels_only=True), MorphoTorch(val_data, labels_only=True)
    note = f"Morpho-MNIST train split (seed {cfg.seed}, {len(train_data)} images); val split for metrics"
    if "classifier" in cfg.components:
        _train_classifier(NAMES["classifier"], cfg, CNNConfig(), grey_train, grey_val, cfg.seed,
                          "Project CNN trained on grey Morpho-MNIST.", note)
    if "classifier_hue" in cfg.components:
        _train_classifier(NAMES["classifier_hue"], cfg, CNNConfig(channels=3),
                          MorphoTorch(train_data, train_hue, labels_only=True),
                          MorphoTorch(val_data, val_hue, labels_only=True), cfg.seed + 1,
                          f"Project CNN trained on colour Morpho-MNIST where hue follows the digit "
                          f"{HUE_STRENGTH:.0%} of the time: it can learn colour as a shortcut.",
                          note + f"; hue confounded with digit at strength {HUE_STRENGTH}")
    if "oracle" in cfg.components:
        # Independent judge for `evaluate`: wider, other seed, never used on the page as a model to explain.
        _train_classifier(NAMES["oracle"], cfg, CNNConfig(width=48, hidden=256, dropout=0.4), grey_train,
                          grey_val, cfg.seed + 7, "Oracle CNN that scores do(digit) counterfactuals.", note)
    if "generator" in cfg.components:
        train = MorphoTorch(train_data)
        if cfg.gen_cover:
            train = ConcatDataset([train, MorphoTorch(load_morpho_cover("train", cfg.seed, cfg.limit))])
            note += "; and each train digit again, truly re-drawn at thickness uniform on 1.0-5.5 px"
        _train_generator(cfg, train, MorphoTorch(val_data), note)


def _train_generator(cfg: TrainConfig, train: MorphoTorch | ConcatDataset, val: MorphoTorch, note: str) -> None:
    L.seed_everything(cfg.seed, workers=True)
    model_cfg = CVAEConfig(**cfg.extra.get("cvae", {}))
    model = MorphoCVAE(model_cfg)
    trainer = _trainer(cfg, cfg.gen_epochs, NAMES["generator"])
    start = time.time()
    trainer.fit(GeneratorModule(model), DataLoader(train, batch_size=cfg.batch, shuffle=True, drop_last=True))
    if cfg.gen_cf_epochs:
        pairs = MorphoPairs(load_morpho("train", cfg.seed, cfg.limit), load_morpho_cover("train", cfg.seed, cfg.limit))
        _trainer(cfg, cfg.gen_cf_epochs, NAMES["generator"] + " (counterfactual pairs)").fit(
            CounterfactualPairModule(model), DataLoader(pairs, batch_size=cfg.batch, shuffle=True, drop_last=True))
        note += (f"; then {cfg.gen_cf_epochs} epoch(s) on (train digit, its TRUE counterfactual at a thickness "
                 "uniform on 1.0-5.5 px) pairs")
    if trainer.is_global_zero:
        l1 = _val_recon_l1(model, val)
        checkpoints.save(cfg.out / NAMES["generator"], model.state_dict(), {
            "kind": "generator", "config": model_cfg.to_dict(), "data": note, "seed": cfg.seed,
            "description": "Hierarchical conditional VAE (7x7 spatial + vector latents, FiLM-conditioned "
                           "decoder): the learned image mechanism of Morpho-MNIST.",
            "train": {k: v for k, v in asdict(cfg).items() if k in ("gen_epochs", "gen_cover", "gen_cf_epochs",
                                                                           "batch", "limit", "devices")},
            "metrics": {"val_recon_l1_0_255": l1, "train_seconds": time.time() - start},
            "command": cfg.command})
        print(f"[generator] validation reconstruction L1 (0-255) {l1:.3f}")


def split_parents(values: dict[str, np.ndarray], k: np.ndarray) -> dict[str, torch.Tensor]:
    """Helper for callers: rows `k` of numpy values as torch parents."""
    return {"digit": torch.as_tensor(values["digit"][k]).long(),
            "thickness": torch.as_tensor(values["thickness"][k]).float(),
            "intensity": torch.as_tensor(values["intensity"][k]).float()}
