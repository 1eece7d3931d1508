"""The causal-layer VAE as an SCM plus a mechanism, so its counterfactual runs through the one procedure.

    concepts z --causal layer (a learned SCM over the concepts)--> counterfactual concepts
    image --encoder--> (concepts, style) ; (concepts, style) --decoder--> image  (the learned mechanism)

Inside, values are the model's latent units in [-1, 1], keyed by concept name; `model_counterfactual`
converts from and to the scene's own units (degrees, scene units) at the edge.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from explorer.counterfactual.procedure import counterfactual
from explorer.datasets.pendulum import to_input
from explorer.models.causal_vae import CausalVAE
from explorer.scm.graph import Dag
from explorer.scm.pendulum import SPECS, VARIABLES, denormalise, normalise
from explorer.types import VarSpec


def graph_of(model: CausalVAE) -> Dag:
    """The model's frozen graph over the concept names."""
    a = model.causal.adjacency()  # (d, d) 0/1
    return Dag(VARIABLES, frozenset((p, c) for i, p in enumerate(VARIABLES) for j, c in enumerate(VARIABLES)
                                    if a[i, j] > 0))


def keep_matrix(graph: Dag, device: torch.device | str = "cpu") -> torch.Tensor:
    """(d, d) 0/1 of the edited graph's edges, in the model's concept order."""
    return torch.tensor([[float((p, c) in graph.edges) for c in VARIABLES] for p in VARIABLES], device=device)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float [0, 1] -> (B, H, W, 3) uint8."""
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _columns(z: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: z[:, j] for j, k in enumerate(VARIABLES)}  # (B, d) -> {concept: (B,)}


def _stack(values: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([values[k] for k in VARIABLES], 1)  # {concept: (B,)} -> (B, d)


class ConceptSCM:
    """The causal layer read as an SCM over named concepts (latent units): additive noise, exact abduction."""

    def __init__(self, model: CausalVAE):
        self.model, self.layer = model, model.causal

    @property
    def specs(self) -> dict[str, VarSpec]:
        """The concepts in latent units: each spans [-1, 1] over its slider's range in scene units."""
        return {k: VarSpec(k, "continuous", -1.0, 1.0, 0.0, 0.01, SPECS[k].label, "latent") for k in VARIABLES}

    @property
    def graph(self) -> Dag:
        return graph_of(self.model)

    def sample(self, n: int, seed: int) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
        """Concepts drawn from the learned mechanisms: each node's Gaussian residual, propagated in order."""
        gen = torch.Generator().manual_seed(seed)
        eps = torch.randn(n, len(VARIABLES), generator=gen) * self.layer.log_sd.detach().exp()  # (n, d)
        eps = eps.to(self.layer.log_sd.device)
        z = self.layer.propagate(eps, torch.zeros_like(eps), {})  # (n, d): roots are their residual
        return (eps, z), _columns(z)

    def abduct(self, obs: Mapping[str, torch.Tensor], known=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(noise eps (B, d), factual latents (B, d)): a cut edge feeds its parent's factual value."""
        z = _stack(obs)  # (B, d)
        return self.layer.abduct(z), z

    def counterfactual(self, noise: tuple[torch.Tensor, torch.Tensor], do: Mapping[str, torch.Tensor] | None = None,
                       graph: Dag | None = None) -> dict[str, torch.Tensor]:
        """Concepts in topological order under `do` ({concept: (B,) or scalar latent value}) in `graph`."""
        eps, z = noise
        do_index = {VARIABLES.index(k): v for k, v in (do or {}).items()}
        keep = keep_matrix(graph, z.device) if graph is not None else None
        return _columns(self.layer.propagate(eps, z, do_index, keep))  # (B, d) -> by name


class VAEMechanism:
    """The VAE's encoder and decoder: it reads the concepts off the image itself; style is the image's noise."""

    def __init__(self, model: CausalVAE):
        self.model = model

    def encode(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        z, style = self.model.encode(x)  # (B, d), (B, S)
        return _columns(z), style

    def abduct(self, x: torch.Tensor, parents: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.model.encode(x)[1]  # (B, S): the concepts are given

    def decode(self, latents: torch.Tensor, parents: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.model.decode(_stack(parents), latents)  # (B, 3, 64, 64) in [0, 1]


def latent_do(do: Mapping[str, np.ndarray | float], device: torch.device | str) -> dict[str, torch.Tensor]:
    """do() in scene units -> latent units, float32 on `device`."""
    return {k: torch.as_tensor(normalise(k, v), dtype=torch.float32, device=device) for k, v in do.items()}


def model_counterfactual(model: CausalVAE, images: np.ndarray, do: Mapping[str, np.ndarray | float],
                         graph: Dag | None, device: torch.device | str, reconstruct: bool = True) -> dict:
    """The model's abduction -> action -> prediction for uint8 scenes (B, 64, 64, 3), in scene units.

    Returns:
        values (factual, as encoded), cf (counterfactual values), image (uint8 (B, 64, 64, 3)), and
        recon (the factual scene redrawn) when `reconstruct`.
    """
    x = to_input(images).to(device)  # (B, 3, 64, 64)
    out = counterfactual(ConceptSCM(model), VAEMechanism(model), x, latent_do(do, device), graph=graph,
                         reconstruct=reconstruct)
    scene = lambda v: {k: denormalise(k, v[k].cpu().numpy()) for k in VARIABLES}  # noqa: E731
    result = {"values": scene(out.obs), "cf": scene(out.cf), "image": to_uint8(out.x_cf)}
    if reconstruct:
        result["recon"] = to_uint8(out.x_recon)
    return result
