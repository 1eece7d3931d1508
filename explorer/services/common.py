"""What every page service does the same way."""

from __future__ import annotations

from pathlib import Path

from explorer.checkpoints import read_card
from explorer.paths import PRETRAINED
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


def model_cards(folder: Path = PRETRAINED) -> list[tuple[str, dict]]:
    """(folder name, card) of every model under `folder` that has a readable card, by name (the Home page's list)."""
    if not folder.is_dir():
        return []
    cards = [(p.name, read_card(p)) for p in sorted(folder.iterdir()) if p.is_dir()]
    return [(name, card) for name, card in cards if card is not None]
