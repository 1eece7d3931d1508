"""Table lab: an age-slider move -> the counterfactual record redrawn, in headless Chromium, with a baseline.

For each of N keyboard moves of the do(age) slider on a census-world person, the time from the key press until
the quick sliders' readings change (swapped in the browser from the precomputed sweep, explorer/ui/
table_lab_controls.py), until the records table's text changes (the answer panel's, swapped from the same sweep, or
the rerun's) and until nothing on the page is stale (the exact answer: a swap at a position of the sweep is final, a
rerun's drawn), measured in the page with performance.now(). Before the moves the slider is focused and its sweep awaited (as a visitor's reach for it).
Baseline in the same run: the no-model page of bench/bench_latency.py (a slider and a picture; key press -> new
picture), the same round trip through Streamlit without a model. Further rows time the service call alone, in-process, for the same values,
and each slider's sweep (`TableLabService.sweep`, computed, not found kept) with its encoded size, against the same
sweep computed as one `what_if` per position (its baseline: how it was computed before the one-pass sweep).

The server's CPU time per measured move (user + system, read from /proc for the `streamlit run` process over the
measured moves only, the browser's own time excluded) is reported for the lab and the baseline alike. The app runs
with EXPLORER_PREWARM=0: otherwise the Text page's models load in the background of the same server while it is
measured (explorer/ui/loader.py), which under load overlapped the moves and tripled the CPU read for them.

Usage: `python bench/bench_table_lab.py [--moves 24]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from math import nan

import bench_latency
from bench_latency import browser_run
from common import print_table, stats, write
from serve import cpu_busy, cpu_ms, timed_in_subprocess, training_running

START = 30  # the link sets do(age = 30); each ArrowRight adds a year
PATH = f"/table_lab?source=world&seed=0&row=12&age={START}"
# Resolves with {src, exact, quick} in ms from the next key press until the records table's text differs from before
# (the answer panel's, swapped from the sweep at the key press, or the rerun's), until nothing on the page is stale
# (the rerun's exact answer drawn, or the panel's swap final), and until the quick sliders' readings changed (swapped
# in the browser from the sweep; null if they never changed, e.g. on a page without quick sliders).
ARM_TEXT_JS = """(caption) => {
  const box = () => document.querySelector('.st-key-tl_records');
  const quick = () => document.querySelector('.qs-readings');
  const idle = () => document.querySelectorAll('[data-stale=true]').length === 0;
  const before = box().innerText, quickBefore = quick() ? quick().innerText : null;
  window.__latency = new Promise((resolve, reject) => {
    let t0 = null, q = null, src = null;
    window.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    // the component swaps its readings in the range input's own `input` task: read them there (a listener on the
    // document runs after the component's own)
    document.addEventListener('input', () => {
      if (t0 !== null && q === null && quick() && quick().innerText !== quickBefore) q = performance.now() - t0;
    }, {once: true});
    const finish = () => {
      if (src === null || !idle()) return;
      obs.disconnect();
      clearInterval(poll);
      resolve({src, loaded: src, exact: performance.now() - t0, quick: q});
    };
    const obs = new MutationObserver(() => {
      if (t0 === null || !box()) return;
      if (src === null && box().innerText !== before) src = performance.now() - t0;
      finish();
    });
    const poll = setInterval(finish, 20);
    obs.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true,
                                attributeFilter: ['data-stale']});
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
service.what_if("world", 12, {"age": values[0] - 1})  # warm-up, on another value: results are kept
out = []
for v in values:
    t = time.perf_counter()
    service.what_if("world", 12, {"age": v})
    out.append(time.perf_counter() - t)
# the quick sliders' sweeps, computed (new other do() values each time) and encoded as the page sends them
from explorer.ui.table_lab_controls import encoded, readers
view = service.page()
names = readers(view, [], [])
sweeps = {}
for name in ("age", "hours_per_week"):
    times = []
    for k in range(3):
        held = {"hours_per_week": 30.0 + k} if name == "age" else {"age": 40.0 + k}
        t = time.perf_counter()
        sweep = service.sweep("world", 12, held, names=[name])[name]
        times.append(time.perf_counter() - t)
    # the same sweep as one what-if per position (how it was computed before the one-pass sweep): the baseline
    apart = []
    for k in range(3):
        held = {"hours_per_week": 50.0 + k} if name == "age" else {"age": 60.0 + k}  # not kept yet
        t = time.perf_counter()
        for v in sweep.values:
            service.what_if("world", 12, {**held, name: float(v)})
        apart.append(time.perf_counter() - t)
    sweeps[name] = {"seconds": times, "seconds_as_what_ifs": apart, "positions": len(sweep.values),
                    "encoded_bytes": len(json.dumps(encoded(sweep, view, names)))}
print("RESULT" + json.dumps({"call": out, "sweeps": sweeps}))
"""


class ServerCpu:
    """Wraps bench_latency's `start` and `_moves` to read the server's CPU seconds around each batch of moves."""

    def __init__(self) -> None:
        self.pid, self.per_move = 0, float("nan")  # of the last batch (browser_run's measured moves come last)
        self._start, self._moves = bench_latency.start, bench_latency._moves

    def _cpu(self) -> float:
        return cpu_ms(self.pid) / 1000  # utime + stime, s

    def start(self, *args, **kwargs):
        proc, url = self._start(*args, **kwargs)
        self.pid = proc.pid
        return proc, url

    def moves(self, page, caption: str, slider: str, n: int, *args, **kwargs) -> list[dict]:
        if page.locator(".qs-slider").count():  # quick sliders: reach for the slider, its sweep arrives first
            page.locator(f"{slider} input[type=range]").focus()
            page.wait_for_selector(f"{slider}[data-swept]", timeout=60_000)
            page.wait_for_function(bench_latency.IDLE_JS, timeout=60_000)
        before = self._cpu()
        out = self._moves(page, caption, slider, n, *args, **kwargs)
        self.per_move = (self._cpu() - before) / max(1, n)
        return out

    def run(self, *args, **kwargs) -> tuple[list[dict], float]:
        """browser_run(*args, **kwargs) and the server's CPU seconds per measured move."""
        bench_latency.start, bench_latency._moves = self.start, self.moves
        try:
            return browser_run(*args, **kwargs), self.per_move
        finally:
            bench_latency.start, bench_latency._moves = self._start, self._moves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    if args.moves < 1 or args.warmup < 0:
        print("bench_table_lab: --moves must be at least 1 and --warmup at least 0", file=sys.stderr)
        return 2
    contended_before, busy = training_running(), cpu_busy()
    os.environ["EXPLORER_PREWARM"] = "0"  # see the module docstring; the servers inherit this environment
    lab, lab_cpu = ServerCpu().run("app.py", PATH, "", ".st-key-value_age", args.moves, args.warmup,
                                   arm=ARM_TEXT_JS, ready=".st-key-tl_records table")
    baseline, baseline_cpu = ServerCpu().run("bench/baseline_app.py", "/", "baseline picture", ".st-key-value",
                                             args.moves, args.warmup)
    values = [float(START + i + 1) for i in range(args.moves)]
    service = timed_in_subprocess(_SERVICE_ONLY, json.dumps(values), "service-only")
    service, sweeps = service["call"], service["sweeps"]
    contended = contended_before or training_running()
    quick = [s["quick"] / 1000 for s in lab if s.get("quick") is not None]
    rows = {"table lab: key press -> quick sliders' readings": stats(quick or [nan]),
            "table lab: key press -> record redrawn": stats([s["src"] / 1000 for s in lab]),
            "table lab: key press -> exact (nothing stale)": stats([s.get("exact", s["src"]) / 1000 for s in lab]),
            "baseline (no model): key press -> new image src": stats([s["src"] / 1000 for s in baseline]),
            "table lab call alone (what_if, in-process, 1 thread)": stats(service)}
    ratio = rows["table lab: key press -> record redrawn"]["median"] / \
        rows["baseline (no model): key press -> new image src"]["median"]
    print_table(f"Table lab, {args.moves} age-slider moves", rows, contended, busy)
    quick_ratio = rows["table lab: key press -> quick sliders' readings"]["median"] / \
        rows["baseline (no model): key press -> new image src"]["median"]
    exact_ratio = rows["table lab: key press -> exact (nothing stale)"]["median"] / \
        rows["baseline (no model): key press -> new image src"]["median"]
    print(f"ratio table lab / baseline (median): quick readings {quick_ratio:.2f}x, records {ratio:.2f}x, "
          f"exact {exact_ratio:.2f}x")
    for name, sweep in sweeps.items():
        print(f"sweep of {name}: {sweep['positions']} positions, {sweep['encoded_bytes'] / 1000:.1f} kB encoded, "
              f"computed in " + ", ".join(f"{t * 1000:.0f}" for t in sweep["seconds"]) + " ms; as one what-if per "
              f"position " + ", ".join(f"{t * 1000:.0f}" for t in sweep["seconds_as_what_ifs"]) + " ms")
    print(f"server CPU per move: table lab {lab_cpu * 1000:.1f} ms, baseline {baseline_cpu * 1000:.1f} ms")
    path = write("table_lab", {"what": "Table lab: do(age) slider move -> record redrawn (headless Chromium)",
                               "seconds": rows, "ratio_over_baseline": ratio, "moves": args.moves,
                               "quick_ratio_over_baseline": quick_ratio, "exact_ratio_over_baseline": exact_ratio,
                               "sweeps": sweeps,
                               "server_cpu_ms_per_move": {"table_lab": lab_cpu * 1000, "baseline": baseline_cpu * 1000},
                               "training_job_running": contended, "cpu_busy_before_run": busy,
                               "loadavg": os.getloadavg(),
                               "raw_ms": {"table_lab": lab, "baseline": baseline,
                                          "service_only": [s * 1000 for s in service]}})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
