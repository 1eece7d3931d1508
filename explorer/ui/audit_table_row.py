"""The Audit a model page's One row tab, in its own fragment, and the row's box, card and values in one inside it: a
new row number reruns only those.

Why: stepping through rows is the tab's everyday move, and a whole-page rerun redraws the pickers, the other tabs'
charts and tables and the report's downloads for it: 5.5x a page with no model (docs/performance.md, "Audit a
model"). The row's lines, its values and its recourse controls depend on nothing else on the page; what else
follows a row is the link (`row=`, written from the fragments' own reruns) and the report's downloads, which hold
the recourse found: a search found in the tab asks for a whole-page rerun, which draws it and the downloads with
it. Even alone the tab's rerun cost ~3x a no-model page, so the row's lines are a step card
(explorer/ui/step_cards.py): the browser swaps a neighbouring row's in on the step itself, the rerun follows, and
reruns only the row's fragment (the recourse part below shows the same for every row without an answer found; a
step to or from a row with one reruns the whole page).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import streamlit as st

from explorer.services.audit_table_page import AuditView, RowView
from explorer.ui.audit_table_tabs import acted_in
from explorer.ui.step_cards import step_cards

_FULL = "_at_row_full_run"  # True while the whole page runs the fragment; False in the fragment's own reruns
_TAB = "_at_row_tab_run"  # True while the tab's fragment runs the row's; False in the row's own reruns
_DRAWN = "_at_row_recourse_drawn"  # `rest` of the row the recourse part was last drawn for
_VALUES = "at_row_values"  # the row's values' expander
HELD = 24  # rows held each side while steps are held: twice step_cards.HELD, so half the reruns in a long series. A
# row's card is ~0.6 kB of text (its row made once per audit; in an inert template in the browser), and a rerun of
# the tab costs the browser ~110-200 ms (Streamlit re-renders the whole page), where a no-model page's step ~40-60


def one_row(view: AuditView, row: Callable[[int], RowView], recourse: Callable[[RowView], bool],
            link: Callable[[], None], rest: Callable[[RowView], str | None]) -> None:
    """The tab's content: `row(n)` the row's answers, `recourse(shown)` its recourse part (True when a search was
    just found; it draws what a rejected and what an accepted row shows, and the card's `data-rejected` picks one:
    assets/step_cards/step_cards.css), `link()` writes the address bar (the page writes it itself after a
    whole-page run), `rest(shown)` what else the recourse part shows for a row, as a text rows share (None:
    something for that row alone, an answer found); steps between rows of the same text are held in the browser
    (explorer/ui/step_cards.py)."""
    st.session_state[_FULL] = True
    try:
        _one_row(view, row, recourse, link, rest)
    finally:
        st.session_state[_FULL] = False


@st.fragment
def _one_row(view: AuditView, row: Callable[[int], RowView], recourse: Callable[[RowView], bool],
             link: Callable[[], None], rest: Callable[[RowView], str | None]) -> None:
    st.session_state[_TAB] = True
    try:
        shown = _row(view, row, rest, link)
    finally:
        st.session_state[_TAB] = False
    found = recourse(shown)
    st.session_state[_DRAWN] = rest(shown)
    if not st.session_state.get(_FULL):  # the tab's own rerun: a recourse setting, or Find recourse
        if found:  # the report's downloads hold each recourse found: the whole page redraws them
            st.rerun(scope="app")
        link()


@st.fragment
def _row(view: AuditView, row: Callable[[int], RowView], rest: Callable[[RowView], str | None],
         link: Callable[[], None]) -> RowView:
    """The row box, card and values in a fragment of their own inside the tab's: a new row reruns only them (the
    step's everyday rerun: a fifth less of the server's work than the tab's, docs/performance.md "Audit a model"),
    unless the recourse part drawn below no longer fits the new row (an answer on screen for either): then the whole
    page."""
    shown = row_tab(view, row, rest)
    if not st.session_state.get(_TAB):  # the row's own rerun
        if rest(shown) is None or st.session_state.get(_DRAWN, "") is None:
            st.rerun(scope="app")  # (no way to rerun the enclosing fragment alone)
        link()
    return shown


def row_tab(view: AuditView, row: Callable[[int], RowView],
            rest: Callable[[RowView], str | None]) -> RowView:
    """One audited row: its decision, and a link into the Table lab to change its values by hand, as a step card
    (the browser swaps a neighbouring row's in on a step: explorer/ui/step_cards.py); returns it (the page draws
    its recourse below: explorer/ui/audit_table_recourse.py). Steps are held while the row's values are closed and
    `rest` says the recourse part stays (see `one_row`)."""
    count = len(view.rows)
    n = int(st.number_input(f"Row (0–{count - 1})", min_value=0, max_value=count - 1, step=1, key="at_row",
                            on_change=acted_in, args=("One row",)))
    shown = row(n)

    def card(r: RowView) -> str:
        said = rest(r)
        return row_html(r, f"row {r.n}" if said is None else said)  # an answer of its own: never held to or from

    step_cards("audit_row", "at_row", n, lambda near: {i: card(shown if i == n else row(i)) for i in near}, count,
               hold=rest(shown) is not None, param="row", busy=f".st-key-{_VALUES} details[open]", held=HELD)
    values = st.expander("This row's values", key=_VALUES, on_change=acted_in, args=("One row",))
    with values:  # drawn only while open (a rerun's work grows with what the page holds), and then each step reruns
        if values.open:  # so that they follow
            st.dataframe([{"column": k, "value": str(v)} for k, v in shown.values.items()], hide_index=True)
    return shown


def row_html(shown: RowView, rest: str = "") -> str:
    """The row's decision, true outcome, counterfactual flip rates and Table lab link, as one card (`rest`: what the
    rest of the tab shows for it, `data-hold`); every text from the data (the decision and outcome's category names,
    the column names) is escaped; `data-rejected` when the decision is negative."""
    p = "" if shown.probability is None else f" (probability {shown.probability:.1%})"
    lines = [f"<p><b>Decision:</b> {escape(shown.decision)}{p}<br><b>True outcome:</b> {escape(shown.label)}</p>"]
    lines += [f"<p>Had this person had another <b>{escape(col)}</b> (everything downstream following), the decision "
              f"would change in <b>{flip:.0%}</b> of the counterfactual draws.</p>"
              for col, flip in shown.flip_rates.items()]
    lines.append(f"<p><a href='{escape(shown.lab_link)}' target='_self'>Open row {shown.n} in the Table lab</a> to "
                 "change its values and see what follows.</p>" if shown.lab_link else
                 "<p class='ar-note'>The Table lab opens the shipped Adult rows only: an upload or another table has "
                 "no link there.</p>")
    hold = f" data-hold='{escape(rest)}'" if rest else ""
    hold += " data-rejected" if shown.rejected else ""  # the recourse part shown below it (step_cards.css)
    return f"<div class='ar-card' data-step='{shown.n}'{hold}>{''.join(lines)}</div>"
