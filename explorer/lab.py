"""The causal-graph lab service: one call per page interaction, everything the page shows comes back.

Loaded once per server process and shared read-only between sessions; `what_if` and `export` are pure
in their arguments. Values cross this boundary in the scene's own units (degrees, scene units); the
model's latents in [-1, 1] stay inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from explorer import checkpoints
from explorer.model_thread import on_model_thread
from explorer.models.causal_vae import CausalVAE, CausalVAEConfig, ConceptRegressor
from explorer.paths import PRETRAINED
from explorer.scm.graph import Dag
from explorer.scm.pendulum import TRUE_GRAPH, VARIABLES, PendulumSCM, denormalise, normalise
from explorer.data.pendulum import NAMES, SEEDS, scenes, to_input

REBUILD = "python -m explorer train pendulum"
POOL = 500  # real scenes offered on the page


def load_vae(device: torch.device, folder: Path | None = None) -> tuple[CausalVAE, dict]:
    """The shipped causal-layer VAE (raises CheckpointError naming the rebuild command on any fault)."""
    folder = folder or PRETRAINED / NAMES["vae"]
    model, card = checkpoints.load_module(folder, lambda c: CausalVAE(CausalVAEConfig(**c)),
                                          f"{REBUILD} --only vae", "pendulum VAE")
    if not model.causal.hardened:
        raise checkpoints.CheckpointError(f"The pendulum VAE checkpoint in {folder} has no frozen graph. "
                                          f"Rebuild it with: {REBUILD} --only vae")
    return model.to(device), card


def load_regressor(device: torch.device, folder: Path | None = None) -> ConceptRegressor:
    """The judge of `evaluate pendulum` (raises CheckpointError naming the rebuild command on any fault)."""
    model, _ = checkpoints.load_module(folder or PRETRAINED / NAMES["regressor"],
                                       lambda c: ConceptRegressor(CausalVAEConfig(**c)),
                                       f"{REBUILD} --only regressor", "pendulum regressor")
    return model.to(device)


def graph_of(model: CausalVAE) -> Dag:
    """The model's frozen graph over the concept names."""
    a = model.causal.adjacency()
    return Dag(VARIABLES, frozenset((p, c) for i, p in enumerate(VARIABLES) for j, c in enumerate(VARIABLES)
                                    if a[i, j] > 0))


def keep_matrix(graph: Dag, device: torch.device | str = "cpu") -> torch.Tensor:
    """(d, d) 0/1 of the edited graph's edges, in the model's concept order."""
    return torch.tensor([[float((p, c) in graph.edges) for c in VARIABLES] for p in VARIABLES], device=device)


def model_counterfactual(model: CausalVAE, images: np.ndarray, do: dict[str, np.ndarray | float],
                         graph: Dag | None, device: torch.device) -> dict[str, np.ndarray]:
    """The model's abduction -> action -> prediction for uint8 scenes (B, 64, 64, 3), in scene units.

    Returns:
        values (factual, as encoded), cf (counterfactual values), recon and image (uint8 (B, 64, 64, 3)).
    """
    x = to_input(images).to(device)  # (B, 3, 64, 64)
    do_z = {VARIABLES.index(k): torch.as_tensor(normalise(k, v), dtype=torch.float32, device=device)
            for k, v in do.items()}
    keep = keep_matrix(graph, device) if graph is not None else None
    out = model.counterfactual(x, do_z, keep)
    z, z_cf = out["z"].cpu().numpy(), out["z_cf"].cpu().numpy()
    return {"values": {k: denormalise(k, z[:, j]) for j, k in enumerate(VARIABLES)},
            "cf": {k: denormalise(k, z_cf[:, j]) for j, k in enumerate(VARIABLES)},
            "recon": to_uint8(out["recon"]), "image": to_uint8(out["image"])}


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float [0, 1] -> (B, H, W, 3) uint8."""
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class LabResult:
    """One what-if on one real scene: values in scene units, images (64, 64, 3) uint8."""

    index: int
    obs: dict[str, float]  # the scene's true values
    encoded: dict[str, float]  # what the model reads off the image (abduction)
    cf_model: dict[str, float]
    cf_true: dict[str, float]
    intervened: list[str]
    downstream: list[str]  # concepts that follow the intervention through the model's live arrows
    clamped: list[str]
    cut: list[tuple[str, str]]  # edges of the model's graph the user removed
    inert: list[tuple[str, str]]  # edges the user added that neither the model nor the physics uses
    original: np.ndarray
    recon: np.ndarray
    generated: np.ndarray
    true_cf: np.ndarray
    mse: float  # generated vs true counterfactual, pixels in [0, 1]


class PendulumLab:
    """Holds the model, the scene simulator and a pool of real scenes (the test seed)."""

    def __init__(self, device: torch.device, folder: Path | None = None, pool: int = POOL):
        self.device = device
        self.model, self.card = load_vae(device, folder)
        self.scm = PendulumSCM()
        self.noise, self.values, self.images = scenes(pool, SEEDS["test"])

    def __len__(self) -> int:
        return len(self.images)

    def factual(self, index: int) -> dict[str, float]:
        """The true values of pool scene `index`."""
        return {k: float(v[index]) for k, v in self.values.items()}

    @property
    def specs(self):
        return self.scm.specs

    @property
    def true_graph(self) -> Dag:
        return TRUE_GRAPH

    @property
    def learned_graph(self) -> Dag:
        return graph_of(self.model)

    def edge_probabilities(self) -> np.ndarray:
        """(d, d) the causal layer's edge probabilities (fixed entries as 0/1)."""
        return self.model.causal.probabilities().detach().cpu().numpy()

    @on_model_thread  # Streamlit calls from a new thread per rerun: see explorer/model_thread.py
    def what_if(self, index: int, do: dict[str, float], edges: set[tuple[str, str]] | None = None) -> LabResult:
        """Abduction -> action -> prediction for pool scene `index` under `do` in the edited graph.

        Args:
            index: which real scene (clamped to the pool).
            do: {concept: value}; values outside a concept's range are clamped (and listed).
            edges: the edited graph's edges; None keeps the model's learned graph.

        Raises:
            CycleError: the edited graph has a cycle.
            ValueError: an unknown concept in `do`.
        """
        index = int(min(max(index, 0), len(self) - 1))
        graph = Dag(VARIABLES, frozenset(edges)) if edges is not None else self.learned_graph  # refuses cycles
        do_ok, clamped = {}, []
        for name, value in do.items():
            if name not in self.specs:
                raise ValueError(f"unknown concept {name!r}; the scene has {', '.join(VARIABLES)}")
            do_ok[name], changed = self.specs[name].clamp(value)
            if changed:
                clamped.append(name)
        row = {k: v[index:index + 1] for k, v in self.noise.items()}
        cf_true = self.scm.counterfactual(row, {k: np.array([v]) for k, v in do_ok.items()}, graph)
        true_img = self.scm.render(cf_true)[0]
        with torch.no_grad():
            out = model_counterfactual(self.model, self.images[index:index + 1], do_ok, graph, self.device)
        learned = self.learned_graph.edges
        one = lambda d: {k: float(v[0]) for k, v in d.items()}  # noqa: E731
        return LabResult(
            index=index, obs={k: float(v[index]) for k, v in self.values.items()}, encoded=one(out["values"]),
            cf_model=one(out["cf"]), cf_true=one(cf_true), intervened=sorted(do_ok),
            downstream=sorted(Dag(VARIABLES, learned & graph.edges).descendants(list(do_ok)) - set(do_ok)),
            clamped=clamped,
            cut=sorted(learned - graph.edges), inert=sorted(graph.edges - learned - TRUE_GRAPH.edges),
            original=self.images[index], recon=out["recon"][0], generated=out["image"][0], true_cf=true_img,
            mse=float(((out["image"][0].astype(np.float32) - true_img.astype(np.float32)) / 255.0).__pow__(2).mean()))

    def export(self, cuts: list[tuple[str, str]], n: int, seed: int,
               progress: Callable[[float], None] | None = None):
        """A de-biased dataset from this lab's model (see `explorer.export.generate`)."""
        from explorer.export import generate

        return generate(self.model, cuts, n, seed, self.device, progress)
