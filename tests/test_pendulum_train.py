"""`train pendulum` end to end on a tiny budget, with 2 DDP processes: checkpoints, cards, frozen graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from explorer.scm.pendulum import VARIABLES, PendulumSCM
from explorer.training.pendulum import PendulumTrainConfig, interventional_scenes, training_scenes

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_pendulum_training_with_two_ddp_processes(tmp_path):
    out = tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "explorer", "train", "pendulum", "--n-train", "256", "--epochs", "3",
           "--n-regressor", "128", "--regressor-epochs", "1", "--n-val", "100", "--devices", "2",
           "--strategy", "ddp", "--out", str(out)]
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
    assert "100 validation scenes" in card["data"]  # --n-val: the metrics' scenes, 1000 unless asked
    # partial mode: nothing may point into the roots, whatever was learned
    probs = torch.tensor(card["edge_probabilities"])
    assert float(probs[:, :2].abs().sum()) == 0.0

    from explorer.registry import load_regressor, load_vae

    model, _ = load_vae(torch.device("cpu"), out / "pendulum-causal-vae")
    assert model.causal.hardened
    assert load_regressor(torch.device("cpu"), out / "pendulum-regressor")(torch.rand(2, 3, 64, 64)).shape == (2, 4)


def test_interventional_scenes_set_the_shadows_by_do_and_say_which():
    values, images, hit = interventional_scenes(3000, 0, ("shadow_length", "shadow_position"))
    assert images.shape == (3000, 64, 64, 3) and hit.shape == (3000, 4)
    assert hit[:, :2].sum() == 0 and hit.any(1).all()  # the roots are never set; every scene sets a shadow
    assert abs(hit[:, 2].mean() - 2 / 3) < 0.03 and abs(hit[:, 3].mean() - 2 / 3) < 0.03  # 3 subsets, 1/3 each
    # a shadow left alone keeps the physics (small noise); one set by do() has nothing to do with it
    resid = PendulumSCM().abduct(values)
    for j, name in ((2, "shadow_length"), (3, "shadow_position")):
        free, set_ = hit[:, j] == 0, hit[:, j] == 1
        assert np.abs(resid[name][free]).max() < 2.0 and np.abs(resid[name][set_]).std() > 2.0
        assert abs(np.corrcoef(values["light"][set_], values[name][set_])[0, 1]) < 0.1


def test_training_scenes_mix_observational_and_interventional():
    cfg = PendulumTrainConfig(n_train=200, interventional_fraction=0.3)
    images, y, hit = training_scenes(cfg)
    assert images.shape[0] == y.shape[0] == hit.shape[0] == 200 and y.shape[1] == len(VARIABLES)
    assert hit[:140].sum() == 0 and hit[140:].any(1).all()
    assert np.abs(y[140:][hit[140:] == 1]).max() <= 1.0  # do() values are drawn within the slider range
