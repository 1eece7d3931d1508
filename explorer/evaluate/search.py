"""`python -m explorer evaluate search`: counterfactual searches scored against the truth, side by side.

For every method x shipped classifier x mode, on test digits (the colour-trained CNN in the colour world):
- modes: `any` (any class but the current one), `random` (a random other class), `style_only` (digit and
  latent locked: every answer is a pure do() on the continuous attributes, whose TRUE counterfactual the SCM
  renders exactly);
- metrics: `success`; `oracle_agrees` (the independent oracle reads what the classifier now reads; in
  `style_only`, the digit did not change, so it must still read the original digit); `attr_distance` (each
  attribute's change over its range, a changed digit counting 1); `pixel_l1` (0-255); `n_changed`;
  `plausibility` (the generator's reconstruction error of the answer: low when the answer looks like data);
  `holds_on_true` (`style_only`: the TRUE re-rendering of the found do() flips the classifier too);
  `ms_per_query_median` / `_p95` (batch of 1, one thread) and `queries_per_s` (batched).
Keys are `<method>.<classifier>.<mode>.<metric>`. Every value is computed here on the test split.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from explorer.counterfactual.search.base import Query, SearchConfig, SearchResult
from explorer.counterfactual.search.methods import METHODS
from explorer.counterfactual.search.space import MorphoSpace
from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import load_morpho, noise_for
from explorer.device import pick_device
from explorer.paths import PRETRAINED, cache_dir
from explorer.registry import MORPHO, THIRD_PARTY, load_classifier, load_generator
from explorer.scm import morphology
from explorer.scm.morpho import CONFOUNDED_HUE_STRENGTH, SPECS, MorphoSCM

CLASSIFIERS = (MORPHO["classifier"], MORPHO["classifier_hue"], THIRD_PARTY)  # the table of docs/search.md
MODES = ("any", "random", "style_only")
CHUNK = 100  # queries per batched search: bounds the decoder's activations and gradients in memory
TIMED = 5  # batch-1 queries timed per method, classifier and mode


def queries(n: int, coloured: bool, seed: int, split: str = "test") -> tuple[Query, np.ndarray]:
    """`n` digits of `split` drawn with `seed` as one query (colour world: the page's confounded hue), and their
    indices."""
    data = load_morpho(split)
    k = np.sort(np.random.default_rng(seed).choice(len(data), size=min(n, len(data)), replace=False))
    if not coloured:
        return Query(torch.from_numpy(data.images[k]).float()[:, None], {a: v[k] for a, v in data.values.items()},
                     {a: v[k] for a, v in data.noise.items()}), k
    scm = MorphoSCM(CONFOUNDED_HUE_STRENGTH)
    noise = noise_for(split, scm)
    values = scm.counterfactual(noise)
    return Query(torch.from_numpy(data.images[k]).float()[:, None], {a: v[k] for a, v in values.items()},
                 {a: v[k] for a, v in noise.items()}, coloured=True), k


def _slice(query: Query, sl: slice | np.ndarray) -> Query:
    return Query(query.grey[sl], {a: v[sl] for a, v in query.obs.items()}, {a: v[sl] for a, v in query.noise.items()},
                 query.coloured)


def _read(clf, images: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([clf.predict_proba(images[s:s + CHUNK]).argmax(1) for s in range(0, len(images), CHUNK)]
                         ).cpu().numpy()


def _attr_distance(result: SearchResult, query: Query) -> np.ndarray:
    """(B,) each continuous attribute's change over its range, plus 1 for a changed digit."""
    out = (np.asarray(result.values["digit"]) != query.obs["digit"]).astype(float)
    for name in ("thickness", "intensity", "hue"):
        if name in query.obs and name in result.values:
            out += np.abs(np.asarray(result.values[name]) - query.obs[name]) / (SPECS[name].high - SPECS[name].low)
    return out


def _plausibility(space: MorphoSpace, result: SearchResult, query: Query) -> np.ndarray:
    """(B,) L1 (0-255) between the answer and the generator's reconstruction of it under its own values."""
    grey = result.images.amax(1, keepdim=True).float()  # (B, 1, 28, 28): the stroke before any tint
    values = {k: torch.as_tensor(np.asarray(result.values[k])) for k in ("digit", "thickness", "intensity")}
    with torch.inference_mode():
        parents = space.parents(values)
        recon = space.generator.decode(space.generator.abduct(grey, parents), parents)
    return (recon.cpu() - grey).abs().flatten(1).mean(1).numpy()


def holds_on_true(clf, result: SearchResult, query: Query, skels: list[np.ndarray]) -> np.ndarray:
    """(B,) whether the SCM's TRUE rendering of each answer's values makes the classifier read the same class."""
    scm = MorphoSCM(CONFOUNDED_HUE_STRENGTH) if query.coloured else MorphoSCM()
    true = np.stack([scm.render(s, {k: float(np.asarray(v)[j]) for k, v in result.values.items()})
                     for j, s in enumerate(skels)])
    images = torch.from_numpy(true if query.coloured else true[:, None]).float()
    return _read(clf, images) == result.pred


def _batched(method, query: Query, clf, target: np.ndarray | None, config: SearchConfig) -> tuple[SearchResult, float]:
    parts, start = [], time.perf_counter()
    for s in range(0, len(query), CHUNK):
        sl = slice(s, s + CHUNK)
        parts.append(method.search(_slice(query, sl), clf, None if target is None else target[sl], config))
    seconds = time.perf_counter() - start
    cat = lambda xs: np.concatenate(xs)  # noqa: E731
    merged = SearchResult(parts[0].method, cat([p.found for p in parts]), sum((p.do for p in parts), []),
                          {k: cat([np.asarray(p.values[k]) for p in parts]) for k in parts[0].values},
                          torch.cat([p.images.cpu() for p in parts]), cat([p.pred for p in parts]),
                          cat([p.target for p in parts]), cat([p.latent_shift for p in parts]),
                          cat([p.steps for p in parts]), None, sum((p.notes for p in parts), []))
    return merged, seconds


def _timed(method, query: Query, clf, target: np.ndarray | None, config: SearchConfig) -> list[float]:
    """Seconds of batch-1 searches on the first TIMED queries, on one thread."""
    threads, out = torch.get_num_threads(), []
    torch.set_num_threads(1)
    try:
        for i in range(min(TIMED, len(query))):
            start = time.perf_counter()
            method.search(_slice(query, slice(i, i + 1)), clf, None if target is None else target[i:i + 1], config)
            out.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return out


def chunk_rows(method, space: MorphoSpace, clf, oracle, query: Query, skels: list[np.ndarray], mode: str,
               target: np.ndarray | None, seed: int, steps: int = SearchConfig.steps) -> dict:
    """One method on one classifier in one mode, on up to CHUNK queries: every metric per row (so chunks merge
    exactly), the batched search's seconds and the batch-1 timings."""
    config = SearchConfig(locks=("digit", "latent") if mode == "style_only" else (), steps=steps, seed=seed)
    result, seconds = _batched(method, query, clf, target, config)
    said = _read(oracle, result.images)
    expected = query.obs["digit"] if mode == "style_only" else result.pred
    out = {"found": result.found.tolist(), "oracle_agrees": (said == expected).tolist(),
           "attr_distance": _attr_distance(result, query).tolist(),
           "pixel_l1": (result.images - query.images()).abs().flatten(1).mean(1).numpy().tolist(),
           "n_changed": [float(len(d)) for d in result.do],
           "plausibility": _plausibility(space, result, query).tolist(),
           "times": _timed(method, query, clf, target, config), "seconds": seconds}
    if mode == "style_only" and result.method != "pixel":
        out["holds_on_true"] = holds_on_true(clf, result, query, skels).tolist()
    return out


def aggregate(chunks: list[dict]) -> dict[str, float]:
    """The metrics of the table from the chunks' rows: success over every row, the rest over the rows that flipped."""
    ok = np.concatenate([np.asarray(c["found"], bool) for c in chunks])
    per_row = lambda key: np.concatenate([np.asarray(c[key], float) for c in chunks])  # noqa: E731
    mean = lambda v: float(np.mean(v[ok])) if ok.any() else float("nan")  # noqa: E731
    times = np.concatenate([np.asarray(c["times"], float) for c in chunks])
    r = {"success": float(ok.mean()), **{k: mean(per_row(k)) for k in ("oracle_agrees", "attr_distance", "pixel_l1",
                                                                       "n_changed", "plausibility")},
         "ms_per_query_median": float(np.median(times) * 1000),
         "ms_per_query_p95": float(np.percentile(times, 95) * 1000),
         "queries_per_s": len(ok) / sum(c["seconds"] for c in chunks)}
    if "holds_on_true" in chunks[0]:
        r["holds_on_true"] = mean(per_row("holds_on_true"))
    return r


def score(method, space: MorphoSpace, clf, oracle, query: Query, skels: list[np.ndarray], mode: str,
          seed: int, steps: int = SearchConfig.steps) -> dict[str, float]:
    """Every metric of one method on one classifier in one mode, on the whole query in one piece."""
    target = random_targets(clf, query, mode, seed)
    return aggregate([chunk_rows(method, space, clf, oracle, query, skels, mode, target, seed, steps)])


def random_targets(clf, query: Query, mode: str, seed: int) -> np.ndarray | None:
    """(B,) a random class other than the one read, per query, in mode `random` (None otherwise: any other)."""
    if mode != "random":
        return None
    return (_read(clf, query.images()) + np.random.default_rng(seed).integers(1, 10, len(query))) % 10


def _cache_folder(n: int, seed: int, steps: int, split: str, generator: Path) -> Path:
    """Where a run's chunks are kept: named by the run's settings, the generator's weights and the code of the
    searches and of this file, so a changed search or a retrained generator never reuses old rows."""
    code = hashlib.sha256()
    searches = Path(__file__).parents[1] / "counterfactual" / "search"
    for path in sorted(p for p in searches.glob("*.py") if not p.name.startswith("recourse")) + [Path(__file__)]:
        code.update(path.read_bytes())  # the image searches and this file (the tables' recourse plays no part)
    code.update((generator / "weights.safetensors").read_bytes())
    name = f"n{n}-seed{seed}-steps{steps}-{code.hexdigest()[:12]}"
    return cache_dir() / "evaluate-search" / (name if split == "test" else f"{split}-{name}")


def evaluate_search(n: int = 500, seed: int = 0, methods: dict[str, Callable] | None = None,
                    classifiers: tuple[str, ...] = CLASSIFIERS, modes: tuple[str, ...] = MODES,
                    progress: Callable[[str], None] | None = None, steps: int = SearchConfig.steps,
                    resume: bool = False, split: str = "test", generator: Path | None = None) -> dict[str, float]:
    """The table of issue 18 section 2 as flat keys `<method>.<classifier>.<mode>.<metric>`.

    The digits are searched CHUNK at a time. With `resume`, each chunk's rows are kept in the cache as it finishes
    and a rerun of the same command (same settings, same code) starts after the last one kept: a 500-digit run
    takes hours on a small machine and may be stopped. `split` other than "test" is for choosing a method's
    settings on digits the reported figures never use ("val"). `generator`: another generator's folder (default:
    the shipped one), e.g. to compare a retrained one.
    """
    start, device = time.time(), pick_device()
    generator = generator or PRETRAINED / MORPHO["generator"]
    space = MorphoSpace(load_generator(device, generator)[0], device)
    oracle = load_classifier(MORPHO["oracle"], device)
    methods = methods or {name: build(space) for name, build in METHODS.items()}
    sources = load_mnist(split).images
    folder = _cache_folder(n, seed, steps, split, generator) if resume else None
    r: dict[str, float] = {"n": float(n)}
    for name in classifiers:
        clf = load_classifier(name, device)
        query, k = queries(n, name == MORPHO["classifier_hue"], seed, split)
        skels = [morphology.skeleton(sources[i]) for i in k]
        for mode in modes:
            target = random_targets(clf, query, mode, seed + 1)
            for method_name, method in methods.items():
                chunks = []
                for s in range(0, len(query), CHUNK):
                    sl = slice(s, s + CHUNK)
                    kept = folder / f"{method_name}.{name}.{mode}.{s}.json" if folder else None
                    if kept and kept.exists():
                        chunks.append(json.loads(kept.read_text()))
                        continue
                    if progress:
                        progress(f"{method_name} · {name} · {mode} · digits {s}-{min(s + CHUNK, len(query)) - 1}")
                    chunks.append(chunk_rows(method, space, clf, oracle, _slice(query, sl), skels[sl], mode,
                                             None if target is None else target[sl], seed + 1, steps))
                    if kept:
                        kept.parent.mkdir(parents=True, exist_ok=True)
                        kept.with_suffix(".tmp").write_text(json.dumps(chunks[-1]))
                        kept.with_suffix(".tmp").replace(kept)  # whole or absent
                for metric, value in aggregate(chunks).items():
                    r[f"{method_name}.{name}.{mode}.{metric}"] = value
    r["seconds"] = time.time() - start
    return r
