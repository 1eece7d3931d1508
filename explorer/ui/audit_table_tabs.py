"""The Audit a model page's result tabs, and which one a redraw falls back to.

The tabs are keyed and do not rerun the page (not on_change="rerun": see pages/audit_model.py), so the open tab is
the browser's. A redraw that mounts them afresh opens their `default`: here the tab of the visitor's last action
(a row number, Find recourse, a recourse setting, a download), so a redraw after Find recourse opens One row, not
Groups with the answer hidden (which happened once, in a CI run of the browser test; what remounted the tabs there
was not found).
"""

from __future__ import annotations

import streamlit as st

TABS = ("Groups", "Counterfactual fairness", "One row", "Report")
_AT = "_audit_model_tab_at"  # the tab of the visitor's last action on it, session only


def acted_in(tab: str) -> None:
    """A widget's callback: the visitor acted in `tab`."""
    st.session_state[_AT] = tab


def forget() -> None:
    """A new audit opens on its first tab."""
    st.session_state.pop(_AT, None)


def tabs() -> list:
    """The four tabs, opened at the tab last acted in (the first until then)."""
    return st.tabs(list(TABS), key="audit_model_tab", default=st.session_state.get(_AT))
