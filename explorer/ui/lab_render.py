"""The Causal graph lab's results, drawn from what the page's service calls return: the pictures, the values
table, the edited graph, the learned and true adjacency, and the de-biased export's outcome.

Widget keys: `lab_graph`, `lab_adj_learned`, `lab_adj_true`, `corr_before`, `corr_after`, `export_download`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.counterfactual.debias import ExportResult
from explorer.scm.graph import Dag
from explorer.scm.pendulum import VARIABLES
from explorer.services.lab import LabExport, LabPage, LabResult
from explorer.types import VarSpec
from explorer.ui.charts import fast_figure
from explorer.ui.common.format import fmt
from explorer.ui.images import png_uri
from explorer.ui.svg_charts import lab_graph_svg

SIZE = 128  # 64 px scenes shown at 2x: three fit side by side next to the graph and the controls
STATIC = {"displayModeBar": False, "staticPlot": True}
POS = {"pendulum": (0.0, 1.0), "light": (0.0, -1.0), "shadow_length": (1.0, 1.0), "shadow_position": (1.0, -1.0)}
SHORT = {"pendulum": "pendulum", "light": "light", "shadow_length": "shadow\nlength",
         "shadow_position": "shadow\nposition"}
_POSITIONS = tuple((n, POS[n]) for n in VARIABLES)  # hashable: the graph picture is cached on them
_LABELS = tuple((n, SHORT[n]) for n in VARIABLES)


_PICTURES_CSS = """<style>
.st-key-lab_pictures [data-testid=stImage] {flex-wrap: nowrap; gap: 0.5rem}
.st-key-lab_pictures [data-testid=stImageContainer] {flex: 1 1 0; min-width: 0; max-width: 200px}
.st-key-lab_pictures [data-testid=stImageContainer] > img,
.st-key-lab_pictures [data-testid=stImageCaption] {width: 100% !important}
.st-key-lab_pictures [data-testid=stImageContainer] > img {border: 1px solid #c9cfd6; border-radius: 2px}
.st-key-lab_chart_graph [data-testid=stImageContainer], .st-key-lab_chart_graph img {
  max-width: 100% !important; height: auto !important}
</style>"""


def pictures(result: LabResult) -> None:
    """The real scene, the model's what-if and the true what-if side by side, and the model's pixel error."""
    # one element holding three pictures, not three columns of one: every element a slider move redraws
    # costs the browser a re-render. The CSS keeps the three in one row that shares the column's width (about
    # 140 px each on a laptop, 110 px on a phone) instead of a fixed 128 px that wrapped on a phone; drawn at
    # 4x, so shrinking stays sharp. The thin frame shows the scene's edge: the sun sits on the top edge of the
    # simulator's 64 px frame, half outside it, as in CausalVAE's pendulum data; nothing is cropped here.
    # As data: URIs: given bytes, Streamlit shrank the 256 px pictures to `width` on the server (bilinear, blurring
    # the 4x drawing) and the browser fetched each back (explorer/ui/images.py, `uri`).
    st.html(_PICTURES_CSS)  # style only: Streamlit puts it in the event container, it takes no space
    big = [png_uri(img.transpose(2, 0, 1).astype(np.float32), 4 * img.shape[0])
           for img in (result.original, result.generated, result.true_image)]
    with st.container(key="lab_pictures"):
        st.image(big, width=SIZE,
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
    """Says which values were clamped, and which added arrows do nothing."""
    for name in result.clamped:
        st.warning(f"{specs[name].label} was outside its range and was clamped to "
                   f"{fmt(specs[name], result.cf[name], unit=True)}.")
    if result.inert:
        arrows = ", ".join(f"{p} → {c}" for p, c in result.inert)
        st.info(f"**{arrows}: no effect.** Neither the physics nor the model has this arrow, so neither world "
                f"has a mechanism that reads it.")


def causal_graph(edges: set[tuple[str, str]], learned: Dag, intervened: list[str], downstream: list[str]) -> None:
    """The edited graph, with what was set and what follows coloured."""
    # An SVG picture drawn once per (edited graph, ticked boxes), not a Plotly chart: it is redrawn on every slider
    # move (explorer/ui/svg_charts.py says why)
    with st.container(key="lab_chart_graph"):
        st.image(lab_graph_svg(_POSITIONS, _LABELS, frozenset(edges), learned, tuple(sorted(intervened)),
                               tuple(sorted(downstream))), width=300)
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


def adjacency(view: LabPage) -> None:
    """Learned edge probabilities next to the true graph."""
    truth = np.array([[float((p, c) in view.truth.edges) for c in VARIABLES] for p in VARIABLES])
    left, right = st.columns(2)
    left.plotly_chart(fast_figure(matrix_spec(view.edge_probabilities, "Learned: how sure of row → column")),
                      key="lab_adj_learned", config=STATIC)
    right.plotly_chart(fast_figure(matrix_spec(truth, "True: the physics (1 = arrow)")), key="lab_adj_true",
                       config=STATIC)
    mode = view.graph_mode
    st.caption(f"Graph mode **{mode}**: " + {
        "partial": "nothing may cause the pendulum or the light (the experimenter sets them: those entries are "
                   "fixed at 0); every other arrow was learned from the data, with a sparsity penalty "
                   "(fewer arrows preferred) and an acyclicity penalty (which keeps the graph free of cycles), "
                   "then kept where the model was more than 50 % sure of it.",
        "learned": "every arrow was learned from the data.",
        "fixed": "the true graph was given, nothing was learned."}.get(mode, ""))


# --- the export's outcome -------------------------------------------------------------------------------
def export_message(result: ExportResult) -> str:
    """The export's outcome in words: how many scenes, and what each cut did to its correlation."""
    lines = [f"**Exported {result.n:,} scenes** (seed {result.seed}, {result.seconds:.1f} s)."]
    for p, c in result.cuts:
        i, j = VARIABLES.index(p), VARIABLES.index(c)
        lines.append(f"- Cut **{p.replace('_', ' ')} → {c.replace('_', ' ')}**: correlation "
                     f"{result.corr_before[i, j]:+.3f} in the real scenes, {result.corr_after[i, j]:+.3f} in the "
                     "export.")
    return "\n".join(lines)


def export_view(export: LabExport) -> None:
    """The export's outcome: what each cut did to its correlation, both correlation matrices, the zip."""
    result, data = export.result, export.data
    st.success(export_message(result))
    left, right = st.columns(2)
    left.plotly_chart(fast_figure(matrix_spec(result.corr_before, "Correlation before (real scenes)", -1, 1,
                                              DIVERGING)), key="corr_before", config=STATIC)
    right.plotly_chart(fast_figure(matrix_spec(result.corr_after, "Correlation after (exported)", -1, 1,
                                               DIVERGING)), key="corr_after", config=STATIC)
    st.download_button(f"Download {result.n} images + labels.csv (zip, {len(data) / 1e6:.1f} MB)", data,
                       file_name=f"pendulum_debiased_n{result.n}_seed{result.seed}.zip",
                       mime="application/zip", key="export_download", icon=":material/download:")
