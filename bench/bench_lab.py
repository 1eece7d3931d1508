"""Causal graph lab speed: slider-to-image latency in headless Chromium, the lab call alone, the sweep, and export.

1. Browser: N keyboard moves of the light slider on /causal_graph_lab (scene #0, light 118° -> lower); time from
   the key press until the quick sliders' picture changes (explorer/ui/quick_sliders.py: swapped in the browser
   from the precomputed sweep) and has loaded, and until the rerun's model picture (the st.image captioned "drawn
   by the model") gets its new src and has loaded, in the page; the server's CPU time per move, from /proc.
   Baseline in the same run: the same round trip on bench/baseline_app.py (a slider and a picture, no model).
2. The explorer call alone (`LabService.what_if`, in-process, one torch thread as the server uses), and one
   concept's sweep (`LabService.sweep`, computed, not found in the cache) with its pictures and encoded size.
3. Export of 10,000 samples: `python -m explorer export pendulum ...` wall time (model load included),
   twice, checking that the two zips are byte-identical.

Usage: `python bench/bench_lab.py [--moves 24] [--n 10000]`; writes bench/results/lab.json.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from math import nan
from pathlib import Path

from common import stats, write
from bench_latency import browser_run
from serve import ROOT, timed_in_subprocess, training_running

CAPTION = "drawn by the model"
_CALL_ONLY = """
import json, sys, time
import torch
from explorer.device import pick_device
from explorer.services.lab import LabService
torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
lab = LabService(pick_device())
edges = set(lab.learned_graph.edges)
start = lab.factual(0)["light"]
lab.what_if(0, {"light": start}, edges)  # warm-up
out = []
for i in range(int(sys.argv[1])):
    t = time.perf_counter()
    lab.what_if(0, {"light": round(start) - 1 - i}, edges)
    out.append(time.perf_counter() - t)
# each concept's sweep, computed (a new light each time: the others' sweeps are held at it), and its encoding
from explorer.ui.graph_lab import encoded
sweeps = {}
for name in lab.specs:
    times = []
    for k in range(3):
        t = time.perf_counter()
        held = {"pendulum": float(k)} if name == "light" else {"light": 60.0 + k}  # new each time: computed
        sweep = lab.sweep(0, held, edges, [name])[name]
        times.append(time.perf_counter() - t)
    sweeps[name] = {"seconds": times, "pictures": len(sweep.values),
                    "encoded_bytes": len(json.dumps(encoded(sweep, lab.specs)))}
print("RESULT" + json.dumps({"call": out, "sweeps": sweeps}))
"""


def _browser(moves: int, warmup: int) -> tuple[list[dict], list[dict], list[float]]:
    """The lab page's samples, then the no-model baseline app's (the same round trip), in this run, and each
    server's CPU seconds per move."""
    cpu: list[float] = []
    lab = browser_run("app.py", "/causal_graph_lab", CAPTION, ".st-key-value_light", moves, warmup, "ArrowLeft",
                      cpu=cpu)
    base = browser_run("bench/baseline_app.py", "/", "baseline picture", ".st-key-value", moves, warmup, cpu=cpu)
    return lab, base, cpu


def _export(n: int) -> tuple[list[float], bool]:
    times, digests = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(2):
            out = Path(tmp) / f"{k}.zip"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "explorer", "export", "pendulum", "--cut", "light:shadow_position",
                            "--n", str(n), "--seed", "0", "--out", str(out)], cwd=ROOT, check=True,
                           capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            times.append(time.perf_counter() - t)
            digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    return times, digests[0] == digests[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    contended = training_running()
    export_s, identical = _export(args.n)
    call = timed_in_subprocess(_CALL_ONLY, str(args.moves), "call-only")
    samples, baseline, (lab_cpu, base_cpu) = _browser(args.moves, args.warmup)
    contended = contended or training_running()
    quick = [s for s in samples if s.get("quick") is not None]  # the first press may come before its sweep
    rows = {"lab page: key press -> quick picture src": stats([s["quick"] / 1000 for s in quick] or [nan]),
            "lab page: key press -> quick picture loaded": stats(
                [s["quick_loaded"] / 1000 for s in quick if s["quick_loaded"] is not None] or [nan]),
            "lab page: key press -> rerun's image src": stats([s["src"] / 1000 for s in samples]),
            "lab page: key press -> rerun's image loaded": stats([s["loaded"] / 1000 for s in samples]),
            "lab call alone (what_if, in-process)": stats(call["call"]),
            "baseline (no model): key press -> new image src": stats([s["src"] / 1000 for s in baseline]),
            "baseline (no model): key press -> new image loaded": stats([s["loaded"] / 1000 for s in baseline])}
    base = rows["baseline (no model): key press -> new image src"]["median"]
    ratio = rows["lab page: key press -> quick picture src"]["median"] / base
    rerun_ratio = rows["lab page: key press -> rerun's image src"]["median"] / base
    print(f"\nCausal graph lab, {args.moves} slider moves (ms)" + ("  [training running]" if contended else ""))
    for name, s in rows.items():
        print(f"{name:52} median {s['median'] * 1000:7.1f}  p95 {s['p95'] * 1000:7.1f}  min {s['min'] * 1000:7.1f}")
    print(f"ratio lab / baseline (median, src): {ratio:.2f}x for the quick picture ({len(quick)} of {len(samples)} "
          f"moves swapped it), {rerun_ratio:.2f}x for the rerun's picture")
    print(f"server CPU per move: lab {lab_cpu * 1000:.1f} ms, baseline {base_cpu * 1000:.1f} ms;  "
          f"load average {os.getloadavg()[0]:.2f}")
    for name, sw in call["sweeps"].items():
        print(f"sweep of {name}: {sw['pictures']} pictures, computed in "
              + ", ".join(f"{t * 1000:.0f}" for t in sw["seconds"])
              + f" ms; encoded {sw['encoded_bytes'] / 1000:.1f} kB")
    print(f"export of {args.n} samples (CLI, wall, model load included): "
          + ", ".join(f"{t:.1f} s" for t in export_s) + f"; byte-identical: {identical}")
    path = write("lab", {
        "what": "Causal graph lab: slider latency (headless Chromium, ArrowLeft on light), sweeps and CLI export",
        "seconds": rows, "ratio_lab_over_baseline": ratio, "ratio_rerun_over_baseline": rerun_ratio,
        "server_cpu_ms_per_move": {"lab": lab_cpu * 1000, "baseline": base_cpu * 1000}, "sweeps": call["sweeps"],
        "export_seconds": export_s, "export_n": args.n, "export_identical": identical,
        "meets_targets": {"slider_median_below_150ms":
                          rows["lab page: key press -> quick picture src"]["median"] < 0.150,
                          "quick_within_1_5x_baseline": ratio <= 1.5, "export_below_30s": max(export_s) < 30.0},
        "training_job_running": contended, "loadavg": os.getloadavg(),
        "raw_ms": {"browser": samples, "baseline": baseline, "call_only": [c * 1000 for c in call["call"]]}})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
