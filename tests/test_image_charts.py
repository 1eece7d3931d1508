"""The Image page's SVG charts stay small: they go to the browser again on every slider release (issue 22)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from explorer.scm.morpho import MorphoSCM
from explorer.ui.charts import CF_COLOUR, ORIGINAL_COLOUR
from explorer.ui.svg_charts import FONT, PANEL, UNSEEN, graph_svg, probability_svg

SVG = "{http://www.w3.org/2000/svg}"
NAMES = {f"m{i}": f"Classifier number {i}" for i in range(5)}  # five panels, as the page shows


def _confident(pred: int) -> np.ndarray:
    p = np.full(10, 1e-5)
    p[pred] = 1 - p.sum() + p[pred]
    return p


def test_a_confident_five_panel_picture_is_small_and_names_its_font_once():
    svg = probability_svg({k: (_confident(7), _confident(1 if k == "m0" else 7)) for k in NAMES}, NAMES)
    assert len(svg) < 5000  # 20.2 kB before issue 22 (27 kB once Streamlit base64-encodes it)
    assert svg.count(FONT) == 1 and svg.count("font-family") == 1
    ET.fromstring(svg)  # well-formed


def test_only_invisible_bars_are_left_out():
    p = np.array([0.5, 0.3, 0.19, 0.01, 4e-4, 1e-6, 0.0, 0.0, 0.0, 0.0])  # 4e-4 -> 0.032 units: not drawn
    root = ET.fromstring(probability_svg({"a": (p, p[::-1])}, {}))
    bars = [r for r in root.iter(f"{SVG}rect")
            if r.get("fill") in (ORIGINAL_COLOUR, CF_COLOUR) and r.get("width") != "14"]  # not the legend's
    heights = sorted(float(r.get("height")) for r in bars)
    drawn = sorted(PANEL * float(v) for v in np.concatenate([p, p[::-1]]) if PANEL * v >= UNSEEN)
    assert heights == pytest.approx(drawn, abs=0.05)
    assert len(bars) == 8  # 0.5, 0.3, 0.19, 0.01 for the original and for the what-if


def test_the_chart_is_its_fixed_piece_then_its_moving_piece():
    """The answer panel joins a sweep position's moving piece to the fixed piece on screen: the same picture."""
    from explorer.ui.svg_charts import probability_svg_parts

    p, q = _confident(7), _confident(1)
    fixed, moving = probability_svg_parts({"a": (p, q), "b": (p, p)}, {"a": "A"})
    assert fixed + moving + "</svg>" == probability_svg({"a": (p, q), "b": (p, p)}, {"a": "A"})
    other = probability_svg_parts({"a": (p, p), "b": (p, q)}, {"a": "A"})
    assert other[0] == fixed and other[1] != moving  # the what-if moved: only the moving piece differs
    assert "prediction" not in fixed and str(p.max()) not in fixed


@pytest.mark.parametrize("colour_strength", [None, 0.95], ids=["grey", "colour"])
def test_the_graph_picture_is_small(colour_strength):
    svg = graph_svg(MorphoSCM(colour_strength).graph, ("thickness",), ("image", "intensity"))
    assert len(svg) < 2300  # 2.6 kB (grey), 3.1 kB (colour) before issue 22
    assert svg.count("font-family") == 1
