"""The census world: a structural causal model fitted to the Adult table, whose noise is known.

The graph is the one Nabi & Shpitser ("Fair inference on outcomes", AAAI 2018) and Chiappa ("Path-specific
counterfactual fairness", AAAI 2019, Fig. 5a and its "UCI Adult" section) use for Adult, as we read it:
the sensitive attribute A (sex) and the baseline C (age, native country; we add race, as the issue asks)
cause marital status M; A, C, M cause education L; A, C, M, L cause the work block R (work class,
occupation, hours per week); and everything causes income Y. Chiappa's R is one multivariate node: we
order its members work class -> occupation -> hours per week (the employer's sector shapes the job, the
job its hours). Relationship (a household role: husband, wife, own child...) is not in that graph; we
give it the parents that define it, sex, age and marital status, and let it act on income.

    column           parents
    sex, age, race, native_country     (roots)
    marital_status   sex, age, race, native_country
    education        sex, age, race, native_country, marital_status
    relationship     sex, age, marital_status
    workclass        sex, age, race, native_country, marital_status, education
    occupation       ... the same + workclass
    hours_per_week   ... the same + workclass, occupation
    income           every other column

Mechanisms (`explorer.scm.table_mechanisms`): additive noise for age and hours per week, Gumbel-max for
the rest, fitted on the complete TRAINING rows of Adult (`explorer.data.tables`), each one's L2 penalty
chosen on the validation rows. The fitted world is saved as `weights.safetensors` + `card.json` (no pickle).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from explorer.checkpoints import CheckpointError, load, save
from explorer.data.tables import ColumnSpec, Table, to_values
from explorer.paths import PRETRAINED
from explorer.scm.graph import Dag
from explorer.scm.table_mechanisms import encoding_for, fit_mechanism, mechanism_from_card, mechanism_to_card
from explorer.scm.table_scm import TableSCM

SENSITIVE = ("sex",)
BASELINE = ("age", "race", "native_country")
WORK = ("workclass", "occupation", "hours_per_week")
_AC = SENSITIVE + BASELINE
CENSUS_PARENTS: dict[str, tuple[str, ...]] = {
    "sex": (), "age": (), "race": (), "native_country": (),
    "marital_status": _AC,
    "education": _AC + ("marital_status",),
    "relationship": ("sex", "age", "marital_status"),
    "workclass": _AC + ("marital_status", "education"),
    "occupation": _AC + ("marital_status", "education", "workclass"),
    "hours_per_week": _AC + ("marital_status", "education", "workclass", "occupation"),
    "income": _AC + ("marital_status", "education", "relationship") + WORK,
}
CENSUS_COLUMNS = tuple(CENSUS_PARENTS)
CENSUS_GRAPH = Dag(CENSUS_COLUMNS, frozenset((p, c) for c, ps in CENSUS_PARENTS.items() for p in ps))
GRAPH_SOURCE = ("Nabi & Shpitser, Fair inference on outcomes (AAAI 2018); Chiappa, Path-specific counterfactual "
                "fairness (AAAI 2019), Fig. 5a: A = sex; C = age, native country (+ race, added); M = marital "
                "status; L = education; R = workclass -> occupation -> hours per week (order ours); Y = income; "
                "relationship (ours) <- sex, age, marital status, -> income")
# Background knowledge for LEARNING the graph (`train census --graph tiers`): the published graph's causal order,
# earliest first. An arrow from a later tier to an earlier one is known absent; which arrows exist is still learned.
# Relationship (ours; not in the published graph) gets a tier of its own right after M: a household role (husband,
# wife, unmarried...) is defined by sex, age and marital status, its parents here, which all lie in A, C and M.
CENSUS_TIERS: tuple[tuple[str, ...], ...] = (
    _AC, ("marital_status",), ("relationship",), ("education",)) + tuple((c,) for c in WORK) + (("income",),)
TIERS_SOURCE = ("the causal order of Nabi & Shpitser (2018) and Chiappa (2019), Fig. 5a: A, C (roots) -> M -> L "
                "-> R -> Y, R ordered workclass -> occupation -> hours per week (ours); relationship (ours) in a "
                "tier of its own right after M, since its parents lie in A, C and M")
FOLDER = PRETRAINED / "census_world"
REBUILD = "python -m explorer train census-world"


@dataclass
class CensusWorldConfig:
    """How the census world is fitted (recorded in its card, so the card rebuilds it).

    Attributes:
        l2_grid: L2 penalties tried for every mechanism; each keeps the best on the validation rows.
        gaussian: Normal residual noise for the continuous children instead of their empirical residuals.
        seed: seed of the world samples the fidelity is measured on.
        out: the folder the world is written to.
        command: the command line that made it (for the card).
    """

    l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    gaussian: bool = False
    seed: int = 0
    out: Path = FOLDER
    command: str = REBUILD


def census_rows(table: Table, split: str) -> dict[str, np.ndarray]:
    """The complete rows of `split` as the world's columns: codes or floats, (n,) each."""
    return to_values(table.rows(split, complete=True, columns=CENSUS_COLUMNS), census_columns(table))


def census_columns(table: Table) -> dict[str, ColumnSpec]:
    return {c: table.specs[c] for c in CENSUS_COLUMNS}


def fit_census_world(table: Table, config: CensusWorldConfig) -> tuple[TableSCM, dict[str, dict]]:
    """The census world fitted on `table`'s complete training rows; returns (world, per-column fit report).

    Rows with a missing value are left out (45,222 of Adult's 48,842 are complete): a mechanism needs its
    parents, and "?" is missing data, not a category of the world.
    """
    columns = census_columns(table)
    train, val = census_rows(table, "train"), census_rows(table, "val")
    mechanisms, report = {}, {}
    for node in CENSUS_COLUMNS:
        parents = [encoding_for(columns[p], train[p]) for p in CENSUS_PARENTS[node]]
        mechanisms[node], score = fit_mechanism(columns[node], parents, train, val, config.l2_grid, config.gaussian)
        metric = "val_log_likelihood" if columns[node].discrete else "val_mse"
        report[node] = {"l2": mechanisms[node].l2, metric: score}
    return TableSCM(columns, CENSUS_GRAPH, mechanisms, name="census"), report


def save_census_world(world: TableSCM, folder: Path, card: dict) -> None:
    """weights.safetensors (the mechanisms' arrays) + card.json (columns, graph, mechanisms, `card`) + README."""
    metas, arrays = {}, {}
    for node, mech in world.mechanisms.items():
        metas[node], more = mechanism_to_card(node, mech)
        arrays |= more
    # JSON cards are written with sorted keys: the column order (which fixes each column's noise stream) is a list
    world_card = {"columns": [asdict(s) for s in world.columns.values()],
                  "edges": sorted(map(list, world.graph.edges)), "graph_source": GRAPH_SOURCE, "mechanisms": metas}
    save(folder, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()},
         {**card, "world": world_card})


def load_census_world(folder: Path = FOLDER) -> tuple[TableSCM, dict]:
    """(world, card) from `folder`; a missing or mismatched file is a CheckpointError naming the rebuild."""
    state, card = load(folder, REBUILD)
    try:
        spec = card["world"]
        columns = {s["name"]: ColumnSpec(**{**s, "categories": tuple(s["categories"])}) for s in spec["columns"]}
        arrays = {k: v.numpy() for k, v in state.items()}
        mechanisms = {node: mechanism_from_card(node, meta, arrays) for node, meta in spec["mechanisms"].items()}
        graph = Dag(tuple(columns), frozenset(tuple(e) for e in spec["edges"]))
        return TableSCM(columns, graph, mechanisms, name="census"), card
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"The census world in {folder} does not match the code ({err}). "
                              f"Rebuild it with: {REBUILD}") from err
