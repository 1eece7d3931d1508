"""The image what-if service: one call from the page, everything it shows comes back.

Loaded once per server process and shared read-only between sessions; each call is pure in its
arguments, so two users moving sliders at once never see each other's results. A visitor's uploaded classifiers
(kept in their session by the Flip page) come in as an argument of `what_if` and are asked beside the shipped ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.counterfactual.image import MorphoMechanism
from explorer.counterfactual.procedure import counterfactual
from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import noise_for
from explorer.interfaces import Classifier, WhatIfResult
from explorer.model_thread import AHEAD, Batcher
from explorer.models.cnn import TorchClassifier
from explorer.registry import (
    MORPHO,
    REBUILD_MORPHO,
    THIRD_PARTY,
    load_classifier,
    load_generator,
)
from explorer.scm import morphology
from explorer.scm.graph import Dag
from explorer.scm.morpho import CONFOUNDED_HUE_STRENGTH, MorphoSCM, tint
from explorer.services.common import clamp_do
from explorer.services.image_sweep import SliderSweep, StartRow, SweepCache
from explorer.types import DEFAULT_SEED, VarSpec

REBUILD = REBUILD_MORPHO
FACTUALS_KEPT = 512  # digits whose slider-independent part is kept: ~30 kB each, a classroom's worth
# One name per classifier on every page (the list, the charts, the Home page); the descriptions say the rest.
CLASSIFIERS = {MORPHO["classifier"]: "Project CNN (grey)", MORPHO["classifier_hue"]: "Project CNN (colour-trained)",
               # issue 19's pair: trained where 99 % of digits wear their own colour, plainly and with counterfactuals
               "cf-cnn-s0.99-erm-seed0": "CNN, colour 99 % (plain)",
               "cf-cnn-s0.99-cf_regularise-seed0": "CNN, colour 99 % (CF-regularised)"}


@dataclass
class ImageResult(WhatIfResult):
    """Everything the page renders for one (digit, intervention) pair. Images are float 0-255,
    (28, 28) grey or (3, 28, 28) colour; `true_cf` is None after do(digit), which has no true answer."""

    index: int = 0
    original: np.ndarray | None = None
    generated: np.ndarray | None = None
    true_image: np.ndarray | None = None
    difference: np.ndarray | None = None  # generated - original, (28, 28) signed
    measured_obs: dict[str, float] = field(default_factory=dict)
    measured_cf: dict[str, float] = field(default_factory=dict)
    causes: dict[str, list[str]] = field(default_factory=dict)  # intervened -> the downstream variables it causes


@dataclass(frozen=True)
class ImageWorld:
    """One of the page's two worlds: its variables and its causal graph (the colour world adds hue)."""

    coloured: bool
    specs: dict[str, VarSpec]
    graph: Dag


@dataclass(frozen=True)
class ImagePage:
    """What the page shows besides a what-if, fetched once per page run (nothing here changes with a slider).

    Attributes:
        n: how many test digits there are to pick from.
        gallery: (test index, digit, (28, 28) uint8 source stroke) for the first test digit of each class 0-9.
        worlds: {coloured: ImageWorld} for the grey world (False) and the colour world (True).
        classifiers: {name: description} of the classifiers every what-if asks.
        device: where the models run.
    """

    n: int
    gallery: tuple[tuple[int, int, np.ndarray], ...]
    worlds: dict[bool, ImageWorld]
    classifiers: dict[str, str]
    device: torch.device


class ImageService:
    """Holds the test digits, their noise, the generator and the classifiers."""

    def __init__(self, device: torch.device, seed: int = DEFAULT_SEED):
        self.device = device
        # the what-ifs waiting for the model thread run as one batch (explorer/model_thread.py)
        self._batcher = Batcher(lambda ask: self._draw([ask])[0], self._draw)
        # and so do the sweeps, after the answers waiting (AHEAD)
        self._sweep_batcher = Batcher(lambda ask: self._sweeps([ask])[0], self._sweeps, AHEAD)
        self._factuals: OrderedDict[tuple[int, bool], _Factual] = OrderedDict()
        self.sweeps = SweepCache()  # the quick sliders' precomputed positions (explorer/services/image_sweep.py)
        self.generator, self.generator_card = load_generator(device)
        self.classifiers: dict[str, TorchClassifier] = {n: load_classifier(n, device)
                                                        for n in [*CLASSIFIERS, THIRD_PARTY]}
        mnist = load_mnist("test")
        self.sources = mnist.images  # (N, 28, 28) uint8: the exogenous source strokes
        # the colour world shown on the page is the one the hue CNN was trained in
        self.worlds = {False: MorphoSCM(), True: MorphoSCM(CONFOUNDED_HUE_STRENGTH)}
        self.noise = {c: noise_for("test", scm, seed) for c, scm in self.worlds.items()}
        self.values = {c: scm.counterfactual(self.noise[c]) for c, scm in self.worlds.items()}
        labels = self.values[False]["digit"]  # (N,)
        first = [int(np.flatnonzero(labels == d)[0]) for d in range(10)]  # a small, varied gallery
        self._page = ImagePage(len(self.sources), tuple((i, int(labels[i]), self.sources[i]) for i in first),
                               {c: self.world(c) for c in self.worlds},
                               {n: c.description for n, c in self.classifiers.items()}, device)

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def specs(self) -> dict[str, VarSpec]:
        """Every variable of either world: the colour world's, which adds hue to the grey world's.

        One world's own variables come with `world(coloured)`: the page picks the world with a toggle, so
        which variables a what-if may set depends on an argument, which a property cannot take.
        """
        return self.worlds[True].specs

    def world(self, coloured: bool) -> ImageWorld:
        """The grey (False) or the colour (True) world: its variables and its graph."""
        scm = self.worlds[coloured]
        return ImageWorld(coloured, scm.specs, scm.graph)

    def page(self) -> ImagePage:
        """The page's picker range, gallery, worlds, classifiers and device (built once, at load)."""
        return self._page

    def factual(self, index: int, coloured: bool = False) -> dict[str, float]:
        """The factual values of test digit `index`."""
        return {k: float(v[index]) for k, v in self.values[coloured].items()}

    def row(self, index: int, coloured: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(noise, factual values) of one test sample, as length-1 arrays."""
        pick = lambda d: {k: v[index:index + 1] for k, v in d.items()}
        return pick(self.noise[coloured]), pick(self.values[coloured])

    def render_true(self, skel: np.ndarray, values: dict[str, np.ndarray], coloured: bool) -> np.ndarray:
        return self.worlds[coloured].render(skel, {k: float(v[0]) for k, v in values.items()})

    def _factual(self, index: int, coloured: bool) -> _Factual:
        """What a what-if needs of digit `index` that no slider changes, computed once and kept (bounded).

        A visitor moving a slider asks for the same digit again and again: its skeleton, its picture, the
        generator's abduction of it, its measured attributes and the shipped classifiers' answers on it are the
        same every time, and were ~40 % of a what-if's work. Runs on the model thread only, so one dict is safe.
        """
        key = (index, coloured)
        if key in self._factuals:
            self._factuals.move_to_end(key)
            return self._factuals[key]
        noise, obs = self.row(index, coloured)
        skel = morphology.skeleton(self.sources[index])
        grey_np = morphology.set_intensity(morphology.draw(skel, float(obs["thickness"][0])), float(obs["intensity"][0]))
        grey = torch.from_numpy(grey_np)[None, None]  # (1, 1, 28, 28)
        original = tint(grey_np, float(obs["hue"][0])) if coloured else grey_np
        mechanism = MorphoMechanism(self.generator, self.device, coloured)
        with torch.inference_mode():
            latents = mechanism.abduct(grey, obs)  # (1, Z)
            probs = self._probabilities(original, self.classifiers)
        self._factuals[key] = _Factual(noise, obs, skel, grey, original, latents, _measure(original), probs)
        if len(self._factuals) > FACTUALS_KEPT:
            self._factuals.popitem(last=False)
        return self._factuals[key]

    def what_if(self, index: int, do: dict[str, float], coloured: bool = False,
                uploaded: Mapping[str, Classifier] | None = None) -> ImageResult:
        """Abduction -> action -> prediction for test sample `index` under `do` (values clamped to range).

        `uploaded`: the visitor's own classifiers by name, asked after the shipped ones (`probs` keeps that order).
        Runs on the model thread (Streamlit calls from a new thread per rerun: see explorer/model_thread.py), in one
        batch with the what-ifs of other visitors waiting there in the same world with the same variables set.
        """
        index = int(min(max(index, 0), len(self) - 1))
        do_ok, clamped = clamp_do(do, self.worlds[coloured].specs, "variable", "this world has")
        ask = WhatIfAsk(index, coloured, do_ok, clamped, dict(uploaded or {}))
        # one decoder batch takes (B,) values per variable, so a group shares the world and the variables set
        drawn = self._batcher((coloured, tuple(sorted(do_ok))), ask)
        return self._result(drawn)  # on the caller's thread: numpy only, so the model thread is free sooner

    def what_ifs(self, asks: list[WhatIfAsk]) -> list[ImageResult]:
        """`what_if` of several requests (one world, the same variables set) drawn in one batch. Model thread only
        (it fills the factual cache); a list of one gives `what_if`'s result."""
        return [self._result(d) for d in self._draw(asks)]

    def _draw(self, asks: list[WhatIfAsk]) -> list[_Drawn]:
        """The model's part of several what-ifs: one decoder batch and one batch per shipped classifier; each
        visitor's uploaded classifiers are asked for its own pictures only."""
        coloured = asks[0].coloured
        scm = self.worlds[coloured]
        facts = [self._factual(a.index, coloured) for a in asks]
        rows = lambda part: {k: np.concatenate([getattr(f, part)[k] for f in facts])  # (B,) each
                             for k in getattr(facts[0], part)}
        do = {k: np.asarray([a.do[k] for a in asks]) for k in asks[0].do}  # (B,) each
        latents = torch.cat([f.latents for f in facts])  # (B, Z): each digit's own abduction
        mechanism = _Abducted(MorphoMechanism(self.generator, self.device, coloured), latents)
        with torch.inference_mode():
            grey = torch.cat([f.grey for f in facts])  # (B, 1, 28, 28)
            out = counterfactual(scm, mechanism, grey, do, obs=rows("obs"), known=rows("noise"))
            pictures = out.x_cf.cpu().numpy()  # (B, C, 28, 28)
            after = self._probabilities(pictures, self.classifiers)  # {name: (B, K)}
            drawn = []
            for i, (a, f) in enumerate(zip(asks, facts)):
                generated = np.array(pictures[i] if coloured else pictures[i, 0])  # its own copy, not the batch's
                mine = {n: self._probabilities(np.stack([_chw(f.original), _chw(generated)]), {n: c})[n]
                        for n, c in a.uploaded.items()}  # a visitor's own: both pictures, nothing kept
                probs = {n: (f.probs[n][0], after[n][i]) for n in self.classifiers} | {
                    n: (p[0], p[1]) for n, p in mine.items()}
                drawn.append(_Drawn(a, f, {k: v[i:i + 1] for k, v in out.cf.items()}, generated, probs))
        return drawn

    def _result(self, d: _Drawn) -> ImageResult:
        """One request's ImageResult from what the model drew and read for it (the SCM's drawing, measures)."""
        ask, f, scm = d.ask, d.factual, self.worlds[d.ask.coloured]
        cf_values = {k: float(v[0]) for k, v in d.cf.items()}
        unknown = _unknown(ask.do, f)
        return ImageResult(
            obs={k: float(v[0]) for k, v in f.obs.items()}, cf=cf_values, true_cf=None if unknown else cf_values,
            intervened=sorted(ask.do), downstream=sorted(scm.graph.descendants(list(ask.do)) - set(ask.do)),
            clamped=ask.clamped, probs=d.probs, index=ask.index, original=f.original, generated=d.generated,
            true_image=None if unknown else self.render_true(f.skel, d.cf, ask.coloured),
            difference=difference(d.generated, f.original),
            measured_obs=f.measured, measured_cf=_measure(d.generated),
            causes={n: sorted(scm.graph.descendants([n]) - set(ask.do)) for n in sorted(ask.do)})

    def sweep(self, index: int, do: dict[str, float], coloured: bool = False,
              uploaded: Mapping[str, Classifier] | None = None,
              names: Iterable[str] | None = None) -> dict[str, SliderSweep]:
        """{slider: its sweep}: for each continuous variable (in `names`, None: all), `what_if`'s picture and every
        classifier's (shipped, then `uploaded`) probabilities at the slider's positions, `do`'s other values held
        (clamped to range).

        Batched, and kept per slider until the digit, the world, the readers or the other values change. A kept
        sweep is returned from the caller's thread; only a missing one is computed on the model thread.
        """
        index, names = int(min(max(index, 0), len(self) - 1)), None if names is None else list(names)  # read twice
        do_ok, _ = clamp_do(do, self.worlds[coloured].specs, "variable", "this world has")
        readers = {**self.classifiers, **(uploaded or {})}
        kept = self.sweeps.found(self.sweeps.keys(self.worlds[coloured].specs, index, coloured, do_ok, readers, names))
        if kept is not None:
            return kept
        # visitors reaching for a slider at once share one decoder call (the same world, sliders and readers)
        key = ("sweep", coloured, tuple(sorted(do_ok)), None if names is None else tuple(names),
               tuple((n, id(c)) for n, c in readers.items()))  # ids: the readers are alive while their callers wait
        return self._sweep_batcher(key, _SweepAsk(index, coloured, do_ok, dict(readers), names))

    def _sweeps(self, asks: list[_SweepAsk]) -> list[dict[str, SliderSweep]]:
        """Several visitors' sweeps in one decoder call per slider (model thread: the Batcher runs it there)."""
        coloured, facts = asks[0].coloured, [self._factual(a.index, a.coloured) for a in asks]

        def made(rows: list[int], p: int) -> _Abducted:  # each digit's own abduction, one latent row per picture
            latents = torch.cat([facts[j].latents for j in rows]).repeat_interleave(p, dim=0)  # (R*P, Z)
            return _Abducted(MorphoMechanism(self.generator, self.device, coloured), latents)

        def truth(j: int, cf: dict[str, np.ndarray]) -> np.ndarray | None:  # (P, 28, 28) or (P, 3, 28, 28)
            if _unknown(asks[j].do, facts[j]):
                return None
            return np.stack([self.render_true(facts[j].skel, {k: v[i:i + 1] for k, v in cf.items()}, coloured)
                             for i in range(len(next(iter(cf.values()))))])

        return self.sweeps.sweeps_many(self.worlds[coloured], made, [StartRow(f.noise, f.obs, f.grey) for f in facts],
                                       [a.index for a in asks], coloured, [a.do for a in asks], asks[0].readers,
                                       asks[0].names, truth, _measure_many)

    @staticmethod
    def _probabilities(images: np.ndarray, classifiers: Mapping[str, Classifier]) -> dict[str, np.ndarray]:
        """(C, 28, 28) or (H, W) one picture, or (B, C, 28, 28) several -> {name: (B, K) probabilities}."""
        batch = images if images.ndim == 4 else _chw(images)[None]
        batch = torch.from_numpy(np.ascontiguousarray(batch)).float()  # (B, C, 28, 28)
        return {name: clf.predict_proba(batch).cpu().numpy() for name, clf in classifiers.items()}


@dataclass(frozen=True)
class WhatIfAsk:
    """One visitor's what-if as `what_if` received it: the digit and do() clamped to range, and its own classifiers."""

    index: int
    coloured: bool
    do: dict[str, float]
    clamped: list[str]
    uploaded: dict[str, Classifier]


@dataclass(frozen=True)
class _SweepAsk:
    """One visitor's sweep as the model thread receives it: the digit, do() clamped, the readers, the sliders."""

    index: int
    coloured: bool
    do: dict[str, float]
    readers: dict[str, Classifier]
    names: list[str] | None


@dataclass(frozen=True)
class _Factual:
    """One test digit as every what-if on it starts: values (length-1 arrays), picture, latents, answers."""

    noise: dict[str, np.ndarray]
    obs: dict[str, np.ndarray]
    skel: np.ndarray
    grey: torch.Tensor  # (1, 1, 28, 28)
    original: np.ndarray  # as shown: (28, 28) grey or (3, 28, 28) tinted
    latents: torch.Tensor  # (1, Z): the generator's abduction of `grey`
    measured: dict[str, float]
    probs: dict[str, np.ndarray]  # shipped classifier -> (1, 10) on `original`


@dataclass(frozen=True)
class _Drawn:
    """What the model drew and read for one what-if: the rest of its result is numpy, off the model thread."""

    ask: WhatIfAsk
    factual: _Factual
    cf: dict[str, np.ndarray]  # every variable, length-1 arrays
    generated: np.ndarray  # (28, 28) grey or (3, 28, 28) colour
    probs: dict[str, tuple[np.ndarray, np.ndarray]]  # classifier -> ((K,) on the original, (K,) on `generated`)


class _Abducted:
    """The image mechanism with its abduction already done (the same latents it would compute again)."""

    def __init__(self, mechanism: MorphoMechanism, latents: torch.Tensor):
        self.mechanism, self.latents = mechanism, latents

    def abduct(self, x: torch.Tensor, parents: Mapping[str, np.ndarray]) -> torch.Tensor:
        return self.latents.expand(len(x), *self.latents.shape[1:])  # (B, Z): one digit's B rows, or B digits'

    def decode(self, latents: torch.Tensor, parents: Mapping[str, np.ndarray]) -> torch.Tensor:
        return self.mechanism.decode(latents, parents)


def _unknown(do: Mapping[str, float], factual: _Factual) -> bool:
    """do(digit) to another digit has no true counterfactual: the SCM takes a digit's shape from the data."""
    return "digit" in do and int(do["digit"]) != int(factual.obs["digit"][0])


def _chw(img: np.ndarray) -> np.ndarray:
    return img[None] if img.ndim == 2 else img


def difference(generated: np.ndarray, original: np.ndarray) -> np.ndarray:
    """(28, 28) signed: the counterfactual's ink minus the original's (a colour picture by its brightest channel)."""
    return _grey(generated) - _grey(original)


def _grey(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else img.max(axis=0)


def _measure_many(pictures: np.ndarray) -> dict[str, np.ndarray]:
    """(P, 28, 28) or (P, 3, 28, 28) -> {attribute: (P,)}: `_measure` of each (~2.3 ms a picture: a sweep's ~100
    ms, once per sweep, so the answer panel shows the measured row at every position too)."""
    each = [_measure(p) for p in pictures]
    return {k: np.array([m[k] for m in each]) for k in each[0]} if each else {}


def _measure(img: np.ndarray) -> dict[str, float]:
    g = _grey(img)
    return {"thickness": morphology.measure_thickness(g), "intensity": morphology.measure_intensity(g)}
