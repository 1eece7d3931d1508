"""The image what-if service: one call from the page, everything it shows comes back.

Loaded once per server process and shared read-only between sessions; each call is pure in its
arguments, so two users moving sliders at once never see each other's results. A visitor's uploaded classifiers
(kept in their session by the Flip page) come in as an argument of `what_if` and are asked beside the shipped ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.counterfactual.image import image_counterfactual
from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import noise_for
from explorer.interfaces import Classifier, WhatIfResult
from explorer.model_thread import on_model_thread
from explorer.models.cnn import TorchClassifier
from explorer.registry import MORPHO, REBUILD_MORPHO, THIRD_PARTY, load_classifier, load_generator
from explorer.scm import morphology
from explorer.scm.graph import Dag
from explorer.scm.morpho import CONFOUNDED_HUE_STRENGTH, MorphoSCM, tint
from explorer.services.common import clamp_do
from explorer.types import DEFAULT_SEED, VarSpec

REBUILD = REBUILD_MORPHO
# One name per classifier on every page (the list, the charts, the Home page); the descriptions say the rest.
CLASSIFIERS = {MORPHO["classifier"]: "Project CNN (grey)", MORPHO["classifier_hue"]: "Project CNN (colour-trained)"}


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
        pick = lambda d: {k: v[index:index + 1] for k, v in d.items()}  # noqa: E731
        return pick(self.noise[coloured]), pick(self.values[coloured])

    def render_true(self, skel: np.ndarray, values: dict[str, np.ndarray], coloured: bool) -> np.ndarray:
        return self.worlds[coloured].render(skel, {k: float(v[0]) for k, v in values.items()})

    @on_model_thread  # Streamlit calls from a new thread per rerun: see explorer/model_thread.py
    def what_if(self, index: int, do: dict[str, float], coloured: bool = False,
                uploaded: Mapping[str, Classifier] | None = None) -> ImageResult:
        """Abduction -> action -> prediction for test sample `index` under `do` (values clamped to range).

        `uploaded`: the visitor's own classifiers by name, asked after the shipped ones (`probs` keeps that order).
        """
        index = int(min(max(index, 0), len(self) - 1))
        scm = self.worlds[coloured]
        do_ok, clamped = clamp_do(do, scm.specs, "variable", "this world has")
        noise, obs = self.row(index, coloured)
        skel = morphology.skeleton(self.sources[index])
        grey_np = morphology.set_intensity(morphology.draw(skel, float(obs["thickness"][0])), float(obs["intensity"][0]))
        grey = torch.from_numpy(grey_np)[None, None]  # (1, 1, 28, 28)
        with torch.inference_mode():
            cf, cf_img = image_counterfactual(self.generator, scm, grey, obs, noise, do_ok, self.device)
        original = tint(grey_np, float(obs["hue"][0])) if coloured else grey_np
        generated = cf_img[0].cpu().numpy() if coloured else cf_img[0, 0].cpu().numpy()
        cf_values = {k: float(v[0]) for k, v in cf.items()}
        # do(digit) has no true counterfactual: the SCM takes a digit's shape from the data.
        unknown = "digit" in do_ok and int(do_ok["digit"]) != int(obs["digit"][0])
        return ImageResult(
            obs={k: float(v[0]) for k, v in obs.items()}, cf=cf_values, true_cf=None if unknown else cf_values,
            intervened=sorted(do_ok), downstream=sorted(scm.graph.descendants(list(do_ok)) - set(do_ok)),
            clamped=clamped, probs=self._predict(original, generated, uploaded or {}), index=index,
            original=original, generated=generated,
            true_image=None if unknown else self.render_true(skel, cf, coloured),
            difference=_grey(generated) - _grey(original),
            measured_obs=_measure(original), measured_cf=_measure(generated),
            causes={n: sorted(scm.graph.descendants([n]) - set(do_ok)) for n in sorted(do_ok)})

    def _predict(self, original: np.ndarray, generated: np.ndarray,
                 uploaded: Mapping[str, Classifier]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        batch = torch.from_numpy(np.stack([_chw(original), _chw(generated)])).float()  # (2, C, 28, 28)
        out = {}
        with torch.inference_mode():
            for name, clf in {**self.classifiers, **uploaded}.items():
                p = clf.predict_proba(batch).cpu().numpy()  # (2, K): 10 for the shipped ones
                out[name] = (p[0], p[1])
        return out


def _chw(img: np.ndarray) -> np.ndarray:
    return img[None] if img.ndim == 2 else img


def _grey(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else img.max(axis=0)


def _measure(img: np.ndarray) -> dict[str, float]:
    g = _grey(img)
    return {"thickness": morphology.measure_thickness(g), "intensity": morphology.measure_intensity(g)}
