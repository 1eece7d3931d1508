"""The quick sliders send each sweep once and coalesce moves (explorer/ui/quick_sliders.py, issue 22).

A sweep is named by its content (`pack`); a rerun sends only the key of a sweep the browser reported holding;
a browser that lacks a key asks once. In Chromium: a second move sends no sweep, another scene gets its own
(never the old one), a lost sweep is asked for and comes back, and a held key sends its release only, with the
last value always the one the page settles at.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest
from test_browser import CHROMIUM, READY, SETTLE_MS, STEP, browser, server  # noqa: F401  (fixtures)
from test_image_quick_sliders_browser import _DIFF_JS, IDLE
from test_image_quick_sliders_browser import _WATCH_JS as _IMAGE_WATCH_JS
from test_lab_quick_sliders_browser import _WATCH_JS, _press, _reach

from explorer.paths import PRETRAINED
from explorer.ui import quick_sliders as qs

ENCODED = ([0.0, 0.5, 1.0], [], [[["a", 0]], [["b", 0]], [["c", 1]]])


def browser_only(test):
    """Marks a test that drives Chromium."""
    test = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")(test)
    return pytest.mark.browser(test)


# --- the key and the payload ----------------------------------------------------------------------------
def test_a_key_names_its_content():
    packed = qs.pack(ENCODED)
    assert qs.pack(([0.0, 0.5, 1.0], [], [[["a", 0]], [["b", 0]], [["c", 1]]])).key == packed.key  # equal content
    assert qs.pack(([0.0, 0.5, 1.0], [], [[["a", 0]], [["b", 1]], [["c", 1]]])).key != packed.key  # one mark
    assert qs.pack(([0.0, 0.5, 1.0], ["data:x"] * 3, ENCODED[2])).key != packed.key  # pictures
    assert json.loads(packed.text) == {"grid": [0.0, 0.5, 1.0], "pictures": [], "readings": ENCODED[2]}


def test_packs_are_kept_per_object_and_never_confused():
    kept = qs.Kept(size=2)
    packs = lambda e: kept(e, qs.pack)  # noqa: E731 - as `draw` packs
    first = packs(ENCODED)
    assert packs(ENCODED) is first  # the same object: packed once
    other = ([1.0], [], [[["z", 0]]])
    assert packs(other).key != first.key
    for k in range(3):  # evicted beyond `size`; an evicted entry is packed again, to the same key
        packs(([float(k)], [], [[["y", 0]]]))
    assert packs(ENCODED) is not first and packs(ENCODED).key == first.key
    # a key beside the object: the same object under another key is made again
    assert kept(ENCODED, lambda e: "made", "other readers") == "made" and kept(ENCODED, qs.pack) is not None


def test_the_payload_carries_only_the_sweeps_given():
    packed = qs.pack(ENCODED)
    data = json.loads(qs._data_text({"sliders": [{"name": "x", "sweep": packed.key}], "applied": None}, [packed]))
    assert data["sliders"][0]["sweep"] == packed.key and data["sweeps"] == {packed.key: json.loads(packed.text)}
    assert json.loads(qs._data_text({"applied": 3}, [])) == {"applied": 3, "sweeps": {}}


def _script():
    from explorer.types import VarSpec
    from explorer.ui.common.controls import DoWords
    from explorer.ui.quick_sliders import QuickView, draw

    spec = VarSpec("x", "continuous", 0.0, 1.0, 0.5, 0.5, "x", "")
    encoded = ([0.0, 0.5, 1.0], [], [[["a", 0]], [["b", 0]], [["c", 1]]])
    draw("qs_test", {"x": spec}, {"x": 0.5}, {}, {"x": encoded}, QuickView("", "", ["r"], ["a"], [["a", 0]]),
         DoWords(item="thing", tick_help=""))


def _sent(at: AppTest) -> dict:
    (component,) = at.get("bidi_component")
    return json.loads(json.loads(component.proto.json))


def test_a_rerun_sends_a_sweep_only_when_the_browser_does_not_hold_it(monkeypatch):
    at = AppTest.from_function(_script).run()
    key = _sent(at)["sliders"][0]["sweep"]
    assert list(_sent(at)["sweeps"]) == [key]  # nothing reported yet: sent
    at.session_state["qs_test"] = {"move": None, "want": {"name": "x", "n": 5, "held": [key]}}
    at.run()
    assert _sent(at)["sliders"][0]["sweep"] == key and _sent(at)["sweeps"] == {}  # held: the key alone
    # the newest report wins: a later one without the key (a new mount) gets the sweep again
    at.session_state["qs_test"] = {"move": {"name": "x", "value": 1.0, "n": 9, "held": []},
                                   "want": {"name": "x", "n": 5, "held": [key]}}
    at.run()
    assert list(_sent(at)["sweeps"]) == [key]
    # the old traffic, for A/B benchmarks: every rerun sends it, and the browser sends every move
    at.session_state["qs_test"] = {"move": None, "want": {"name": "x", "n": 11, "held": [key]}}
    monkeypatch.setenv("EXPLORER_QUICK_RESEND", "1")
    at.run()
    assert list(_sent(at)["sweeps"]) == [key] and _sent(at)["coalesce"] is False


@pytest.mark.parametrize("env, settle", [(None, qs.SETTLE_MS), ("0", 0), ("250", 250), ("soon", qs.SETTLE_MS),
                                         ("-5", qs.SETTLE_MS)])
def test_the_browser_is_told_how_long_a_move_shown_whole_waits(monkeypatch, env, settle):
    if env is not None:
        monkeypatch.setenv("EXPLORER_QUICK_SETTLE", env)
    assert _sent(AppTest.from_function(_script).run())["settle"] == settle
    monkeypatch.setenv("EXPLORER_QUICK_RESEND", "1")  # the old traffic: every move at once
    assert _sent(AppTest.from_function(_script).run())["settle"] == 0


@pytest.mark.parametrize("fragments, narrowed", [(["quick"], True), ([], False), (None, False), (["a", "b"], False)])
def test_a_page_narrows_only_the_moves_own_run(monkeypatch, fragments, narrowed):
    # A settled value can reach the server in the same run as another widget's change (a full-app run, or two
    # fragments'): the page's `then` (st.rerun of named fragments) would leave that change undrawn, so it is skipped.
    from types import SimpleNamespace

    from explorer.types import VarSpec

    state = {"qs_test": {"move": {"name": "x", "value": 0.7, "n": 4, "swept": True}}}
    monkeypatch.setattr(qs.st, "session_state", state)
    monkeypatch.setattr(qs, "get_script_run_ctx", lambda: SimpleNamespace(fragment_ids_this_run=fragments))
    called = []
    qs._moved({"x": VarSpec("x", "continuous", 0.0, 1.0, 0.5, 0.1, "x", "")}, "qs_test",
              lambda name, was: called.append((name, was)))
    assert state["value_x"] == 0.7 and state["do_x"] is True and qs.swept_whole("qs_test")  # applied either way
    assert called == ([("x", False)] if narrowed else [])


@pytest.mark.parametrize("state", [None, {}, {"move": "x"}, {"want": {"n": "1", "held": ["k"]}},
                                   {"want": {"n": 1, "held": "k"}}, {"want": {"n": 1, "held": [3]}}])
def test_an_odd_report_means_nothing_held(state):
    assert qs.held(state) == set()


def test_the_newest_report_counts():
    assert qs.held({"move": {"n": 2, "held": ["a"]}, "want": {"n": 1, "held": ["b"]}}) == {"a"}
    assert qs.held({"move": {"n": 2, "held": ["a"]}, "want": {"n": 3, "held": ["b", "c"]}}) == {"b", "c"}
    assert qs.held({"move": None, "want": {"n": 3}}) == set()


# --- in Chromium ----------------------------------------------------------------------------------------
def _jpegs(frames: list) -> int:
    """How many JPEG data: URIs the server sent in `frames`: the lab's answer panel one (the model's scene; the
    simulator's are PNGs), the quick picture one (when the sliders' fragment reruns), a sweep 56-79."""
    return sum(bytes(f).count(b"data:image/jpeg") for f in frames if isinstance(f, (bytes, bytearray)))


def _open(browser, url: str, ready: str):  # noqa: F811
    """A new page listening to its websocket from the start; returns (page, frames received, frames sent)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    received, sent = [], []
    page.on("websocket", lambda ws: (ws.on("framereceived", lambda f: received.append(f)),
                                     ws.on("framesent", lambda f: sent.append(f))))
    page.goto(url)
    page.wait_for_selector(ready, timeout=READY)
    page.wait_for_function(IDLE, timeout=STEP)
    return page, received, sent


@pytest.mark.skipif(not (PRETRAINED / "pendulum-causal-vae" / "card.json").exists(), reason="no pendulum model")
@browser_only
def test_the_lab_sends_a_sweep_once_and_another_scene_gets_its_own(server, browser):  # noqa: F811
    page, received, _ = _open(browser, f"{server}/causal_graph_lab?scene=0&light=100",
                              ".qs-picture[src^='data:image/jpeg']")
    _reach(page, "light")
    assert _jpegs(received) > 40  # its sweep came
    received.clear()
    for value in (99, 98):  # the same sweep: it is not sent again
        before, seen = _press(page, "ArrowLeft")
        page.wait_for_function(f"() => location.search.includes('light={value}')", timeout=STEP)
        page.wait_for_function(IDLE, timeout=STEP)
        assert _jpegs(received) <= 4, f"the sweep was sent again ({_jpegs(received)} JPEGs)"
        assert page.evaluate(_WATCH_JS)["readings"] == seen["readings"]
        received.clear()
    # another scene: its own sweep comes, and a move shows it (what the server then draws), not scene 0's
    page.locator(".st-key-lab_index input").fill("5")
    page.locator(".st-key-lab_index input").press("Enter")
    page.wait_for_function("() => location.search.includes('scene=5')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    assert _jpegs(received) > 40
    _reach(page, "light")
    before, seen = _press(page, "ArrowLeft")
    page.wait_for_function("() => location.search.includes('light=97')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    assert page.evaluate(_WATCH_JS)["readings"] == seen["readings"] != before["readings"]
    # back to scene 0: its sweep is still held, only its key comes; a move draws from it, right
    page.locator(".st-key-lab_index input").fill("0")
    page.locator(".st-key-lab_index input").press("Enter")
    page.wait_for_function("() => location.search.includes('scene=0')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    received.clear()
    _reach(page, "light")
    before, seen = _press(page, "ArrowLeft")
    page.wait_for_function("() => location.search.includes('light=96')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    assert _jpegs(received) <= 4 and page.evaluate(_WATCH_JS)["readings"] == seen["readings"]
    page.context.close()


_ROW_JS = "() => [...document.querySelectorAll('tr')].find(r => r.innerText.includes('What if: value in')).innerText"


def _settled(page, value: str) -> None:
    """Waits until the Image page shows thickness `value` as applied: the address bar, then no run pending."""
    page.wait_for_function(f"() => location.search.includes('thickness={value}')", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    page.wait_for_timeout(300)  # nothing newer on its way: the page stays there
    page.wait_for_function(IDLE, timeout=STEP)
    assert f"thickness={value}" in page.url and f"{value} px (set by you)" in page.evaluate(_ROW_JS)
    assert page.locator(".st-key-value_thickness input[type=range]").input_value() == value


# The value of a move shown whole waits in the browser (`settled`) until the visitor pauses: then it has gone and the
# server's run that applied it has answered (`pending`); a root whose script has not run yet (a remount, as the
# rerun Back starts can make) is not there yet.
_SENT_JS = ("() => { const q = document.querySelector('.qs-root')?.__qs; "
            "return !!q && !q.settled && q.pending === null; }")


def _gone(page) -> None:
    """Waits until the settled value went to the server (a pause of SETTLE_MS) and its run answered."""
    page.wait_for_timeout(SETTLE_MS)  # the test servers' pause (test_browser.py)
    page.wait_for_function(_SENT_JS, timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)


@browser_only
def test_a_held_key_sends_its_release_only_and_the_last_value_wins(server, browser):  # noqa: F811
    page, _, sent = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0",
                          ".st-key-value_thickness[data-swept]")
    page.locator(".st-key-value_thickness input[type=range]").focus()
    sent.clear()
    pictures = []
    for _ in range(12):  # one press, then 11 repeats (a second keyboard.down sends a `repeat` keydown)
        page.keyboard.down("ArrowRight")
        page.wait_for_timeout(30)
        pictures.append(page.locator(".qs-picture").get_attribute("src"))
    page.keyboard.up("ArrowRight")
    _settled(page, "3.2")
    _gone(page)
    assert len(sent) == 1, f"{len(sent)} messages for one held key"  # shown whole: the value at the pause
    assert len(set(pictures)) >= 10  # while held, the picture still swapped at (nearly) every step
    # presses faster than the server answers: the page shows the last value at once, and the server gets it alone
    sent.clear()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    _settled(page, "2.7")
    assert not sent  # nothing yet: the visitor has not paused
    _gone(page)
    assert len(sent) == 1  # and the server's run applied it (`pending` cleared by its echo)
    page.context.close()


@browser_only
def test_a_sweep_the_browser_lost_is_asked_for_once_and_comes_back(server, browser):  # noqa: F811
    page, _, sent = _open(browser, f"{server}/image_whatif?index=0&thickness=2.0",
                          ".st-key-value_thickness[data-swept]")
    page.locator(".st-key-value_thickness input[type=range]").focus()
    # as a new mount would: right after the move went (reporting the sweep held), the component loses its sweeps,
    # so the answer names a sweep it does not hold
    page.evaluate("() => document.addEventListener('change', "
                  "() => document.querySelector('.qs-root').__qs.cache.clear(), {once: true})")
    sent.clear()
    page.keyboard.press("ArrowRight")
    _settled(page, "2.1")
    _gone(page)
    page.wait_for_selector(".st-key-value_thickness[data-swept]", timeout=STEP)
    page.wait_for_function(IDLE, timeout=STEP)
    assert len(sent) == 2  # the move (at the pause), then one request for the sweep
    # and the sweep that came back is the right one: a move shows what the server then draws
    before = page.evaluate(_IMAGE_WATCH_JS)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.__seen !== null", timeout=STEP)
    seen = page.evaluate("() => window.__seen")
    assert seen["quick"] != before["quick"]
    _settled(page, "2.2")
    assert page.evaluate(_DIFF_JS, [page.evaluate(_IMAGE_WATCH_JS)["quick"], seen["quick"]]) <= 1
    page.context.close()
