"""What the pages' charts share: colours, the flip wording, the causal graph's layout, and a fast Plotly Figure.

The Image page draws its two charts as SVG pictures (`explorer.ui.svg_charts`); the other pages' Plotly charts
use `fast_figure`.

Plotly figures are built as plain dicts and wrapped without plotly's per-property validation: validating
costs 60-80 ms per slider move on a 2-core machine, more than the model itself should take. The tests
validate the same dicts with `go.Figure(d)`, so a typo still fails loudly there. No Streamlit here.
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
