"""The distributed path: a tiny training run with 2 CPU processes (Lightning DDP over gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from explorer.registry import load_classifier, load_generator

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_training_with_two_ddp_processes(tmp_path):
    out = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "explorer", "train", "morpho", "--limit", "256", "--gen-epochs", "1",
           "--clf-epochs", "1", "--devices", "2", "--strategy", "ddp", "--only", "classifier,generator",
           "--gen-cover", "--gen-cf-epochs", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "distributed_backend=gloo" in log and "All distributed processes registered" in log, log[-3000:]
    assert "MEMBER: 2/2" in log  # both ranks joined
    card = json.loads((out / "morpho-cvae" / "card.json").read_text())
    assert card["train"]["devices"] == 2
    assert card["train"]["gen_cover"] and "truly re-drawn" in card["data"]  # the cover digits were used too
    assert card["train"]["gen_cf_epochs"] == 1 and "TRUE counterfactual" in card["data"]  # then the pairs
    assert not (out / "morpho-oracle").exists()  # --only was honoured
    # what the two ranks wrote back is one usable model each: it loads and computes (256 digits and one epoch
    # are too few for accuracy to mean anything, so the test checks the checkpoints, not the scores)
    cpu = torch.device("cpu")
    x = torch.rand(4, 1, 28, 28) * 255
    probs = load_classifier("morpho-cnn", cpu, out / "morpho-cnn").predict_proba(x).detach()
    torch.testing.assert_close(probs.sum(1), torch.ones(4))
    generator, _ = load_generator(cpu, out / "morpho-cvae")
    parents = {"digit": torch.tensor([1, 2, 3, 4]), "thickness": torch.full((4,), 2.5),
               "intensity": torch.full((4,), 200.0)}
    with torch.inference_mode():
        img = generator.decode(generator.abduct(x, parents), parents)
    assert img.shape == (4, 1, 28, 28) and torch.isfinite(img).all()


def test_gradient_supervision_trains_with_two_ddp_processes(tmp_path):
    """The double backward of gradient supervision under DDP (issue 19's `--devices/--strategy`)."""
    cmd = [sys.executable, "-m", "explorer", "train", "cf-training", "--strength", "0.99", "--method",
           "grad_supervision", "--limit", "512", "--epochs", "1", "--devices", "2", "--strategy", "ddp",
           "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True,
                          text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "MEMBER: 2/2" in log and " gs " in log  # both ranks joined, and the gradient loss was logged
    card = json.loads((tmp_path / "cf-cnn-s0.99-grad_supervision-seed0" / "card.json").read_text())
    assert card["train"]["devices"] == 2 and card["method"] == "grad_supervision"
