"""AIP's style-only answers on test digits drawn with another seed: a check of the declining rule
(explorer/counterfactual/search/aip.py, `_style`) on digits it was not built from.

`evaluate search` draws its 500 test digits with seed 0, and the rule was designed while looking at the first 200
of them; this draws 500 with `--seed` (default 1; about 24 digits are shared with seed 0's) and runs AIP in the
style_only mode only, on the three shipped classifiers, with the same metrics.

Usage: `PYTHONPATH=. .venv/bin/python bench/search_style_heldout.py [--seed 1] [--n 500] [--split val]
[--generator DIR --tag NAME] [--classifiers a,b] [--answer-margin]`; writes bench/results/evaluate_search_style[_val][_NAME]_seed<seed>.json.
Chunks are kept in .cache/evaluate-search/ as `evaluate search` keeps them: a stopped run goes on where it stopped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.space import BIAS_DIGITS, MorphoSpace
from explorer.device import pick_device
from explorer.evaluate.search import CLASSIFIERS, evaluate_search, queries
from explorer.paths import PRETRAINED
from explorer.registry import MORPHO, load_generator

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--split", default="test", choices=("test", "val"),
                        help="val: validation digits, where a rule may be chosen without looking at test digits")
    parser.add_argument("--generator", type=Path, default=PRETRAINED / MORPHO["generator"],
                        help="a generator's folder (default: the shipped one)")
    parser.add_argument("--tag", default="", help="added to the output's name (e.g. for another generator)")
    parser.add_argument("--classifiers", default=",".join(CLASSIFIERS))
    parser.add_argument("--answer-margin", action="store_true",
                        help="also require the generator's counterfactual bias at the answer's thickness (cf_bias.py)")
    args = parser.parse_args()
    device = pick_device()
    space = MorphoSpace(load_generator(device, args.generator)[0], device,
                        cf_digits=BIAS_DIGITS if args.answer_margin else 0)
    r = evaluate_search(n=args.n, seed=args.seed, methods={"aip": AIPSearch(space)}, modes=("style_only",),
                        classifiers=tuple(args.classifiers.split(",")), progress=lambda m: print(m, flush=True),
                        # kept chunks are named by the code, not by this switch: a run with it starts afresh
                        split=args.split, generator=args.generator, resume=not args.answer_margin)
    if args.split == "test":
        shared = set(queries(args.n, False, 0)[1].tolist()) & set(queries(args.n, False, args.seed)[1].tolist())
        r["overlap_with_seed0_digits"] = len(shared)
    tag = ("" if args.split == "test" else f"_{args.split}") + (f"_{args.tag}" if args.tag else "")
    out = Path(__file__).parent / "results" / f"evaluate_search_style{tag}_seed{args.seed}.json"
    out.write_text(json.dumps(r, indent=1))
    print({k: round(v, 3) for k, v in r.items() if k.endswith(("success", "holds_on_true"))})
