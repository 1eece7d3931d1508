"""Latency of one sentence through both CausaLM task models (O and CF), with a baseline in the same run.

The pair shares the base encoder's frozen lower layers, so one sentence costs 4 + 2 + 2 transformer layers,
run through the packed inference pass (explorer/models/bert_packed.py). Two baselines in the same run: the
same shared layers through the `transformers` modules (`reference=True`, what shipped before the packed pass),
and the sentence through the full 6-layer MiniLM twice, once per model, as two separately fine-tuned encoders
would need. The ONNX Runtime row runs the same packed layers in ONNX Runtime (explorer/models/bert_ort.py; its
session always has 1 thread, the app's setting, in both thread blocks), as the page does. A last row times the
page's whole call, `TextService.what_if` (the explicit counterfactual text, then both models on the text and on
its rewrite, through ONNX Runtime when it built). Each with torch on 1 and 2 threads (the app uses 1).
Target: < 30 ms per sentence on CPU.

Usage: `PYTHONPATH=. python bench/bench_text.py [--runs 50] [--concept all|adjectives|gender|race]`
(set EXPLORER_PRETRAINED to use other checkpoints).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import numpy as np
import torch

from common import stats, write  # noqa: E402  (bench/ is on the path when run as a script)
from serve import cpu_busy, training_running  # noqa: E402

from explorer.models.text_encoder import mean_pool  # noqa: E402
from explorer.services.text import TextService  # noqa: E402

SENTENCES = {"gender": "My sister was furious about the letter from the landlord.",
             "race": "Lakisha was furious about the letter from the landlord.",
             "adjectives": "A funny, clever and very charming film with a dull ending."}
TARGET_MS = 30.0


def _time(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Seconds per call of each function over `runs` rounds, after 3 warm-up calls each (they allocate and fill
    caches). Each round calls every function once, in turn: timed in blocks, the machine's drift (clock, caches)
    fell on one row alone, and the page call, which does more work, once came out faster than the pair alone."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def _two_full_encoders(pair, sentence: str, level: str):
    """The baseline: tokenise, then the whole 6-layer encoder + head once per model (no shared layers)."""
    def run() -> None:
        with torch.no_grad():
            b = pair.tokenizer([sentence], padding=True, truncation=True, max_length=pair.base.cfg.max_len,
                               return_tensors="pt")
            for which in ("o", "cf"):
                h = pair.base(b["input_ids"], b["attention_mask"])  # (1, T, H): all 6 layers
                torch.softmax(pair.head(which, level)(mean_pool(h, b["attention_mask"])), -1)
    return run


def _bench_concept(service: TextService, concept: str, level: str, runs: int) -> dict:
    """Both thread counts for one concept's sentence: the three rows' stats and the ratio to the baseline."""
    pair = service.load(concept)  # builds the ONNX Runtime pass too, as the page's load does
    sentence = SENTENCES[concept]
    rows: dict = {"sentence": sentence, "tokens": len(pair.tokenizer(sentence)["input_ids"]),
                  "onnx_runtime": pair.ort is not None,
                  "onnx_build_seconds": None if pair.ort is None else pair.ort.build_seconds}
    if pair.ort is not None:
        ort, ref = pair.predict([sentence], level), pair.predict([sentence], level, onnx=False)
        rows["onnx_max_abs_prob_diff"] = max(float(np.abs(ort[w] - ref[w]).max()) for w in ref)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fns = {"shared": lambda: pair.predict([sentence], level, onnx=False),
               "ort": lambda: pair.predict([sentence], level),  # the torch pass again when ORT did not build
               "modules": lambda: pair.predict([sentence], level, reference=True),
               "baseline": _two_full_encoders(pair, sentence, level),
               "page": lambda: service.what_if(sentence, concept, level)}
        times = _time(fns, runs)
        shared, ort, modules, baseline, page = (stats(times[k]) for k in fns)
        rows[f"threads_{threads}"] = {"pair_predict_seconds": shared, "pair_predict_onnx_seconds": ort,
                                      "pair_predict_modules_seconds": modules,
                                      "two_full_encoders_seconds": baseline, "analyse_seconds": page,
                                      "speedup_onnx_vs_packed": shared["median"] / ort["median"],
                                      "speedup_vs_two_full_encoders": baseline["median"] / shared["median"],
                                      "speedup_vs_modules": modules["median"] / shared["median"],
                                      "meets_target": shared["median"] * 1000 < TARGET_MS,
                                      "p95_meets_target": shared["p95"] * 1000 < TARGET_MS}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--concept", default="all", choices=["all", *sorted(SENTENCES)])
    parser.add_argument("--level", default="balanced")
    args = parser.parse_args()
    service = TextService()
    concepts = sorted(SENTENCES) if args.concept == "all" else [args.concept]
    busy = cpu_busy()
    results = {c: _bench_concept(service, c, args.level, args.runs) for c in concepts}
    path = write("text_latency", {"level": args.level, "models_from": str(service.folder), "runs": args.runs,
                                  "target_ms": TARGET_MS, "loadavg": os.getloadavg(), "cpu_busy_before": busy,
                                  "training_running": training_running(), "concepts": results})
    print(f"{'concept':>10} {'threads':>7} {'O+CF packed ms (median / p95)':>30} {'ONNX Runtime ms':>22} "
          f"{'modules ms':>22} {'2 full encoders ms':>22} {'analyse ms':>22}")
    for concept, rows in results.items():
        for name, r in ((k, v) for k, v in rows.items() if k.startswith("threads_")):
            cells = [r[k] for k in ("pair_predict_seconds", "pair_predict_onnx_seconds",
                                    "pair_predict_modules_seconds", "two_full_encoders_seconds", "analyse_seconds")]
            print(f"{concept:>10} {name[-1]:>7} "
                  + " ".join(f"{1000 * c['median']:>13.1f} / {1000 * c['p95']:<6.1f}" for c in cells))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
