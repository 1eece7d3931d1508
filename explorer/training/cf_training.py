"""Classifiers trained with counterfactuals on a confounded colour world (issue 19, section 3).

    python -m explorer train cf-training --strength 0.99 --method cf_regularise --seed 0

The same CNN (`DigitCNN`, 3 channels), the same optimiser, epochs and number of steps for every method; each run
sees the training split of its own strength only (the `unconfounded` reference: the same digits and strokes at
strength 0). Per step, a batch of B factual images x with labels y, and by method:
    erm                      cross-entropy on x;
    unconfounded             the same on the strength-0 split (the reference nothing is confounded in);
    cf_augment               cross-entropy on x and on B counterfactuals do(hue = h'), h' uniform, made by that
                             strength's generator (`cf_bank.py`; never the TRUE renderer);
    true_augment             the same with the TRUE renderer's counterfactuals (the best a generator allows);
    cf_regularise            cf_augment + a pull between the representation (the CNN's last hidden layer) of x and
                             of its counterfactual: 1 - their cosine (scale-free, never rewards shrinking features);
    grad_supervision         cross-entropy on x + the gradient-supervision loss 1 - cos(grad_x [f_y'(x) - f_y(x)],
                             x' - x) with x' = do(digit = y', hue held) made by the generator: moving from x towards
                             x' should be what moves the decision from y to y';
    grad_supervision_random  the same loss with x' a random other image of the batch (another digit): the control.
Gradient supervision follows Teney, Abbasnejad & van den Hengel (ECCV 2020); their code is not public and the
decision function here (a logit difference) is our choice. Gradient supervision trains on x only: its pairs'
x' give a direction, not extra labelled images, so any gain is the gradient's (docs/confounding.md).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from explorer import checkpoints
from explorer.datasets.confounded import load_confounded
from explorer.device import pick_device
from explorer.metrics.split_confounding import digit_hue
from explorer.models.cnn import CNNConfig, DigitCNN
from explorer.registry import load_rgb_generator
from explorer.training.cf_bank import Bank, load_bank
from explorer.training.cf_runs import folder_name, rebuild_command
from explorer.training.modules import PrintProgress
from explorer.training.run_configs import USES_HUE_CF, CFTrainConfig
from explorer.types import DEFAULT_SEED

def features_and_logits(model: DigitCNN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, 28, 28) 0-255 -> ((B, hidden) last hidden layer, (B, 10) logits)."""
    h = model.net[:-1](x / 255.0)  # (B, hidden): everything up to the last linear layer
    return h, model.net[-1](h)


def representation_pull(h: torch.Tensor, h_cf: torch.Tensor) -> torch.Tensor:
    """Mean 1 - cos(h, h_cf) over the batch's pairs: 0 when the two representations point the same way.

    Why a cosine: it is scale-free, and unlike a squared distance over the features' norm (tried first) it gives
    no reward for shrinking every feature to zero, which collapsed the network to chance in a pilot.
    """
    return (1.0 - F.cosine_similarity(h, h_cf, dim=1, eps=1e-8)).mean()


def gradient_supervision(model: DigitCNN, x: torch.Tensor, y: torch.Tensor, x_pair: torch.Tensor,
                         y_pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy on x, mean 1 - cos(grad_x [f_y'(x) - f_y(x)], x' - x) over pairs with y' != y).

    The input gradient is kept in the graph (create_graph), so the loss trains the weights through it.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)  # (B, 10)
    decision = logits.gather(1, y_pair[:, None]) - logits.gather(1, y[:, None])  # (B, 1)
    grad, = torch.autograd.grad(decision.sum(), x, create_graph=True)  # (B, 3, 28, 28)
    cos = F.cosine_similarity(grad.flatten(1), (x_pair - x.detach()).flatten(1), dim=1, eps=1e-8)  # (B,)
    keep = (y_pair != y).float()
    return F.cross_entropy(logits, y), ((1.0 - cos) * keep).sum() / keep.sum().clamp_min(1.0)


class CFTrainingModule(L.LightningModule):
    """One method's training step over batches of training-row indices (the images live in memory)."""

    def __init__(self, model: DigitCNN, cfg: CFTrainConfig, x: torch.Tensor, y: torch.Tensor, bank: Bank | None):
        super().__init__()
        self.model, self.cfg = model, cfg
        self.x, self.y = x, y  # (N, 3, 28, 28) float 0-255, (N,)
        self.hue_cf = torch.from_numpy(bank.hue_cf) if bank is not None else None  # (V, N, 3, 28, 28) uint8
        self.digit_cf = torch.from_numpy(bank.digit_cf) if bank is not None and bank.digit_cf is not None else None
        self.digit_asked = torch.from_numpy(bank.digit_asked) if self.digit_cf is not None else None

    def training_step(self, idx, _):
        (idx,) = idx
        cfg, x, y = self.cfg, self.x[idx].to(self.device), self.y[idx].to(self.device)
        logs = {}
        if cfg.method in ("erm", "unconfounded"):
            loss = F.cross_entropy(self.model(x), y)
        elif cfg.method in USES_HUE_CF:
            x_cf = self.hue_cf[self.current_epoch % len(self.hue_cf)][idx].to(self.device).float()
            h, logits = features_and_logits(self.model, torch.cat([x, x_cf]))  # (2B, hidden), (2B, 10)
            loss = F.cross_entropy(logits, torch.cat([y, y]))
            if cfg.method == "cf_regularise":
                pull = representation_pull(h[:len(x)], h[len(x):])
                logs["pull"] = pull
                loss = loss + cfg.reg_weight * pull
        else:
            if cfg.method == "grad_supervision":
                x_pair = self.digit_cf[idx].to(self.device).float()
                y_pair = self.digit_asked[idx].to(self.device)
            else:  # the control: the same loss towards a random other image of the batch
                perm = torch.randperm(len(idx), device=self.device)
                x_pair, y_pair = x[perm], y[perm]
            ce, gs = gradient_supervision(self.model, x, y, x_pair, y_pair)
            logs["gs"] = gs
            loss = ce + cfg.gs_weight * gs
        self.log_dict({"loss": loss, **logs}, prog_bar=True, on_step=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=1e-4)
        steps = self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.cfg.lr, total_steps=int(steps), pct_start=0.1)
        return [opt], [{"scheduler": sched, "interval": "step"}]


def confounding_after(cfg: CFTrainConfig, values: dict[str, np.ndarray], bank: Bank | None) -> float:
    """C(digit, hue) of everything the run trains on with labels: the factual rows plus, for the augmenting
    methods, every counterfactual view with the hue measured on its image."""
    if cfg.method not in USES_HUE_CF or bank is None:
        return digit_hue(values)
    digits = np.concatenate([values["digit"]] * (bank.views + 1))
    hues = np.concatenate([values["hue"], *bank.hue_measured])
    return digit_hue({"digit": digits, "hue": hues})


def train_cf_classifier(cfg: CFTrainConfig, progress: L.Callback | None = None,
                        cancelled: Callable[[], bool] | None = None) -> dict:
    """Trains one (method, strength, seed), saves it with its card, and returns the card.

    `progress` is a Lightning callback (the page's live curves; it may stop the run with `trainer.should_stop`);
    when `cancelled()` is true once training ends, nothing is saved and {} is returned.
    """
    torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True)
    data = load_confounded("train", cfg.data_strength, DEFAULT_SEED, cfg.limit)
    device = pick_device()
    bank = None
    if cfg.method in USES_HUE_CF or cfg.method == "grad_supervision":
        variant = "true" if cfg.method == "true_augment" else cfg.generator
        bank = load_bank(data, variant, cfg.epochs, DEFAULT_SEED,
                         lambda: load_rgb_generator(cfg.generator, cfg.strength, device)[0], device)
    x = torch.from_numpy(data.rgb())  # (N, 3, 28, 28) float 0-255
    y = torch.from_numpy(data.values["digit"]).long()
    L.seed_everything(cfg.seed, workers=True)  # the bank may have drawn from torch: the run starts from the seed
    model = DigitCNN(CNNConfig(channels=3))
    name = folder_name(cfg.method, cfg.strength, cfg.seed)
    tty = sys.stdout.isatty()
    callbacks = [progress] if progress else ([] if tty else [PrintProgress(name)])
    trainer = L.Trainer(max_epochs=cfg.epochs, accelerator="auto", devices=cfg.devices, strategy=cfg.strategy,
                        logger=False, enable_checkpointing=False, enable_model_summary=False,
                        num_sanity_val_steps=0, enable_progress_bar=tty and progress is None, callbacks=callbacks)
    loader = DataLoader(torch.utils.data.TensorDataset(torch.arange(len(y))), batch_size=cfg.batch, shuffle=True,
                        drop_last=True)
    start = time.time()
    trainer.fit(CFTrainingModule(model, cfg, x, y, bank), loader)
    seconds = time.time() - start
    if not trainer.is_global_zero or trainer.interrupted or (cancelled is not None and cancelled()):
        return {}
    card = {
        "kind": "classifier", "method": cfg.method, "strength": cfg.strength, "seed": cfg.seed,
        "config": model.cfg.to_dict(),
        "description": f"Colour digit CNN trained with method {cfg.method} where hue follows the digit with "
                       f"probability {cfg.data_strength:g} (issue 19).",
        "data": f"confounded colour Morpho-MNIST, train split at strength {cfg.data_strength:g}: first {len(y)} "
                f"digits; counterfactuals: {'none' if bank is None else 'TRUE renderer' if cfg.method == 'true_augment' else cfg.generator + ' generator s' + format(cfg.strength, 'g')}",
        "metrics": {"train_seconds": seconds, "confounding_before": digit_hue(data.values),
                    "confounding_after": confounding_after(cfg, data.values, bank)},
        "command": cfg.command or rebuild_command(cfg.method, cfg.strength, cfg.seed),
        "train": {k: v for k, v in asdict(cfg).items() if k not in ("out", "command")},
    }
    checkpoints.save(Path(cfg.out) / name, model.cpu().state_dict(), card)
    print(f"[{name}] {seconds:.0f} s", flush=True)
    return card
