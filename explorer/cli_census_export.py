"""The command line's `export census`, wired here to keep `__main__.py` short.

`python -m explorer export census --cut sex:occupation [--cut ...] --n N --seed S [--model M] --out FILE.csv`
writes FILE.csv (the de-biased rows, explorer/counterfactual/census_debias.py) and FILE.card.json (what was cut,
by which model, how, the dependence of every pair before and after). `--model world` (the default) exports from
the census world's TRUE mechanisms; `learned-world` and `learned-adult` from the learned tabular VAE
(pretrained/census-vae-world on world rows, pretrained/census-vae-adult on real Adult training rows), whose cuts
must be arrows of its LEARNED graph. An unknown model, a cut in a bad format or naming no arrow of the graph, a
missing model or a size out of range is one `error:` line and exit status 2 before anything is written; both
files are written whole (`save`), and the CSV is removed again if the card cannot be written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from explorer.cli_checks import save

Handler = Callable[[argparse.Namespace], int]
MODELS = ("world", "learned-world", "learned-adult")  # census_debias.MODELS (a test checks they agree)


def add_census_export(ex: argparse.ArgumentParser, others: Handler) -> None:
    """Adds `--model` and sends `export census` here; the other worlds of `ex` stay with `others`."""
    ex.add_argument("--model", default="world", metavar="|".join(MODELS),
                    help="census: world (TRUE mechanisms, default), learned-world or learned-adult (the learned VAE; "
                         "cuts must be arrows of its learned graph)")
    ex.set_defaults(fn=lambda args: census_export_command(args) if args.world == "census" else others(args))


def card_path(out: str | Path) -> Path:
    """FILE.csv -> FILE.card.json, beside it."""
    return Path(out).with_suffix(".card.json")


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def census_export_command(args: argparse.Namespace) -> int:
    """`export census`: checks the cuts, exports, then writes the CSV and its card whole."""
    import time

    from explorer.checkpoints import CheckpointError
    from explorer.counterfactual.census_debias import card_text, export_learned, export_world, to_csv

    start = time.time()
    model = getattr(args, "model", "world")
    if model not in MODELS:
        return _fail(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if not args.cut:
        return _fail("export census needs at least one --cut PARENT:CHILD, e.g. --cut sex:occupation")
    try:
        if model == "world":
            frame, card = export_world(args.cut, n=args.n, seed=args.seed)
        else:
            frame, card = export_learned(model, args.cut, n=args.n, seed=args.seed)
    except (ValueError, CheckpointError) as err:
        return _fail(str(err))
    out, card_out = Path(args.out), card_path(args.out)
    save(out, to_csv(frame))
    try:
        save(card_out, card_text(card))
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    source = "the census world" if model == "world" else f"the learned model {card['model']}"
    print(f"exported {len(frame):,} rows of {source} (seed {args.seed}) in {time.time() - start:.1f} s "
          f"to {out} and {card_out}")
    pairs = card["pairs"]
    for cut in card["cuts"]:
        key = cut if cut in pairs else ":".join(reversed(cut.split(":")))
        print(f"cut {cut.replace(':', ' -> ')}: dependence {pairs[key]['before']:.3f} before, "
              f"{pairs[key]['after']:.3f} after")
    for remain in card["remaining_paths"]:
        if remain["paths"]:
            print(f"note: {remain['note']}")
    return 0
