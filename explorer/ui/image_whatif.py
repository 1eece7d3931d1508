"""Streamlit pieces of the Image what-if page: its backend, its link, the digit picker and its do() controls.

Widget keys (tests and links address them): `index`, `random`, `pick_<digit>`, `coloured`, `do_<var>` and
`value_<var>` (from `explorer.ui.common.controls` for the digit; for the continuous variables, whose sliders are
the quick sliders of `explorer.ui.quick_sliders`, session keys of the same names), `reset`. The address bar is a
shareable link to what is on screen: `?index=12&world=colour&thickness=4.5`. A visitor's uploaded classifiers
(added on the Flip page, kept in their session: `explorer.ui.common.uploads`) are asked beside the shipped ones.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import streamlit as st

from explorer.checkpoints import CheckpointError
from explorer.data.mnist import MnistSourceError
from explorer.device import pick_device
from explorer.interfaces import Classifier
from explorer.services.image import REBUILD, ImagePage, ImageResult, ImageService
from explorer.services.image_sweep import SliderSweep
from explorer.types import VarSpec
from explorer.ui.common.controls import DoWords, do_controls
from explorer.ui.common.format import slider_value
from explorer.ui.common.link import PageLink, colour_world, digit_index, read_values, value_params
from explorer.ui.common.loader import SETUP_ERRORS, Backend, Fix
from explorer.ui.common.uploads import uploads
from explorer.ui.images import THUMB, png
from explorer.ui.quick_sliders import KEY, continuous, echo, live, quick_sliders, swept_whole, ticked, ticks

PAGE = "image"
WORDS = DoWords(item="digit")
LINK = PageLink(PAGE, ("index", "coloured", "do_", "value_"), marker="index", notes_stay=True)
_OTHER_WORLD = {"hue": " (it exists only in the colour world: add world=colour)"}
_INDEX_NOTE = "_index_note"  # a digit number past the last one was typed: said once, then cleared
_HELD = "_image_held_do"  # session key: the digit's do(), as the what-if fragment's controls last read it
_ANSWER = "_image_answer"  # session key: (what was asked, the answer), shared by the fragments of one move
# The page's fragments (pages/image_whatif.py): the what-if (controls, graph), inside it the quick sliders and the
# answer (its two panels), inside that the link (the address bar); a quick slider's move reruns the link or the
# answer (`moved`).
WHAT_IF, QUICK, ANSWER, LINK_PART = "image_whatif", "image_quick", "image_answer_part", "image_link"
DIGITS = [str(d) for d in range(10)]


def _image_service() -> ImageService:
    return ImageService(pick_device())


def _fixes(part: str | None) -> list[Fix]:
    return [Fix((CheckpointError,), "The trained models could not be loaded.", REBUILD, own_command=True),
            Fix((MnistSourceError,), "The handwritten digits (MNIST test set) could not be read.", "make install",
                "Reinstall the project's dependencies, then reload the page"),
            # anything else raised while loading (e.g. the third-party classifier's package) is still a set-up
            # problem, not something the visitor can fix on the page: named instead of a traceback
            Fix(SETUP_ERRORS, "The models could not be loaded", f"make install\n{REBUILD}",
                "Reinstall the dependencies and rebuild the models, then reload the page", quote=False)]


IMAGE = Backend(PAGE, _image_service, "Loading the models and 10,000 test digits (once per server, ~10 s)…", _fixes)


# --- the link -------------------------------------------------------------------------------------------
def _apply(view: ImagePage, params: dict[str, str]) -> list[str]:
    """`?index=12&world=colour&thickness=4.5` -> the widgets' state; returns what was wrong with the link.

    Out-of-range values are kept as asked, so the service itself clamps them and reports which ones it clamped;
    the sliders show the clamped value.
    """
    notes: list[str] = []
    coloured = st.session_state["coloured"] = colour_world(params, notes)
    if (index := digit_index(params, view.n, notes)) is not None:
        st.session_state["index"] = index
    return notes + read_values(params, view.worlds[coloured].specs, PAGE, WORDS, ("index", "world"), _OTHER_WORLD)[0]


def read_link(view: ImagePage) -> list[str]:
    """The digit, world and do() settings from the address bar when it says what to show; returns its notes."""
    return LINK.read(functools.partial(_apply, view), view.worlds[True].specs)  # the colour world has every name


def write_link(index: int, coloured: bool, do: dict[str, float], specs: dict[str, VarSpec]) -> None:
    """Keeps the address bar a shareable link to exactly what is on screen."""
    LINK.write({"index": str(index)} | ({"world": "colour"} if coloured else {}) | value_params(do, specs))


# --- picking a digit ----------------------------------------------------------------------------------
def _set_index(index: int) -> None:
    st.session_state["index"] = int(index)


def _clamp_index(n: int) -> None:
    asked = int(st.session_state["index"])
    if asked > n - 1:
        st.session_state["index"] = n - 1
        st.session_state[_INDEX_NOTE] = f"There are {n:,} test digits (#0–#{n - 1}): #{asked:,} does not exist, so " \
                                        f"#{n - 1} is shown."


def _random_index(n: int) -> None:
    st.session_state["index"] = int(np.random.default_rng().integers(n))


def sample_picker(view: ImagePage) -> tuple[int, bool]:
    """Index box, random button, world toggle and a clickable gallery; returns (index, coloured)."""
    n = view.n
    st.session_state.setdefault("index", 0)
    left, mid, right = st.columns([2, 1, 2], vertical_alignment="bottom")
    # No max_value: the browser would leave a number past it in the box, marked only by a small red "!", while
    # the page kept showing the last digit. The callback clamps it and the page says so.
    index = left.number_input(f"Test digit number (0–{n - 1})", min_value=0, step=1, key="index",
                              on_change=_clamp_index, args=(n,),
                              help="Each number is one real handwritten digit from the MNIST test set.")
    if _INDEX_NOTE in st.session_state:
        left.warning(st.session_state.pop(_INDEX_NOTE))
    mid.button("Random digit", key="random", icon=":material/casino:", on_click=_random_index, args=(n,))
    coloured = right.toggle("Colour world (hue follows the digit 95% of the time)", key="coloured",
                            help="In the colour world each digit is tinted; the tint usually gives the "
                                 "digit away, so a classifier may learn colour as a shortcut.")
    st.caption("Or click one of these examples:")
    # One wrapping row of small tiles (thumbnail over its button), not st.columns(10): columns stack one
    # under the other below ~640 px, which put the ten examples ~1,000 px deep on a phone. The row keeps
    # all ten on one line on a laptop and wraps to two lines of five on a phone.
    with st.container(horizontal=True, gap=12, key="gallery"):
        for i, digit, source in view.gallery:
            with st.container(width=THUMB, gap="xxsmall"):
                st.image(png(source.astype(np.float32), THUMB), width=THUMB, output_format="PNG")
                # "Use", not the test-set number: a label such as "#3" under a picture of a 0 reads as the digit
                st.button("Use", key=f"pick_{digit}", on_click=_set_index, args=(i,),
                          help=f"Show test digit number {i}", width="stretch")
    return int(index), bool(coloured)


def controls(specs: dict[str, VarSpec], factual: dict[str, float], index: int, coloured: bool) -> None:
    """The do() checkboxes for this digit and world, and the digit's slider (`current_do` reads what they set).

    The continuous variables' sliders are the quick sliders (`explorer.ui.quick_sliders`), drawn by
    `quick_controls` in a fragment of their own.
    """
    quick = continuous(specs)
    st.session_state[_HELD] = do_controls(PAGE, {n: s for n, s in specs.items() if n not in quick}, factual,
                                          (index, coloured), dataclasses.replace(WORDS, reset=False))
    ticks(PAGE, quick, factual, WORDS)


def current_do(specs: dict[str, VarSpec], factual: dict[str, float]) -> dict[str, float]:
    """`do` as the controls set it, drawing nothing: the digit's (as `controls` last read it) and the quick
    sliders' (from the session, where a move puts its value). The fragments that rerun on a move call it."""
    return st.session_state.get(_HELD, {}) | ticked(PAGE, continuous(specs), factual)


def moved(name: str, was_ticked: bool) -> None:
    """After a quick slider's move: a move that ticked its box redraws the boxes and the graph (the what-if
    fragment, which holds them); else, when the browser already shows the whole answer at the value (the panel
    swapped it in from the sweep: `image_answer.swept`), only the link's fragment reruns (the value stored, the
    address bar written, the sliders told: `applied`); else (a value between the sweep's positions, or the sweep
    not there yet: a move sent before it came interrupts the rerun bringing it) the answer's and the sliders'."""
    st.rerun(WHAT_IF if not was_ticked else LINK_PART if swept_whole(KEY) else [ANSWER, QUICK])


def applied() -> None:
    """Tells the quick sliders their last move was applied (for a rerun that draws no answer panel)."""
    echo(KEY)


def live_sliders(specs: dict[str, VarSpec], do: dict[str, float | int]) -> list[str]:
    """The quick slider whose sweep the page asks the service for (`explorer.ui.quick_sliders.live`)."""
    return live(continuous(specs), ticked=do)


def _reset(shown: dict[str, float | int]) -> None:
    for name, value in shown.items():
        st.session_state[f"do_{name}"] = False
        st.session_state[f"value_{name}"] = value


def quick_controls(specs: dict[str, VarSpec], factual: dict[str, float], do: dict[str, float],
                   sweeps: dict[str, SliderSweep], result: ImageResult, names: dict[str, str],
                   extra: Callable[[SliderSweep], list] | None = None) -> None:
    """The quick sliders (with the model's picture and readings, swapped in the browser while a slider moves, and
    `extra` per position for the answer panel); a move reruns the answer's fragment (`moved`)."""
    quick_sliders(continuous(specs), factual, do, sweeps, result.generated, result.probs, names, WORDS, extra,
                  then=moved)


def reset_button(specs: dict[str, VarSpec], factual: dict[str, float]) -> None:
    """The button that unticks every box (the sliders back at the digit's own values)."""
    shown = {n: slider_value(s, factual[n]) for n, s in specs.items()}
    st.button("Reset: undo all interventions", key="reset", on_click=_reset, args=(shown,))


def answer(service: ImageService, index: int, coloured: bool, do: dict[str, float],
           readers: dict[str, Classifier]) -> ImageResult:
    """`service.what_if`, once per digit, world, do() and readers in a session: the fragments a move reruns each
    show a part of the same answer, and the first to run asks for it."""
    key = (index, coloured, tuple(sorted(do.items())), tuple((n, id(c)) for n, c in readers.items()))
    kept = st.session_state.get(_ANSWER)
    if kept is not None and kept[0] == key:
        return kept[1]
    result = service.what_if(index, do, coloured, readers)  # abduction -> action -> prediction
    st.session_state[_ANSWER] = (key, result)
    return result


# --- the visitor's own classifiers, and the way to the Flip page -------------------------------------------
def digit_readers() -> tuple[dict[str, Classifier], list[str]]:
    """The visitor's uploaded classifiers that read the digits 0-9 (the page compares digit readers), and the
    names of those that read other classes."""
    mine = uploads()
    readers = {n: c for n, c in mine.items() if list(c.classes) == DIGITS}
    return readers, [n for n in mine if n not in readers]


def uploads_note(readers: dict[str, Classifier], others: list[str]) -> None:
    """Says which of the visitor's uploaded models are asked here, and why the others are not."""
    if readers:
        st.caption(f"Also asked: your uploaded model{'s' * (len(readers) > 1)} "
                   f"{', '.join(f'**{n}**' for n in readers)}, in this session only (added on the Flip a "
                   "classifier page).")
    if others:
        st.caption(f"Not shown: {', '.join(f'**{n}**' for n in others)}, which read{'s' * (len(others) == 1)} "
                   "other classes than the digits 0–9; flip it on the Flip a classifier page.")


def flip_link(index: int, coloured: bool) -> None:
    """A link that opens this digit, in this world, on the Flip a classifier page."""
    st.page_link("pages/flip_classifier.py", icon=":material/swap_horiz:",
                 label="What is the smallest change that flips a classifier? Open this digit in Flip a classifier",
                 query_params={"index": str(index)} | ({"world": "colour"} if coloured else {}))
