"""The command line's `evaluate census`, wired here to keep `__main__.py` short.

`python -m explorer evaluate census --n 2000 [--seed S] [--json PATH]` prints the ceiling and the two baselines
against the census world's TRUE counterfactuals (explorer/evaluate/census.py) as JSON, and writes it whole to PATH
(`save`); with the learned model pretrained/census-vae-world (or `--folder`, another checkpoint of it) its keys too, and `debias.*`: its de-biased exports of `--debias-n` world rows (default 20,000; 0 skips them)
against the world's (explorer/evaluate/census_debias_eval.py). A size out of range is refused by the parser (one
`error:` line, exit status 2) before the world loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from explorer.cli_checks import count, save

Handler = Callable[[argparse.Namespace], int]


def add_census_evaluate(ev: argparse.ArgumentParser, others: Handler) -> None:
    """Adds `--debias-n` and sends `evaluate census` here; the other worlds of `ev` stay with `others`."""
    ev.add_argument("--debias-n", type=count(0, 1_000_000), default=20_000,
                    help="census: rows of each de-biased export scored against the world's (0: none)")
    ev.set_defaults(fn=lambda args: census_evaluate_command(args) if args.world == "census" else others(args))


def census_evaluate_command(args: argparse.Namespace) -> int:
    from explorer.checkpoints import CheckpointError
    from explorer.evaluate.census import evaluate_census

    try:
        result = evaluate_census(n=args.n, seed=args.seed, model_folder=getattr(args, "folder", None),
                                 debias_n=getattr(args, "debias_n", 20_000))
    except (ValueError, CheckpointError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.json:
        save(args.json, text + "\n")
    print(text)
    return 0
