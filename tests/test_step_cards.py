"""explorer/ui/step_cards.py's Python side: the values whose cards the browser holds, and what the component is told
(the browser side is tested in Chromium on the Flip page, test_flip_page_browser.py, and the Audit page's One row tab,
test_audit_page_browser.py)."""

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
