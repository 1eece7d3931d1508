"""The Causal graph lab's quick sliders (explorer/ui/quick_sliders.py) in Chromium: a move redraws in the browser.

While a concept's slider moves, the component swaps the model's scene from the precomputed sweep
(`LabService.sweep`), with no server round trip, and the answer panel swaps the whole answer (the true scene, the
table, the error) from the same sweep; when the move ends the value reaches Python, the answer's fragment reruns,
and the address bar follows; a shared link (with a cut arrow) opens with the component at the link's value.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from test_browser import CHROMIUM, READY, STEP, browser, server  # noqa: F401  (fixtures)
from test_image_quick_sliders_browser import IDLE

from explorer.paths import PRETRAINED

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
    pytest.mark.skipif(not (PRETRAINED / "pendulum-causal-vae" / "card.json").exists(),
                       reason="no shipped pendulum model: python -m explorer train pendulum"),
]

# What the page shows: the quick picture and readings, and the answer panel's (assets/image_panel/): the model's
# scene, the true one, the table's model row, the model's error, and whether it shows the sweep's answer.
_STATE = """{quick: document.querySelector('.qs-picture').src,
  readings: document.querySelector('.qs-readings').innerText,
  grid: [...document.querySelectorAll('.ip-root figure')]
      .find(e => e.innerText.includes('drawn by the model')).querySelector('img').src,
  truth: [...document.querySelectorAll('.ip-root figure')]
      .find(e => e.innerText.includes('true answer')).querySelector('img').src,
  row: [...document.querySelectorAll('.ip-root tr')].find(r => r.innerText.includes('What if: the model')).innerText,
  error: document.querySelector('.ip-root .ip-mse').innerText,
  stale: document.querySelector('.ip-root').dataset.stale}"""
# Installed before a key press: on the range input's `input` event (a listener on the document runs after the
# component's own, in the same task, before any websocket message can be handled) it records the page's state.
_WATCH_JS = f"""() => {{
  window.__seen = null;
  document.addEventListener('input', () => {{ if (window.__seen === null) window.__seen = {_STATE}; }}, {{once: true}});
  return {_STATE};
}}"""
_ROW_JS = ("() => [...document.querySelectorAll('.ip-root tr')]"
           ".find(r => r.innerText.includes('What if: the model')).innerText")


def _pixels(uri: str) -> np.ndarray:
    """(64, 64, 3) int: a scene the page shows, decoded from its data: URI."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"), int)


# Whether the answer panel was marked stale at any moment from now on (an observer: the mark can be short-lived).
_SAW_STALE_JS = """() => {
  const root = document.querySelector('.ip-root');
  window.__sawStale = root.dataset.stale === 'true';
  new MutationObserver(() => { if (root.dataset.stale === 'true') window.__sawStale = true; })
    .observe(root, {attributes: true, attributeFilter: ['data-stale']});
}"""


def _lab(browser, query: str):  # noqa: F811
    """The lab page at `?query`, once the quick sliders show the model's scene and no run is pending."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{query}")
    page.wait_for_selector(".st-key-value_light input[type=range]", timeout=READY)
    page.wait_for_selector(".qs-picture[src^='data:image/jpeg']", timeout=READY)
    page.wait_for_function(IDLE, timeout=STEP)
    return page


def _reach(page, name: str):
    """Focuses a concept's slider; its sweep arrives (one rerun) unless the page sent it already."""
    slider = page.locator(f".st-key-value_{name} input[type=range]")
    slider.focus()
    page.wait_for_selector(f".st-key-value_{name}[data-swept]", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    return slider


def _press(page, key: str) -> tuple[dict, dict]:
    """Presses `key` on the focused slider; returns the page's state before, and as the key press's own task left
    it (before any message from the server could be handled)."""
    before = page.evaluate(_WATCH_JS)
    page.keyboard.press(key)
    page.wait_for_function("() => window.__seen !== null", timeout=STEP)
    return before, page.evaluate("() => window.__seen")


def test_a_keyboard_move_redraws_in_the_browser_then_the_link_follows(server, browser):  # noqa: F811
    page = _lab(browser, f"{server}/causal_graph_lab?scene=0&light=100")
    slider = _reach(page, "light")
    before, seen = _press(page, "ArrowLeft")  # 100 -> 99 degrees
    # swapped in the key press's own task, from the sweep: the quick picture and with it the whole answer panel
    # (the model's scene is the quick picture; the true scene, the table and the error are the sweep's too)
    assert seen["quick"] != before["quick"] and seen["quick"].startswith("data:image/jpeg")
    # and final: every 1-degree step of the light is a position of its sweep, which holds the whole answer there
    assert seen["grid"] == seen["quick"] and seen["truth"] != before["truth"] and seen["stale"] == "false"
    assert "99 ° (set by you)" in seen["row"] and seen["row"] != before["row"] and "MSE" in seen["error"]
    assert "light angle: " in seen["readings"] and "→ 99 °" in seen["readings"]
    assert page.locator(".st-key-value_light .qs-value").inner_text().startswith("99")
    # the move ended with the key press: Python gets the value, the page and the address bar follow
    page.wait_for_function("() => location.search.includes('light=99')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    assert "99 ° (set by you)" in page.evaluate(_ROW_JS)
    after = page.evaluate(_WATCH_JS)
    # the rerun wrote the link and drew nothing again: the answer stays the one swapped in at the key press
    assert {k: after[k] for k in ("grid", "truth", "row", "error", "stale")} == \
        {k: seen[k] for k in ("grid", "truth", "row", "error", "stale")}
    # what the browser showed while moving is what the server then drew for 99 degrees (the sweep is what_if: equal
    # to float rounding; both then go through the same JPEG encoder)
    assert np.abs(_pixels(after["quick"]) - _pixels(seen["quick"])).max() <= 1
    assert after["readings"] == seen["readings"]
    assert slider.input_value() == "99" and page.evaluate("document.activeElement.type") == "range"
    page.context.close()


def test_a_shared_link_opens_at_its_value_and_its_cut(server, browser):  # noqa: F811
    page = _lab(browser, f"{server}/causal_graph_lab?scene=3&cut=light-shadow_position&light=70")
    shown = {n: (page.locator(f".st-key-value_{n} input[type=range]").input_value(),
                 page.locator(f".st-key-value_{n} .qs-value").inner_text(),
                 page.locator(f".st-key-do_{n} input").is_checked()) for n in ("light", "pendulum")}
    assert shown["light"] == ("70", "70 °", True)
    assert not page.locator(".st-key-edge_light__shadow_position input").is_checked()
    # an unticked slider shows the scene's own value; moving it redraws in the browser, in the cut graph
    assert shown["pendulum"][2] is False
    _reach(page, "pendulum")
    before, seen = _press(page, "ArrowRight")
    assert seen["quick"] != before["quick"] and seen["grid"] == seen["quick"] != before["grid"]
    assert "70 ° (set by you)" in seen["row"]  # the sweep holds the link's light, in the cut graph
    page.wait_for_function("() => location.search.includes('pendulum=')", timeout=STEP)
    assert "light=70" in page.url and "cut=light-shadow_position" in page.url and "scene=3" in page.url
    page.wait_for_function(IDLE, timeout=STEP)
    assert not page.locator(".st-key-edge_light__shadow_position input").is_checked()
    assert "70 ° (set by you)" in page.evaluate(_ROW_JS)
    # the sweep was drawn in the cut graph: what the browser showed while moving is what the server then drew
    after = page.evaluate(_WATCH_JS)
    assert after["readings"] == seen["readings"] and after["grid"] != before["grid"]
    page.context.close()


def test_a_value_between_the_sweeps_positions_is_drawn_exactly_on_release(server, browser):  # noqa: F811
    """The shadow length's slider has 111 steps and its sweep every 2nd: a step between two positions shows the
    nearest position's answer, marked stale, until the rerun draws the answer at the value itself."""
    page = _lab(browser, f"{server}/causal_graph_lab?scene=0&shadow_length=8.1")
    _reach(page, "shadow_length")
    before, seen = _press(page, "ArrowRight")  # 8.1 -> 8.2, between the positions 8.1 and 8.3
    assert seen["stale"] == "true" and seen["grid"] == seen["quick"]
    assert "8.2 units" not in seen["row"]  # a neighbouring position's answer, marked stale
    page.wait_for_function("() => location.search.includes('shadow_length=8.2')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    after = page.evaluate(_WATCH_JS)
    assert after["stale"] == "false" and "8.2 units (set by you)" in after["row"]  # the answer at 8.2 itself
    page.context.close()


def test_a_move_before_the_sweep_came_brings_it_and_the_page_agrees(server, browser):  # noqa: F811
    """Focus and press at once, on a slider whose sweep the page did not bring (the link sets the pendulum first,
    whose sweep comes with the page): the move goes before the slider asks for its sweep, and its rerun brings it
    after the answer; the page marks itself stale meanwhile, and ends with the quick picture and the panel's scene
    the same, at the value pressed."""
    page = _lab(browser, f"{server}/causal_graph_lab?scene=7&pendulum=10&light=70")
    page.evaluate(_SAW_STALE_JS)
    assert page.locator(".st-key-value_light[data-swept]").count() == 0
    # 70 -> 71 before the light's sweep is here: focus and key in one action, since a focus held for the reach's
    # pause (REACH, 150 ms) asks for the sweep, which on a loaded machine could come before a separate key press
    page.locator(".st-key-value_light input[type=range]").press("ArrowRight")
    page.wait_for_function("() => window.__sawStale", timeout=STEP)  # watched: the mark lasts one round trip
    page.wait_for_function("() => location.search.includes('light=71')", timeout=STEP)
    page.wait_for_selector(".st-key-value_light[data-swept]", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    state = page.evaluate(_WATCH_JS)
    assert state["quick"] == state["grid"] and "71 ° (set by you)" in state["row"]
    _, seen = _press(page, "ArrowRight")  # now from the sweep: whole, at once
    assert seen["stale"] == "false" and "72 ° (set by you)" in seen["row"] and seen["quick"] == seen["grid"]
    page.context.close()
