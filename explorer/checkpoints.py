"""Self-describing checkpoints: `weights.safetensors` + `card.json` (+ a Markdown card) per folder.

Nothing here unpickles: tensors come from safetensors, metadata from JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


class CheckpointError(RuntimeError):
    """A checkpoint is missing or unreadable; the message names the command that rebuilds it."""


def save(folder: Path, state: dict[str, torch.Tensor], card: dict[str, Any]) -> None:
    """Writes weights and card atomically enough for our use (weights first, card last)."""
    folder.mkdir(parents=True, exist_ok=True)
    card = {"date": dt.date.today().isoformat(), **card}
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(tensors, str(folder / "weights.safetensors"))
    write_card(folder, card)


def write_card(folder: Path, card: dict[str, Any]) -> None:
    """card.json and its README.md beside a model's files (weights or model.onnx), which are written first."""
    (folder / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (folder / "README.md").write_text(_markdown(folder.name, card))


def load(folder: Path, rebuild: str, device: torch.device | str = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Reads a checkpoint; raises CheckpointError naming `rebuild` (a shell command) on any fault."""
    weights, card_path = folder / "weights.safetensors", folder / "card.json"
    if not weights.exists() or not card_path.exists():
        raise CheckpointError(f"The model files in {folder} are missing. Rebuild them with: {rebuild}")
    try:
        card = json.loads(card_path.read_text())
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, json.JSONDecodeError, OSError, ValueError) as err:
        raise CheckpointError(f"The model files in {folder} are damaged ({err}). Rebuild them with: {rebuild}") from err
    return state, card


def load_module(folder: Path, build: Callable[[dict], nn.Module], rebuild: str, what: str
                ) -> tuple[nn.Module, dict]:
    """Loads a checkpoint into the module `build(card["config"])` returns, in eval mode on the CPU.

    Any mismatch between the card, the weights and the code becomes a CheckpointError naming `rebuild`.
    """
    state, card = load(folder, rebuild, "cpu")
    try:
        module = build(card["config"])
        module.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"The {what} checkpoint in {folder} does not match the code ({err}). "
                              f"Rebuild it with: {rebuild}") from err
    return module.eval(), card


def read_card(folder: Path) -> dict | None:
    """The card alone (for listing models), or None when absent or unreadable."""
    try:
        return json.loads((folder / "card.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _markdown(name: str, card: dict[str, Any]) -> str:
    lines = [f"# {name}", "", card.get("description", ""), ""]
    for key in ("data", "seed", "date", "command"):
        if key in card:
            lines.append(f"- **{key}**: `{card[key]}`" if key == "command" else f"- **{key}**: {card[key]}")
    if "metrics" in card:
        lines += ["", "## Metrics (computed at the end of training)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in card["metrics"].items()]
    if "config" in card:
        lines += ["", "## Config", "", "```json", json.dumps(card["config"], indent=2), "```"]
    return "\n".join(lines) + "\n"
