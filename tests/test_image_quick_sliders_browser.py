"""The Image page's quick sliders (explorer/ui/quick_sliders.py) in Chromium: a move redraws in the browser.

While a slider moves, the component swaps the model's picture from the precomputed sweep, with no server round
trip; when the move ends the value reaches Python, the fragment reruns, and the address bar follows; a shared
link opens with the component showing the link's value.
"""

from __future__ import annotations

import pytest
from test_browser import CHROMIUM, READY, STEP, browser, server  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]

IDLE = "() => document.querySelectorAll('[data-stale=true]').length === 0"
# Installed before a key press: on the range input's `input` event (a listener on the document runs after the
# component's own, in the same task, before any websocket message can be handled) it records the quick picture's
# src and the page's own counterfactual picture's src, and counts the messages the server sent so far.
_WATCH_JS = """() => {
  window.__seen = null;
  const grid = () => [...document.querySelectorAll('.ip-root figure')]
      .find(e => e.innerText.includes('drawn by the model')).querySelector('img').src;
  document.addEventListener('input', () => {
    if (window.__seen === null) window.__seen = {quick: document.querySelector('.qs-picture').src, grid: grid()};
  }, {once: true});
  return {quick: document.querySelector('.qs-picture').src, grid: grid()};
}"""


# The largest difference of one channel between two 28 px pictures (data: URIs), decoded by the browser.
_DIFF_JS = """async ([a, b]) => {
  const pixels = async (src) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = c.height = 28;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    return g.getImageData(0, 0, 28, 28).data;
  };
  const [p, q] = [await pixels(a), await pixels(b)];
  return Math.max(...p.map((v, i) => Math.abs(v - q[i])));
}"""


def _open(browser, url: str):  # noqa: F811
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    page.wait_for_selector(".st-key-value_thickness input[type=range]", timeout=READY)
    page.wait_for_function("() => document.querySelector('.qs-picture')?.src.startsWith('data:image/png')",
                           timeout=READY)
    page.wait_for_function(IDLE, timeout=STEP)
    return page


def test_a_keyboard_move_redraws_in_the_browser_then_the_link_follows(server, browser):  # noqa: F811
    page = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0")
    received = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(f)))
    before = page.evaluate(_WATCH_JS)
    slider = page.locator(".st-key-value_thickness input[type=range]")
    slider.focus()
    page.keyboard.press("ArrowRight")  # 2.0 -> 2.1 px
    seen = page.evaluate("() => window.__seen")
    # swapped in the key press's own task, before any message from the server: the quick picture, and the answer
    # panel's picture from the same sweep (its `quick-move` event), the same picture
    assert seen["quick"] != before["quick"] and seen["quick"].startswith("data:image/png")
    assert seen["grid"] == seen["quick"] != before["grid"]
    assert page.locator(".st-key-value_thickness .qs-value").inner_text().startswith("2.1")
    # the move ended with the key press: Python gets the value, the page and the address bar follow
    page.wait_for_function("() => location.search.includes('thickness=2.1')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    row = page.evaluate("() => [...document.querySelectorAll('tr')].find(r => r.innerText.includes("
                        "'What if: value in')).innerText")
    assert "2.1 px (set by you)" in row
    after = page.evaluate(_WATCH_JS)
    assert after["grid"] != before["grid"]
    # the quick picture shown while moving is the one the server then drew for 2.1 px (the sweep is what_if: equal
    # to float rounding, so at most one grey level apart once made 8-bit)
    assert page.evaluate(_DIFF_JS, [after["quick"], seen["quick"]]) <= 1
    assert slider.input_value() == "2.1" and page.evaluate("document.activeElement.type") == "range"
    page.context.close()


def test_a_shared_link_opens_with_the_quick_slider_at_its_value(server, browser):  # noqa: F811
    page = _open(browser, f"{server}/image_whatif?index=12&thickness=4.5")
    assert page.locator(".st-key-value_thickness input[type=range]").input_value() == "4.5"
    assert page.locator(".st-key-value_thickness .qs-value").inner_text().startswith("4.5 px")
    assert page.locator(".st-key-do_thickness input").is_checked()
    # an unticked slider shows the digit's own value, and has no sweep until the visitor reaches for it
    intensity = page.locator(".st-key-value_intensity input[type=range]")
    assert not page.locator(".st-key-do_intensity input").is_checked()
    assert page.locator(".st-key-value_intensity[data-swept]").count() == 0
    intensity.focus()  # asks for its sweep (one rerun); then its moves redraw in the browser too
    page.wait_for_selector(".st-key-value_intensity[data-swept]", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    before = page.evaluate(_WATCH_JS)
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => window.__seen !== null", timeout=STEP)
    seen = page.evaluate("() => window.__seen")
    assert seen["quick"] != before["quick"] and seen["grid"] == seen["quick"]
    page.wait_for_function("() => location.search.includes('intensity=')", timeout=STEP)
    assert "thickness=4.5" in page.url
    page.context.close()


# Installed before a key press: at the range input's `input` event, what the answer panel shows (its listener runs
# in the component's own handler, before this one on the document).
_PANEL_JS = """() => {
  window.__panel = null;
  const row = (t) => [...document.querySelectorAll('.ip-root tr')].find(r => r.innerText.includes(t));
  document.addEventListener('input', () => {
    if (window.__panel !== null) return;
    window.__panel = {cf: row('What if: value in').innerText, measured: row('measured on the model').className,
                      measuredText: row('measured on the model').innerText,
                      stale: document.querySelector('.ip-root').dataset.stale,
                      lines: document.querySelector('.ip-lines:not([hidden])').innerText,
                      chart: document.querySelector('.ip-chart:not([hidden])').className,
                      chartSrc: document.querySelector('.ip-chart:not([hidden]) img').src};
  });
  return document.querySelector('.ip-chart:not([hidden]) img').src;
}"""


def test_a_move_redraws_the_whole_answer_in_the_browser_then_only_the_link_follows(server, browser):  # noqa: F811
    page = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0")
    page.locator(".st-key-value_thickness input[type=range]").focus()
    page.wait_for_selector(".st-key-value_thickness[data-swept]", timeout=STEP)
    chart_before = page.evaluate(_PANEL_JS)
    page.keyboard.press("ArrowRight")  # 2.0 -> 2.1 px
    seen = page.evaluate("() => window.__panel")
    # in the key press's own task, from the sweep, and final (every step of the thickness is a position of its
    # sweep, which holds the whole answer): the what-if's values, the measured row, the lines, the chart
    assert "2.1 px (set by you)" in seen["cf"] and "(follows)" in seen["cf"]
    assert seen["measured"] == "" and " px" in seen["measuredText"] and seen["stale"] == "false"
    assert "ip-stale" not in seen["chart"] and seen["chartSrc"] != chart_before
    # the move reaches Python, which writes the link and draws nothing again: the answer stays as swapped in
    page.wait_for_function("() => location.search.includes('thickness=2.1')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    page.wait_for_timeout(300)
    row = page.evaluate("() => [...document.querySelectorAll('.ip-root tr')].map(r => r.className + r.innerText)")
    assert not any(r.startswith("ip-pending") for r in row) and any("2.1 px (set by you)" in r for r in row)
    assert page.locator(".ip-chart.ip-stale").count() == 0
    assert page.locator(".ip-chart:not([hidden]) img").get_attribute("src") == seen["chartSrc"]
    assert page.locator(".ip-lines:not([hidden])").inner_text() == seen["lines"]
    page.context.close()
