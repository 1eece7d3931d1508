"""Black-box AIP with only the style free, on the three shipped classifiers: how many answers, and how many hold.

Black-box AIP (explorer/counterfactual/search/blackbox.py) only reads a classifier, so it runs here on the
shipped models as it would on an uploaded ONNX model. With the digit and latent locked every answer is a pure
do(), whose TRUE counterfactual the world renders: `holds_on_true` is whether that flips the classifier too, as in
`evaluate search`. `declined` counts the searches that found a flip the generator may have made
(explorer/counterfactual/search/vouching.py) and said so instead of answering.

Usage: `PYTHONPATH=. .venv/bin/python bench/search_style_blackbox.py [--n 200]`; writes
bench/results/search_style_blackbox.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from explorer.counterfactual.search.base import Query, SearchConfig
from explorer.counterfactual.search.blackbox import BlackBoxAIPSearch
from explorer.counterfactual.search.space import MorphoSpace
from explorer.counterfactual.search.vouching import PREFIX
from explorer.data.mnist import load_mnist
from explorer.evaluate.search import CHUNK, CLASSIFIERS, holds_on_true, queries
from explorer.registry import MORPHO, load_classifier, load_generator
from explorer.scm import morphology

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    device = torch.device("cpu")  # as the server runs an uploaded model's search
    space = MorphoSpace(load_generator(device)[0], device)
    sources = load_mnist("test").images
    out: dict[str, float] = {"n": args.n}
    for name in CLASSIFIERS:
        clf, start = load_classifier(name, device), time.time()
        query, index = queries(args.n, name == MORPHO["classifier_hue"], seed=0)
        found, holds, declined = [], [], 0
        for s in range(0, args.n, CHUNK):
            sl = slice(s, s + CHUNK)
            part = Query(query.grey[sl], {a: v[sl] for a, v in query.obs.items()},
                         {a: v[sl] for a, v in query.noise.items()}, query.coloured)
            result = BlackBoxAIPSearch(space).search(part, clf, None, SearchConfig(locks=("digit", "latent")))
            skels = [morphology.skeleton(sources[i]) for i in index[sl]]
            found += result.found.tolist()
            holds += holds_on_true(clf, result, part, skels)[result.found].tolist()
            declined += sum(note.startswith(PREFIX) for note in result.notes)
        out |= {f"{name}.success": float(np.mean(found)), f"{name}.n_found": int(sum(found)),
                f"{name}.holds_on_true": float(np.mean(holds)) if holds else float("nan"),
                f"{name}.declined": declined, f"{name}.seconds": time.time() - start}
        print({k: v for k, v in out.items() if k.startswith(name)}, flush=True)
    path = Path(__file__).parent / "results" / "search_style_blackbox.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written to {path}")
