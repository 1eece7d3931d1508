"""Command line: `python -m explorer {train,evaluate,data} ...`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _train(args: argparse.Namespace) -> int:
    from explorer.training.morpho import COMPONENTS, TrainConfig, train_morpho

    comps = tuple(args.only.split(",")) if args.only else COMPONENTS
    bad = set(comps) - set(COMPONENTS)
    if bad:
        print(f"error: unknown component(s) {sorted(bad)}; choose from {', '.join(COMPONENTS)}", file=sys.stderr)
        return 2
    cfg = TrainConfig(components=comps, gen_epochs=args.gen_epochs, clf_epochs=args.clf_epochs,
                      limit=args.limit, devices=args.devices, strategy=args.strategy,
                      command="python -m explorer " + " ".join(sys.argv[1:]))
    if args.out:
        cfg.out = Path(args.out)
    train_morpho(cfg)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from explorer.metrics.evaluate_morpho import evaluate_morpho

    result = evaluate_morpho(n=args.n, seed=args.seed)
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


def _data(args: argparse.Namespace) -> int:
    from explorer.data.morpho import load_morpho
    from explorer.training.datasets import colour_values

    for split in ("train", "val", "test"):
        data = load_morpho(split)
        line = f"{split}: {len(data)} images cached"
        if args.strength is not None:
            hue = colour_values(data, args.strength, data_seed_for_colour(split))["hue"]
            corr = float(np.corrcoef(hue, data.values["digit"])[0, 1])
            line += f"; colour strength {args.strength}: realised corr(hue, digit) = {corr:.3f}"
        print(line)
    return 0


def data_seed_for_colour(split: str) -> int:
    """The hue-noise seeds used by training (train, val) and evaluation (test)."""
    from explorer.data.morpho import DEFAULT_SEED

    return DEFAULT_SEED + {"train": 1, "val": 2, "test": 3}[split]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer", description="Counterfactual Explorer")
    sub = parser.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train the models a page needs")
    tr.add_argument("world", choices=["morpho"])
    tr.add_argument("--only", help="comma-separated: classifier,classifier_hue,oracle,generator")
    tr.add_argument("--gen-epochs", type=int, default=6)
    tr.add_argument("--clf-epochs", type=int, default=2)
    tr.add_argument("--limit", type=int, help="train on the first N samples only")
    tr.add_argument("--devices", type=int, default=1, help="processes / GPUs for DDP")
    tr.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp")
    tr.add_argument("--out", help="folder for checkpoints (default: pretrained/)")
    tr.set_defaults(fn=_train)
    ev = sub.add_parser("evaluate", help="score the shipped models")
    ev.add_argument("world", choices=["morpho"])
    ev.add_argument("--n", type=int, default=1000)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", help="write the metrics here")
    ev.set_defaults(fn=_evaluate)
    da = sub.add_parser("data", help="build the derived-data cache")
    da.add_argument("world", choices=["morpho"])
    da.add_argument("--strength", type=float, help="also report the colour world's realised hue-digit correlation")
    da.set_defaults(fn=_data)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
