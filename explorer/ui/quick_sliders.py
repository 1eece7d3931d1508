"""Quick sliders: continuous do() sliders that redraw the model's picture and its readings in the browser.

Why a custom component: a Python rerun per slider move costs 2.7-5x a page with no model, and most of that is
the rerun itself and the browser redrawing the fragment (docs/performance.md, "Image what-if", "Causal graph lab").
Here each continuous slider is a range input in one `st.components.v2` component (assets/quick_sliders/) that also
holds the model's picture and its readings. While a slider moves, the browser swaps them from the page's
precomputed sweep of that slider; when the move ends (release, or a key press) the value reaches Python as the
component's `move` state, the callback puts it in session state, and the fragment's rerun draws everything else.

The component knows no world: a page passes its sliders' sweeps already encoded (`Encoded`: positions, pictures
as data: URIs, per position each reading's text) and what it shows around them (`QuickView`). The Image what-if
page calls `quick_sliders` (classifiers' readings of a digit); the Causal graph lab encodes its own sweep
(explorer/ui/graph_lab.py: the model's concept readings of a scene) and calls `draw`, and so does the Table lab
(explorer/ui/table_lab_controls.py: no picture, the counterfactual row's values as readings).

Session keys are the ones Streamlit's sliders had: `value_<var>` (the value), `do_<var>` (its do() box, still a
Streamlit checkbox), so links, tests (AppTest sets them directly: it cannot run the component's JavaScript) and
the rest of the page read them unchanged. Each slider wrapper carries the class `st-key-value_<var>`, so browser
tests and benchmarks find its range input as they found Streamlit's.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.components.v2 import component

from explorer.services.image_sweep import SliderSweep
from explorer.types import VarSpec
from explorer.ui.common.controls import DoWords, asked
from explorer.ui.common.format import decimals, fmt, slider_value, value_range
from explorer.ui.images import png

KEY = "quick_sliders"  # the Image page's component key; another page passes its own
Encoded = tuple[list[float], list[str], list]  # one slider's sweep: positions, picture URIs ([] for none), readings
Moved = Callable[[str, bool], None]  # a page's step after a move: (slider, whether its box was ticked before)


def _applied(key: str) -> str:
    return f"_{key}_applied"  # session key: the number of the last move applied (the browser waits for it)


def _live(key: str) -> str:
    return f"_{key}_live"  # session key: the slider whose sweep the page sends (the one last moved or asked for)


_ASSETS = Path(__file__).resolve().parents[2] / "assets" / "quick_sliders"
_COMPONENT = component(
    "explorer_quick_sliders", html=(_ASSETS / "quick_sliders.html").read_text(),
    css=(_ASSETS / "quick_sliders.css").read_text(), js=(_ASSETS / "quick_sliders.js").read_text(),
    isolate_styles=False)  # no shadow root: tests address the sliders as they addressed Streamlit's


def continuous(specs: dict[str, VarSpec]) -> dict[str, VarSpec]:
    """The variables the quick sliders set (the others keep Streamlit's controls)."""
    return {n: s for n, s in specs.items() if s.kind == "continuous"}


def _ticked(name: str, shown: float) -> None:
    st.session_state[f"value_{name}"] = shown  # ticked or unticked, the slider starts from the example's value


def ticks(page: str, specs: dict[str, VarSpec], factual: dict[str, float], words: DoWords) -> dict[str, float]:
    """A do() checkbox per continuous variable; returns `do` for the ticked ones, each at its session value.

    A value a link asked for (maybe out of range) goes to the service as asked, so the service clamps and reports
    it; once the slider moves, the slider wins (as in `explorer.ui.common.controls.do_controls`).
    """
    do = {}
    for name, spec in specs.items():
        shown = slider_value(spec, factual[name])
        say = _say(spec, factual[name], words)
        if st.checkbox(f"**do({name})**", key=f"do_{name}", on_change=_ticked, args=(name, shown),
                       help=words.tick_help.format(**say)):
            value = st.session_state.setdefault(f"value_{name}", shown)
            linked = asked(page, name)
            do[name] = linked if linked is not None and slider_value(spec, linked) == value \
                else round(float(value), decimals(spec))
    return do


def _say(spec: VarSpec, own: float, words: DoWords) -> dict[str, str]:
    return {"name": spec.name, "label": spec.label, "item": words.item, "range": value_range(spec),
            "value": fmt(spec, own, unit=True)}


def live(specs: dict[str, VarSpec], key: str = KEY) -> list[str]:
    """The slider whose sweep the page computes and sends: the one the visitor last moved or reached for.

    One, not all: a sweep depends on the other sliders' values, so after a thickness move every other slider's
    sweep would be recomputed (55-90 ms of server CPU per slider on this 2-core box, against 20-45 ms for the rest
    of the rerun). Another slider asks for its sweep when the pointer enters it, it gets the focus or is pressed
    (`want`): one rerun.
    """
    name = st.session_state.get(_live(key))
    return [name if name in specs else next(iter(specs))]


def reached(specs: dict[str, VarSpec], key: str) -> list[str]:
    """As `live`, but no slider until the visitor moves or reaches for one: for a page whose sweep is dear (the
    Table lab's: ~0.7 s of CPU), computed only for a slider about to be used."""
    name = st.session_state.get(_live(key))
    return [name] if name in specs else []


def forget_reached(key: str) -> None:
    """No slider is in use any more (the page changed something else): the next sweep waits to be asked for."""
    st.session_state.pop(_live(key), None)


def _moved(specs: dict[str, VarSpec], key: str, then: Moved | None = None) -> None:
    """The component's callback: a move ended in the browser; its value becomes the slider's, its box ticked;
    then the page's `then(name, was_ticked)`, last (it may call st.rerun)."""
    move = (st.session_state.get(key) or {}).get("move")
    if not isinstance(move, dict) or move.get("name") not in specs:
        return
    spec, value = specs[move["name"]], move.get("value")
    was_ticked = bool(st.session_state.get(f"do_{spec.name}"))
    if isinstance(value, (int, float)) and math.isfinite(value):
        st.session_state[f"value_{spec.name}"] = round(slider_value(spec, value), decimals(spec))
        st.session_state[f"do_{spec.name}"] = True  # moving a slider means "set this", as before
        st.session_state[_live(key)] = spec.name
    st.session_state[_applied(key)] = move.get("n")
    if then is not None:
        then(spec.name, was_ticked)


def _wanted(specs: dict[str, VarSpec], key: str) -> None:
    """The component's callback: the visitor reached for a slider whose sweep the page did not send."""
    want = (st.session_state.get(key) or {}).get("want")
    if isinstance(want, dict) and want.get("name") in specs:
        st.session_state[_live(key)] = want["name"]


def data_uri(img: np.ndarray) -> str:
    """A 28 px PNG as a data: URI (the browser scales it up, pixelated): a few hundred bytes a picture."""
    return "data:image/png;base64," + base64.b64encode(png(img, 28)).decode()


def percent(p: float) -> str:
    """A probability as the readings show it: whole percents, two decimals near 0 and 1 ("99.76%")."""
    return f"{p * 100:.0f}%" if 0.01 <= p <= 0.99 else f"{p * 100:.2f}%"


def _class_text(probs: np.ndarray) -> tuple[int, str]:
    best = int(np.argmax(probs))
    return best, f"{best} ({percent(round(float(probs[best]), 5))})"  # "9 (99.76%)"


@functools.lru_cache(maxsize=32)  # by identity (SliderSweep has eq=False): the service returns the same object
def _encoded(sweep: SliderSweep, readers: tuple[str, ...], original: tuple[int, ...]) -> Encoded:
    """One digit sweep as the component reads it: positions, pictures, and per position each reader's
    "digit (p)" with whether it differs from the reader's class on the original (`original`)."""
    best = {r: sweep.probs[r].argmax(axis=1) for r in readers}  # (P,)
    readings = [[[f"{best[r][i]} ({percent(round(float(sweep.probs[r][i, best[r][i]]), 5))})",
                  int(best[r][i] != was)] for r, was in zip(readers, original)] for i in range(len(sweep.values))]
    return [float(v) for v in sweep.values], [data_uri(p) for p in sweep.pictures], readings


@dataclass(frozen=True)
class QuickView:
    """What a page's quick sliders show around the sliders, under the intervention on screen.

    Attributes:
        picture: the model's picture under `do`, as a data: URI (shown when no slider moves), or "" for a page
            with no picture (the Table lab: its readings are the counterfactual row's values).
        caption: the words under the picture.
        readers: a name per reading ("morpho-cnn", "light angle").
        original: per reader, the reading before the what-if ("9 (99.97%)", "118 °").
        current: per reader, [the reading under `do`, 1 when marked, else 0].
        mark: the words after a marked reading (" flips"), or "" for none.
        size: the picture's size on screen, px.
    """

    picture: str
    caption: str
    readers: list[str]
    original: list[str]
    current: list[list]
    mark: str = ""
    size: int = 112


def draw(key: str, specs: dict[str, VarSpec], factual: dict[str, float], do: dict[str, float],
         swept: dict[str, Encoded], view: QuickView, words: DoWords, then: Moved | None = None) -> None:
    """Draws the component: a slider per continuous variable, the model's picture and its readings.

    Args:
        key: the component's key (one per page); its session keys derive from it.
        specs: the continuous variables, in display order.
        factual: the example's own values (an unticked slider shows them).
        do: the intervention on screen (a ticked slider shows its value, clamped into range).
        swept: {slider: its encoded sweep} under `do`, for the `live` slider(s); the others ask for theirs.
        view: the picture and readings under `do`, and how the page words them.
        words: the page's wording of its controls.
        then: called after a move is applied (`_moved`), e.g. to choose which fragments rerun; None: the one the
            component is in.
    """
    sliders = []
    for name, spec in specs.items():
        grid, pictures, readings = swept.get(name, ([], [], []))
        say = _say(spec, factual[name], words)
        sliders.append({"name": name, "label": words.label.format(**say),
                        "help": words.slider_help.format(**say) if words.slider_help else "",
                        "low": spec.low, "high": spec.high, "step": spec.step, "decimals": decimals(spec),
                        "unit": spec.unit, "value": slider_value(spec, do.get(name, factual[name])),
                        "set": name in do, "grid": grid, "pictures": pictures, "readings": readings})
    data = {"sliders": sliders, "readers": view.readers, "original": view.original, "current": view.current,
            "mark": view.mark, "picture": view.picture, "caption": view.caption, "size": view.size,
            "applied": st.session_state.get(_applied(key))}
    # as JSON text: a dict is walked by Streamlit for dataframes to send apart (~16 ms a run for this one), a str
    # goes as it is
    _COMPONENT(key=key, data=json.dumps(data), on_move_change=functools.partial(_moved, specs, key, then),
               on_want_change=functools.partial(_wanted, specs, key), default={"move": None, "want": None})


def quick_sliders(specs: dict[str, VarSpec], factual: dict[str, float], do: dict[str, float],
                  sweeps: dict[str, SliderSweep], generated: np.ndarray,
                  probs: dict[str, tuple[np.ndarray, np.ndarray]], names: dict[str, str], words: DoWords) -> None:
    """The Image what-if page's quick sliders: the model's digit and each classifier's reading.

    Args:
        specs: the continuous variables, in display order.
        factual: the example's own values (an unticked slider shows them).
        do: the intervention on screen (a ticked slider shows its value, clamped into range).
        sweeps: `ImageService.sweep` under `do`, for the `live` slider(s); the others ask for theirs.
        generated: the model's counterfactual under `do` (`what_if`), shown when no slider moves.
        probs: {reader: (on the original, on the counterfactual)}, from the same `what_if`.
        names: {reader: the name the page gives it}.
        words: the page's wording of its controls.
    """
    readers = tuple(probs)
    before = [_class_text(p) for p, _ in probs.values()]
    original = tuple(best for best, _ in before)
    current = [[text, int(best != was)] for (best, text), was in zip((_class_text(q) for _, q in probs.values()),
                                                                     original)]
    view = QuickView(data_uri(generated), "The model's what-if, redrawn while you move a slider",
                     [names.get(r, r) for r in readers], [text for _, text in before], current, mark=" flips")
    draw(KEY, specs, factual, do, {n: _encoded(s, readers, original) for n, s in sweeps.items()}, view, words)
