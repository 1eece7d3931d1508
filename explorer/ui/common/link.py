"""The address bar as every page keeps it: a shareable link to exactly what is on screen, read back the same way.

A page names its own settings (the example, the world, the arrows, the concept...) and parses them in its
`apply` function; the do() settings, one parameter per variable (`?thickness=4.5`), are read and written here from
the world's VarSpecs, so a new world gets its links for free. `PageLink.read` decides when the address bar says
what to show:
- on the session's first visit to the page (a shared link);
- after the browser's Back or Forward buttons (`explorer.ui.address.moved`);
- coming back from another page, Streamlit has dropped the page's widget state: it is put back as the visitor
  left it, from what the page kept when it last wrote its link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import streamlit as st

from explorer.types import VarSpec
from explorer.ui import address
from explorer.ui.common.controls import DoWords, forget, preset
from explorer.ui.common.format import echo, fmt


@dataclass(frozen=True)
class PageLink:
    """One page's link.

    Attributes:
        page: the page's name, for its session keys.
        widgets: prefixes of the keys of the widgets the link encodes (buttons, True only on the run they were
            clicked, must not be among them); what the page keeps for its return is their values.
        marker: a widget key the page always draws: missing on a later run means the visitor comes back from
            another page.
        notes_stay: the link's notes are shown on every run until the next link is read (the Image and Text
            pages); False shows them on the run that read the link only.
    """

    page: str
    widgets: tuple[str, ...]
    marker: str
    notes_stay: bool = False

    @property
    def _seen(self) -> str:
        return f"_{self.page}_link_seen"

    @property
    def _written(self) -> str:
        return f"_{self.page}_link_written"  # for explorer.ui.address: what the page last wrote there

    @property
    def _kept(self) -> str:
        return f"_{self.page}_kept"  # the widgets' state, put back when the visitor returns from another page

    @property
    def _notes(self) -> str:
        return f"_{self.page}_link_notes"

    def read(self, apply: Callable[[dict[str, str]], list[str]], names: Iterable[str] = ()) -> list[str]:
        """Sets the widgets' state from the address bar when it says what to show (see the module docstring).

        Call before the widgets are drawn.

        Args:
            apply: sets the page's widgets' state from the link's parameters; returns what was wrong with them
                (each problem skipped, the rest of the link still applies).
            names: the world's variables, whose do() boxes Back unticks first (an older link may not set them).

        Returns:
            the notes to show about the link.
        """
        state = st.session_state
        if self._seen not in state:
            state[self._seen] = True
            return self._shown(apply(st.query_params.to_dict()))
        query = address.moved(self._written)
        if query:  # the browser's Back or Forward: the address bar says what to show
            forget(self.page, names)
            return self._shown(apply(query))
        if self.marker not in state and self._kept in state:  # back from another page
            for key, value in state[self._kept].items():
                state[key] = value
            forget(self.page, resync=False)  # what a link asked was said on the first visit: the sliders win
            return self._shown([])  # the link's notes too
        if query is not None:
            address.hold(self._written)  # Back to the bare address: one more Back leaves the page
        return state.get(self._notes, []) if self.notes_stay else []

    def _shown(self, notes: list[str]) -> list[str]:
        st.session_state[self._notes] = notes
        return notes

    def write(self, params: dict[str, str], kept: dict | None = None) -> None:
        """Shows `params` in the address bar and keeps the widgets' state for the visitor's return.

        Args:
            params: the link to what is on screen.
            kept: the state to put back on return (None: the link's widgets as they are now).
        """
        address.write(self._written, params, self.widgets)
        st.session_state[self._kept] = address.widgets(self._written) if kept is None else kept


def read_values(params: dict[str, str], specs: dict[str, VarSpec], page: str, words: DoWords,
                skip: Iterable[str] = (), hints: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """The link's do() settings (`?thickness=4.5`) into the controls' state, in the link's order.

    Args:
        params: the link's parameters.
        specs: the world's variables.
        page: the page's name.
        words: the page's wording of its controls and link notes.
        skip: the page's own parameters (not variables).
        hints: {name: words added to the note when a name is not a variable of this world}.

    Returns:
        (notes on what was wrong, the names that are not variables when `words.unknown` is None).
    """
    notes, unknown = [], []
    for name, text in params.items():
        if name in skip:
            continue
        if name not in specs:
            if words.unknown is None:
                unknown.append(name)
            else:
                notes.append(words.unknown.format(name=echo(name, quote=False), text=echo(text),
                                                  hint=(hints or {}).get(name, "")))
            continue
        try:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
        except ValueError:
            notes.append(words.not_a_number.format(name=name, text=echo(text)))
            continue
        note = preset(page, specs[name], value, words)
        if note:
            notes.append(note)
    return notes, unknown


def value_params(do: dict[str, float], specs: dict[str, VarSpec]) -> dict[str, str]:
    """The do() settings as link parameters, each as its control shows it (clamped into range)."""
    return {name: fmt(specs[name], specs[name].clamp(value)[0]) for name, value in do.items()}


COLOUR = ("colour", "color", "coloured", "colored")


def colour_world(params: dict[str, str], notes: list[str]) -> bool:
    """`world=colour` (any spelling in COLOUR) -> True; absent or `grey` -> False; anything else is named in
    `notes` and the grey world is shown."""
    world = params.get("world", "grey").strip().lower()
    if world not in (*COLOUR, "grey", "gray"):
        notes.append(f"The link's world={echo(params['world'])} is not grey or colour, so the grey world is shown.")
    return world in COLOUR


def ignored(params: dict[str, str], known: Iterable[str]) -> list[str]:
    """A note for each of the link's settings that the page does not read."""
    return [f"The link's setting {echo(k, quote=False)}={echo(v)} is not one this page reads; ignored."
            for k, v in params.items() if k not in known]


def digit_index(params: dict[str, str], n: int, notes: list[str]) -> int | None:
    """The link's `index` (a test digit of `n`), clamped into range with a note; None when the link has none or
    it is not a number (said in `notes`)."""
    if "index" not in params:
        return None
    try:
        asked = int(float(params["index"]))
    except (ValueError, OverflowError):  # "abc", "nan"; "inf"
        notes.append(f"The link's index={echo(params['index'])} is not a number, so it was ignored.")
        return None
    index = min(max(asked, 0), n - 1)
    if index != asked:
        notes.append(f"The link asked for test digit #{echo(str(asked), quote=False)}; the test set has "
                     f"#0–#{n - 1}, so #{index} is shown.")
    return index
