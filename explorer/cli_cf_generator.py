"""Issue 19's subcommands, wired here to keep `__main__.py` short.

`python -m explorer train cf-generator --strength S [--variant plain|robust] [--epochs N] [--limit N]
[--devices N] [--strategy ddp|auto] [--out FOLDER]` trains the RGB generator that draws hue itself on the colour
world's training split at confounding strength S (explorer/training/rgb_generator.py; docs/confounding.md)
and writes pretrained/rgb-cvae-<variant>-s<S>.

`python -m explorer train cf-training --strength S --method M [--seed K] [--epochs N] [--limit N] [--out FOLDER]`
trains one classifier of the grid (explorer/training/cf_training.py) into the runs folder (default
.cache/cf-training/); `python -m explorer evaluate cf-training [--folder RUNS] [--limit N] [--json PATH]` scores
every run found there (explorer/evaluate/cf_training.py) on the 10,000 test digits (or the first N).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from explorer.cli_checks import real, save

# Literal so that building the parser imports no torch; tests/test_cf_training.py checks it equals the trainer's.
CF_METHODS = ("erm", "cf_augment", "cf_regularise", "grad_supervision", "grad_supervision_random", "true_augment",
              "unconfounded")


def add_cf_generator_train(tr: argparse.ArgumentParser) -> None:
    """Adds `--strength` and `--variant` to the `train` subcommand `tr` and sends `train cf-generator` here; every
    other world goes where `tr` sent it before."""
    others = tr.get_default("fn")
    tr.add_argument("--strength", type=real(0, 1), help="cf-generator, cf-training: the colour world's confounding "
                                                        "strength, e.g. 0, 0.9, 0.99 or 1")
    tr.add_argument("--variant", choices=["plain", "robust"], default="plain",
                    help="cf-generator: plain, or robust (trained to change hue whatever the confounding)")
    tr.set_defaults(fn=lambda args: cf_generator_command(args) if args.world == "cf-generator" else others(args))


def add_cf_training(tr: argparse.ArgumentParser, ev: argparse.ArgumentParser) -> None:
    """Adds `--method` to `train` and sends `train cf-training` and `evaluate cf-training` here."""
    train_others, eval_others = tr.get_default("fn"), ev.get_default("fn")
    tr.add_argument("--method", choices=CF_METHODS, help="cf-training: how the classifier uses counterfactuals")
    tr.set_defaults(fn=lambda args: cf_training_command(args) if args.world == "cf-training" else train_others(args))
    ev.set_defaults(fn=lambda args: cf_training_evaluate(args) if args.world == "cf-training" else eval_others(args))


def _missing(args: argparse.Namespace, command: str, needed: dict[str, str]) -> bool:
    for flag, example in needed.items():
        if getattr(args, flag) is None:
            print(f"error: {command} needs --{flag}, e.g. --{flag} {example}", file=sys.stderr)
            return True
    return False


def _optional(args: argparse.Namespace, *names: str) -> dict:
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def cf_generator_command(args: argparse.Namespace) -> int:
    if _missing(args, "train cf-generator", {"strength": "0.99"}):
        return 2
    from explorer.paths import PRETRAINED
    from explorer.training.run_configs import RGBTrainConfig  # the trainer (with Lightning) only once it is right

    try:
        cfg = RGBTrainConfig(strength=args.strength, variant=args.variant, devices=args.devices,
                             strategy=args.strategy, out=Path(args.out) if args.out else PRETRAINED,
                             command="python -m explorer " + " ".join(sys.argv[1:]),
                             **_optional(args, "epochs", "limit"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from explorer.training.rgb_generator import train_rgb_generator

    train_rgb_generator(cfg)
    return 0


def cf_training_command(args: argparse.Namespace) -> int:
    if _missing(args, "train cf-training", {"strength": "0.99", "method": "cf_regularise"}):
        return 2
    from explorer.training.run_configs import CFTrainConfig

    try:
        cfg = CFTrainConfig(strength=args.strength, method=args.method, devices=args.devices, strategy=args.strategy,
                            command="python -m explorer " + " ".join(sys.argv[1:]),
                            **({"out": Path(args.out)} if args.out else {}),
                            **_optional(args, "epochs", "limit", "seed"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from explorer.checkpoints import CheckpointError
    from explorer.training.cf_training import train_cf_classifier  # Lightning: only for a run that can start

    try:
        train_cf_classifier(cfg)
    except (ValueError, CheckpointError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0


def cf_training_evaluate(args: argparse.Namespace) -> int:
    from explorer.evaluate.cf_training import evaluate_cf_training, find_runs, to_markdown
    from explorer.training.run_configs import runs_dir

    folder = Path(args.folder) if args.folder else runs_dir()
    if not find_runs(folder):
        print(f"error: no cf-training runs in {folder}; train some first, e.g. python -m explorer train "
              "cf-training --strength 0.99 --method erm", file=sys.stderr)
        return 2
    result = evaluate_cf_training(folder, n=args.limit, seed=args.seed)
    if args.json:  # written whole, after the evaluation
        save(args.json, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(to_markdown(result))
    return 0


