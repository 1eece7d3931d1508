"""The generator's counterfactual bias on a classifier: how far its drawing of a do() is read from the TRUE one.

`MorphoSpace.bias` measures the generator's error where a photo exists (a training digit redrawn with no do()).
A style-only answer is a do() away from the photo, often at a thick stroke, where the generator draws further
from the truth (bench/generator_cover_check.py) and nothing measures it at query time. So on TRAINING digits,
for each thickness of a grid over the slider's range (intensity following its mechanism from the digit's own
noise, hue the colour world's), the generator's drawing of do(thickness = t) is compared with the TRUE rendering
of the same do() from the same noise, as the classifier reads them.

The quantity: let b be the class the classifier reads on the TRUE picture. A flip on the drawing to p != b by a
margin m (p leads every other class by m) means the drawing's lead of b is at most -m while the TRUE lead of b is
positive, so b's lead drops by more than m between the two pictures. Hence the drop of the TRUE class's lead
(TRUE minus drawing), a high quantile of it per thickness, is the margin a flip there must reach for the TRUE
picture to stop reading b: `CounterfactualBias.at(thickness)`.

The TRUE pictures and the generator's drawings depend only on the generator, so they are made once and kept
under `cache_dir()/cf-bias/` (keyed by the generator's weights); each classifier then costs two forward passes
over them, and its table is kept too (keyed also by the classifier's name and its logits on a probe) for the
shipped classifiers only: an uploaded model's table lives as long as its session.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from explorer.counterfactual.search.base import Query, lead
from explorer.counterfactual.search.space import BIAS_DIGITS, MorphoSpace, hue_to_rgb
from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import load_morpho_rows, noise_for
from explorer.interfaces import Classifier
from explorer.models.cnn import TorchClassifier
from explorer.paths import PRETRAINED, cache_dir, scratch_beside
from explorer.registry import THIRD_PARTY
from explorer.scm import morphology
from explorer.scm.morpho import SPECS, MorphoSCM

GRID = tuple(float(t) for t in np.linspace(SPECS["thickness"].low, SPECS["thickness"].high, 10))  # 1.0 ... 5.5 px
QUANTILE = 0.95  # of the drop over the training digits, at each thickness
CHUNK = 500  # images per decoder / classifier call
VERSION = 1  # bump when what is measured changes, so kept tables are not reused


@dataclass(frozen=True)
class CounterfactualBias:
    """Per thickness of `thickness`, the logits by which the generator's drawing may take the TRUE class's lead
    down (the QUANTILE over training digits): the margin a style-only flip at that thickness must reach."""

    thickness: tuple[float, ...]  # (T,) the grid, increasing
    drop: tuple[float, ...]  # (T,) logits

    def at(self, thickness: torch.Tensor) -> torch.Tensor:
        """(B,) thickness -> (B,) the drop there, linear between grid points, held beyond the ends."""
        t = np.asarray(thickness.detach().cpu(), np.float64)
        return torch.as_tensor(np.interp(t, self.thickness, self.drop), dtype=torch.float32)


@dataclass
class _Pictures:
    """Training digits at each thickness of a grid, TRUE and as the generator draws them: each (T, N, 1, 28, 28)."""

    true: torch.Tensor
    drawn: torch.Tensor
    hue: np.ndarray | None  # (N,) the colour world's hue of each digit, for tinting (None: grey world)


_memory: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # space -> {key: _Pictures}; dropped with it
_tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # classifier -> {key: CounterfactualBias}
_keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # space -> its generator's key


def _generator_key(space: MorphoSpace) -> str:
    """The generator's weights, hashed once per space."""
    if space in _keys:
        return _keys[space]
    h = hashlib.sha256()
    for name, value in sorted(space.generator.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().numpy().tobytes())
    _keys[space] = h.hexdigest()[:16]
    return _keys[space]


def _sample(n: int) -> np.ndarray:
    """The training digits measured: up to BIAS_DIGITS, the same draw as `MorphoSpace.bias` (its first n)."""
    size = len(load_mnist("train").labels)
    return np.random.default_rng(0).choice(size, min(max(n, BIAS_DIGITS), size), replace=False)[:n]


def _pictures(space: MorphoSpace, coloured: bool, n: int, grid: tuple[float, ...]) -> _Pictures:
    """The pictures for the first `n` of the sampled training digits, from memory, disk or made (and kept)."""
    key = f"v{VERSION}-{_generator_key(space)}-n{n}-{'-'.join(f'{t:g}' for t in grid)}"
    known = _memory.setdefault(space, {})
    if key in known:
        return _tint(space, known[key], coloured)
    path = cache_dir() / "cf-bias" / f"pictures-{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as f:
            pics = _Pictures(torch.from_numpy(f["true"]), torch.from_numpy(f["drawn"]), None)
    else:
        pics = _make(space, n, grid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = scratch_beside(path)
        np.savez(tmp, true=pics.true.numpy(), drawn=pics.drawn.numpy())
        tmp.replace(path)  # whole or absent
    known[key] = pics
    return _tint(space, pics, coloured)


def _make(space: MorphoSpace, n: int, grid: tuple[float, ...]) -> _Pictures:
    """Abduction of each digit from its photo, then do(thickness = t): drawn by the generator and by the SCM."""
    k = _sample(n)
    data, scm = load_morpho_rows("train", k), MorphoSCM()  # these digits only, not the whole split
    noise, obs = data.noise, data.values
    skels = [morphology.skeleton(s) for s in load_mnist("train").images[k]]
    _, latents = space.abduct(Query(torch.from_numpy(data.images).float()[:, None], obs, noise))  # (N, Z)
    true, drawn = [], []
    for t in grid:
        cf = scm.counterfactual(noise, {"thickness": t})  # intensity follows its mechanism, from each digit's u_i
        true.append(np.stack([scm.render(s, {a: float(v[j]) for a, v in cf.items()}) for j, s in enumerate(skels)]))
        values = {a: torch.as_tensor(np.asarray(v), dtype=torch.long if a == "digit" else torch.float32)
                  for a, v in cf.items()}
        with torch.inference_mode():
            drawn.append(torch.cat([space.render(latents[s:s + CHUNK], {a: v[s:s + CHUNK] for a, v in values.items()},
                                                 False).cpu() for s in range(0, len(k), CHUNK)]))
    true_t = torch.from_numpy(np.stack(true)).float()[:, :, None]  # (T, N, 1, 28, 28)
    return _Pictures(true_t.half(), torch.stack(drawn).half(), None)  # half: 2 bytes a pixel on disk


def _tint(space: MorphoSpace, pics: _Pictures, coloured: bool) -> _Pictures:
    if not coloured:
        return pics
    scm = space.world(Query(torch.zeros(0), {}, {}, True))  # the colour world's hue, as `MorphoSpace.bias` takes it
    hue = scm.counterfactual(noise_for("train", scm))["hue"][_sample(pics.true.shape[1])]
    return _Pictures(pics.true, pics.drawn, hue)


def drops(space: MorphoSpace, classifier: Classifier, coloured: bool, n: int = BIAS_DIGITS,
          grid: tuple[float, ...] = GRID) -> np.ndarray:
    """(T, N) per thickness and training digit: the TRUE picture's class's lead on it minus on the drawing."""
    pics = _pictures(space, coloured, n, grid)
    rgb = None if pics.hue is None else hue_to_rgb(torch.as_tensor(pics.hue, dtype=torch.float32))  # (N, 3, 1, 1)
    out = np.empty((len(grid), pics.true.shape[1]))
    for j in range(len(grid)):
        for s in range(0, pics.true.shape[1], CHUNK):
            true, drawn = pics.true[j, s:s + CHUNK].float(), pics.drawn[j, s:s + CHUNK].float()  # (C, 1, 28, 28)
            if rgb is not None:
                true, drawn = true * rgb[s:s + CHUNK], drawn * rgb[s:s + CHUNK]  # (C, 3, 28, 28)
            with torch.inference_mode():
                lt = classifier.logits(true.to(space.device)).float().cpu()
                lg = classifier.logits(drawn.to(space.device)).float().cpu()
            b = lt.argmax(1)
            out[j, s:s + CHUNK] = (lead(lt, b) - lead(lg, b)).numpy()
    return out


def measure(space: MorphoSpace, classifier: Classifier, coloured: bool, n: int = BIAS_DIGITS,
            quantile: float = QUANTILE, grid: tuple[float, ...] = GRID) -> CounterfactualBias:
    """The table of `classifier` in the world (`coloured`), from `n` training digits."""
    d = drops(space, classifier, coloured, n, grid)
    return CounterfactualBias(tuple(grid), tuple(float(x) for x in np.quantile(d, quantile, axis=1)))


def _shipped(classifier: Classifier) -> bool:
    """A classifier loaded from pretrained/ or the third-party package: its table may outlive a session."""
    return type(classifier) is TorchClassifier and (classifier.name == THIRD_PARTY or
                                                    (PRETRAINED / classifier.name).is_dir())


def _fingerprint(space: MorphoSpace, classifier: Classifier, coloured: bool) -> str:
    """The classifier's logits on a fixed probe, so retrained weights under the same name get their own table."""
    probe = torch.linspace(0, 255, 2 * 3 * 28 * 28).reshape(2, 3, 28, 28)[:, :3 if coloured else 1]
    with torch.inference_mode():
        logits = classifier.logits(probe.to(space.device)).float().cpu().numpy()
    return hashlib.sha256(np.round(logits, 3).tobytes()).hexdigest()[:12]


def for_classifier(space: MorphoSpace, classifier: Classifier, coloured: bool, n: int = BIAS_DIGITS,
                   quantile: float = QUANTILE) -> CounterfactualBias:
    """`measure`, once per classifier, world, n and quantile: kept in memory, and on disk for shipped classifiers."""
    key = (_generator_key(space), coloured, n, quantile)
    known = _tables.setdefault(classifier, {})
    if key in known:
        return known[key]
    path = None
    if _shipped(classifier):
        who = f"{classifier.name}-{_fingerprint(space, classifier, coloured)}-{'colour' if coloured else 'grey'}"
        path = cache_dir() / "cf-bias" / f"v{VERSION}-{key[0]}-{who}-n{n}-q{quantile:g}.json"
    if path is not None and path.exists():
        got = json.loads(path.read_text())
        table = CounterfactualBias(tuple(got["thickness"]), tuple(got["drop"]))
    else:
        table = measure(space, classifier, coloured, n, quantile)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = scratch_beside(path)
            tmp.write_text(json.dumps({"thickness": table.thickness, "drop": table.drop}))
            tmp.replace(path)
    known[key] = table
    return table
