"""The confounded colour worlds of issue 19 and their splits: IID, OOD and anti.

At strength s the hue follows the digit with probability s (`MorphoSCM(s)`). The grey stroke of a sample does not
depend on s, so every colour split reuses the cached grey render of `explorer/datasets/morpho.py` and only draws
its hues here; the RGB image is the known tint of that stroke (`rgb`), made on the fly (a cached RGB copy would
be three times the disk for numbers we can recompute exactly).

    train / val   MNIST's training set (the "train" and "val" splits), at the world's strength s;
    iid           MNIST's test set at the same strength s;
    ood           MNIST's test set at strength 0: hue independent of the digit;
    anti          MNIST's test set, each digit drawn in ANOTHER digit's colour band.

The band of digit d is the arc [d / 10, (d + 1) / 10) of the colour wheel, centred on the hue (d + 0.5) / 10 the
digit wears when hue follows it. Anti: the other digit is o = (d + r) mod 10 with r uniform on 1..9 (so every
other band is equally likely), and hue = (o + 0.5 + clip(0.2 u, -0.45, 0.45)) / 10 with u the sample's own
standard-normal hue noise (u_hn): the same spread as the world's hue noise (sd 0.02), clipped so it never leaves
band o — a digit is never in its own band.

The confounding of any split is `explorer.metrics.split_confounding.split_confounding(data.values)`.

Everything is a pure function of (split kind, strength, seed): the same call gives the same hues and images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.datasets.morpho import MorphoData, load_morpho, noise_for, split_seed
from explorer.scm.morpho import MorphoSCM, tint
from explorer.types import DEFAULT_SEED

STRENGTHS = (0.0, 0.9, 0.99, 1.0)
KINDS = ("train", "val", "iid", "ood", "anti")
# Renders are cached per (split, size); asking for at most these many reads one shared cache and slices it, so
# tests, training and evaluation never each render their own copy (None: the whole split).
CACHED_SIZE = {"train": 20_000, "val": 2_000, "test": None}
ANTI_STREAM = 19  # the anti split's other-digit draw has its own random stream (issue 19)


@dataclass
class ConfoundedData:
    """A colour split: grey strokes (N, 28, 28) uint8, the factual values (with hue) and the noise."""

    grey: np.ndarray
    values: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]
    kind: str
    strength: float

    def __len__(self) -> int:
        return len(self.grey)

    def rgb(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(n, 3, 28, 28) float32 0-255: the known tint of the grey strokes `rows` by their hue."""
        return tint(self.grey[rows].astype(np.float32), self.values["hue"][rows])


def band(hue: np.ndarray) -> np.ndarray:
    """(n,) hues on [0, 1) -> (n,) the digit whose colour band holds each hue."""
    return np.floor((np.asarray(hue) % 1.0) * 10).astype(np.int64) % 10


def anti_hue(digit: np.ndarray, u_hn: np.ndarray, rng_seed: int) -> np.ndarray:
    """(n,) digits -> (n,) hues inside the band of another digit (module docstring)."""
    rng = np.random.default_rng([rng_seed, ANTI_STREAM])
    other = (np.asarray(digit) + rng.integers(1, 10, len(digit))) % 10  # (n,) never the digit itself
    return (other + 0.5 + np.clip(0.2 * np.asarray(u_hn), -0.45, 0.45)) / 10.0


def _source_split(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown split kind {kind!r}; expected one of {KINDS}")
    return "test" if kind in ("iid", "ood", "anti") else kind


def confounded_values(kind: str, strength: float, seed: int = DEFAULT_SEED
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(noise, values) of every sample of a split (cheap: no image).

    The grey noise (u_t, u_i) is the first draw of the split's stream at every strength, so the strokes match
    the grey world's cached render; u_hc is one uniform draw compared with `strength`, so the worlds are nested:
    a digit that follows its colour at 0.9 also does at 0.99 and 1.0.
    """
    split = _source_split(kind)
    world = 0.0 if kind == "ood" else strength
    scm = MorphoSCM(world)
    noise = noise_for(split, scm, seed)
    values = scm.counterfactual(noise)
    if kind == "anti":
        values["hue"] = anti_hue(values["digit"], noise["u_hn"], split_seed(split, seed))
    return noise, values


def load_confounded(kind: str, strength: float, seed: int = DEFAULT_SEED, limit: int | None = None,
                    workers: int | None = None) -> ConfoundedData:
    """A colour split of the world at `strength`; grey strokes from the (cached) Morpho-MNIST render.

    Args:
        kind: "train", "val" (MNIST's training set), "iid", "ood" or "anti" (MNIST's test set).
        strength: P(hue follows the digit) of the world the split belongs to.
        seed: base seed of the noise (the grey world's).
        limit: the first `limit` samples only.
        workers: rendering processes when the grey render is not cached yet.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    noise, values = confounded_values(kind, strength, seed)
    split = _source_split(kind)
    size = CACHED_SIZE[split]
    if limit is None or (size is not None and limit > size):
        size = limit
    grey: MorphoData = load_morpho(split, seed, size, workers=workers)
    n = len(grey) if limit is None else min(limit, len(grey))
    return ConfoundedData(grey.images[:n], {k: v[:n] for k, v in values.items()},
                          {k: v[:n] for k, v in noise.items()}, kind, strength)

