"""The Morpho-MNIST dataset: real digits re-drawn by the SCM, built from a seed and cached on disk.

A split's noise is a pure function of (split, seed), so any single sample can also be rendered on
demand without the cache (the page does this); the cache only saves re-drawing whole splits.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable

import numpy as np
from tqdm import tqdm

from explorer.types import DEFAULT_SEED
from explorer.data.mnist import SPLITS, load_mnist
from explorer.paths import cache_dir, scratch_beside
from explorer.scm import morphology
from explorer.scm.morpho import MorphoSCM

Progress = Callable[[int, int], None]  # (done, total)


def _cache_name(split: str, seed: int) -> str:
    """The whole split's cache file, without ".npz"."""
    return f"morpho_{split}_seed{seed}"


def split_seed(split: str, seed: int = DEFAULT_SEED) -> int:
    """Each split draws its noise from its own stream, so splits never share noise."""
    return seed * 10 + SPLITS.index(split)


@dataclass
class MorphoData:
    """A rendered split: grey images (N, 28, 28) uint8 0-255, the noise and the factual values."""

    images: np.ndarray
    noise: dict[str, np.ndarray]
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.images)


def noise_for(split: str, scm: MorphoSCM, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """The noise of every sample of `split` (cheap: no rendering)."""
    return scm.sample_noise(load_mnist(split).labels, split_seed(split, seed))


def _render_chunk(args: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    sources, thickness, intensity = args
    out = np.empty(sources.shape, np.uint8)
    for k in range(len(sources)):
        cover = morphology.draw(morphology.skeleton(sources[k]), float(thickness[k]))
        out[k] = np.rint(morphology.set_intensity(cover, float(intensity[k]))).astype(np.uint8)
    return out


def _render_all(sources: np.ndarray, values: dict[str, np.ndarray], progress: Progress | None,
                workers: int) -> np.ndarray:
    chunk = 500
    jobs = [(sources[s:s + chunk], values["thickness"][s:s + chunk], values["intensity"][s:s + chunk])
            for s in range(0, len(sources), chunk)]
    parts, done = [], 0
    bar = tqdm(total=len(sources), desc="rendering Morpho-MNIST", unit="img", disable=progress is not None)
    with _spawn_pool(workers) if workers > 1 else _Serial() as pool:
        for part in pool.imap(_render_chunk, jobs):
            parts.append(part)
            done += len(part)
            bar.update(len(part))
            if progress:
                progress(done, len(sources))
    bar.close()
    return np.concatenate(parts)


_MAIN_SWAP = threading.Lock()


@contextlib.contextmanager
def _spawn_pool(workers: int) -> Iterator[mp.pool.Pool]:
    """A "spawn" pool whose workers do not run the caller's `__main__`. A spawned worker first re-runs the file of
    `__main__`; under `streamlit run` (and Streamlit's AppTest) that is the page script being run, so each worker
    would run the page, or, for a script that only runs inside Streamlit, die at once and be replaced forever
    (the pool never finishes). The workers only need this module: they start from a bare `__main__`. Workers
    started later to replace dead ones are not covered (none die in normal use)."""
    with _MAIN_SWAP:  # two threads swapping at once could restore each other's stand-in
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            pool = mp.get_context("spawn").Pool(workers)  # starts every worker now, with the bare __main__
        finally:
            sys.modules["__main__"] = main
    with pool:
        yield pool


class _Serial:
    """Stands in for a Pool when one worker is asked for."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def imap(fn, jobs):
        return map(fn, jobs)


def _rendered(name: str, split: str, values: dict[str, np.ndarray], limit: int | None, progress: Progress | None,
              workers: int | None) -> np.ndarray:
    """(N, 28, 28) uint8: the split's source digits drawn at `values` (already cut to `limit`), from the cache
    file `<name>.npz` or rendered and cached; a small request with no full cache renders (and caches) only what it
    needs."""
    full = cache_dir() / f"{name}.npz"
    path = full if full.exists() or limit is None else full.with_name(f"{full.stem}_n{limit}.npz")
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return z["images"][:limit]
    images = _render_all(load_mnist(split).images[:limit], values, progress, workers or os.cpu_count() or 1)
    tmp = scratch_beside(path)
    np.savez_compressed(tmp, images=images)
    tmp.replace(path)  # whole or absent
    return images


def _cut(arrays: dict[str, np.ndarray], limit: int | None) -> dict[str, np.ndarray]:
    return {k: v[:limit] for k, v in arrays.items()}


def load_morpho(split: str, seed: int = DEFAULT_SEED, limit: int | None = None,
                progress: Progress | None = None, workers: int | None = None) -> MorphoData:
    """The grey-scale Morpho-MNIST split, from cache or rebuilt (with a progress bar) when missing.

    Args:
        split: "train", "val" or "test".
        seed: base seed of the noise.
        limit: keep only the first `limit` samples (the cache always holds the whole split).
        progress: called as (done, total) while rebuilding, e.g. by a page's progress bar.
        workers: rendering processes (default: all cores).
    """
    scm = MorphoSCM()
    noise = noise_for(split, scm, seed)
    values = _cut(scm.counterfactual(noise), limit)
    images = _rendered(_cache_name(split, seed), split, values, limit, progress, workers)
    return MorphoData(images, _cut(noise, limit), values)


def load_morpho_rows(split: str, rows: np.ndarray, seed: int = DEFAULT_SEED) -> MorphoData:
    """Only the split's `rows` (in that order), with the pixels `load_morpho(split, seed)` gives them: read from
    the whole split's cache when there is one, else drawn here in this process, without drawing or caching the
    rest (each digit is drawn from its own source, thickness and intensity alone).

    Why: a measurement over 1,000 training digits (the searches' generator bias) drew all 50,000 first on a fresh
    install: over a minute on two cores, inside a visitor's first search."""
    rows = np.asarray(rows, np.int64)  # (R,)
    scm = MorphoSCM()
    noise = noise_for(split, scm, seed)
    values = {k: v[rows] for k, v in scm.counterfactual(noise).items()}
    full = cache_dir() / f"{_cache_name(split, seed)}.npz"
    if full.exists():
        with np.load(full, allow_pickle=False) as z:
            images = z["images"][rows]  # (R, 28, 28)
    else:
        images = _render_chunk((load_mnist(split).images[rows], values["thickness"], values["intensity"]))
    return MorphoData(images, {k: v[rows] for k, v in noise.items()}, values)


COVER_RANGE = (1.0, 5.5)  # the thickness slider's range, which the searches and the page may ask for


def load_morpho_cover(split: str, seed: int = DEFAULT_SEED, limit: int | None = None,
                      progress: Progress | None = None, workers: int | None = None) -> MorphoData:
    """The split's digits again, each TRULY re-drawn at a thickness drawn uniformly over the slider's range.

    Why: the world draws thickness from 0.5 + Gamma(10, rate 5), so strokes thicker than 4.3 px are ~0.5 % of
    the data, yet a search or a slider may ask for any thickness up to 5.5. These are the true counterfactuals
    do(thickness = t) of the split's own digits (same source stroke, same intensity noise, intensity following
    its mechanism): training data for a generator over the whole range, or (with `load_morpho`) TRUE pairs.
    """
    scm = MorphoSCM()
    noise = noise_for(split, scm, seed)
    rng = np.random.default_rng([split_seed(split, seed), 77])  # its own stream: the factual noise is untouched
    values = _cut(scm.counterfactual(noise, {"thickness": rng.uniform(*COVER_RANGE, len(noise["u_t"]))}), limit)
    images = _rendered(f"{_cache_name(split, seed)}_cover", split, values, limit, progress, workers)
    return MorphoData(images, _cut(noise, limit), values)
