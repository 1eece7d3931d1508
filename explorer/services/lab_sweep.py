"""The Causal graph lab's precomputed sweep: every position of one concept's do() slider, drawn and read ahead.

Why: a Python rerun per slider move costs the lab 2.7x a page with no model (docs/performance.md, "Causal graph
lab"), so the lab's quick sliders (explorer/ui/quick_sliders.py, as on the Image page) swap the model's picture
and its concept readings in the browser while a slider moves, from this sweep, and only the released value
reaches Python. A slider's sweep holds, at each of its positions, what `LabService.what_if` returns for the model:
the counterfactual scene and the concepts it was drawn from, with the other do() values held, in the edited
graph; one encoder and one decoder batch through the same procedure (`model_counterfactual`).

A sweep depends on the scene, the edited graph (its cuts and added arrows) and the other sliders' do() values,
not on its own slider's value, so releasing a slider keeps its sweep. The last few are kept (`LabSweeps`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.pendulum import model_counterfactual
from explorer.models.causal_vae import CausalVAE
from explorer.scm.graph import Dag
from explorer.services.image_sweep import KeptSweeps, positions
from explorer.types import VarSpec

# every 1-degree step of the two angle sliders (76 and 79 of them), so a key press shows the exact picture; the
# shadows' 0.1-unit sliders (111 and 191 steps) every 2nd and 3rd step. ~70 ms of CPU for 79 scenes.
MOST_POSITIONS = 80


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so the page can cache its encoding of one
class ConceptSweep:
    """One concept slider's positions and what the model draws and reads at each.

    Attributes:
        name: the concept the slider sets.
        values: (P,) the positions (`image_sweep.positions`: the step grid, or every k-th step of it when it has
            more than MOST_POSITIONS).
        pictures: (P, 64, 64, 3) uint8: the model's counterfactual scene at each.
        cf: {concept: (P,)} the model's counterfactual concepts at each, in scene units.
    """

    name: str
    values: np.ndarray
    pictures: np.ndarray
    cf: dict[str, np.ndarray]


def concept_sweep(model: CausalVAE, image: np.ndarray, do: Mapping[str, float], name: str, values: np.ndarray,
                  graph: Dag, device: torch.device) -> ConceptSweep:
    """The model's what-if of one scene (`image`, (1, 64, 64, 3) uint8) at each of `values` of `name`, `do`'s
    other values held, in `graph`; wrap in `torch.inference_mode()`."""
    p = len(values)
    held = {k: float(v) for k, v in do.items() if k != name} | {name: values}  # scalars broadcast over the P rows
    out = model_counterfactual(model, np.repeat(image, p, axis=0), held, graph, device,
                               reconstruct=False)  # abduction -> action -> prediction, P rows at once
    return ConceptSweep(name, values, out["image"], out["cf"])  # (P, 64, 64, 3), {concept: (P,)}


class LabSweeps(KeptSweeps):
    """The last few concept sweeps, by (scene, concept, the other do() values, the edited graph's arrows)."""

    @staticmethod
    def key(index: int, name: str, do: Mapping[str, float], graph: Dag) -> tuple:
        others = tuple(sorted((k, float(v)) for k, v in do.items() if k != name))
        return index, name, others, tuple(sorted(graph.edges))

    def keys(self, index: int, do: Mapping[str, float], graph: Dag, specs: Mapping[str, VarSpec],
             names: Iterable[str] | None = None) -> dict[str, tuple]:
        """{concept: its sweep's key} for the concepts of `specs` in `names` (None: all)."""
        wanted = None if names is None else set(names)
        return {n: self.key(index, n, do, graph) for n in specs if wanted is None or n in wanted}

    def sweeps(self, model: CausalVAE, image: np.ndarray, index: int, do: Mapping[str, float], graph: Dag,
               specs: Mapping[str, VarSpec], device: torch.device,
               names: Iterable[str] | None = None) -> dict[str, ConceptSweep]:
        """The sweeps of the concepts in `names` (None: all of `specs`) for scene `index` (`image`) under `do`
        (already clamped) in `graph`, computing the missing ones."""
        keys = self.keys(index, do, graph, specs, names)
        wanted = list(keys)
        for n in wanted:
            if keys[n] not in self:
                with torch.inference_mode():
                    self.store(keys[n], concept_sweep(model, image, do, n, positions(specs[n], MOST_POSITIONS), graph,
                                                            device))
        return {n: self.kept_sweep(keys[n]) for n in wanted}
