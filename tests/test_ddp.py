"""The distributed path: a tiny training run with 2 CPU processes (Lightning DDP over gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_training_with_two_ddp_processes(tmp_path):
    out = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "explorer", "train", "morpho", "--limit", "256", "--gen-epochs", "1",
           "--clf-epochs", "1", "--devices", "2", "--strategy", "ddp", "--only", "classifier,generator",
           "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "distributed_backend=gloo" in log and "All distributed processes registered" in log, log[-3000:]
    assert "MEMBER: 2/2" in log  # both ranks joined
    for name in ("morpho-cnn", "morpho-cvae"):
        card = json.loads((out / name / "card.json").read_text())
        assert card["train"]["devices"] == 2 if name == "morpho-cvae" else card["metrics"]["val_acc"] >= 0.0
    assert not (out / "morpho-oracle").exists()  # --only was honoured
