"""The page "Audit a model": the mapping editors, for names no column matches (split from `audit_table.py`).

An uploaded model's inputs, and the census world's variables when counterfactual fairness is asked: a select box per
unmatched name (the service's proposal preselected, "not in my table" allowed) and a tick that confirms them, as
`audit-table --map column=name` does on the command line. Keys `atmap_in_<input>`, `atmap_var_<variable>` and
`atmap_in_ok`, `atmap_var_ok`: outside the link's `at_` widgets, so a mapping is never in a link.
"""

from __future__ import annotations

import streamlit as st

MAP = "atmap_"
NOT_IN_TABLE = "(not in my table)"


def mapping_editor(title: str, caption: str, unmatched: dict[str, str | None], cols: list[str],
                   prefix: str, expanded: bool = True) -> tuple[tuple[str, str], ...]:
    """A select box per name no column matches and a tick that confirms them; returns the confirmed (column, name)
    pairs, () until ticked (or when nothing is unmatched)."""
    if not unmatched:
        return ()
    state, options = st.session_state, [NOT_IN_TABLE, *cols]
    pairs = []
    with st.expander(title, expanded=expanded):
        st.caption(caption)
        for name, proposal in unmatched.items():
            key = f"{prefix}{name}"
            if state.get(key) not in options:
                state[key] = proposal or NOT_IN_TABLE
            column = st.selectbox(name.replace(":", "\\:"), options, key=key)
            if column != NOT_IN_TABLE:
                pairs.append((column, name))
        ok = st.checkbox("Use this mapping", key=f"{prefix}ok")
    return tuple(pairs) if ok else ()


def input_mapping(unmatched: dict[str, str | None], cols: list[str]) -> tuple[tuple[str, str], ...]:
    """The uploaded model's inputs that no column matches by name, mapped by the visitor."""
    return mapping_editor("Match the model's inputs to your columns", "Some of the model's inputs have no column of "
                          "the same name (case, hyphens and underscores ignored). The closest names are proposed: "
                          "check them, then tick the box.", unmatched, cols, f"{MAP}in_")


def variable_mapping(unmatched: dict[str, str | None], cols: list[str],
                     expanded: bool = True) -> tuple[tuple[str, str], ...]:
    """The census world's variables that no column matches by name, mapped by the visitor (folded when only recourse
    reads the mapping: counterfactual fairness is off)."""
    return mapping_editor("Match your columns to the causal model's variables", "Counterfactual fairness and "
                          "recourse run through the census world, whose variables below have no column of the same "
                          "name. Pick the column that holds each (or “not in my table”), then tick the box; columns "
                          "outside the causal model keep their factual values.", unmatched, cols, f"{MAP}var_",
                          expanded)


def forget_mappings() -> None:
    """Every mapping editor's state (a new table: its mappings start again)."""
    for key in [k for k in st.session_state if str(k).startswith(MAP)]:
        del st.session_state[key]
