"""The classifier grid's runs on disk (explorer/training/cf_training.py): their folder names, the command that rebuilds
one, and loading one back. Apart from the trainer, so the Train page and `evaluate cf-training` read runs without
importing Lightning (~10 s here)."""

from __future__ import annotations

from pathlib import Path

from explorer import checkpoints
from explorer.models.cnn import CNNConfig, DigitCNN


def folder_name(method: str, strength: float, seed: int) -> str:
    """`cf-cnn-s<strength>-<method>-seed<K>`; the unconfounded reference is the same model at every strength."""
    if method == "unconfounded":
        return f"cf-cnn-unconfounded-seed{seed}"
    return f"cf-cnn-s{strength:g}-{method}-seed{seed}"


def rebuild_command(method: str, strength: float, seed: int) -> str:
    return f"python -m explorer train cf-training --strength {strength:g} --method {method} --seed {seed}"


def load_cf_classifier(folder: Path) -> tuple[DigitCNN, dict]:
    card = checkpoints.read_card(folder) or {}
    rebuild = rebuild_command(card.get("method", "erm"), card.get("strength", 0.99), card.get("seed", 0))
    return checkpoints.load_module(folder, lambda c: DigitCNN(CNNConfig(**c)), rebuild, "classifier")
