"""The Table lab service: one what-if on one person of the Adult table or of the census world, and the export.

A person is a row of the real Adult test split (its complete rows: the world needs every column) or a row of
the census world's sample for a seed. The answers, in the world's encoding (category codes, floats):
  - TRUE (world rows only): the world's mechanisms run again on the row's own sampled noise;
  - the ceiling: the world's mechanisms with the noise's posterior abducted from the observed row, reduced to
    one row (`TableSCM.best_guess`); on real rows this is the world's answer, there being no truth;
  - the learned model's (pretrained/census-vae-world or -adult), when one is shipped.
`cf` is the learned model's answer when there is one, else the ceiling, so a page always has an answer.

Edits to the graph are arrows cut from the published graph and arrows added to it. The world follows the cut
convention of explorer/scm/table_scm.py (a cut child reads its parent's factual value) and ignores added
arrows (no mechanism of the world reads them); the learned model gets its own graph with the same edits.

Loaded once per server process and shared read-only between sessions; every call is pure in its arguments,
so a what-if's result is kept per (person, do(), edits) and handed out again: results are shared, never mutated.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from explorer.counterfactual.census_debias import MAX_N, card_text, export_world, to_csv
from explorer.data.tables import ColumnSpec, read_adult, to_values
from explorer.interfaces import WhatIfResult
from explorer.model_thread import AHEAD, on_model_thread
from explorer.paths import PRETRAINED
from explorer.scm.census import CENSUS_COLUMNS, GRAPH_SOURCE, REBUILD, load_census_world
from explorer.scm.graph import Dag
from explorer.scm.table_scm import TableSCM
from explorer.services.table_lab_answers import DRAWS, TableAnswers, changed  # noqa: F401 - DRAWS: the page's
from explorer.services.table_lab_answers import scalar as _scalar
from explorer.services.table_lab_sweep import ColumnSweep, TableSweeps

SOURCES = {"adult": "a real person (Adult test split)", "world": "a person of the census world"}
WORLD_ROWS = 10_000  # rows of the world's sample per seed offered on the page
SEED_MAX = 2 ** 31 - 1
RESULTS_KEPT = 1024  # what-ifs kept: a slider moved back, Back, another visitor on the same person (~5 kB each)
LEARNED_FOLDERS = {"world": "census-vae-world", "adult": "census-vae-adult"}
TRAIN_LEARNED = "python -m explorer train census"
REBUILD_WORLD = REBUILD
DEFAULT_CUT = ("sex", "occupation")
EXPORT_MAX = min(MAX_N, 100_000)  # on the page: about 2 s of the server's time; the CLI takes up to MAX_N
Arrow = tuple[str, str]


@dataclass
class TableResult(WhatIfResult):
    """One what-if on one person: values {column: code or float}; `true_cf` None on real rows.

    `cf` is the learned model's counterfactual when one is loaded, else the world's ceiling (`model` says which).
    """

    source: str = "world"
    index: int = 0
    seed: int = 0
    file_row: int | None = None  # real rows: the row's number in adult.test (0 = its first data line)
    ceiling: dict[str, float | int] = field(default_factory=dict)
    agreement: dict[str, float] = field(default_factory=dict)  # categorical: share of posterior draws giving it
    learned: dict[str, float | int] | None = None
    model: str = ""
    changed: list[str] = field(default_factory=list)  # columns where `cf` differs from `obs`
    changed_true: list[str] = field(default_factory=list)  # where `true_cf` differs from `obs`
    changed_ceiling: list[str] = field(default_factory=list)  # where `ceiling` differs from `obs`
    cut: list[Arrow] = field(default_factory=list)
    added: list[Arrow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TablePage:
    """What the page shows besides a what-if, fetched once per page run.

    Attributes:
        columns: the world's columns, in causal display order.
        rows: how many persons each source offers ({"adult": 15060, "world": WORLD_ROWS}).
        published: the published graph and `source`, where it comes from.
        learned: per source, the learned model's graph (None when no model is shipped for it).
        models: per source, the learned model's name, or why there is none.
        default_cuts: the arrows the export offers to cut first.
    """

    columns: dict[str, ColumnSpec]
    rows: dict[str, int]
    published: Dag
    source: str
    learned: dict[str, Dag | None]
    models: dict[str, str]
    default_cuts: list[Arrow]


@dataclass
class TableExport:
    """A de-biased table from the world's TRUE mechanisms (explorer/counterfactual/census_debias.py)."""

    card: dict
    csv: bytes  # the same (cuts, n, seed) give the same bytes
    card_json: bytes


def load_learned(folder: Path) -> tuple[object | None, str]:
    """(model, its name) or (None, why not). Any failure becomes a sentence: the page then shows the world's
    answer, whatever state the learned model's files or code are in (it is built separately)."""
    if not folder.is_dir():
        return None, f"no learned model is shipped yet ({folder.name}); train it with: {TRAIN_LEARNED}"
    try:
        from explorer.models.table_vae import load_table_vae  # only when a folder exists: the module may not

        model = load_table_vae(folder)
        if not isinstance(model.graph, Dag):  # read once here: a model whose graph fails is not offered
            raise TypeError(f"its graph is a {type(model.graph).__name__}, not a Dag")
        return model, str(getattr(model, "name", folder.name))
    except Exception as err:  # noqa: BLE001 - ImportError, CheckpointError, anything: the world still answers
        return None, f"the learned model in {folder.name} could not be loaded ({type(err).__name__}: {err})"


class TableLabService:
    """Holds the census world, the Adult test rows, and the learned models when shipped."""

    def __init__(self, pretrained: Path | None = None):
        pretrained = PRETRAINED if pretrained is None else pretrained
        self.world: TableSCM
        self.world, _ = load_census_world(pretrained / "census_world")
        # per what-if, its result (see what_if); per person, what no do() changes: self._answers
        self._results: OrderedDict[tuple, TableResult] = OrderedDict()
        self._lock = threading.Lock()  # `_results` is read from the visitors' threads, filled from the model thread
        self.sweeps = TableSweeps()  # the quick sliders' answers ahead (explorer/services/table_lab_sweep.py)
        table = read_adult()
        frame = table.rows("test", complete=True, columns=CENSUS_COLUMNS)
        self.adult = to_values(frame, self.world.columns)
        self.file_rows = frame.index.to_numpy() - int((table.split != "test").sum())  # test rows follow train's
        self.models, self.model_names = {}, {}
        for source, name in LEARNED_FOLDERS.items():
            self.models[source], self.model_names[source] = load_learned(pretrained / name)
        self._answers = TableAnswers(self.world, self.models, self.model_names)  # model thread only
        self._sample = functools.lru_cache(maxsize=4)(lambda seed: self.world.sample(WORLD_ROWS, seed))
        self._page: TablePage | None = None

    @property
    def columns(self) -> dict[str, ColumnSpec]:
        return self.world.columns

    def page(self) -> TablePage:
        if self._page is None:
            learned = {s: (m.graph if m is not None else None) for s, m in self.models.items()}
            self._page = TablePage(self.columns, {"adult": len(self.file_rows), "world": WORLD_ROWS},
                                   self.world.graph, GRAPH_SOURCE, learned, dict(self.model_names), [DEFAULT_CUT])
        return self._page

    # --- persons ------------------------------------------------------------------------------------------
    def _rows(self, source: str, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
        """(values, noise or None) of every person of `source`."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        if source == "adult":
            return self.adult, None
        if not (isinstance(seed, (int, np.integer)) and 0 <= seed <= SEED_MAX):
            raise ValueError(f"the world's seed must be a whole number from 0 to {SEED_MAX:,}; got {seed!r}")
        noise, values = self._sample(int(seed))
        return values, noise

    def _row_index(self, source: str, index: int) -> int:
        n = len(self.file_rows) if source == "adult" else WORLD_ROWS
        if not (isinstance(index, (int, np.integer)) and 0 <= index < n):
            raise ValueError(f"row {index!r} does not exist: {SOURCES[source]} is a row number from 0 to {n - 1:,}")
        return int(index)

    def factual(self, source: str, index: int, seed: int = 0) -> dict[str, float | int]:
        """The person's record, {column: code or float}."""
        values, _ = self._rows(source, seed)
        i = self._row_index(source, index)
        return {c: _scalar(v[i:i + 1]) for c, v in values.items()}

    def matching(self, source: str, column: str, level: str, seed: int = 0) -> np.ndarray:
        """Row numbers of the persons whose categorical `column` is `level` (the page's filter)."""
        values, _ = self._rows(source, seed)
        if column not in self.columns or not self.columns[column].discrete:
            raise ValueError(f"filter on a categorical column: {', '.join(c for c, s in self.columns.items() if s.discrete)}")
        code = int(self.columns[column].encode(level)[0])
        return np.flatnonzero(values[column] == code)

    # --- the graph ----------------------------------------------------------------------------------------
    def edited(self, cuts: Iterable[str | Arrow] = (), added: Iterable[str | Arrow] = ()
               ) -> tuple[Dag, list[Arrow], list[Arrow]]:
        """(the published graph with `cuts` removed and `added` arrows added, the cut arrows, the added ones).

        Raises:
            ValueError: a cut that names no arrow of the published graph (the message lists the arrows out of
                its parent), an added arrow between unknown columns or already there, or a graph with a cycle
                (`CycleError`, a ValueError).
        """
        without = self.world.cut(cuts)  # parses and checks every cut
        cut = sorted(self.world.graph.edges - without.edges)
        new = []
        for arrow in added:
            pair = tuple(p.strip() for p in arrow.split(":")) if isinstance(arrow, str) else tuple(arrow)
            if len(pair) != 2 or not all(p in self.columns for p in pair) or pair[0] == pair[1]:
                raise ValueError(f"{arrow!r} is not an arrow PARENT:CHILD between two of {', '.join(self.columns)}")
            if pair in self.world.graph.edges:
                raise ValueError(f"{pair[0]} -> {pair[1]} is already an arrow of the published graph")
            new.append(pair)
        return Dag(without.nodes, without.edges | set(new)), cut, sorted(set(new))  # Dag refuses a cycle

    # --- the what-if --------------------------------------------------------------------------------------
    def what_if(self, source: str, index: int, do: Mapping[str, object], cuts: Iterable[str | Arrow] = (),
                added: Iterable[str | Arrow] = (), seed: int = 0) -> TableResult:
        """The person's factual record and its counterfactuals under `do` in the edited graph.

        Checked and looked up among the kept answers on the caller's thread; only a new answer is computed on the
        model thread (explorer/model_thread.py), so a visitor whose answer is kept does not queue behind others.

        Args:
            source: "adult" (a complete row of the Adult test split) or "world" (a row of the world's sample).
            index: the row number within the source.
            do: {column: category name or code, or number}; continuous values must lie in the column's range.
            cuts: arrows of the published graph to cut ("parent:child" or pairs).
            added: arrows to add (ignored by the world; the learned model may read them).
            seed: the world sample's seed (world rows only).

        Raises:
            ValueError: an unknown source, row, seed, column or category, a value out of range, a cut that
                names no arrow, or a cycle (each message says what to give instead).
        """
        values, noise = self._rows(source, seed)
        i = self._row_index(source, index)
        do_codes = {c: _scalar(v) for c, v in self.world.encode_do(do, 1).items()}  # checks names, levels, ranges
        graph, cut, new = self.edited(cuts, added)
        key = self._key(source, seed, i, do_codes, cut, new)
        with self._lock:  # a kept answer (most releases land on a position the sweep computed) without queuing
            if (kept := self._results.get(key)) is not None:
                self._results.move_to_end(key)
                return kept
        result = self._answer(source, seed, i, values, noise, do_codes, graph, cut, new)[0]
        self._keep(key, result)
        return result

    def _key(self, source: str, seed: int, i: int, do_codes: Mapping[str, float | int], cut: list[Arrow],
             new: list[Arrow]) -> tuple:
        """A what-if's key among the kept results: the model itself too (a test may swap it)."""
        return (source, int(seed) if source == "world" else 0, i, tuple(sorted(do_codes.items())), tuple(cut),
                tuple(new), self.models[source])

    def _keep(self, key: tuple, result: TableResult) -> None:
        with self._lock:
            self._results[key] = result
            self._results.move_to_end(key)
            if len(self._results) > RESULTS_KEPT:
                self._results.popitem(last=False)  # the least recently asked

    def sweep(self, source: str, index: int, do: Mapping[str, object], cuts: Iterable[str | Arrow] = (),
              added: Iterable[str | Arrow] = (), seed: int = 0, names: Iterable[str] | None = None
              ) -> dict[str, ColumnSweep]:
        """{column: its sweep}: for each continuous column in `names` (None: all), `what_if` at every position of
        its slider, `do`'s other values held (arguments and errors as `what_if`). Kept: a sweep is computed once
        per (person, column, other do() values, edits, model).

        One model-thread call per sweep, all positions in one pass (explorer/services/table_lab_answers.py: 83-127
        ms where one what-if per position took 1.1-2.4 s in the same run); every position's answer is also kept as
        `what_if`'s, so releasing the slider on a position finds it.
        """
        values, noise = self._rows(source, seed)  # checked as what_if checks them
        i = self._row_index(source, index)
        do_codes = {c: _scalar(v) for c, v in self.world.encode_do(do, 1).items()}
        graph, cut, new = self.edited(cuts, added)
        seed = int(seed) if source == "world" else 0
        out = {}
        for name, spec in self.columns.items():
            if spec.discrete or (names is not None and name not in names):
                continue
            key = TableSweeps.key(source, seed, i, name, do_codes, cut, new, self.models[source])

            def answers(grid: np.ndarray, name: str = name) -> tuple[TableResult, ...]:
                codes = self.world.encode_do({name: grid}, len(grid))[name]  # (P,) as what_if encodes one value
                results = self._answer_ahead(source, seed, i, values, noise, do_codes, graph, cut, new,
                                             (name, codes))
                for code, result in zip(codes, results):
                    self._keep(self._key(source, seed, i, do_codes | {name: _scalar(code)}, cut, new), result)
                return tuple(results)

            out[name] = self.sweeps.sweep(key, spec.to_varspec(), answers)
        return out

    @on_model_thread(priority=AHEAD)  # a sweep is work done ahead: the what-ifs visitors wait for go first
    def _answer_ahead(self, *args) -> list[TableResult]:
        return self._answer(*args)  # on the model thread already: runs in place

    @on_model_thread  # the learned model may be a torch network, and the per-person caches are the model thread's
    def _answer(self, source: str, seed: int, i: int, values: dict[str, np.ndarray],
                noise: dict[str, np.ndarray] | None, do_codes: dict[str, float | int], graph: Dag, cut: list[Arrow],
                new: list[Arrow], sweep: tuple[str, np.ndarray] | None = None) -> list[TableResult]:
        """`what_if` computed (one result), or a sweep's (one per value of `sweep` = (column, (P,) codes)): TRUE,
        the ceiling, the learned model's answer, and what changed (explorer/services/table_lab_answers.py)."""
        seed = int(seed) if source == "world" else 0
        where = dict(source=source, index=i, seed=seed, file_row=int(self.file_rows[i]) if source == "adult" else None,
                     clamped=[], cut=cut, added=new)
        return [TableResult(**parts, **where) for parts in self._answers.answers(
            source, seed, i, values, noise, do_codes, graph, cut, new, sweep)]

    def changed(self, obs: Mapping[str, float | int], cf: Mapping[str, float | int]) -> list[str]:
        """Columns whose value differs: another category, or a number that differs as the page shows it."""
        return changed(self.columns, obs, cf)

    # --- the de-biased export -----------------------------------------------------------------------------
    def export(self, cuts: Iterable[str | Arrow], n: int, seed: int,
               progress: Callable[[float], None] | None = None) -> TableExport:
        """The census world's de-biased table (explorer/counterfactual/census_debias.py) as CSV and card bytes.

        Raises:
            ValueError: no cut, a cut that names no arrow, or a size outside 1..MAX_N.
        """
        cuts = list(cuts)
        if not cuts:
            raise ValueError("choose at least one arrow to cut: without a cut the export copies the bias")
        frame, card = export_world(cuts, n, seed, self.world, progress)
        return TableExport(card, to_csv(frame).encode(), card_text(card).encode())

