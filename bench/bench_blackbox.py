"""Black-box AIP (CMA-ES) against the random search, on a classifier run by onnxruntime, in the same run.

The shipped colour-trained CNN is exported to ONNX here (in memory) and loaded as an uploaded model would be, kept
on onnxruntime (no gradients). On N test digits of the colour world (the page's confounded hue, seed 0), for each
method and mode:
- `any`: any class but the one the classifier reads, everything free;
- `style_only`: the digit and the latent locked, so answers are pure do() sets on thickness, intensity and hue.
Per query at batch 1 (one torch thread, as the server runs a visitor's search): success, the mean attribute
distance of found answers (each SCM value's change over its range, hue the shorter way round, a changed digit 1),
how many attributes were set, how far the latent moved, whether the oracle agrees (`any`: it reads what the
classifier now reads; `style_only`: it still reads the original digit), the logit lead of the class read over the
original class (black-box AIP asks for a margin of 1; the random search takes any flip), in `style_only` whether the
TRUE counterfactual of the found do() flips the classifier too (`holds_on_true`), and ms per query. Then all
N in one batch. Black-box AIP also runs with margin 0, to compare distances with the random search like for like.

Usage: `python bench/bench_blackbox.py [--n 20] [--steps 200]`; writes bench/results/blackbox.json.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np
import torch

from common import print_table, stats, write

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from explorer.counterfactual.search.base import Query, SearchConfig, SearchResult  # noqa: E402
from explorer.counterfactual.search.methods import BLACK_BOX  # noqa: E402
from explorer.counterfactual.search.space import MorphoSpace  # noqa: E402
from explorer.data.mnist import load_mnist  # noqa: E402
from explorer.evaluate.search import holds_on_true, queries  # noqa: E402
from explorer.models.onnx_classifier import load_onnx_classifier  # noqa: E402
from explorer.registry import MORPHO, load_classifier, load_generator  # noqa: E402
from explorer.scm import morphology  # noqa: E402
from explorer.scm.morpho import SPECS  # noqa: E402

MODES = {"any": (), "style_only": ("digit", "latent")}


def onnx_runtime(device: torch.device):
    """The colour-trained CNN, exported to ONNX in memory and run by onnxruntime, checked against torch."""
    torch_clf = load_classifier(MORPHO["classifier_hue"], device)
    x = torch.rand(4, 3, 28, 28) * 255
    buf = io.BytesIO()
    torch.onnx.export(torch_clf.module.cpu().eval(), (x[:1],), buf, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    clf = load_onnx_classifier(buf.getvalue(), name="morpho-cnn-hue (onnxruntime)", prefer_gradients=False)
    with torch.inference_mode():
        gap = float((clf.logits(x) - torch_clf.logits(x)).abs().max())
    assert not clf.differentiable and gap < 1e-3, gap
    return clf


def one(query: Query, i: int) -> Query:
    sl = slice(i, i + 1)
    return Query(query.grey[sl], {a: v[sl] for a, v in query.obs.items()}, {a: v[sl] for a, v in query.noise.items()},
                 query.coloured)


def distance(result: SearchResult, query: Query) -> np.ndarray:
    """(B,) each attribute's change over its range in the SCM's values (hue round the circle), a new digit 1."""
    out = (np.asarray(result.values["digit"]) != query.obs["digit"]).astype(float)
    for a in ("thickness", "intensity", "hue"):
        d = np.abs(np.asarray(result.values[a]) - query.obs[a])
        out += (np.minimum(d, 1.0 - d) if a == "hue" else d) / (SPECS[a].high - SPECS[a].low)
    return out


def summary(results: list[SearchResult], query: Query, clf, oracle, mode: str, skels: list[np.ndarray]
            ) -> dict[str, float]:
    found = np.concatenate([r.found for r in results])
    dist = np.concatenate([distance(r, one(query, i)) for i, r in enumerate(results)])
    images = torch.cat([r.images for r in results])
    with torch.inference_mode():
        says = oracle.predict_proba(images).argmax(1).numpy()
        logits = clf.logits(images).numpy()  # (N, K)
        original = clf.logits(query.images()).numpy().argmax(1)  # (N,) what it read before
    pred = np.concatenate([r.pred for r in results])
    lead = logits[np.arange(len(pred)), pred] - logits[np.arange(len(pred)), original]
    agrees = says == (query.obs["digit"] if mode == "style_only" else pred)
    mean = lambda v: float(v[found].mean()) if found.any() else float("nan")  # noqa: E731
    out = {"success": float(found.mean()), "attr_distance": mean(dist),
           "n_set": mean(np.array([len(d) for r in results for d in r.do], float)),
           "latent_shift": mean(np.concatenate([r.latent_shift for r in results])), "oracle_agrees": mean(agrees),
           "logit_lead": mean(lead), "n_found": int(found.sum())}
    if mode == "style_only":  # a pure do(): does the TRUE counterfactual flip the classifier too?
        holds = np.concatenate([holds_on_true(clf, r, one(query, i), skels[i:i + 1]) for i, r in enumerate(results)])
        out["holds_on_true"] = mean(holds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--steps", type=int, default=SearchConfig().steps)
    args = parser.parse_args()
    device = torch.device("cpu")  # onnxruntime runs on the CPU; so does the server's model thread here
    space = MorphoSpace(load_generator(device)[0], device)
    clf, oracle = onnx_runtime(device), load_classifier(MORPHO["oracle"], device)
    query, index = queries(args.n, True, seed=0)
    sources = load_mnist("test").images
    skels = [morphology.skeleton(sources[i]) for i in index]
    threads, rows, table = torch.get_num_threads(), {}, {}
    runs = [(name, make, 1.0) for name, make in BLACK_BOX.items()]  # the default margin, then like for like:
    runs.append(("aip-blackbox margin 0", BLACK_BOX["aip-blackbox"], 0.0))
    for mode, locks in MODES.items():
        for name, make, margin in runs:
            config, method = SearchConfig(locks=locks, steps=args.steps, margin=margin), make(space)
            method.search(one(query, 0), clf, None, config)  # warm-up: first calls allocate
            torch.set_num_threads(1)
            times, results = [], []
            for i in range(len(query)):
                start = time.perf_counter()
                results.append(method.search(one(query, i), clf, None, config))
                times.append(time.perf_counter() - start)
            torch.set_num_threads(threads)
            start = time.perf_counter()
            batched = method.search(query, clf, None, config)
            seconds = time.perf_counter() - start
            timed = rows[f"{name} {mode}: batch 1, 1 thread"] = stats(times)
            table[f"{name}.{mode}"] = {**summary(results, query, clf, oracle, mode, skels),
                                       "ms_per_query_median": 1000 * timed["median"],
                                       "ms_per_query_p95": 1000 * timed["p95"],
                                       "batched_success": float(batched.found.mean()),
                                       "batched_queries_per_s": len(query) / seconds}
            print(name, mode, {k: round(v, 3) for k, v in table[f"{name}.{mode}"].items()}, flush=True)
    print_table(f"black-box search on {clf.name}, target any other class, {args.n} colour test digits", rows,
                False, 0.0)
    path = write("blackbox", {"what": "black-box AIP (CMA-ES) vs random search, classifier run by onnxruntime",
                              "classifier": clf.name, "engine": clf.engine, "n": args.n, "digits": index.tolist(),
                              "steps": args.steps, "results": table, "seconds": rows, "loadavg": os.getloadavg()})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
