"""What every page service does the same way."""

from __future__ import annotations

from explorer.types import VarSpec


def clamp_do(do: dict[str, float], specs: dict[str, VarSpec], noun: str = "variable",
             world: str = "this world has") -> tuple[dict[str, float], list[str]]:
    """Interventions clamped into their variables' ranges, and the names that had to be clamped.

    Raises:
        ValueError: a name the world does not have; the message lists the ones it has.
    """
    do_ok, clamped = {}, []
    for name, value in do.items():
        if name not in specs:
            raise ValueError(f"unknown {noun} {name!r}; {world} {', '.join(specs)}")
        do_ok[name], changed = specs[name].clamp(value)
        if changed:
            clamped.append(name)
    return do_ok, clamped
