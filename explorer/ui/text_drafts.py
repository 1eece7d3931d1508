"""Drafts: the Text what-if page asks for a text's answer while the visitor pauses in typing, so that Ctrl+Enter
shows it at once (assets/text_drafts/text_drafts.js).

Why: a committed text costs a Streamlit round trip with the model call in it, about 2x the same round trip on a
page with no model (docs/performance.md, "Text what-if"), and most of the difference is the model call and the
result's drawing, which no change to the page can remove. A person pauses between the last word and Ctrl+Enter;
in that pause the answer can already be on its way. A pause of PAUSE_MS in the text box sends the text as the
component's `draft`; its own fragment (here) reruns, computes the answer through the page's cache
(`text_whatif.answer`, shared with the commit's rerun, which then costs no model call) and draws the result's
HTML hidden: an st.html element, sanitised and set by Streamlit as the result is, marked with the draft's id,
which the component's data names. On Ctrl+Enter, the browser copies those nodes into the result's place (the
component's script parses no markup), then the commit's rerun draws the same. An answer with notes around it (a
cut text, nothing to rewrite, an error) is not held: the rerun draws it.

What it costs: one model call per pause in typing that ends on a new text (~14 ms of server CPU, on the
concept's lock like any text), and nothing when the visitor commits without a pause: the component then asks the
page's answer route (explorer/ui/text_route.py) at once, holding Ctrl+Enter back until that answer is drawn.
A pause after a space or a line break (between words, where people pause while typing) sends nothing.
`EXPLORER_TEXT_DRAFTS=0` turns drafts and the route's use off, `EXPLORER_TEXT_ROUTE=0` the route's alone (for A/B
benchmarks).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import streamlit as st
from streamlit.components.v2 import component

from explorer.services.text import TextService
from explorer.ui.text_route import PATH as ROUTE
from explorer.ui.text_route import plain_html
from explorer.ui.text_view import CHART_ID

KEY = "text_drafts"  # the component's key; its state {"draft": text} is the last text sent
HELD_KEY = "text_draft_held"  # the hidden container of the draft's answer
BOX = ".st-key-text_input textarea"
PAUSE_MS = 300  # typing paused this long: send the text (a person's pause before a command is ~1 s)
WAIT_MS = 5_000  # a draft unanswered this long no longer holds back the next one
ASK_MS = 1_000  # a Ctrl+Enter held back for the route's answer goes on to the text area after this at the latest

_ASSETS = Path(__file__).resolve().parents[2] / "assets" / "text_drafts"
_COMPONENT = component("explorer_text_drafts", html="<span class='td-root' hidden></span>",
                       js=(_ASSETS / "text_drafts.js").read_text(), isolate_styles=False,
                       # no room and no gap: the fragment's block (which the page's gap follows) is hidden whole
                       css=f"div:has(> .stVerticalBlock > .st-key-{KEY}), .st-key-{KEY} {{display: none}}")


def enabled() -> bool:
    return os.environ.get("EXPLORER_TEXT_DRAFTS", "1") != "0"


def draft_id(text: str, concept: str, level: str) -> str:
    """Names a draft's answer on the page: its text, concept and level (another of any is another answer)."""
    return hashlib.sha1("\0".join((concept, level, text)).encode()).hexdigest()[:16]


def data(service: TextService, concept: str, level: str, draft: object, committed: str) -> tuple[dict, str | None]:
    """The component's data (where the box, the result and the held answer are; the pauses; the draft's answer,
    held when it is a text other than the committed one) and the held answer's HTML, if any."""
    out = {"concept": concept, "level": level, "box": BOX, "after": ".st-key-text_input", "chart": CHART_ID,
           "held": f".st-key-{HELD_KEY}", "committed": committed, "pause_ms": PAUSE_MS, "wait_ms": WAIT_MS,
           "ask_ms": ASK_MS,
           "route": ROUTE if os.environ.get("EXPLORER_TEXT_ROUTE", "1") != "0" else None}
    if not (isinstance(draft, str) and draft.strip()):
        return out, None
    # every draft is answered, so that the browser sends the next; the committed text's answer is on screen already
    html = None if draft == committed else plain_html(service, draft, concept, level)
    out["answer"] = {"text": draft, "id": draft_id(draft, concept, level) if html else None}
    if html is None:
        return out, None
    # hidden, the answer holds no id (one id, one element: the result's); the browser gives it back when shown
    unnamed = html.replace(f" id='{CHART_ID}'", f" data-held-id='{CHART_ID}'", 1)
    return out, f"<div data-draft='{out['answer']['id']}'>{unnamed}</div>"


@st.fragment
def drafts(service: TextService, concept: str, level: str) -> None:
    """The hidden component and the draft's answer, in their own fragment: a draft reruns only this."""
    if not enabled():
        return
    draft = (st.session_state.get(KEY) or {}).get("draft")
    payload, html = data(service, concept, level, draft, st.session_state.get("text_input", ""))
    if html:  # first: its element is on the page when the component hears of it
        with st.container(key=HELD_KEY):
            st.html(html)
    _COMPONENT(key=KEY, data=json.dumps(payload, separators=(",", ":")), default={"draft": None},
               on_draft_change=lambda: None)
