"""A variable's value in words, as every page shows it: the decimals follow the slider's step; and a link's
values as the pages' notes repeat them.

No Streamlit here: tables, labels, notes and links all format values through these.
"""

from __future__ import annotations

import math
import re

from explorer.types import VarSpec


def decimals(spec: VarSpec) -> int:
    """How many decimals a value of this variable is shown with (from its slider step)."""
    return 0 if spec.kind == "categorical" or spec.step >= 1 else max(0, -math.floor(math.log10(spec.step) + 1e-9))


def fmt(spec: VarSpec, value: float, unit: bool = False) -> str:
    """`value` with the variable's decimals, and its unit when `unit` is set ("2.5 px")."""
    text = f"{value:.{decimals(spec)}f}"
    return f"{text} {spec.unit}" if unit and spec.unit else text


def value_range(spec: VarSpec) -> str:
    """The variable's range, unit at the end ("1.0–5.5 px")."""
    return f"{fmt(spec, spec.low)}–{fmt(spec, spec.high, unit=True)}"


def slider_value(spec: VarSpec, value: float) -> float | int:
    """`value` as the variable's slider can show it: clamped into range, a whole number for a categorical one."""
    clamped = spec.clamp(value)[0]
    return int(clamped) if spec.kind == "categorical" else float(clamped)


ECHO_CHARS = 40  # of a link's value repeated in a note: a 100,000-character link does not flood the page
_MARKDOWN = re.compile(r"([\\`*\[\]()<>!#|~$:{}])")


def echo(text: str, quote: bool = True) -> str:
    """A value from a link as a note repeats it: quoted (`quote`), cut to ECHO_CHARS characters, control
    characters escaped, Markdown's special characters backslashed. The notes are Markdown, so without this a
    crafted link could draw a link, a picture (fetched from anywhere) or a heading into the page."""
    short = text if len(text) <= ECHO_CHARS else f"{text[:ECHO_CHARS]}… ({len(text):,} characters)"
    shown = repr(short) if quote else repr(short)[1:-1]
    return _MARKDOWN.sub(r"\\\1", shown)


def listed(values: list[str], quote: bool = True, most: int = 5) -> str:
    """The first `most` of a link's values through `echo`, and how many more: "'a', 'b' and 12 more"."""
    more = f" and {len(values) - most:,} more" if len(values) > most else ""
    return ", ".join(echo(v, quote) for v in values[:most]) + more
