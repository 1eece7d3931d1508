"""A variable's value in words, as every page shows it: the decimals follow the slider's step.

No Streamlit here: tables, labels, notes and links all format values through these.
"""

from __future__ import annotations

import math

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
