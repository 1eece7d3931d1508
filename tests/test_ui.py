"""The UI's plain helpers, checked by hand: PNG encoding, the difference map and the Plotly figures."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from explorer.scm.morpho import MorphoSCM
from explorer.ui.charts import (
    CF_COLOUR,
    FLIP_COLOUR,
    ORIGINAL_COLOUR,
    ROLE_STYLE,
    flip_text,
)
from explorer.ui.images import DISPLAY, difference_rgb, png, side_by_side
from explorer.ui.svg_charts import PANEL, RADIUS, graph_svg, probability_svg

SVG = "{http://www.w3.org/2000/svg}"


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img


def test_png_is_nearest_neighbour_upscaled():
    grey = np.zeros((28, 28), np.float32)
    grey[3, 5] = 255.0
    img = np.asarray(_decode(png(grey)))
    assert img.shape == (DISPLAY, DISPLAY)
    k = DISPLAY // 28
    block = img[3 * k:4 * k, 5 * k:6 * k]
    assert (block == 255).all()  # one source pixel -> one crisp k x k square, no smoothing
    assert img.sum() == 255 * k * k


def test_png_keeps_colour_channels():
    rgb = np.zeros((3, 28, 28), np.float32)
    rgb[0] = 200.0  # red channel only
    img = np.asarray(_decode(png(rgb, 56)))
    assert img.shape == (56, 56, 3)
    assert (img[..., 0] == 200).all() and (img[..., 1:] == 0).all()


def test_difference_map_is_diverging_and_fixed_scale():
    diff = np.zeros((28, 28), np.float32)
    diff[0, 0], diff[0, 1], diff[0, 2] = 255.0, -255.0, 25.5
    rgb = difference_rgb(diff).astype(int)
    assert tuple(rgb[1, 1]) == (247, 247, 247)  # no change: near white
    assert rgb[0, 0, 0] > 150 and rgb[0, 0, 2] < 60  # ink added: red
    assert rgb[0, 1, 2] > 150 and rgb[0, 1, 0] < 60  # ink removed: blue
    assert 200 < rgb[0, 2, 1] < 247  # a tenth of the scale stays faint (no per-image stretching)


def test_side_by_side_is_one_picture():
    img = _decode(side_by_side(np.zeros((28, 28), np.float32), np.zeros((3, 28, 28), np.float32), gap=4))
    assert img.size == ((28 + 4 + 28) * (DISPLAY // 28), DISPLAY)


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # also checks that it is well-formed XML: a bad escape would fail here


def test_probability_picture_marks_flips_and_escapes_names():
    p = np.eye(10)[7] * 0.9 + 0.01  # predicts 7
    q = np.eye(10)[1] * 0.9 + 0.01  # predicts 1
    root = _svg(probability_svg({"a": (p, q), "b": (p, p)}, {"a": "Model <A> & co"}))
    texts = [(t.text, t.get("fill"), t.get("font-weight")) for t in root.iter(f"{SVG}text")]
    assert ("Model <A> & co", FLIP_COLOUR, "bold") in texts  # the flipped panel's title: red, bold, escaped
    assert ("prediction flips 7 → 1", FLIP_COLOUR, "bold") in texts
    assert any(t[0] == "prediction stays 7" and t[2] == "normal" for t in texts)
    assert [t[0] for t in texts].count("5") == 2  # every digit labelled on both panels
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") in (ORIGINAL_COLOUR, CF_COLOUR)]
    assert len(bars) == 2 * 2 * 10 + 2  # two panels of ten digits x (original, what if), and the legend
    tallest = max(float(r.get("height")) for r in bars)
    assert tallest == pytest.approx(PANEL * 0.91, abs=0.1)  # bar height = probability
    assert flip_text(p, q) == "prediction flips 7 → 1"


def test_graph_picture_colours_roles_and_fades_cut_arrows():
    graph = MorphoSCM(0.95).graph
    root = _svg(graph_svg(graph, ("thickness",), ("image", "intensity")))
    circles = [c for c in root.iter(f"{SVG}circle") if c.get("r") == str(RADIUS)]
    names = [t.text for t in root.iter(f"{SVG}text")][:len(circles)]
    fills = dict(zip(names, (c.get("fill") for c in circles)))
    assert fills["thickness"] == ROLE_STYLE["intervened"][1]
    assert fills["image"] == fills["intensity"] == ROLE_STYLE["downstream"][1]
    assert fills["digit"] == fills["hue"] == ROLE_STYLE["unaffected"][1]
    arrows = [line for line in root.iter(f"{SVG}line") if line.get("marker-end")]
    assert len(arrows) == len(graph.edges)
    assert not any("cut" in (t.text or "") for t in root.iter(f"{SVG}text"))  # thickness has no parents
    cut = _svg(graph_svg(graph, ("intensity",), ("image",)))
    faded = [line for line in cut.iter(f"{SVG}line") if line.get("marker-end") == "url(#faded)"]
    assert len(faded) == len(graph.parents("intensity"))
    assert any("arrow cut by do(...)" == t.text for t in cut.iter(f"{SVG}text"))


def test_lab_graph_picture_marks_cut_and_idle_arrows():
    from explorer.scm.graph import Dag
    from explorer.ui.svg_charts import lab_graph_svg

    nodes = ("a", "b", "c")
    learned = Dag(nodes, frozenset({("a", "b"), ("a", "c")}))
    positions = (("a", (0.0, 0.0)), ("b", (1.0, 1.0)), ("c", (1.0, -1.0)))
    labels = (("a", "a"), ("b", "b\nline two"), ("c", "c"))
    # the visitor cut a -> c and set b with do(): a -> b is idle, a -> c is cut, nothing else changed
    root = _svg(lab_graph_svg(positions, labels, frozenset({("a", "b")}), learned, ("b",), ()))
    arrows = [line for line in root.iter(f"{SVG}line") if line.get("marker-end")]
    assert len(arrows) == 2 and all(line.get("marker-end") == "url(#faded)" for line in arrows)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count("✂ cut") == 1 and "line two" in texts  # a two-line label is two lines
    live = _svg(lab_graph_svg(positions, labels, frozenset({("a", "b"), ("a", "c")}), learned, (), ()))
    assert all(line.get("marker-end") == "url(#head)" for line in live.iter(f"{SVG}line") if line.get("marker-end"))
