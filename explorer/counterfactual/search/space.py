"""The image world as a search space: the generator's attribute-informed latent space, differentiably.

A point of the space is the attributes (digit as class probabilities, thickness, intensity, hue) plus the
image's own latent. `render` decodes a point into what the classifier sees, keeping gradients to every
coordinate; attributes left out of a search follow the SCM's mechanisms (`follow`), as in the Image what-if.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
import torch.nn.functional as F

from explorer.counterfactual.search.base import Query, lead
from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import load_morpho_rows, noise_for
from explorer.models.cvae import MorphoCVAE
from explorer.scm.morpho import HUE_SD, I_LOW, I_NOISE_SD, I_SPAN, SPECS, T_RATE, T_SHAPE, MorphoSCM

CONTINUOUS = ("thickness", "intensity", "hue")
T_PIVOT = 2.5  # thickness at which intensity's mechanism sits at its midpoint (scm/morpho.py)
Z_FREE = 3.0  # standard deviations of SCM noise an answer may imply before it counts as implausible
BIAS_DIGITS, BIAS_QUANTILE = 1000, 0.95  # training digits redrawn to measure the generator's bias on a classifier


def hue_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """(B,) hue in [0, 1) -> (B, 3, 1, 1) fully saturated colour, differentiable almost everywhere.

    The HSV-to-RGB formula with saturation and value 1, as `colorsys` computes it for `explorer.scm.morpho.tint`.
    """
    k = (torch.tensor([5.0, 3.0, 1.0], device=hue.device) + 6.0 * hue[:, None]) % 6.0  # (B, 3)
    rgb = 1.0 - torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)  # (B, 3)
    return rgb[:, :, None, None]


class MorphoSpace:
    """Abducts queries and renders points of the space through the shipped generator."""

    def __init__(self, generator: MorphoCVAE, device: torch.device | str = "cpu", cf_digits: int = 0):
        self.generator, self.device = generator, torch.device(device)
        # training digits of the counterfactual bias (cf_bias.py), which style-only searches then also require at
        # the answer's thickness; 0: off, the shipped rule (measured on validation digits, docs/search.md: fewer
        # flips that do not hold, the floor still missed; on by default only once the audits are recomputed)
        self.cf_digits = cf_digits
        # classifier object -> {coloured: logits}, measured once; keyed by the object, not its name, because two
        # visitors' uploads may share a file name, and dropped with the classifier when its session ends
        self._bias: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def world(self, query: Query) -> MorphoSCM:
        return MorphoSCM(0.95) if query.coloured else MorphoSCM()

    def attributes(self, query: Query) -> tuple[str, ...]:
        """The continuous attributes of the query's world."""
        return CONTINUOUS if query.coloured else CONTINUOUS[:2]

    def abduct(self, query: Query) -> tuple[dict[str, np.ndarray], torch.Tensor]:
        """(the SCM's noise, the image latents (B, Z)) of the factual digits, without gradients."""
        noise = self.world(query).abduct(query.obs, query.noise)
        parents = self.parents({k: torch.as_tensor(np.asarray(query.obs[k])) for k in ("digit", "thickness",
                                                                                       "intensity")})
        with torch.inference_mode():
            latents = self.generator.abduct(query.grey.to(self.device), parents)
        return noise, latents.clone()

    def parents(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Values -> the generator's parents on its device (digit as class indices or (B, 10) probabilities)."""
        digit = values["digit"]
        digit = digit.to(self.device) if digit.dim() == 2 else digit.long().to(self.device)
        return {"digit": digit, "thickness": values["thickness"].float().to(self.device),
                "intensity": values["intensity"].float().to(self.device)}

    def follow(self, values: dict[str, torch.Tensor], noise: dict[str, np.ndarray], coloured: bool
               ) -> dict[str, torch.Tensor]:
        """Fills in intensity and hue that were not set, from their mechanisms (differentiable).

        `values` holds the digit ((B,) classes or (B, 10) probabilities) and thickness, and may hold intensity
        and hue (set by the search); what is missing follows its parents as the SCM says.
        """
        out = dict(values)
        u = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32, device=self.device) for k, v in noise.items()
             if k in ("u_i", "u_hc", "u_hn", "u_hu")}
        if "intensity" not in out:
            out["intensity"] = I_LOW + I_SPAN * torch.sigmoid(2.0 * (out["thickness"] - T_PIVOT) + u["u_i"])
        if coloured and "hue" not in out:
            d = out["digit"]
            digit = d @ torch.arange(10.0, device=d.device) if d.dim() == 2 else d.float()  # expected digit
            follows = (digit + 0.5) / 10.0 + HUE_SD * u["u_hn"]
            out["hue"] = torch.where(u["u_hc"] > 0.5, follows, u["u_hu"]) % 1.0
        return out

    def implausibility(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) how far outside the world the values lie: the SCM noise they imply (intensity's u_i given
        thickness, and thickness's own u_t), each in standard deviations beyond Z_FREE, squared and summed (0 for
        every digit the world draws, bar about 0.5 %).

        A thick, dim digit (thickness 5, intensity 70: u_i = -8.6, 17 SDs) is one the world almost never makes
        and the generator never saw: classifiers flip on the generator's drawing of it but not on the TRUE one.
        So is a very thick one (thickness 5.5: u_t = 5, 3.5 SDs): 0.12 % of the training digits are thicker
        than 4.9. Hue needs no term: in the colour world any hue has a fair chance (its uniform branch).
        """
        frac = ((values["intensity"] - I_LOW) / I_SPAN).clamp(1e-4, 1 - 1e-4)  # (B,)
        u_i = torch.logit(frac) - 2.0 * (values["thickness"] - T_PIVOT)  # (B,) as MorphoSCM.abduct
        # u_t = thickness - 0.5 ~ Gamma(T_SHAPE, rate T_RATE), as a standard normal deviate (Wilson-Hilferty)
        u_t = (values["thickness"] - 0.5).clamp(min=1e-4)  # (B,)
        z_t = ((u_t * T_RATE / T_SHAPE) ** (1 / 3) - (1 - 1 / (9 * T_SHAPE))) * (9 * T_SHAPE) ** 0.5  # (B,)
        return torch.relu(u_i.abs() / I_NOISE_SD - Z_FREE) ** 2 + torch.relu(z_t.abs() - Z_FREE) ** 2

    def bias(self, classifier, coloured: bool) -> float:
        """How many logits the generator's redrawing of a digit takes off the lead of the class `classifier`
        reads (the lead over its best rival): the BIAS_QUANTILE of that drop over BIAS_DIGITS TRAINING digits,
        each redrawn from its own abduction with no do(). Measured once per classifier and world (a few seconds).

        The redrawing is never exact (about 5 grey levels of L1), and a classifier may read it less surely than
        the real stroke: a style-only flip on the generator's drawing by less than this lead may be the
        generator's doing, not the style's, and need not hold on the TRUE counterfactual. Measured: 2.4 logits
        for the third-party CNN, 0.7 and 0.25 for the project's grey and colour CNNs (below their margin of 1).
        """
        known = self._bias.setdefault(classifier, {})
        if coloured not in known:
            size = len(load_mnist("train").labels)
            k = np.random.default_rng(0).choice(size, min(BIAS_DIGITS, size), replace=False)
            data = load_morpho_rows("train", k)  # these digits only, not the whole split
            obs = data.values
            if coloured:  # the colour world's hue for these digits, as the page's world draws it
                scm = self.world(Query(torch.zeros(0), {}, {}, True))
                obs = {a: v[k] for a, v in scm.counterfactual(noise_for("train", scm)).items()}
            query = Query(torch.from_numpy(data.images).float()[:, None], obs, {}, coloured)
            _, latents = self.abduct(query)
            values = {a: torch.as_tensor(np.asarray(v), dtype=torch.long if a == "digit" else torch.float32)
                      for a, v in obs.items()}
            with torch.inference_mode():
                real = classifier.logits(query.images().to(self.device)).float().cpu()
                redrawn = classifier.logits(self.render(latents, values, coloured)).float().cpu()
            read = real.argmax(1)
            known[coloured] = float(torch.quantile(lead(real, read) - lead(redrawn, read), BIAS_QUANTILE))
        return known[coloured]

    def render(self, latents: torch.Tensor, values: dict[str, torch.Tensor], coloured: bool) -> torch.Tensor:
        """(B, Z) latents + every parent -> (B, C, 28, 28) images on 0-255, with gradients to all of them."""
        grey = self.generator.decode(latents, self.parents(values))  # (B, 1, 28, 28)
        return grey * hue_to_rgb(values["hue"].to(grey.device)) if coloured else grey

    def bounds(self, name: str) -> tuple[float, float]:
        """The range a search may move attribute `name` in: the page's slider range."""
        return SPECS[name].low, SPECS[name].high


def soft_digit(logits: torch.Tensor) -> torch.Tensor:
    """(B, 10) free logits -> (B, 10) class probabilities fed to the decoder."""
    return F.softmax(logits, dim=1)
