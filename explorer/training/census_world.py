"""`python -m explorer train census-world`: fit the census world to Adult, measure its fidelity, write its card.

Fitted on the complete training rows (`adult.data` less the seeded validation rows), each mechanism's L2
chosen on the validation rows; its fidelity is measured against the real TEST rows, which the fit never saw:
a world sample as large as the test split for marginals and dependence, one as large as the training split to
train the classifier on. 20-45 s on one CPU core (the products are sparse and single-threaded).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.data.tables import read_adult
from explorer.metrics.tables import table_fidelity, worst_pairs
from explorer.paths import ROOT
from explorer.scm.census import CensusWorldConfig, census_columns, census_rows, fit_census_world, save_census_world


def train_census_world(config: CensusWorldConfig, progress: Callable[[str], None] = print) -> dict:
    """Fits, measures and saves the census world; returns its card."""
    start = time.perf_counter()
    table = read_adult()
    world, report = fit_census_world(table, config)
    seconds = time.perf_counter() - start
    progress(f"fitted {len(world.columns)} mechanisms in {seconds:.1f} s")
    real = {split: census_rows(table, split) for split in ("train", "val", "test")}
    sizes = {split: len(rows["income"]) for split, rows in real.items()}
    _, world_train = world.sample(sizes["train"], config.seed)
    _, world_test = world.sample(sizes["test"], config.seed + 1)
    fidelity = table_fidelity(real["train"], real["test"], world_train, world_test, census_columns(table), "income")
    for a, b, v_real, v_world in worst_pairs(fidelity["dependence"]):
        progress(f"dependence {a} x {b}: real {v_real:.3f}, world {v_world:.3f}")
    card = {
        "kind": "census-world",
        "description": "The census world: an SCM fitted to the Adult table, with known exogenous noise "
                       "(additive for age and hours per week, Gumbel-max for the categorical columns). Its "
                       "samples keep their noise, so every counterfactual of them is known exactly.",
        "data": f"{table.source}; complete rows only; train {sizes['train']}, val {sizes['val']}, "
                f"test {sizes['test']} (fidelity against test)",
        "seed": config.seed,
        "command": config.command,
        "config": {k: (_shown(v) if k == "out" else v) for k, v in asdict(config).items()},
        "fit": report,
        "fit_seconds": round(seconds, 1),
        "rows": sizes,
        "metrics": headline(fidelity["metrics"]),
        "fidelity": fidelity["metrics"],
        "dependence": fidelity["dependence"],
    }
    save_census_world(world, config.out, card)
    progress(f"wrote {config.out} in {time.perf_counter() - start:.1f} s")
    return card


def headline(fidelity: dict[str, float]) -> dict[str, float]:
    """The few numbers a model list shows (the card's "metrics"); every column's are under "fidelity"."""
    tv = {k: v for k, v in fidelity.items() if k.startswith("tv.")}
    keys = ("dependence.max_abs_diff", "dependence.mean_abs_diff", "classifier.real_to_real.accuracy",
            "classifier.world_to_real.accuracy", "classifier.real_to_world.accuracy")
    worst = {"tv.median": float(np.median(list(tv.values()))), "tv.max": max(tv.values())}
    return worst | {k: fidelity[k] for k in keys}


def _shown(folder: Path) -> str:
    """A folder as the card shows it: relative to the repository when inside it, so cards match across clones."""
    folder = Path(folder).resolve()
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)
