"""Trains the RGB generator (plain or robust) on ONE confounded world's training split (issue 19, section 2).

    python -m explorer.training.rgb_generator --strength 0.99 --variant robust

Each run sees only the training split of its own strength (`explorer/datasets/confounded.py`), a subset of it so
that all eight runs (4 strengths x 2 variants) fit in 45 minutes on a shared 2-core CPU, and writes
`pretrained/rgb-cvae-<variant>-s<strength>/` with its card (data, strength, epochs, validation loss, time,
command); the registry knows the folder names and loads them (`load_rgb_generator`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from explorer import checkpoints
from explorer.datasets.confounded import STRENGTHS, ConfoundedData, load_confounded
from explorer.datasets.morpho import MorphoData
from explorer.device import pick_device
from explorer.metrics.split_confounding import digit_hue
from explorer.models.rgb_cvae import RGBCVAE, RGBConfig
from explorer.paths import PRETRAINED
from explorer.registry import rebuild_rgb_generator as rebuild_command, rgb_generator_folder as folder_name
from explorer.training.datasets import MorphoTorch
from explorer.training.modules import GeneratorModule, PrintProgress
from explorer.training.run_configs import VARIANTS, RGBTrainConfig


class RGBGeneratorModule(GeneratorModule):
    """The generator's training step, also logging the robust variant's counterfactual losses."""

    def training_step(self, batch, _):
        x, parents = batch
        out = self.model.loss(x, parents, min(1.0, (self.global_step + 1) / self.warmup))
        self.log_dict({k: v for k, v in out.items() if k in ("loss", "recon", "effectiveness", "cycle", "stroke")},
                      prog_bar=True, on_step=True)
        return out["loss"]


def torch_split(data: ConfoundedData) -> MorphoTorch:
    """(RGB image (3, 28, 28) 0-255, parents with hue) pairs: the known tint applied per item, on the fly."""
    return MorphoTorch(MorphoData(data.grey, data.noise, data.values), data.values["hue"])


def validation_loss(model: RGBCVAE, val: MorphoTorch, device: torch.device, batch: int = 500) -> dict[str, float]:
    """Mean negative ELBO (nats per image) and reconstruction L1 (0-255) on the validation split."""
    model.eval().to(device)  # after fit the weights may sit wherever Lightning trained them
    torch.manual_seed(0)  # the ELBO samples its latents: the same draw every time
    elbo, l1 = [], []
    with torch.inference_mode():
        for s in range(0, len(val), batch):
            rows = range(s, min(s + batch, len(val)))
            x = torch.stack([val[k][0] for k in rows]).to(device)  # (b, 3, 28, 28)
            parents = {name: v[list(rows)].to(device) for name, v in val.values.items()}
            elbo.append(float(model.cvae.loss(x, parents)["loss"]) * len(rows))
            l1.append(float((model.decode(model.abduct(x, parents), parents) - x).abs().mean()) * len(rows))
    return {"val_neg_elbo": sum(elbo) / len(val), "val_recon_l1_0_255": sum(l1) / len(val)}


def train_rgb_generator(cfg: RGBTrainConfig) -> dict:
    """Trains one (variant, strength), saves it with its card, and returns the card."""
    if cfg.variant not in VARIANTS:
        raise ValueError(f"unknown variant {cfg.variant!r}; expected one of {VARIANTS}")
    torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True)
    train_data = load_confounded("train", cfg.strength, cfg.seed, cfg.limit)
    train = torch_split(train_data)
    val = torch_split(load_confounded("val", cfg.strength, cfg.seed, cfg.val_limit))
    model_cfg = RGBConfig(robust=cfg.variant == "robust")
    model = RGBCVAE(model_cfg)
    name = folder_name(cfg.variant, cfg.strength)
    tty = sys.stdout.isatty()
    trainer = L.Trainer(max_epochs=cfg.epochs, accelerator="auto", devices=cfg.devices, strategy=cfg.strategy,
                        logger=False, enable_checkpointing=False, enable_model_summary=False,
                        num_sanity_val_steps=0, enable_progress_bar=tty,
                        callbacks=[] if tty else [PrintProgress(name)])
    start = time.time()
    trainer.fit(RGBGeneratorModule(model, lr=cfg.lr, warmup=cfg.warmup),
                DataLoader(train, batch_size=cfg.batch, shuffle=True, drop_last=True))
    seconds = time.time() - start
    if not trainer.is_global_zero:
        return {}
    metrics = {**validation_loss(model, val, pick_device()), "train_seconds": seconds,
               "train_digit_hue_confounding": digit_hue(train_data.values)}
    card = {
        "kind": "rgb-generator", "variant": cfg.variant, "strength": cfg.strength, "config": model_cfg.to_dict(),
        "description": f"RGB conditional VAE that draws the hue itself ({cfg.variant}), trained on the colour "
                       f"world where hue follows the digit with probability {cfg.strength:g}.",
        "data": f"confounded colour Morpho-MNIST, train split at strength {cfg.strength:g}: first {len(train)} "
                f"images (seed {cfg.seed}); first {len(val)} of the val split for metrics",
        "seed": cfg.seed, "metrics": metrics, "command": cfg.command or rebuild_command(cfg.variant, cfg.strength),
        "train": {k: v for k, v in asdict(cfg).items() if k in ("epochs", "limit", "batch", "lr", "warmup",
                                                                "threads", "devices", "strategy")},
    }
    checkpoints.save(cfg.out / name, model.state_dict(), card)
    print(f"[{name}] {seconds / 60:.1f} min; validation -ELBO {metrics['val_neg_elbo']:.1f} nats, "
          f"reconstruction L1 {metrics['val_recon_l1_0_255']:.2f}", flush=True)
    return card


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m explorer.training.rgb_generator", description=__doc__.split("\n")[0])
    p.add_argument("--strength", type=float, required=True, help=f"confounding strength, e.g. one of {STRENGTHS}")
    p.add_argument("--variant", choices=VARIANTS, default="plain")
    p.add_argument("--epochs", type=int, default=RGBTrainConfig.epochs)
    p.add_argument("--limit", type=int, default=RGBTrainConfig.limit)
    p.add_argument("--threads", type=int, default=RGBTrainConfig.threads)
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--strategy", default="auto")
    p.add_argument("--out", type=Path, default=PRETRAINED)
    args = p.parse_args(argv)
    if not 0.0 <= args.strength <= 1.0:
        p.error(f"--strength must be in [0, 1], got {args.strength}")
    command = "python -m explorer.training.rgb_generator " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    train_rgb_generator(RGBTrainConfig(**{k: v for k, v in vars(args).items()}, command=command))


if __name__ == "__main__":
    main()
