"""Phone-sized layout (390 x 844): charts that fit a narrow screen, a compact digit gallery, a table that scrolls.

The figure checks are plain dict checks; the last two tests open the app in Chromium at a phone's viewport.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest
from test_browser import CHROMIUM, READY, STEP, browser, server  # noqa: F401  (fixtures)

from explorer.ui.charts import CLASSES
from explorer.ui.svg_charts import RADIUS, graph_svg, probability_svg
from explorer.ui.text_view import probability_html

PHONE = {"width": 390, "height": 844}
SVG = "{http://www.w3.org/2000/svg}"


def _probs(pred: int) -> np.ndarray:
    return np.eye(10)[pred] * 0.9 + 0.01


def test_probability_panels_are_stacked_rows_with_every_digit():
    """The Image page's probability picture: one panel per row (titles never run into a neighbour's), all ten
    digits labelled on every panel, rows of the same height whatever the count."""
    def panels(n: int) -> ET.Element:
        names = ["a", "b", "c"][:n]
        return ET.fromstring(probability_svg({k: (_probs(7), _probs(1 if k == "a" else 7)) for k in names},
                                             {"a": "Project CNN (colour-trained)"}))
    root = panels(3)
    texts = [(t.text, float(t.get("y"))) for t in root.iter(f"{SVG}text")]
    titles = [y for text, y in texts if text and text.startswith("prediction ")]
    assert len(titles) == 3 and titles == sorted(titles)
    assert all(sum(text == d for text, _ in texts) == 3 for d in CLASSES)
    height = float(root.get("height"))
    assert float(panels(1).get("height")) < height < 700
    assert float(root.get("width")) <= 460  # shrinks to a phone's column without scrolling sideways


def _text_result(changed: bool):
    o, cf = np.array([0.05, 0.05, 0.8, 0.1]), np.array([0.1, 0.1, 0.7, 0.1])
    return SimpleNamespace(probs={"o": (o, o), "cf": (cf, cf)}, classes=("anger", "fear", "joy", "sadness"),
                           rewrite=SimpleNamespace(changed=changed))


def test_text_probability_panels_are_pictures_that_fit_a_phone_with_centred_titles():
    """The Text page's bars (explorer/ui/text_view.py): one picture (an <img>) per panel, each narrower than a
    phone and allowed to shrink to its column, so they stack there instead of shrinking their labels; titles
    centred."""
    import re
    from urllib.parse import unquote

    def pictures(changed: bool) -> list[ET.Element]:
        markup = probability_html(_text_result(changed))
        imgs = re.findall(r"<img src='data:image/svg\+xml;charset=utf-8,([^']*)'[^>]*>", markup)
        assert imgs and all("max-width:100%" in tag for tag in re.findall(r"<img [^>]*>", markup))
        return [ET.fromstring(unquote(x)) for x in imgs]

    panels = pictures(True)[:-1]  # the last picture is the legend
    assert len(panels) == 2 and len(pictures(False)) == 2
    for panel in panels:
        assert float(panel.get("width")) < PHONE["width"] and "max-width:100%" in panel.get("style")
        title = next(panel.iter(f"{SVG}text"))
        assert title.get("text-anchor") == "middle"
        assert float(title.get("x")) == pytest.approx(float(panel.get("viewBox").split()[2]) / 2, abs=25)


# --- in a browser, at a phone's size ---------------------------------------------------------------------------
def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"]
                or b["bottom"] <= a["top"])


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_phone_image_page_gallery_is_compact_and_charts_fit(server, browser):  # noqa: F811
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{server}/image_whatif")
    chart = page.locator(".ip-chart:not([hidden]) img")  # the answer panel's (explorer/ui/render.py)
    chart.wait_for(timeout=READY)
    # the ten examples: a grid of at most two rows inside the screen, not one column ~1,000 px deep
    # (the gallery is drawn in its own element, which may land a moment after the chart; measured once every
    # thumbnail has loaded: in one full-suite run the grid measured three rows, likely while a picture had not
    # arrived yet and its tile had another size)
    tiles = page.locator(".st-key-gallery img")
    page.wait_for_function("() => { const t = [...document.querySelectorAll('.st-key-gallery img')];"
                           " return t.length >= 10 && t.every(i => i.complete && i.naturalWidth > 0); }",
                           timeout=STEP)
    assert tiles.count() == 10
    boxes = [tiles.nth(i).bounding_box() for i in range(10)]
    assert len({round(b["y"]) for b in boxes}) <= 2
    assert max(b["x"] + b["width"] for b in boxes) <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the probability picture and the graph shrink into the screen, and are drawn
    for picture in (chart, page.locator("[data-testid=stImage]:has(img[src^='data:image/svg']) img").last):
        picture.scroll_into_view_if_needed()
        box = picture.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] > 100
        assert picture.evaluate("e => e.complete && e.naturalWidth > 0")
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
    box = page.locator(".ip-root .ip-values .ip-scroll")  # the answer panel's table (assets/image_panel/)
    box.locator("th").last.wait_for(timeout=READY)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # the page itself does not
    width, scroll = box.evaluate("e => [e.clientWidth, e.scrollWidth]")
    assert scroll > width and box.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    last = box.locator("th").last.bounding_box()
    assert last["x"] + last["width"] <= PHONE["width"]  # "shadow position" can be scrolled into view
    # three pictures side by side, none wider than the screen's third
    pics = page.locator(".ip-root .ip-pictures img")
    # measured once all three have loaded and sit in one row: in two full-suite runs (one after the wait for the
    # pictures was added) they measured two rows (tops 581 px apart) at one instant, a passing state whose cause
    # was not found; a layout that never reaches one row still fails here
    one_row = ("() => { const p = [...document.querySelectorAll('.ip-root .ip-pictures img')];"
               " return p.length === 3 && p.every(i => i.complete && i.naturalWidth > 0)"
               " && new Set(p.map(i => Math.round(i.getBoundingClientRect().top))).size === 1; }")
    page.wait_for_function(one_row, timeout=STEP)
    assert pics.count() == 3
    assert all(pics.nth(i).bounding_box()["width"] < PHONE["width"] / 3 for i in range(3))
    page.context.close()


# --- the Image page: its causal graph, its pictures and its table ---------------------------------------------
def _graph_on_picture(svg: str) -> tuple[dict, dict]:
    """Node centres and arrows (start, end) in the picture's units, named."""
    root = ET.fromstring(svg)
    circles = [c for c in root.iter(f"{SVG}circle") if c.get("r") == str(RADIUS)]
    names = [t.text for t in root.iter(f"{SVG}text")][:len(circles)]
    nodes = {n: np.array([float(c.get("cx")), float(c.get("cy"))]) for n, c in zip(names, circles)}

    def nearest(point: np.ndarray) -> str:
        return min(nodes, key=lambda n: np.linalg.norm(nodes[n] - point))

    arrows = {}
    for line in root.iter(f"{SVG}line"):
        if line.get("marker-end"):
            start = np.array([float(line.get("x1")), float(line.get("y1"))])
            end = np.array([float(line.get("x2")), float(line.get("y2"))])
            arrows[nearest(start), nearest(end)] = (start, end)
    return nodes, arrows


@pytest.mark.parametrize("colour_strength", [None, 0.95], ids=["grey", "colour"])
def test_image_graph_arrows_pass_clear_of_the_nodes_they_do_not_join(colour_strength):
    """The digit → image arrow once ran straight through intensity and read as digit → intensity. The picture
    scales as a whole, so clearances in its own units hold at any screen width."""
    from explorer.scm.morpho import MorphoSCM

    graph = MorphoSCM(colour_strength).graph
    downstream = tuple(n for n in graph.nodes if n in ("hue", "image"))
    nodes, arrows = _graph_on_picture(graph_svg(graph, ("digit",), downstream))
    assert set(nodes) == set(graph.nodes) and set(arrows) == set(graph.edges)
    for (parent, child), (start, end) in arrows.items():
        for name, centre in nodes.items():
            if name in (parent, child):
                continue
            t = np.clip(np.dot(centre - start, end - start) / np.dot(end - start, end - start), 0, 1)
            clearance = np.linalg.norm(start + t * (end - start) - centre)
            assert clearance > RADIUS + 10, f"{parent} → {child} passes {clearance:.0f} from {name}'s centre"
    centres = list(nodes.values())
    assert min(np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1:]) > 2 * RADIUS + 10


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_phone_image_page_pictures_make_a_2x2_block_and_the_table_scrolls(server, browser):  # noqa: F811
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{server}/image_whatif?index=0&world=colour")
    box = page.locator(".ip-values:not([hidden]) .ip-scroll")  # the answer panel's table (assets/image_panel/)
    box.locator("table").wait_for(timeout=READY)
    # the styles arrive in their own elements, which may land a moment after what they style; the pictures
    # may load a moment after the table
    page.wait_for_function(
        "() => { const g = document.querySelector('.ip-pictures:not([hidden])'), "
        "t = document.querySelector('.ip-values:not([hidden]) .ip-scroll'), "
        "imgs = [...document.querySelectorAll('.ip-pictures img')]; "
        "return g && t && getComputedStyle(g).display === 'grid' && getComputedStyle(t).overflowX === 'auto' "
        "&& imgs.length === 4 && imgs.every(i => i.complete && i.naturalWidth > 0) "
        "&& t.querySelectorAll('th').length === 5; }",
        timeout=STEP)
    # original, the model's what-if, the true answer, the difference: two rows of two, inside the screen
    pics = page.locator(".ip-pictures img")
    assert pics.count() == 4
    boxes = [pics.nth(i).bounding_box() for i in range(4)]
    tops = sorted({round(b["y"]) for b in boxes})
    assert len(tops) == 2 and [round(b["y"]) for b in boxes] == [tops[0], tops[0], tops[1], tops[1]]
    assert boxes[0]["x"] < boxes[1]["x"] and boxes[2]["x"] < boxes[3]["x"]
    assert max(b["x"] + b["width"] for b in boxes) <= PHONE["width"]
    captions = page.locator(".ip-pictures figcaption").all_inner_texts()
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
