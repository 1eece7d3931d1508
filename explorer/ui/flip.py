"""Streamlit pieces of the Flip-a-classifier page: its backend, its link, the controls, the upload and the answers.

Widget keys (tests and links address them): `flip_index`, `flip_coloured`, `flip_classifier`, `flip_target`,
`lock_<name>` (digit, thickness, intensity, hue, latent), `flip_run`, `flip_tab` (the open tab's label); in the
upload box `flip_upload`, `flip_scale`, `flip_mean`, `flip_std`, `flip_classes`, `flip_add`. The address bar is a
shareable link to the settings: `?index=3&world=colour&classifier=morpho-cnn-hue&target=8&locks=digit,latent`, and
`&tab=audit` when the second tab ("What flips this model?", `explorer/ui/flip_audit.py`) is open.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import streamlit as st

from explorer.counterfactual.search.base import ANY
from explorer.data.upload_onnx import MAX_BYTES
from explorer.interfaces import Classifier
from explorer.services.search import Answer, FlipPage, FlipResult, FlipService, Reading
from explorer.types import VarSpec
from explorer.ui.common.format import echo, fmt, listed
from explorer.ui.common.link import PageLink, colour_world, digit_index, ignored
from explorer.ui.common.loader import Backend
from explorer.ui.common.uploads import uploads
from explorer.ui.image_whatif import IMAGE
from explorer.ui.images import png
from explorer.ui.image_answer import NAMES, percent

PAGE = "flip"
LINK = PageLink(PAGE, ("flip_index", "flip_coloured", "flip_classifier", "flip_target", "lock_", "flip_tab"),
                marker="flip_index")
TABS = {"flip": "Flip this digit", "audit": "What flips this model?"}  # the link's tab= -> the tab's label
STEPS_ENV = "EXPLORER_SEARCH_STEPS"  # a smaller step budget for tests; unset: the searches' own default
CARD = 112  # px: one answer's picture (28 x 4); two cards fit side by side on a phone
METHODS = {"aip": "AIP", "pixel": "Pixel search", "latent": "Style-only search", "random": "Random search",
           "aip-blackbox": "Black-box AIP (CMA-ES)"}
METHOD_WORDS = {"aip": "changes named attributes (digit, thickness, intensity, hue) and a little of the "
                       "handwriting style, and redraws the digit with the generator",
                "pixel": "edits the pixels directly (Wachter et al.)",
                "latent": "changes only the handwriting style in the generator; the attributes stay",
                "random": "tries random do() sets and keeps the smallest that works; needs no gradients",
                "aip-blackbox": "AIP's objective without gradients: CMA-ES moves the attributes and a few style "
                                "directions, scoring a whole population with one call of the classifier"}
LOCKS = {"digit": "the digit", "thickness": "thickness", "intensity": "intensity", "hue": "hue",
         "latent": "the handwriting style (latent)"}
_KEPT = "_flip_result"  # (settings, FlipResult) of the last Run
# Clicks are also recorded by the buttons' callbacks: a button's one-run True was lost in AppTest runs (as on the
# lab page's export), a session flag is not.
_RUN, _ADD = "_flip_run_asked", "_flip_add_asked"
_LINKED = "_flip_link_rest"  # write_link's settings but the digit: the digit's fragment writes its link with them


def _flip_service() -> FlipService:
    steps = os.environ.get(STEPS_ENV)
    return FlipService(IMAGE.shared(), int(steps) if steps else None)  # the Image page's data and models, shared


FLIP = Backend(PAGE, _flip_service, "Loading the models and 10,000 test digits (once per server, ~10 s)…",
               IMAGE.fixes)


def name_of(name: str) -> str:
    return NAMES.get(name, name)


def classes_of(view: FlipPage, name: str) -> list[str]:
    """The class names of a shipped or uploaded classifier."""
    return list(view.classes[name]) if name in view.classes else list(uploads()[name].classes)


# --- the link -------------------------------------------------------------------------------------------
def _apply(view: FlipPage, params: dict[str, str]) -> list[str]:
    """`?index=3&world=colour&classifier=…&target=8&locks=digit,latent` -> the widgets' state; returns the notes."""
    notes: list[str] = []
    state = st.session_state
    state["flip_coloured"] = colour_world(params, notes)
    if (index := digit_index(params, view.n, notes)) is not None:
        state["flip_index"] = index
    name = params.get("classifier", view.default)
    known = {**view.classifiers, **uploads()}
    if name not in known:
        notes.append(f"The link's classifier={echo(name)} is not one of this app's classifiers (an uploaded model "
                     f"stays in the session that uploaded it), so {name_of(view.default)} is used.")
        name = view.default
    state["flip_classifier"] = name
    classes = classes_of(view, name)
    target = params.get("target", "any")
    state["flip_target"] = ANY
    if target != "any":
        if target in classes:
            state["flip_target"] = classes.index(target)
        else:
            notes.append(f"The link's target={echo(target)} is not a class of {name_of(name)} (any, or one of "
                         f"{', '.join(classes)}), so any other class is asked for.")
    asked = [x for x in params.get("locks", "").split(",") if x]
    for lock in view.locks[True]:
        state[f"lock_{lock}"] = lock in asked
    bad = [x for x in asked if x not in view.locks[True]]
    if bad:
        notes.append(f"The link's locks {listed(bad)} are not things that can be kept (there are "
                     f"{', '.join(view.locks[True])}); ignored.")
    if "hue" in asked and not state["flip_coloured"]:
        notes.append("The link locks hue, which exists only in the colour world (add world=colour); ignored.")
    tab = params.get("tab", "flip")
    state["flip_tab"] = TABS.get(tab, TABS["flip"])
    if tab not in TABS:
        notes.append(f"The link's tab={echo(tab)} is not one of this page's tabs ({', '.join(TABS)}), so the first "
                     "is shown.")
    return notes + ignored(params, ("index", "world", "classifier", "target", "locks", "tab"))


def read_link(view: FlipPage) -> list[str]:
    """The settings from the address bar when it says what to show (a shared link, Back); returns its notes."""
    return LINK.read(functools.partial(_apply, view))


def write_digit_link(index: int) -> None:
    """The link with another digit and the rest as the last full run wrote it (from the digit's own fragment)."""
    if _LINKED in st.session_state:
        write_link(index, *st.session_state[_LINKED])


def has_result() -> bool:
    """Whether a Run's result is kept: on screen (or said to be out of date) in the Flip tab."""
    return _KEPT in st.session_state


def write_link(index: int, coloured: bool, classifier: str, target: int | None, locks: tuple[str, ...],
               classes: list[str], tab: str = "flip") -> None:
    """Keeps the address bar a shareable link to the settings on screen (the second tab has no target or locks)."""
    st.session_state[_LINKED] = (coloured, classifier, target, locks, classes, tab)
    LINK.write({"index": str(index)} | ({"world": "colour"} if coloured else {}) | {"classifier": classifier}
               | ({"target": classes[target]} if target is not None else {})
               | ({"locks": ",".join(locks)} if locks else {}) | ({"tab": tab} if tab != "flip" else {}))


def tabs() -> dict:
    """The page's two tabs, {name: container}: only the open one runs (its `.open` is True)."""
    st.session_state.setdefault("flip_tab", TABS["flip"])
    return dict(zip(TABS, st.tabs(list(TABS.values()), key="flip_tab", on_change="rerun")))


# --- the controls ---------------------------------------------------------------------------------------
def classifier_picker(view: FlipPage, where) -> str:
    """The classifier to flip, shipped or uploaded, drawn in the container `where`; returns its name."""
    mine = uploads()
    options = [*view.classifiers, *mine]
    if st.session_state.get("flip_classifier") not in options:
        st.session_state["flip_classifier"] = view.default
    with where:
        name = st.selectbox("Classifier to flip", options, key="flip_classifier", format_func=name_of,
                            help="The shipped classifiers, any model you uploaded below, and any you trained on the "
                                 "Train with counterfactuals page (this session only).")
        words = mine[name].description if name in mine else view.classifiers[name]
        st.caption(words)
    return name


def question(view: FlipPage, classes: list[str], coloured: bool) -> tuple[int | None, tuple[str, ...]]:
    """The target class and the locks; returns (target or None for any other class, locks)."""
    if st.session_state.get("flip_target", ANY) not in range(ANY, len(classes)):
        st.session_state["flip_target"] = ANY  # another classifier's class
    st.session_state.setdefault("flip_target", ANY)
    target = st.selectbox("Make it say", [ANY, *range(len(classes))], key="flip_target", persist_state="page",
                          format_func=lambda k: "any other class" if k == ANY else classes[k],
                          help="The class the classifier should read after the change.")
    st.markdown("**Keep fixed** (the search may not change these)")
    locks = []
    with st.container(horizontal=True, gap="medium"):
        for lock in view.locks[coloured]:
            if st.checkbox(LOCKS[lock], key=f"lock_{lock}", persist_state="page"):
                locks.append(lock)
    return (None if target == ANY else int(target)), tuple(locks)


def upload_form() -> tuple[bytes, dict] | None:
    """The upload box's widgets; returns (the file's bytes, the options as typed) when "Add" is pressed."""
    st.caption("An `.onnx` file taking a float batch (batch, 1 or 3, 28, 28) and returning 10 scores (logits or "
               "probabilities), or one per class name given below. It stays in this browser session only: it is "
               "never saved on the server, and it is gone when you close the tab.")
    file = st.file_uploader("Your ONNX model", type=["onnx"], key="flip_upload",
                            max_upload_size=MAX_BYTES // 2**20)
    left, mid, right = st.columns(3)
    scale = left.radio("Pixels it expects", [255, 1], key="flip_scale", horizontal=True,
                       format_func=lambda s: f"0–{s}")
    mean = mid.text_input("Normalisation mean (optional)", key="flip_mean", placeholder="e.g. 0.1307")
    std = right.text_input("Normalisation std (optional)", key="flip_std", placeholder="e.g. 0.3081")
    classes = st.text_input("Class names, separated by commas (optional: the digits 0–9)", key="flip_classes")
    added = st.button("Add this model", key="flip_add", disabled=file is None,
                      on_click=st.session_state.__setitem__, args=(_ADD, True))
    added = st.session_state.pop(_ADD, False) or added
    mine = uploads()
    if mine:
        st.caption("Your models in this session: " + "; ".join(f"**{n}** ({getattr(c, 'engine', '')})"
                                                             for n, c in mine.items()))
    if not added or file is None:
        return None
    return file.getvalue(), {"name": f"{file.name} (uploaded)", "scale": scale, "mean": mean, "std": std,
                             "classes": classes}


def keep_upload(clf: Classifier) -> None:
    """Keeps a checked upload in the visitor's session, picks it (call before the classifier picker), says so."""
    uploads()[clf.name] = clf
    st.session_state["flip_classifier"] = clf.name
    gradients = "gradient searches (AIP and every baseline)" if getattr(clf, "differentiable", False) else \
        "black-box AIP (CMA-ES) and the random search (it gives no gradients)"
    st.success(f"Added **{clf.name}**, run with {getattr(clf, 'engine', 'PyTorch')}: {gradients}. {clf.description}")


def upload_refused(err: Exception) -> None:
    """The upload was refused: says why (nothing was kept)."""
    st.error(f"**This model cannot be used.** {err}")


# --- a Run's result, kept until the settings change -----------------------------------------------------
def run_button() -> bool:
    """The Run button; True on the run it was pressed."""
    clicked = st.button("Run the searches", key="flip_run", type="primary", icon=":material/play_arrow:",
                        on_click=st.session_state.__setitem__, args=(_RUN, True))
    return bool(st.session_state.pop(_RUN, False) or clicked)


def keep(settings: tuple, result: FlipResult) -> None:
    st.session_state[_KEPT] = (settings, result)


def kept(settings: tuple) -> FlipResult | None:
    """The last Run's result when it was for these settings; says so when the settings changed since."""
    was, result = st.session_state.get(_KEPT, (None, None))
    if result is not None and was != settings:
        st.info("The settings changed since the last run: press **Run** to search again.")
        return None
    return result


# --- the answers ----------------------------------------------------------------------------------------
def reading_line(who: str, r: Reading) -> str:
    return f"{who} reads **{r.label}** ({percent(r.prob)})"


def _card(image: np.ndarray, caption: str, result: FlipResult, ours: Reading, oracle: Reading,
          answer: Answer | None = None) -> None:
    with st.container(width=CARD + 30, border=True):
        st.image(png(image, CARD), width=CARD, output_format="PNG", caption=caption)
        st.markdown(reading_line(name_of(result.classifier), ours) + "  \n" + reading_line("The oracle", oracle))
        if answer is None:
            return
        if answer.found:
            st.markdown(":green[**Flipped**]" + (f" after {answer.steps} steps" if answer.steps > 0 else ""))
        else:
            st.caption(answer.note)


def answers(result: FlipResult) -> None:
    """The factual digit and every method's answer side by side (cards wrap on a narrow screen)."""
    with st.container(horizontal=True, gap="small", key="flip_answers"):
        _card(result.original, f"Original: test digit #{result.index}", result, result.reading, result.oracle)
        for method, a in result.answers.items():
            _card(a.image, f"{METHODS[method]}'s answer", result, a.reading, a.oracle, a)
        for method, why in result.skipped.items():
            with st.container(width=CARD + 30, border=True):
                st.markdown(f"**{METHODS[method]}**: not run, {why}.")
    st.caption(" · ".join(f"**{METHODS[m]}** {METHOD_WORDS[m]}" for m in result.answers)
               + ". The oracle is an independent, more accurate digit reader: where it disagrees with the "
                 "classifier, the change fooled the classifier without changing the digit a reader sees.")
    if not result.differentiable:
        st.warning(f"**{name_of(result.classifier)}** is run by {result.engine} and gives no gradients, so AIP and "
                   "the gradient baselines cannot run: black-box AIP (CMA-ES) and the random search run instead, "
                   "which only read the classifier's outputs.")


def changes(result: FlipResult, specs: dict[str, VarSpec]) -> None:
    """The lead method's attribute changes as a short table ("thickness 2.1 → 3.4")."""
    a = result.answers[result.lead]
    st.markdown(f"**What {METHODS[result.lead]} changed**")
    if not a.found:
        st.caption("Nothing: it found no answer (see its note above).")
        return
    if not a.changes:
        moved = f" (the style moved by {a.latent_shift:.2f} in the generator's latent space)" if a.latent_shift else ""
        st.caption(f"No attribute changed{moved}.")
        return
    lines = ["| attribute | this digit | the answer | |", "|---|---|---|---|"]
    lines += [f"| {specs[c.name].label} | {fmt(specs[c.name], c.before, unit=True)} | "
              f"{fmt(specs[c.name], c.after, unit=True)} | {'set by the search' if c.set else 'follows its causes'} |"
              for c in a.changes]
    st.markdown("\n".join(lines))
    if a.latent_shift:
        st.caption(f"And the handwriting style moved by {a.latent_shift:.2f} in the generator's latent space.")


def true_answer(result: FlipResult) -> None:
    """The TRUE counterfactual of the lead's do(), drawn by the world's own rules, or why there is none."""
    st.markdown(f"**The true answer to {METHODS[result.lead]}'s do()**")
    if result.true_image is None:
        st.info(f"No true answer: {result.true_note}.")
        return
    left, right = st.columns([1, 3])
    left.image(png(result.true_image, CARD), width=CARD, output_format="PNG",
               caption="True answer: redrawn by the world's known rules")
    held = result.true_reading.index == result.answers[result.lead].reading.index
    right.markdown(reading_line(name_of(result.classifier), result.true_reading) + "  \n"
                   + reading_line("The oracle", result.true_oracle) + "\n\n"
                   + ("The classifier reads the truly redrawn digit the same way: the flip is real, not a quirk of "
                      "the generator." if held else
                      "On the truly redrawn digit the classifier does **not** read the answer: the search found a "
                      "weakness of the generator's drawing (or its style change), not of the world's digit."))


def path_strip(result: FlipResult) -> None:
    """Up to six images along the lead method's search, start to answer."""
    if not result.path:
        return
    st.markdown(f"**{METHODS[result.lead]}'s path**, from the start to the answer")
    captions = [f"Path {i + 1}" for i in range(len(result.path))]
    captions[0], captions[-1] = "Path: start", "Path: answer"
    st.image([png(p, 84) for p in result.path], width=84, output_format="PNG", caption=captions)


def image_link(result: FlipResult) -> None:
    """A link that opens the lead's do() on the Image what-if page, and what it cannot carry."""
    a = result.answers[result.lead]
    if not a.found:
        return
    params = {"index": str(result.index)} | ({"world": "colour"} if result.coloured else {}) \
        | {k: (str(v) if k == "digit" else f"{v:g}") for k, v in result.link_do.items()}
    st.page_link("pages/image_whatif.py", label=f"Open {METHODS[result.lead]}'s do() in Image what-if",
                 icon=":material/image:", query_params=params)
    if a.latent_shift:
        st.caption("The link carries the do() only: the small change of the handwriting style (the latent offset) "
                   "cannot travel in a link, so the Image page redraws the digit in its own style and the "
                   "classifiers may read it differently there.")
