"""The Image what-if page's precomputed sweep: every position of each continuous do() slider, drawn and read ahead.

Why: a Python rerun per slider move cannot come within 1.5x of a page with no model (docs/performance.md, "Image
what-if"), so the page's quick sliders (explorer/ui/quick_sliders.py) swap pictures and readings in the browser
while a slider moves, from this sweep, and only the released value reaches Python. For each continuous slider the
sweep holds the counterfactual picture, every variable's value, the TRUE picture and every classifier's
probabilities at that slider's positions, with the other do() values held as they are: the same three steps as
`ImageService.what_if`, through the same procedure, one decoder batch and one classifier batch per slider (for every
visitor waiting at once: `sweeps_many`). The page's answer panel is drawn from it too (explorer/ui/image_answer.py).

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

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
        cf: {variable: (P,)} every variable's counterfactual value at each position (the slider's own included).
        true_pictures: the TRUE counterfactual at each position (the world's renderer on the digit's skeleton), as
            `pictures`; None when the digit was set to another (no true answer).
        measured: {attribute: (P,)} the attributes measured on the model's picture at each position (as `what_if`'s
            `measured_cf`), or {} when not asked.
    """

    name: str
    values: np.ndarray
    pictures: np.ndarray
    probs: dict[str, np.ndarray]
    cf: dict[str, np.ndarray] = field(default_factory=dict)
    true_pictures: np.ndarray | None = None
    measured: dict[str, np.ndarray] = field(default_factory=dict)


def positions(spec: VarSpec, most: int = MOST_POSITIONS) -> np.ndarray:
    """(P,) the slider's step grid, or every k-th step of it (both ends kept) when it has more than `most`."""
    n = int(round((spec.high - spec.low) / spec.step)) + 1
    stride = max(1, math.ceil(n / most))
    steps = np.arange(0, n, stride)
    if steps[-1] != n - 1:
        steps = np.append(steps, n - 1)
    # rounded as the page rounds a slider's value, so a position and the same value set on the page are one float
    return np.round(spec.low + steps * spec.step, 10)


def slider_sweep(scm: SCM, mechanism: Mechanism, start: StartRow, do: Mapping[str, float | np.ndarray], name: str,
                 values: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """((R*P, C, 28, 28) float 0-255, {variable: (R*P,)}): the counterfactual pictures and values of R digits
    (`start`'s rows) at each of the P `values` of `name`, digit r's at rows r*P..r*P+P-1, `do`'s other values held
    (a number, or (R,) one per digit). `mechanism` has the digits' abduction done (one latent row per picture row);
    wrap in `torch.inference_mode()`.
    """
    p, r = len(values), len(start.grey)
    held = {k: np.repeat(np.broadcast_to(np.asarray(v, float), (r,)), p) for k, v in do.items() if k != name}
    held[name] = np.tile(values, r)  # (R*P,) each: digit r's values at rows r*P..
    out = counterfactual(scm, mechanism, start.grey.repeat_interleave(p, dim=0), held,
                         obs={k: np.repeat(v, p, axis=0) for k, v in start.obs.items()},
                         known={k: np.repeat(v, p, axis=0) for k, v in start.noise.items()})  # R*P rows at once
    return out.x_cf.cpu().numpy(), {k: np.asarray(v, float) for k, v in out.cf.items()}  # (R*P, C, 28, 28)


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

    def missing(self, keys: list[Mapping[str, tuple]], name: str) -> dict[tuple, int]:
        """{key: the first of several visitors' `keys` that needs it} for slider `name`'s sweeps not kept; two
        visitors on one example under the same other values share one key, so it is computed once."""
        todo: dict[tuple, int] = {}
        for j, k in enumerate(keys):
            if k[name] not in self and k[name] not in todo:
                todo[k[name]] = j
        return todo

    def gathered(self, keys: list[Mapping[str, tuple]], made: Mapping[tuple, object]) -> list[dict]:
        """Per visitor, {slider: its sweep}: just `made`, or kept (read from `made` first: with more visitors
        than `kept`, a sweep just made may already have left the store)."""
        return [{n: made[k[n]] if k[n] in made else self.kept_sweep(k[n]) for n in k} for k in keys]

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
        (clamped), computing the missing ones. `mechanism` has the digit's abduction done."""
        return self.sweeps_many(scm, lambda rows, p: mechanism, [start], [index], coloured, [do], readers, names)[0]

    def sweeps_many(self, scm: SCM, mechanism: Callable[[list[int], int], Mechanism], starts: list[StartRow],
                    indices: list[int], coloured: bool, dos: list[Mapping[str, float]],
                    readers: Mapping[str, Classifier], names: Iterable[str] | None = None,
                    truth: Callable[[int, dict[str, np.ndarray]], np.ndarray | None] | None = None,
                    measure: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
                    ) -> list[dict[str, SliderSweep]]:
        """`sweeps` of several digits at once (one world, the same readers, every `dos[j]` setting the same
        variables): per slider, the missing sweeps of all digits in ONE decoder call and one classifier call per
        reader. Under a class the model thread waits for the GIL after each operation while other visitors'
        reruns run Python (docs/performance.md, "Where a class's CPU goes"), so one call for the visitors reaching
        for a slider at once waits far less than one call each. `mechanism(rows, p)`: the mechanism with the
        abduction of digits `starts[j]`, j in rows, done, one latent row per picture row (p per digit).
        `truth(j, cf)`: digit j's TRUE counterfactual pictures at the values `cf` ({variable: (P,)}), or None.
        `measure(pictures)`: {attribute: (P,)} measured on the model's pictures (P, ...)."""
        names = None if names is None else list(names)
        keys = [self.keys(scm.specs, i, coloured, d, readers, names) for i, d in zip(indices, dos)]
        made: dict[tuple, SliderSweep] = {}
        for n in keys[0]:
            todo = self.missing(keys, n)  # key -> the first digit that needs it
            if not todo:
                continue
            grid, rows = positions(scm.specs[n]), list(todo.values())
            p = len(grid)
            start = StartRow({k: np.concatenate([starts[j].noise[k] for j in rows]) for k in starts[rows[0]].noise},
                             {k: np.concatenate([starts[j].obs[k] for j in rows]) for k in starts[rows[0]].obs},
                             torch.cat([starts[j].grey for j in rows]))  # R digits' rows
            held = {k: np.asarray([float(dos[j][k]) for j in rows]) for k in dos[rows[0]] if k != n}  # (R,) each
            with torch.inference_mode():
                pictures, cf = slider_sweep(scm, mechanism(rows, p), start, held, n, grid)  # (R*P, C, 28, 28)
                batch = torch.from_numpy(pictures).float()
                probs = {r: c.predict_proba(batch).cpu().numpy() for r, c in readers.items()}  # (R*P, K)
            for r, key in enumerate(todo):
                at = slice(r * p, (r + 1) * p)
                drawn = pictures[at] if coloured else pictures[at, 0]  # (P, 28, 28) grey, as what_if returns it
                values = {k: v[at].copy() for k, v in cf.items()}  # (P,) each
                made[key] = SliderSweep(n, grid, drawn.copy(), {c: v[at].copy() for c, v in probs.items()}, values,
                                        None if truth is None else truth(rows[r], values),
                                        {} if measure is None else measure(drawn))
                self.store(key, made[key])
        return self.gathered(keys, made)
