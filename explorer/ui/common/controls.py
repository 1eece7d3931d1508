"""The do() controls every page shares: per variable an "intervene" checkbox and a slider, built from its VarSpec.

Keys are stable so that tests (AppTest, Playwright) and links can address them: `do_<var>` (checkbox),
`value_<var>` (slider), `reset` (the button that unticks every box, where a page offers it). An unticked slider
shows the chosen example's own value and follows the example when another is picked; moving a slider ticks its
box; the value used is the one the slider shows.

`page` names the page's own session keys (which example the sliders were last set from, and the values a link
asked for), so two pages never read each other's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import streamlit as st

from explorer.types import VarSpec
from explorer.ui.common.format import decimals, fmt, slider_value, value_range


@dataclass(frozen=True)
class DoWords:
    """How one page words its do() controls and reads their values from a link; the defaults suit any world.

    Templates take {name}, {label} (the spec's), {item}, {range}, {value} (the example's own), and in the link's
    notes {text} (as the link has it, through `format.echo`) and {hint} (the page's words on a name another world has).

    Attributes:
        item: what one example is called ("digit", "scene", "row").
        tick_help: the checkbox's help.
        label: the slider's label.
        slider_help: the slider's help, or None for none.
        reset: offer a button that unticks every box.
        as_asked: a link's value goes to the service as asked, which clamps it and reports the clamping; False
            clamps it on reading, with a note (`out_of_range`).
        not_a_number: the note for a link value that is not a number.
        unknown: the note for a link setting that is no variable of the world, or None: the page words those.
    """

    item: str = "example"
    tick_help: str = ("Ticked: you set {label} to the slider's value, whatever its causes say. "
                      "Unticked: {label} follows its causes and this {item}'s particulars.")
    label: str = "{label} (range {range}; this {item}: {value})"
    slider_help: str | None = "{label}: from {range}. Moving the slider ticks do({name})."
    reset: bool = True
    as_asked: bool = True
    not_a_number: str = "The link's {name}={text} is not a number, so it was ignored."
    unknown: str | None = "The link's setting {name}={text} is not a variable of this world{hint}; ignored."


def _synced(page: str) -> str:
    return f"_{page}_synced"  # session key: the example the unticked sliders were last set from


def _asked(page: str) -> str:
    return f"_{page}_asked"  # session key: {var: value exactly as a link asked for it}


def asked(page: str, name: str) -> float | None:
    """The value a link asked for `name` on `page` (maybe out of range), if the link set it."""
    return st.session_state.get(_asked(page), {}).get(name)


def preset(page: str, spec: VarSpec, value: float, words: DoWords) -> str | None:
    """Ticks `spec`'s box and puts its slider at `value` (from a link); returns a note when it had to be clamped.

    With `words.as_asked` the value is also kept as asked, so the service itself clamps it and says so.
    """
    st.session_state[f"do_{spec.name}"] = True
    if words.as_asked:
        st.session_state.setdefault(_asked(page), {})[spec.name] = value
        st.session_state[f"value_{spec.name}"] = slider_value(spec, value)
        return None
    clamped, changed = spec.clamp(value)
    st.session_state[f"value_{spec.name}"] = round(clamped, decimals(spec))
    if changed:
        return (f"{spec.label} = {value:g} is outside its range ({value_range(spec)}), so it was set to "
                f"{fmt(spec, clamped, unit=True)}.")
    return None


def forget(page: str, names: Iterable[str] = (), resync: bool = True) -> None:
    """Unticks every box of `names` and forgets what a link asked (an older address may not set them: the
    browser's Back); with `resync`, the unticked sliders move to the example's own values on the next draw."""
    for name in names:
        st.session_state[f"do_{name}"] = False  # (popping the key would keep the box's value in the browser)
    if resync:
        st.session_state.pop(_synced(page), None)
    st.session_state[_asked(page)] = {}


def _intervene(name: str) -> None:
    st.session_state[f"do_{name}"] = True  # moving a slider means "set this": tick its box for the user


def _untick(name: str, factual: float | int) -> None:
    if not st.session_state.get(f"do_{name}"):
        st.session_state[f"value_{name}"] = factual  # an unticked slider shows the example's own value


def _reset(factual: dict[str, float | int]) -> None:
    for name, value in factual.items():
        st.session_state[f"do_{name}"] = False
        st.session_state[f"value_{name}"] = value


def _sync(page: str, specs: dict[str, VarSpec], shown: dict[str, float | int], key: object) -> None:
    """When the example changed, moves the unticked sliders (and any not drawn yet) to its values."""
    if st.session_state.get(_synced(page)) == key:
        return
    for name in specs:
        if not st.session_state.get(f"do_{name}") or f"value_{name}" not in st.session_state:
            st.session_state[f"value_{name}"] = shown[name]
    st.session_state[_synced(page)] = key


def do_controls(page: str, specs: dict[str, VarSpec], factual: dict[str, float], key: object,
                words: DoWords = DoWords()) -> dict[str, float]:
    """Per variable a do() checkbox and a slider; returns `do` for the ticked ones.

    Args:
        page: the page's name, for its own session keys.
        specs: the world's variables, in display order.
        factual: the chosen example's own values (unticked sliders show them, clamped into range: a few real
            examples lie just outside a slider's range; the label keeps the example's own value).
        key: which example (and world) is shown; when it changes, unticked sliders move to its values.
        words: the page's wording.
    """
    shown = {n: slider_value(s, factual[n]) for n, s in specs.items()}
    _sync(page, specs, shown, key)
    do = {}
    for name, spec in specs.items():
        say = {"name": name, "label": spec.label, "item": words.item, "range": value_range(spec),
               "value": fmt(spec, factual[name], unit=True)}
        ticked = st.checkbox(f"**do({name})**", key=f"do_{name}", on_change=_untick, args=(name, shown[name]),
                             help=words.tick_help.format(**say))
        # one number type per slider (a spec written with whole-number bounds still gets a float slider)
        kind = float if spec.kind == "continuous" else int
        value = st.slider(words.label.format(**say), kind(spec.low), kind(spec.high),
                          step=kind(spec.step) if kind is float else 1, key=f"value_{name}",
                          format=f"%.{decimals(spec)}f" if kind is float else "%d",
                          on_change=_intervene, args=(name,),
                          help=words.slider_help.format(**say) if words.slider_help else None)
        if ticked:
            linked = asked(page, name)
            # A value a link asked for (maybe out of range) goes to the service as asked, so the service's own
            # clamping decides and reports it; once the slider moves, the slider wins. Otherwise the value as the
            # slider shows it: keyboard steps accumulate float error (2.5 + 10 x 0.1 = 3.5000000000000004), and
            # a link must reproduce exactly what is on screen.
            do[name] = linked if linked is not None and slider_value(spec, linked) == value \
                else round(float(value), decimals(spec))
    if words.reset:
        st.button("Reset: undo all interventions", key="reset", on_click=_reset, args=(shown,))
    return do
