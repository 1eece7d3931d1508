"""The Causal graph lab's results, drawn from what the page's service calls return: the answer panel (scenes,
error, values table), the edited graph, the learned and true adjacency, and the de-biased export's outcome.

Widget keys: `lab_answer` (the answer panel), `lab_chart_graph`, `lab_adj_learned`, `lab_adj_true`, `corr_before`,
`corr_after`, `export_download`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.counterfactual.debias import ExportResult
from explorer.scm.graph import Dag
from explorer.scm.pendulum import VARIABLES
from explorer.services.lab import LabExport, LabPage, LabResult, follows
from explorer.types import VarSpec
from explorer.ui import answer_panel, lab_answer
from explorer.ui.graph_lab import QUICK
from explorer.ui.charts import fast_figure
from explorer.ui.common.format import fmt
from explorer.ui.svg_charts import lab_graph_svg

STATIC = {"displayModeBar": False, "staticPlot": True}
POS = {"pendulum": (0.0, 1.0), "light": (0.0, -1.0), "shadow_length": (1.0, 1.0), "shadow_position": (1.0, -1.0)}
SHORT = {"pendulum": "pendulum", "light": "light", "shadow_length": "shadow\nlength",
         "shadow_position": "shadow\nposition"}
_POSITIONS = tuple((n, POS[n]) for n in VARIABLES)  # hashable: the graph picture is cached on them
_LABELS = tuple((n, SHORT[n]) for n in VARIABLES)


_GRAPH_CSS = """<style>
.st-key-lab_chart_graph [data-testid=stImageContainer], .st-key-lab_chart_graph img {
  max-width: 100% !important; height: auto !important}
</style>"""
ANSWER = "lab_answer"  # the answer panel's key


def answer(result: LabResult, specs: dict[str, VarSpec]) -> None:
    """The answer panel (explorer/ui/answer_panel.py): a note on added arrows that do nothing; the real scene, the
    model's what-if and the true what-if side by side; the model's pixel error; the table of the scene's values
    (true, as the model reads them, under the what-if: model and truth). Redrawn from the quick slider's sweep
    while a slider moves (`lab_answer.swept`)."""
    # The scenes go at their own 64 px, scaled up by the browser (up to 200 px each, three in a row that shares
    # the column's width, also on a phone); the table scrolls sideways inside its box on a phone.
    answer_panel.mount(ANSWER, lab_answer.answer(result, specs), {}, follow=QUICK, look="scenes", whole=True)


def clamp_notes(result: LabResult, specs: dict[str, VarSpec]) -> None:
    """Says which values were clamped (a shared link can ask for any value)."""
    for name in result.clamped:
        st.warning(f"{specs[name].label} was outside its range and was clamped to "
                   f"{fmt(specs[name], result.cf[name], unit=True)}.")


def causal_graph(edges: set[tuple[str, str]], learned: Dag, do: dict[str, float]) -> None:
    """The edited graph, with what was set and what follows coloured (the arrows both the model learned and the
    edited graph keeps carry a change, as in `LabService.what_if`)."""
    # An SVG picture drawn once per (edited graph, ticked boxes), not a Plotly chart; outside the answer's fragment,
    # so a slider move that ticks nothing does not send it again
    downstream = follows(learned, edges, do)
    st.html(_GRAPH_CSS)  # style only: Streamlit puts it in the event container, it takes no space
    with st.container(key="lab_chart_graph"):
        st.image(lab_graph_svg(_POSITIONS, _LABELS, frozenset(edges), learned, tuple(sorted(do)),
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
