"""A move the page shows whole waits in the browser until the visitor pauses (explorer/ui/quick_sliders.py,
SETTLE_MS; assets/quick_sliders/quick_sliders.js, `settle`), in Chromium on the Image page.

The address bar follows each move at once; the value goes to Python once, after the pause, or before the visitor
acts anywhere else on the page (so that action's run starts from it); Back before the pause shows the older link.
"""

from __future__ import annotations

import pytest
from test_browser import CHROMIUM, READY, SETTLE_MS, STEP, browser, server  # noqa: F401  (fixtures)
from test_image_quick_sliders_browser import IDLE
from test_quick_sliders_cache import _ROW_JS, _SENT_JS, _gone, _settled

from explorer.ui import quick_sliders as qs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


def _open(browser, url: str):  # noqa: F811
    """The page at `url` with the thickness slider's sweep in the browser; returns (page, messages it sent)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(f)))
    page.goto(url)
    page.wait_for_selector(".st-key-value_thickness[data-swept]", timeout=READY)
    page.locator(".st-key-value_thickness input[type=range]").focus()
    page.wait_for_function(IDLE, timeout=STEP)
    return page, sent


def _row_says(value: str) -> str:
    """Script: the panel's what-if row says `value` px set by you (false while a rerun redraws the panel)."""
    said = f"({_ROW_JS})().includes('{value} px (set by you)')"
    return f"() => {{ try {{ return {said} }} catch (e) {{ return false }} }}"


def _shown(page, value: str) -> None:
    """The page shows `value` (the panel's row and the slider) and its address bar says it: nothing sent needed."""
    page.wait_for_function(f"() => location.search.includes('thickness={value}')", timeout=STEP)
    page.wait_for_function(_row_says(value), timeout=STEP)
    assert page.locator(".st-key-value_thickness input[type=range]").input_value() == value


def test_moves_shown_whole_go_to_python_once_after_the_pause_and_link_at_once(server, browser):  # noqa: F811
    page, sent = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0")
    entries = page.evaluate("() => history.length")
    sent.clear()
    for value in ("2.1", "2.2", "2.3"):
        page.keyboard.press("ArrowRight")
        _shown(page, value)  # the whole answer and the link, before anything reached the server
    assert not sent
    assert page.evaluate("() => history.length") == entries + 3  # a history entry a move, as a rerun's link adds
    _gone(page)
    assert len(sent) == 1  # the last value alone, applied by the server's run
    _settled(page, "2.3")
    assert page.evaluate("() => history.length") == entries + 3  # the run wrote the same link: no entry of its own
    page.context.close()


def test_back_before_the_pause_shows_the_older_link_and_the_newer_value_never_goes(server, browser):  # noqa: F811
    page, sent = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0")
    page.keyboard.press("ArrowRight")
    _shown(page, "2.1")
    page.keyboard.press("ArrowRight")
    _shown(page, "2.2")
    page.go_back()
    page.wait_for_function("() => location.search.includes('thickness=2.1')", timeout=STEP)
    page.wait_for_function(_row_says("2.1"), timeout=STEP)
    page.wait_for_function(_SENT_JS, timeout=STEP)
    page.wait_for_timeout(SETTLE_MS + 300)  # nothing of 2.2 comes later
    page.wait_for_function(IDLE, timeout=STEP)
    _settled(page, "2.1")
    page.context.close()


def test_acting_elsewhere_before_the_pause_starts_from_the_moved_value(server, browser):  # noqa: F811
    page, _ = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0")
    page.keyboard.press("ArrowRight")
    _shown(page, "2.1")
    box = page.locator(".st-key-index input")  # another digit, typed at once: the run it starts draws both
    box.fill("3")
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('index=3')", timeout=READY)
    page.wait_for_function(IDLE, timeout=STEP)
    page.wait_for_function(_row_says("2.1"), timeout=STEP)
    assert "thickness=2.1" in page.url
    assert page.locator(".st-key-value_thickness input[type=range]").input_value() == "2.1"
    page.context.close()


def test_moving_another_slider_sends_the_waiting_value_first(server, browser):  # noqa: F811
    page, sent = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0")
    page.keyboard.press("ArrowRight")
    _shown(page, "2.1")
    sent.clear()
    intensity = page.locator(".st-key-value_intensity input[type=range]")
    intensity.focus()  # thickness loses the focus: its value goes now, not after the pause
    page.wait_for_function(_SENT_JS, timeout=STEP)
    assert sent
    intensity.press("ArrowRight")  # its box was not ticked: this move goes at once and redraws the boxes
    page.wait_for_function("() => location.search.includes('intensity=')", timeout=READY)
    page.wait_for_function(IDLE, timeout=STEP)
    page.wait_for_function("() => document.querySelector('.st-key-do_intensity input').checked", timeout=STEP)
    _gone(page)
    assert "thickness=2.1" in page.url
    assert page.locator(".st-key-value_thickness input[type=range]").input_value() == "2.1"
    page.wait_for_function(_row_says("2.1"), timeout=STEP)
    page.context.close()
