"""The UI's plain helpers, checked by hand: PNG encoding, the difference map and the Plotly figures."""

from __future__ import annotations

import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from explorer.scm.morpho import MorphoSCM
from explorer.ui.charts import flip_text, graph_spec, probability_spec
from explorer.ui.images import DISPLAY, difference_rgb, png, side_by_side


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


def test_probability_figure_validates_and_marks_flips():
    p = np.eye(10)[7] * 0.9 + 0.01  # predicts 7
    q = np.eye(10)[1] * 0.9 + 0.01  # predicts 1
    spec = probability_spec({"a": (p, q), "b": (p, p)}, {"a": "Model A"})
    go.Figure(spec)  # full plotly validation: the page skips it for speed, so it must hold here
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert "Model A" in titles[0] and "prediction flips 7 → 1" in titles[0] and "<b>" in titles[0]
    assert titles[1].endswith("prediction stays 7")
    assert len(spec["data"]) == 4 and [t["xaxis"] for t in spec["data"]] == ["x", "x", "x2", "x2"]
    assert flip_text(p, q) == "prediction flips 7 → 1"


def test_graph_figure_validates_and_colours_roles():
    graph = MorphoSCM(0.95).graph
    spec = graph_spec(graph, intervened=["thickness"], downstream=["image", "intensity"])
    go.Figure(spec)
    roles = {t["name"]: [s.replace("<b>", "").replace("</b>", "") for s in t["text"]]
             for t in spec["data"] if t["mode"] == "markers+text"}
    assert roles["set by you: do(...)"] == ["thickness"]
    assert sorted(roles["changes as a consequence"]) == ["image", "intensity"]
    assert sorted(roles["unchanged"]) == ["digit", "hue"]
    assert len(spec["layout"]["annotations"]) == len(graph.edges)  # one arrow per edge
    assert not any(t["name"] == "arrow cut by do(...)" for t in spec["data"])  # thickness has no parents
    cut = graph_spec(graph, intervened=["intensity"], downstream=["image"])
    assert any(t["name"] == "arrow cut by do(...)" for t in cut["data"])
