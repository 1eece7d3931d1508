"""Counterfactual search speed: AIP against the pixel baseline in the same run (the ratio is the figure).

1. Per query: batch of 1, one torch thread (as the server runs a visitor's search), target "any other class",
   on the first N test digits, each method in turn on the same digits.
2. Batched: all N digits in one call, the machine's threads; queries per second.
The decoder's forward and backward are AIP's cost; the pixel search runs the classifier only.

3. `--mode style_only`: the digit and the latent locked, only thickness, intensity (and hue) move: AIP scans that
   small box (style_scan.py) where the pixel search still edits pixels.

Usage: `python bench/bench_search.py [--n 20] [--classifier morpho-cnn] [--mode any|style_only]`; writes
bench/results/search.json (search_style_only.<classifier>.json with --mode style_only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from common import print_table, stats, write

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from explorer.counterfactual.search.base import SearchConfig  # noqa: E402
from explorer.counterfactual.search.methods import METHODS  # noqa: E402
from explorer.counterfactual.search.space import MorphoSpace  # noqa: E402
from explorer.device import pick_device  # noqa: E402
from explorer.evaluate.search import queries  # noqa: E402
from explorer.registry import MORPHO, load_classifier, load_generator  # noqa: E402


def _slice(query, i: int):
    from explorer.counterfactual.search.base import Query

    sl = slice(i, i + 1)
    return Query(query.grey[sl], {a: v[sl] for a, v in query.obs.items()}, {a: v[sl] for a, v in query.noise.items()},
                 query.coloured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--classifier", default=MORPHO["classifier"])
    parser.add_argument("--mode", choices=["any", "style_only"], default="any")
    args = parser.parse_args()
    device = pick_device()
    space = MorphoSpace(load_generator(device)[0], device)
    clf = load_classifier(args.classifier, device)
    query, _ = queries(args.n, args.classifier == MORPHO["classifier_hue"], seed=0)
    config = SearchConfig(locks=("digit", "latent") if args.mode == "style_only" else ())
    rows, found = {}, {}
    threads = torch.get_num_threads()
    for name in ("aip", "pixel"):
        method = METHODS[name](space)
        method.search(_slice(query, 0), clf, None, config)  # warm-up: first calls allocate
        torch.set_num_threads(1)
        times, hits = [], 0
        for i in range(len(query)):
            start = time.perf_counter()
            hits += int(method.search(_slice(query, i), clf, None, config).found[0])
            times.append(time.perf_counter() - start)
        torch.set_num_threads(threads)
        rows[f"{name}: one query, batch 1, 1 thread"] = stats(times)
        start = time.perf_counter()
        result = method.search(query, clf, None, config)
        rows[f"{name}: {len(query)} queries batched"] = stats([time.perf_counter() - start])
        found[name] = {"batch_1": hits / len(query), "batched": float(result.found.mean())}
    ratio = rows["aip: one query, batch 1, 1 thread"]["median"] / rows["pixel: one query, batch 1, 1 thread"]["median"]
    print_table(f"counterfactual search, {args.classifier}, target any other class, {args.mode}", rows, False, 0.0)
    print(f"ratio AIP / pixel (median, batch 1): {ratio:.2f}x; success {found}")
    path = write("search" if args.mode == "any" else f"search_{args.mode}.{args.classifier}",
                 {"what": "AIP vs the pixel baseline, per query and batched", "classifier": args.classifier,
                  "mode": args.mode, "n": args.n, "seconds": rows, "ratio_aip_over_pixel": ratio, "success": found,
                  "queries_per_s": {m: args.n / rows[f"{m}: {args.n} queries batched"]["median"]
                                    for m in ("aip", "pixel")},
                  "loadavg": os.getloadavg()})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
