"""The Causal graph lab's address bar: a shareable link to exactly what is on screen.

`/causal_graph_lab?scene=3&cut=light-shadow_position&light=70` opens scene 3 with the arrow light → shadow
position cut and do(light = 70). `cut` lists learned arrows that are switched off and `add` arrows that are
switched on (each `cause-effect`, comma-separated); every concept named as a parameter is set with do(). The
Image and Text pages keep links the same way, so a teacher can send a class to one what-if on any page.
"""

from __future__ import annotations

import math

import streamlit as st

from explorer.services.lab import LabService
from explorer.scm.graph import CycleError, Dag
from explorer.scm.pendulum import VARIABLES
from explorer.ui import address
from explorer.ui.graph_lab import edge_key
from explorer.ui.widgets import decimals, fmt

_READ = "_lab_link_read"  # set once the session's link was read on the first visit
_WRITTEN = "_lab_link_written"  # for explorer.ui.address: what the page last wrote into the address bar
_ARROW_SEP = "-"  # concept names use "_", never "-"


def _arrows(text: str, notes: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        parent, _, child = item.partition(_ARROW_SEP)
        if parent in VARIABLES and child in VARIABLES and parent != child:
            out.append((parent, child))
        else:
            notes.append(f"The link's {what}={item!r} is not an arrow `cause-effect` between two of "
                         f"{', '.join(VARIABLES)}, so it was ignored.")
    return out


def apply_link(lab: LabService) -> list[str]:
    """On the session's first visit, and after the browser's Back or Forward buttons, sets the scene, the
    arrows and the do() settings from the address bar.

    Returns what was wrong with the link (each problem is skipped; the rest of the link still applies).
    """
    if _READ not in st.session_state:
        st.session_state[_READ] = True
        return _apply(lab, st.query_params.to_dict())
    query = address.moved(_WRITTEN)
    if query:
        for name in lab.specs:  # settings the older address may not have
            st.session_state[f"do_{name}"] = False  # (popping the key would keep the box's value in the browser)
        st.session_state.pop("_lab_synced", None)
        return _apply(lab, query)
    if query is not None and "lab_index" in st.session_state:  # Back to the page's bare address
        address.hold(_WRITTEN)
    return []


def _apply(lab: LabService, params: dict[str, str]) -> list[str]:
    notes: list[str] = []
    if "scene" in params:
        try:
            asked = int(params["scene"])
            st.session_state["lab_index"] = min(max(asked, 0), len(lab) - 1)
            if st.session_state["lab_index"] != asked:
                notes.append(f"The link's scene #{asked} does not exist (0–{len(lab) - 1}); scene "
                             f"#{st.session_state['lab_index']} is shown.")
        except ValueError:
            notes.append(f"The link's scene={params['scene']!r} is not a whole number, so scene #0 is shown.")
    learned = set(lab.learned_graph.edges)
    edges = set(learned)
    for edge in _arrows(params.get("cut", ""), notes, "cut"):
        if edge in learned:
            edges.discard(edge)
        else:
            notes.append(f"The link cuts {edge[0]} → {edge[1]}, which is not an arrow of the learned graph.")
    added = [e for e in _arrows(params.get("add", ""), notes, "add") if e not in learned]
    try:
        Dag(VARIABLES, frozenset(edges | set(added)))
        edges |= set(added)
    except CycleError as err:
        notes.append(f"The link's added arrows were left out: {err}.")
    for p in VARIABLES:
        for c in VARIABLES:
            if p != c:
                st.session_state[edge_key(p, c)] = (p, c) in edges
    for name, spec in lab.specs.items():
        if name not in params:
            continue
        try:
            value = float(params[name])
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            notes.append(f"The link's {name}={params[name]!r} is not a number, so {name} is not set.")
            continue
        clamped, changed = spec.clamp(value)
        if changed:
            notes.append(f"{spec.label} = {value:g} is outside its range ({fmt(spec, spec.low)}–"
                         f"{fmt(spec, spec.high, unit=True)}), so it was set to {fmt(spec, clamped, unit=True)}.")
        st.session_state[f"do_{name}"], st.session_state[f"value_{name}"] = True, round(clamped, decimals(spec))
    unknown = sorted(set(params) - {"scene", "cut", "add", *lab.specs})
    if unknown:
        notes.append(f"The link's {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a setting of "
                     "this page, so it was ignored.")
    return notes


def write_link(index: int, edges: set[tuple[str, str]], learned: Dag, do: dict[str, float]) -> None:
    """Keeps the address bar a link to the scene, arrows and do() settings on screen."""
    params = {"scene": str(index)}
    cut = sorted(set(learned.edges) - edges)
    added = sorted(edges - set(learned.edges))
    if cut:
        params["cut"] = ",".join(f"{p}{_ARROW_SEP}{c}" for p, c in cut)
    if added:
        params["add"] = ",".join(f"{p}{_ARROW_SEP}{c}" for p, c in added)
    params |= {name: f"{value:g}" for name, value in do.items()}
    address.write(_WRITTEN, params, ("lab_index", "edge_", "do_", "value_"))
