"""The address bar as the pages keep it: what each page last wrote there, and whether the visitor moved away
from it with the browser's Back or Forward buttons.

Every page writes a link to what is on screen into the address bar on each run (`write`), which adds a history
entry. Back then reruns the page with the older address. Without `moved`, the page would write its current
state straight back, and Back would seem to do nothing, however often it was pressed.

A run a widget started can also carry an older address: the visitor moved a slider again before the browser
had shown the link the last run wrote (a burst of key presses, a slow connection). Back never changes a widget,
so a run in which a widget's value changed is not a move through the history, and the widgets win.
"""

from __future__ import annotations

import streamlit as st


def moved(key: str) -> dict[str, str] | None:
    """The address bar's query, when it is not what the page last wrote there (under session key `key`).

    A non-empty query means the visitor went Back or Forward, or edited the address. The address, not the
    widgets, then says what to show. An empty one means the page's own bare address: arriving from the sidebar,
    or Back to the entry before the page's first link. None means the page wrote the address itself, has not
    written yet, or a widget the link encodes changed on this run.
    """
    params = st.query_params.to_dict()
    written = st.session_state.get(key)
    if written is None or params == written:
        return None
    seen = st.session_state.get(f"{key}.widgets", {})
    if any(k in st.session_state and st.session_state[k] != v for k, v in seen.items()):
        return None  # a widget started this run: not Back
    st.session_state[key] = params  # what the address bar shows now
    return params


def hold(key: str) -> None:
    """Leaves the address bar as it is on this run (Back to the bare address): one more Back then leaves the
    page, where writing the link again would add an entry and trap the visitor on the page."""
    st.session_state[f"{key}.hold"] = True


def write(key: str, params: dict[str, str], widgets: tuple[str, ...]) -> None:
    """Shows `params` in the address bar (a new history entry only when they changed) and remembers them, with
    the values of the widgets whose keys start with one of `widgets` (those the link encodes: buttons, which
    are True only on the run they were clicked, must not be among them)."""
    st.session_state[f"{key}.widgets"] = {k: v for k, v in st.session_state.items()
                                         if str(k).startswith(widgets) and isinstance(v, (str, int, float, bool))}
    if st.session_state.pop(f"{key}.hold", False):
        return
    st.session_state[key] = params
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)



def widgets(key: str) -> dict:
    """The values of the link's widgets as they were when the page last wrote its link under `key`."""
    return dict(st.session_state.get(f"{key}.widgets", {}))
