"""The image world's counterfactual: the Morpho SCM moves the parents, the learned mechanism redraws the digit."""

from __future__ import annotations

import numpy as np
import torch

from explorer.counterfactual.procedure import counterfactual
from explorer.interfaces import Mechanism
from explorer.scm.morpho import MorphoSCM, tint
from explorer.types import Values

GREY_PARENTS = ("digit", "thickness", "intensity")
RGB_PARENTS = GREY_PARENTS + ("hue",)


def _parents(values: dict[str, np.ndarray], device: torch.device, keys=GREY_PARENTS) -> Values:
    return {k: torch.as_tensor(np.asarray(values[k]), device=device,
                               dtype=torch.long if k == "digit" else torch.float32) for k in keys}


class MorphoMechanism:
    """The grey-scale generator behind the SCM's numpy values; in the colour world it tints what it draws.

    The generator learned the grey stroke only: hue's mechanism is known (`explorer.scm.morpho.tint`),
    so the colour is applied to the decoded stroke rather than learned.
    """

    def __init__(self, model: Mechanism, device: torch.device, coloured: bool = False):
        self.model, self.device, self.coloured = model, device, coloured

    def abduct(self, x: torch.Tensor, parents: dict[str, np.ndarray]) -> torch.Tensor:
        """Grey images (B, 1, 28, 28) 0-255 -> latents (B, Z)."""
        return self.model.abduct(x.to(self.device), _parents(parents, self.device))

    def decode(self, latents: torch.Tensor, parents: dict[str, np.ndarray]) -> torch.Tensor:
        """Latents (B, Z) -> images (B, C, 28, 28) 0-255, C = 3 when coloured."""
        grey = self.model.decode(latents, _parents(parents, self.device))  # (B, 1, 28, 28)
        if not self.coloured:
            return grey
        rgb = torch.from_numpy(tint(np.ones((1, 1), np.float32), parents["hue"]))  # (B, 3, 1, 1)
        return grey * rgb.to(grey.device)


class RGBMechanism:
    """An RGB generator that draws the hue itself (issue 19, explorer/models/rgb_cvae.py) behind the SCM's values."""

    def __init__(self, model: Mechanism, device: torch.device):
        self.model, self.device = model, device

    def abduct(self, x: torch.Tensor, parents: dict[str, np.ndarray]) -> torch.Tensor:
        """RGB images (B, 3, 28, 28) 0-255 -> latents (B, Z)."""
        return self.model.abduct(x.to(self.device), _parents(parents, self.device, RGB_PARENTS))

    def decode(self, latents: torch.Tensor, parents: dict[str, np.ndarray]) -> torch.Tensor:
        """Latents (B, Z) -> RGB images (B, 3, 28, 28) 0-255 under the parents, hue drawn by the network."""
        return self.model.decode(latents, _parents(parents, self.device, RGB_PARENTS))


def image_counterfactual(model: Mechanism, scm: MorphoSCM, grey: torch.Tensor,
                         obs: dict[str, np.ndarray], noise: dict[str, np.ndarray],
                         do: dict[str, float | np.ndarray], device: torch.device
                         ) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Counterfactual values and image for a batch.

    Args:
        model: the learned grey-scale image mechanism.
        scm: the world (grey or colour); its mechanisms move the parents downstream of `do`.
        grey: observed grey images (B, 1, 28, 28), 0-255.
        obs: observed values, arrays of shape (B,).
        noise: the samples' exogenous noise (for hue; u_t and u_i are re-abducted from `obs`).
        do: hard interventions {variable: value or (B,) values}.
        device: where the model runs.

    Returns:
        (counterfactual values, counterfactual image (B, C, 28, 28) 0-255 with C = 3 when coloured).
    """
    out = counterfactual(scm, MorphoMechanism(model, device, scm.coloured), grey, do, obs=obs, known=noise)
    return out.cf, out.x_cf
