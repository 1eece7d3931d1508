"""Torch datasets over a rendered Morpho-MNIST split (grey, or tinted on the fly for the colour variant)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from explorer.datasets.morpho import MorphoData
from explorer.scm.morpho import MorphoSCM, hue_rgb


def colour_values(data: MorphoData, strength: float, seed: int) -> dict[str, np.ndarray]:
    """Factual values of the colour variant: the grey world's values plus a hue confounded with digit."""
    scm = MorphoSCM(strength)
    noise = scm.sample_noise(data.values["digit"], seed)
    return scm.counterfactual({**noise, "u_t": data.noise["u_t"], "u_i": data.noise["u_i"]})


class MorphoTorch(Dataset):
    """Yields (image (C, 28, 28) float 0-255, parents dict) or (image, label) when `labels_only`."""

    def __init__(self, data: MorphoData, hue: np.ndarray | None = None, labels_only: bool = False):
        self.images = torch.from_numpy(data.images)  # (N, 28, 28) uint8
        self.values = {k: torch.as_tensor(data.values[k]) for k in ("digit", "thickness", "intensity")}
        self.values["digit"] = self.values["digit"].long()
        self.values["thickness"] = self.values["thickness"].float()
        self.values["intensity"] = self.values["intensity"].float()
        self.rgb = None
        if hue is not None:
            self.values["hue"] = torch.as_tensor(hue).float()
            self.rgb = torch.from_numpy(np.stack([hue_rgb(h) for h in hue]))  # (N, 3)
        self.labels_only = labels_only

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, k: int):
        x = self.images[k].float()[None]  # (1, 28, 28)
        if self.rgb is not None:
            x = x * self.rgb[k][:, None, None]  # (3, 28, 28)
        if self.labels_only:
            return x, self.values["digit"][k]
        return x, {name: v[k] for name, v in self.values.items()}


class MorphoPairs(Dataset):
    """Yields (factual image, its parents, counterfactual image, its parents): the same digits in two renderings,
    e.g. a split and `load_morpho_cover` of it, whose pictures are the TRUE counterfactuals of the first's."""

    def __init__(self, factual: MorphoData, counterfactual: MorphoData):
        if len(factual) != len(counterfactual):
            raise ValueError("the two renderings must hold the same digits")
        self.factual, self.counterfactual = MorphoTorch(factual), MorphoTorch(counterfactual)

    def __len__(self) -> int:
        return len(self.factual)

    def __getitem__(self, k: int):
        return (*self.factual[k], *self.counterfactual[k])
