"""The "One row" tab's recourse: the controls drawn from `RecourseConfig`'s spec, the "Find recourse" button, and
both answers side by side. The page makes the call (`explorer.services.audit_table_recourse.RecourseService.find`).

Widget keys: `at_rc_<name>` for each control of the spec (`at_rc_act_education`, `at_rc_cost_education`,
`at_rc_max_changes`...), the button `audit_model_recourse`. The answer is kept in the session for the row and the
controls it was found for, so moving another widget does not lose it, and a change of row or control hides it.
Every answer found for the audit is also kept (up to MAX_FOUND) for the Report tab's downloads (`with_found`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import streamlit as st

from explorer.services.audit_table_page import AuditView
from explorer.services.audit_table_recourse import EXPLAIN, METHODS, RecourseRow
from explorer.types import VarSpec
from explorer.ui.audit_table import plain
from explorer.ui.audit_table_tabs import acted_in

_KEPT = "_at_recourse"  # ((audit, row, controls), RecourseRow): the last answer, session only
_FOUND = "_at_recourse_found"  # (audit, {(row, controls): RecourseRow}): every answer of this audit, for the report
_REPORT = "_at_recourse_report"  # ((audit, answers' keys), AuditView): the report with them, built once
MAX_FOUND = 50  # answers kept for the report (the oldest dropped beyond it)
_ASKED = "_at_recourse_asked"  # the button's click, recorded by its callback (a rerun in between keeps it)
SHOWN_SETTINGS = ("max_changes", "min_share", "draws")  # threshold is the audit's; the seed stays at its default
SETTINGS = "at_rc_settings"  # the controls' expander (its open state)
_SET = "_at_rc_values"  # the controls' values by spec name, kept while their expander is closed, session only


def _asked() -> None:
    """Find recourse's callback: the click is kept (a rerun in between keeps it), and a redraw stays on One row."""
    st.session_state[_ASKED] = True
    acted_in("One row")


def controls(spec: Mapping[str, VarSpec]) -> dict[str, float]:
    """Ticks and cost weights per column, and the search's settings, in an expander; their values by spec name.
    The widgets are drawn only while it is open (a rerun's work, the server's and the browser's, grows with what the
    page holds: ~20 widgets on every step of the row number otherwise); their values are kept while it is closed."""
    values = {name: s.default for name, s in spec.items()} | st.session_state.get(_SET, {})
    columns = [name[4:] for name in spec if name.startswith("act_")]
    box = st.expander("What may change, and what it costs", key=SETTINGS, on_change=acted_in, args=("One row",))
    with box:
        if not box.open:
            return values
        st.caption("Sex, race and native country are never offered (who a person is); age only upward, off by "
                   "default (waiting is not an action); marital status and relationship off by default (telling "
                   "someone to marry or divorce is no acceptable recourse). Untick every column to see the search "
                   "refuse.")
        for col in columns:
            act, cost = spec[f"act_{col}"], spec[f"cost_{col}"]
            left, right = st.columns([2, 1], vertical_alignment="bottom")
            values[act.name] = float(left.checkbox(act.label, value=bool(values[act.name]), key=f"at_rc_{act.name}",
                                                    on_change=acted_in, args=("One row",)))
            values[cost.name] = right.number_input(cost.label, min_value=cost.low, max_value=cost.high,
                                                   value=values[cost.name], step=cost.step, key=f"at_rc_{cost.name}",
                                                   on_change=acted_in, args=("One row",))
        for col, name in zip(st.columns(len(SHOWN_SETTINGS)), SHOWN_SETTINGS):
            s = spec[name]
            whole = float(s.step).is_integer()
            values[name] = col.number_input(s.label, min_value=int(s.low) if whole else s.low,
                                            max_value=int(s.high) if whole else s.high,
                                            value=int(values[name]) if whole else values[name],
                                            step=int(s.step) if whole else s.step, key=f"at_rc_{name}",
                                            on_change=acted_in, args=("One row",))
    st.session_state[_SET] = values
    return values


def recourse_section(audit: Hashable, n: int, rejected: bool, spec: Mapping[str, VarSpec],
                     find: Callable[[dict[str, float]], RecourseRow]) -> bool:
    """For a rejected row: the controls, the button, and the last answer found for this audit (`audit`: what
    identifies it, e.g. its settings), this row and these controls; for another, a line saying why there is none.
    Both are drawn for every row, the row card shown picks one (assets/step_cards/step_cards.css, `data-rejected`
    on the card): so a step between a rejected and an accepted row changes nothing here and the browser can hold it
    (explorer/ui/audit_table_row.py). Returns whether a search ran in this run."""
    st.markdown("#### Recourse: what would this person have to change?")
    with st.container(key="at_rc_positive"):
        st.caption("The model already gives this row the positive decision: recourse is for rejected rows.")
    with st.container(key="at_rc_rejected"):
        return _rejected(audit, n, rejected, spec, find)


def _rejected(audit: Hashable, n: int, rejected: bool, spec: Mapping[str, VarSpec],
              find: Callable[[dict[str, float]], RecourseRow]) -> bool:
    if not spec:
        st.caption("Recourse needs the census world, which is not available on this server (docs/census.md).")
        return False
    values = controls(spec)
    key = (audit, n, tuple(sorted(values.items())))  # another audit, row or control: the answer kept is not shown
    clicked = st.button("Find recourse", key="audit_model_recourse", icon=":material/route:",
                        on_click=_asked)  # as the audit's Run button
    searched = bool(st.session_state.pop(_ASKED, False) or clicked) and rejected  # (hidden on an accepted row)
    if searched:
        st.session_state[_KEPT] = (key, find(values))  # the search: ~0.1 s each, on this visitor's thread
        _keep(audit, key[1:], st.session_state[_KEPT][1])
    kept = st.session_state.get(_KEPT)
    if kept is None or kept[0] != key:
        st.caption("Press **Find recourse** to search both ways for this row with these settings.")
        return searched
    show(kept[1])
    return searched


def rest(audit: Hashable, n: int) -> str | None:
    """What `recourse_section` shows for row `n` that other rows' do not: "" when nothing (the One row tab holds
    steps between such rows in the browser: explorer/ui/audit_table_row.py), None when it may show an answer found
    for it."""
    kept = st.session_state.get(_KEPT)
    return None if kept is not None and kept[0][:2] == (audit, n) else ""


def show(found: RecourseRow) -> None:
    """Both answers side by side: success, cost, probability before and after, time, the changes."""
    if found.note:
        st.warning(plain(found.note), icon=":material/info:")
        return
    for col, (method, title) in zip(st.columns(2), METHODS):
        a = found.answers[method]
        with col:
            st.markdown(f"**{title}**")
            if not a["found"]:
                st.warning(plain(f"No answer: {a['note']}"), icon=":material/block:")
                st.caption(f"{a['seconds']:.2f} s")
                continue
            verdict = ""
            if a.get("inconsistent") is not None:  # the baseline's answer, checked against the graph
                verdict = "  \n" + ("**Inconsistent with the graph**" if a["inconsistent"]
                                     else "Consistent with the graph")
            # the causal answer holds in a share of posterior draws; the baseline's on its one row, and its own do()
            # run through the world flips in `causal_share` of the draws
            held = (f"flip in {a['flip_share']:.0%} of the draws" if method == "causal" else
                    f"through the world: flip in {a['causal_share']:.0%} of the draws")
            st.markdown(f"Found, cost **{a['cost']:.2f}**: probability {a['p_before']:.2f} → **{a['p_after']:.2f}** "
                        f"({held}), {a['seconds']:.2f} s{verdict}")
            st.dataframe(found.changes[method], hide_index=True)
            st.caption(plain(found.sentences[method]))
    st.caption(EXPLAIN)


def _keep(audit: Hashable, key: Hashable, found: RecourseRow) -> None:
    """An answer for the report's downloads (a row searched again with the same settings: the newer answer)."""
    if not found.found:  # a note alone (accepted row, refused settings...): nothing was searched
        return
    kept = st.session_state.get(_FOUND)
    if kept is None or kept[0] != audit:  # another audit: its answers do not belong in this one's report
        kept = st.session_state[_FOUND] = (audit, {})
    kept[1].pop(key, None)
    kept[1][key] = found
    while len(kept[1]) > MAX_FOUND:
        kept[1].pop(next(iter(kept[1])))


def with_found(audit: Hashable, view: AuditView, report: Callable[[list[RecourseRow]], AuditView]) -> AuditView:
    """The audit's view, its downloads holding the recourse found for it this session (`report` builds them once
    per set of answers), with a line saying how many; `view` itself when none was found."""
    kept = st.session_state.get(_FOUND)
    if kept is None or kept[0] != audit or not kept[1]:
        return view
    key = (audit, tuple(kept[1]))
    built = st.session_state.get(_REPORT)
    if built is None or built[0] != key:
        built = st.session_state[_REPORT] = (key, report(list(kept[1].values())))  # the PDF: ~0.2 s, once
    rows, count = sorted({n for n, _ in kept[1]}), len(kept[1])
    st.caption(f"The downloads include the recourse you found on the One row tab: {count} search"
               f"{'es' if count > 1 else ''} (row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}).")
    return built[1]
