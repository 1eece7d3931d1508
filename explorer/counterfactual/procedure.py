"""The counterfactual, written once: abduction -> action -> prediction (Pearl's three steps).

Every world with a learned mechanism goes through `counterfactual`: the image world (the SCM moves the
parents, the conditional VAE redraws the digit) and the causal-graph lab (the causal layer moves the
concepts, the VAE's decoder redraws the scene). Values are keyed by variable name throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from explorer.interfaces import SCM, Mechanism, ReadsParents


@dataclass
class Counterfactual:
    """The three steps' outputs for a batch.

    Attributes:
        obs: the factual parents (given, or read off `x` by the mechanism).
        cf: the counterfactual parents, every variable of the SCM.
        latents: the mechanism's abducted noise of `x`.
        x_cf: the counterfactual (B, ...).
        x_recon: `x` redrawn from its own noise and parents, when asked for (else None).
    """

    obs: Mapping[str, Any]
    cf: dict[str, Any]
    latents: torch.Tensor
    x_cf: torch.Tensor
    x_recon: torch.Tensor | None = None


def counterfactual(scm: SCM, mechanism: Mechanism, x: torch.Tensor, do: Mapping[str, Any],
                   obs: Mapping[str, Any] | None = None, known: Mapping[str, Any] | None = None,
                   graph: Any = None, reconstruct: bool = False) -> Counterfactual:
    """What `x` would have been had `do` held, everything else about it unchanged.

    Args:
        scm: the model of the parents (a known SCM, or a learned one such as the causal layer).
        mechanism: the learned mechanism of `x` given its parents.
        x: the observed data (B, ...).
        do: hard interventions {variable: value or (B,) values}, in the SCM's units.
        obs: the observed parents; None when the mechanism reads them off `x` (`ReadsParents`).
        known: exogenous noise the observed values cannot reveal (passed to `scm.abduct`).
        graph: an edited graph for the action step (None: the SCM's own).
        reconstruct: also redraw `x` under its factual parents, in the same decoder batch.

    Keeps autograd as the caller has it: wrap in `torch.inference_mode()` to only read.
    """
    # abduction: the parents' exogenous noise from the SCM, the noise specific to x from the mechanism
    if obs is None:
        if not isinstance(mechanism, ReadsParents):
            raise TypeError("obs is needed: this mechanism does not read the parents off x")
        obs, latents = mechanism.encode(x)
    else:
        latents = mechanism.abduct(x, obs)
    noise = scm.abduct(obs, known)
    # action: do() replaces the intervened mechanisms; the rest follow theirs (in `graph`, when edited)
    cf = scm.counterfactual(noise, do, graph)
    # prediction: the same noise, drawn again under the counterfactual parents
    if not reconstruct:
        return Counterfactual(obs, cf, latents, mechanism.decode(latents, cf))
    n = len(latents)
    both = mechanism.decode(_cat(latents, latents), {k: _cat(obs[k], cf[k]) for k in obs})  # (2B, ...)
    return Counterfactual(obs, cf, latents, both[n:], both[:n])


def _cat(a: Any, b: Any) -> Any:
    """Stacks two batches along the first axis, torch or numpy alike."""
    return torch.cat([a, b]) if isinstance(a, torch.Tensor) else np.concatenate([a, b])
