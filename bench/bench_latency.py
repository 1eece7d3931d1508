"""Slider-to-image latency of the what-if page in headless Chromium, with a no-model baseline.

For each of N keyboard moves of the thickness slider, timed in the page with performance.now() from the key
press: until the quick slider's picture changes (the Image page's component swaps it in the browser, from the
precomputed sweep: explorer/ui/quick_sliders.py), until the answer panel's counterfactual picture (swapped from
the same sweep) gets its new src and has loaded, and until the page is exact (nothing stale: the rerun the key
press also starts has drawn the exact answer). Baseline in the same
run: the same round trip on bench/baseline_app.py, which renders a PNG without any model. A further row times the
explorer call alone, in-process, for the same slider values; the server's CPU time per move is read from
/proc for both servers.

Usage: `python bench/bench_latency.py [--moves 24]` (set EXPLORER_PRETRAINED to use other checkpoints).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from math import nan

from common import print_table, stats, write
from serve import (ARM_JS, CHROMIUM, CHROMIUM_ARGS, IDLE_JS, all_sent, cpu_busy, cpu_ms, drawn_selector, start,
                   stop, timed_in_subprocess, training_running)

START = 1.5  # px: the thickness the link starts at; each ArrowRight adds one 0.1 px step
_MODEL_ONLY = """
import json, sys, time
import torch
from explorer.device import pick_device
from explorer.services.image import ImageService
torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
service = ImageService(pick_device())
values = json.loads(sys.argv[1])
service.what_if(0, {"thickness": values[0]})  # warm-up
out = []
for v in values:
    t = time.perf_counter()
    service.what_if(0, {"thickness": v})
    out.append(time.perf_counter() - t)
print("RESULT" + json.dumps(out))
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (Linux /proc; its threads included)."""
    return cpu_ms(pid) / 1000


def _moves(page, caption: str, slider: str, n: int, key: str = "ArrowRight", arm: str = ARM_JS) -> list[dict]:
    """n presses of `key` on `slider`, each timed until `arm`'s promise resolves (by default: until the picture
    captioned `caption` changes)."""
    page.locator(f"{slider} input[type=range]").focus()
    out = []
    for _ in range(n):
        page.evaluate(arm, caption)
        page.keyboard.press(key)
        out.append(page.evaluate("() => window.__latency"))
        page.wait_for_function(IDLE_JS, timeout=60_000)
        time.sleep(0.2)  # let the fragment run finish before the next press, as a person would
    return out


def browser_run(app: str, path: str, caption: str, slider: str, moves: int, warmup: int,
                 key: str = "ArrowRight", arm: str = ARM_JS, ready: str | None = None,
                 cpu: list[float] | None = None) -> list[dict]:
    """`moves` timed presses on `app` at `path` after `warmup` untimed ones; `ready` is the selector the page has
    once drawn (default: the picture captioned `caption`). Appends the server's CPU seconds per timed move to
    `cpu` when given."""
    from playwright.sync_api import sync_playwright

    proc, url = start(app)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            drawn = ready or drawn_selector(caption)
            page.goto(url + path)
            page.wait_for_selector(drawn, timeout=300_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            _moves(page, caption, slider, warmup, key, arm)
            # measured moves start from the link again, so they visit the same values as the model-only row
            page.goto(url + path)
            page.wait_for_selector(drawn, timeout=300_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            used = _cpu_seconds(proc.pid)
            samples = _moves(page, caption, slider, moves, key, arm)
            all_sent(page)  # the last value's own run, after the pause, counts too
            if cpu is not None:
                cpu.append((_cpu_seconds(proc.pid) - used) / moves)
            browser.close()
    finally:
        stop(proc)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    contended_before, busy = training_running(), cpu_busy()

    cpu: list[float] = []  # server CPU seconds per move: the what-if page's, then the baseline's
    whatif = browser_run("app.py", f"/image_whatif?index=0&thickness={START}", "drawn by the model",
                         ".st-key-value_thickness", args.moves, args.warmup, cpu=cpu)
    baseline = browser_run("bench/baseline_app.py", "/", "baseline picture", ".st-key-value", args.moves,
                           args.warmup, cpu=cpu)
    whatif_cpu, baseline_cpu = cpu
    values = [round(START + 0.1 * (i + 1), 1) for i in range(args.moves)]
    model = timed_in_subprocess(_MODEL_ONLY, json.dumps(values), "model-only")
    contended = contended_before or training_running()

    quick = [s for s in whatif if s["quick"] is not None]  # none on a page without the quick sliders
    loaded = [s["quick_loaded"] / 1000 for s in quick if s["quick_loaded"] is not None]
    rows = {
        "what-if page: key press -> quick slider's picture src": stats([s["quick"] / 1000 for s in quick] or [nan]),
        "what-if page: key press -> quick slider's picture loaded": stats(loaded or [nan]),
        "what-if page: key press -> new image src": stats([s["src"] / 1000 for s in whatif]),
        "what-if page: key press -> new image loaded": stats([s["loaded"] / 1000 for s in whatif]),
        "what-if page: key press -> the answer exact (the rerun drawn)": stats([s["exact"] / 1000 for s in whatif]),
        "baseline (no model): key press -> new image src": stats([s["src"] / 1000 for s in baseline]),
        "baseline (no model): key press -> new image loaded": stats([s["loaded"] / 1000 for s in baseline]),
        "baseline (no model): key press -> page exact": stats([s["exact"] / 1000 for s in baseline]),
        "explorer call alone (what_if, in-process)": stats(model),
    }
    base = rows["baseline (no model): key press -> new image src"]["median"]
    ratio = rows["what-if page: key press -> quick slider's picture src"]["median"] / base
    rerun_ratio = rows["what-if page: key press -> new image src"]["median"] / base
    print_table(f"slider-to-image latency, {args.moves} moves each", rows, contended, busy)
    print(f"ratio what-if / baseline (median, src): {ratio:.2f}x for the quick slider's picture "
          f"({len(quick)} of {len(whatif)} moves swapped it), {rerun_ratio:.2f}x for the answer's picture (the panel's, on the Image page);  "
          f"target: median < 150 ms")
    print(f"server CPU per move: what-if {whatif_cpu * 1000:.1f} ms, baseline {baseline_cpu * 1000:.1f} ms;  "
          f"load average {os.getloadavg()[0]:.2f}")
    path = write("latency", {
        "what": "slider-to-image latency of the what-if page (headless Chromium, keyboard ArrowRight on thickness)",
        "seconds": rows, "ratio_whatif_over_baseline": ratio, "ratio_rerun_over_baseline": rerun_ratio,
        "server_cpu_ms_per_move": {"whatif": whatif_cpu * 1000, "baseline": baseline_cpu * 1000},
        "moves": args.moves,
        "target_median_s": 0.150, "meets_target": rows["what-if page: key press -> quick slider's picture src"]["median"] < 0.150,
        "training_job_running": contended, "cpu_busy_before_run": busy, "loadavg": os.getloadavg(),
        "pretrained": os.environ.get("EXPLORER_PRETRAINED", "pretrained/"),
        "raw_ms": {"whatif": whatif, "baseline": baseline, "model_only": [m * 1000 for m in model]},
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
