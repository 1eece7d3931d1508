"""The Train-with-counterfactuals page's pictures and charts: image grids as PNG, the confounding matrix as a small
SVG picture, the other charts as Plotly figures (plain dicts).

No Streamlit here (the page passes these to `st.image` and `st.plotly_chart`); figures go through `fast_figure`
(`explorer.ui.charts`), and the tests validate the same dicts with `go.Figure(d)`. The matrix is SVG because it
changes with every strength and was static anyway (no zoom; its numbers are written in the cells): a Plotly heatmap
costs the browser its chart code on every change (bench/bench_train_page.py), a picture only its drawing.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from explorer.ui.images import to_rgb_u8

GAP = 2  # px of white between the tiles of a grid, at 28 px per digit
# One colour per method, the same in the results chart and the live curves (Tableau 10, as explorer/ui/charts.py).
COLOURS = {"erm": "#9aa5b1", "cf_augment": "#f28e2b", "cf_regularise": "#4e79a7", "grad_supervision": "#59a14f",
           "grad_supervision_random": "#b07aa1", "true_augment": "#edc948", "unconfounded": "#76b7b2"}
FONT = {"family": "Source Sans Pro, sans-serif", "size": 13}


def grid_png(images: np.ndarray, scale: int = 3) -> bytes:
    """(R, C, 3, 28, 28) float 0-255 -> one PNG of R rows and C columns, each pixel a `scale` px square."""
    rows, cols = images.shape[:2]
    canvas = np.full((rows * (28 + GAP) - GAP, cols * (28 + GAP) - GAP, 3), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            y, x = r * (28 + GAP), c * (28 + GAP)
            canvas[y:y + 28, x:x + 28] = to_rgb_u8(images[r, c])
    pil = Image.fromarray(canvas)
    pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)  # crisp pixels
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# The matrix's colour scale: white-blue (0, independent), mid blue, dark blue (1, one factor settles the other).
SCALE = ((247, 251, 255), (107, 174, 214), (8, 48, 107))
CELL, LABEL_W, LABEL_H = 58, 78, 22  # px: a cell, the row labels' column, the column labels' row


def _blue(v: float) -> str:
    t = min(max(float(v), 0.0), 1.0) * (len(SCALE) - 1)
    i = min(int(t), len(SCALE) - 2)  # the scale's segment, and where in it
    return "#" + "".join(f"{round(a + (b - a) * (t - i)):02x}" for a, b in zip(SCALE[i], SCALE[i + 1]))


def matrix_svg(names: list[str], matrix: np.ndarray) -> str:
    """The (k, k) confounding matrix as a heatmap picture, each cell's value written in it (white on dark cells);
    rows and columns named by `names` (escaped)."""
    k = len(names)
    width, height = LABEL_W + k * CELL, LABEL_H + k * CELL
    parts = []
    for j, name in enumerate(names):
        parts.append(f"<text x='{LABEL_W + (j + 0.5) * CELL:.0f}' y='{LABEL_H - 7}' text-anchor='middle'>"
                     f"{escape(name)}</text>")
    for i, name in enumerate(names):
        y = LABEL_H + i * CELL
        parts.append(f"<text x='{LABEL_W - 6}' y='{y + CELL / 2 + 4:.0f}' text-anchor='end'>{escape(name)}</text>")
        for j in range(k):
            v = float(matrix[i, j])  # 0-1
            x = LABEL_W + j * CELL
            ink = "#ffffff" if v > 0.55 else "#31333f"
            parts.append(f"<rect x='{x}' y='{y}' width='{CELL - 1}' height='{CELL - 1}' fill='{_blue(v)}'/>"
                         f"<text x='{x + CELL / 2:.0f}' y='{y + CELL / 2 + 4:.0f}' text-anchor='middle' "
                         f"fill='{ink}'>{v:.2f}</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' "
            f"height='{height}' font-family='{FONT['family']}' font-size='13' fill='#31333f'>"
            + "".join(parts) + "</svg>")


def results_figure(scores: dict, strengths: tuple[float, ...], methods: tuple[str, ...],
                   labels: dict[str, str]) -> dict:
    """OOD accuracy by strength (groups) and method (bars), the seeds' standard deviation as error bars."""
    data = []
    for m in methods:
        shown = [s for s in strengths if (s, m) in scores]
        if not shown:
            continue
        data.append({"type": "bar", "name": labels[m], "x": [f"{s:g}" for s in shown],
                     "y": [scores[(s, m)].ood for s in shown], "marker": {"color": COLOURS.get(m, "#888888")},
                     "error_y": {"type": "data", "array": [scores[(s, m)].ood_sd for s in shown], "visible": True},
                     "customdata": [scores[(s, m)].seeds for s in shown],
                     "hovertemplate": f"{labels[m]}<br>strength %{{x}}: %{{y:.1%}} ± %{{error_y.array:.1%}} "
                                      "over %{customdata} seeds<extra></extra>"})
    return {"data": data,
            "layout": {"barmode": "group", "height": 380, "font": FONT, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                       "xaxis": {"title": {"text": "confounding strength of the training data"}, "type": "category"},
                       "yaxis": {"title": {"text": "OOD accuracy (random colours)"},
                                 "range": [0, 1], "tickformat": ".0%"},
                       "legend": {"orientation": "h", "y": -0.25}}}


def curves_figure(curves: dict[str, list[tuple[int, float, float]]], labels: dict[str, str]) -> dict:
    """Live accuracy against training steps: IID solid, OOD dashed, one colour per method."""
    data = []
    for m, points in curves.items():
        steps = [p[0] for p in points]
        for i, (split, dash) in enumerate((("IID", "solid"), ("OOD", "dash")), start=1):
            data.append({"type": "scatter", "mode": "lines+markers", "name": f"{labels[m]}: {split}",
                         "x": steps, "y": [p[i] for p in points],
                         "line": {"color": COLOURS.get(m, "#888888"), "dash": dash}})
    return {"data": data,
            "layout": {"height": 340, "font": FONT, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                       "xaxis": {"title": {"text": "training step"}},
                       "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1], "tickformat": ".0%"},
                       "legend": {"orientation": "h", "y": -0.3}}}
