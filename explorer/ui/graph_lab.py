"""Streamlit pieces of the Causal graph lab page: the cached lab, the edge editor, pictures, tables, charts.

Widget keys (tests and links address them): `lab_index`, `lab_random`, `edge_<parent>__<child>`,
`lab_reset_graph`, `do_<concept>` / `value_<concept>` (from `intervention_controls`), `export_cuts`,
`export_n`, `export_seed`, `export_go`, `export_download`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.checkpoints import CheckpointError
from explorer.device import pick_device
from explorer.services.lab import REBUILD, LabResult, LabService
from explorer.scm.graph import CycleError, Dag
from explorer.scm.pendulum import VARIABLES
from explorer.types import VarSpec
from explorer.ui.charts import fast_figure
from explorer.ui.images import png
from explorer.ui.widgets import decimals, fmt

SIZE = 128  # 64 px scenes shown at 2x: three fit side by side next to the graph and the controls
_CYCLE = "_lab_cycle_message"
_CHANGED = "_lab_edges_changed"
_EXPORT = "_lab_export"
_KEPT = "_lab_kept"  # the scene, arrows and do() settings, put back when the visitor returns from another page
_EXPORT_KEPT = "_lab_export_kept"  # the export's arrows, N and seed, likewise
POS = {"pendulum": (0.0, 1.0), "light": (0.0, -1.0), "shadow_length": (1.0, 1.0), "shadow_position": (1.0, -1.0)}
SHORT = {"pendulum": "pendulum", "light": "light", "shadow_length": "shadow<br>length",
         "shadow_position": "shadow<br>position"}


@st.cache_resource(show_spinner="Loading the causal-layer VAE and 500 pendulum scenes (once per server)…")
def shared_lab() -> LabService:
    # one per server process, read-only: what_if() and export() are pure in their arguments
    return LabService(pick_device())


def load_lab() -> LabService:
    """The shared lab; on failure a clear message with the command that fixes it, then the page stops."""
    try:
        return shared_lab()
    except CheckpointError as err:
        st.error(f"**The pendulum model could not be loaded.**\n\n{err}\n\n"
                 f"Run this in the project folder, then reload the page:\n\n```\n{REBUILD}\n```")
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        st.error(f"**The pendulum model could not be loaded** ({type(err).__name__}: {err}).\n\n"
                 f"Rebuild it, then reload the page:\n\n```\n{REBUILD}\n```")
    st.stop()


# --- coming back from another page -----------------------------------------------------------------------
def restore_state() -> None:
    """Puts back the scene, arrows and do() settings the visitor left (Streamlit drops a page's widget state
    when another page runs). Call before the widgets are drawn."""
    if "lab_index" not in st.session_state and _KEPT in st.session_state:
        for key, value in st.session_state[_KEPT].items():
            st.session_state[key] = value


def _keep_state() -> None:
    # Called from the what-if fragment: it runs on slider moves (fragment reruns) and on every full rerun
    # (a new scene, an arrow toggled), so the copy is never older than what the visitor sees.
    st.session_state[_KEPT] = {k: st.session_state[k] for k in list(st.session_state)
                               if k == "lab_index" or k.startswith(("edge_", "do_", "value_"))}


# --- picking a scene ----------------------------------------------------------------------------------
def _random_scene(n: int) -> None:
    st.session_state["lab_index"] = int(np.random.default_rng().integers(n))


def scene_picker(lab: LabService) -> int:
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    index = left.number_input(f"Scene number (0–{len(lab) - 1})", 0, len(lab) - 1, step=1, key="lab_index",
                              help="Each number is one real scene from the simulator's test draws.")
    right.button("Random scene", key="lab_random", icon=":material/casino:", on_click=_random_scene,
                 args=(len(lab),))
    return int(index)


# --- do() controls -------------------------------------------------------------------------------------
def _set_do(name: str) -> None:
    st.session_state[f"do_{name}"] = True  # moving a slider means "set this": tick its box


def _unticked(name: str, factual: float) -> None:
    if not st.session_state.get(f"do_{name}"):
        st.session_state[f"value_{name}"] = factual  # an unticked slider shows the scene's own value


def concept_controls(specs: dict[str, VarSpec], factual: dict[str, float], index: int) -> dict[str, float]:
    """Per concept a do() checkbox and a slider (keys `do_<name>`, `value_<name>`); returns `do`.

    Same behaviour as the image page's controls, worded for scenes: unticked sliders follow the chosen
    scene, moving a slider ticks its box, the value is used as the slider shows it.
    """
    # A few real scenes lie just outside a slider's range (13 of 500 have shadows shorter than 2.5 units): the
    # slider shows the nearest value it can, its label the scene's own, as the image page does.
    shown = {n: float(s.clamp(factual[n])[0]) for n, s in specs.items()}
    if st.session_state.get("_lab_synced") != index:
        for name in specs:
            if not st.session_state.get(f"do_{name}") or f"value_{name}" not in st.session_state:
                st.session_state[f"value_{name}"] = shown[name]
        st.session_state["_lab_synced"] = index
    do = {}
    for name, spec in specs.items():
        ticked = st.checkbox(f"**do({name})**", key=f"do_{name}", on_change=_unticked, args=(name, shown[name]),
                             help=f"Ticked: {spec.label} is set to the slider's value, whatever its causes say.")
        value = st.slider(f"{spec.label} (this scene: {fmt(spec, factual[name], unit=True)})", spec.low, spec.high,
                          step=spec.step, key=f"value_{name}", format=f"%.{decimals(spec)}f", on_change=_set_do,
                          args=(name,))
        if ticked:
            do[name] = round(float(value), decimals(spec))  # as shown: keyboard steps accumulate float error
    _keep_state()
    return do


# --- the edge editor ----------------------------------------------------------------------------------
def edge_key(parent: str, child: str) -> str:
    return f"edge_{parent}__{child}"


def _toggled(parent: str, child: str) -> None:
    """Refuses a toggle that would close a cycle: the box goes back and the page says why."""
    edges = current_edges()
    try:
        Dag(VARIABLES, frozenset(edges))
        st.session_state.pop(_CYCLE, None)
        st.session_state[_CHANGED] = True
    except CycleError as err:
        st.session_state[edge_key(parent, child)] = False
        st.session_state[_CYCLE] = (f"**{parent} → {child} was not added: {err}.** A causal graph cannot "
                                    f"have a cycle (a cause cannot, through its effects, cause itself). "
                                    f"Remove another arrow first.")


def current_edges() -> set[tuple[str, str]]:
    return {(p, c) for p in VARIABLES for c in VARIABLES if p != c and st.session_state.get(edge_key(p, c))}


def _reset_graph(graph: Dag) -> None:
    for p in VARIABLES:
        for c in VARIABLES:
            if p != c:
                st.session_state[edge_key(p, c)] = (p, c) in graph.edges
    st.session_state.pop(_CYCLE, None)
    st.session_state[_CHANGED] = True


def edge_editor(learned: Dag) -> None:
    """A checkbox per possible arrow (one column per cause), starting from the learned graph.

    Runs as its own fragment (see the page), outside the what-if's: a slider move then does not redraw
    these 12 boxes, which took a fifth of the slider's server time. A toggle, rarer, reruns the whole page
    so the what-if reads the new arrows.
    """
    for p in VARIABLES:
        for c in VARIABLES:
            if p != c:
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


# --- results ------------------------------------------------------------------------------------------
def _png(img: np.ndarray) -> bytes:
    return png(img.transpose(2, 0, 1).astype(np.float32), SIZE)  # (64, 64, 3) uint8 -> PNG at 3x


_PICTURES_CSS = """<style>
.st-key-lab_pictures [data-testid=stImage] {flex-wrap: nowrap; gap: 0.5rem}
.st-key-lab_pictures [data-testid=stImageContainer] {flex: 1 1 0; min-width: 0; max-width: 200px}
.st-key-lab_pictures [data-testid=stImageContainer] > img,
.st-key-lab_pictures [data-testid=stImageCaption] {width: 100% !important}
.st-key-lab_pictures [data-testid=stImageContainer] > img {border: 1px solid #c9cfd6; border-radius: 2px}
</style>"""


def pictures(result: LabResult) -> None:
    # one element holding three pictures, not three columns of one: every element a slider move redraws
    # costs the browser a re-render. The CSS keeps the three in one row that shares the column's width (about
    # 140 px each on a laptop, 110 px on a phone) instead of a fixed 128 px that wrapped on a phone; drawn at
    # 4x, so shrinking stays sharp. The thin frame shows the scene's edge: the sun sits on the top edge of the
    # simulator's 64 px frame, half outside it, as in CausalVAE's pendulum data; nothing is cropped here.
    st.html(_PICTURES_CSS)  # style only: Streamlit puts it in the event container, it takes no space
    big = [png(img.transpose(2, 0, 1).astype(np.float32), 4 * img.shape[0])
           for img in (result.original, result.generated, result.true_image)]
    with st.container(key="lab_pictures"):
        st.image(big, width=SIZE, output_format="PNG",
                 caption=[f"Original: scene #{result.index}", "What if: drawn by the model",
                          "What if: the true answer (the simulator)"])
    st.caption(f"Pixel error of the model's answer against the true one: **MSE {result.mse:.4f}** "
               f"(pixels in 0–1; 0 is a perfect match).")


_TABLE_CSS = """<style>
.st-key-lab_values [data-testid=stMarkdownContainer] {overflow-x: auto; -webkit-overflow-scrolling: touch}
.st-key-lab_values table {font-size: 0.875rem; min-width: 24rem; margin-bottom: 0.25rem}
.st-key-lab_values th, .st-key-lab_values td {padding: 0.3rem 0.45rem}
@media (max-width: 640px) {
  .st-key-lab_values table {min-width: 28rem}
  .st-key-lab_values::after {content: "Swipe the table sideways to see every column →"; font-size: 0.8rem;
                             color: #808495; margin-top: -0.5rem}
}
</style>"""


def values_table(result: LabResult, specs: dict[str, VarSpec]) -> None:
    """The scene's values: true, as the model reads them, and under the what-if (model and truth)."""
    cut_children, downstream = {c for _, c in result.cut}, set(result.downstream)

    def mark(name: str) -> str:
        if name in result.intervened:
            return " (set by you)"
        if name in cut_children and name not in downstream:
            return " (cut: keeps its value)"
        return " (follows)" if name in downstream else ""

    rows = [("**This scene**: true value", result.obs, False), ("**Model reads** (abduction)", result.encoded, False),
            ("**What if**: the model", result.cf, True), ("**What if**: true value", result.true_cf, True)]
    lines = ["| | " + " | ".join(specs[n].label for n in VARIABLES) + " |", "|---" * (len(VARIABLES) + 1) + "|"]
    for label, vals, marked in rows:
        cells = [fmt(specs[n], vals[n], unit=True) + (mark(n) if marked else "") for n in VARIABLES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    # Wider than a phone (390 px): the table scrolls sideways inside its own box instead of running off the
    # page's edge, where its last column could not be reached (on a phone it is laid out a little wider than the
    # screen, so its cells wrap less). A smaller font keeps it within a laptop's column.
    st.html(_TABLE_CSS)  # style only: Streamlit puts it in the event container, it takes no space
    with st.container(key="lab_values"):
        st.markdown("\n".join(lines))


def notes(result: LabResult, specs: dict[str, VarSpec]) -> None:
    for name in result.clamped:
        st.warning(f"{specs[name].label} was outside its range and was clamped to "
                   f"{fmt(specs[name], result.cf[name], unit=True)}.")
    if result.inert:
        arrows = ", ".join(f"{p} → {c}" for p, c in result.inert)
        st.info(f"**{arrows}: no effect.** Neither the physics nor the model has this arrow, so neither world "
                f"has a mechanism that reads it.")


def graph_spec(edges: set[tuple[str, str]], learned: Dag, intervened: list[str], downstream: list[str]) -> dict:
    """The edited graph as a plotly dict: live arrows dark, cut ones (learned but removed) faded with a ✂."""
    annotations = []
    for p, c in sorted(set(edges) | set(learned.edges)):
        (x0, y0), (x1, y1) = POS[p], POS[c]
        cut, dead = (p, c) not in edges, c in intervened  # do(c) replaces c's mechanism: its arrows are idle
        colour = "#d5d9de" if cut or dead else "#5b6670"
        annotations.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
                            "ayref": "y", "text": "", "showarrow": True, "arrowhead": 3, "arrowsize": 1.3,
                            "arrowwidth": 2, "standoff": 36, "startstandoff": 36, "arrowcolor": colour})
        if cut:
            annotations.append({"x": (x0 + x1) / 2, "y": (y0 + y1) / 2, "xref": "x", "yref": "y",
                                "text": "✂ cut", "showarrow": False, "font": {"size": 12, "color": "#9aa5b1"}})
    role = {n: "#f28e2b" if n in intervened else "#4e79a7" if n in downstream else "#d9dde3" for n in VARIABLES}
    data = [{"type": "scatter", "mode": "markers+text", "x": [POS[n][0] for n in VARIABLES],
             "y": [POS[n][1] for n in VARIABLES], "text": [f"<b>{SHORT[n]}</b>" for n in VARIABLES],
             "textposition": "middle center", "hoverinfo": "skip", "showlegend": False,
             "textfont": {"size": 11, "color": ["#ffffff" if role[n] == "#4e79a7" else "#111111" for n in VARIABLES]},
             "marker": {"size": 78, "color": [role[n] for n in VARIABLES], "line": {"width": 2, "color": "#5b6670"}}}]
    axis = {"visible": False, "fixedrange": True}
    return {"data": data, "layout": {"height": 300, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                                     "annotations": annotations, "xaxis": {**axis, "range": [-0.45, 1.45]},
                                     "yaxis": {**axis, "range": [-1.6, 1.6]}, "plot_bgcolor": "rgba(0,0,0,0)"}}


def causal_graph(edges: set[tuple[str, str]], learned: Dag, intervened: list[str], downstream: list[str]) -> None:
    st.plotly_chart(fast_figure(graph_spec(edges, learned, intervened, downstream)), key="lab_graph",
                    config={"displayModeBar": False, "staticPlot": True})
    st.caption("Orange: set by you. Blue: changes as a consequence. Faded arrows are cut, or idle because "
               "do() replaced their effect's mechanism.")


# Pale for nothing, dark for a sure arrow (Plotly's own "Blues" runs the other way); correlations diverge from
# white at 0 to blue (-1) and red (+1).
SHADES = [[0.0, "#f7fbff"], [0.5, "#6baed6"], [1.0, "#08306b"]]
DIVERGING = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#b2182b"]]


def matrix_spec(m: np.ndarray, title: str, zmin: float = 0.0, zmax: float = 1.0, colours: list | None = None) -> dict:
    """A labelled heatmap of a (d, d) matrix (rows: cause / first concept), values written in the cells."""
    labels = [n.replace("_", " ") for n in VARIABLES]
    return {"data": [{"type": "heatmap", "z": m.tolist(), "x": labels, "y": labels, "zmin": zmin, "zmax": zmax,
                      "colorscale": colours or SHADES, "showscale": True,
                      "colorbar": {"thickness": 10, "len": 0.8, "tickvals": [zmin, (zmin + zmax) / 2, zmax]},
                      "text": [[f"{v:.2f}" for v in row] for row in m],
                      "texttemplate": "%{text}", "hoverinfo": "skip"}],
            "layout": {"title": {"text": title, "font": {"size": 14}}, "height": 320,
                       "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
                       "yaxis": {"autorange": "reversed", "fixedrange": True}, "xaxis": {"fixedrange": True}}}


def adjacency(lab: LabService) -> None:
    """Learned edge probabilities next to the true graph."""
    truth = np.array([[float((p, c) in lab.true_graph.edges) for c in VARIABLES] for p in VARIABLES])
    left, right = st.columns(2)
    left.plotly_chart(fast_figure(matrix_spec(lab.edge_probabilities(), "Learned: how sure of row → column")),
                      key="lab_adj_learned", config={"displayModeBar": False, "staticPlot": True})
    right.plotly_chart(fast_figure(matrix_spec(truth, "True: the physics (1 = arrow)")), key="lab_adj_true",
                       config={"displayModeBar": False, "staticPlot": True})
    mode = lab.card.get("graph_mode", "?")
    st.caption(f"Graph mode **{mode}**: " + {
        "partial": "nothing may cause the pendulum or the light (the experimenter sets them: those entries are "
                   "fixed at 0); every other arrow was learned from the data, with a sparsity penalty "
                   "(fewer arrows preferred) and an acyclicity penalty (which keeps the graph free of cycles), "
                   "then kept where the model was more than 50 % sure of it.",
        "learned": "every arrow was learned from the data.",
        "fixed": "the true graph was given, nothing was learned."}.get(mode, ""))


# --- export -------------------------------------------------------------------------------------------
def export_message(result) -> str:
    """The export's outcome in words: how many scenes, and what each cut did to its correlation."""
    lines = [f"**Exported {result.n:,} scenes** (seed {result.seed}, {result.seconds:.1f} s)."]
    for p, c in result.cuts:
        i, j = VARIABLES.index(p), VARIABLES.index(c)
        lines.append(f"- Cut **{p.replace('_', ' ')} → {c.replace('_', ' ')}**: correlation "
                     f"{result.corr_before[i, j]:+.3f} in the real scenes, {result.corr_after[i, j]:+.3f} in the "
                     "export.")
    return "\n".join(lines)


def export_section(lab: LabService) -> None:
    from explorer.counterfactual.debias import DEFAULT_CUT, ExportError, to_zip

    learned = sorted(lab.learned_graph.edges)
    names = {e: f"{e[0]} → {e[1]}".replace("_", " ") for e in learned}
    # Defaults go through session state, not the widgets' own defaults: Streamlit drops these keys when another
    # page runs, and a widget given both a default and a state value warns on the page. So the visitor's last
    # settings (kept below) win, then the defaults.
    kept = st.session_state.get(_EXPORT_KEPT, {})
    defaults = {"export_cuts": [DEFAULT_CUT] if DEFAULT_CUT in learned else learned[:1], "export_n": 1000,
                "export_seed": 0}
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
        # the click is also recorded by a callback: the button's one-run True was lost in AppTest runs of
        # this fragment, the session flag is not
        go = st.button("Generate the de-biased dataset", key="export_go", icon=":material/dataset:",
                       on_click=st.session_state.__setitem__, args=("_export_asked", True))
    st.session_state[_EXPORT_KEPT] = {k: st.session_state[k] for k in defaults}
    if go or st.session_state.pop("_export_asked", False):
        if not cuts:
            st.warning("Choose at least one arrow to cut: without a cut the export would copy the bias.")
            return
        bar = st.progress(0.0, text="Generating…")
        try:
            result = lab.export(list(cuts), int(n), int(seed),
                                progress=lambda f: bar.progress(min(1.0, f), text=f"Generating… {f:.0%}"))
        except ExportError as err:
            st.error(str(err))
            return
        bar.progress(1.0, text="Packing the zip…")
        st.session_state[_EXPORT] = (result, to_zip(result))
        bar.empty()
    if _EXPORT in st.session_state:
        result, data = st.session_state[_EXPORT]
        st.success(export_message(result))
        left, right = st.columns(2)
        left.plotly_chart(fast_figure(matrix_spec(result.corr_before, "Correlation before (real scenes)", -1, 1,
                                                  DIVERGING)), key="corr_before",
                          config={"displayModeBar": False, "staticPlot": True})
        right.plotly_chart(fast_figure(matrix_spec(result.corr_after, "Correlation after (exported)", -1, 1,
                                                   DIVERGING)), key="corr_after",
                           config={"displayModeBar": False, "staticPlot": True})
        st.download_button(f"Download {result.n} images + labels.csv (zip, {len(data) / 1e6:.1f} MB)", data,
                           file_name=f"pendulum_debiased_n{result.n}_seed{result.seed}.zip",
                           mime="application/zip", key="export_download", icon=":material/download:")
