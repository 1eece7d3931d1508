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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.pendulum import model_counterfactual
from explorer.models.causal_vae import CausalVAE
from explorer.scm.graph import Dag
from explorer.services.image_sweep import KeptSweeps, positions
from explorer.types import VarSpec

Truth = Callable[[int, dict[str, np.ndarray]], tuple[dict[str, np.ndarray], np.ndarray]]
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
        true_cf: {concept: (P,)} the TRUE counterfactual concepts at each (the simulator's), or None (not asked).
        true_pictures: (P, 64, 64, 3) uint8: the simulator's TRUE counterfactual scene at each, or None.
        mse: (P,) the model's scene against the true one (pixels in 0-1), or None.
    """

    name: str
    values: np.ndarray
    pictures: np.ndarray
    cf: dict[str, np.ndarray]
    true_cf: dict[str, np.ndarray] | None = None
    true_pictures: np.ndarray | None = None
    mse: np.ndarray | None = None


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
        return self.sweeps_many(model, image, [index], [do], graph, specs, device, names)[0]

    def sweeps_many(self, model: CausalVAE, images: np.ndarray, indices: list[int], dos: list[Mapping[str, float]],
                    graph: Dag, specs: Mapping[str, VarSpec], device: torch.device,
                    names: Iterable[str] | None = None, truth: Truth | None = None) -> list[dict[str, ConceptSweep]]:
        """`sweeps` of several scenes at once: `images` (S, 64, 64, 3) uint8, scene `indices[j]` under `dos[j]`
        (every one with the same concepts set), one graph. Per concept, the missing sweeps of all scenes are drawn
        in ONE model call: under a class the model thread waits for the GIL after each operation while other
        visitors' reruns run Python, so 16 visitors' sweeps as one call took 3.75 s where 16 calls took 30.0 s
        beside two busy Python threads (alone, 1.67 s against 1.33 s; bench/bench_sweep_batch.py). The same
        pictures as one call per scene (the model's rows do not mix).

        `truth(index, do)`: scene `index`'s TRUE counterfactual concepts and scenes under `do` ({concept: (P,)}),
        so the page's answer panel can show the true answer and the model's error at every position too (~27 ms
        for 80 scenes, on the simulator)."""
        names = None if names is None else list(names)
        keys = [self.keys(i, d, graph, specs, names) for i, d in zip(indices, dos)]
        made: dict[tuple, ConceptSweep] = {}
        for n in keys[0]:
            todo = self.missing(keys, n)  # key -> the first scene that needs it
            if not todo:
                continue
            grid = positions(specs[n], MOST_POSITIONS)  # (P,)
            p, rows = len(grid), list(todo.values())
            held = {k: np.repeat([float(dos[j][k]) for j in rows], p) for k in dos[rows[0]] if k != n}  # (R*P,)
            held[n] = np.tile(grid, len(rows))  # scene r's positions at rows r*P..r*P+P-1
            with torch.inference_mode():
                out = model_counterfactual(model, np.repeat(images[rows], p, axis=0), held, graph, device,
                                           reconstruct=False)  # (R*P, ...)
            for r, key in enumerate(todo):
                at = slice(r * p, (r + 1) * p)
                cf = {c: v[at].copy() for c, v in out["cf"].items()}
                drawn = out["image"][at].copy()  # (P, 64, 64, 3) uint8
                if truth is None:
                    made[key] = ConceptSweep(n, grid, drawn, cf)
                else:
                    true_cf, true_pictures = truth(indices[rows[r]], {k: v[at] for k, v in held.items()})
                    made[key] = ConceptSweep(n, grid, drawn, cf, true_cf, true_pictures, mse(drawn, true_pictures))
                self.store(key, made[key])
        return self.gathered(keys, made)


def mse(model: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(..., 64, 64, 3) uint8 scenes -> (...) the model's pixel error against the truth, pixels in 0-1."""
    diff = (model.astype(np.float32) - true.astype(np.float32)) / 255.0
    return (diff ** 2).mean(axis=(-3, -2, -1))
