"""The what-if page in a real browser: `streamlit run app.py` + headless Chromium driven by Playwright.

Checks what AppTest cannot: that a slider moved with the keyboard reaches the server, that only the
fragment reruns and the new picture and predictions arrive in the page, and that two visitors moving
sliders at the same time each see only their own results.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY = 150_000  # ms: first page load imports torch and loads the models (slow while training runs)
STEP = 30_000  # ms: one slider move, generous for a contended 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                     "(`make browser-deps` installs it)"),
]

# The counterfactual picture, the prediction sentences and the what-if row of the table, read in the page.
_STATE_JS = """() => {
  const img = [...document.querySelectorAll('.ip-root figure')]
      .find(e => e.innerText.includes('drawn by the model'));
  const preds = [...document.querySelectorAll('.ip-lines')].find(e => e.innerText.includes('original →'));
  const row = [...document.querySelectorAll('tr')].find(r => r.innerText.includes('What if: value in'));
  return {src: img ? img.querySelector('img').src : null, preds: preds ? preds.innerText : null,
          row: row ? row.innerText : null};
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The quick sliders' pause before a value shown whole goes to Python, in these servers: shorter than the app's
# (quick_sliders.SETTLE_MS, whose reading is tested in test_quick_sliders_cache), as the tests wait it out.
SETTLE_MS = 1500


def serve(env: dict[str, str] | None = None):
    """`streamlit run app.py` on a free port with these servers' pause (and `env`); yields its URL, then stops it
    (a module fixture's body: `yield from serve(...)`)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, env=os.environ | {"EXPLORER_QUICK_SETTLE": str(SETTLE_MS)} | (env or {}),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not become healthy: {proc.stderr.read()[-2000:]}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server():
    yield from serve()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _open(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    page.wait_for_function(f"() => {{ const s = ({_STATE_JS})(); return s.src && s.preds && s.row; }}",
                           timeout=READY)
    return page


def _state(page) -> dict:
    return page.evaluate(_STATE_JS)


def _slider(page, key: str):
    return page.locator(f".st-key-{key} input[type=range]")


def _wait_changed(page, before: dict) -> dict:
    """Waits until both the counterfactual picture and the prediction text differ from `before`."""
    page.wait_for_function(f"""(b) => {{ const s = ({_STATE_JS})();
        return s.src !== null && s.src !== b.src && s.preds !== null && s.preds !== b.preds; }}""",
                           arg=before, timeout=STEP)
    return _state(page)


def _settled(page, value: str) -> dict:
    """Waits until the what-if row shows the slider's `value` as set by the user, then reads the page."""
    page.wait_for_function(f"""(v) => {{ const s = ({_STATE_JS})();
        return s.row !== null && s.row.includes(v + ' px (set by you)'); }}""", arg=value, timeout=STEP)
    # Streamlit marks elements data-stale while a rerun is under way (and the answer panel while it shows a sweep's
    # answer that is not final); the address bar follows once the move reached Python
    page.wait_for_function("() => document.querySelectorAll('[data-stale=true]').length === 0", timeout=STEP)
    page.wait_for_function("(v) => location.search.includes('thickness=' + v)", arg=value, timeout=STEP)
    return _state(page)


def test_keyboard_slider_move_updates_picture_and_predictions(server, browser):
    # Test digit #0 is a 7; at 1 px the classifiers grow less sure of it, so their sentences change too.
    page = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0")
    before = _state(page)
    assert before["src"].startswith("data:image/png;base64,")  # in the rerun's message, not fetched (images.uri)
    slider = _slider(page, "value_thickness")
    slider.focus()
    for _ in range(10):  # 2.0 -> 1.0 px
        page.keyboard.press("ArrowLeft")
    after = _wait_changed(page, before)
    after = _settled(page, "1.0")
    assert after["src"] != before["src"]
    assert after["preds"] != before["preds"]
    assert "1.0 px (set by you)" in after["row"]
    assert "thickness=1.0" in page.url  # the address bar stays a shareable link
    page.context.close()


def test_two_visitors_moving_sliders_at_once_see_only_their_own_results(server, browser):
    a = _open(browser, f"{server}/image_whatif?index=0&thickness=2.5")
    b = _open(browser, f"{server}/image_whatif?index=0&thickness=2.5")
    start = _state(a)
    assert _state(b)["src"] == start["src"]  # same digit, same intervention: same picture
    _slider(a, "value_thickness").focus()
    _slider(b, "value_thickness").focus()
    for _ in range(10):  # interleaved: both sessions' reruns overlap on the server
        a.keyboard.press("ArrowRight")
        b.keyboard.press("ArrowLeft")
    end_a, end_b = _settled(a, "3.5"), _settled(b, "1.5")
    assert "3.5 px (set by you)" in end_a["row"] and "1.5 px" not in end_a["row"]
    assert "1.5 px (set by you)" in end_b["row"] and "3.5 px" not in end_b["row"]
    assert end_a["src"] != end_b["src"] and end_a["src"] != start["src"] and end_b["src"] != start["src"]
    assert "thickness=3.5" in a.url and "thickness=1.5" in b.url
    # each final picture is exactly what a third visitor gets from that session's link
    for url, seen in ((a.url, end_a), (b.url, end_b)):
        c = _open(browser, url)
        assert _state(c)["src"] == seen["src"]
        c.context.close()
    a.context.close()
    b.context.close()


# --- Causal graph lab ---------------------------------------------------------------------------------
_LAB_JS = """() => {
  const img = [...document.querySelectorAll('.ip-root figure')].find(e => e.innerText.includes('drawn by the model'));
  const row = [...document.querySelectorAll('tr')].find(r => r.innerText.includes('What if: true value'));
  return {src: img ? img.querySelector('img').src : null, row: row ? row.innerText : null};
}"""


def test_lab_slider_and_arrow_toggle_reach_the_page(server, browser):
    from explorer.paths import PRETRAINED

    if not (PRETRAINED / "pendulum-causal-vae" / "card.json").exists():
        pytest.skip("no shipped pendulum model: python -m explorer train pendulum")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server}/causal_graph_lab")
    page.wait_for_function(f"() => {{ const s = ({_LAB_JS})(); return s.src && s.row; }}", timeout=READY)
    before = page.evaluate(_LAB_JS)
    page.locator(".st-key-value_light input[type=range]").focus()
    from explorer.services.lab import POOL
    from explorer.datasets.pendulum import SEEDS, scenes

    light = scenes(POOL, SEEDS["test"])[1]["light"][0]  # scene #0 of the page's pool
    page.keyboard.press("ArrowLeft")  # one 1° step down: one rerun, no interrupted intermediate states
    want = f"{light - 1:.0f} ° (set by you)"  # intermediate reruns show earlier values: wait for the last
    page.wait_for_function(f"""([b, w]) => {{ const s = ({_LAB_JS})();
        return s.src !== b.src && s.row !== null && s.row.includes(w); }}""", arg=[before, want], timeout=STEP)
    page.wait_for_function("() => document.querySelectorAll('[data-stale=true]').length === 0", timeout=STEP)
    moved = page.evaluate(_LAB_JS)
    assert want in moved["row"] and "(follows)" in moved["row"]
    # cut light -> shadow_position: the true shadow position now keeps its value
    page.locator(".st-key-edge_light__shadow_position label").click()
    page.wait_for_function(f"""() => {{ const s = ({_LAB_JS})();
        return s.row !== null && s.row.includes('(cut: keeps its value)'); }}""", timeout=STEP)
    cut = page.evaluate(_LAB_JS)
    assert cut["src"] != moved["src"]
    # the address bar is a link to this what-if: a second visitor opening it sees the same answer
    page.wait_for_function("() => location.search.includes('cut=light-shadow_position')", timeout=STEP)
    link = page.url
    assert "scene=0" in link and f"light={light - 1:.0f}" in link
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(link)
    other.wait_for_function(f"""(w) => {{ const s = ({_LAB_JS})();
        return s.src && s.row !== null && s.row.includes(w) && s.row.includes('(cut: keeps its value)'); }}""",
                            arg=want, timeout=READY)
    assert other.evaluate(_LAB_JS)["row"] == cut["row"]
    other.context.close()
    # to another page and back: the moved slider and the cut arrow are as the visitor left them
    page.wait_for_function("() => document.querySelectorAll('[data-stale=true]').length === 0", timeout=STEP)
    page.get_by_role("link", name="Home").click()
    page.wait_for_function("() => location.pathname === '/'", timeout=STEP)
    page.get_by_role("link", name="Causal graph lab").click()
    page.wait_for_function(f"""(w) => {{ const s = ({_LAB_JS})();
        return s.src && s.row !== null && s.row.includes(w) && s.row.includes('(cut: keeps its value)'); }}""",
                           arg=want, timeout=READY)
    assert page.evaluate(_LAB_JS)["row"] == cut["row"]
    page.context.close()


# --- Text what-if -------------------------------------------------------------------------------------
# The prediction list and the two highlighted texts (the visitor's text, then its rewrite), read in the page from
# the result's one HTML element.
_TEXT_JS = """() => {
  const preds = [...document.querySelectorAll('[data-testid=stHtml] ul')]
      .find(e => e.innerText.includes('on your text'));
  const boxes = [...document.querySelectorAll('[data-testid=stHtml] div[style*="line-height"]')];
  return {preds: preds ? preds.innerText : null, text: boxes.length > 1 ? boxes[0].innerText : null,
          cf: boxes.length > 1 ? boxes[1].innerText : null};
}"""


def _text_settled(page, part: str) -> dict:
    """Waits until the rewritten text contains `part` and no element is stale, then reads the page."""
    page.wait_for_function(f"""(p) => {{ const s = ({_TEXT_JS})();
        return s.cf !== null && s.preds !== null && s.cf.includes(p); }}""", arg=part, timeout=STEP)
    page.wait_for_function("() => document.querySelectorAll('[data-stale=true]').length === 0", timeout=STEP)
    return page.evaluate(_TEXT_JS)


def test_text_page_typed_sentence_reaches_both_models_and_stays_text(server, browser):
    from explorer.paths import PRETRAINED

    if not all((PRETRAINED / f"causalm-gender-{w}" / "card.json").exists() for w in ("o", "cf")):
        pytest.skip("no CausaLM gender checkpoints: python -m explorer train causalm")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server}/text_whatif")
    page.wait_for_function(f"() => {{ const s = ({_TEXT_JS})(); return s.preds && s.cf; }}", timeout=READY)
    box = page.locator(".st-key-text_input textarea")
    box.fill("My sister was furious about the letter.")
    box.press("Control+Enter")  # a text area sends its value on Ctrl+Enter (or when it loses focus)
    seen = _text_settled(page, "My brother was furious about the letter.")
    assert seen["text"] == "My sister was furious about the letter."
    picker = page.locator(".st-key-text_example input")  # outside the what-if's fragment, yet it must stop
    page.wait_for_function("() => document.querySelector('.st-key-text_example input').value === ''",
                           timeout=STEP)  # naming the example once the visitor's own text is on screen
    for line in ("Original model (O) on your text", "Counterfactual model (CF) on your text",
                 "Original model (O) on the rewritten text"):
        assert line in seen["preds"]
    # the address bar is a link to what is on screen: opened in a new tab, it shows the same text and answers
    page.wait_for_function("() => location.search.includes('text=My+sister')", timeout=STEP)
    shared = page.context.new_page()
    shared.goto(page.url)
    shared.wait_for_function(f"() => {{ const s = ({_TEXT_JS})(); return s.preds && s.cf; }}", timeout=READY)
    again = shared.evaluate(_TEXT_JS)
    assert (again["text"], again["preds"]) == (seen["text"], seen["preds"])
    shared.close()
    # markup typed by a visitor is shown as text, never run or rendered
    box.fill('<img src="x" onerror="window.hacked=1"> Mary was angry.')
    box.press("Control+Enter")
    seen = _text_settled(page, "James was angry.")
    assert seen["text"].startswith('<img src="x"')
    assert page.locator('img[src="x"]').count() == 0 and page.evaluate("() => window.hacked") is None
    assert picker.input_value() == "" and picker.get_attribute("placeholder").startswith("Your own text")
    picker.click()  # an example picked: copied into the text area, the page answers for it
    page.get_by_role("option").nth(1).click()
    page.wait_for_function("() => !document.querySelector('.st-key-text_input textarea').value.includes('Mary')",
                           timeout=STEP)
    example = page.locator(".st-key-text_input textarea").input_value()
    assert picker.input_value().startswith(example)
    page.wait_for_function(f"() => ({_TEXT_JS})().text === {json.dumps(example)}", timeout=STEP)
    page.context.close()


def test_browser_back_walks_back_through_what_was_shown_then_leaves_the_page(server, browser):
    # Every page writes a link to what is on screen into the address bar; Back must show the older link's
    # what-if, not write the current one straight back (which made Back do nothing at all).
    page = _open(browser, f"{server}/image_whatif?index=0")
    slider = _slider(page, "value_thickness")
    slider.focus()
    page.keyboard.press("ArrowRight")  # 2.4 (digit #0's own) -> 2.5 px, ticking do(thickness)
    _settled(page, "2.5")
    page.wait_for_function("() => location.search.includes('thickness=2.5')", timeout=STEP)
    page.go_back()
    page.wait_for_function("() => !location.search.includes('thickness')", timeout=STEP)
    page.wait_for_function("() => !document.querySelector('.st-key-do_thickness input').checked", timeout=STEP)
    page.wait_for_function(f"() => {{ const s = ({_STATE_JS})(); return s.row && !s.row.includes('set by you'); }}",
                           timeout=STEP)
    # on to the Text page from the sidebar, a text typed there, then Back: the example shown first, and then
    # the Image page as it was
    page.get_by_text("Text what-if").first.click()
    page.wait_for_function(f"() => {{ const s = ({_TEXT_JS})(); return s.preds && s.cf; }}", timeout=READY)
    page.wait_for_function("() => location.search.includes('text=')", timeout=STEP)
    page.wait_for_function("() => document.querySelector('.st-key-text_input textarea')?.value", timeout=STEP)
    first = page.locator(".st-key-text_input textarea").input_value()
    box = page.locator(".st-key-text_input textarea")
    box.fill("My sister was glad about the rent.")
    box.press("Control+Enter")
    _text_settled(page, "My brother was glad about the rent.")
    page.wait_for_function("() => location.search.includes('text=My+sister+was+glad')", timeout=STEP)
    page.go_back()
    page.wait_for_function("(t) => document.querySelector('.st-key-text_input textarea').value === t", arg=first,
                           timeout=STEP)
    # Streamlit adds the page's bare address as an entry of its own, or not, depending on timing; Back from it
    # must leave the page rather than write the link again
    page.go_back()
    page.wait_for_function("() => location.pathname.endsWith('/image_whatif') || (location.pathname.endsWith("
                           "'/text_whatif') && location.search === '')", timeout=STEP)
    if page.evaluate("() => location.pathname.endsWith('/text_whatif')"):
        page.go_back()
    page.wait_for_function("() => location.pathname.endsWith('/image_whatif')", timeout=STEP)
    page.wait_for_function(f"() => {{ const s = ({_STATE_JS})(); return s.src && s.preds && s.row; }}", timeout=READY)
    assert page.locator(".st-key-index input").input_value() == "0"
    page.context.close()
