"""Lightning modules: thin wrappers that give our models a training step and an optimiser."""

from __future__ import annotations

import time

import lightning as L
import torch
import torch.nn.functional as F

from explorer.models.cnn import DigitCNN
from explorer.models.cvae import MorphoCVAE


class GeneratorModule(L.LightningModule):
    """Trains the conditional VAE on (image, parents) batches; KL weight warms up over `warmup` steps."""

    def __init__(self, model: MorphoCVAE, lr: float = 2e-3, warmup: int = 1000):
        super().__init__()
        self.model, self.lr, self.warmup = model, lr, warmup

    def training_step(self, batch, _):
        x, parents = batch
        beta = min(1.0, (self.global_step + 1) / self.warmup)
        out = self.model.loss(x, parents, beta)
        self.log_dict({"loss": out["loss"], "recon": out["recon"], "kl": out["kl_top"] + out["kl_loc"]},
                      prog_bar=True, on_step=True, sync_dist=False)
        return out["loss"]

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-5)
        steps = self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=int(steps), pct_start=0.05)
        return [opt], [{"scheduler": sched, "interval": "step"}]


class CounterfactualPairModule(GeneratorModule):
    """Fine-tunes the conditional VAE on (factual, TRUE counterfactual) pairs the world's SCM renders: the ELBO on
    the factual image, plus the cross-entropy of the counterfactual the model draws (abduct the factual, decode
    under the counterfactual parents) against the TRUE one, weighted by `weight`.

    Why: the ELBO alone teaches the decoder each image under its OWN parents; a counterfactual asks it for the same
    digit under OTHER parents, which it never sees in training and draws several grey levels off (most at thick
    strokes). In a world whose mechanism is known, the true answer to that question can be shown to it.
    """

    def __init__(self, model: MorphoCVAE, lr: float = 3e-4, weight: float = 1.0):
        super().__init__(model, lr, warmup=1)  # fine-tuning a trained model: the KL term at full weight
        self.weight = weight

    def training_step(self, batch, _):
        x, parents, x_cf, parents_cf = batch
        out = self.model.loss(x, parents)
        drawn = self.model.decode(self.model.abduct(x, parents), parents_cf) / 255.0  # (B, C, 28, 28) in [0, 1]
        cf = F.binary_cross_entropy(drawn.clamp(1e-4, 1 - 1e-4), x_cf / 255.0, reduction="none").flatten(1).sum(1)
        loss = out["loss"] + self.weight * cf.mean()
        self.log_dict({"loss": loss, "recon": out["recon"], "cf": cf.mean()}, prog_bar=True, on_step=True)
        return loss


class ClassifierModule(L.LightningModule):
    """Cross-entropy training of a DigitCNN on (image, label) batches."""

    def __init__(self, model: DigitCNN, lr: float = 2e-3):
        super().__init__()
        self.model, self.lr = model, lr

    def training_step(self, batch, _):
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        self.log_dict({"loss": loss, "acc": (logits.argmax(1) == y).float().mean()}, prog_bar=True, on_step=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-4)
        steps = self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=int(steps), pct_start=0.1)
        return [opt], [{"scheduler": sched, "interval": "step"}]


class PrintProgress(L.Callback):
    """Plain-text progress with elapsed time and ETA, for logs and CI (Lightning's bar needs a terminal)."""

    def __init__(self, name: str, every: int = 50):
        self.name, self.every, self.start = name, every, 0.0

    def on_train_start(self, trainer, pl_module):
        self.start = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.is_global_zero and (batch_idx % self.every == 0 or batch_idx + 1 == trainer.num_training_batches):
            done = trainer.current_epoch * trainer.num_training_batches + batch_idx + 1
            total = trainer.max_epochs * trainer.num_training_batches
            elapsed = time.time() - self.start
            eta = elapsed / done * (total - done)
            metrics = " ".join(f"{k} {float(v):.3f}" for k, v in trainer.callback_metrics.items())
            print(f"[{self.name}] epoch {trainer.current_epoch + 1}/{trainer.max_epochs} "
                  f"batch {batch_idx + 1}/{trainer.num_training_batches} {metrics} "
                  f"| {elapsed / 60:.1f} min elapsed, ~{eta / 60:.1f} min left", flush=True)
