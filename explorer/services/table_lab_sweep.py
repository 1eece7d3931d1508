"""The Table lab's precomputed sweep: every position of one continuous do() slider, answered ahead.

Why: a Python rerun per slider move costs the Table lab 3-5x a page with no model (docs/performance.md, "Table
lab"), so its continuous sliders (age, hours per week) are quick sliders (explorer/ui/quick_sliders.py, as on the
Image page and the Causal graph lab): while one moves, the browser swaps in the counterfactual row's values from
this sweep, and only the released value reaches Python. A slider's sweep holds, at each of its positions, what
`TableLabService.what_if` returns there, computed for all positions in one pass
(explorer/services/table_lab_answers.py) and kept as the what-ifs' answers too, so releasing the slider at a
position finds its answer computed.

A sweep depends on the person (source, seed, row), the edited graph (its cuts and added arrows), the other
do() values and the learned model, not on its own slider's value, so releasing a slider keeps its sweep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from explorer.services.image_sweep import KeptSweeps, positions
from explorer.types import VarSpec

# every step of age (74) and of hours per week (99): a key press shows the exact answer, not a neighbour's
MOST_POSITIONS = 100
SWEEPS_KEPT = 16  # ~100 results of ~5 kB each per sweep (the results are the service's own, shared)


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so the page can cache its encoding of one
class ColumnSweep:
    """One continuous column's slider positions and the what-if at each.

    Attributes:
        name: the column the slider sets.
        values: (P,) the positions (`image_sweep.positions` of the column's slider).
        results: the service's `TableResult` at each position, the other do() values held.
    """

    name: str
    values: np.ndarray
    results: tuple


class TableSweeps(KeptSweeps):
    """The last few column sweeps, by everything an answer depends on except the swept column's own value."""

    @staticmethod
    def key(source: str, seed: int, index: int, name: str, do_codes: Mapping[str, float | int],
            cut: Sequence[tuple[str, str]], added: Sequence[tuple[str, str]], model: object) -> tuple:
        """(person, column, the other do() values (codes), the edits, the learned model itself (a test may swap
        it; None when there is none))."""
        others = tuple(sorted((k, v) for k, v in do_codes.items() if k != name))
        return source, seed, index, name, others, tuple(cut), tuple(added), model

    def __init__(self, kept: int = SWEEPS_KEPT):
        super().__init__(kept)
        self._lock = threading.Lock()  # sessions' threads share this store (the sweep is not on the model thread)

    def sweep(self, key: tuple, spec: VarSpec, answers: Callable[[np.ndarray], tuple]) -> ColumnSweep:
        """The sweep under `key`, computed when missing: `answers(grid)` (the service's what-ifs at every position
        of `spec`'s slider, the other do() values held, in one pass). Computed outside the lock: two sessions
        asking for the same missing sweep at once may both compute it (the same answers)."""
        with self._lock:
            if key in self:
                return self.kept_sweep(key)
        grid = positions(spec, MOST_POSITIONS)  # (P,)
        made = ColumnSweep(spec.name, grid, tuple(answers(grid)))
        with self._lock:
            if key not in self:
                self.store(key, made)
            return self.kept_sweep(key)
