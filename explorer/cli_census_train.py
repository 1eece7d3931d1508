"""The command line's `train census`, wired here to keep `__main__.py` short.

`python -m explorer train census [--data world|adult] [--graph partial|learned|fixed|tiers] [--known-arrow P:C ...]
[--arrow-test ALPHA] [--rows N] [--epochs N] [--devices N] [--strategy ddp|auto] [--out FOLDER]` trains the tabular
causal-layer VAE (explorer/training/census_vae.py) on census-world rows (`world`, the model `evaluate census`
scores against the TRUE counterfactuals) or on the real Adult training rows (`adult`), and writes
weights.safetensors + card.json to pretrained/census-vae-<data>.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from explorer.cli_checks import count, real

Handler = Callable[[argparse.Namespace], int]


def add_census_train(tr: argparse.ArgumentParser, others: Handler) -> None:
    """Adds `--data` to the `train` subcommand `tr` and sends `train census` here; other worlds stay with `others`."""
    tr.add_argument("--data", choices=["world", "adult"], default="world",
                    help="census: train on census-world rows (scored against truth) or on the real Adult rows")
    tr.add_argument("--known-arrow", action="append", metavar="PARENT:CHILD",
                    help="census: an arrow known to be present, kept while the rest is learned (repeatable)")
    tr.add_argument("--logit-heads", choices=["none", "concepts", "categories"], default="none",
                    help="census: the categorical columns' mechanisms: P(k | parents) from K logits over the parents' "
                         "categories (categories), over their concepts (concepts), or the scalar score alone (none)")
    tr.add_argument("--arrow-test", type=real(0, 1, above=True), metavar="ALPHA",
                    help="census, --graph tiers: decide every arrow the tiers allow before training by a "
                         "likelihood-ratio test at this level (e.g. 0.05), then keep the graph fixed")
    # The census world is a simulator: its training set size is ours to choose (1,000 rows fill a few batches;
    # above a million the training would overrun its 30 minutes on this CPU).
    tr.add_argument("--rows", type=count(1_000, 1_000_000), metavar="N",
                    help="census, --data world: world rows sampled for training (default 30,000)")

    def route(args: argparse.Namespace) -> int:
        if args.world == "census":
            return census_train_command(args)
        if args.rows is not None:
            print(f"error: --rows is for train census --data world only, not {args.world}", file=sys.stderr)
            return 2
        if args.graph == "tiers":  # the tiers are the census graph's published order; no other world has them
            print(f"error: --graph tiers is for census only; {args.world} takes partial, learned or fixed",
                  file=sys.stderr)
            return 2
        return others(args)

    tr.set_defaults(fn=route)


def census_train_command(args: argparse.Namespace) -> int:
    from explorer.training.census_vae import CensusVAETrainConfig, train_census_vae

    if args.rows is not None and args.data != "world":  # Adult's rows are what they are: 27,156 complete ones
        print("error: --rows sets how many census-world rows to sample; it needs --data world, not --data "
              f"{args.data}", file=sys.stderr)
        return 2
    try:
        cfg = CensusVAETrainConfig(data=args.data, graph=args.graph, devices=args.devices, strategy=args.strategy,
                                   known=tuple(args.known_arrow or ()), arrow_test=args.arrow_test or 0.0,
                                   logit_heads="" if args.logit_heads == "none" else args.logit_heads,
                                   command="python -m explorer " + " ".join(sys.argv[1:]),
                                   **({"n_world": args.rows} if args.rows is not None else {}))
    except ValueError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    if args.epochs is not None:
        # fewer epochs than the default: the graph is learned for the same share of them
        cfg.harden_epoch = min(cfg.harden_epoch, max(1, args.epochs * cfg.harden_epoch // cfg.epochs))
        cfg.graph_warmup = min(cfg.graph_warmup, cfg.harden_epoch // 4)
        cfg.epochs = args.epochs
    if args.out:
        cfg.out = Path(args.out)
    train_census_vae(cfg)
    return 0
