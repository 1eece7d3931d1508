"""Morpho-MNIST as a structural causal model over real MNIST digits.

    digit      := label of the source digit (the source image is exogenous noise)
    thickness  := 0.5 + u_t,                                  u_t ~ Gamma(concentration 10, rate 5)
    intensity  := 64 + 191 * sigmoid(2 (thickness - 2.5) + u_i), u_i ~ Normal(0, 0.5)
    hue        := (digit + 0.5) / 10 + 0.02 u_hn  if u_hc else u_hu   (colour variant only;
                   u_hc ~ Bernoulli(strength), u_hn ~ Normal(0, 1), u_hu ~ Uniform(0, 1))
    image      := the source stroke re-drawn at `thickness`, scaled to median foreground `intensity`,
                  tinted by `hue` in the colour variant.

Because every sample keeps its noise, the TRUE counterfactual of any intervention is rendered by the
same mechanisms. do(digit) has no true counterfactual image: the shape of a digit comes from the data,
not from a mechanism we know.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from explorer.scm import morphology
from explorer.scm.graph import Dag
from explorer.types import VarSpec

T_SHAPE, T_RATE = 10.0, 5.0
I_LOW, I_SPAN = 64.0, 191.0
I_NOISE_SD = 0.5
HUE_SD = 0.02
# The confounded colour world: P(hue follows the digit). The hue CNN is trained in it and the page shows it.
CONFOUNDED_HUE_STRENGTH = 0.95

SPECS = {
    "digit": VarSpec("digit", "categorical", 0, 9, 0, 1, "digit"),
    "thickness": VarSpec("thickness", "continuous", 1.0, 5.5, 2.5, 0.1, "thickness", "px"),
    "intensity": VarSpec("intensity", "continuous", 64.0, 255.0, 160.0, 1.0, "intensity", "of 255"),
    "hue": VarSpec("hue", "continuous", 0.0, 0.99, 0.5, 0.01, "hue", "of the colour wheel"),
}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class MorphoSCM:
    """The SCM; `colour_strength` is None for the grey-scale world, else P(hue follows digit).

    Values and noise are numpy-friendly dicts of 1-D arrays (one row per sample).
    """

    colour_strength: float | None = None

    @property
    def coloured(self) -> bool:
        return self.colour_strength is not None

    @property
    def variables(self) -> list[str]:
        return ["digit", "thickness", "intensity"] + (["hue"] if self.coloured else [])

    @property
    def specs(self) -> dict[str, VarSpec]:
        return {v: SPECS[v] for v in self.variables}

    @property
    def graph(self) -> Dag:
        edges = {("thickness", "intensity"), ("digit", "image"), ("thickness", "image"), ("intensity", "image")}
        if self.coloured:
            edges |= {("digit", "hue"), ("hue", "image")}
        return Dag(tuple(self.variables + ["image"]), frozenset(edges))

    # --- sampling and the three steps -------------------------------------------------------------
    def sample_noise(self, labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Exogenous noise for each source digit (row k belongs to source image k)."""
        rng = np.random.default_rng(seed)
        n = len(labels)
        noise = {
            "source": np.arange(n, dtype=np.int64),
            "digit": np.asarray(labels, np.int64),  # the source's label is part of its noise
            "u_t": rng.gamma(T_SHAPE, 1.0 / T_RATE, n),
            "u_i": rng.normal(0.0, I_NOISE_SD, n),
        }
        if self.coloured:
            noise["u_hc"] = (rng.random(n) < self.colour_strength).astype(np.float64)
            noise["u_hn"] = rng.normal(0.0, 1.0, n)
            noise["u_hu"] = rng.random(n)
        return noise

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(noise, values) of `n` samples; digits uniform unless the source digits' `labels` are given."""
        if labels is None:
            labels = np.random.default_rng([seed, 1]).integers(0, 10, n)
        noise = self.sample_noise(np.asarray(labels)[:n], seed)
        return noise, self.counterfactual(noise)

    def abduct(self, obs: dict[str, np.ndarray], known: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Recovers u_t and u_i from observed thickness and intensity.

        The digit is its own noise. Whether a hue followed the digit cannot be read off one sample, so the
        hue noise comes from `known` (the sample's stored noise); without it, the observed hue is taken
        as not following the digit, which keeps it as observed under any do() but do(hue).
        """
        out = dict(known) if known is not None else {"digit": np.asarray(obs["digit"], np.int64)}
        if known is None and self.coloured:
            n = len(out["digit"])
            out.update(u_hc=np.zeros(n), u_hn=np.zeros(n), u_hu=np.asarray(obs["hue"], np.float64))
        out["u_t"] = np.asarray(obs["thickness"], np.float64) - 0.5
        frac = (np.asarray(obs["intensity"], np.float64) - I_LOW) / I_SPAN
        out["u_i"] = _logit(frac) - 2.0 * (np.asarray(obs["thickness"], np.float64) - 2.5)
        return out

    def counterfactual(self, noise: dict[str, np.ndarray], do: dict[str, np.ndarray | float] | None = None,
                       graph: Dag | None = None) -> dict[str, np.ndarray]:
        """Evaluates the mechanisms in causal order under `do` (hard interventions; {} = factual).

        The digit world's graph is fixed: `graph` must be None or the world's own.
        """
        if graph is not None and graph != self.graph:
            raise ValueError("the Morpho-MNIST world's graph cannot be edited")
        do = do or {}
        n = len(noise["u_t"])

        def held(name: str, value: np.ndarray) -> np.ndarray:
            return np.broadcast_to(np.asarray(do[name], np.float64), (n,)).copy() if name in do else value

        out = {"digit": held("digit", noise["digit"].astype(np.float64)).round().astype(np.int64)}
        out["thickness"] = held("thickness", 0.5 + noise["u_t"])
        out["intensity"] = held("intensity", I_LOW + I_SPAN * _sigmoid(2.0 * (out["thickness"] - 2.5) + noise["u_i"]))
        if self.coloured:
            follows = (out["digit"] + 0.5) / 10.0 + HUE_SD * noise["u_hn"]
            out["hue"] = held("hue", np.where(noise["u_hc"] > 0.5, follows, noise["u_hu"]) % 1.0)
        return out

    # --- the image mechanism --------------------------------------------------------------------
    def render(self, skel: np.ndarray, values: dict[str, float]) -> np.ndarray:
        """One image from a source skeleton: (28, 28) float32 0-255, or (3, 28, 28) when coloured."""
        grey = morphology.set_intensity(morphology.draw(skel, float(values["thickness"])), float(values["intensity"]))
        if not self.coloured:
            return grey
        return tint(grey, float(values["hue"]))

    def realised_correlation(self, values: dict[str, np.ndarray]) -> float:
        """Pearson correlation of hue with digit: how strongly colour is confounded with the class."""
        if not self.coloured:
            return 0.0
        return float(np.corrcoef(values["hue"], values["digit"])[0, 1])


def hue_rgb(hue: float) -> np.ndarray:
    """The fully saturated colour of `hue` as (3,) floats in [0, 1]; its brightest channel is 1."""
    return np.asarray(colorsys.hsv_to_rgb(float(hue) % 1.0, 1.0, 1.0), np.float32)


def tint(grey: np.ndarray, hue: float | np.ndarray) -> np.ndarray:
    """(..., 28, 28) grey 0-255 -> (..., 3, 28, 28) coloured; max over channels gives back `grey`."""
    hues = np.atleast_1d(np.asarray(hue, np.float64)).ravel()
    rgb = np.stack([hue_rgb(h) for h in hues]).reshape(np.shape(hue) + (3, 1, 1))  # (..., 3, 1, 1)
    return (grey[..., None, :, :] * rgb).astype(np.float32)
