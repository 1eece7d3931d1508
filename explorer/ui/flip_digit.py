"""The Flip page's digit: its number, the world, and the picked digit as every search starts from it, with what the
classifier and the oracle read on it.

Why a fragment: picking another digit is the page's everyday move, and a whole-page rerun redraws the upload form,
the question, the tabs and any answers for it (docs/performance.md, "Flip a classifier"). The digit's number and
its card rerun alone; the rest of the page does not depend on the digit until a Run, except the link (written from
here with the rest of the settings as the last full run wrote them) and a kept result, which a new digit makes
out of date: then the whole page reruns, to say so.
"""

from __future__ import annotations

import streamlit as st

from explorer.services.search import DigitView, FlipPage, FlipService
from explorer.types import VarSpec
from explorer.ui.common.format import fmt
from explorer.ui.common.uploads import uploads
from explorer.ui.flip import CARD, has_result, name_of, reading_line, write_digit_link
from explorer.ui.images import png

_INDEX_NOTE = "_flip_index_note"  # a digit number past the last one was typed: said once
_FULL = "_flip_full_run"  # True while the whole page runs the fragment; False in the fragment's own reruns


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
    left, mid, right = st.columns([1, 1, 2], vertical_alignment="center")
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
    card(service.digit(index, name, coloured, uploads()), name, view.specs[coloured], mid, right)


def _clamp_index(n: int) -> None:
    asked = int(st.session_state["flip_index"])
    if asked > n - 1:  # no max_value on the box: the browser would keep the number and only mark it
        st.session_state["flip_index"] = n - 1
        st.session_state[_INDEX_NOTE] = f"There are {n:,} test digits (#0–#{n - 1}): #{asked:,} does not exist, " \
                                        f"so #{n - 1} is shown."


def card(digit: DigitView, classifier: str, specs: dict[str, VarSpec], picture, words) -> None:
    """The picked digit (in the container `picture`) and what both readers make of it (in `words`): what a visitor
    checks before asking for a flip (a digit the classifier already misreads is another question)."""
    picture.image(png(digit.picture, CARD), width=CARD, output_format="PNG", caption=f"Test digit #{digit.index}")
    words.markdown(reading_line(name_of(classifier), digit.reading) + "  \n" + reading_line("The oracle", digit.oracle))
    words.caption("As the world draws it: " + ", ".join(f"{spec.label} {fmt(spec, digit.obs[name], unit=True)}"
                                                        for name, spec in specs.items() if name in digit.obs) + ".")
