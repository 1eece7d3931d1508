"""The Audit a model page's One row tab, in its own fragment: a new row number reruns only the tab.

Why: stepping through rows is the tab's everyday move, and a whole-page rerun redraws the pickers, the other tabs'
charts and tables and the report's downloads for it: 5.5x a page with no model (docs/performance.md, "Audit a
model"). The row's lines, its values and its recourse controls depend on nothing else on the page; what else
follows a row is the link (`row=`, written from here in the fragment's own reruns) and the report's downloads,
which hold the recourse found: a search found in the fragment asks for a whole-page rerun, which draws it and the
downloads with it.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from explorer.services.audit_table_page import AuditView, RowView
from explorer.ui.audit_table import plain
from explorer.ui.audit_table_tabs import acted_in

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
    """One audited row: its decision, and a link into the Table lab to change its values by hand; returns it (the
    page draws its recourse below: explorer/ui/audit_table_recourse.py)."""
    n = st.number_input(f"Row (0–{len(view.rows) - 1})", min_value=0, max_value=len(view.rows) - 1, step=1,
                        key="at_row", on_change=acted_in, args=("One row",))
    shown = row(int(n))
    p = "" if shown.probability is None else f" (probability {shown.probability:.1%})"
    st.markdown(f"**Decision:** {plain(shown.decision)}{p}  \n**True outcome:** {plain(shown.label)}")
    for col, flip in shown.flip_rates.items():
        st.markdown(f"Had this person had another **{plain(col)}** (everything downstream following), the decision would "
                    f"change in **{flip:.0%}** of the counterfactual draws.")
    if shown.lab_link:
        st.markdown(f"[Open row {shown.n} in the Table lab]({shown.lab_link}) to change its values and see what "
                    "follows.")
    else:
        st.caption("The Table lab opens the shipped Adult rows only: an upload or another table has no link there.")
    with st.expander("This row's values"):
        st.dataframe([{"column": k, "value": str(v)} for k, v in shown.values.items()], hide_index=True)
    return shown
