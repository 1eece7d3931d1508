"""The image counterfactual: the SCM moves the parents, the learned mechanism redraws the image."""

from __future__ import annotations

import numpy as np
import torch

from explorer.models.interfaces import CounterfactualModel
from explorer.scm.morpho import MorphoSCM, tint
from explorer.types import Values

GREY_PARENTS = ("digit", "thickness", "intensity")


def _parents(values: dict[str, np.ndarray], device: torch.device, keys=GREY_PARENTS) -> Values:
    return {k: torch.as_tensor(np.asarray(values[k]), device=device,
                               dtype=torch.long if k == "digit" else torch.float32) for k in keys}


def image_counterfactual(model: CounterfactualModel, scm: MorphoSCM, grey: torch.Tensor,
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
    # abduction: the exogenous noise of the parents from the SCM, the image's latents from the model
    u = scm.abduct(obs, noise)
    latents = model.abduct(grey.to(device), _parents(obs, device))  # (B, Z)
    # action: hard interventions replace mechanisms; the rest of the parents follow theirs
    cf = scm.counterfactual(u, do)
    # prediction: decode the same latents under the counterfactual parents
    cf_grey = model.decode(latents, _parents(cf, device))  # (B, 1, 28, 28)
    if scm.coloured:
        rgb = torch.from_numpy(tint(np.ones((1, 1), np.float32), cf["hue"]))  # (B, 3, 1, 1)
        return cf, cf_grey * rgb.to(cf_grey.device)
    return cf, cf_grey
