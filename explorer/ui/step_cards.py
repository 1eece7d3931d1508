"""Step cards: what a number box's value shows, swapped in the browser on a step from the neighbours' cards the page
drew ahead (assets/step_cards/).

Why: a Streamlit rerun per step of a number box costs 2.5-5x a page with no model (docs/performance.md, "Flip a
classifier", "Audit a model"), most of it the round trip and the browser's redraw. So the page draws the value's
card as one st.html element and the cards of the values NEAR steps away in another, inside a <template> (inert: a
rerun's cost in the browser grows with the elements on the page, hidden or not, and these are not on it); a small
component (no data that changes, so never redrawn) swaps the held card of the new value in, in the step's own event
(an arrow key, the box's +/- buttons, Enter or leaving the box on a typed number); the rerun then draws the same
card (and the next neighbours, once the value is half the held ones from their centre). A card is the page's own
markup, set by Streamlit's st.html (sanitised, the template's content too): the component copies nodes and parses
nothing. A card's root element carries `data-step="<value>"`; the page escapes any text it puts in one.
Used by the Flip page's digit (explorer/ui/flip_digit.py) and the Audit page's row (explorer/ui/audit_table_row.py).

Held steps: where the card is all that a new value changes on the page but the link (`hold`: the Flip page before
any Run, the Audit page's row with its values closed and no recourse answer on screen), an arrow key or a +/- click
whose card is held never reaches Streamlit's box: the browser swaps the card, writes the link, and sends the number
only after the same pause as the quick sliders' (`quick_sliders.settle_ms`, `EXPLORER_QUICK_SETTLE`) or at the
visitor's next action elsewhere (the pointer moving off the box: a tab changes on the press, and Streamlit would
send that change and the number as one run of the number's fragment), so a series of steps costs one rerun. The
number then goes as Enter on the box sends a typed one. A card whose value changes more of the page says so with a
`data-hold` text on its root (the Audit page: a row with a recourse answer on screen): a step is held only to a card
whose text is that of the value drawn, so the rest of the page is right for every card shown. (What the rest shows
in a few known forms can follow the card by CSS instead: the Audit page's recourse part, rejected or not.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st
from streamlit.components.v2 import component

from explorer.ui.quick_sliders import settle_ms

NEAR = 3  # values each side of the current one whose cards the browser holds
HELD = 12  # the same where steps are held (by default): a step HELD // 2 short of their end is sent, for the next
# ones; so a long series costs a rerun every HELD // 2 + 1 steps, each drawing 2 * HELD + 1 cards

_ASSETS = Path(__file__).resolve().parents[2] / "assets"
_COMPONENT = component("explorer_step_cards", html="<span class='sc-root' hidden></span>",
                       js=(_ASSETS / "common" / "address.js").read_text()
                       + (_ASSETS / "step_cards" / "step_cards.js").read_text(),
                       css=(_ASSETS / "step_cards" / "step_cards.css").read_text(),
                       isolate_styles=False)  # no shadow root: the cards' style is the page's


def window(value: int, count: int, near: int = NEAR) -> range:
    """The values whose cards the browser holds around `value`, within 0..count-1 (`value` among them)."""
    return range(max(value - near, 0), min(value + near, count - 1) + 1)


def step_cards(name: str, box_key: str, value: int, cards: Callable[[Sequence[int]], dict[int, str]],
               count: int, hold: bool = False, param: str | None = None, busy: str | None = None,
               held: int = HELD) -> None:
    """The card of `value` (in the current container) and, hidden, its neighbours' (`cards(values)` -> {value: HTML
    whose root has data-step}); the component that swaps them on a step of the number box keyed `box_key` (values
    0..count-1), NEAR values each side. `hold`: `held` each side, and steps within them wait for a pause before they
    reach Python (a step `held` // 2 short of the held cards' end goes at once, for the next cards); the browser writes
    the link's `param` meanwhile (see the module docstring), unless an element matching the selector `busy` is on
    the page (something else that follows the value is open). `name` keys the containers: `<name>_card`,
    `<name>_held_cards`, `<name>_step_cards`."""
    hold = hold and settle_ms() > 0  # (EXPLORER_QUICK_SETTLE=0: every step goes at once, as before held steps)
    shown = list(window(_centre(name, value, count, held) if hold else value, count, held if hold else NEAR))
    drawn = cards(shown)
    with st.container(key=f"{name}_card"):  # with the value it was drawn for, which the rest of the page shows
        st.html(f"<div data-drawn='{value}'>{drawn[value]}</div>")  # (the script swaps the card inside)
    with st.container(key=f"{name}_held_cards"):  # the current card too: a step back swaps it in. In a template:
        st.html(f"<template>{''.join(drawn[v] for v in shown)}</template>")  # inert, so no cost to each rerun
    _COMPONENT(key=f"{name}_step_cards", data=_data(name, box_key, count, hold, param, busy, held))  # redrawn
    # only when these change


def _centre(name: str, value: int, count: int, held: int) -> int:
    """The value the held cards are centred on: the last rerun's while `value` is less than half of them away
    (`held` // 2, the script's `edge`: a step that far goes at once, and its rerun centres them anew), else `value`.
    Why: the same cards are the same HTML, which the browser then neither sanitises nor parses again (sanitising
    the Audit page's 49 held rows took ~15 ms of each rerun, in a CPU profile of Chromium's main thread)."""
    key = f"_{name}_held_at"  # session only
    at = st.session_state.get(key)
    if at is None or not 0 <= at < count or abs(value - at) >= max(held // 2, 1):
        at = value
    st.session_state[key] = at
    return at


def _data(name: str, box_key: str, count: int, hold: bool, param: str | None, busy: str | None, held: int) -> dict:
    return {"box": f".st-key-{box_key}", "card": f".st-key-{name}_card", "held": f".st-key-{name}_held_cards",
            "min": 0, "max": count - 1, "hold": hold, "settle": settle_ms() if hold else 0, "param": param,
            "edge": held // 2, "busy": busy}
