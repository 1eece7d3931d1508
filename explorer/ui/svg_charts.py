"""The Image what-if page's two charts as small SVG pictures: class probabilities and the causal graph.

Why not Plotly here: these charts are redrawn on every slider move. A Plotly chart costs the server ~8 ms to
build and serialise per move, and the browser ~100-200 ms of script to mount on a 2-core machine, the
same cores the server uses when a class shares one machine (bench/bench_classroom.py). An SVG string costs
well under a millisecond to write, is cached when it does not change (the graph), and the browser shows it as
a picture. Nothing is lost: these charts were already static (no hover, no zoom), and the numbers are in the
sentences beside them. Same colours and layout ideas as `explorer.ui.charts` (whose Plotly figures the other
pages keep).

Every piece of text is XML-escaped: a classifier's name may come from a visitor's upload.
No Streamlit here: the page passes the strings to `st.image`.
"""

from __future__ import annotations

import functools
from xml.sax.saxutils import escape

import numpy as np

from explorer.scm.graph import Dag
from explorer.ui.charts import (
    CF_COLOUR,
    CLASSES,
    FLIP_COLOUR,
    ORIGINAL_COLOUR,
    ROLE_STYLE,
    flip_text,
    graph_positions,
)

FONT = "font-family='Source Sans Pro, Segoe UI, Helvetica, Arial, sans-serif'"
INK, GRID, MUTED = "#31333f", "#e6e9ef", "#808495"

# Probability panels, in SVG user units (the picture scales to its column; these fix the proportions).
WIDTH = 460
LEFT = 44  # room for the 0 % / 50 % / 100 % labels
TITLE = 40  # two lines: the classifier, then the verdict
PANEL = 80  # the bars' height at 100 %
TICKS = 22  # the digit labels under a panel
GAP = 10  # between one panel's digits and the next panel's title
LEGEND = 30


def _text(x: float, y: float, s: str, size: int = 13, **attrs: str) -> str:
    extra = " ".join(f"{k.replace('_', '-')}='{v}'" for k, v in attrs.items())
    return f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' {FONT} {extra}>{escape(s)}</text>"


def probability_svg(probs: dict[str, tuple[np.ndarray, np.ndarray]], names: dict[str, str]) -> str:
    """Grouped bars (original grey, what-if orange) per classifier, stacked one panel per row.

    A panel whose predicted class changes gets a bold red title, as on the Plotly version.
    """
    parts: list[str] = []
    y = 0.0
    plot_w = WIDTH - LEFT - 6
    slot = plot_w / len(CLASSES)  # one digit's two bars and the air around them
    bar = slot * 0.34
    for key, (orig, cf) in probs.items():
        flipped = int(np.argmax(orig)) != int(np.argmax(cf))
        colour, weight = (FLIP_COLOUR, "bold") if flipped else (INK, "normal")
        parts.append(_text(LEFT, y + 15, names.get(key, key), 14, fill=colour, font_weight=weight))
        parts.append(_text(LEFT, y + 33, flip_text(orig, cf), 13, fill=colour, font_weight=weight))
        top = y + TITLE
        for frac, label in ((0.0, "0%"), (0.5, "50%"), (1.0, "100%")):
            gy = top + PANEL * (1 - frac)
            parts.append(f"<line x1='{LEFT}' x2='{WIDTH - 6}' y1='{gy:.1f}' y2='{gy:.1f}' stroke='{GRID}'/>")
            parts.append(_text(LEFT - 6, gy + 4, label, 11, fill=MUTED, text_anchor="end"))
        for d in range(len(CLASSES)):
            x0 = LEFT + d * slot + (slot - 2 * bar) / 2
            for i, (p, fill) in enumerate(((orig[d], ORIGINAL_COLOUR), (cf[d], CF_COLOUR))):
                h = PANEL * float(np.clip(p, 0.0, 1.0))
                parts.append(f"<rect x='{x0 + i * bar:.1f}' y='{top + PANEL - h:.1f}' width='{bar:.1f}' "
                             f"height='{h:.1f}' fill='{fill}'/>")
            parts.append(_text(LEFT + (d + 0.5) * slot, top + PANEL + 16, CLASSES[d], 12, fill=INK,
                               text_anchor="middle"))
        y = top + PANEL + TICKS + GAP
    legend_y = y + 8
    for i, (label, fill) in enumerate((("original", ORIGINAL_COLOUR), ("what if", CF_COLOUR))):
        x = LEFT + i * 110
        parts.append(f"<rect x='{x}' y='{legend_y - 10}' width='14' height='12' fill='{fill}'/>")
        parts.append(_text(x + 20, legend_y, label, 13, fill=INK))
    parts.append(_text(WIDTH - 6, legend_y, "digit read, and its probability", 12, fill=MUTED, text_anchor="end"))
    height = legend_y + LEGEND - 18
    return _svg(WIDTH, height, parts)


def _svg(width: float, height: float, parts: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' "
            f"width='{width:.0f}' height='{height:.0f}'>" + "".join(parts) + "</svg>")


# The causal graph: node circles as on the Plotly version (radius 35 at this scale), arrows that stop at a
# circle's edge, a legend under it.
G_WIDTH, G_HEIGHT, RADIUS, UNIT_X, UNIT_Y = 460, 310, 33, 150, 95
LEGEND_ROW = 22


@functools.lru_cache(maxsize=64)  # a world has few (intervened, downstream) sets: each drawn once per server
def graph_svg(graph: Dag, intervened: tuple[str, ...], downstream: tuple[str, ...]) -> str:
    """The causal graph with nodes coloured by role; arrows into a node set by do() are faded, because the
    intervention replaces that node's mechanism and its parents no longer matter."""
    pos = graph_positions(graph)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    cx = (min(xs) + max(xs)) / 2
    cy = (min(ys) + max(ys)) / 2
    mid_x, mid_y = G_WIDTH / 2, (G_HEIGHT - 2 * LEGEND_ROW) / 2 + 2

    def at(node: str) -> tuple[float, float]:
        x, y = pos[node]
        return mid_x + (x - cx) * UNIT_X, mid_y - (y - cy) * UNIT_Y  # SVG's y grows downwards

    parts = ["<defs>" + "".join(
        f"<marker id='{name}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
        f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{colour}'/></marker>"
        for name, colour in (("head", "#5b6670"), ("faded", "#d5d9de"))) + "</defs>"]
    for parent, child in sorted(graph.edges):
        (x0, y0), (x1, y1) = at(parent), at(child)
        length = float(np.hypot(x1 - x0, y1 - y0)) or 1.0
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        cut = child in intervened
        colour, head = ("#d5d9de", "faded") if cut else ("#5b6670", "head")
        parts.append(f"<line x1='{x0 + ux * (RADIUS + 3):.1f}' y1='{y0 + uy * (RADIUS + 3):.1f}' "
                     f"x2='{x1 - ux * (RADIUS + 3):.1f}' y2='{y1 - uy * (RADIUS + 3):.1f}' stroke='{colour}' "
                     f"stroke-width='2' marker-end='url(#{head})'/>")
    for node in graph.nodes:
        role = "intervened" if node in intervened else "downstream" if node in downstream else "unaffected"
        _, fill, ink = ROLE_STYLE[role]
        x, y = at(node)
        parts.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{RADIUS}' fill='{fill}' stroke='#5b6670' "
                     "stroke-width='2'/>")
        size = 12 if len(node) <= 8 else 11  # "thickness", "intensity": inside the circle
        parts.append(_text(x, y + 4, node, size, fill=ink, font_weight="bold", text_anchor="middle"))
    x, row = 8.0, G_HEIGHT - LEGEND_ROW - 12  # first legend row: the three roles
    for label, fill, _ in ROLE_STYLE.values():
        parts.append(f"<circle cx='{x + 7}' cy='{row - 4}' r='7' fill='{fill}' stroke='#5b6670'/>")
        parts.append(_text(x + 20, row, label, 12, fill=INK))
        x += 20 + 6.2 * len(label) + 12
    if any(child in intervened for _, child in graph.edges):  # second row, only when an arrow is cut
        row += LEGEND_ROW
        parts.append(f"<line x1='8' x2='26' y1='{row - 4}' y2='{row - 4}' stroke='#d5d9de' stroke-width='3'/>")
        parts.append(_text(32, row, "arrow cut by do(...)", 12, fill=INK))
    return _svg(G_WIDTH, G_HEIGHT, parts)
