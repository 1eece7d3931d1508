"""Causal graph lab speed: slider-to-image latency in headless Chromium, the lab call alone, and export.

1. Browser: N keyboard moves of the light slider on /causal_graph_lab (scene #0, light 118° -> lower);
   time from the key press until the model's picture gets a new src (and has loaded), in the page.
   Baseline in the same run: the same round trip on bench/baseline_app.py (a slider and a picture, no model).
2. The explorer call alone (`LabService.what_if`, in-process, one torch thread as the server uses).
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
print("RESULT" + json.dumps(out))
"""


def _browser(moves: int, warmup: int) -> tuple[list[dict], list[dict]]:
    """The lab page's samples, then the no-model baseline app's (the same round trip), in this run."""
    lab = browser_run("app.py", "/causal_graph_lab", CAPTION, ".st-key-value_light", moves, warmup, "ArrowLeft")
    base = browser_run("bench/baseline_app.py", "/", "baseline picture", ".st-key-value", moves, warmup)
    return lab, base


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
    samples, baseline = _browser(args.moves, args.warmup)
    contended = contended or training_running()
    rows = {"lab page: key press -> new image src": stats([s["src"] / 1000 for s in samples]),
            "lab page: key press -> new image loaded": stats([s["loaded"] / 1000 for s in samples]),
            "lab call alone (what_if, in-process)": stats(call),
            "baseline (no model): key press -> new image src": stats([s["src"] / 1000 for s in baseline]),
            "baseline (no model): key press -> new image loaded": stats([s["loaded"] / 1000 for s in baseline])}
    ratio = rows["lab page: key press -> new image src"]["median"] / rows[
        "baseline (no model): key press -> new image src"]["median"]
    print(f"\nCausal graph lab, {args.moves} slider moves (ms)" + ("  [training running]" if contended else ""))
    for name, s in rows.items():
        print(f"{name:44} median {s['median'] * 1000:7.1f}  p95 {s['p95'] * 1000:7.1f}  min {s['min'] * 1000:7.1f}")
    print(f"ratio lab / baseline (median, src): {ratio:.2f}x")
    print(f"export of {args.n} samples (CLI, wall, model load included): "
          + ", ".join(f"{t:.1f} s" for t in export_s) + f"; byte-identical: {identical}")
    path = write("lab", {
        "what": "Causal graph lab: slider latency (headless Chromium, ArrowLeft on light) and CLI export time",
        "seconds": rows, "ratio_lab_over_baseline": ratio, "export_seconds": export_s, "export_n": args.n, "export_identical": identical,
        "meets_targets": {"slider_median_below_150ms": rows["lab page: key press -> new image src"]["median"] < 0.150,
                          "export_below_30s": max(export_s) < 30.0},
        "training_job_running": contended, "loadavg": os.getloadavg(),
        "raw_ms": {"browser": samples, "baseline": baseline, "call_only": [c * 1000 for c in call]}})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
