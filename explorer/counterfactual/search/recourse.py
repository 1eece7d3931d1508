"""Recourse in the table world: the cheapest change of actionable columns that turns a model's decision.

Causal algorithmic recourse (Karimi, Schölkopf & Valera, "Algorithmic recourse: from counterfactual explanations to
interventions", FAccT 2021; written here from the paper's idea, no public code used) asks for the cheapest set of
interventions do(A = a) on actionable columns such that the row the world would then produce - the columns
downstream of A following their mechanisms under the row's own noise - gets the wanted decision. The non-causal
answer that tools such as DiCE give changes the same columns and keeps every other column at its factual value.

The files: this one (the config, the query, the model seen from world values, the answer); `recourse_search.py`
(candidates, costs, the search loop both methods share); the two methods, which differ only in how a candidate row
is made and scored: `recourse_causal.py` (abduction, action, prediction through the SCM) and `recourse_baseline.py`
(the columns changed alone, as DiCE does, and its check against the graph).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from explorer.metrics.cf_fairness import world_frame
from explorer.scm.table_scm import TableSCM
from explorer.types import VarSpec

# Who a person is and where they were born are never a recommendation: refused even when asked for.
IMMUTABLE = ("sex", "race", "native_country")
# Time runs one way: age may only go up ("wait N years"), whatever the config says.
ALWAYS_UP = ("age",)
# Things a person can act on, in the census world: study further, change sector or job, work other hours. Left out:
# marital status and relationship (telling someone to marry or divorce for a loan is no acceptable recourse, and in
# the world they sit upstream of education and work, so that one "action" would move nearly every column), and age
# (waiting is not an action; a user may add it, upward only).
DEFAULT_ACTIONABLE = ("education", "workclass", "occupation", "hours_per_week")
OUTCOME = "income"  # the world's own label: what the model predicts, never an action, left out of reported changes


@dataclass
class RecourseConfig:
    """What may change, what it costs, and how sure the answer must be.

    Attributes:
        actionable: columns a recourse may change (never IMMUTABLE ones or the outcome).
        costs: per-column weight (default 1): a change costs weight x distance, where the distance is |delta| in SDs
            for a continuous column, steps for an ordinal one, and 1 for a categorical one.
        up_only: columns that may only go up (a degree is not un-earned); age always is.
        max_changes: at most this many columns change at once.
        draws: posterior draws of the row's noise (causal search: categorical noise is not identified by a row).
        min_share: the flip must hold in at least this share of the draws (the baseline's single row: 0 or 1).
        threshold: the decision is positive when the model's probability is at least this.
        grid_sd: step of a continuous column's grid, in its SDs.
        max_sd: largest change of a continuous column, in its SDs.
        max_candidates: the cheapest candidates kept (the rest dropped, and the answer's note says so).
        tolerance_sd: a continuous column moved by less than this (in SDs) counts as unchanged in reports and in
            the baseline's graph check (hours per week: 0.6 h, below the whole hours people report).
        seed: seed of the posterior draws.
    """

    actionable: tuple[str, ...] = DEFAULT_ACTIONABLE
    costs: Mapping[str, float] = field(default_factory=dict)
    up_only: tuple[str, ...] = ("education",)
    max_changes: int = 2
    draws: int = 20
    min_share: float = 0.8
    threshold: float = 0.5
    grid_sd: float = 0.25
    max_sd: float = 3.0
    max_candidates: int = 5000
    tolerance_sd: float = 0.05
    seed: int = 0

    @classmethod
    def from_controls(cls, values: Mapping[str, float]) -> RecourseConfig:
        """The config from a page's widget values, keyed as `config_spec` names them."""
        acts = tuple(k[4:] for k, v in values.items() if k.startswith("act_") and v)
        costs = {k[5:]: float(v) for k, v in values.items() if k.startswith("cost_")}
        plain = {k: (int(v) if k in ("max_changes", "draws", "seed") else float(v)) for k, v in values.items()
                 if k in ("max_changes", "draws", "min_share", "threshold", "seed")}
        return cls(actionable=acts, costs=costs, **plain)


def config_spec(scm: TableSCM) -> dict[str, VarSpec]:
    """Controls: a tick per column that may be made actionable, its cost weight, and the search's settings."""
    d = RecourseConfig()
    spec = {"max_changes": VarSpec("max_changes", "continuous", 1, 4, d.max_changes, 1, "columns changed at most"),
            "draws": VarSpec("draws", "continuous", 1, 100, d.draws, 1, "posterior draws of the row's noise"),
            "min_share": VarSpec("min_share", "continuous", 0.5, 1.0, d.min_share, 0.05, "share of draws to flip"),
            "threshold": VarSpec("threshold", "continuous", 0.05, 0.95, d.threshold, 0.05, "decision threshold"),
            "seed": VarSpec("seed", "continuous", 0, 10_000, d.seed, 1, "seed of the posterior draws")}
    for col in scm.columns:
        if col in IMMUTABLE or col == OUTCOME:
            continue
        spec[f"act_{col}"] = VarSpec(f"act_{col}", "categorical", 0, 1, float(col in d.actionable), 1,
                                     f"{col} may change" + (" (up only)" if col in ALWAYS_UP else ""))
        spec[f"cost_{col}"] = VarSpec(f"cost_{col}", "continuous", 0.1, 10.0, 1.0, 0.1, f"cost weight of {col}")
    return spec


def check_config(scm: TableSCM, config: RecourseConfig) -> None:
    """ValueError naming the fix for a column that may not change, an unknown column, or a setting out of range."""
    for col in (*config.actionable, *config.costs):  # up_only may name another world's columns: unused here
        if col not in scm.columns:
            raise ValueError(f"unknown column {col!r}; the {scm.name} world has {', '.join(scm.columns)}")
    refused = [c for c in config.actionable if c in IMMUTABLE or c == OUTCOME]
    if refused:
        raise ValueError(f"{', '.join(refused)} can never be part of a recourse ({', '.join(IMMUTABLE)} are who a "
                         f"person is; {OUTCOME} is the outcome); remove them from the actionable columns")
    if any(w <= 0 for w in config.costs.values()):
        raise ValueError("every cost weight must be positive; lock a column instead of making it free")
    if config.max_changes < 1 or config.draws < 1 or not 0 < config.min_share <= 1:
        raise ValueError("max_changes and draws must be at least 1, and min_share in (0, 1]")


@dataclass
class RecourseQuery:
    """Rows to find recourse for. obs: the world's columns, (n,) codes or floats; held: the model's other inputs
    (n,) each (Adult's capital gain and loss), kept at their values by every search."""

    obs: dict[str, np.ndarray]
    held: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.obs.values())))

    def row(self, i: int) -> tuple[dict[str, np.ndarray], dict[str, object]]:
        """Row i as (1,) arrays, and its held values as scalars."""
        return {c: np.asarray(v)[i:i + 1] for c, v in self.obs.items()}, {c: v[i] for c, v in self.held.items()}


@dataclass
class TablePredictor:
    """A table model seen from world values: (m,) codes or floats per column -> (m,) positive-class probability.

    `derived` maps model inputs that follow a world column (Adult's education_num of education), as
    `explorer.metrics.cf_fairness.derived_columns` gives them. No gradients: the shipped models are ONNX.
    """

    name: str
    predict: Callable[[pd.DataFrame], np.ndarray]
    scm: TableSCM
    derived: Mapping[str, tuple[str, dict]] = field(default_factory=dict)
    classes: tuple[str, ...] = ("negative", "positive")
    differentiable: bool = False

    def predict_proba(self, values: Mapping[str, np.ndarray], held: Mapping[str, object] | None = None) -> np.ndarray:
        return self.predict(world_frame(self.scm, values, held or {}, dict(self.derived)))


@dataclass
class Recourse:
    """One row's answer. `changes`: [{column, old, new, kind}] with kind "action" (do()) or "downstream" (followed
    the graph); `row`: the answer's row as names and numbers; `p_after`: the model on that row; `flip_share`: the
    share of posterior draws the flip holds in (the baseline: its own row, 0 or 1). The baseline also fills
    `causal_share` (the causal propagation of its own do()), `moved` (descendants that propagation changes) and
    `inconsistent` (the flip reverts below min_share, or a kept descendant is one the world would not produce)."""

    method: str
    found: bool
    cost: float
    do: dict[str, object]
    changes: list[dict[str, object]]
    p_before: float
    p_after: float
    flip_share: float
    row: dict[str, object]
    seconds: float
    evaluated: int
    note: str = ""
    causal_share: float | None = None
    moved: list[str] = field(default_factory=list)
    inconsistent: bool | None = None
