"""Pendulum scenes as arrays: seeds, checkpoint names and conversions shared by training, the lab and export.

Kept apart from `explorer/training/pendulum.py` so that the page and the export command do not import
Lightning (about 7 s of start-up on this machine) just to convert images.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.scm.pendulum import VARIABLES, PendulumSCM, normalise

SEEDS = {"train": 101, "val": 102, "test": 103, "regressor": 104, "regressor_val": 105, "train_do": 106,
         "val_do": 107}


def labels(values: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 4) float32 concept labels in latent units [-1, 1], columns in VARIABLES order."""
    return np.stack([normalise(k, values[k]) for k in VARIABLES], 1).astype(np.float32)


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, 64, 64, 3) uint8 -> (B, 3, 64, 64) float in [0, 1]."""
    x = torch.as_tensor(images)
    return x.permute(0, 3, 1, 2).float() / 255.0


def scenes(n: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """(noise, values, images uint8 (n, 64, 64, 3)) of `n` observational scenes."""
    scm = PendulumSCM()
    noise, values = scm.sample(n, seed)
    return noise, values, scm.render(values)
