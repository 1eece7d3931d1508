"""An RGB image mechanism that draws the hue itself: the conditional VAE of cvae.py on three channels.

The grey generator (`MorphoCVAE`) never sees colour; the page tints its stroke afterwards, which makes do(hue)
trivially right. Issue 19 asks how a generator that must LEARN the hue copes when hue is confounded with the
digit: this one is the same hierarchical CVAE (encoder, FiLM decoder, residual abduction; imported, not copied)
with `channels=3` and `with_hue=True`, so hue enters every decoder block as (cos, sin) of its angle beside the
digit's one-hot. Under strong confounding nothing in the data separates "hue" from "digit", and a plain model may
colour by digit: do(hue) then leaves the old colour (measured in explorer/evaluate/cf_generator.py).

The robust variant (`robust=True`) adds two losses on counterfactuals with hues drawn independently of the digit
(docs/confounding.md, "Counterfactual generation under confounding"): each batch is abducted, decoded again
under a uniformly drawn hue h', and
    effectiveness  1 - cos(chroma of the decoded image, chroma of the colour of h'), a differentiable hue read-out;
    cycle          the counterfactual, abducted again under its own parents, gives back the same latents;
    stroke         the counterfactual's stroke (its brightest channel) is the factual image's: do(hue) may
                   recolour, not reshape (a proximity loss; without it, a pilot at strength 1 redrew the digit
                   of the asked colour's band, and the oracle read the original digit less often than plain).
So combinations absent from the data (a red 3) are asked for in every batch, and the only way to satisfy them
is to colour by the hue input, with the stroke (the latents) left alone.
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.models.cvae import CVAEConfig, MorphoCVAE
from explorer.types import Values

SQRT3_2 = 3 ** 0.5 / 2


@dataclass
class RGBConfig:
    """Architecture and losses of the RGB generator; stored in every checkpoint's card."""

    width: int = 64  # as the grey generator: at batch 128 on one CPU thread width 32 was no faster (measured)
    z_top: int = 16
    z_loc: int = 2
    robust: bool = False
    effectiveness_weight: float = 100.0  # recon is ~100-300 nats per image; 1 - cos is in [0, 2]
    cycle_weight: float = 10.0  # on the mean squared latent error (latents are ~N(0, 1))
    stroke_weight: float = 1.0  # on the summed |stroke change| (0-1 per pixel): the same scale as the recon term

    def cvae(self) -> CVAEConfig:
        return CVAEConfig(channels=3, width=self.width, z_top=self.z_top, z_loc=self.z_loc, with_hue=True)

    def to_dict(self) -> dict:
        return asdict(self)


def hue_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """(B,) hues on [0, 1) -> (B, 3) fully saturated colours, as `explorer.scm.morpho.hue_rgb`, differentiably."""
    k = (torch.tensor([5.0, 3.0, 1.0], device=hue.device) + 6.0 * hue[:, None]) % 6.0  # (B, 3)
    return 1.0 - torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)  # (B, 3): the HSV formula at s = v = 1


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) colours -> (..., 2) their position on the chroma plane (grey maps to the origin)."""
    r, g, b = rgb.unbind(-1)
    return torch.stack([r - 0.5 * (g + b), SQRT3_2 * (g - b)], -1)


def image_chroma(img: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) images -> (B, 2) chroma of their colour, each pixel weighted by its stroke (brightest channel).

    Why weighted: background pixels carry no colour, and faint edges less than the stroke's core.
    """
    w = img.amax(1, keepdim=True)  # (B, 1, H, W)
    mean = (img * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1e-6)  # (B, 3)
    return chroma(mean)


def measured_hue(img: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) images -> (B,) hue on [0, 1) of their stroke-weighted mean colour (the evaluation's ruler).

    On a TRUE render (one tint for the whole stroke) this is exactly the hue it was tinted with.
    """
    w = img.amax(1, keepdim=True)  # (B, 1, H, W)
    mean = ((img * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1e-6)).detach().cpu().double().numpy()  # (B, 3)
    return np.array([colorsys.rgb_to_hsv(*(c / max(c.max(), 1e-9)))[0] for c in mean])


def circular_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) and (n,) hues -> (n,) their distance round the colour wheel, in [0, 0.5]."""
    d = np.abs(np.asarray(a) - np.asarray(b)) % 1.0
    return np.minimum(d, 1.0 - d)


class RGBCVAE(nn.Module):
    """The learned RGB mechanism: `abduct` / `decode` over named parents (digit, thickness, intensity, hue)."""

    def __init__(self, cfg: RGBConfig):
        super().__init__()
        self.cfg = cfg
        self.cvae = MorphoCVAE(cfg.cvae())

    def abduct(self, x: torch.Tensor, parents: Values) -> torch.Tensor:
        """RGB images (B, 3, 28, 28) 0-255 -> latents (B, Zt + Zl*49); see `MorphoCVAE.abduct`."""
        return self.cvae.abduct(x, parents)

    def decode(self, latents: torch.Tensor, parents: Values) -> torch.Tensor:
        """Latents (B, Z) -> RGB images (B, 3, 28, 28) 0-255 drawn under `parents`, hue included."""
        return self.cvae.decode(latents, parents)

    def loss(self, x: torch.Tensor, parents: Values, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """The negative ELBO (nats per image); the robust variant adds its counterfactual losses."""
        out = self.cvae.loss(x, parents, beta)
        if not self.cfg.robust:
            return out
        out.update(self.counterfactual_losses(x, parents))
        cfg = self.cfg
        out["loss"] = out["loss"] + cfg.effectiveness_weight * out["effectiveness"] + \
            cfg.cycle_weight * out["cycle"] + cfg.stroke_weight * out["stroke"]
        return out

    def counterfactual_losses(self, x: torch.Tensor, parents: Values) -> dict[str, torch.Tensor]:
        """{effectiveness, cycle, stroke} on do(hue = h') with h' uniform, i.e. drawn independently of the digit."""
        latents = self.abduct(x, parents)  # (B, Z) abduction
        cf_parents = {**parents, "hue": torch.rand_like(parents["hue"])}  # action: (B,) hues from the whole wheel
        x_cf = self.decode(latents, cf_parents)  # (B, 3, 28, 28) prediction
        wanted = chroma(hue_to_rgb(cf_parents["hue"]))  # (B, 2)
        eff = (1.0 - F.cosine_similarity(image_chroma(x_cf), wanted, dim=1)).mean()
        # The cycle target is detached: the counterfactual should keep the stroke, not the stroke follow it.
        cycle = (self.abduct(x_cf, cf_parents) - latents.detach()).pow(2).mean()
        stroke = (x_cf.amax(1) - x.amax(1)).abs().flatten(1).sum(1).mean() / 255.0  # (B, 28, 28) strokes compared
        return {"effectiveness": eff, "cycle": cycle, "stroke": stroke}
