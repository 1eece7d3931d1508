"""The Audit a model page's One row tab, in its own fragment: a new row number reruns only the tab.

Why: stepping through rows is the tab's everyday move, and a whole-page rerun redraws the pickers, the other tabs'
charts and tables and the report's downloads for it: 5.5x a page with no model (docs/performance.md, "Audit a
model"). The row's lines, its values and its recourse controls depend on nothing else on the page; what else
follows a row is the link (`row=`, written from here in the fragment's own reruns) and the report's downloads,
which hold the recourse found: a search found in the fragment asks for a whole-page rerun, which draws it and the
downloads with it. Even alone the tab's rerun cost ~3x a no-model page, so the row's lines are a step card
(explorer/ui/step_cards.py): the browser swaps a neighbouring row's in on the step itself, the rerun follows.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import streamlit as st

from explorer.services.audit_table_page import AuditView, RowView
from explorer.ui.audit_table_tabs import acted_in
from explorer.ui.step_cards import step_cards

_FULL = "_at_row_full_run"  # True while the whole page runs the fragment; False in the fragment's own reruns


def one_row(view: AuditView, row: Callable[[int], RowView], recourse: Callable[[RowView], bool],
            link: Callable[[], None]) -> None:
    """The tab's content: `row(n)` the row's answers, `recourse(shown)` its recourse part (True when a search was
    just found), `link()` writes the address bar (the page writes it itself after a whole-page run)."""
    st.session_state[_FULL] = True
    try:
        _one_row(view, row, recourse, link)
    finally:
        st.session_state[_FULL] = False


@st.fragment
def _one_row(view: AuditView, row: Callable[[int], RowView], recourse: Callable[[RowView], bool],
             link: Callable[[], None]) -> None:
    found = recourse(row_tab(view, row))
    if not st.session_state.get(_FULL):  # the fragment's own rerun: a new row, or a recourse search
        if found:  # the report's downloads hold each recourse found: the whole page redraws them
            st.rerun(scope="app")
        link()


def row_tab(view: AuditView, row: Callable[[int], RowView]) -> RowView:
    """One audited row: its decision, and a link into the Table lab to change its values by hand, as a step card
    (the browser swaps a neighbouring row's in on a step: explorer/ui/step_cards.py); returns it (the page draws
    its recourse below: explorer/ui/audit_table_recourse.py)."""
    count = len(view.rows)
    n = int(st.number_input(f"Row (0–{count - 1})", min_value=0, max_value=count - 1, step=1, key="at_row",
                            on_change=acted_in, args=("One row",)))
    shown = row(n)
    step_cards("audit_row", "at_row", n, lambda near: {i: row_html(shown if i == n else row(i)) for i in near}, count)
    with st.expander("This row's values"):
        st.dataframe([{"column": k, "value": str(v)} for k, v in shown.values.items()], hide_index=True)
    return shown


def row_html(shown: RowView) -> str:
    """The row's decision, true outcome, counterfactual flip rates and Table lab link, as one card; every text from
    the data (the decision and outcome's category names, the column names) is escaped."""
    p = "" if shown.probability is None else f" (probability {shown.probability:.1%})"
    lines = [f"<p><b>Decision:</b> {escape(shown.decision)}{p}<br><b>True outcome:</b> {escape(shown.label)}</p>"]
    lines += [f"<p>Had this person had another <b>{escape(col)}</b> (everything downstream following), the decision "
              f"would change in <b>{flip:.0%}</b> of the counterfactual draws.</p>"
              for col, flip in shown.flip_rates.items()]
    lines.append(f"<p><a href='{escape(shown.lab_link)}' target='_self'>Open row {shown.n} in the Table lab</a> to "
                 "change its values and see what follows.</p>" if shown.lab_link else
                 "<p class='ar-note'>The Table lab opens the shipped Adult rows only: an upload or another table has "
                 "no link there.</p>")
    return f"<div class='ar-card' data-step='{shown.n}'>{''.join(lines)}</div>"
