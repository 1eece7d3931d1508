"""Streamlit pieces of the Text what-if page: its backend, its link, the pickers, the result and the measured
effects. What they show comes from the page's service calls (`TextService.page`, `what_if`); the audit section
is `explorer.ui.text_audit`.

Widget keys (tests address them): `text_concept`, `text_level`, `text_example`, `text_input`. The address bar is
a shareable link to what is on screen: `?concept=race&level=gentle&text=…`.
"""

from __future__ import annotations

import threading

import streamlit as st

from explorer.checkpoints import CheckpointError
from explorer.datasets.text_tasks import CONCEPTS, LEVELS
from explorer.device import pick_device
from explorer.models.text_encoder import BaseModelMissing
from explorer.registry import rebuild_causalm
from explorer.services.audit import METRIC_WORDS
from explorer.services.text import TextPage, TextResult, TextService
from explorer.ui.common.format import echo
from explorer.ui.common.kept import Kept
from explorer.ui.common.link import PageLink, ignored
from explorer.ui.common.loader import SETUP_ERRORS, Backend, Fix
from explorer.ui.text_charts import shown_table
from explorer.ui.text_view import effects_markdown, result_html

CONCEPT_LABELS = {"adjectives": "Adjectives · film-review sentiment (fresh / rotten)",
                  "gender": "Gender · emotion in a sentence about a person",
                  "race": "Race, signalled by a name · emotion in a sentence"}
DEFAULT_CONCEPT = "gender"  # simple sentences, no tagger to load: the quickest first view
LINK_MAX_CHARS = 2_000  # longer texts stay out of the address bar (the models read ~300 characters anyway)
PAGE = "text"
LINK = PageLink(PAGE, ("text_concept", "text_level", "text_input", "text_example"), marker="text_concept",
                notes_stay=True)
_OWN = "_text_own"  # the visitor typed the text: a change of concept must not replace it with an example
_NAME = "_text_name"  # a text was set (by a link): the picker names it if it is one of the examples
_FIRST = "_text_first"  # the concept changed: show its first example (unless the text is the visitor's own)


def _text_service() -> TextService:
    # the pairs load lazily per concept and their calls are serialised inside the service
    return TextService(device=pick_device())


def _fixes(concept: str | None) -> list[Fix]:
    rebuild, which = rebuild_causalm(concept), concept or "text"
    return [Fix((CheckpointError,), f"The {which} models could not be loaded.", rebuild),
            Fix((BaseModelMissing,), "The text encoder's base model is missing.", "make install"),
            Fix(SETUP_ERRORS, f"The {which} models could not be loaded", f"make install\n{rebuild}", quote=False)]


TEXT = Backend(PAGE, _text_service, "", _fixes, part_loading="Loading the {part} models (once per server, a few "
                                                            "seconds)…")


# --- the link -------------------------------------------------------------------------------------------
def _apply(params: dict[str, str]) -> list[str]:
    """`?concept=race&level=gentle&text=…` -> the widgets' state; returns the link's problems. Values are matched
    loosely (case, spaces); anything unusable is named and the page's default is kept."""
    notes = []
    concept = params.get("concept", DEFAULT_CONCEPT).strip().lower()
    if concept not in CONCEPTS:
        notes.append(f"The link's concept={echo(params['concept'])} is not one of {', '.join(CONCEPTS)}, so "
                     f"{DEFAULT_CONCEPT} is shown.")
        concept = DEFAULT_CONCEPT
    level = params.get("level", LEVELS[0]).strip().lower()
    if level not in LEVELS:
        notes.append(f"The link's level={echo(params['level'])} is not one of {', '.join(LEVELS)}, so "
                     f"{LEVELS[0]} is shown.")
        level = LEVELS[0]
    text = params.get("text", "")
    if len(text) > LINK_MAX_CHARS:
        notes.append(f"The link's text has {len(text):,} characters; its first {LINK_MAX_CHARS:,} are shown.")
        text = text[:LINK_MAX_CHARS]
    if "text" in params and not text.strip():
        notes.append("The link's text is empty, so an example from the test set is shown.")
    st.session_state["text_concept"], st.session_state["text_level"] = concept, level
    if text.strip():  # else the concept's first example
        st.session_state["text_input"], st.session_state[_NAME] = text, True
    return notes + ignored(params, ("concept", "level", "text"))


def read_link() -> list[str]:
    """The concept, level and text from the address bar when it says what to show; returns its notes."""
    return LINK.read(_apply)


def _kept(concept: str, level: str, text: str, texts: list[str]) -> dict:
    """The state to put back when the visitor returns: the text as typed (even one too long for a link), the
    picker naming it if it is an example; an empty box comes back as the concept's first example."""
    kept = {"text_concept": concept, "text_level": level}
    if text.strip():
        kept |= {"text_input": text, "text_example": texts.index(text) if text in texts else None,
                 _OWN: text not in texts}
    return kept


def write_link(concept: str, level: str, text: str, view: TextPage) -> None:
    """Keeps the address bar a shareable link to exactly what is on screen (texts up to LINK_MAX_CHARS)."""
    params = {"concept": concept, "level": level}
    if text.strip() and len(text) <= LINK_MAX_CHARS:
        params["text"] = text
    elif text.strip():
        st.caption(f":material/link_off: This text is longer than {LINK_MAX_CHARS:,} characters, so the address "
                   "bar's link leaves it out: a shared link opens with the concept and level only.")
    LINK.write(params, _kept(concept, level, text, [e.text for e in view.examples]))


# --- concept, level, text -------------------------------------------------------------------------------
def _use_example(texts: list[str]) -> None:
    if texts and st.session_state.get("text_example") is not None:
        st.session_state["text_input"] = texts[min(st.session_state.get("text_example", 0), len(texts) - 1)]
        st.session_state[_OWN] = False


def _concept_changed() -> None:
    own = st.session_state.get(_OWN)
    st.session_state["text_example"] = None if own else 0  # the visitor's own text stays, and unnamed
    st.session_state[_FIRST] = not own  # the new concept's examples arrive with its page view


def _typed() -> None:
    st.session_state[_OWN] = True
    if st.session_state.get("text_example") is not None:  # the picker names the text no longer on screen
        st.session_state["text_example"] = None
        st.rerun()  # the picker is outside the fragment: this once, the whole page, so that it says so


def concept_picker():
    """The concept (radio) and the bias level of the task models (select).

    Returns:
        (concept, level, the column where `level_caption` says what the level means).
    """
    left, right = st.columns([3, 2])
    st.session_state.setdefault("text_concept", DEFAULT_CONCEPT)  # in state, not `index=`: a link may set it
    concept = left.radio("Concept to take out of the text", CONCEPTS, key="text_concept",
                         format_func=CONCEPT_LABELS.get, on_change=_concept_changed,
                         help="Each concept has its own pair of models: the original one (O) and one whose "
                              "encoder was trained to forget the concept (CF), after which a linear eraser "
                              "removes what a linear reader could still find of it.")
    level = right.selectbox("Bias in the task models' training data", LEVELS, key="text_level",
                            help="The same concept, three task models: trained on data where the concept and the "
                                 "label were unrelated (balanced) or more and more tied (gentle, aggressive).")
    return concept, level, right


def level_caption(column, level: str, view: TextPage) -> None:
    """What the bias level means for the concept's training data, under the level's box."""
    column.caption(f"**{level}**: {view.level_words}.")


def example_picker(view: TextPage) -> None:
    """The test set's examples; picking one copies it into the text area.

    Outside the what-if fragment (issue 22), so that a text does not send it again: redrawn with every text, it
    cost the browser up to ~18 ms of main-thread work a text in one comparison of cut-down pages (within the
    noise in another). A text of the visitor's own makes the page rerun once, whole (`_typed`), so that the
    picker stops naming an example."""
    if view.examples_error is not None:
        st.warning(f"The example texts could not be read ({view.examples_error}); type your own. `make install` "
                   "restores them.")
    texts = [e.text for e in view.examples]
    if st.session_state.pop(_NAME, False):  # a text from a link: a test-set example behaves as if picked
        text = st.session_state["text_input"]
        st.session_state[_OWN] = text not in texts
        st.session_state["text_example"] = texts.index(text) if text in texts else None
    if st.session_state.pop(_FIRST, False):
        _use_example(texts)
    if texts:
        st.session_state.setdefault("text_input", texts[0])
        st.selectbox("Pick a text from the test set", range(len(texts)), key="text_example",
                     format_func=lambda i: f"{texts[i]}   [{view.examples[i].label}]", on_change=_use_example,
                     args=(texts,), placeholder="Your own text (pick an example to replace it)")


def text_area() -> str:
    """The text the models read (in the what-if fragment: typing reruns only the fragment)."""
    return st.text_area("… or type your own (the models were trained on English; longer texts are cut)",
                        key="text_input", height=110, on_change=_typed,
                        help="Press Ctrl+Enter (⌘+Enter) or click outside the box to analyse.")


_ANSWERS = Kept(256)  # (service, text, concept, level) -> answer, a few KB each, shared by every visitor
_COMPUTING: dict[str, threading.Lock] = {}  # per concept: the service computes one text of a concept at a time anyway


def answer(service: TextService, text: str, concept: str, level: str) -> TextResult:
    """`service.what_if`, kept per server: a class picks the same examples and opens the same shared links, and
    Back shows the texts before; each is then drawn without the ~13 ms model call. A text asked for twice at once
    (the commit's rerun and the page's answer route, explorer/ui/text_route.py) is computed once: the second caller
    waits on the concept's lock and then finds it kept. A TextInputError is raised each time (no exception is kept).
    Keyed by the service too, so other checkpoints never mix in; the result is shared between visitors: it is only
    read."""
    kept = _ANSWERS.get(service, text, concept, level)
    if kept is None:
        with _COMPUTING.setdefault(concept, threading.Lock()):
            kept = _ANSWERS.get(service, text, concept, level)
            if kept is None:
                kept = service.what_if(text, concept, level)
                _ANSWERS.put(service, kept, text, concept, level)
    return kept


def result_view(result: TextResult) -> None:
    """The text and its rewrite with the changes marked, both models' answers, and their bars: one HTML
    element (explorer/ui/text_view.py says why), after the rare notes."""
    for note in result.notes:
        st.warning(note)
    if not result.rewrite.changed:
        st.info(f"**Nothing to rewrite.** {result.rewrite.note}")
    st.html(result_html(result))


# --- measured effects -------------------------------------------------------------------------------------
def effects_section(view: TextPage, level: str) -> None:
    """The concept's effects measured on the test set, per bias level: reading, bars and table."""
    if view.effects is None:
        st.info(view.effects_missing)
        return
    caption = (" · ".join(METRIC_WORDS[k] for k in ("ate_gt", "treate", "conexp")) + ". Probes: accuracy of a "
               "linear classifier reading the concept from each encoder's sentence vector.")
    st.markdown(effects_markdown(view.effects_reading, view.effects, shown_table(view.effects), level, caption),
                unsafe_allow_html=True)  # one static element: see explorer/ui/text_view.py
