"""The causal-graph lab service: one call per page interaction, everything the page shows comes back.

Loaded once per server process and shared read-only between sessions; `what_if` and `export` are pure
in their arguments. Values cross this boundary in the scene's own units (degrees, scene units); the
model's latents in [-1, 1] stay inside.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from explorer.counterfactual.debias import DEFAULT_CUT, ExportResult, generate, to_zip
from explorer.counterfactual.pendulum import graph_of, model_counterfactual
from explorer.datasets.pendulum import SEEDS, scenes
from explorer.interfaces import WhatIfResult
from explorer.model_thread import AHEAD, Batcher
from explorer.registry import REBUILD_PENDULUM, load_vae
from explorer.scm.graph import Dag
from explorer.scm.pendulum import TRUE_GRAPH, VARIABLES, PendulumSCM
from explorer.services.common import clamp_do
from explorer.services.lab_sweep import ConceptSweep, LabSweeps, mse
from explorer.types import VarSpec

REBUILD = REBUILD_PENDULUM
POOL = 500  # real scenes offered on the page


@dataclass
class LabResult(WhatIfResult):
    """One what-if on one real scene: values in scene units, images (64, 64, 3) uint8.

    `obs` holds the scene's true values, `cf` the model's counterfactual, `true_cf` the TRUE one.
    """

    index: int = 0
    encoded: dict[str, float] = field(default_factory=dict)  # what the model reads off the image (abduction)
    cut: list[tuple[str, str]] = field(default_factory=list)  # edges of the model's graph the user removed
    inert: list[tuple[str, str]] = field(default_factory=list)  # added edges neither the model nor the physics uses
    original: np.ndarray | None = None
    recon: np.ndarray | None = None
    generated: np.ndarray | None = None
    true_image: np.ndarray | None = None
    mse: float = 0.0  # generated vs true counterfactual, pixels in [0, 1]


@dataclass(frozen=True)
class LabPage:
    """What the page shows besides a what-if, fetched once per page run.

    Attributes:
        n: how many real scenes there are to pick from.
        specs: the concepts, in scene units.
        learned: the graph the model learned (the edge editor starts from it).
        truth: the physics' graph.
        edge_probabilities: (d, d) how sure the causal layer is of each arrow row -> column (fixed entries 0/1).
        graph_mode: how the graph was trained ("partial", "learned" or "fixed"), from the model's card.
        default_cuts: the arrows the export offers to cut first.
    """

    n: int
    specs: dict[str, VarSpec]
    learned: Dag
    truth: Dag
    edge_probabilities: np.ndarray
    graph_mode: str
    default_cuts: list[tuple[str, str]]


@dataclass(frozen=True)
class LabAsk:
    """One visitor's what-if (or sweep) as the model thread receives it: the scene, do() clamped to range, the
    edited graph (and for a sweep, its sliders: None for all)."""

    index: int
    do: dict[str, float]
    graph: Dag
    names: list[str] | None = None


@dataclass
class LabExport:
    """A de-biased dataset: the generated scenes with their correlations, and the zip the page offers."""

    result: ExportResult
    data: bytes  # the zip: images and labels.csv; the same seed gives the same bytes


def follows(learned: Dag, edges: Iterable[tuple[str, str]], done: Iterable[str]) -> list[str]:
    """The concepts that change because `done` were set, in the edited graph `edges`: along the arrows both the
    model learned and the edited graph keeps (an added arrow the model lacks moves nothing in the model)."""
    done = set(done)
    return sorted(Dag(VARIABLES, learned.edges & frozenset(edges)).descendants(list(done)) - done)


class LabService:
    """Holds the model, the scene simulator and a pool of real scenes (the test seed)."""

    def __init__(self, device: torch.device, folder: Path | None = None, pool: int = POOL):
        self.device = device
        self.model, self.card = load_vae(device, folder)
        self.scm = PendulumSCM()
        self.noise, self.values, self.images = scenes(pool, SEEDS["test"])
        self._page: LabPage | None = None
        self.sweeps = LabSweeps()  # the quick sliders' precomputed positions (explorer/services/lab_sweep.py)
        # the what-ifs waiting for the model thread run as one batch (explorer/model_thread.py)
        self._batcher = Batcher(lambda ask: self._draw([ask])[0], self._draw)
        # and so do the sweeps: one decoder call for the visitors reaching for a slider at once (lab_sweep.py)
        self._sweep_batcher = Batcher(lambda ask: self._sweeps([ask])[0], self._sweeps, AHEAD)  # after answers

    def __len__(self) -> int:
        return len(self.images)

    def factual(self, index: int) -> dict[str, float]:
        """The true values of pool scene `index`."""
        return {k: float(v[index]) for k, v in self.values.items()}

    @property
    def specs(self) -> dict[str, VarSpec]:
        return self.scm.specs

    @property
    def true_graph(self) -> Dag:
        return TRUE_GRAPH

    @property
    def learned_graph(self) -> Dag:
        return graph_of(self.model)

    def edge_probabilities(self) -> np.ndarray:
        """(d, d) the causal layer's edge probabilities (fixed entries as 0/1)."""
        with torch.inference_mode():
            return self.model.causal.probabilities().cpu().numpy()

    def page(self) -> LabPage:
        """The page's scene range, concepts, both graphs, the edge probabilities and the export's default."""
        if self._page is None:  # built on first use: the model's graph is frozen, so it never changes
            learned = sorted(self.learned_graph.edges)
            self._page = LabPage(len(self), self.specs, self.learned_graph, self.true_graph,
                                 self.edge_probabilities(), self.card.get("graph_mode", "?"),
                                 [DEFAULT_CUT] if DEFAULT_CUT in learned else learned[:1])
        return self._page

    def what_if(self, index: int, do: dict[str, float], edges: set[tuple[str, str]] | None = None) -> LabResult:
        """Abduction -> action -> prediction for pool scene `index` under `do` in the edited graph.

        The model's part runs on the model thread (Streamlit calls from a new thread per rerun: see
        explorer/model_thread.py), in one batch with the what-ifs of other visitors waiting there in the same graph
        with the same concepts set; the simulator's TRUE counterfactual is drawn on the caller's thread.

        Args:
            index: which real scene (clamped to the pool).
            do: {concept: value}; values outside a concept's range are clamped (and listed).
            edges: the edited graph's edges; None keeps the model's learned graph.

        Raises:
            CycleError: the edited graph has a cycle.
            ValueError: an unknown concept in `do`.
        """
        index, graph = self._scene_graph(index, edges)
        do_ok, clamped = clamp_do(do, self.specs, "concept", "the scene has")
        out = self._batcher((graph, tuple(sorted(do_ok))), LabAsk(index, do_ok, graph))
        true_cf, true_imgs = self._truth(index, {k: np.array([v]) for k, v in do_ok.items()}, graph)
        true_img = true_imgs[0]
        learned = self.learned_graph.edges
        one = lambda d: {k: float(v[0]) for k, v in d.items()}  # noqa: E731
        return LabResult(
            obs=self.factual(index), cf=one(out["cf"]), true_cf=one(true_cf), intervened=sorted(do_ok),
            downstream=follows(self.learned_graph, graph.edges, do_ok),
            clamped=clamped, index=index, encoded=one(out["values"]),
            cut=sorted(learned - graph.edges), inert=sorted(graph.edges - learned - TRUE_GRAPH.edges),
            original=self.images[index], recon=out["recon"][0], generated=out["image"][0], true_image=true_img,
            mse=float(mse(out["image"][0], true_img)))

    def _draw(self, asks: list[LabAsk]) -> list[dict]:
        """The model's counterfactuals of several scenes (one graph, the same concepts set) in one batch: per
        request, `model_counterfactual`'s output for its own row (values and pictures with a first axis of 1)."""
        rows = [a.index for a in asks]
        do = {k: np.asarray([a.do[k] for a in asks]) for k in asks[0].do}  # (B,) each
        with torch.inference_mode():
            out = model_counterfactual(self.model, self.images[rows], do, asks[0].graph, self.device)

        def row(v: dict | np.ndarray, i: int) -> dict | np.ndarray:
            # its own copy of row i, not a view of the batch that another visitor's result also holds
            return {k: x[i:i + 1].copy() for k, x in v.items()} if isinstance(v, dict) else v[i:i + 1].copy()

        return [{name: row(v, i) for name, v in out.items()} for i in range(len(asks))]

    def sweep(self, index: int, do: dict[str, float], edges: set[tuple[str, str]] | None = None,
              names: Iterable[str] | None = None) -> dict[str, ConceptSweep]:
        """{concept: its sweep}: for each concept (in `names`, None: all), the model's picture and concepts of
        `what_if` at the slider's positions, `do`'s other values held (clamped to range), in the edited graph.

        Batched, and kept per slider until the scene, the graph or the other values change. A kept sweep is
        returned from the caller's thread; only a missing one is computed on the model thread.

        Raises:
            CycleError: the edited graph has a cycle.
            ValueError: an unknown concept in `do`.
        """
        index, graph = self._scene_graph(index, edges)
        do_ok, _ = clamp_do(do, self.specs, "concept", "the scene has")
        names = None if names is None else list(names)  # read twice
        kept = self.sweeps.found(self.sweeps.keys(index, do_ok, graph, self.specs, names))
        if kept is not None:
            return kept
        key = ("sweep", tuple(sorted(graph.edges)), tuple(sorted(do_ok)), None if names is None else tuple(names))
        return self._sweep_batcher(key, LabAsk(index, do_ok, graph, names))

    def _sweeps(self, asks: list[LabAsk]) -> list[dict[str, ConceptSweep]]:
        """The sweeps of several visitors' scenes (one graph, the same concepts set, the same sliders), in one
        decoder call per slider (model thread: the Batcher runs it there)."""
        rows, graph = [a.index for a in asks], asks[0].graph

        def truth(index: int, do: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
            return self._truth(index, do, graph)

        return self.sweeps.sweeps_many(self.model, self.images[rows], rows, [a.do for a in asks], graph,
                                       self.specs, self.device, asks[0].names, truth)

    def _truth(self, index: int, do: dict[str, np.ndarray], graph: Dag) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Scene `index`'s TRUE counterfactual under `do` ({concept: (P,)}) in `graph`: its concepts {name: (P,)}
        and the simulator's scenes (P, 64, 64, 3) uint8."""
        p = len(next(iter(do.values()))) if do else 1
        row = {k: np.repeat(v[index:index + 1], p) for k, v in self.noise.items()}  # (P,) each
        true_cf = self.scm.counterfactual(row, do, graph)
        return true_cf, self.scm.render(true_cf)

    def _scene_graph(self, index: int, edges: set[tuple[str, str]] | None) -> tuple[int, Dag]:
        """The scene's index clamped to the pool, and the edited graph (None: the learned one); refuses cycles."""
        graph = Dag(VARIABLES, frozenset(edges)) if edges is not None else self.learned_graph
        return int(min(max(index, 0), len(self) - 1)), graph

    def export(self, cuts: list[tuple[str, str]], n: int, seed: int,
               progress: Callable[[float], None] | None = None) -> LabExport:
        """A de-biased dataset from this lab's model, and its zip (see `explorer.counterfactual.debias`).

        Args:
            cuts: the arrows to cut.
            n: how many scenes.
            seed: the same seed gives the same scenes and the same zip bytes.
            progress: called with the fraction done; 1.0 once the scenes are drawn, before the zip is packed.

        Raises:
            ExportError: a cut that is not an arrow, or a size out of range (the message says which).
        """
        result = generate(self.model, cuts, n, seed, self.device, progress)
        return LabExport(result, to_zip(result))
