"""The page "Audit a model" in Chromium: a shared link, recourse into the report, and the One row tab's held steps
(its service and AppTest: test_audit_model_page.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import CHROMIUM, READY, SETTLE_MS, STEP, browser, server  # noqa: F401  (fixtures)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_in_chromium_a_shared_link_runs_the_audit_and_the_cf_tab_opens(server, browser):  # noqa: F811
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server}/audit_model?data=adult&model=adult-gbm&protected=sex&rows=200&audit=1")
    page.get_by_text("got the positive decision").first.wait_for(timeout=READY)
    page.get_by_role("tab", name="Counterfactual fairness").click()
    page.get_by_text("Had the same people had another sex").first.wait_for(timeout=STEP)
    assert "audit=1" in page.url and "model=adult-gbm" in page.url
    page.context.close()


def _run_done(page) -> None:
    """Waits until the script run under way has ended: nothing stale, the app's status no longer "running"."""
    page.wait_for_function("() => document.querySelectorAll('[data-stale=true]').length === 0 && document"
                           ".querySelector('[data-testid=stApp]').getAttribute('data-test-script-state') === "
                           "'notRunning'", timeout=READY)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_in_chromium_recourse_found_on_a_row_is_in_the_downloaded_report(server, browser):  # noqa: F811
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
    page.goto(f"{server}/audit_model?data=adult&model=adult-logreg&protected=sex&rows=300&cf=0&audit=1&row=28")
    page.get_by_text("got the positive decision").first.wait_for(timeout=READY)
    _run_done(page)  # the link's run to its end (the Report tab's downloads), before the first click
    page.get_by_role("tab", name="One row").click()
    _run_done(page)
    page.get_by_role("button", name="Find recourse").click()  # the first loads the census world: READY
    page.get_by_text("Inconsistent with the graph").first.wait_for(timeout=READY)  # the One row tab stayed open
    assert page.get_by_text("settings changed since the last audit").count() == 0  # the link's settings kept
    page.get_by_role("tab", name="Report").click()
    page.get_by_text("The downloads include the recourse you found").first.wait_for(timeout=STEP)
    with page.expect_download(timeout=STEP) as got:
        page.get_by_role("button", name="Download the report (HTML)").click()
    html = Path(got.value.path()).read_text(encoding="utf-8")
    assert "<h2>Recourse</h2>" in html and "<h3>Row 28</h3>" in html and "inconsistent</td>" in html
    # a step away from the row whose answer is on screen, and back: the recourse part follows the row (the row's own
    # fragment cannot redraw it, so the whole page reruns: explorer/ui/audit_table_row.py)
    page.get_by_role("tab", name="One row").click()
    answer = page.get_by_text("Inconsistent with the graph").first
    box = page.locator(".st-key-at_row input")
    box.focus()
    box.press("ArrowUp")
    answer.wait_for(state="hidden", timeout=STEP)
    page.get_by_text("Press Find recourse to search both ways").first.wait_for(timeout=STEP)
    _run_done(page)
    assert box.input_value() == "29" and "row=29" in page.evaluate("() => location.search")  # (page.url lags)
    box.focus()
    box.press("ArrowDown")
    answer.wait_for(timeout=STEP)  # row 28's answer, kept for the session
    _run_done(page)
    assert box.input_value() == "28" and "row=28" in page.evaluate("() => location.search")
    page.context.close()


_DECISION_JS = "() => document.querySelector('.st-key-audit_row_card .ar-card')?.innerText ?? null"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_in_chromium_a_row_step_reruns_only_the_row_s_fragment_and_writes_the_link(server, browser):  # noqa: F811
    """explorer/ui/audit_table_row.py: the row's card is swapped in on the key press and the rerun draws the same
    (AppTest checks that card against the service's row), neither the page around nor the rest of the tab is run
    again (its title's and the recourse heading's elements are never marked stale), and the link carries the row."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server}/audit_model?data=adult&model=adult-logreg&protected=sex&rows=300&cf=0&audit=1&row=28")
    page.get_by_text("got the positive decision").first.wait_for(timeout=READY)
    _run_done(page)
    page.get_by_role("tab", name="One row").click()
    page.wait_for_function(f"() => ({_DECISION_JS})() !== null", timeout=STEP)  # the tab's panel drawn
    _run_done(page)
    before = page.evaluate(_DECISION_JS)
    page.evaluate("""() => {  // any stale mark on the title's element: a whole-page run; on the recourse part's
      const title = document.querySelector('h1').closest('[data-testid=stElementContainer]');  // heading: the tab's
      const heading = [...document.querySelectorAll('h4')].find(h => h.textContent.startsWith('Recourse'))
          .closest('[data-testid=stElementContainer]');
      window.__whole = 0;
      window.__tab = 0;
      new MutationObserver(() => { window.__whole += 1; }).observe(title, {attributes: true});
      new MutationObserver(() => { window.__tab += 1; }).observe(heading, {attributes: true});
    }""")
    page.wait_for_selector(".st-key-audit_row_step_cards .sc-root[data-ready]", state="attached")  # listening
    box = page.locator(".st-key-at_row input")
    box.focus()
    drawn = "() => document.querySelector('.st-key-audit_row_card [data-drawn]').dataset.drawn"
    box.press("ArrowUp")
    swapped = page.evaluate(_DECISION_JS)  # the held card of row 29, swapped in by the key press (step_cards.js)
    assert page.evaluate("() => location.search").count("row=29") == 1  # written by the browser, at once
    page.wait_for_timeout(SETTLE_MS // 2)
    assert page.evaluate(drawn) == "28"  # held (rows 28 and 29 show the same recourse part): no rerun yet
    page.wait_for_function(f"() => ({drawn})() === '29'", timeout=STEP)  # after the pause: 29's rerun
    _run_done(page)
    after = page.evaluate(_DECISION_JS)
    assert page.evaluate("() => window.__whole") == 0
    assert page.evaluate("() => window.__tab") == 0  # the row's own fragment ran, not the tab's
    assert box.input_value() == "29"
    assert after == swapped != before and "Open row 29 in the Table lab" in after  # the card AppTest checks
    find, accepted = page.get_by_role("button", name="Find recourse"), page.get_by_text("already gives this row")
    assert find.is_visible() and not accepted.is_visible()  # 29 is rejected, 30 accepted
    box.focus()
    box.press("ArrowUp")  # to an accepted row: held too, the recourse part follows the card (step_cards.css)
    assert "Open row 30 in the Table lab" in page.evaluate(_DECISION_JS) and page.evaluate(drawn) == "29"
    assert accepted.is_visible() and not find.is_visible()
    page.wait_for_function(f"() => ({drawn})() === '30'", timeout=STEP)  # after the pause: 30's rerun
    _run_done(page)
    assert accepted.is_visible() and not find.is_visible()
    page.get_by_text("This row's values").click()  # open: the values follow each step, so a step reruns at once
    box.focus()
    box.press("ArrowUp")
    assert page.evaluate("() => document.querySelector('[data-sc-held]')") is None  # (a held step marks its box)
    page.wait_for_function(f"() => ({drawn})() === '31'", timeout=STEP)
    assert find.is_visible() and not accepted.is_visible()
    page.context.close()
