"""Streamlit widgets of the Causal graph lab page: its backend, its link, the scene picker, the edge editor and
the export's settings. What they show comes from the page's service calls (`LabService.page`, `what_if`,
`export`); the results are drawn by `explorer.ui.lab_render`.

Widget keys (tests and links address them): `lab_index`, `lab_random`, `edge_<parent>__<child>`,
`lab_reset_graph`, `do_<concept>` (a checkbox) and `value_<concept>` (the session key of the concept's quick
slider, `explorer.ui.quick_sliders`, component key `lab_quick_sliders`), `export_cuts`, `export_n`,
`export_seed`, `export_go`.

The address bar is a shareable link to what is on screen: `?scene=3&cut=light-shadow_position&light=70` opens
scene 3 with the arrow light → shadow position cut and do(light = 70). `cut` lists learned arrows that are
switched off and `add` arrows that are switched on (each `cause-effect`, comma-separated); every concept named as
a parameter is set with do().
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from explorer.checkpoints import CheckpointError
from explorer.device import pick_device
from explorer.scm.graph import CycleError, Dag
from explorer.scm.pendulum import VARIABLES
from explorer.services.lab import REBUILD, LabExport, LabPage, LabResult, LabService
from explorer.services.lab_sweep import ConceptSweep
from explorer.types import VarSpec
from explorer.ui.common.controls import DoWords
from explorer.ui.common.format import echo, fmt, listed
from explorer.ui.common.kept import Kept
from explorer.ui.common.export import ExportAsk, export_asked, export_button
from explorer.ui.common.link import PageLink, read_values, value_params
from explorer.ui.common.loader import SETUP_ERRORS, Backend, Fix
from explorer.ui import lab_answer, quick_sliders
from explorer.ui.lab_answer import scene_uri
from explorer.ui.quick_sliders import Encoded, QuickView, draw, live, swept_whole, ticked, ticks

PAGE = "lab"
WORDS = DoWords(item="scene", tick_help="Ticked: {label} is set to the slider's value, whatever its causes say.",
                label="{label} (this {item}: {value})", slider_help=None, reset=False, as_asked=False,
                not_a_number="The link's {name}={text} is not a number, so {name} is not set.", unknown=None)
LINK = PageLink(PAGE, ("lab_index", "edge_", "do_", "value_"), marker="lab_index")
QUICK = "lab_quick_sliders"  # the quick sliders' component key
# The page's fragments (pages/causal_graph_lab.py): the what-if (boxes, graph), inside it the quick sliders' and the
# answer's (the answer panel) and the link's (the address bar); a quick slider's move reruns the link's or the
# answer's (`moved`).
WHAT_IF, QUICK_PART, ANSWER, LINK_PART = "lab_whatif", "lab_quick", "lab_answer_part", "lab_link"
_ANSWER = "_lab_answer"  # session key: (what was asked, the answer), shared by the fragments of one move
SCENE = 64  # px: the model's scenes, shown by the quick sliders at 2x
_ARROW_SEP = "-"  # concept names use "_", never "-"
_CYCLE = "_lab_cycle_message"
_CHANGED = "_lab_edges_changed"
_EXPORT = "_lab_export"
_EXPORT_KEPT = "_lab_export_kept"  # the export's arrows, N and seed, put back when the visitor returns
_EXPORT_ASKED = "_export_asked"


def _lab_service() -> LabService:
    return LabService(pick_device())


def _fixes(part: str | None) -> list[Fix]:
    return [Fix((CheckpointError,), "The pendulum model could not be loaded.", REBUILD),
            Fix(SETUP_ERRORS, "The pendulum model could not be loaded", REBUILD, "Rebuild it, then reload the page",
                quote=False)]


LAB = Backend(PAGE, _lab_service, "Loading the causal-layer VAE and 500 pendulum scenes (once per server)…", _fixes)


# --- the link -------------------------------------------------------------------------------------------
def _arrows(text: str, notes: list[str], what: str) -> list[tuple[str, str]]:
    out, bad = [], []
    for item in filter(None, (t.strip() for t in text.split(","))):
        parent, _, child = item.partition(_ARROW_SEP)
        if parent in VARIABLES and child in VARIABLES and parent != child:
            out.append((parent, child))
        else:
            bad.append(item)
    if bad:  # one note for all of them: a crafted link may list thousands
        one = len(bad) == 1
        notes.append(f"The link's {what}={listed(bad)} {'is not an arrow' if one else 'are not arrows'} "
                     f"`cause-effect` between two of {', '.join(VARIABLES)}, so {'it was' if one else 'they were'} "
                     "ignored.")
    return out


def _link_edges(learned: Dag, params: dict[str, str], notes: list[str]) -> set[tuple[str, str]]:
    """The learned graph with the link's `cut` arrows removed and its `add` arrows added (unless they close a
    cycle)."""
    edges = set(learned.edges)
    for edge in _arrows(params.get("cut", ""), notes, "cut"):
        if edge in learned.edges:
            edges.discard(edge)
        else:
            notes.append(f"The link cuts {edge[0]} → {edge[1]}, which is not an arrow of the learned graph.")
    added = [e for e in _arrows(params.get("add", ""), notes, "add") if e not in learned.edges]
    try:
        Dag(VARIABLES, frozenset(edges | set(added)))
        edges |= set(added)
    except CycleError as err:
        notes.append(f"The link's added arrows were left out: {err}.")
    return edges


def _apply(view: LabPage, params: dict[str, str]) -> list[str]:
    """`?scene=3&cut=…&add=…&light=70` -> the widgets' state; returns what was wrong with the link."""
    notes: list[str] = []
    if "scene" in params:
        try:
            asked = int(params["scene"])
            st.session_state["lab_index"] = min(max(asked, 0), view.n - 1)
            if st.session_state["lab_index"] != asked:
                notes.append(f"The link's scene #{echo(str(asked), quote=False)} does not exist (0–{view.n - 1}); "
                             f"scene #{st.session_state['lab_index']} is shown.")
        except ValueError:
            notes.append(f"The link's scene={echo(params['scene'])} is not a whole number, so scene #0 is shown.")
    _set_edges(_link_edges(view.learned, params, notes))
    more, unknown = read_values(params, view.specs, PAGE, WORDS, ("scene", "cut", "add"))
    notes += more
    if unknown:
        notes.append(f"The link's {listed(sorted(unknown), quote=False)} {'is' if len(unknown) == 1 else 'are'} not "
                     f"{'a setting' if len(unknown) == 1 else 'settings'} of this page, so "
                     f"{'it was' if len(unknown) == 1 else 'they were'} ignored.")
    return notes


def read_link(view: LabPage) -> list[str]:
    """The scene, arrows and do() settings from the address bar when it says what to show; returns its notes."""
    return LINK.read(functools.partial(_apply, view), view.specs)


def write_link(index: int, edges: set[tuple[str, str]], learned: Dag, do: dict[str, float],
               specs: dict[str, VarSpec]) -> None:
    """Keeps the address bar a link to the scene, arrows and do() settings on screen."""
    params = {"scene": str(index)}
    cut, added = sorted(set(learned.edges) - edges), sorted(edges - set(learned.edges))
    if cut:
        params["cut"] = ",".join(f"{p}{_ARROW_SEP}{c}" for p, c in cut)
    if added:
        params["add"] = ",".join(f"{p}{_ARROW_SEP}{c}" for p, c in added)
    LINK.write(params | value_params(do, specs))


# --- picking a scene, setting concepts -------------------------------------------------------------------
def _random_scene(n: int) -> None:
    st.session_state["lab_index"] = int(np.random.default_rng().integers(n))


def scene_picker(view: LabPage) -> int:
    """The scene number and a random button; returns the scene's index."""
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    index = left.number_input(f"Scene number (0–{view.n - 1})", 0, view.n - 1, step=1, key="lab_index",
                              help="Each number is one real scene from the simulator's test draws.")
    right.button("Random scene", key="lab_random", icon=":material/casino:", on_click=_random_scene, args=(view.n,))
    return int(index)


def controls(specs: dict[str, VarSpec], factual: dict[str, float]) -> dict[str, float]:
    """A do() checkbox per concept; returns `do` for the ticked ones. The concepts' sliders are the quick sliders
    (`quick_controls`), drawn after the what-if, since they show its picture."""
    return ticks(PAGE, specs, factual, WORDS)


def live_sliders(specs: dict[str, VarSpec], do: dict[str, float]) -> list[str]:
    """The concept whose sweep the page asks the service for (`explorer.ui.quick_sliders.live`)."""
    return live(specs, QUICK, do)


def _readings(specs: dict[str, VarSpec], cf: dict[str, float]) -> list[list]:
    return [[fmt(specs[n], cf[n], unit=True), 0] for n in VARIABLES]  # no mark: the table below says what follows


_ENCODED = Kept()  # per sweep, as the quick sliders read it (with the answer panel's parts): made and packed once


def encoded(sweep: ConceptSweep, specs: dict[str, VarSpec], result: LabResult, graph: Dag,
            learned: Dag) -> Encoded:
    """One concept's sweep as the quick sliders read it: positions, the model's scenes, its concepts at each, and
    the answer panel's parts at each (`lab_answer.swept`: the true scene, the error, the table's what-if rows).
    Kept per sweep: a sweep is the same for every `result` it can go with (the same scene, graph and other values)."""
    def make(s: ConceptSweep) -> Encoded:
        return ([float(v) for v in s.values], [scene_uri(p) for p in s.pictures],
                [_readings(specs, {n: float(s.cf[n][i]) for n in VARIABLES}) for i in range(len(s.values))],
                lab_answer.swept(result, s, specs, graph, learned))

    return _ENCODED(sweep, make)


def moved(name: str, was_ticked: bool) -> None:
    """After a quick slider's move: a move that ticked its box redraws the boxes and the graph (the what-if
    fragment); else, when the browser already shows the whole answer at the value (the panel swapped it in from the
    sweep, which holds the model's and the true answer: `lab_answer.swept`), only the link's fragment reruns (the
    value stored, the address bar written, the sliders told); else the answer's fragment draws it, and the sliders'
    reruns too: the browser may lack the slider's sweep (a move sent before the sweep came interrupts the rerun
    that was bringing it)."""
    st.rerun(WHAT_IF if not was_ticked else LINK_PART if swept_whole(QUICK) else [ANSWER, QUICK_PART])


def applied() -> None:
    """Tells the quick sliders their last move was applied (`quick_sliders.echo`)."""
    quick_sliders.echo(QUICK)


def current_do(specs: dict[str, VarSpec], factual: dict[str, float]) -> dict[str, float]:
    """`do` as the boxes and quick sliders set it, read from the session, drawing nothing."""
    return ticked(PAGE, specs, factual)


def quick_controls(specs: dict[str, VarSpec], factual: dict[str, float], do: dict[str, float],
                   sweeps: dict[str, ConceptSweep], result: LabResult, edges: set[tuple[str, str]],
                   learned: Dag) -> None:
    """The concepts' quick sliders, with the model's what-if scene and the concepts it was drawn from (as the
    model reads the scene -> under the what-if), swapped in the browser while a slider moves, and with them the
    answer panel's parts; a move reruns the answer's fragment (`moved`)."""
    view = QuickView(scene_uri(result.generated), "The model's what-if, redrawn while you move a slider",
                     [specs[n].label for n in VARIABLES],
                     [fmt(specs[n], result.encoded[n], unit=True) for n in VARIABLES],
                     _readings(specs, result.cf), size=2 * SCENE)
    graph = Dag(VARIABLES, frozenset(edges))  # the edited graph
    draw(QUICK, specs, factual, do, {n: encoded(s, specs, result, graph, learned) for n, s in sweeps.items()},
         view, WORDS, then=moved)


def answer(lab: LabService, index: int, do: dict[str, float], edges: set[tuple[str, str]]) -> LabResult:
    """`lab.what_if`, once per scene, do() and graph in a session: the fragments a move reruns each show a part of
    the same answer, and the first to run asks for it. Raises what `what_if` raises (a cycle, an unknown name)."""
    key = (index, tuple(sorted(do.items())), tuple(sorted(edges)))
    kept = st.session_state.get(_ANSWER)
    if kept is not None and kept[0] == key:
        return kept[1]
    result = lab.what_if(index, do, edges)  # abduction -> action -> prediction, in the edited graph
    st.session_state[_ANSWER] = (key, result)
    return result


# --- the edge editor ----------------------------------------------------------------------------------
def edge_key(parent: str, child: str) -> str:
    """The checkbox key of the arrow parent -> child."""
    return f"edge_{parent}__{child}"


def _pairs() -> list[tuple[str, str]]:
    return [(p, c) for p in VARIABLES for c in VARIABLES if p != c]


def _set_edges(edges: set[tuple[str, str]] | frozenset[tuple[str, str]]) -> None:
    for p, c in _pairs():
        st.session_state[edge_key(p, c)] = (p, c) in edges


def _toggled(parent: str, child: str) -> None:
    """Refuses a toggle that would close a cycle: the box goes back and the page says why."""
    try:
        Dag(VARIABLES, frozenset(current_edges()))
        st.session_state.pop(_CYCLE, None)
        st.session_state[_CHANGED] = True
    except CycleError as err:
        st.session_state[edge_key(parent, child)] = False
        st.session_state[_CYCLE] = (f"**{parent} → {child} was not added: {err}.** A causal graph cannot "
                                    f"have a cycle (a cause cannot, through its effects, cause itself). "
                                    f"Remove another arrow first.")


def current_edges() -> set[tuple[str, str]]:
    """The arrows switched on in the editor."""
    return {(p, c) for p, c in _pairs() if st.session_state.get(edge_key(p, c))}


def _reset_graph(graph: Dag) -> None:
    _set_edges(graph.edges)
    st.session_state.pop(_CYCLE, None)
    st.session_state[_CHANGED] = True


def edge_editor(learned: Dag) -> None:
    """A checkbox per possible arrow (one column per cause), starting from the learned graph.

    Runs as its own fragment (see the page), outside the what-if's: a slider move then does not redraw
    these 12 boxes, which took a fifth of the slider's server time. A toggle, rarer, reruns the whole page
    so the what-if reads the new arrows.
    """
    for p, c in _pairs():
        st.session_state.setdefault(edge_key(p, c), (p, c) in learned.edges)
    st.caption("**Arrows** *cause → effect* (● = learned by the model): untick a learned arrow to **cut** it; "
               "the effect then keeps the value it had in this scene, whatever happens to the cause.")
    for col, p in zip(st.columns(len(VARIABLES)), VARIABLES):
        with col:
            st.markdown(f"**{p.replace('_', ' ')}** →")
            for c in [c for c in VARIABLES if c != p]:
                mark = " ●" if (p, c) in learned.edges else ""
                st.checkbox(f"{c.replace('_', ' ')}{mark}", key=edge_key(p, c), on_change=_toggled, args=(p, c),
                            help=f"the arrow {p} → {c}")
    st.button("Reset arrows to the learned graph", key="lab_reset_graph", on_click=_reset_graph, args=(learned,))
    if _CYCLE in st.session_state:
        st.error(st.session_state[_CYCLE])
    if st.session_state.pop(_CHANGED, False):
        st.rerun(scope="app")  # the what-if fragment reads the arrows: redraw it too


# --- the export's settings ------------------------------------------------------------------------------
def export_controls(view: LabPage) -> ExportAsk | None:
    """The arrows to cut, N, the seed and the button; returns what was asked when the button was pressed."""
    learned = sorted(view.learned.edges)
    names = {e: f"{e[0]} → {e[1]}".replace("_", " ") for e in learned}
    # Defaults go through session state, not the widgets' own defaults: Streamlit drops these keys when another
    # page runs, and a widget given both a default and a state value warns on the page. So the visitor's last
    # settings (kept below) win, then the defaults.
    kept = st.session_state.get(_EXPORT_KEPT, {})
    defaults = {"export_cuts": view.default_cuts, "export_n": 1000, "export_seed": 0}
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = kept.get(key, value)
    st.session_state["export_cuts"] = [e for e in st.session_state["export_cuts"] if e in learned]
    with st.container(border=True):
        cuts = st.multiselect("Arrows to cut in the exported dataset", learned, format_func=names.get,
                              key="export_cuts",
                              help="For the export only: the arrows cut in section 2 change the what-if above, "
                                   "not this dataset.")
        a, b = st.columns(2)
        n = a.number_input("Number of samples N", 10, 20_000, step=100, key="export_n")
        seed = b.number_input("Seed", 0, 2 ** 31 - 1, step=1, key="export_seed")
        go = export_button("Generate the de-biased dataset", "export_go", _EXPORT_ASKED)
    st.session_state[_EXPORT_KEPT] = {k: st.session_state[k] for k in defaults}
    return export_asked(go, _EXPORT_ASKED, cuts, n, seed)


class ExportProgress:
    """The export's progress bar: "Generating…" with the share done, then "Packing the zip…"."""

    def __init__(self) -> None:
        self.bar = st.progress(0.0, text="Generating…")

    def __call__(self, done: float) -> None:
        """Called by the service with the share of scenes drawn; the zip is packed after the last."""
        self.bar.progress(min(1.0, done), text="Packing the zip…" if done >= 1.0 else f"Generating… {done:.0%}")

    def close(self) -> None:
        """Removes the bar once the export is done (or failed)."""
        self.bar.empty()


def keep_export(export: LabExport) -> None:
    """Keeps the export for the fragment's later runs (its download button must outlive the click)."""
    st.session_state[_EXPORT] = export


def kept_export() -> LabExport | None:
    """The last export of this session, if any."""
    return st.session_state.get(_EXPORT)
