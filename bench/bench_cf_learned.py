"""Speed of counterfactual fairness through the LEARNED model against the census world, and recourse through both.

cf: on Adult's 15,060 complete test rows, one shipped model, do(sex = the other value) with the default paths
(`direct`, `not_marital_status`), 20 draws, seed 0: `cf_fairness` through the world and `cf_fairness_learned`
through pretrained/census-vae-adult, alternating within each repetition so the machine's load falls on both alike.
The figure is the ratio learned / world of the medians (absolute seconds depend on the shared machine's load).
Run once on the code before a change and once after, with `--label` naming each (the pre-change code from another
tree: `PYTHONPATH=<that tree> .venv/bin/python bench/bench_cf_learned.py --label before`).

recourse (`--recourse N`): both causal searches (world, learned) and the non-causal baseline on the first N rejected
Adult test rows, default config: success, mean and median cost of the answers, seconds per query.

Usage: `PYTHONPATH=. .venv/bin/python bench/bench_cf_learned.py [--label after] [--runs 3] [--model adult-logreg]
[--recourse 50]`; prints the numbers and merges them into bench/results/cf_learned_speed.json under the label.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from explorer.cli_checks import save
from explorer.counterfactual.search.recourse import RecourseConfig
from explorer.data.tables import read_adult
from explorer.metrics.cf_fairness import CfConfig, cf_fairness, derived_columns, scm_columns
from explorer.metrics.cf_fairness_learned import cf_fairness_learned, learned_model, one_torch_thread
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world

OUT = Path(__file__).parent / "results" / "cf_learned_speed.json"


def stats(xs: list[float]) -> dict[str, float | list[float]]:
    return {"median": float(np.median(xs)), "p95": float(np.percentile(xs, 95)), "runs": [round(x, 3) for x in xs]}


def bench_cf(model_name: str, runs: int) -> dict:
    frame = read_adult().rows("test", complete=True).reset_index(drop=True)
    model, _ = load_table_classifier(model_name)
    world = load_census_world()[0]
    vae = learned_model().vae
    derived = derived_columns(frame, scm_columns(world, frame.columns), world)
    config = CfConfig(protected="sex", draws=20, seed=0)
    times: dict[str, list[float]] = {"world": [], "learned": []}
    flips = {}
    for _ in range(runs):
        t = time.perf_counter()
        report, _ = cf_fairness(frame, model.predict_proba, world, config, None, derived)
        times["world"].append(time.perf_counter() - t)
        flips["world"] = report["sex"]["flip_rate"]
        t = time.perf_counter()
        report, _ = cf_fairness_learned(frame, model.predict_proba, vae, config, None, derived)
        times["learned"].append(time.perf_counter() - t)
        flips["learned"] = report["sex"]["flip_rate"]
        print(f"world {times['world'][-1]:.2f} s, learned {times['learned'][-1]:.2f} s", flush=True)
    out = {k: stats(v) for k, v in times.items()}
    return {**out, "ratio_median": out["learned"]["median"] / out["world"]["median"], "rows": len(frame),
            "model": model_name, "flip_rate": flips, "torch_threads_learned": 1}


def bench_recourse(model_name: str, n: int) -> dict:
    from explorer.evaluate.audit_table_recourse import causal_models, table_recourse

    frame = read_adult().rows("test", complete=True).reset_index(drop=True)
    model, _ = load_table_classifier(model_name)
    scm, vae = causal_models("learned")
    rows = [int(i) for i in np.flatnonzero(model.predict_proba(frame) < 0.5)[:n]]
    out = {"model": model_name, "rows": len(rows)}
    for name, learned in (("world", None), ("learned", vae)):
        wired = table_recourse(frame, model.predict_proba, scm, learned=learned)
        with one_torch_thread():
            answers = wired.search(rows, RecourseConfig())
        for key, method in (("causal", f"causal_{name}"), ("noncausal", f"noncausal_{name}_check")):
            found = [a for a in answers[key] if a.found]
            secs = [a.seconds for a in answers[key]]
            out[method] = {"success": len(found) / len(rows), "found": len(found),
                           "cost_mean": float(np.mean([a.cost for a in found])) if found else None,
                           "cost_median": float(np.median([a.cost for a in found])) if found else None,
                           "seconds_median": float(np.median(secs)), "seconds_mean": float(np.mean(secs)),
                           "seconds_p95": float(np.percentile(secs, 95))}
            if key == "causal":
                out[method]["with_downstream_changes"] = (float(np.mean([any(c["kind"] == "downstream"
                                                                             for c in a.changes) for a in found]))
                                                          if found else None)
            else:
                out[method]["inconsistent_rate"] = (float(np.mean([bool(a.inconsistent) for a in found]))
                                                    if found else None)
        print(name, json.dumps({k: v for k, v in out.items() if name in k}, indent=1), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="adult-logreg")
    parser.add_argument("--recourse", type=int, default=0, help="also recourse on N rejected rows (0: off)")
    parser.add_argument("--skip-cf", action="store_true")
    args = parser.parse_args()
    result: dict = {"load_average_start": list(os.getloadavg()), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if not args.skip_cf:
        result["cf"] = bench_cf(args.model, args.runs)
    if args.recourse:
        result["recourse"] = bench_recourse(args.model, args.recourse)
    result["load_average_end"] = list(os.getloadavg())
    print(json.dumps(result, indent=1))
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data[args.label] = result
    save(OUT, json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
