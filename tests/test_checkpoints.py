"""Checkpoints: safetensors + card round trip, and clear errors for missing or damaged files."""

from __future__ import annotations

import json

import pytest
import torch

from explorer import checkpoints
from explorer.paths import PRETRAINED


def test_round_trip(tmp_path):
    state = {"w": torch.arange(6.0).view(2, 3)}
    checkpoints.save(tmp_path / "m", state, {"description": "x", "metrics": {"acc": 0.5}, "command": "c"})
    loaded, card = checkpoints.load(tmp_path / "m", "rebuild-cmd")
    assert torch.equal(loaded["w"], state["w"])
    assert card["metrics"]["acc"] == 0.5 and "date" in card
    assert "rebuild" not in (tmp_path / "m" / "README.md").read_text()


def test_missing_names_the_rebuild_command(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="python -m explorer train morpho"):
        checkpoints.load(tmp_path / "nothing", "python -m explorer train morpho")


def test_damaged_weights_name_the_rebuild_command(tmp_path):
    folder = tmp_path / "m"
    checkpoints.save(folder, {"w": torch.zeros(3)}, {})
    (folder / "weights.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(checkpoints.CheckpointError, match="damaged.*REBUILD"):
        checkpoints.load(folder, "REBUILD")


@pytest.mark.parametrize("name", ["morpho-cvae", "morpho-cnn", "morpho-cnn-hue", "morpho-oracle"])
def test_shipped_checkpoints_are_self_describing(name):
    card = json.loads((PRETRAINED / name / "card.json").read_text())
    for key in ("config", "data", "seed", "metrics", "date", "command"):
        assert key in card, f"{name} card lacks {key}"
    assert card["command"].startswith("python -m explorer train morpho")
    state, _ = checkpoints.load(PRETRAINED / name, "x")
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
