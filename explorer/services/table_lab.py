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
import torch

from explorer.counterfactual.census_debias import MAX_N, card_text, export_world, to_csv
from explorer.data.tables import ColumnSpec, read_adult, to_values
from explorer.interfaces import WhatIfResult
from explorer.model_thread import on_model_thread
from explorer.paths import PRETRAINED
from explorer.scm.census import CENSUS_COLUMNS, GRAPH_SOURCE, REBUILD, load_census_world
from explorer.scm.graph import Dag
from explorer.scm.table_posterior import PosteriorDraws
from explorer.scm.table_scm import TableSCM
from explorer.services.table_lab_sweep import ColumnSweep, TableSweeps

SOURCES = {"adult": "a real person (Adult test split)", "world": "a person of the census world"}
WORLD_ROWS = 10_000  # rows of the world's sample per seed offered on the page
SEED_MAX = 2 ** 31 - 1
POSTERIORS_KEPT = 256  # persons whose noise posterior is kept (~90 kB each)
RESULTS_KEPT = 1024  # what-ifs kept: a slider moved back, Back, another visitor on the same person (~5 kB each)
DRAWS = 200  # posterior draws behind the ceiling: the best guess's share is known to about +-3.5 %
SHOWN_DECIMALS = 1  # a continuous cell "changed" when it differs at the page's precision (one decimal)
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


def _scalar(value: np.ndarray) -> float | int:
    v = np.asarray(value).reshape(-1)[0]
    return int(v) if np.asarray(value).dtype.kind in "iu" else float(v)


class TableLabService:
    """Holds the census world, the Adult test rows, and the learned models when shipped."""

    def __init__(self, pretrained: Path | None = None):
        pretrained = PRETRAINED if pretrained is None else pretrained
        self.world: TableSCM
        self.world, _ = load_census_world(pretrained / "census_world")
        # per person, what no do() changes (see _person), model thread only; per what-if, its result (see what_if)
        self._persons: OrderedDict[tuple[str, int, int], tuple[PosteriorDraws, PosteriorDraws | None]] = OrderedDict()
        self._results: OrderedDict[tuple, TableResult] = OrderedDict()
        self._lock = threading.Lock()  # `_results` is read from the visitors' threads, filled from the model thread
        self.sweeps = TableSweeps()  # the quick sliders' answers ahead (explorer/services/table_lab_sweep.py)
        self._graphs: dict[object, Dag] = {}  # a learned model's graph (reading it builds a Dag: ~1 ms a call)
        table = read_adult()
        frame = table.rows("test", complete=True, columns=CENSUS_COLUMNS)
        self.adult = to_values(frame, self.world.columns)
        self.file_rows = frame.index.to_numpy() - int((table.split != "test").sum())  # test rows follow train's
        self.models, self.model_names = {}, {}
        for source, name in LEARNED_FOLDERS.items():
            self.models[source], self.model_names[source] = load_learned(pretrained / name)
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
        key = (source, int(seed) if source == "world" else 0, i, tuple(sorted(do_codes.items())), tuple(cut),
               tuple(new), self.models[source])  # the model itself too: a test may swap it
        with self._lock:  # a kept answer (most releases land on a position the sweep computed) without queuing
            if (kept := self._results.get(key)) is not None:
                self._results.move_to_end(key)
                return kept
        result = self._answer(source, seed, i, values, noise, do_codes, graph, cut, new)
        with self._lock:
            self._results[key] = result
            if len(self._results) > RESULTS_KEPT:
                self._results.popitem(last=False)  # the least recently asked
        return result

    def sweep(self, source: str, index: int, do: Mapping[str, object], cuts: Iterable[str | Arrow] = (),
              added: Iterable[str | Arrow] = (), seed: int = 0, names: Iterable[str] | None = None
              ) -> dict[str, ColumnSweep]:
        """{column: its sweep}: for each continuous column in `names` (None: all), `what_if` at every position of
        its slider, `do`'s other values held (arguments and errors as `what_if`). Kept: a sweep is computed once
        per (person, column, other do() values, edits, model).

        Not on the model thread as a whole: each position's `what_if` goes there on its own, so a sweep (74-99
        answers, ~0.5 s) never holds it, and other visitors' calls run in between.
        """
        i, do_codes, cut, new, seed = self._sweep_setup(source, index, do, cuts, added, seed)
        out = {}
        for name, spec in self.columns.items():
            if spec.discrete or (names is not None and name not in names):
                continue
            others = {k: v for k, v in do.items() if k != name}
            key = TableSweeps.key(source, seed, i, name, do_codes, cut, new, self.models[source])
            out[name] = self.sweeps.sweep(key, spec.to_varspec(), lambda v, n=name, held=others: self.what_if(
                source, i, held | {n: v}, cut, new, seed))
        return out

    def _sweep_setup(self, source: str, index: int, do: Mapping[str, object], cuts: Iterable[str | Arrow],
                     added: Iterable[str | Arrow], seed: int) -> tuple[int, dict, list[Arrow], list[Arrow], int]:
        """(row, the do() values as codes, the cut arrows, the added ones, the seed) of a sweep, checked as
        `what_if` checks them."""
        self._rows(source, seed)
        i = self._row_index(source, index)
        do_codes = {c: _scalar(v) for c, v in self.world.encode_do(do, 1).items()}
        _, cut, new = self.edited(cuts, added)
        return i, do_codes, cut, new, int(seed) if source == "world" else 0

    @on_model_thread  # the learned model may be a torch network, and the per-person caches are the model thread's
    def _answer(self, source: str, seed: int, i: int, values: dict[str, np.ndarray],
                noise: dict[str, np.ndarray] | None, do_codes: dict[str, float | int], graph: Dag, cut: list[Arrow],
                new: list[Arrow]) -> TableResult:
        """`what_if` computed: TRUE, the ceiling, the learned model's answer, and what changed."""
        obs = {c: v[i:i + 1] for c, v in values.items()}  # (1,) each
        world_graph = Dag(graph.nodes, graph.edges & self.world.graph.edges)  # the world reads no added arrow
        one = lambda d: {c: _scalar(v) for c, v in d.items()}  # noqa: E731
        posterior, truth = self._person(source, seed, i, obs, noise)
        true_cf = None if truth is None else one(truth.counterfactual(do_codes, world_graph))
        draws = posterior.tiled(posterior.counterfactual(do_codes, world_graph))  # (DRAWS, 1) each
        ceiling = one(self.world.best_guess(draws))
        agreement = {c: float(np.mean(d[:, 0] == ceiling[c])) for c, d in draws.items() if self.columns[c].discrete}
        learned, notes = self._learned(source, obs, do_codes, cut, new)
        model = self.model_names[source] if learned is not None else "the census world (ceiling)"
        if self.models[source] is None:
            notes.append(f"The learned model's answer is not shown: {self.model_names[source]}. The answer shown "
                         "is the census world's own, with this person's noise abducted from the record.")
        if new:
            notes.append(f"The census world has no mechanism reading {', '.join(f'{p} → {c}' for p, c in new)}: "
                         "its answers ignore the added arrow(s).")
        cf = learned if learned is not None else ceiling
        factual = one(obs)
        return TableResult(
            obs=factual, cf=cf, true_cf=true_cf, intervened=sorted(do_codes),
            downstream=sorted(world_graph.descendants(list(do_codes)) - set(do_codes)), clamped=[],
            source=source, index=i, seed=int(seed) if source == "world" else 0,
            file_row=int(self.file_rows[i]) if source == "adult" else None, ceiling=ceiling, agreement=agreement,
            learned=learned, model=model, changed=self.changed(factual, cf),
            changed_true=self.changed(factual, true_cf) if true_cf is not None else [],
            changed_ceiling=self.changed(factual, ceiling), cut=cut, added=new, notes=notes)

    def _person(self, source: str, seed: int, i: int, obs: dict[str, np.ndarray], noise: dict[str, np.ndarray] | None
                ) -> tuple[PosteriorDraws, PosteriorDraws | None]:
        """What no do() changes, made once per person and kept (bounded): the noise's posterior (DRAWS draws,
        `TableSCM.posterior`) and, for a world row, its own noise, each with the residuals and the factual run
        precomputed (`PosteriorDraws`). A do() then runs only the mechanisms downstream of it, vectorised over
        the draws: the same values as `TableSCM.counterfactual_draws` on that posterior, bit for bit
        (explorer/scm/table_posterior.py). The scipy path ran every column's mechanism twice per move (TRUE, then
        the draws), building a sparse design matrix each time: in-process, a what-if took 27 ms that way and
        11 ms this way, 7 ms of it the learned model (40 moves of do(age), load average ~9)."""
        key = (source, int(seed) if source == "world" else 0, i)
        if key not in self._persons:
            if len(self._persons) >= POSTERIORS_KEPT:
                self._persons.popitem(last=False)  # the oldest
            every = set(self.columns)  # any column may be set with do()
            posterior = PosteriorDraws(self.world, obs, DRAWS, 0, every, noise=self.world.posterior(obs, DRAWS, seed=0))
            truth = None if noise is None else PosteriorDraws(self.world, obs, 1, 0, every,
                                                             noise={c: v[i:i + 1] for c, v in noise.items()})
            self._persons[key] = posterior, truth
        return self._persons[key]

    def _learned(self, source: str, obs: dict[str, np.ndarray], do: dict[str, float | int], cut: list[Arrow],
                 added: list[Arrow]) -> tuple[dict[str, float | int] | None, list[str]]:
        """The learned model's counterfactual in its own graph with the visitor's edits, or (None, notes)."""
        model = self.models[source]
        if model is None:
            return None, []
        notes = []
        try:
            if model not in self._graphs:  # keyed by the model itself: a swapped model (a test's) reads its own
                self._graphs[model] = model.graph
            own = self._graphs[model]
            try:
                graph = Dag(own.nodes, (own.edges - set(cut)) | set(added))
            except ValueError as err:  # the added arrows close a cycle in the learned graph (not in the published)
                graph = Dag(own.nodes, own.edges - set(cut))
                notes.append(f"The added arrows were left out of the learned model's graph: {err}.")
            with torch.inference_mode():  # reading only: no model method turns autograd off itself
                out = model.counterfactual_rows(obs, do, graph)
            return {c: _scalar(out[c]) for c in self.columns}, notes
        except Exception as err:  # noqa: BLE001 - the world's answer is still shown; the note says what failed
            return None, notes + [f"The learned model could not answer ({type(err).__name__}: {err}); the census "
                                  "world's answer is shown instead."]

    def changed(self, obs: Mapping[str, float | int], cf: Mapping[str, float | int]) -> list[str]:
        """Columns whose value differs: another category, or a number that differs as the page shows it (a
        change of 0.001 hours is no change a visitor could see, and highlighting it would look like a bug)."""
        return [c for c, s in self.columns.items()
                if (obs[c] != cf[c] if s.discrete else
                    round(float(obs[c]), SHOWN_DECIMALS) != round(float(cf[c]), SHOWN_DECIMALS))]

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

