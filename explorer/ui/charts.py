"""Plotly figures: class probabilities before/after, and the causal graph with the intervention marked.

Figures are built as plain dicts and wrapped without plotly's per-property validation: validating
costs 60-80 ms per slider move on a 2-core machine, more than the model itself should take. The
tests validate the same dicts with `go.Figure(d)`, so a typo still fails loudly there.
No Streamlit here: the page only passes the result to `st.plotly_chart`.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.scm.graph import Dag

ORIGINAL_COLOUR = "#9aa5b1"
CF_COLOUR = "#f28e2b"
FLIP_COLOUR = "#d62728"
ROLE_STYLE = {  # role -> (legend text, fill colour, text colour)
    "intervened": ("set by you: do(...)", "#f28e2b", "#111111"),
    "downstream": ("changes as a consequence", "#4e79a7", "#ffffff"),
    "unaffected": ("unchanged", "#d9dde3", "#111111"),
}
CLASSES = [str(d) for d in range(10)]


def fast_figure(spec: dict) -> go.Figure:
    """A Figure from an already-correct dict, skipping validation (see the module docstring)."""
    return go.Figure(spec, _validate=False)


def flip_text(orig: np.ndarray, cf: np.ndarray) -> str:
    """'prediction flips 7 → 1' or 'prediction stays 7' for one classifier's two probability vectors."""
    a, b = int(np.argmax(orig)), int(np.argmax(cf))
    return f"prediction flips {a} → {b}" if a != b else f"prediction stays {a}"


# The probability panels are stacked, one classifier per row, each row full width: side by side, three
# panels got ~100 px each on a phone (390 px), where their titles ran into each other and the digit axis
# lost every other tick. Stacked, every row keeps all ten digits and a two-line title at any width.
# Sizes in pixels; the figure's height follows from them, so rows keep their size whatever the count.
ROW_PX = 90  # one panel's plot area
TITLE_PX = 42  # a two-line panel title (classifier, then the verdict) above each panel
TICKS_PX = 30  # the digit labels under each panel, and some air before the next title
BOTTOM_PX = 80  # under the last panel: its digit labels, the axis title and the legend


def _rows_layout(n: int) -> dict:
    """Layout of n probability panels stacked in rows (x: digit, y: probability), without titles."""
    gap = TICKS_PX + TITLE_PX
    plot = n * ROW_PX + (n - 1) * gap  # the plot area's height, to turn pixels into paper fractions
    layout = {"barmode": "group", "height": plot + TITLE_PX + 4 + BOTTOM_PX, "bargap": 0.3,
              "margin": {"l": 10, "r": 10, "t": TITLE_PX + 4, "b": BOTTOM_PX},
              "legend": {"orientation": "h", "x": 0, "xanchor": "left", "yanchor": "top",
                         "y": -(TICKS_PX + 26) / plot},
              "annotations": []}
    for i in range(n):
        top = i * (ROW_PX + gap)
        domain = [1 - (top + ROW_PX) / plot, 1 - top / plot]
        suffix = str(i + 1) if i else ""
        layout[f"xaxis{suffix}"] = {
            "domain": [0, 1], "anchor": f"y{suffix}", "type": "category", "fixedrange": True, "automargin": True,
            # every digit gets its tick: Plotly thins out category ticks on a narrow axis otherwise
            "tickmode": "array", "tickvals": CLASSES, "ticktext": CLASSES, "tickangle": 0,
            **({"title": {"text": "digit", "standoff": 6}} if i == n - 1 else {})}
        layout[f"yaxis{suffix}"] = {
            "domain": domain, "anchor": f"x{suffix}", "range": [0, 1], "tickvals": [0, 0.5, 1],
            "tickformat": ".0%", "fixedrange": True, "automargin": True,
            **({"title": {"text": "probability"}} if i == (n - 1) // 2 else {})}
        layout["annotations"].append({"text": "", "x": 0, "xref": "paper", "xanchor": "left", "align": "left",
                                      "y": domain[1], "yref": "paper", "yanchor": "bottom", "yshift": 2,
                                      "showarrow": False, "font": {"size": 13}})
    return layout


def probability_spec(probs: dict[str, tuple[np.ndarray, np.ndarray]], names: dict[str, str]) -> dict:
    """Grouped bars (original vs counterfactual) per classifier, one panel (row) each, as a plotly dict.

    A panel whose predicted class changes gets a bold red title, so a flip is visible at a glance.
    """
    keys = list(probs)
    layout = _rows_layout(len(keys))
    data = []
    for i, k in enumerate(keys):
        orig, cf = probs[k]
        text = f"{names.get(k, k)}<br>{flip_text(orig, cf)}"
        flipped = int(np.argmax(orig)) != int(np.argmax(cf))
        layout["annotations"][i]["text"] = f"<b>{text}</b>" if flipped else text
        if flipped:
            layout["annotations"][i]["font"] = {"size": 14, "color": FLIP_COLOUR}
        axes = {"xaxis": f"x{i + 1}" if i else "x", "yaxis": f"y{i + 1}" if i else "y"}
        for series, values, colour in (("original", orig, ORIGINAL_COLOUR), ("what if", cf, CF_COLOUR)):
            data.append({"type": "bar", "x": CLASSES, "y": [float(v) for v in values], "name": series,
                         "marker": {"color": colour}, "legendgroup": series, "showlegend": i == 0,
                         "hovertemplate": f"digit %{{x}}: %{{y:.1%}}<extra>{series}</extra>", **axes})
    return {"data": data, "layout": layout}


def _layers(graph: Dag) -> dict[str, tuple[float, float]]:
    """(x, y) per node: x = longest path from a root, the nodes of a layer spread evenly on y."""
    depth: dict[str, int] = {}
    for n in graph.topological_order():
        depth[n] = max((depth[p] + 1 for p in graph.parents(n)), default=0)
    pos = {}
    for d in set(depth.values()):
        layer = [n for n in graph.nodes if depth[n] == d]
        for i, n in enumerate(layer):
            pos[n] = (float(d), (len(layer) - 1) / 2.0 - i)
    return pos


# The Morpho-MNIST worlds drawn by hand: the layered layout put intensity level with the middle of digit and
# thickness, so the straight digit → image arrow ran through it and read as digit → intensity. Here each
# middle node sits on the outside of its one parent (intensity under thickness, hue above digit), image between
# the roots: the arrows skipping the middle column (digit → image, thickness → image) pass between the middle
# nodes, well clear of them, and no two arrows cross. The grey world simply has no hue node.
# On a phone (~235 px of plot height) a unit of y is ~75 px: digit and thickness stay a circle's width apart.
_MORPHO_POSITIONS = {"digit": (0.0, 0.6), "thickness": (0.0, -0.6), "hue": (1.0, 1.0), "intensity": (1.0, -1.0),
                     "image": (2.0, 0.0)}


def graph_positions(graph: Dag) -> dict[str, tuple[float, float]]:
    """(x, y) per node: the hand-made layout for the Morpho-MNIST worlds, else a layered one."""
    if set(graph.nodes) <= set(_MORPHO_POSITIONS):
        return {n: _MORPHO_POSITIONS[n] for n in graph.nodes}
    return _layers(graph)


def graph_spec(graph: Dag, intervened: list[str], downstream: list[str]) -> dict:
    """The causal graph as a plotly dict: nodes coloured by role; arrows into a node set by do() are faded,
    because the intervention replaces that node's mechanism and its parents no longer matter."""
    pos = graph_positions(graph)
    role = {n: "intervened" if n in intervened else "downstream" if n in downstream else "unaffected"
            for n in graph.nodes}
    annotations = []
    for parent, child in sorted(graph.edges):
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        cut = child in intervened
        annotations.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
                            "ayref": "y", "text": "", "showarrow": True, "arrowhead": 3, "arrowsize": 1.3,
                            # 37 px: the node's radius (35) and its outline, so a head touches the circle's edge
                            "arrowwidth": 2, "standoff": 37, "startstandoff": 37,
                            "arrowcolor": "#d5d9de" if cut else "#5b6670"})
    data = []
    for r, (label, colour, ink) in ROLE_STYLE.items():
        nodes = [n for n in graph.nodes if role[n] == r]
        data.append({"type": "scatter", "mode": "markers+text", "name": label,
                     "x": [pos[n][0] for n in nodes] or [None], "y": [pos[n][1] for n in nodes] or [None],
                     "text": [f"<b>{n}</b>" for n in nodes], "textposition": "middle center",
                     "textfont": {"size": 12, "color": ink}, "hoverinfo": "skip",
                     "marker": {"size": 70, "color": colour, "line": {"width": 2, "color": "#5b6670"}}})
    if any(child in intervened for _, child in graph.edges):  # only when some arrow is actually cut
        data.append({"type": "scatter", "mode": "lines", "name": "arrow cut by do(...)", "x": [None],
                     "y": [None], "line": {"color": "#d5d9de", "width": 3}})
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    axis = {"visible": False, "fixedrange": True}
    layout = {"height": 330, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "annotations": annotations,
              "xaxis": {**axis, "range": [min(xs) - 0.45, max(xs) + 0.45]},
              # half a unit and a little: room for a node's radius, and the nodes get most of the height
              "yaxis": {**axis, "range": [min(ys) - 0.55, max(ys) + 0.55]},
              "legend": {"orientation": "h", "yanchor": "top", "y": -0.02, "x": 0},
              "plot_bgcolor": "rgba(0,0,0,0)"}
    return {"data": data, "layout": layout}
