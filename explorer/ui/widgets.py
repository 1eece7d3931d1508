"""Widgets built from the service's VarSpecs, the digit picker, and shareable links (URL query params).

Keys are stable so that tests (AppTest, Playwright) and links can address them:
`index`, `random`, `pick_<digit>`, `coloured`, `do_<var>` (checkbox), `value_<var>` (slider), `reset`.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from explorer.types import VarSpec
from explorer.ui import address
from explorer.ui.images import THUMB, png
from explorer.services.image import ImageService

_LINKED = "_link_raw"  # session key: {var: value exactly as the link asked for it}
_NOTES = "_link_notes"
_LAST = "_link_last"  # session key: the params the address bar last showed, restored on coming back to the page
_WRITTEN = "_link_written"  # session key for explorer.ui.address: what the page last wrote into the address bar
_INDEX_NOTE = "_index_note"  # a digit number past the last one was typed: said once, then cleared
_SYNCED = "_synced_for"  # session key: the (index, coloured) the sliders were last set from


def decimals(spec: VarSpec) -> int:
    """How many decimals a value of this variable is shown with (from its slider step)."""
    return 0 if spec.kind == "categorical" or spec.step >= 1 else max(0, -math.floor(math.log10(spec.step) + 1e-9))


def fmt(spec: VarSpec, value: float, unit: bool = False) -> str:
    text = f"{value:.{decimals(spec)}f}"
    return f"{text} {spec.unit}" if unit and spec.unit else text


def _range(spec: VarSpec) -> str:
    return f"{fmt(spec, spec.low)}–{fmt(spec, spec.high, unit=True)}"


# --- links --------------------------------------------------------------------------------------------
def apply_link(service: ImageService) -> None:
    """Once per session, copies `?index=12&world=colour&thickness=4.5` into the widgets' state; again after the
    browser's Back or Forward buttons; and what the address bar last showed here when the visitor comes back
    from another page.

    Out-of-range values are kept as asked (in `_LINKED`) so the explorer call itself clamps them and
    reports which ones it clamped; the sliders show the clamped value.
    """
    if _LINKED not in st.session_state:
        _apply_params(service, st.query_params.to_dict())
        return
    query = address.moved(_WRITTEN)
    if query:  # the browser's Back or Forward: the address bar says what to show
        for name in {*service.specs(False), *service.specs(True)}:  # settings the older address may not have
            st.session_state[f"do_{name}"] = False  # (popping the key would keep the box's value in the browser)
        st.session_state.pop(_SYNCED, None)
        _apply_params(service, query)
    elif "index" not in st.session_state and _LAST in st.session_state:
        # Back from another page: Streamlit dropped this page's widget state, so set it again from what the
        # address bar last showed here (the same parser as a link; its notes were shown on the first visit).
        _apply_params(service, st.session_state[_LAST])
        st.session_state[_NOTES] = []
    elif query is not None:
        address.hold(_WRITTEN)


def _apply_params(service: ImageService, params: dict[str, str]) -> None:
    notes, raw = [], {}
    coloured = params.get("world", "grey").lower() in ("colour", "color", "coloured", "colored")
    st.session_state["coloured"] = coloured
    if "index" in params:
        try:
            asked = int(float(params["index"]))
            index = min(max(asked, 0), len(service) - 1)
            st.session_state["index"] = index
            if index != asked:
                notes.append(f"The link asked for test digit #{asked}; the test set has #0–#{len(service) - 1}, "
                             f"so #{index} is shown.")
        except ValueError:
            notes.append(f"The link's index={params['index']!r} is not a number, so it was ignored.")
    specs = service.specs(coloured)
    for name, text in params.items():
        if name in ("index", "world"):
            continue
        if name not in specs:
            extra = " (it exists only in the colour world: add world=colour)" if name == "hue" else ""
            notes.append(f"The link's setting {name}={text!r} is not a variable of this world{extra}; ignored.")
            continue
        try:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
        except ValueError:
            notes.append(f"The link's {name}={text!r} is not a number, so it was ignored.")
            continue
        raw[name] = value
        st.session_state[f"do_{name}"] = True
        st.session_state[f"value_{name}"] = _slider_value(specs[name], value)
    st.session_state[_LINKED], st.session_state[_NOTES] = raw, notes


def link_notes() -> list[str]:
    """Problems found in the link this session was opened with (empty when there was none)."""
    return st.session_state.get(_NOTES, [])


def linked_value(name: str) -> float | None:
    """The value the link asked for `name`, if the link set it."""
    return st.session_state.get(_LINKED, {}).get(name)


def write_link(index: int, coloured: bool, do: dict[str, float], specs: dict[str, VarSpec]) -> None:
    """Keeps the address bar a shareable link to exactly what is on screen."""
    params = {"index": str(index)}
    if coloured:
        params["world"] = "colour"
    for name, value in do.items():
        params[name] = fmt(specs[name], specs[name].clamp(value)[0])
    st.session_state[_LAST] = params
    address.write(_WRITTEN, params, ("index", "coloured", "do_", "value_"))


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


def gallery_indices(service: ImageService) -> list[int]:
    """The first test digit of each class 0-9: a small, varied gallery."""
    labels = service.values[False]["digit"]  # (N,)
    return [int(np.flatnonzero(labels == d)[0]) for d in range(10)]


def sample_picker(service: ImageService) -> tuple[int, bool]:
    """Index box, random button, world toggle and a clickable gallery; returns (index, coloured)."""
    n = len(service)
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
        for i in gallery_indices(service):
            with st.container(width=THUMB, gap="xxsmall"):
                st.image(png(service.sources[i].astype(np.float32), THUMB), width=THUMB, output_format="PNG")
                # "Use", not the test-set number: a label such as "#3" under a picture of a 0 reads as the digit
                st.button("Use", key=f"pick_{service.values[False]['digit'][i]}", on_click=_set_index,
                          args=(i,), help=f"Show test digit number {i}", width="stretch")
    return int(index), bool(coloured)


# --- interventions ------------------------------------------------------------------------------------
def _slider_value(spec: VarSpec, value: float) -> float | int:
    clamped = spec.clamp(value)[0]
    return int(clamped) if spec.kind == "categorical" else float(clamped)


def _intervene(name: str) -> None:
    st.session_state[f"do_{name}"] = True  # moving a slider means "set this": tick its box for the user


def _untick(name: str, factual: float | int) -> None:
    if not st.session_state.get(f"do_{name}"):
        st.session_state[f"value_{name}"] = factual  # an unticked slider shows the digit's own value


def _reset(factual: dict[str, float | int]) -> None:
    for name, value in factual.items():
        st.session_state[f"do_{name}"] = False
        st.session_state[f"value_{name}"] = value


def intervention_controls(specs: dict[str, VarSpec], factual: dict[str, float], key: tuple) -> dict[str, float]:
    """Per variable an "intervene" checkbox and a slider; returns `do` for the ticked ones.

    Args:
        specs: the world's variables.
        factual: the chosen digit's own values (unticked sliders show them).
        key: (index, coloured); when it changes, unticked sliders move to the new digit's values.
    """
    shown = {n: _slider_value(s, factual[n]) for n, s in specs.items()}
    if st.session_state.get(_SYNCED) != key:
        for name in specs:
            if not st.session_state.get(f"do_{name}") or f"value_{name}" not in st.session_state:
                st.session_state[f"value_{name}"] = shown[name]
        st.session_state[_SYNCED] = key
    do = {}
    for name, spec in specs.items():
        ticked = st.checkbox(f"**do({name})**", key=f"do_{name}",
                             on_change=_untick, args=(name, shown[name]),
                             help=f"Ticked: you set {spec.label} to the slider's value, whatever its causes say. "
                                  f"Unticked: {spec.label} follows its causes and this digit's particulars.")
        value = st.slider(
            f"{spec.label} (range {_range(spec)}; this digit: {fmt(spec, factual[name], unit=True)})",
            spec.low if spec.kind == "continuous" else int(spec.low),
            spec.high if spec.kind == "continuous" else int(spec.high),
            step=spec.step if spec.kind == "continuous" else 1, key=f"value_{name}",
            format=f"%.{decimals(spec)}f" if spec.kind == "continuous" else "%d",
            on_change=_intervene, args=(name,),
            help=f"{spec.label}: from {_range(spec)}. Moving the slider ticks do({name}).")
        if ticked:
            asked = linked_value(name)
            # A value the link asked for (maybe out of range) goes to the explorer as asked, so the
            # explorer's own clamping decides and reports it; once the slider moves, the slider wins.
            # Otherwise the value as the slider shows it: keyboard steps accumulate float error
            # (2.5 + 10 x 0.1 = 3.5000000000000004), and a link must reproduce exactly what is on screen.
            do[name] = asked if asked is not None and _slider_value(spec, asked) == value \
                else round(float(value), decimals(spec))
    st.button("Reset: undo all interventions", key="reset", on_click=_reset, args=(shown,))
    return do
