"""The command line's `train cf-generator`, wired here to keep `__main__.py` short.

`python -m explorer train cf-generator --strength S [--variant plain|robust] [--epochs N] [--limit N]
[--devices N] [--strategy ddp|auto] [--out FOLDER]` trains the RGB generator that draws hue itself on the colour
world's training split at confounding strength S (explorer/training/rgb_generator.py; issue 19, docs/confounding.md)
and writes pretrained/rgb-cvae-<variant>-s<S>.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer.cli_checks import real


def add_cf_generator_train(tr: argparse.ArgumentParser) -> None:
    """Adds `--strength` and `--variant` to the `train` subcommand `tr` and sends `train cf-generator` here; every
    other world goes where `tr` sent it before."""
    others = tr.get_default("fn")
    tr.add_argument("--strength", type=real(0, 1), help="cf-generator: the colour world's confounding strength, "
                                                        "e.g. 0, 0.9, 0.99 or 1")
    tr.add_argument("--variant", choices=["plain", "robust"], default="plain",
                    help="cf-generator: plain, or robust (trained to change hue whatever the confounding)")
    tr.set_defaults(fn=lambda args: cf_generator_command(args) if args.world == "cf-generator" else others(args))


def cf_generator_command(args: argparse.Namespace) -> int:
    from explorer.paths import PRETRAINED
    from explorer.training.rgb_generator import RGBTrainConfig, train_rgb_generator

    if args.strength is None:
        print("error: train cf-generator needs --strength, e.g. --strength 0.99", file=sys.stderr)
        return 2
    try:
        cfg = RGBTrainConfig(strength=args.strength, variant=args.variant, devices=args.devices,
                             strategy=args.strategy, out=Path(args.out) if args.out else PRETRAINED,
                             command="python -m explorer " + " ".join(sys.argv[1:]),
                             **({"epochs": args.epochs} if args.epochs is not None else {}),
                             **({"limit": args.limit} if args.limit is not None else {}))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    train_rgb_generator(cfg)
    return 0
