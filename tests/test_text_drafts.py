"""The Text page's drafts (explorer/ui/text_drafts.py, assets/text_drafts/): an answer asked for while the visitor
pauses in typing is drawn at Ctrl+Enter, before the commit's rerun, and is exactly what that rerun draws.

First what the server sends for a draft (no browser), then the page in Chromium.
"""

from __future__ import annotations

import json

import pytest
from test_browser import CHROMIUM, READY, STEP, _TEXT_JS, _text_settled, browser, server  # noqa: F401  (fixtures)

from explorer.paths import PRETRAINED
from explorer.services.text import MAX_CHARS, TextService
from explorer.ui import text_drafts
from explorer.ui.text_view import CHART_ID, result_html
from explorer.ui.text_whatif import answer

pytestmark = pytest.mark.skipif(
    not all((PRETRAINED / f"causalm-gender-{w}" / "card.json").exists() for w in ("o", "cf")),
    reason="no CausaLM gender checkpoints: python -m explorer train causalm")

TEXT = "My brother was furious about the letter."


@pytest.fixture(scope="module")
def service() -> TextService:
    return TextService()


def test_a_new_text_gets_the_html_the_commits_rerun_draws(service):
    payload, html = text_drafts.data(service, "gender", "balanced", TEXT, committed="Another text.")
    want = text_drafts.draft_id(TEXT, "gender", "balanced")
    assert payload["answer"] == {"text": TEXT, "id": want}
    drawn = result_html(answer(service, TEXT, "gender", "balanced"))  # what the rerun's st.html will hold
    assert html == f"<div data-draft='{want}'>" + drawn.replace(f" id='{CHART_ID}'", f" data-held-id='{CHART_ID}'") \
        + "</div>"
    assert f" id='{CHART_ID}'" not in html  # hidden, it takes no id from the result
    assert json.dumps(payload)  # the component's data is JSON


def test_the_id_names_text_concept_and_level():
    ids = {text_drafts.draft_id(t, c, lv) for t in (TEXT, TEXT + " ") for c in ("gender", "race")
           for lv in ("balanced", "gentle")}
    assert len(ids) == 8


@pytest.mark.parametrize("draft", [None, "", "   \n", 42])
def test_no_answer_for_no_draft(service, draft):
    payload, html = text_drafts.data(service, "gender", "balanced", draft, committed=TEXT)
    assert "answer" not in payload and html is None
    assert payload["box"] == text_drafts.BOX and payload["pause_ms"] == text_drafts.PAUSE_MS


def test_the_committed_text_is_answered_but_not_held(service):
    # answered, so that the browser sends its next draft; its answer is on screen already (a visitor who typed
    # another text and came back to it before Ctrl+Enter)
    payload, html = text_drafts.data(service, "gender", "balanced", TEXT, committed=TEXT)
    assert payload["answer"] == {"text": TEXT, "id": None} and html is None


@pytest.mark.parametrize("draft", ["The sky was grey over the harbour.",  # nothing to rewrite: an info box too
                                   "My brother was sad. " * (MAX_CHARS // 10)])  # cut: a note above the result
def test_an_answer_with_more_than_one_element_is_left_to_the_rerun(service, draft):
    payload, html = text_drafts.data(service, "gender", "balanced", draft, committed=TEXT)
    assert payload["answer"] == {"text": draft, "id": None} and html is None


# --- in Chromium ----------------------------------------------------------------------------------------
# Installed before Ctrl+Enter: when the rewrite `part` first shows, what the address bar said then.
_WATCH_JS = """(part) => {
  window.__linkWhenShown = null;
  const host = document.getElementById('text-probabilities').closest('[data-testid=stHtml]');
  const obs = new MutationObserver(() => {
    if (host.innerText.includes(part)) { window.__linkWhenShown = location.search; obs.disconnect(); }
  });
  obs.observe(host, {subtree: true, childList: true, characterData: true});
}"""
_DRAWN = "() => Number(document.querySelector('.td-root').dataset.shown || 0)"


def _text_page(server: str, browser):  # noqa: F811
    """A new visitor's Text page, its answer drawn and the drafts component listening."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server}/text_whatif")
    page.wait_for_function(f"() => {{ const s = ({_TEXT_JS})(); return s.preds && s.cf; }}", timeout=READY)
    page.wait_for_function("() => document.querySelector('.td-root')?.__td?.listening", timeout=STEP)
    return page


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_ctrl_enter_draws_the_drafted_answer_then_the_rerun_draws_the_same(server, browser):  # noqa: F811
    page = _text_page(server, browser)
    box = page.locator(".st-key-text_input textarea")
    box.fill("My sister was glad about the rent.")
    page.wait_for_function("(id) => document.querySelector('.td-root')?.dataset.held === id",
                           arg=text_drafts.draft_id("My sister was glad about the rent.", "gender", "balanced"),
                           timeout=STEP)
    page.evaluate(_WATCH_JS, "My brother was glad about the rent.")
    box.press("Control+Enter")
    assert page.evaluate(_DRAWN) == 1  # drawn in the key press's own task
    seen = _text_settled(page, "My brother was glad about the rent.")
    assert "text=My+sister" not in page.evaluate("() => window.__linkWhenShown")  # before the rerun's link
    page.wait_for_function("() => location.search.includes('text=My+sister+was+glad')", timeout=STEP)
    assert seen["text"] == "My sister was glad about the rent."
    page.locator("h1").first.click()  # leaving the box after Ctrl+Enter: drawn once, not again
    assert page.evaluate(_DRAWN) == 1
    assert page.locator(f"#{CHART_ID}").count() == 1 and page.locator(f"#{CHART_ID} img").count() == 3
    # the rerun drew the same: a new tab on the link shows the same answers
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_function(f"() => {{ const s = ({_TEXT_JS})(); return s.preds && s.cf; }}", timeout=READY)
    assert other.evaluate(_TEXT_JS) == page.evaluate(_TEXT_JS)
    other.close()
    # a hostile text drafted, committed by leaving the box: shown as text, never run
    hostile = '<img src="x" onerror="window.hacked=1"> Mary was angry.'
    box.fill(hostile)
    page.wait_for_function("(id) => document.querySelector('.td-root')?.dataset.held === id",
                           arg=text_drafts.draft_id(hostile, "gender", "balanced"), timeout=STEP)
    page.locator("h1").first.click()  # leaving the box commits it too (and draws the held answer)
    assert page.evaluate(_DRAWN) == 2
    seen = _text_settled(page, "James was angry.")
    assert seen["text"].startswith('<img src="x"')
    assert page.locator('img[src="x"]').count() == 0 and page.evaluate("() => window.hacked") is None
    # nothing to rewrite: not held (an info box goes with it), so the rerun draws it
    box.fill("The sky was grey over the harbour.")
    page.wait_for_function("() => document.querySelector('.td-root')?.dataset.held === ''", timeout=STEP)
    box.press("Control+Enter")
    page.get_by_text("Nothing to rewrite").wait_for(timeout=STEP)
    assert page.evaluate(_DRAWN) == 2
    # a held answer, but the info box is still on screen above the result: left to the rerun, which removes it
    box.fill("My uncle was glad about the rent.")
    page.wait_for_function("(id) => document.querySelector('.td-root')?.dataset.held === id",
                           arg=text_drafts.draft_id("My uncle was glad about the rent.", "gender", "balanced"),
                           timeout=STEP)
    box.press("Control+Enter")
    assert page.evaluate(_DRAWN) == 2
    _text_settled(page, "My aunt was glad about the rent.")
    assert page.get_by_text("Nothing to rewrite").count() == 0
    # Ctrl+Enter at once (no pause): no draft goes; the route answers (test_ctrl_enter_without_a_pause…), then the rerun
    box.fill("My father was scared of the dog.")
    box.press("Control+Enter")
    _text_settled(page, "My mother was scared of the dog.")
    assert page.evaluate(_DRAWN) == 2
    assert page.evaluate("() => document.querySelector('.td-root')?.dataset.held") != \
        text_drafts.draft_id("My father was scared of the dog.", "gender", "balanced")
    # the committed text sent as a draft (the browser's idea of what is committed is older: that commit had no
    # draft): answered, not held, so that the next draft is not held back
    box.fill("My father was scared of the dog.")
    page.wait_for_function("() => document.querySelector('.td-root')?.dataset.held === ''", timeout=STEP)
    assert page.evaluate("() => document.querySelector('.td-root').__td.inflight") is None
    # a pause between words (the text ends in a space) sends nothing; the finished sentence does
    box.fill("My father was scared of the cat ")
    page.wait_for_timeout(3 * text_drafts.PAUSE_MS)
    assert page.evaluate("() => document.querySelector('.td-root').__td.inflight") is None
    assert page.evaluate("() => document.querySelector('.td-root').dataset.held") == ""
    box.fill("My father was scared of the cat.")
    page.wait_for_function("(id) => document.querySelector('.td-root')?.dataset.held === id",
                           arg=text_drafts.draft_id("My father was scared of the cat.", "gender", "balanced"),
                           timeout=STEP)
    page.context.close()


# Installed before a commit: the result's markup the moment the route's answer was built (the component counts it in
# the same task, so the observer's microtask sees the built nodes, before any later message of the rerun).
_WATCH_ASKED_JS = """() => {
  window.__built = [];
  const root = document.querySelector('.td-root');
  new MutationObserver(() => window.__built.push(
      document.getElementById('text-probabilities').closest('[data-testid=stHtml]').innerHTML))
    .observe(root, {attributes: true, attributeFilter: ['data-asked']});
}"""
_ASKED = "() => Number(document.querySelector('.td-root').dataset.asked || 0)"
_RESULT_HTML = "() => document.getElementById('text-probabilities').closest('[data-testid=stHtml]').innerHTML"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_ctrl_enter_without_a_pause_draws_the_routes_answer_and_the_rerun_draws_the_same(server, browser):  # noqa: F811
    page = _text_page(server, browser)
    page.evaluate(_WATCH_ASKED_JS)
    box = page.locator(".st-key-text_input textarea")
    for n, (text, rewrite) in enumerate([("My father was scared of the dog.", "My mother was scared of the dog."),
                                         ('<img src="x" onerror="window.hacked=1"> Mary was angry.',
                                          "James was angry.")], start=1):
        box.fill(text)
        box.press("Control+Enter")  # at once: no draft was sent, none is held
        page.wait_for_function(f"() => ({_ASKED})() === {n}", timeout=STEP)
        seen = _text_settled(page, rewrite)
        assert seen["text"] == text and page.evaluate(_DRAWN) == 0
        built = page.evaluate("() => window.__built")
        assert len(built) == n and built[-1] == page.evaluate(_RESULT_HTML)  # the rerun drew the very same markup
        page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=text,
                               timeout=STEP)
    assert page.locator('img[src="x"]').count() == 0 and page.evaluate("() => window.hacked") is None
    assert page.locator(f"#{CHART_ID}").count() == 1 and page.locator(f"#{CHART_ID} img").count() == 3
    # the route failing (a proxy in the way, an older server): the held Ctrl+Enter still commits, the rerun answers
    page.route("**/explorer/text-answer", lambda route: route.abort())
    box.fill("My uncle was scared of the dog.")
    box.press("Control+Enter")
    _text_settled(page, "My aunt was scared of the dog.")
    page.wait_for_function("() => location.search.includes('text=My+uncle+was+scared')", timeout=STEP)
    assert page.evaluate(_ASKED) == 2
    page.unroute("**/explorer/text-answer")
    # the same text again, committed by leaving the box: on screen already, not asked again
    page.locator("h1").first.click()
    page.wait_for_timeout(500)
    assert page.evaluate(_ASKED) == 2
    page.context.close()
