"""Phone-sized layout (390 x 844): charts that fit a narrow screen, a compact digit gallery, a table that scrolls.

The figure checks are plain dict checks; the last two tests open the app in Chromium at a phone's viewport.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer.ui.charts import CLASSES, probability_spec
from explorer.ui.text_charts import probability_spec as text_probability_spec
from test_browser import CHROMIUM, READY, STEP, browser, server  # noqa: F401  (fixtures)

PHONE = {"width": 390, "height": 844}


def _probs(pred: int) -> np.ndarray:
    return np.eye(10)[pred] * 0.9 + 0.01


def test_probability_panels_are_stacked_full_width_rows_with_every_digit():
    spec = probability_spec({"a": (_probs(7), _probs(1)), "b": (_probs(7), _probs(7)), "c": (_probs(3), _probs(3))},
                            {"a": "Project CNN (colour-trained)"})
    go.Figure(spec)  # full validation
    layout = spec["layout"]
    xs = [layout[k] for k in ("xaxis", "xaxis2", "xaxis3")]
    ys = [layout[k] for k in ("yaxis", "yaxis2", "yaxis3")]
    # one panel per row, each the full width: no title or tick label can run into a neighbour's
    assert all(x["domain"] == [0, 1] for x in xs)
    domains = [y["domain"] for y in ys]
    assert all(upper[0] > lower[1] for upper, lower in zip(domains, domains[1:]))  # top to bottom, with gaps
    # all ten digits labelled on every panel (Plotly thinned them to 0 2 4 6 8 on a narrow axis)
    assert all(x["tickmode"] == "array" and list(x["tickvals"]) == CLASSES for x in xs)
    # titles start at the left edge, each just above its own panel
    for note, domain in zip(layout["annotations"], domains):
        assert note["xanchor"] == "left" and note["x"] == 0 and note["y"] == domain[1]
    assert layout["annotations"][0]["text"].startswith("<b>Project CNN (colour-trained)<br>")
    # the rows keep their pixel height whatever the count
    one = probability_spec({"a": (_probs(7), _probs(7))}, {})["layout"]
    assert one["height"] < layout["height"] < 700


def _text_result(changed: bool):
    o, cf = np.array([0.05, 0.05, 0.8, 0.1]), np.array([0.1, 0.1, 0.7, 0.1])
    return SimpleNamespace(probs={"o": (o, o), "cf": (cf, cf)}, classes=("anger", "fear", "joy", "sadness"),
                           rewrite=SimpleNamespace(changed=changed))


def test_text_probability_panels_share_one_axis_and_centre_their_titles():
    spec = text_probability_spec(_text_result(True))
    go.Figure(spec)
    layout = spec["layout"]
    assert layout["yaxis2"]["showticklabels"] is False and layout["yaxis2"]["matches"] == "y"
    assert "showticklabels" not in layout["yaxis"]  # the left panel keeps the percentages
    for note, axis in zip(layout["annotations"], (layout["xaxis"], layout["xaxis2"])):
        assert note["xanchor"] == "center" and note["x"] == pytest.approx(sum(axis["domain"]) / 2)
    assert layout["xaxis"]["domain"][1] < layout["xaxis2"]["domain"][0]
    assert len(text_probability_spec(_text_result(False))["layout"]["annotations"]) == 1


# --- in a browser, at a phone's size ---------------------------------------------------------------------------
def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"]
                or b["bottom"] <= a["top"])


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_phone_image_page_gallery_is_compact_and_chart_titles_do_not_overlap(server, browser):  # noqa: F811
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{server}/image_whatif")
    chart = page.locator("[data-testid=stPlotlyChart]").first
    chart.locator(".annotation").first.wait_for(timeout=READY)
    # the ten examples: a grid of at most two rows inside the screen, not one column ~1,000 px deep
    tiles = page.locator(".st-key-gallery img")
    assert tiles.count() == 10
    boxes = [tiles.nth(i).bounding_box() for i in range(10)]
    assert len({round(b["y"]) for b in boxes}) <= 2
    assert max(b["x"] + b["width"] for b in boxes) <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the chart's panel titles stay apart
    chart.scroll_into_view_if_needed()
    notes = chart.locator(".annotation").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); "
        "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })")
    assert len(notes) == 3
    assert not any(_boxes_overlap(a, b) for i, a in enumerate(notes) for b in notes[i + 1:])
    # every digit has its tick label on the first panel
    ticks = chart.locator(".xtick text").all_text_contents()
    assert [t for t in ticks if t][:10] == CLASSES
    # a gallery button still picks its digit (Streamlit keeps a hidden twin of a button with help: use the shown one)
    page.locator(".st-key-pick_3 button:visible").first.click()
    page.wait_for_function("() => location.search.includes('index=18')", timeout=STEP)
    page.context.close()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_phone_lab_table_scrolls_to_its_last_column(server, browser):  # noqa: F811
    from explorer.paths import PRETRAINED

    if not (PRETRAINED / "pendulum-causal-vae" / "card.json").exists():
        pytest.skip("no shipped pendulum model: python -m explorer train pendulum")
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{server}/causal_graph_lab")
    box = page.locator(".st-key-lab_values [data-testid=stMarkdownContainer]")
    box.locator("table").wait_for(timeout=READY)
    # the table's style arrives in its own element, which may land a moment after the table
    box.evaluate("e => new Promise(ok => { const t = setInterval(() => { if (getComputedStyle(e).overflowX === 'auto') "
                 "{ clearInterval(t); ok(); } }, 50); setTimeout(() => { clearInterval(t); ok(); }, 10000); })")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # the page itself does not
    width, scroll = box.evaluate("e => [e.clientWidth, e.scrollWidth]")
    assert scroll > width and box.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    last = box.locator("th").last.bounding_box()
    assert last["x"] + last["width"] <= PHONE["width"]  # "shadow position" can be scrolled into view
    # three pictures side by side, none wider than the screen's third
    pics = page.locator(".st-key-lab_pictures img")
    assert pics.count() == 3
    tops = {round(pics.nth(i).bounding_box()["y"]) for i in range(3)}
    assert len(tops) == 1 and all(pics.nth(i).bounding_box()["width"] < PHONE["width"] / 3 for i in range(3))
    page.context.close()


# --- the Image page: its causal graph, its pictures and its table ---------------------------------------------
NODE_PX = 36  # a graph node's radius on screen: marker size 70 and its outline


def _on_screen(spec: dict, width: float, height: float) -> tuple[dict, dict]:
    """Node centres and arrows (start, end) in the plot area's pixels, named; y grows downwards as on screen."""
    layout = spec["layout"]
    (x0, x1), (y0, y1) = layout["xaxis"]["range"], layout["yaxis"]["range"]

    def at(x: float, y: float) -> np.ndarray:
        return np.array([(x - x0) / (x1 - x0) * width, (y1 - y) / (y1 - y0) * height])

    name = {(x, y): text.replace("<b>", "").replace("</b>", "") for trace in spec["data"]
            if trace["mode"] == "markers+text" for text, x, y in zip(trace["text"], trace["x"], trace["y"])}
    nodes = {n: at(*xy) for xy, n in name.items()}
    arrows = {(name[a["ax"], a["ay"]], name[a["x"], a["y"]]): (at(a["ax"], a["ay"]), at(a["x"], a["y"]))
              for a in layout["annotations"]}
    return nodes, arrows


@pytest.mark.parametrize("colour_strength", [None, 0.95], ids=["grey", "colour"])
@pytest.mark.parametrize("plot_px", [(338, 238), (448, 275), (920, 275)], ids=["phone", "narrow", "laptop"])
def test_image_graph_arrows_pass_clear_of_the_nodes_they_do_not_join(colour_strength, plot_px):
    """The digit → image arrow ran straight through intensity and read as digit → intensity. Plot areas as
    measured in Chromium at 390, 800 and 1400 px wide."""
    from explorer.scm.morpho import MorphoSCM
    from explorer.ui.charts import graph_spec

    graph = MorphoSCM(colour_strength).graph
    spec = graph_spec(graph, intervened=["digit"], downstream=[n for n in graph.nodes if n in ("hue", "image")])
    go.Figure(spec)
    nodes, arrows = _on_screen(spec, *plot_px)
    assert set(nodes) == set(graph.nodes) and set(arrows) == set(graph.edges)
    for (parent, child), (start, end) in arrows.items():
        for name, centre in nodes.items():
            if name in (parent, child):
                continue
            t = np.clip(np.dot(centre - start, end - start) / np.dot(end - start, end - start), 0, 1)
            clearance = np.linalg.norm(start + t * (end - start) - centre)
            assert clearance > NODE_PX + 10, f"{parent} → {child} passes {clearance:.0f} px from {name}'s centre"
    centres = list(nodes.values())
    assert min(np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1:]) > 2 * NODE_PX + 10


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_phone_image_page_pictures_make_a_2x2_block_and_the_table_scrolls(server, browser):  # noqa: F811
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{server}/image_whatif?index=0&world=colour")
    box = page.locator(".st-key-image_values [data-testid=stMarkdownContainer]")
    box.locator("table").wait_for(timeout=READY)
    # the styles arrive in their own elements, which may land a moment after what they style; the pictures
    # may load a moment after the table
    page.wait_for_function(
        "() => { const g = document.querySelector('.st-key-image_pictures_grid'), "
        "t = document.querySelector('.st-key-image_values [data-testid=stMarkdownContainer]'), "
        "imgs = [...document.querySelectorAll('.st-key-image_pictures img')]; "
        "return g && t && getComputedStyle(g).display === 'grid' && getComputedStyle(t).overflowX === 'auto' "
        "&& imgs.length === 4 && imgs.every(i => i.complete && i.naturalWidth > 0) "
        "&& t.querySelectorAll('th').length === 5; }",
        timeout=STEP)
    # original, the model's what-if, the true answer, the difference: two rows of two, inside the screen
    pics = page.locator(".st-key-image_pictures img")
    assert pics.count() == 4
    boxes = [pics.nth(i).bounding_box() for i in range(4)]
    tops = sorted({round(b["y"]) for b in boxes})
    assert len(tops) == 2 and [round(b["y"]) for b in boxes] == [tops[0], tops[0], tops[1], tops[1]]
    assert boxes[0]["x"] < boxes[1]["x"] and boxes[2]["x"] < boxes[3]["x"]
    assert max(b["x"] + b["width"] for b in boxes) <= PHONE["width"]
    captions = page.locator(".st-key-image_pictures [data-testid=stImageCaption]").all_inner_texts()
    assert "What if: drawn by the model" in captions and len(captions) == 4
    # the table scrolls sideways inside its own box; the page itself does not
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    width, scroll = box.evaluate("e => [e.clientWidth, e.scrollWidth]")
    assert scroll > width
    box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    last = box.locator("th").last
    assert last.inner_text() == "hue"
    assert last.bounding_box()["x"] + last.bounding_box()["width"] <= PHONE["width"]
    page.context.close()
