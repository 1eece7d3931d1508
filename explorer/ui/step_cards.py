"""Step cards: what a number box's value shows, swapped in the browser on a step from the neighbours' cards the page
drew ahead (assets/step_cards/).

Why: a Streamlit rerun per step of a number box costs 2.5-5x a page with no model (docs/performance.md, "Flip a
classifier", "Audit a model"), most of it the round trip and the browser's redraw. So the page draws the value's
card as one st.html element and, hidden, the cards of the values NEAR steps away; a small component (no data that
changes, so never redrawn) swaps the held card of the new value in, in the step's own event (an arrow key, the box's
+/- buttons, Enter or leaving the box on a typed number); the rerun then draws the same card and the next
neighbours. A card is the page's own markup, set by Streamlit's st.html (sanitised): the component copies nodes and
parses nothing. A card's root element carries `data-step="<value>"`; the page escapes any text it puts in one.
Used by the Flip page's digit (explorer/ui/flip_digit.py) and the Audit page's row (explorer/ui/audit_table_row.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st
from streamlit.components.v2 import component

NEAR = 3  # values each side of the current one whose cards the browser holds

_ASSETS = Path(__file__).resolve().parents[2] / "assets" / "step_cards"
_COMPONENT = component("explorer_step_cards", html="<span class='sc-root' hidden></span>",
                       js=(_ASSETS / "step_cards.js").read_text(), css=(_ASSETS / "step_cards.css").read_text(),
                       isolate_styles=False)  # no shadow root: the cards' style is the page's


def window(value: int, count: int) -> range:
    """The values whose cards the browser holds around `value`, within 0..count-1 (`value` among them)."""
    return range(max(value - NEAR, 0), min(value + NEAR, count - 1) + 1)


def step_cards(name: str, box_key: str, value: int, cards: Callable[[Sequence[int]], dict[int, str]],
               count: int) -> None:
    """The card of `value` (in the current container) and, hidden, its neighbours' (`cards(values)` -> {value: HTML
    whose root has data-step}); the component that swaps them on a step of the number box keyed `box_key`. `name`
    keys the containers: `<name>_card`, `<name>_held_cards`, `<name>_step_cards`."""
    near = list(window(value, count))
    held = cards(near)
    with st.container(key=f"{name}_card"):
        st.html(held[value])
    with st.container(key=f"{name}_held_cards"):  # hidden; the current card too: a step back swaps it in
        st.html("".join(held[v] for v in near))
    _COMPONENT(key=f"{name}_step_cards", data=_where(name, box_key))  # the same data on every rerun: not redrawn


def _where(name: str, box_key: str) -> dict[str, str]:
    return {"box": f".st-key-{box_key}", "card": f".st-key-{name}_card", "held": f".st-key-{name}_held_cards"}
