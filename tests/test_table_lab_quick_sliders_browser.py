"""The Table lab's quick sliders (explorer/ui/table_lab_controls.py) in Chromium: a move redraws in the browser.

While age or hours per week moves, the component swaps the counterfactual row's values, and the answer panel the
whole records table, from the precomputed sweep (`TableLabService.sweep`), with no server round trip; when the move
ends the value reaches Python and the address bar follows (only the link's fragment reruns: the panel already shows
the answer, exactly the server's); a shared link opens with the slider at the link's value.
"""

from __future__ import annotations

import pytest
from test_browser import CHROMIUM, READY, STEP, browser, server  # noqa: F401  (fixtures)
from test_image_quick_sliders_browser import IDLE

from explorer.paths import PRETRAINED

_READY = CHROMIUM.exists() and (PRETRAINED / "census_world" / "card.json").exists()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(not _READY, reason="needs Debian's Chromium at /usr/bin/chromium "
                                                      "and the census world (python -m explorer train census-world)")]

# What the page shows: the quick readings (no picture on this page), the answer panel's records table, and whether
# the panel says it is waiting for a rerun (data-stale).
_STATE = """{readings: document.querySelector('.qs-readings').innerText,
  picture: document.querySelector('.qs-picture').hidden,
  records: document.querySelector('.st-key-tl_records').innerText,
  stale: document.querySelector('.st-key-tl_records .ip-root').dataset.stale}"""
# Installed before a key press: on the range input's `input` event (a listener on the document runs after the
# component's own, in the same task, before any websocket message can be handled) it records the page's state.
_WATCH_JS = f"""() => {{
  window.__seen = null;
  document.addEventListener('input', () => {{ if (window.__seen === null) window.__seen = {_STATE}; }}, {{once: true}});
  return {_STATE};
}}"""


def _reading(readings: str, label: str) -> str:
    return next(line for line in readings.splitlines() if line.startswith(label + ": "))


def _lab(browser, url: str):  # noqa: F811
    """The Table lab at `url`, once the quick sliders and the records are drawn and no run is pending."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    page.wait_for_selector(".st-key-value_age input[type=range]", timeout=READY)
    page.wait_for_selector(".st-key-tl_records table", timeout=READY)
    page.wait_for_function(IDLE, timeout=STEP)
    return page


def _press(page, name: str, key: str) -> tuple[dict, dict]:
    """Focuses slider `name` (the page then computes its sweep, one rerun, unless it has it), presses `key` on it;
    returns the page's state before, and as the key press's own task left it (before any message from the
    server could be handled)."""
    page.locator(f".st-key-value_{name} input[type=range]").focus()
    page.wait_for_selector(f".st-key-value_{name}[data-swept]", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    state = [page.evaluate(_WATCH_JS)]
    page.keyboard.press(key)
    page.wait_for_function("() => window.__seen !== null", timeout=STEP)
    return state[0], page.evaluate("() => window.__seen")


def test_a_keyboard_move_redraws_in_the_browser_then_the_link_follows(server, browser):  # noqa: F811
    page = _lab(browser, f"{server}/table_lab?source=world&seed=0&row=12&age=40")
    before, seen = _press(page, "age", "ArrowRight")  # 40 -> 41
    assert before["picture"] is True  # the Table lab's quick view has no picture
    # swapped in the key press's own task: the readings, and the whole records table, final at once
    assert _reading(seen["readings"], "age").endswith("→ 41 · TRUE 41 (changed)")
    assert _reading(before["readings"], "age").split("→")[1].strip().startswith("40")
    assert "41 (set by you)" in seen["records"] and "40 (set by you)" in before["records"]
    assert seen["stale"] == "false"
    assert page.locator(".st-key-value_age .qs-value").inner_text() == "41"
    # the move ended with the key press: Python gets the value and the address bar follows
    page.wait_for_function("() => location.search.includes('age=41')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    after = page.evaluate(_WATCH_JS)
    # what the browser showed is what the server answers for 41 (the sweep is what_if): a fresh page at 41 says so
    assert after["readings"] == seen["readings"] and after["records"] == seen["records"]
    fresh = _lab(browser, f"{server}/table_lab?source=world&seed=0&row=12&age=41")
    assert fresh.evaluate(_WATCH_JS)["records"] == seen["records"]
    fresh.context.close()
    assert page.locator(".st-key-value_age input").input_value() == "41" and page.evaluate("document.activeElement.type") == "range"
    # a second press is drawn from the same sweep (age's own value is not part of its key): no new sweep needed
    assert page.locator(".st-key-value_age[data-swept]").count() == 1
    before, seen = _press(page, "age", "ArrowRight")
    assert _reading(seen["readings"], "age").endswith("→ 42 · TRUE 42 (changed)")
    page.wait_for_function("() => location.search.includes('age=42')", timeout=STEP)
    page.context.close()


def test_a_shared_link_opens_at_its_value_and_its_cut(server, browser):  # noqa: F811
    page = _lab(browser, f"{server}/table_lab?source=world&seed=0&row=3&cut=sex:occupation&hours_per_week=60")
    hours = page.locator(".st-key-value_hours_per_week")
    assert hours.locator("input[type=range]").input_value() == "60"
    assert hours.locator(".qs-value").inner_text() == "60" and "qs-set" in hours.get_attribute("class")
    assert page.locator(".st-key-do_hours_per_week input").is_checked()
    readings = page.evaluate(_WATCH_JS)["readings"].splitlines()
    assert any(line.lower().startswith("hours") and "→ 60 · TRUE 60 (changed)" in line for line in readings)
    # an unticked slider shows the person's own value; moving it redraws in the browser, in the cut graph
    assert not page.locator(".st-key-do_age input").is_checked()
    before, seen = _press(page, "age", "ArrowLeft")
    assert seen["readings"] != before["readings"] and seen["records"] != before["records"]
    page.wait_for_function("() => location.search.includes('age=')", timeout=STEP)
    assert "hours_per_week=60" in page.url and "cut=sex%3Aoccupation" in page.url.replace(":", "%3A")
    page.wait_for_function(IDLE, timeout=STEP)
    assert page.locator(".st-key-do_age input").is_checked()  # a move ticks the box (the controls redrawn)
    after = page.evaluate(_WATCH_JS)  # the move ticked the box: the answer reran, and drew what the sweep showed
    assert after["readings"] == seen["readings"] and after["records"] == seen["records"]
    page.context.close()
