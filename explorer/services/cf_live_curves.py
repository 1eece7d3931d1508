"""Train now's live curves (explorer/services/cf_training.py): a Lightning callback, in its own module so the Train
page imports Lightning only when a training starts."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch


class LiveCurves(L.Callback):
    """Progress, IID and OOD accuracy every `every` steps on fixed test subsets, and the cancel; `job` is the
    service's `Job` (not imported here: the service imports this module)."""

    def __init__(self, job, method: str, sets: dict[str, tuple[torch.Tensor, np.ndarray]], every: int):
        self.job, self.method, self.sets, self.every = job, method, sets, every
        self.index, self.total = job.methods.index(method), 1
        job.curves[method] = []

    def on_train_start(self, trainer, pl_module):
        self.total = max(1, int(trainer.estimated_stepping_batches))
        self._record(0, pl_module.model)  # chance, before the first step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.job.cancelled():
            trainer.should_stop = True  # Lightning ends the fit after this step; `cancelled=` then saves nothing
            return
        step = trainer.global_step
        self.job.progress = (self.index + step / self.total) / len(self.job.methods)
        if step % self.every == 0 or step >= self.total:
            self._record(step, pl_module.model)

    def _record(self, step: int, model: torch.nn.Module) -> None:
        was = model.training
        model.eval()
        with torch.no_grad():  # the training thread: no_grad, not inference_mode, keeps the weights' versions alone
            acc = [float((model(x).argmax(1).numpy() == y).mean()) for x, y in self.sets.values()]
        model.train(was)
        self.job.curves[self.method].append((step, *acc))
