"""The Image what-if page's precomputed sweep: every position of each continuous do() slider, drawn and read ahead.

Why: a Python rerun per slider move cannot come within 1.5x of a page with no model (docs/performance.md, "Image
what-if"), so the page's quick sliders (explorer/ui/quick_sliders.py) swap pictures and readings in the browser
while a slider moves, from this sweep, and only the released value reaches Python. For each continuous slider the
sweep holds the counterfactual picture and every classifier's probabilities at that slider's positions, with the
other do() values held as they are: the same three steps as `ImageService.what_if`, through the same procedure,
one decoder batch per slider and one classifier batch for all of them.

A slider's sweep depends on the digit, the world, the readers and the other sliders' do() values, not on its own
value: releasing thickness keeps thickness's sweep, and would recompute the others' (~65 pictures and 5 x 65
classifier readings, ~70 ms of CPU on a loaded core). So a caller may ask for some sliders only (the page asks for
the one the visitor is using). `SweepCache` keeps the last few.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.procedure import counterfactual
from explorer.interfaces import SCM, Classifier, Mechanism
from explorer.types import VarSpec

MOST_POSITIONS = 64  # a grid finer than this is swept coarser (the exact value is computed on release)
SWEEPS_KEPT = 32  # slider sweeps kept: <= 65 pictures each, ~0.6 MB in the colour world (float32)


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so the page can cache its encoding of one
class SliderSweep:
    """One slider's positions and what the model draws and the classifiers read at each.

    Attributes:
        name: the variable the slider sets.
        values: (P,) the positions, on the slider's step grid (every k-th step when the grid is finer than
            MOST_POSITIONS), ends included.
        pictures: (P, 28, 28) grey or (P, 3, 28, 28) colour, float 0-255: the model's counterfactual at each.
        probs: {classifier: (P, K) probabilities} on those pictures, in the readers' order.
    """

    name: str
    values: np.ndarray
    pictures: np.ndarray
    probs: dict[str, np.ndarray]


def positions(spec: VarSpec, most: int = MOST_POSITIONS) -> np.ndarray:
    """(P,) the slider's step grid, or every k-th step of it (both ends kept) when it has more than `most`."""
    n = int(round((spec.high - spec.low) / spec.step)) + 1
    stride = max(1, math.ceil(n / most))
    steps = np.arange(0, n, stride)
    if steps[-1] != n - 1:
        steps = np.append(steps, n - 1)
    # rounded as the page rounds a slider's value, so a position and the same value set on the page are one float
    return np.round(spec.low + steps * spec.step, 10)


def slider_sweep(scm: SCM, mechanism: Mechanism, start: StartRow, do: Mapping[str, float], name: str,
                 values: np.ndarray) -> np.ndarray:
    """(P, C, 28, 28) float 0-255: the counterfactual pictures of one digit at each of `values` of `name`, `do`'s
    other values held. `mechanism` has the digit's abduction done (the same latents for every row); wrap in
    `torch.inference_mode()`.
    """
    p = len(values)
    rows = lambda d: {k: np.repeat(np.asarray(v), p, axis=0) for k, v in d.items()}  # (1,) -> (P,)
    held = {k: v for k, v in do.items() if k != name} | {name: values}
    out = counterfactual(scm, mechanism, start.grey.expand(p, -1, -1, -1), held, obs=rows(start.obs),
                         known=rows(start.noise))  # abduction -> action -> prediction, P rows at once
    return out.x_cf.cpu().numpy()  # (P, C, 28, 28)


@dataclass(frozen=True)
class StartRow:
    """One digit as a sweep starts from it: its noise and values (length-1 arrays) and its grey picture."""

    noise: dict[str, np.ndarray]
    obs: dict[str, np.ndarray]
    grey: torch.Tensor  # (1, 1, 28, 28)


class KeptSweeps:
    """The last `kept` sweeps by key, the least recently used dropped first; shared by the pages' sweep caches
    (this one and explorer/services/lab_sweep.py).

    Sweeps are computed on the model thread, but `found` is read from the visitors' own threads: a rerun whose
    sweep is already kept (most are: releasing a slider keeps its own sweep) then need not queue behind other
    visitors' model calls only to look it up. Hence the lock, under its own name: a subclass (TableSweeps) holds a
    lock of its own around these calls.
    """

    def __init__(self, kept: int = SWEEPS_KEPT):
        self.kept = kept
        self._sweeps: OrderedDict[tuple, object] = OrderedDict()
        self._kept_lock = threading.Lock()
        self.computed = 0  # sweeps computed (not found here): tests read it

    def __contains__(self, key: tuple) -> bool:
        with self._kept_lock:
            return key in self._sweeps

    def kept_sweep(self, key: tuple):
        """The sweep under `key`, now the most recently used."""
        with self._kept_lock:
            self._sweeps.move_to_end(key)
            return self._sweeps[key]

    def found(self, keys: Mapping[str, tuple]) -> dict | None:
        """{name: sweep} when every key is kept (each now the most recently used), else None; any thread."""
        with self._kept_lock:
            if not all(k in self._sweeps for k in keys.values()):
                return None
            for k in keys.values():
                self._sweeps.move_to_end(k)
            return {n: self._sweeps[k] for n, k in keys.items()}

    def store(self, key: tuple, sweep: object) -> None:
        """Keeps a sweep just computed, dropping the least recently used beyond `kept`."""
        with self._kept_lock:
            self._sweeps[key] = sweep
            self.computed += 1
            while len(self._sweeps) > self.kept:
                self._sweeps.popitem(last=False)


class SweepCache(KeptSweeps):
    """The last SWEEPS_KEPT slider sweeps, by (digit, world, slider, the other do() values, readers)."""

    @staticmethod
    def key(index: int, coloured: bool, name: str, do: Mapping[str, float],
            readers: Mapping[str, Classifier]) -> tuple:
        others = tuple(sorted((k, float(v)) for k, v in do.items() if k != name))
        # a weak reference, not id(): an uploaded model freed with its session and a new upload at the same address
        # would share an id, and this cache would show the old one's readings; a dead reference equals no other
        return index, coloured, name, others, tuple((n, weakref.ref(c)) for n, c in readers.items())

    def keys(self, specs: Mapping[str, VarSpec], index: int, coloured: bool, do: Mapping[str, float],
             readers: Mapping[str, Classifier], names: Iterable[str] | None = None) -> dict[str, tuple]:
        """{slider: its sweep's key} for the continuous variables of `specs` in `names` (None: all)."""
        wanted = None if names is None else set(names)
        return {n: self.key(index, coloured, n, do, readers) for n, s in specs.items()
                if s.kind == "continuous" and (wanted is None or n in wanted)}

    def sweeps(self, scm: SCM, mechanism: Mechanism, start: StartRow, index: int, coloured: bool,
               do: Mapping[str, float], readers: Mapping[str, Classifier],
               names: Iterable[str] | None = None) -> dict[str, SliderSweep]:
        """The continuous sliders' sweeps (those in `names`; None: all) for this digit and world under `do`
        (clamped), computing the missing ones."""
        keys = self.keys(scm.specs, index, coloured, do, readers, names)
        specs = {n: scm.specs[n] for n in keys}
        missing = [n for n in specs if keys[n] not in self]
        if missing:
            with torch.inference_mode():
                grids = {n: positions(specs[n]) for n in missing}
                drawn = {n: slider_sweep(scm, mechanism, start, do, n, grids[n]) for n in missing}
                batch = torch.from_numpy(np.concatenate([drawn[n] for n in missing])).float()  # (sum P, C, 28, 28)
                probs = {r: c.predict_proba(batch).cpu().numpy() for r, c in readers.items()}  # (sum P, K)
            at = np.cumsum([0] + [len(grids[n]) for n in missing])
            for i, n in enumerate(missing):
                pictures = drawn[n] if coloured else drawn[n][:, 0]  # (P, 28, 28) grey, as what_if returns it
                self.store(keys[n], SliderSweep(n, grids[n], pictures,
                                                 {r: p[at[i]:at[i + 1]] for r, p in probs.items()}))
        return {n: self.kept_sweep(keys[n]) for n in specs}
