"""The Image what-if page's quick sliders: continuous do() sliders that redraw the model's picture in the browser.

Why a custom component: a Python rerun per slider move costs 3.5-5x a page with no model, and most of that is
the rerun itself and the browser redrawing the fragment (docs/performance.md, "Image what-if"). Here each
continuous slider (thickness, intensity; hue in the colour world) is a range input in one `st.components.v2`
component (assets/quick_sliders/) that also holds the model's picture and each classifier's reading. While a
slider moves, the browser swaps them from the service's precomputed sweep (`ImageService.sweep`); when the move
ends (release, or a key press) the value reaches Python as the component's `move` state, the callback puts it in
session state, and the fragment's rerun draws everything else as before.

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
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.components.v2 import component

from explorer.services.image_sweep import SliderSweep
from explorer.types import VarSpec
from explorer.ui.common.controls import DoWords, asked
from explorer.ui.common.format import decimals, fmt, slider_value, value_range
from explorer.ui.images import png

KEY = "quick_sliders"
_APPLIED = "_quick_sliders_applied"  # session key: the number of the last move applied (the browser waits for it)
_LIVE = "_quick_sliders_live"  # session key: the slider whose sweep the page sends (the one last moved or asked for)
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


def live(specs: dict[str, VarSpec]) -> list[str]:
    """The slider whose sweep the page computes and sends: the one the visitor last moved or reached for.

    One, not all: a sweep depends on the other sliders' values, so after a thickness move every other slider's
    sweep would be recomputed (55-90 ms of server CPU per slider on this 2-core box, against 20-45 ms for the rest
    of the rerun). Another slider asks for its sweep when the pointer enters it, it gets the focus or is pressed
    (`want`): one rerun.
    """
    name = st.session_state.get(_LIVE)
    return [name if name in specs else next(iter(specs))]


def _moved(specs: dict[str, VarSpec]) -> None:
    """The component's callback: a move ended in the browser; its value becomes the slider's, its box ticked."""
    move = (st.session_state.get(KEY) or {}).get("move")
    if not isinstance(move, dict) or move.get("name") not in specs:
        return
    spec, value = specs[move["name"]], move.get("value")
    if isinstance(value, (int, float)) and math.isfinite(value):
        st.session_state[f"value_{spec.name}"] = round(slider_value(spec, value), decimals(spec))
        st.session_state[f"do_{spec.name}"] = True  # moving a slider means "set this", as before
        st.session_state[_LIVE] = spec.name
    st.session_state[_APPLIED] = move.get("n")


def _wanted(specs: dict[str, VarSpec]) -> None:
    """The component's callback: the visitor reached for a slider whose sweep the page did not send."""
    want = (st.session_state.get(KEY) or {}).get("want")
    if isinstance(want, dict) and want.get("name") in specs:
        st.session_state[_LIVE] = want["name"]


def data_uri(img: np.ndarray) -> str:
    """A 28 px PNG as a data: URI (the browser scales it up, pixelated): a few hundred bytes a picture."""
    return "data:image/png;base64," + base64.b64encode(png(img, 28)).decode()


@functools.lru_cache(maxsize=32)  # by identity (SliderSweep has eq=False): the service returns the same object
def _encoded(sweep: SliderSweep, readers: tuple[str, ...]) -> tuple[list[float], list[str], list]:
    """One sweep as the component reads it: positions, pictures, and per position each reader's (digit, p)."""
    best = {r: sweep.probs[r].argmax(axis=1) for r in readers}  # (P,)
    readings = [[[int(best[r][i]), round(float(sweep.probs[r][i, best[r][i]]), 5)] for r in readers]
                for i in range(len(sweep.values))]
    return [float(v) for v in sweep.values], [data_uri(p) for p in sweep.pictures], readings


def _reading(probs: np.ndarray) -> list:
    return [int(np.argmax(probs)), round(float(np.max(probs)), 5)]


def quick_sliders(specs: dict[str, VarSpec], factual: dict[str, float], do: dict[str, float],
                  sweeps: dict[str, SliderSweep], generated: np.ndarray,
                  probs: dict[str, tuple[np.ndarray, np.ndarray]], names: dict[str, str], words: DoWords) -> None:
    """Draws the component: a slider per continuous variable, the model's picture and the readings.

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
    sliders = []
    for name, spec in specs.items():
        grid, pictures, readings = _encoded(sweeps[name], readers) if name in sweeps else ([], [], [])
        value = slider_value(spec, do.get(name, factual[name]))
        say = _say(spec, factual[name], words)
        sliders.append({"name": name, "label": words.label.format(**say),
                        "help": words.slider_help.format(**say) if words.slider_help else "",
                        "low": spec.low, "high": spec.high, "step": spec.step, "decimals": decimals(spec),
                        "unit": spec.unit, "value": value, "set": name in do, "grid": grid,
                        "pictures": pictures, "readings": readings})
    data = {"sliders": sliders, "readers": [names.get(r, r) for r in readers],
            "original": [_reading(p) for p, _ in probs.values()], "current": [_reading(q) for _, q in probs.values()],
            "picture": data_uri(generated), "caption": "The model's what-if, redrawn while you move a slider",
            "applied": st.session_state.get(_APPLIED)}
    # as JSON text: a dict is walked by Streamlit for dataframes to send apart (~16 ms a run for this one), a str
    # goes as it is
    _COMPONENT(key=KEY, data=json.dumps(data), on_move_change=functools.partial(_moved, specs),
               on_want_change=functools.partial(_wanted, specs), default={"move": None, "want": None})
