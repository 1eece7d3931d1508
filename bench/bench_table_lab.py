"""Table lab: an age-slider move -> the counterfactual record redrawn, in headless Chromium, with a baseline.

For each of N keyboard moves of the do(age) slider on a census-world person, the time from the key press until
the records table's text changes (measured in the page with performance.now()). Baseline in the same run: the
no-model page of bench/bench_latency.py (a slider and a picture; key press -> new picture), the same round trip
through Streamlit without a model. A third row times the service call alone, in-process, for the same values.

Usage: `python bench/bench_table_lab.py [--moves 24]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from bench_latency import browser_run
from common import print_table, stats, write
from serve import cpu_busy, timed_in_subprocess, training_running

START = 30  # the link sets do(age = 30); each ArrowRight adds a year
PATH = f"/table_lab?source=world&seed=0&row=12&age={START}"
# Resolves with {src} in ms from the next key press until the records table's text differs from before.
ARM_TEXT_JS = """(caption) => {
  const box = () => document.querySelector('.st-key-tl_records');
  const before = box().innerText;
  window.__latency = new Promise((resolve, reject) => {
    let t0 = null;
    document.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    const obs = new MutationObserver(() => {
      if (t0 === null || !box() || box().innerText === before) return;
      obs.disconnect();
      const ms = performance.now() - t0;
      resolve({src: ms, loaded: ms});
    });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
    setTimeout(() => reject(new Error('the record did not change within 60 s')), 60000);
  });
}"""
_SERVICE_ONLY = """
import json, sys, time
import torch
from explorer.services.table_lab import TableLabService
torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
service = TableLabService()
values = json.loads(sys.argv[1])
service.what_if("world", 12, {"age": values[0]})  # warm-up
out = []
for v in values:
    t = time.perf_counter()
    service.what_if("world", 12, {"age": v})
    out.append(time.perf_counter() - t)
print("RESULT" + json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    if args.moves < 1 or args.warmup < 0:
        print("bench_table_lab: --moves must be at least 1 and --warmup at least 0", file=sys.stderr)
        return 2
    contended_before, busy = training_running(), cpu_busy()
    lab = browser_run("app.py", PATH, "", ".st-key-value_age", args.moves, args.warmup, arm=ARM_TEXT_JS,
                      ready=".st-key-tl_records table")
    baseline = browser_run("bench/baseline_app.py", "/", "baseline picture", ".st-key-value", args.moves,
                           args.warmup)
    values = [float(START + i + 1) for i in range(args.moves)]
    service = timed_in_subprocess(_SERVICE_ONLY, json.dumps(values), "service-only")
    contended = contended_before or training_running()
    rows = {"table lab: key press -> record redrawn": stats([s["src"] / 1000 for s in lab]),
            "baseline (no model): key press -> new image src": stats([s["src"] / 1000 for s in baseline]),
            "table lab call alone (what_if, in-process, 1 thread)": stats(service)}
    ratio = rows["table lab: key press -> record redrawn"]["median"] / \
        rows["baseline (no model): key press -> new image src"]["median"]
    print_table(f"Table lab, {args.moves} age-slider moves", rows, contended, busy)
    print(f"ratio table lab / baseline (median): {ratio:.2f}x")
    path = write("table_lab", {"what": "Table lab: do(age) slider move -> record redrawn (headless Chromium)",
                               "seconds": rows, "ratio_over_baseline": ratio, "moves": args.moves,
                               "training_job_running": contended, "cpu_busy_before_run": busy,
                               "loadavg": os.getloadavg(),
                               "raw_ms": {"table_lab": lab, "baseline": baseline,
                                          "service_only": [s * 1000 for s in service]}})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
