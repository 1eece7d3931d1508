"""A linear softmax classifier fitted on fixed features: CausaLM's stage-2 task head, and the concept probes.

The encoders are frozen in stage 2, so the head's problem is convex; a fixed full-batch recipe (no tuning on
any split) keeps O and CF strictly comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.types import DEFAULT_SEED


@dataclass
class LinearConfig:
    steps: int = 400
    lr: float = 0.05
    weight_decay: float = 1e-4
    seed: int = DEFAULT_SEED


def fit_linear(x: torch.Tensor, y: torch.Tensor, n_classes: int, cfg: LinearConfig = LinearConfig(),
               weights: torch.Tensor | None = None) -> nn.Linear:
    """(N, H) features, (N,) int labels -> a fitted nn.Linear(H, n_classes). Class-balanced when `weights`."""
    torch.manual_seed(cfg.seed)
    x, y = x.float(), y.long()
    head = nn.Linear(x.shape[1], n_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    with torch.enable_grad():  # callers may run under no_grad (evaluation); this fit needs gradients
        for _ in range(cfg.steps):
            opt.zero_grad()
            F.cross_entropy(head(x), y, weight=weights).backward()
            opt.step()
    return head.eval()


@torch.no_grad()
def accuracy(head: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((head(x.float()).argmax(-1) == y).float().mean())


@torch.no_grad()
def bank_reading(x: torch.Tensor, y: torch.Tensor, x_bank: torch.Tensor, n_names: int,
                 cfg: LinearConfig = LinearConfig()) -> torch.Tensor:
    """A binary linear probe fitted on (N, H) features and (N,) 0/1 labels, read on a name bank's
    (n_names * S, H) name-major features -> (n_names, 1) its logit of 1, averaged over each name's S sentences."""
    logits = fit_linear(x, y, 2, cfg)(x_bank.float())  # (n_names * S, 2)
    return (logits[:, 1] - logits[:, 0]).reshape(n_names, -1).mean(1, keepdim=True)
