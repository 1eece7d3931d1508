"""The Flip-a-classifier page in Chromium: a Run, the digit's held steps, the audit tab (AppTest: test_flip_page.py).

The server runs the searches with the small step budget of test_flip_page.py and a short pause before a held step
reaches Python.
"""

from __future__ import annotations

import pytest

from explorer.ui.step_cards import HELD
from test_browser import ARGS, CHROMIUM, READY, SETTLE_MS, serve
from test_flip_page import ANSWERS, STEPS


@pytest.fixture(scope="module")
def server():
    """The app as tests/test_browser.py serves it, with test_flip_page.py's small step budget."""
    from explorer.ui.flip import STEPS_ENV

    yield from serve({STEPS_ENV: str(STEPS), "EXPLORER_PREWARM": "0"})


_CAPTIONS_JS = "() => [...document.querySelectorAll('[data-testid=stImage]')].map(e => e.innerText)"
_CARD_JS = "() => document.querySelector('.st-key-flip_digit_card .fd-card')"  # the picked digit's card


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                  "(`make browser-deps` installs it)")
def test_in_chromium_run_shows_the_answers(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{server}/flip_classifier?index=3")
            run = page.locator(".st-key-flip_run button")
            run.wait_for(timeout=READY)
            # the link's digit (once seen as 0 at the instant the button showed on a fresh server: waited for, so a
            # passing moment does not fail the run; a link ignored still does)
            expect(page.locator(".st-key-flip_index input")).to_have_value("3", timeout=10_000)
            run.click()
            page.wait_for_function(f"() => ({_CAPTIONS_JS})().filter(t => t.endsWith(\"answer\")).length >= 4",
                                   timeout=60_000)
            shown = page.evaluate(_CAPTIONS_JS)
            for caption in ("Original: test digit #3", *ANSWERS):
                assert any(caption in s for s in shown), shown
            assert "index=3" in page.url and "classifier=morpho-cnn" in page.url
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                  "(`make browser-deps` installs it)")
def test_in_chromium_a_new_digit_redraws_its_card_and_link_and_outdates_a_kept_result(server):
    """Held steps (explorer/ui/flip_digit.py): the card swapped and the link written in the step's own event, the
    number sent after the pause (the rerun draws the same card) or before a Run (which searches the digit shown),
    Back over a held step, a series past the held cards; with a Run's answers on screen each step reruns."""
    from playwright.sync_api import sync_playwright

    def card_says(text: str) -> str:
        return f"() => ({_CARD_JS})()?.innerText.includes({text!r})"
    def held(n: int) -> bool:  # whether the page holds #n's card (in the held cards' template)
        return page.evaluate(f"""() => !!document.querySelector('.st-key-flip_digit_held_cards template')
            ?.content.querySelector(".fd-card[data-step='{n}']")""")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{server}/flip_classifier?index=3")
            page.wait_for_function(card_says("Test digit #3"), timeout=READY)
            page.wait_for_function("() => document.querySelector('.st-key-flip_digit_held_cards template')")
            assert held(4) and not held(4 + HELD)
            page.wait_for_selector(".st-key-flip_digit_step_cards .sc-root[data-ready]", state="attached")  # listening
            box = page.locator(".st-key-flip_index input")
            box.focus()
            # the key press's own task shows the next digit and writes the link (no server answer can come inside it)
            step_js = f"""() => {{
                document.querySelector('.st-key-flip_index input').dispatchEvent(
                    new KeyboardEvent('keydown', {{key: 'ArrowUp', bubbles: true, cancelable: true}}));
                return [({_CARD_JS})().outerHTML, location.search];
            }}"""
            swapped, search = page.evaluate(step_js)
            assert "Test digit #4</figcaption>" in swapped and "data-step=\"4\"" in swapped
            assert "index=4" in search and "classifier=morpho-cnn" in search
            assert box.input_value() == "4"
            drawn = "() => document.querySelector('.st-key-flip_digit_card [data-drawn]').dataset.drawn"
            page.wait_for_timeout(SETTLE_MS // 2)  # held: no rerun yet
            assert page.evaluate(drawn) == "3"
            page.wait_for_function(f"() => ({drawn})() === '4'", timeout=30_000)  # after the pause: #4's rerun
            page.wait_for_function("() => !document.querySelector('[data-stale=true]')", timeout=30_000)
            assert page.evaluate(f"() => ({_CARD_JS})().outerHTML") == swapped  # the rerun drew the same card
            assert not held(4 + HELD)  # and the same held cards (centred on #3: one away)
            box.focus()
            box.press("ArrowUp")  # #5, held
            page.wait_for_function("() => location.search.includes('index=5')", timeout=5_000)
            page.go_back()  # the address bar's #4 again: shown, and sent
            page.wait_for_function(card_says("Test digit #4"), timeout=10_000)
            assert box.input_value() == "4"
            page.wait_for_timeout(SETTLE_MS + 500)  # and it stays so
            assert page.evaluate(card_says("Test digit #4")) and box.input_value() == "4"
            box.focus()
            for n in range(5, 5 + HELD):  # past the held cards: the step HELD // 2 short of their end is sent and
                # brings more
                assert f"Test digit #{n}</figcaption>" in page.evaluate(step_js)[0]  # none waits for a rerun
                page.wait_for_timeout(300)
            # the Run's press sends the held #(4 + HELD) first (a press as long as a person's: Streamlit sends the
            # changes of a few ms as one run, of the first one's fragment, and the button outside it is then not run)
            page.locator(".st-key-flip_run button").click(delay=100)
            page.wait_for_function(f"() => ({_CAPTIONS_JS})().filter(t => t.endsWith(\"answer\")).length >= 4",
                                   timeout=60_000)
            assert any(f"Original: test digit #{4 + HELD}" in c for c in page.evaluate(_CAPTIONS_JS)), \
                (page.evaluate(_CAPTIONS_JS), box.input_value(), page.url)
            box.focus()
            box.press("ArrowUp")  # the answers are for #(4 + HELD): the whole page reruns to say so, at once
            page.get_by_text("The settings changed since the last run").wait_for(timeout=30_000)
            page.wait_for_function(card_says(f"Test digit #{5 + HELD}"), timeout=30_000)
            assert not [c for c in page.evaluate(_CAPTIONS_JS) if c.endswith("answer")]
            page.wait_for_function(f"() => location.search.includes('index={5 + HELD}')", timeout=30_000)
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                  "(`make browser-deps` installs it)")
def test_in_chromium_the_audit_tab_shows_the_chart_and_goes_into_the_link(server):
    """A click on "What flips this model?" draws the shipped classifier's precomputed audit (assets/audits/), also
    right after a held digit step (sent as the pointer heads for the tab: a tab changes on the press, and Streamlit
    would send both changes as one run of the digit's fragment)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{server}/flip_classifier?index=3&world=colour&classifier=morpho-cnn-hue")
            tab = page.get_by_role("tab", name="What flips this model?")
            tab.wait_for(timeout=READY)
            page.wait_for_selector(".st-key-flip_digit_step_cards .sc-root[data-ready]", state="attached")
            page.locator(".st-key-flip_index input").press("ArrowUp")  # #4, held
            tab.hover()  # as a person's pointer: on its way, then a press
            page.wait_for_timeout(250)
            tab.click(delay=80)
            chart = page.locator(".st-key-flip_audit_chart .js-plotly-plot")  # the chart, drawn by plotly.js
            chart.wait_for(timeout=30_000)
            bars = page.locator(".st-key-flip_audit_chart g.trace.bars")
            assert bars.count() == 2  # the digit kept, the digit free
            assert "colour (hue) alone" in chart.inner_text()
            assert page.get_by_text("What flips Project CNN (colour-trained)?").is_visible()
            page.wait_for_function("() => location.search.includes('tab=audit')", timeout=10_000)
            link = page.evaluate("() => location.search")
            assert "classifier=morpho-cnn-hue" in link and "world=colour" in link and "index=4" in link
            page.get_by_role("tab", name="Flip this digit").click()
            page.locator(".st-key-flip_run button").wait_for(timeout=30_000)
            page.wait_for_function("() => !location.search.includes('tab=')", timeout=10_000)
        finally:
            browser.close()
