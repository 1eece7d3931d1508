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

FONT = "Source Sans Pro, Segoe UI, Helvetica, Arial, sans-serif"
INK, GRID, MUTED = "#31333f", "#e6e9ef", "#808495"

# Probability panels, in SVG user units (the picture scales to its column; these fix the proportions).
WIDTH = 460
LEFT = 44  # room for the 0 % / 50 % / 100 % labels
TITLE = 40  # two lines: the classifier, then the verdict
PANEL = 80  # the bars' height at 100 %
TICKS = 22  # the digit labels under a panel
GAP = 10  # between one panel's digits and the next panel's title
LEGEND = 30
# A bar this low (0.05 units: 0.06 % probability, under a tenth of a screen pixel) draws nothing visible, so it
# is left out: a confident classifier's panel then carries 1-3 bars instead of 20.
UNSEEN = 0.05


def _n(v: float) -> str:
    """A coordinate in at most one decimal, no trailing zero: "40", "52.5" (the picture is ~460 px wide)."""
    text = f"{v:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(x: float, y: float, s: str, **attrs: str) -> str:
    """A <text>; font, size and colour come from the enclosing <svg> or <g> unless `attrs` set them."""
    extra = "".join(f" {k.replace('_', '-')}='{v}'" for k, v in attrs.items())
    return f"<text x='{_n(x)}' y='{_n(y)}'{extra}>{escape(s)}</text>"


def _group(parts: list[str], **attrs: str) -> str:
    """Children that share presentation attributes (font size, fill, anchor): said once instead of per child."""
    shared = "".join(f" {k.replace('_', '-')}='{v}'" for k, v in attrs.items())
    return f"<g{shared}>" + "".join(parts) + "</g>"


def probability_svg(probs: dict[str, tuple[np.ndarray, np.ndarray]], names: dict[str, str]) -> str:
    """Grouped bars (original grey, what-if orange) per classifier, stacked one panel per row.

    A panel whose predicted class changes gets a bold red title, as on the Plotly version. Written compactly
    (issue 22: it was 20 kB, 27 kB once Streamlit made it base64, and changed on most moves): what every panel
    repeats (font, sizes, colours, anchors) sits once on a <g>, coordinates carry at most one decimal, the grid is
    one path and invisible bars are left out.
    """
    fixed, moving = probability_svg_parts(probs, names)
    return fixed + moving + "</svg>"


def probability_svg_parts(probs: dict[str, tuple[np.ndarray, np.ndarray]], names: dict[str, str]) -> tuple[str, str]:
    """`probability_svg` in two pieces, (fixed, moving), the picture being fixed + moving + "</svg>": what stays
    while a slider moves (the grid, the labels, the original's bars, the legend; the <svg> opened) and what moves
    with it (the titles, the what-if's bars), drawn last. A slider's sweep then carries only the moving piece
    (~1 kB a position, not ~6 kB) and the Image page's answer panel joins them."""
    titles: list[str] = []
    axis: list[str] = []
    digits: list[str] = []
    before: list[str] = []
    after: list[str] = []
    grid = ""
    y = 0.0
    plot_w = WIDTH - LEFT - 6
    slot = plot_w / len(CLASSES)  # one digit's two bars and the air around them
    bar = slot * 0.34
    for key, (orig, cf) in probs.items():
        flipped = int(np.argmax(orig)) != int(np.argmax(cf))
        colour, weight = (FLIP_COLOUR, "bold") if flipped else (INK, "normal")
        titles.append(_text(LEFT, y + 15, names.get(key, key), font_size="14", fill=colour, font_weight=weight))
        titles.append(_text(LEFT, y + 33, flip_text(orig, cf), fill=colour, font_weight=weight))
        top = y + TITLE
        for frac, label in ((0.0, "0%"), (0.5, "50%"), (1.0, "100%")):
            gy = top + PANEL * (1 - frac)
            grid += f"M{LEFT} {_n(gy)}h{plot_w}"
            axis.append(_text(LEFT - 6, gy + 4, label))
        for d in range(len(CLASSES)):
            x0 = LEFT + d * slot + (slot - 2 * bar) / 2
            for i, (p, fill, bars) in enumerate(((orig[d], ORIGINAL_COLOUR, before), (cf[d], CF_COLOUR, after))):
                h = PANEL * float(np.clip(p, 0.0, 1.0))
                if h >= UNSEEN:
                    bars.append(f"<rect x='{_n(x0 + i * bar)}' y='{_n(top + PANEL - h)}' width='{_n(bar)}' "
                                f"height='{_n(h)}' fill='{fill}'/>")
            digits.append(_text(LEFT + (d + 0.5) * slot, top + PANEL + 16, CLASSES[d]))
        y = top + PANEL + TICKS + GAP
    legend_y = y + 8
    legend = []
    for i, (label, fill) in enumerate((("original", ORIGINAL_COLOUR), ("what if", CF_COLOUR))):
        x = LEFT + i * 110
        legend.append(f"<rect x='{x}' y='{_n(legend_y - 10)}' width='14' height='12' fill='{fill}'/>")
        legend.append(_text(x + 20, legend_y, label))
    note = _text(WIDTH - 6, legend_y, "digit read, and its probability", font_size="12", fill=MUTED,
                 text_anchor="end")
    fixed = [f"<path d='{grid}' stroke='{GRID}'/>", _group(axis, font_size="11", fill=MUTED, text_anchor="end"),
             *before, _group(digits, font_size="12", text_anchor="middle"), *legend, note]
    return _svg(WIDTH, legend_y + LEGEND - 18, fixed)[:-len("</svg>")], "".join(titles + after)


def _svg(width: float, height: float, parts: list[str]) -> str:
    """The root: the font, the default size (13) and the text colour, once for the whole picture."""
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' "
            f"width='{width:.0f}' height='{height:.0f}' font-family='{FONT}' font-size='13' fill='{INK}'>"
            + "".join(parts) + "</svg>")


# The causal graphs: node circles coloured by role, arrows that stop at a circle's edge, a legend under them.
G_WIDTH, G_HEIGHT, RADIUS, UNIT_X, UNIT_Y = 460, 310, 33, 150, 95
LEGEND_ROW = 22
ARROW, FADED = "#5b6670", "#d5d9de"


def _role(node: str, intervened: tuple[str, ...], downstream: tuple[str, ...]) -> str:
    return "intervened" if node in intervened else "downstream" if node in downstream else "unaffected"


def _graph_picture(pos: dict[str, tuple[float, float]], labels: dict[str, str], roles: dict[str, str],
                   arrows: list[tuple[str, str, bool, str]], faded_legend: str | None, width: float = G_WIDTH,
                   height: float = G_HEIGHT, unit: tuple[float, float] = (UNIT_X, UNIT_Y), radius: float = RADIUS,
                   legend: bool = True) -> str:
    """Nodes at `pos` (graph units, y up), `labels` (lines split on newlines), `roles` (ROLE_STYLE keys);
    `arrows`: (parent, child, faded, text written at the arrow's middle or "")."""
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    rows = 2 if legend else 0  # the legend keeps its two rows: the graph does not jump when a box is ticked
    mid_x, mid_y = width / 2, (height - rows * LEGEND_ROW) / 2 + 2

    def at(node: str) -> tuple[float, float]:
        x, y = pos[node]
        return mid_x + (x - cx) * unit[0], mid_y - (y - cy) * unit[1]  # SVG's y grows downwards

    parts = ["<defs>" + "".join(
        f"<marker id='{name}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
        f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{colour}'/></marker>"
        for name, colour in (("head", ARROW), ("faded", FADED))) + "</defs>"]
    lines, notes, circles, names = [], [], [], []  # drawn in this order: arrows under the circles they join
    for parent, child, faded, text in arrows:
        (x0, y0), (x1, y1) = at(parent), at(child)
        length = float(np.hypot(x1 - x0, y1 - y0)) or 1.0
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        colour, head = (FADED, "faded") if faded else (ARROW, "head")
        lines.append(f"<line x1='{_n(x0 + ux * (radius + 3))}' y1='{_n(y0 + uy * (radius + 3))}' "
                     f"x2='{_n(x1 - ux * (radius + 3))}' y2='{_n(y1 - uy * (radius + 3))}' stroke='{colour}' "
                     f"marker-end='url(#{head})'/>")
        if text:
            notes.append(_text((x0 + x1) / 2, (y0 + y1) / 2 - 4, text))
    for node, (x, y) in ((n, at(n)) for n in pos):
        _, fill, ink = ROLE_STYLE[roles[node]]
        circles.append(f"<circle cx='{_n(x)}' cy='{_n(y)}' r='{radius}' fill='{fill}'/>")
        rows_of = labels[node].split("\n")
        size = 12 if max(len(t) for t in rows_of) <= 8 else 11  # "thickness", "intensity": inside the circle
        for i, line in enumerate(rows_of):
            names.append(_text(x, y + 4 + (i - (len(rows_of) - 1) / 2) * (size + 2), line, fill=ink,
                               **({} if size == 12 else {"font_size": str(size)})))
    parts += [_group(lines, stroke_width="2"), _group(notes, font_size="12", fill="#9aa5b1", text_anchor="middle"),
              _group(circles, stroke=ARROW, stroke_width="2"),
              _group(names, font_size="12", font_weight="bold", text_anchor="middle")]
    if legend:
        x, row = 8.0, height - rows * LEGEND_ROW + 10  # first legend row: the three roles
        keys = []
        for label, fill, _ in ROLE_STYLE.values():
            keys.append(f"<circle cx='{_n(x + 7)}' cy='{_n(row - 4)}' r='7' fill='{fill}' stroke='{ARROW}'/>")
            keys.append(_text(x + 20, row, label))
            x += 20 + 6.2 * len(label) + 12
        if faded_legend:  # second row, only when some arrow is faded
            row += LEGEND_ROW
            keys.append(f"<line x1='8' x2='26' y1='{_n(row - 4)}' y2='{_n(row - 4)}' stroke='{FADED}' "
                        "stroke-width='3'/>")
            keys.append(_text(32, row, faded_legend))
        parts.append(_group(keys, font_size="12"))
    return _svg(width, height, parts)


@functools.lru_cache(maxsize=64)  # a world has few (intervened, downstream) sets: each drawn once per server
def graph_svg(graph: Dag, intervened: tuple[str, ...], downstream: tuple[str, ...]) -> str:
    """The Image page's causal graph with nodes coloured by role; arrows into a node set by do() are faded,
    because the intervention replaces that node's mechanism and its parents no longer matter."""
    arrows = [(p, c, c in intervened, "") for p, c in sorted(graph.edges)]
    cut = any(faded for _, _, faded, _ in arrows)
    return _graph_picture(graph_positions(graph), {n: n for n in graph.nodes},
                          {n: _role(n, intervened, downstream) for n in graph.nodes}, arrows,
                          "arrow cut by do(...)" if cut else None)


@functools.lru_cache(maxsize=256)  # (edited graph, ticked boxes) pairs: few per visitor, drawn once each
def lab_graph_svg(positions: tuple[tuple[str, tuple[float, float]], ...], labels: tuple[tuple[str, str], ...],
                  edges: frozenset[tuple[str, str]], learned: Dag, intervened: tuple[str, ...],
                  downstream: tuple[str, ...]) -> str:
    """The lab's edited graph: live arrows dark; arrows the model learned but the visitor cut faded and marked
    "✂ cut"; arrows into a node set by do() faded (idle: do() replaced that node's mechanism). The page's own
    legend is its caption."""
    pos = dict(positions)
    arrows = [(p, c, (p, c) not in edges or c in intervened, "✂ cut" if (p, c) not in edges else "")
              for p, c in sorted(set(edges) | set(learned.edges))]
    return _graph_picture(pos, dict(labels), {n: _role(n, intervened, downstream) for n in pos}, arrows, None,
                          width=300, height=300, unit=(180, 105), radius=38, legend=False)
