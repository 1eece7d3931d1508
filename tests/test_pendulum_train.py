"""`train pendulum` end to end on a tiny budget, with 2 DDP processes: checkpoints, cards, frozen graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_pendulum_training_with_two_ddp_processes(tmp_path):
    out = tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "explorer", "train", "pendulum", "--n-train", "256", "--epochs", "3",
           "--n-regressor", "128", "--regressor-epochs", "1", "--devices", "2", "--strategy", "ddp",
           "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True,
                          text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "MEMBER: 2/2" in log
    assert log.count("[causal layer] graph frozen") == 1  # printed by rank 0 only, once, after epoch 2
    card = json.loads((out / "pendulum-causal-vae" / "card.json").read_text())
    assert card["graph_mode"] == "partial" and card["train"]["devices"] == 2
    assert card["command"].startswith("python -m explorer train pendulum")
    assert {"val_recon_mse", "train_seconds"} <= set(card["metrics"])
    # partial mode: nothing may point into the roots, whatever was learned
    probs = torch.tensor(card["edge_probabilities"])
    assert float(probs[:, :2].abs().sum()) == 0.0

    from explorer.lab import load_regressor, load_vae

    model, _ = load_vae(torch.device("cpu"), out / "pendulum-causal-vae")
    assert model.causal.hardened
    assert load_regressor(torch.device("cpu"), out / "pendulum-regressor")(torch.rand(2, 3, 64, 64)).shape == (2, 4)
