"""The Table lab's do() controls: a box per column, Streamlit widgets for the categories, quick sliders for the
continuous columns (age, hours per week).

The quick sliders (explorer/ui/quick_sliders.py, as on the Image page and the Causal graph lab) redraw, while one
moves, the counterfactual row's values in the browser from the service's sweep of that slider
(`TableLabService.sweep`: `what_if` at each of its positions); only the released value reaches Python. They have
no picture: their readings are the columns that can follow from a continuous one, as the page's answer (the
learned model's, else the world's best guess) next to the TRUE one on a world row. The sweep also carries the
answer panel's records table at each position (explorer/ui/table_lab_answer.py): the page's whole answer, so a move
at a position reruns only the link's fragment.

Session keys: `do_<column>` (the boxes), `value_<column>` (a categorical column's widget; for a continuous column
the quick sliders' value, component `tl_quick_sliders`), `tl_reset_do`. A sweep costs 0.1-0.2 s of server CPU (74 or 99
what-ifs in one pass), so one is computed only for a slider the visitor moves or reaches for, or whose box is ticked
(`quick_sliders.reached`), after the answer is drawn; it is forgotten when anything else changes.
"""

from __future__ import annotations

import streamlit as st

from explorer.data.tables import ColumnSpec
from explorer.scm.graph import Dag
from explorer.services.table_lab import TablePage, TableResult
from explorer.services.table_lab_sweep import ColumnSweep
from explorer.types import VarSpec
from explorer.ui import quick_sliders as qs
from explorer.ui import table_lab_answer
from explorer.ui.common.controls import DoWords
from explorer.ui.common.kept import Kept
from explorer.ui.table_lab import PAGE, Person, shown
from explorer.ui.table_lab_answer import value_text

# A move of a ticked do() widget reruns only the answer (`ANSWER`: the records and the quick sliders); the widgets
# themselves are not re-sent, the browser already shows their new state. Ticking, unticking or resetting also
# redraws the controls (`CONTROLS`). A quick slider's move the answer panel showed whole reruns the link alone
# (`LINK`, inside `ANSWER`). Each callback names the fragments to rerun (st.rerun with fragment keys, from a
# callback only).
CONTROLS, ANSWER, LINK = "tl_controls", "tl_answer", "tl_link"
QUICK = "tl_quick_sliders"  # the quick sliders' component key
SYNCED = f"_{PAGE}_synced"  # the name explorer.ui.common.controls.forget clears: Back re-syncs the widgets
WORDS = DoWords(item="person", tick_help="Ticked: {name} is set to the slider's value, whatever its causes say.",
                label="{name} (this {item}: {value})", slider_help="Moving the slider ticks do({name}).",
                reset=False, as_asked=False)


def _tick(name: str) -> None:
    qs.forget_reached(QUICK)  # the sliders' sweeps hold the other do() values: the next is made when asked for
    if st.session_state.get(f"do_{name}"):
        st.rerun(ANSWER)  # the box is ticked already: only the answer changes
    st.session_state[f"do_{name}"] = True  # moving a widget means "set this": tick its box for the visitor
    st.rerun([CONTROLS, ANSWER])


def _untick(name: str, value: str | float) -> None:
    qs.forget_reached(QUICK)
    if st.session_state.get(f"do_{name}"):
        st.rerun(ANSWER)  # ticked: the widget already shows the value set
    st.session_state[f"value_{name}"] = value  # an unticked widget shows the person's own value
    st.rerun([CONTROLS, ANSWER])


def _reset(factual: dict[str, str | float]) -> None:
    qs.forget_reached(QUICK)
    for name, value in factual.items():
        st.session_state[f"do_{name}"], st.session_state[f"value_{name}"] = False, value
    st.rerun([CONTROLS, ANSWER])


def _slid(name: str, was_ticked: bool) -> None:
    """After a quick slider's move: a move that ticked its box redraws the box too; one the browser already shows
    whole (the answer panel swapped the sweep's records at exactly that value) only writes the link (`LINK`); else
    the answer (the component's own fragment) reruns."""
    if not was_ticked:
        st.rerun([CONTROLS, ANSWER])
    if qs.swept_whole(QUICK):
        st.rerun(LINK)


def echo() -> None:
    """For a rerun of the link alone: the quick sliders learn that their last move was applied."""
    qs.echo(QUICK)


def current_do(view: TablePage) -> dict[str, str | float]:
    """do() for the ticked boxes, categories by name, as the widgets hold them (`controls` sets them first)."""
    return {name: st.session_state[f"value_{name}"] for name in view.columns
            if st.session_state.get(f"do_{name}") and f"value_{name}" in st.session_state}


def _own(spec: ColumnSpec, value: float | int) -> str | float:
    # a world row may lie just outside a continuous column's range: its slider sits at the end
    return shown(spec, value) if spec.discrete else float(min(max(round(value, 1), spec.low), spec.high))


def controls(view: TablePage, factual: dict[str, float | int], person: Person) -> None:
    """Per column a do() box, and for a categorical column a select box, an ordinal one a slider over the levels;
    a continuous column's slider is a quick slider (`quick_controls`, beside the answer). `current_do` reads
    what they set."""
    own = {name: _own(spec, factual[name]) for name, spec in view.columns.items()}
    if st.session_state.get(SYNCED) != person:  # another person: the unticked widgets move to their values
        for name in view.columns:
            if not st.session_state.get(f"do_{name}") or f"value_{name}" not in st.session_state:
                st.session_state[f"value_{name}"] = own[name]
        st.session_state[SYNCED] = person
        qs.forget_reached(QUICK)  # a sweep is of one person
    for name, spec in view.columns.items():
        label = f"{name} (this person: {value_text(spec, factual[name])})"
        st.checkbox(f"**do({name})**", key=f"do_{name}", on_change=_untick, args=(name, own[name]),
                    help=f"Ticked: {name} is set to the value {'below' if spec.discrete else 'of its slider'}, "
                         "whatever its causes say.")
        common = {"key": f"value_{name}", "on_change": _tick, "args": (name,)}
        if spec.kind == "categorical":
            st.selectbox(label, spec.categories, **common)
        elif spec.kind == "ordinal":
            st.select_slider(label, spec.categories, **common)
    st.caption("The continuous columns' sliders are beside the answer: it follows them as they move.")
    st.button("Reset: undo all interventions", key="tl_reset_do", on_click=_reset, args=(own,))


# --- the quick sliders ----------------------------------------------------------------------------------
def specs(view: TablePage) -> dict[str, VarSpec]:
    """The continuous columns as the quick sliders take them (a whole-number step for age and hours)."""
    return {n: s.to_varspec() for n, s in view.columns.items() if not s.discrete}


def live_sliders(view: TablePage, do: dict[str, str | float]) -> list[str]:
    """The slider whose sweep the page asks for: the one moved or reached for, else a ticked one (a link that sets
    age), or none yet."""
    return qs.reached(specs(view), QUICK, do)


def readers(view: TablePage, cut: list[tuple[str, str]], added: list[tuple[str, str]]) -> tuple[str, ...]:
    """The columns the quick sliders show: the continuous ones and every column that can follow from them in
    the edited graph."""
    graph = Dag(view.published.nodes, (view.published.edges - set(cut)) | set(added))
    moving = [n for n, s in view.columns.items() if not s.discrete]
    follow = set(moving) | set(graph.descendants(moving))
    return tuple(n for n in view.columns if n in follow)


def _reading(columns: dict[str, ColumnSpec], result: TableResult, name: str) -> list:
    """[the answer's value ("· TRUE …" beside it on a world row), 1 when it differs from the person's own]."""
    spec = columns[name]
    text = value_text(spec, result.cf[name])
    if result.true_cf is not None:
        text += f" · TRUE {value_text(spec, result.true_cf[name])}"
    return [text, int(name in result.changed)]


_ENCODED = Kept()  # per sweep (and the columns shown): its encoding, made and packed once


def encoded(sweep: ColumnSweep, view: TablePage, names: tuple[str, ...]) -> qs.Encoded:
    """One sweep as the page sends it: positions, no pictures, at each the readings of the columns `names`, and
    the answer panel's parts there (the records table: explorer/ui/table_lab_answer.py)."""

    def make(s: ColumnSweep) -> qs.Encoded:
        readings = [[_reading(view.columns, r, n) for n in names] for r in s.results]
        return [float(v) for v in s.values], [], readings, table_lab_answer.swept(s, view)

    return _ENCODED(sweep, make, names)  # a sweep is of one service, whose page (`view`) is one object


def quick_controls(view: TablePage, result: TableResult, do: dict[str, str | float],
                   sweeps: dict[str, ColumnSweep], cut: list[tuple[str, str]], added: list[tuple[str, str]]) -> None:
    """The continuous columns' quick sliders with the answer's values of the columns that follow from them."""
    names = readers(view, cut, added)
    sliders = specs(view)
    factual = {n: float(result.obs[n]) for n in sliders}
    view_now = qs.QuickView("", f"While a slider moves: {result.model}'s answer"
                            + (" and the TRUE one" if result.true_cf is not None else "") + ", redrawn at once.",
                            [view.columns[n].label or n for n in names],
                            [value_text(view.columns[n], result.obs[n]) for n in names],
                            [_reading(view.columns, result, n) for n in names], mark=" (changed)")
    qs.draw(QUICK, sliders, factual, {n: float(v) for n, v in do.items() if n in sliders},
            {n: encoded(s, view, names) for n, s in sweeps.items()}, view_now, WORDS, then=_slid)
