"""The model thread under busy Python threads: the GIL's switch interval against the sweep's time (a convoy).

Why: under a class of 16 the model thread's calls took 15-20x their time alone (docs/performance.md, "The labs
under a class"). A torch call releases the GIL around each operation and must win it back after each; while
other threads run Python (other visitors' reruns), each win-back waits until the running thread gives the GIL up,
at the latest after `sys.getswitchinterval()` (5 ms by default). A sweep of a few hundred operations then waits
hundreds of intervals.

For each switch interval and number of busy threads (pure-Python loops standing in for reruns), the Image page's
thickness sweep (`ImageService.sweep`, computed: a new digit each time) is timed on the model thread, and the
busy threads' own work is counted (loop rounds per second, summed): what a shorter interval costs the Python
side. The baseline, in the same run: the same sweeps with no busy thread at Python's default interval.

Usage: `python bench/bench_gil_convoy.py [--sweeps 8] [--busy 0,2,4] [--intervals-ms 5,1,0.5,0.2]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import torch

from common import stats, write


def _busy(stop: threading.Event, rounds: list[int], k: int) -> None:
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i * i
        rounds[k] += 1


def _run(service, interval: float, busy: int, sweeps: int, first: int) -> dict:
    """Times `sweeps` computed sweeps with `busy` busy threads at switch interval `interval` (seconds)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    stop, rounds = threading.Event(), [0] * busy
    threads = [threading.Thread(target=_busy, args=(stop, rounds, k), daemon=True) for k in range(busy)]
    try:
        for t in threads:
            t.start()
        times, t0 = [], time.perf_counter()
        for k in range(sweeps):
            t = time.perf_counter()
            service.sweep(first + k, {}, False, None, ["thickness"])  # a new digit: computed, not found kept
            times.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old)
    return {"sweep_s": stats(times), "busy_rounds_per_s": sum(rounds) / wall if busy else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=8)
    parser.add_argument("--busy", default="0,2,4")
    parser.add_argument("--intervals-ms", default="5,1,0.5,0.2")
    args = parser.parse_args()
    try:
        busy = [int(b) for b in args.busy.split(",")]
        intervals = [float(i) / 1000 for i in args.intervals_ms.split(",")]
        if args.sweeps < 1 or min(busy) < 0 or min(intervals) <= 0:
            raise ValueError
    except ValueError:
        print("bench_gil_convoy: --sweeps >= 1, --busy whole numbers >= 0, --intervals-ms numbers > 0", file=sys.stderr)
        return 2
    from explorer.device import pick_device
    from explorer.services.image import ImageService

    torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
    service = ImageService(pick_device())
    service.sweep(0, {}, False, None, ["thickness"])  # warm: models loaded, the model thread's kernels set up
    first, rows = 1, {}
    baseline = _run(service, 0.005, 0, args.sweeps, first)
    first += args.sweeps
    for b in busy:
        for interval in intervals:
            rows[f"busy={b} interval={interval * 1000:g}ms"] = _run(service, interval, b, args.sweeps, first)
            first += args.sweeps
    base = baseline["sweep_s"]["median"]
    print(f"baseline: sweep alone at 5 ms, median {base * 1000:.0f} ms, p95 {baseline['sweep_s']['p95'] * 1000:.0f} ms")
    print(f"{'':28} {'median':>9} {'p95':>9} {'x alone':>8} {'busy rounds/s':>14}")
    for name, r in rows.items():
        s = r["sweep_s"]
        work = "" if r["busy_rounds_per_s"] is None else f"{r['busy_rounds_per_s']:14.0f}"
        print(f"{name:28} {s['median'] * 1000:7.0f}ms {s['p95'] * 1000:7.0f}ms {s['median'] / base:7.1f}x {work}")
    path = write("gil_convoy", {"what": "Image sweep on the model thread beside busy Python threads, by GIL switch "
                                "interval", "baseline": baseline, "rows": rows, "sweeps": args.sweeps,
                                "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
