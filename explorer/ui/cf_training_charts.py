"""The Train-with-counterfactuals page's pictures and charts: image grids as PNG, Plotly figures as plain dicts.

No Streamlit here (the page passes these to `st.image` and `st.plotly_chart`); figures go through `fast_figure`
(`explorer.ui.charts`), and the tests validate the same dicts with `go.Figure(d)`.
"""

from __future__ import annotations

import io

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


def matrix_figure(names: list[str], matrix: np.ndarray) -> dict:
    """The confounding matrix as a heatmap with its numbers (0 independent, 1 one factor settles the other)."""
    return {"data": [{"type": "heatmap", "z": np.round(matrix, 3).tolist(), "x": names, "y": names,
                      "zmin": 0, "zmax": 1, "colorscale": "Blues", "texttemplate": "%{z:.2f}",
                      "hovertemplate": "%{y} – %{x}: %{z:.3f}<extra></extra>", "showscale": False}],
            "layout": {"height": 300, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "font": FONT,
                       "yaxis": {"autorange": "reversed"}}}


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
