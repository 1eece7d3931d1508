"""The image what-if service: one call from the page, everything it shows comes back.

Loaded once per server process and shared read-only between sessions; each call is pure in its
arguments, so two users moving sliders at once never see each other's results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from explorer import checkpoints
from explorer.counterfactual.image import image_counterfactual
from explorer.data.mnist import load_mnist
from explorer.data.morpho import DEFAULT_SEED, noise_for
from explorer.model_thread import on_model_thread
from explorer.models.cnn import CNNConfig, DigitCNN, TorchClassifier, load_third_party
from explorer.models.cvae import CVAEConfig, MorphoCVAE
from explorer.paths import PRETRAINED
from explorer.scm import morphology
from explorer.scm.morpho import MorphoSCM, tint

REBUILD = "python -m explorer train morpho"
GENERATOR = "morpho-cvae"
# One name per classifier on every page (the list, the charts, the Home page); the descriptions say the rest.
CLASSIFIERS = {"morpho-cnn": "Project CNN (grey)", "morpho-cnn-hue": "Project CNN (colour-trained)"}
PAGE_HUE_STRENGTH = 0.95  # the colour world shown on the page matches the one the hue CNN was trained in


@dataclass
class WhatIfResult:
    """Everything the page renders for one (digit, intervention) pair. Images are float 0-255,
    (28, 28) grey or (3, 28, 28) colour."""

    index: int
    obs: dict[str, float]
    cf: dict[str, float]
    intervened: list[str]
    downstream: list[str]
    clamped: list[str]
    original: np.ndarray
    generated: np.ndarray
    true_cf: np.ndarray | None
    difference: np.ndarray  # generated - original, (28, 28) signed
    measured_obs: dict[str, float]
    measured_cf: dict[str, float]
    probs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name -> (orig, cf)
    causes: dict[str, list[str]] = field(default_factory=dict)  # intervened -> the downstream variables it causes

    def flips(self) -> dict[str, bool]:
        """Per classifier: does the predicted class change from original to counterfactual?"""
        return {name: int(p.argmax()) != int(q.argmax()) for name, (p, q) in self.probs.items()}


def load_generator(device: torch.device, folder: Path | None = None) -> tuple[MorphoCVAE, dict]:
    """The shipped generator (raises CheckpointError with the rebuild command on any fault)."""
    model, card = checkpoints.load_module(folder or PRETRAINED / GENERATOR, lambda c: MorphoCVAE(CVAEConfig(**c)),
                                          f"{REBUILD} --only generator", "generator")
    return model.to(device), card


def load_classifier(name: str, device: torch.device, folder: Path | None = None) -> TorchClassifier:
    """A project classifier from `pretrained/<name>` (raises CheckpointError on any fault)."""
    module, card = checkpoints.load_module(folder or PRETRAINED / name, lambda c: DigitCNN(CNNConfig(**c)),
                                           REBUILD, f"classifier {name}")
    return TorchClassifier(name, module, module.cfg.channels, device, card.get("description", ""), card)


class MorphoWhatIf:
    """Holds the test digits, their noise, the generator and the classifiers."""

    def __init__(self, device: torch.device, seed: int = DEFAULT_SEED):
        self.device = device
        self.generator, self.generator_card = load_generator(device)
        self.classifiers: dict[str, TorchClassifier] = {n: load_classifier(n, device) for n in CLASSIFIERS}
        self.classifiers["digit-recognizer-py"] = load_third_party(device)
        mnist = load_mnist("test")
        self.sources = mnist.images  # (N, 28, 28) uint8: the exogenous source strokes
        self.worlds = {False: MorphoSCM(), True: MorphoSCM(PAGE_HUE_STRENGTH)}
        self.noise = {c: noise_for("test", scm, seed) for c, scm in self.worlds.items()}
        self.values = {c: scm.counterfactual(self.noise[c]) for c, scm in self.worlds.items()}

    def __len__(self) -> int:
        return len(self.sources)

    def specs(self, coloured: bool):
        return self.worlds[coloured].specs

    def row(self, index: int, coloured: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(noise, factual values) of one test sample, as length-1 arrays."""
        pick = lambda d: {k: v[index:index + 1] for k, v in d.items()}  # noqa: E731
        return pick(self.noise[coloured]), pick(self.values[coloured])

    def render_true(self, skel: np.ndarray, values: dict[str, np.ndarray], coloured: bool) -> np.ndarray:
        return self.worlds[coloured].render(skel, {k: float(v[0]) for k, v in values.items()})

    @on_model_thread  # Streamlit calls from a new thread per rerun: see explorer/model_thread.py
    def what_if(self, index: int, do: dict[str, float], coloured: bool = False) -> WhatIfResult:
        """Abduction -> action -> prediction for test sample `index` under `do` (values clamped to range)."""
        index = int(min(max(index, 0), len(self) - 1))
        scm, specs = self.worlds[coloured], self.specs(coloured)
        do_ok, clamped = {}, []
        for name, value in do.items():
            if name not in specs:
                raise ValueError(f"unknown variable {name!r}; this world has {', '.join(specs)}")
            do_ok[name], changed = specs[name].clamp(value)
            if changed:
                clamped.append(name)
        noise, obs = self.row(index, coloured)
        skel = morphology.skeleton(self.sources[index])
        grey_np = morphology.set_intensity(morphology.draw(skel, float(obs["thickness"][0])), float(obs["intensity"][0]))
        grey = torch.from_numpy(grey_np)[None, None]  # (1, 1, 28, 28)
        cf, cf_img = image_counterfactual(self.generator, scm, grey, obs, noise, do_ok, self.device)
        original = tint(grey_np, float(obs["hue"][0])) if coloured else grey_np
        generated = cf_img[0].cpu().numpy() if coloured else cf_img[0, 0].cpu().numpy()
        # do(digit) has no true counterfactual: the SCM takes a digit's shape from the data.
        true_cf = None if "digit" in do_ok and int(do_ok["digit"]) != int(obs["digit"][0]) \
            else self.render_true(skel, cf, coloured)
        return WhatIfResult(
            index=index, obs={k: float(v[0]) for k, v in obs.items()}, cf={k: float(v[0]) for k, v in cf.items()},
            intervened=sorted(do_ok), downstream=sorted(scm.graph.descendants(list(do_ok)) - set(do_ok)),
            clamped=clamped, original=original, generated=generated, true_cf=true_cf,
            difference=_grey(generated) - _grey(original),
            measured_obs=_measure(original), measured_cf=_measure(generated),
            probs=self._predict(original, generated),
            causes={n: sorted(scm.graph.descendants([n]) - set(do_ok)) for n in sorted(do_ok)})

    def _predict(self, original: np.ndarray, generated: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        batch = torch.from_numpy(np.stack([_chw(original), _chw(generated)])).float()  # (2, C, 28, 28)
        out = {}
        for name, clf in self.classifiers.items():
            p = clf.predict_proba(batch).cpu().numpy()  # (2, 10)
            out[name] = (p[0], p[1])
        return out


def _chw(img: np.ndarray) -> np.ndarray:
    return img[None] if img.ndim == 2 else img


def _grey(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else img.max(axis=0)


def _measure(img: np.ndarray) -> dict[str, float]:
    g = _grey(img)
    return {"thickness": morphology.measure_thickness(g), "intensity": morphology.measure_intensity(g)}
