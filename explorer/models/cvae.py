"""Conditional VAE image mechanism for Morpho-MNIST with two latent levels.

x ~ p(x | z_top, z_loc, parents): `z_top` (a vector) holds the digit's global style, `z_loc` (a 7x7
map with few channels) holds where the stroke runs. Parents enter every decoder block through FiLM,
so thickness and intensity are rendered by the decoder rather than read from the latents; the prior
of z_loc is conditioned on z_top and the parents (the hierarchical part). A counterfactual keeps the
abducted latents and changes the parents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.types import Values

T_MEAN, T_SD = 2.5, 0.7
I_MEAN, I_SD = 160.0, 50.0


@dataclass
class CVAEConfig:
    """Architecture of the generator; stored in every checkpoint's card."""

    channels: int = 1
    width: int = 64
    z_top: int = 16
    z_loc: int = 2  # channels of the 7x7 latent map
    n_digits: int = 10
    with_hue: bool = False
    abduct_residual: bool = True  # abduct z_loc's noise relative to its conditional prior (see abduct)
    # Apply the known last step of the Morpho mechanism to the decoder's output: rescale so the median
    # foreground pixel equals `intensity` (see `known_intensity`). Off = the network's raw drawing.
    intensity_layer: bool = True

    @property
    def cond_dim(self) -> int:
        return self.n_digits + 2 + (2 if self.with_hue else 0)

    def to_dict(self) -> dict:
        return asdict(self)


def encode_parents(parents: Values, cfg: CVAEConfig) -> torch.Tensor:
    """Named parents -> a (B, cond_dim) vector: one-hot digit, standardised thickness and intensity.

    The digit may also come as (B, 10) class probabilities: a relaxed digit, through which a counterfactual
    search can move by gradient (`explorer/counterfactual/search/aip.py`).
    """
    d = parents["digit"]
    digit = d.float() if d.dim() == 2 else F.one_hot(d.long(), cfg.n_digits).float()  # (B, 10)
    t = ((parents["thickness"].float() - T_MEAN) / T_SD)[:, None]  # (B, 1)
    i = ((parents["intensity"].float() - I_MEAN) / I_SD)[:, None]  # (B, 1)
    parts = [digit, t, i]
    if cfg.with_hue:
        angle = 2 * torch.pi * parents["hue"].float()
        parts += [torch.cos(angle)[:, None], torch.sin(angle)[:, None]]  # hue is circular
    return torch.cat(parts, dim=1)


def known_intensity(img: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
    """Rescales each image so its median foreground pixel (>= half its peak) equals `intensity`.

    This is the published final step of the Morpho-MNIST image mechanism, applied as a fixed layer:
    the network still draws the whole image, but a VAE's slightly soft edges pull the foreground
    median ~15 grey levels low (measured on the validation split), which this known step removes.
    """
    grey = img.amax(dim=1, keepdim=True)  # (B, 1, 28, 28): the stroke before any tint
    peak = grey.amax(dim=(2, 3), keepdim=True)  # (B, 1, 1, 1)
    fg = torch.where(grey >= 0.5 * peak, grey, torch.full_like(grey, float("nan")))
    median = torch.nanmedian(fg.flatten(1), dim=1).values.nan_to_num(1.0).clamp_min(1e-3)  # (B,)
    gain = intensity.to(img) / median  # (B,)
    return (img * gain[:, None, None, None]).clamp(0.0, 255.0)


class FiLMBlock(nn.Module):
    """Conv -> GroupNorm -> FiLM(cond) -> SiLU, with a residual path."""

    def __init__(self, width: int, cond_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.norm = nn.GroupNorm(min(8, width // 4), width, affine=False)
        self.film = nn.Linear(cond_dim, 2 * width)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)  # (B, W, 1, 1) each
        return h + F.silu(self.norm(self.conv(h)) * (1 + scale) + shift)


class Encoder(nn.Module):
    """q(z_top, z_loc | x, parents)."""

    def __init__(self, cfg: CVAEConfig):
        super().__init__()
        w = cfg.width
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.channels, w // 4, 3, padding=1), nn.SiLU(),  # (B, W/4, 28, 28)
            nn.Conv2d(w // 4, w // 2, 4, stride=2, padding=1), nn.SiLU(),  # (B, W/2, 14, 14)
            nn.Conv2d(w // 2, w, 4, stride=2, padding=1), nn.SiLU(),  # (B, W, 7, 7)
        )
        self.block = FiLMBlock(w, cfg.cond_dim)
        self.loc = nn.Conv2d(w, 2 * cfg.z_loc, 1)
        self.top = nn.Sequential(nn.Flatten(), nn.Linear(w * 49 + cfg.cond_dim, 256), nn.SiLU(),
                                 nn.Linear(256, 2 * cfg.z_top))

    def forward(self, x: torch.Tensor, cond: torch.Tensor):
        h = self.block(self.stem(x), cond)  # (B, W, 7, 7)
        mu_loc, lv_loc = self.loc(h).chunk(2, dim=1)  # (B, Zl, 7, 7) each
        mu_top, lv_top = self.top[1:](torch.cat([self.top[0](h), cond], 1)).chunk(2, dim=1)  # (B, Zt)
        return (mu_top, lv_top.clamp(-8, 4)), (mu_loc, lv_loc.clamp(-8, 4))


class Decoder(nn.Module):
    """p(z_loc | z_top, parents) and p(x | z_top, z_loc, parents)."""

    def __init__(self, cfg: CVAEConfig):
        super().__init__()
        w, c = cfg.width, cfg.cond_dim
        self.prior_loc = nn.Sequential(nn.Linear(cfg.z_top + c, 256), nn.SiLU(), nn.Linear(256, 2 * cfg.z_loc * 49))
        self.fc = nn.Linear(cfg.z_top + c, w * 49)
        self.inp = nn.Conv2d(w + cfg.z_loc, w, 3, padding=1)
        # Width halves as resolution doubles: most compute stays at 7x7, which keeps CPU training fast.
        self.b7 = nn.ModuleList([FiLMBlock(w, c), FiLMBlock(w, c)])
        self.to14 = nn.Conv2d(w, w // 2, 1)
        self.b14 = nn.ModuleList([FiLMBlock(w // 2, c), FiLMBlock(w // 2, c)])
        self.to28 = nn.Conv2d(w // 2, w // 4, 1)
        self.b28 = nn.ModuleList([FiLMBlock(w // 4, c)])
        self.out = nn.Conv2d(w // 4, cfg.channels, 3, padding=1)
        self.cfg = cfg

    def loc_prior(self, z_top: torch.Tensor, cond: torch.Tensor):
        mu, lv = self.prior_loc(torch.cat([z_top, cond], 1)).view(-1, 2 * self.cfg.z_loc, 7, 7).chunk(2, dim=1)
        return mu, lv.clamp(-8, 4)  # (B, Zl, 7, 7) each

    def forward(self, z_top: torch.Tensor, z_loc: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z_top, cond], 1)).view(-1, self.cfg.width, 7, 7)  # (B, W, 7, 7)
        h = F.silu(self.inp(torch.cat([h, z_loc], 1)))
        for block in self.b7:
            h = block(h, cond)  # (B, W, 7, 7)
        h = self.to14(F.interpolate(h, scale_factor=2, mode="nearest"))  # (B, W/2, 14, 14)
        for block in self.b14:
            h = block(h, cond)
        h = self.to28(F.interpolate(h, scale_factor=2, mode="nearest"))  # (B, W/4, 28, 28)
        for block in self.b28:
            h = block(h, cond)
        return self.out(h)  # (B, C, 28, 28) logits


class MorphoCVAE(nn.Module):
    """The learned image mechanism: `abduct` / `decode` over named parents; images on 0-255."""

    def __init__(self, cfg: CVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def _split(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_top = latents[:, : self.cfg.z_top]  # (B, Zt)
        z_loc = latents[:, self.cfg.z_top:].view(-1, self.cfg.z_loc, 7, 7)  # (B, Zl, 7, 7)
        return z_top, z_loc

    def abduct(self, x: torch.Tensor, parents: Values) -> torch.Tensor:
        """Exogenous noise of the image: (B, Zt + Zl*49).

        z_top is its own noise (its prior is N(0, I)). z_loc has a prior that depends on z_top and the
        parents, so its noise is the standardised residual u_loc = (z_loc - mu_p) / sigma_p: decoding
        under new parents re-applies the new prior to the same residual (as in causal-gen's HVAE).
        """
        cond = encode_parents(parents, self.cfg)
        (mu_top, _), (mu_loc, _) = self.encoder(x / 255.0, cond)
        if not self.cfg.abduct_residual:
            return torch.cat([mu_top, mu_loc.flatten(1)], 1)
        pm, plv = self.decoder.loc_prior(mu_top, cond)  # (B, Zl, 7, 7) each
        u_loc = (mu_loc - pm) / (0.5 * plv).exp()
        return torch.cat([mu_top, u_loc.flatten(1)], 1)

    def decode(self, latents: torch.Tensor, parents: Values) -> torch.Tensor:
        """Images (B, C, 28, 28) on 0-255 from exogenous noise (see `abduct`) under `parents`."""
        z_top, z_loc = self._split(latents)
        cond = encode_parents(parents, self.cfg)
        if self.cfg.abduct_residual:
            pm, plv = self.decoder.loc_prior(z_top, cond)
            z_loc = pm + (0.5 * plv).exp() * z_loc  # residual -> latent under these parents
        img = torch.sigmoid(self.decoder(z_top, z_loc, cond)) * 255.0  # (B, C, 28, 28)
        return known_intensity(img, parents["intensity"]) if self.cfg.intensity_layer else img

    def loss(self, x: torch.Tensor, parents: Values, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """Negative ELBO per image (nats), with its reconstruction and the two KL terms."""
        target = x / 255.0  # (B, C, 28, 28) in [0, 1]
        cond = encode_parents(parents, self.cfg)
        (mu_t, lv_t), (mu_l, lv_l) = self.encoder(target, cond)
        z_top = mu_t + torch.randn_like(mu_t) * (0.5 * lv_t).exp()
        z_loc = mu_l + torch.randn_like(mu_l) * (0.5 * lv_l).exp()
        logits = self.decoder(z_top, z_loc, cond)
        recon = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
        kl_top = 0.5 * (mu_t.pow(2) + lv_t.exp() - 1 - lv_t).sum(1)
        pm, plv = self.decoder.loc_prior(z_top, cond)
        kl_loc = 0.5 * (plv - lv_l + (lv_l.exp() + (mu_l - pm).pow(2)) / plv.exp() - 1).flatten(1).sum(1)
        total = recon + beta * (kl_top + kl_loc)
        return {"loss": total.mean(), "recon": recon.mean(), "kl_top": kl_top.mean(), "kl_loc": kl_loc.mean()}
