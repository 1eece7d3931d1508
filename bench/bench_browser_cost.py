"""The browser's own work per slider move: the Image what-if page against the no-model page, in headless Chromium.

Why: under a class of 16 on this machine the browsers used ~6x the server's CPU (bench/bench_classroom.py, "CPU
during the moves"), so a move's latency there is mostly the browser redrawing the page. Per move (key press ->
the picture captioned CAPTION has a new address, then the page idle), Chrome's own counters over the moves
(DevTools Performance.getMetrics: TaskDuration, ScriptDuration, LayoutDuration, RecalcStyleDuration) and a
sampled JavaScript profile summed by script file (where the script time goes: React, Streamlit's styling, its
Markdown). The baseline, in the same run: bench/baseline_app.py (a slider and a picture, no model), the same
round trip through Streamlit.

`--trace` instead records a Chrome trace of the moves (one run a page; tracing slows the browser, so its figures are
not compared with the counters') and sums the renderer's main-thread events by name: which of the browser's steps
(React's scheduled work, decoding the SVG charts, layout, paint) a move's time goes to.

Usage: `python bench/bench_browser_cost.py [--moves 16] [--runs 2] [--trace]`; writes bench/results/browser_cost.json
(or browser_cost_trace.json).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time

from common import write
from serve import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, all_sent, start, stop

COUNTERS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
PAGES = {  # name: (app, path, slider, caption of the watched picture)
    "image what-if": ("app.py", "/image_whatif?index=12&thickness=1.5", ".st-key-value_thickness",
                      "drawn by the model"),
    "causal graph lab": ("app.py", "/causal_graph_lab?scene=7&light=70", ".st-key-value_light", "drawn by the model"),
    "baseline (no model)": ("bench/baseline_app.py", "/", ".st-key-value", "baseline picture"),
}
_PICTURE = ("[...document.querySelectorAll('[data-testid=stImageContainer], .ip-root figure')]"
            ".find(e => e.innerText.includes(CAP))"
            ".querySelector('img')")


def _counters(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _by_file(profile: dict) -> collections.Counter:
    """Sampled self time (ms) by script file name ("" for the browser's own: idle, program, GC)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    out: collections.Counter = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
        frame = nodes[sample]["callFrame"]
        name = frame["url"].rsplit("/", 1)[-1] or frame["functionName"]  # (idle), (program), (garbage collector)
        out[name] += delta / 1000
    return out


_TRACED = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", "blink"]


def _main_thread_events(trace: bytes, moves: int) -> dict[str, dict[str, float]]:
    """The renderer main thread's complete events summed by name: {name: {"ms_per_move", "per_move"}}, top 25. Events
    nest (a task holds function calls, which hold layouts), so the rows overlap: a row is where time went, not a
    share of a total. A JavaScript call is named by its script file ("FunctionCall react-dom...js")."""
    events = json.loads(trace)["traceEvents"]
    main = {(e["pid"], e["tid"]) for e in events
            if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"}
    ms: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    for e in events:
        if e.get("ph") != "X" or (e.get("pid"), e.get("tid")) not in main:
            continue
        name = e["name"]
        if name == "FunctionCall":
            name += " " + (e.get("args", {}).get("data", {}).get("url", "").rsplit("/", 1)[-1] or "(no file)")
        ms[name] += e.get("dur", 0) / 1000
        count[name] += 1
    return {n: {"ms_per_move": t / moves, "per_move": count[n] / moves} for n, t in ms.most_common(25)}


def measure(name: str, moves: int, trace: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    app, path, slider, caption = PAGES[name]
    picture = _PICTURE.replace("CAP", repr(caption))
    proc, url = start(app, timeout=300, env={"EXPLORER_PREWARM": "0"})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + path)
            page.wait_for_selector("[data-testid=stImageContainer] img, .ip-root figure img", timeout=300_000)
            page.wait_for_function(IDLE_JS, timeout=120_000)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.locator(f"{slider} input[type=range]").focus()  # a quick slider's sweep arrives first
            time.sleep(3)
            page.wait_for_function(IDLE_JS, timeout=120_000)
            if trace:
                browser.start_tracing(page=page, categories=_TRACED)
            else:
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 200})  # microseconds
                cdp.send("Profiler.start")
            before = _counters(cdp)
            for _ in range(moves):
                src = page.evaluate(f"() => {picture}.src")
                page.keyboard.press("ArrowRight")
                page.wait_for_function(f"(s) => {{ try {{ return {picture}.src !== s }} catch (e) {{ return false }} }}",
                                       arg=src, timeout=60_000)
                page.wait_for_function(IDLE_JS, timeout=60_000)
                time.sleep(0.3)
            all_sent(page)  # the last value's own run, after the pause, counts too
            after = _counters(cdp)
            if trace:
                events = _main_thread_events(browser.stop_tracing(), moves)
            else:
                files = _by_file(cdp.send("Profiler.stop")["profile"])
            browser.close()
    finally:
        stop(proc)
    if trace:
        return {"task_ms_per_move_traced": 1000 * (after["TaskDuration"] - before["TaskDuration"]) / moves,
                "main_thread_events": events}
    return {"ms_per_move": {k: 1000 * (after[k] - before[k]) / moves for k in COUNTERS},
            "script_ms_per_move_by_file": {f: t / moves for f, t in files.most_common(12)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=16)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--trace", action="store_true", help="a Chrome trace per page instead of the counters")
    args = parser.parse_args()
    if args.moves < 1 or args.runs < 1:
        print("bench_browser_cost: --moves and --runs must be at least 1", file=sys.stderr)
        return 2
    if args.trace:
        return _traced(args.moves)
    runs = {name: [] for name in PAGES}
    for _ in range(args.runs):  # alternating, so a slower stretch of the machine falls on both
        for name in PAGES:
            runs[name].append(measure(name, args.moves))
    summary = {name: {k: statistics.median(r["ms_per_move"][k] for r in rs) for k in COUNTERS}
               for name, rs in runs.items()}
    print(f"{'ms per move (median of ' + str(args.runs) + ' runs)':34}" + "".join(f"{k:>22}" for k in COUNTERS))
    for name, row in summary.items():
        print(f"{name:34}" + "".join(f"{row[k]:22.1f}" for k in COUNTERS))
    base = summary["baseline (no model)"]
    for name in PAGES:
        if name != "baseline (no model)":
            print(f"ratio {name} / baseline: " + ", ".join(f"{k} {summary[name][k] / base[k]:.1f}x" for k in COUNTERS))
    print("image what-if, sampled time by file (ms per move, last run): " + ", ".join(
        f"{f} {t:.1f}" for f, t in runs["image what-if"][-1]["script_ms_per_move_by_file"].items()))
    path = write("browser_cost", {"what": "Chromium's own work per slider move (DevTools counters and profile)",
                                  "moves": args.moves, "summary": summary, "runs": runs, "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


def _traced(moves: int) -> int:
    out = {name: measure(name, moves, trace=True) for name in PAGES}
    for name, row in out.items():
        print(f"{name}: task {row['task_ms_per_move_traced']:.1f} ms a move (traced); main-thread events, ms a move "
              "(nested: rows overlap)")
        for event, figures in row["main_thread_events"].items():
            print(f"  {event[:60]:60} {figures['ms_per_move']:8.1f} ms {figures['per_move']:7.1f} a move")
    path = write("browser_cost_trace", {"what": "Chrome trace of the moves: main-thread events by name, per move",
                                        "moves": moves, "pages": out, "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
