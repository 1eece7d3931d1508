"""The Flip page's digit: its number, the world, and the picked digit as every search starts from it, with what the
classifier and the oracle read on it.

Why a fragment: picking another digit is the page's everyday move, and a whole-page rerun redraws the upload form,
the question, the tabs and any answers for it (docs/performance.md, "Flip a classifier"). The digit's number and
its card rerun alone; the rest of the page does not depend on the digit until a Run, except the link (written from
here with the rest of the settings as the last full run wrote them) and a kept result, which a new digit makes
out of date: then the whole page reruns, to say so.

Why neighbours: even alone, the fragment's rerun cost ~2.5x a page with no model, so the digit is a step card
(explorer/ui/step_cards.py): the browser swaps the next digit's card in on the step itself from the cards the page
drew ahead. Until a Run's answers are on screen the card is all that a digit changes but the link, so the steps are
held (the browser writes the link; the number reaches Python after a pause or at the visitor's next action
elsewhere): a series of steps costs one rerun. Cards are computed once per server for the shipped classifiers
(`_SHIPPED`), per session for an upload.
"""

from __future__ import annotations

import html

import streamlit as st

from explorer.services.search import DigitView, FlipPage, FlipService
from explorer.types import VarSpec
from explorer.ui.common.format import fmt
from explorer.ui.common.kept import Kept
from explorer.ui.common.uploads import uploads
from explorer.ui.flip import CARD, has_result, name_of, write_digit_link
from explorer.ui.image_answer import percent
from explorer.ui.images import png_uri
from explorer.ui.step_cards import step_cards

_INDEX_NOTE = "_flip_index_note"  # a digit number past the last one was typed: said once
_FULL = "_flip_full_run"  # True while the whole page runs the fragment; False in the fragment's own reruns
_UPLOAD_CARDS = "_flip_upload_cards"  # an upload's cards, this session only
_SHIPPED = Kept(4096)  # cards (~1 kB each) by shipped classifier, digit and world, shared by every visitor


def world_toggle(where) -> bool:
    """The colour-world toggle, in the container `where`; returns whether it is on."""
    with where:
        return bool(st.toggle("Colour world (hue follows the digit 95% of the time)", key="flip_coloured",
                              help="The colour-trained CNN learned in this world, where the tint usually gives the "
                                   "digit away: can it be flipped by changing the colour alone?"))


def digit_section(service: FlipService, view: FlipPage, name: str, coloured: bool) -> int:
    """The digit's number and card, in their own fragment (a new digit reruns only them); returns the digit."""
    st.session_state.setdefault("flip_index", 0)
    st.session_state[_FULL] = True
    try:
        _digit(service, view, name, coloured)
    finally:
        st.session_state[_FULL] = False
    return int(st.session_state["flip_index"])


@st.fragment
def _digit(service: FlipService, view: FlipPage, name: str, coloured: bool) -> None:
    left, right = st.columns([1, 3], vertical_alignment="center")
    index = int(left.number_input(f"Test digit number (0–{view.n - 1})", min_value=0, step=1, key="flip_index",
                                  on_change=_clamp_index, args=(view.n,),
                                  help="Each number is one real handwritten digit from the MNIST test set, the same "
                                       "numbering as on the Image what-if page."))
    if _INDEX_NOTE in st.session_state:
        left.warning(st.session_state.pop(_INDEX_NOTE))
    if not st.session_state.get(_FULL):  # the fragment's own rerun: a new digit
        if has_result():  # the Flip tab shows answers for the old digit: the whole page says they are out of date
            st.rerun(scope="app")
        write_digit_link(index)
    with right:  # the card: what the browser swaps on a step, and the rerun then draws the same; with a Run's
        # answers on screen, each step reruns (to say they are out of date), so none is held
        step_cards("flip_digit", "flip_index", index,
                   lambda near: cards_html(service, list(near), name, coloured, view.specs[coloured]), view.n,
                   hold=not has_result(), param="index")


def _clamp_index(n: int) -> None:
    asked = int(st.session_state["flip_index"])
    if asked > n - 1:  # no max_value on the box: the browser would keep the number and only mark it
        st.session_state["flip_index"] = n - 1
        st.session_state[_INDEX_NOTE] = f"There are {n:,} test digits (#0–#{n - 1}): #{asked:,} does not exist, " \
                                        f"so #{n - 1} is shown."


def cards_html(service: FlipService, indices: list[int], classifier: str, coloured: bool,
               specs: dict[str, VarSpec]) -> dict[int, str]:
    """Each digit's card (`card_html`), kept by the classifier object itself (so a model added again under the same
    name has its own cards); the missing ones computed in one call."""
    shipped = classifier in service.page().classifiers
    mine = None if shipped else uploads()
    model = service.classifier(classifier, mine)
    kept = _SHIPPED if shipped else st.session_state.setdefault(_UPLOAD_CARDS, Kept(64))  # an upload: this session
    out = {i: kept.get(model, i, coloured) for i in indices}
    missing = [i for i, text in out.items() if text is None]
    if missing:
        for digit in service.digits(missing, classifier, coloured, mine):
            out[digit.index] = card_html(digit, classifier, specs)
            kept.put(model, out[digit.index], digit.index, coloured)
    return out


def card_html(digit: DigitView, classifier: str, specs: dict[str, VarSpec]) -> str:
    """The picked digit and what both readers make of it: what a visitor checks before asking for a flip (a digit
    the classifier already misreads is another question). Names are escaped (an upload's is the visitor's text)."""
    def line(who: str, r) -> str:
        return f"{html.escape(who)} reads <b>{html.escape(r.label)}</b> ({percent(r.prob)})"

    values = ", ".join(f"{spec.label} {fmt(spec, digit.obs[name], unit=True)}"
                       for name, spec in specs.items() if name in digit.obs)
    caption = f"Test digit #{digit.index}"
    return (f"<div class='fd-card' data-step='{digit.index}'><figure><img src='{png_uri(digit.picture, CARD)}' "
            f"width='{CARD}' height='{CARD}' alt='{caption}'><figcaption>{caption}</figcaption></figure>"
            f"<div class='fd-words'><p>{line(name_of(classifier), digit.reading)}<br>"
            f"{line('The oracle', digit.oracle)}</p><p class='fd-values'>As the world draws it: "
            f"{html.escape(values)}.</p></div></div>")
