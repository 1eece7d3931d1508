"""The images the classifiers of issue 19 train with besides the factual ones: counterfactual banks.

For the first `limit` digits of one strength's training split, a bank holds
    hue_cf      V views of do(hue = h'), h' uniform on the colour wheel (independent of the digit), one view per
                epoch so each epoch sees fresh colours: what CF augmentation and CF regularisation train with;
    digit_cf    do(digit = d', hue = its factual hue), d' another digit: the minimal change of the label's cause
                with hue and style held, the pairs of gradient supervision (generator banks only).
Two makers, one shape:
    generator   the RGB generator trained on that strength's training split (explorer/training/rgb_generator.py),
                through the standard abduction -> action -> prediction; the hue recorded for the confounding
                after augmentation is the one MEASURED on each image (`measured_hue`), not the one asked for;
    true        the world's own renderer (the same stroke tinted with h'): the reference "TRUE-renderer
                augmentation", the best any generator allows. It cannot redraw another digit's stroke
                (do(digit) changes the source skeleton), so it has no digit_cf.
Generator banks take a few minutes and are the same for every method and seed of a strength, so they are cached
(`cache_dir()/cf-banks/`, rebuilt from the seed when missing); images are stored as uint8 (rounding moves a
pixel by at most 0.5 of 255).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from explorer.counterfactual.image import RGBMechanism
from explorer.counterfactual.procedure import counterfactual
from explorer.datasets.confounded import ConfoundedData
from explorer.models.rgb_cvae import measured_hue
from explorer.paths import cache_dir, scratch_beside
from explorer.scm.morpho import MorphoSCM, tint

BANK_STREAM = 1901  # the banks' random draws have their own stream
BANK_ROWS = 20_000  # draws are made for this many rows at least (`asked`)


@dataclass
class Bank:
    """Counterfactual images of a training split's first N digits (module docstring)."""

    hue_cf: np.ndarray  # (V, N, 3, 28, 28) uint8
    hue_asked: np.ndarray  # (V, N) the hue each view asked for
    hue_measured: np.ndarray  # (V, N) the hue read off each image
    digit_cf: np.ndarray | None = None  # (N, 3, 28, 28) uint8
    digit_asked: np.ndarray | None = None  # (N,) int64

    @property
    def views(self) -> int:
        return len(self.hue_cf)


def asked(digit: np.ndarray, views: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,) digits -> ((V, N) uniform hues, (N,) other digits d' != d, each of the 9 equally likely).

    Up to BANK_ROWS rows, row k's draws do not depend on N (drawn for BANK_ROWS rows, then cut), so a bank of
    n rows is the first n rows of any larger one: a small run (the page's "Train now") reuses a cached bank.
    """
    rng = np.random.default_rng([seed, BANK_STREAM])
    rows = max(len(digit), BANK_ROWS)
    hues = rng.random((views, rows))[:, :len(digit)]
    other = (np.asarray(digit) + rng.integers(1, 10, rows)[:len(digit)]) % 10
    return hues, other


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.clamp(0, 255).round().to(torch.uint8).cpu().numpy()


def true_bank(data: ConfoundedData, views: int, seed: int) -> Bank:
    """The TRUE do(hue) of every digit: its own stroke tinted with the asked hue."""
    hues, _ = asked(data.values["digit"], views, seed)
    grey = data.grey.astype(np.float32)
    images = np.stack([tint(grey, h).round().astype(np.uint8) for h in hues])  # (V, N, 3, 28, 28)
    return Bank(images, hues, hues.copy())


def generator_bank(data: ConfoundedData, generator: torch.nn.Module, device: torch.device, views: int,
                   seed: int, batch: int = 500, progress=None) -> Bank:
    """do(hue) and do(digit) answered by a learned RGB generator; `progress(done, total)` after each batch."""
    hues, other = asked(data.values["digit"], views, seed)
    scm, mech = MorphoSCM(data.strength), RGBMechanism(generator.eval(), device)
    n = len(data)
    hue_cf = np.empty((views, n, 3, 28, 28), np.uint8)
    measured = np.empty((views, n))
    digit_cf = np.empty((n, 3, 28, 28), np.uint8)
    with torch.inference_mode():
        for s in range(0, n, batch):
            rows = slice(s, min(s + batch, n))
            x = torch.from_numpy(data.rgb(rows)).to(device)  # (b, 3, 28, 28) factual images
            obs = {k: v[rows] for k, v in data.values.items()}
            known = {k: v[rows] for k, v in data.noise.items()}
            for v in range(views):
                out = counterfactual(scm, mech, x, {"hue": hues[v, rows]}, obs=obs, known=known)
                hue_cf[v, rows] = to_uint8(out.x_cf)
                measured[v, rows] = measured_hue(out.x_cf)
            # do(digit) with the hue held: in the world a hue that follows the digit would move with it.
            out = counterfactual(scm, mech, x, {"digit": other[rows], "hue": obs["hue"]}, obs=obs, known=known)
            digit_cf[rows] = to_uint8(out.x_cf)
            if progress:
                progress(rows.stop, n)
    return Bank(hue_cf, hues, measured, digit_cf, other)


def bank_path(strength: float, variant: str, n: int, views: int, seed: int) -> Path:
    return cache_dir() / "cf-banks" / f"{variant}-s{strength:g}-n{n}-v{views}-seed{seed}.npz"


def load_bank(data: ConfoundedData, variant: str, views: int, seed: int, generator_loader=None,
              device: torch.device | None = None) -> Bank:
    """The bank of `data` made by `variant` ("true", or a generator variant loaded by `generator_loader()`)."""
    if variant == "true":
        return true_bank(data, views, seed)
    path = bank_path(data.strength, variant, len(data), views, seed)
    bigger = sorted(path.parent.glob(f"{variant}-s{data.strength:g}-n*-v{views}-seed{seed}.npz"),
                    key=lambda p: int(p.stem.split("-n")[-1].split("-")[0]))
    for candidate in [path] + bigger:
        n = int(candidate.stem.split("-n")[-1].split("-")[0])
        if candidate.exists() and n >= len(data):
            with np.load(candidate) as z:  # the first rows of a bigger bank are this bank (`asked`)
                rows = slice(0, len(data))
                return Bank(z["hue_cf"][:, rows], z["hue_asked"][:, rows], z["hue_measured"][:, rows],
                            z["digit_cf"][rows], z["digit_asked"][rows])
    device = device or torch.device("cpu")
    bank = generator_bank(data, generator_loader(), device, views, seed,
                          progress=lambda done, total: print(f"[bank {path.stem}] {done}/{total}", flush=True)
                          if done % 5000 == 0 or done == total else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch_beside(path)  # written whole, then renamed: no half bank, no clash
    np.savez(tmp, hue_cf=bank.hue_cf, hue_asked=bank.hue_asked, hue_measured=bank.hue_measured,
             digit_cf=bank.digit_cf, digit_asked=bank.digit_asked)
    tmp.replace(path)
    return bank
