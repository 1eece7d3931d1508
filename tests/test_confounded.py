"""The confounded colour worlds and the RGB generator of issue 19 (sections 1 and 2), on tiny inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from explorer import checkpoints
from explorer.datasets.confounded import band, confounded_values, load_confounded
from explorer.metrics.split_confounding import digit_hue
from explorer.models.rgb_cvae import RGBCVAE, RGBConfig, chroma, hue_to_rgb, measured_hue
from explorer.registry import load_rgb_generator
from explorer.scm.morpho import hue_rgb, tint
from explorer.training.rgb_generator import torch_split


def tiny(robust: bool = False) -> RGBCVAE:
    return RGBCVAE(RGBConfig(width=16, z_top=4, z_loc=1, robust=robust))


def batch(n: int = 8):
    data = load_confounded("val", 0.9, limit=n)
    items = [torch_split(data)[k] for k in range(n)]
    x = torch.stack([i[0] for i in items])  # (n, 3, 28, 28)
    return x, {k: torch.stack([i[1][k] for i in items]) for k in items[0][1]}


def test_splits_are_reproducible():
    a, b = load_confounded("val", 0.99, limit=50), load_confounded("val", 0.99, limit=50)
    assert np.array_equal(a.grey, b.grey)
    for k in a.values:
        assert np.array_equal(a.values[k], b.values[k])
    assert np.array_equal(confounded_values("anti", 0.9)[1]["hue"], confounded_values("anti", 0.9)[1]["hue"])
    assert not np.array_equal(a.values["hue"], confounded_values("val", 0.99, seed=7)[1]["hue"][:50])


def test_confounding_of_the_splits():
    assert digit_hue(confounded_values("ood", 1.0)[1]) < 0.02
    assert digit_hue(confounded_values("iid", 1.0)[1]) > 0.95
    assert digit_hue(confounded_values("train", 1.0)[1]) > 0.95


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_anti_never_in_own_band(strength):
    values = confounded_values("anti", strength)[1]
    assert not np.any(band(values["hue"]) == values["digit"])
    # every other band is used, for every digit
    assert len(set(zip(values["digit"], band(values["hue"])))) == 90


def test_unknown_split_kind():
    with pytest.raises(ValueError, match="unknown split kind"):
        confounded_values("holdout", 0.9)


def test_hue_read_out_matches_the_world():
    hues = np.array([0.05, 0.3, 0.62, 0.97])
    assert np.allclose(hue_to_rgb(torch.tensor(hues)).numpy(), np.stack([hue_rgb(h) for h in hues]), atol=1e-6)
    grey = np.zeros((4, 28, 28), np.float32)
    grey[:, 10:18, 12:16] = 200.0
    assert np.allclose(measured_hue(torch.from_numpy(tint(grey, hues))), hues, atol=1e-6)
    # the chroma of a grey pixel is the origin: no colour
    assert torch.allclose(chroma(torch.tensor([[0.5, 0.5, 0.5]])), torch.zeros(1, 2))


def test_decode_responds_to_hue():
    model = tiny().eval()
    x, parents = batch(4)
    latents = model.abduct(x, parents)
    red = model.decode(latents, {**parents, "hue": torch.zeros(4)})  # (4, 3, 28, 28)
    blue = model.decode(latents, {**parents, "hue": torch.full((4,), 0.66)})
    assert red.shape == (4, 3, 28, 28)
    assert not torch.allclose(red, blue)
    assert (red - blue).abs().mean((0, 2, 3)).min() > 0  # every channel moves


@pytest.mark.parametrize("robust", [False, True])
def test_a_few_steps_lower_the_loss(robust):
    torch.manual_seed(0)
    model, (x, parents) = tiny(robust), batch(16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        torch.manual_seed(1)  # the same latent and hue draws each step: only the weights change the loss
        loss = model.loss(x, parents)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    if robust:
        assert {"effectiveness", "cycle"} <= set(model.loss(x, parents))


def test_checkpoint_round_trip(tmp_path):
    model = tiny(robust=True)
    folder = tmp_path / "rgb-cvae-robust-s0.99"
    checkpoints.save(folder, model.state_dict(), {"config": model.cfg.to_dict(), "strength": 0.99})
    state = load_file(str(folder / "weights.safetensors"))  # tensors only: nothing to unpickle
    assert set(state) == set(model.state_dict())
    loaded, card = load_rgb_generator("robust", 0.99, torch.device("cpu"), folder)
    assert card["strength"] == 0.99 and loaded.cfg == model.cfg
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    torch.save(model.state_dict(), tmp_path / "w.pt")
    assert torch.load(tmp_path / "w.pt", weights_only=True).keys() == model.state_dict().keys()


def test_train_cf_generator_from_the_command_line(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    run = lambda *a: subprocess.run([sys.executable, "-m", "explorer", "train", "cf-generator", *a],  # noqa: E731
                                    cwd=root, capture_output=True, text=True, timeout=300)
    missing = run("--out", str(tmp_path))
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error:") and "--strength" in missing.stderr
    small = run("--strength", "0.9", "--limit", "64", "--out", str(tmp_path))
    assert small.returncode == 2 and "less than one batch" in small.stderr and "Traceback" not in small.stderr
    assert not any(tmp_path.iterdir())
    done = run("--strength", "0.9", "--epochs", "1", "--limit", "256", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-1000:]
    folder = tmp_path / "rgb-cvae-plain-s0.9"
    assert (folder / "weights.safetensors").exists() and "train cf-generator" in (folder / "card.json").read_text()
