"""explorer/ui/step_cards.py's Python side: the values whose cards the browser holds, and what the component is told
(the browser side is tested in Chromium on the Flip page, test_flip_page_browser.py, and the Audit page's One row tab,
test_audit_page_browser.py)."""

from streamlit.testing.v1 import AppTest

from explorer.ui.step_cards import HELD, NEAR, _data, window


def test_the_window_holds_near_values_each_side_within_the_count():
    assert list(window(0, 100)) == list(range(0, NEAR + 1))
    assert list(window(50, 100, 6)) == list(range(44, 57))
    assert list(window(99, 100, 6)) == list(range(93, 100))
    assert list(window(0, 1, 6)) == [0]


def test_held_steps_wait_the_quick_sliders_pause_and_go_at_once_with_none(monkeypatch):
    monkeypatch.setenv("EXPLORER_QUICK_SETTLE", "250")
    held = _data("flip_digit", "flip_index", 100, True, "index", None, HELD)
    assert _data("audit_row", "at_row", 100, True, "row", None, 24)["edge"] == 12  # a page's own window
    assert held["settle"] == 250 and held["edge"] == HELD // 2 and (held["min"], held["max"]) == (0, 99)
    assert (held["box"], held["card"], held["held"]) == (".st-key-flip_index", ".st-key-flip_digit_card",
                                                         ".st-key-flip_digit_held_cards")
    assert _data("flip_digit", "flip_index", 100, False, "index", None, HELD)["settle"] == 0  # not held: at once
    monkeypatch.setenv("EXPLORER_QUICK_SETTLE", "0")  # the A/B setting: every step sent at once
    assert _data("flip_digit", "flip_index", 100, True, "index", None, HELD)["settle"] == 0


def _page():  # a number box 0-99 with held steps and 24 cards held each side, as the Audit page's row
    import streamlit as st

    from explorer.ui.step_cards import step_cards
    n = int(st.number_input("n", 0, 99, 20, key="n"))
    step_cards("t", "n", n, lambda near: {i: f"<p data-step='{i}'>{i}</p>" for i in near}, 100, hold=True, held=24)


def test_held_cards_stay_the_same_html_while_the_value_is_near_where_they_were_centred(monkeypatch):
    """The browser neither sanitises nor sets an unchanged st.html again: a rerun less than half the held cards from
    their centre draws the same ones; the shown card says which value the rerun drew."""
    monkeypatch.setenv("EXPLORER_QUICK_SETTLE", "1000")
    at = AppTest.from_function(_page).run()
    held = lambda: at.get("html")[1].proto.body  # noqa: E731
    first = held()
    assert first.startswith("<template>")  # inert in the browser
    assert [f"data-step='{i}'" in first for i in (0, 44, 45)] == [True, True, False]  # 20 - 24 .. 20 + 24
    for n in (31, 9, 20):
        at.number_input(key="n").set_value(n).run()
        card = at.get("html")[0].proto.body
        assert held() == first and card == f"<div data-drawn='{n}'><p data-step='{n}'>{n}</p></div>"
    at.number_input(key="n").set_value(32).run()  # 12 away: centred on 32 (the script sent a step that far at once)
    assert [f"data-step='{i}'" in held() for i in (7, 8, 56, 57)] == [False, True, True, False]
    monkeypatch.setenv("EXPLORER_QUICK_SETTLE", "0")  # every step sent: the near ones only, centred on the value
    at.number_input(key="n").set_value(33).run()
    assert [f"data-step='{i}'" in held() for i in (29, 30, 36, 37)] == [False, True, True, False]
