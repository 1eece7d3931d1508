"""Quick sliders, A/B in one run: each sweep sent once and moves coalesced (new) against the old traffic (old).

The old traffic is the same code with EXPLORER_QUICK_RESEND=1 (explorer/ui/quick_sliders.py): every rerun re-sends
the live slider's sweep, and every key press is a move. For each page with quick sliders (Image what-if: thickness,
Causal graph lab: light, Table lab: age) and each mode, a fresh `streamlit run` (EXPLORER_PREWARM=0, so the Text
models do not load beside the moves) and headless Chromium:

1. moves: N key presses, each timed in the page from the key press until the quick slider's picture (or readings)
   changed, until the answer's own picture did ("rerun": the Image page's and the lab's "drawn by the model"
   picture, the Table lab's records; on the Image page the answer panel swaps it from the sweep, at the key press),
   and until nothing on the page was stale ("exact": the rerun's exact answer drawn); the bytes the server sent for
   the move (websocket frames, key press to idle); the server's CPU per move (/proc);
2. a held key: `--hold` key repeats 33 ms apart (Playwright's repeated keyboard.down sends `repeat` keydowns), then
   the release: how many messages the browser sent, the bytes back, the server's CPU, the time from the release
   until the page settled, and whether it settled at the slider's last value (the address bar's);
3. a burst: 5 presses 40 ms apart (faster than the server answers), then the same counts and check;
4. with no probe (`--no-probe N` series, 3 by default): the moves again, `--gap` + 0.3 s apart, with nothing of the
   bench's in the page while the server's CPU and the browser's main thread are counted, over the same wall time on
   every page (the 8 s pause and its run included), then checked (no step lost, settled). The timed moves' probes
   (an observer reading the page on every change, polls) are charged to the page by Chrome's counters, and not
   alike on every page: this is the figure to read against the no-model page.

The no-model page (bench/baseline_app.py) runs the moves and the no-probe series in each round. Modes alternate
within a round (`--modes new` runs the current code alone).
Usage: `python bench/bench_quick_ab.py [--rounds 2] [--moves 16] [--pages image,lab,table]`; writes
bench/results/quick_ab.json. `--old-app PATH` makes "old" another app script instead (e.g. a copy of app.py that swaps
in saved copies of the files a change touched), served the same way as app.py (EXPLORER_QUICK_RESEND=0, the
repository on PYTHONPATH); `--image-link` opens the Image page at another digit or world; `--out` names the result.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench_latency import _cpu_seconds
from bench_table_lab import ARM_TEXT_JS
from bench_table_lab import PATH as TABLE_PATH
from common import stats, write
from serve import (ARM_JS, CHROMIUM, CHROMIUM_ARGS, IDLE_JS, PACE, ROOT, all_sent, counted, cpu_busy, drawn_selector,
                   no_probe_figures, series_window, start, stop)

# page -> (path, caption of the rerun's picture, slider, key, arm, what is on screen once drawn)
PAGES = {
    "image": ("/image_whatif?index=0&thickness=1.5", "drawn by the model", "thickness", "ArrowRight", ARM_JS,
              drawn_selector("drawn by the model")),
    "lab": ("/causal_graph_lab?scene=0&light=110", "drawn by the model", "light", "ArrowLeft", ARM_JS,
            drawn_selector("drawn by the model")),
    "table": (TABLE_PATH, "", "age", "ArrowRight", ARM_TEXT_JS, ".st-key-tl_records table"),
    "baseline": ("/", "baseline picture", "", "ArrowRight", ARM_JS, "[data-testid=stImage] img"),
}
# Settled at the slider's value: the address bar (the what-if pages write it from the applied value) equals it.
SETTLED_JS = """(name) => {
  if (document.querySelectorAll('[data-stale=true]').length) return false;
  const input = document.querySelector(`.st-key-value_${name} input[type=range]`);
  const linked = new URLSearchParams(location.search).get(name);
  return linked !== null && Math.abs(parseFloat(linked) - parseFloat(input.value)) < 1e-9;
}"""


class Wire:
    """Counts the websocket frames of one page: bytes received, messages sent."""

    def __init__(self, page) -> None:
        self.received, self.sent = 0, 0
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", lambda f: setattr(self, "received", self.received + len(f)))
        ws.on("framesent", lambda f: setattr(self, "sent", self.sent + 1))

    def mark(self) -> tuple[int, int]:
        return self.received, self.sent


def _settle(page, name: str) -> None:
    time.sleep(0.15)  # a coalesced value may still be on its way: let it start before reading the page
    if name:
        page.wait_for_function(SETTLED_JS, arg=name, timeout=60_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)


def _browser_ms(cdp) -> dict[str, float]:
    """Chromium's own counters (ms): all tasks, and of them script, layout and style, of the page so far."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"tasks": metrics["TaskDuration"] * 1000, "script": metrics["ScriptDuration"] * 1000,
            "layout": metrics["LayoutDuration"] * 1000, "style": metrics["RecalcStyleDuration"] * 1000}


def _moves(page, wire: Wire, pid: int, what: str, n: int, gap: float = 0.2) -> dict:
    """`n` key presses, each after the page settled and `gap` s more; the counters run until every value set
    has reached the server and its run was drawn (a pause's worth after the last press)."""
    _, caption, name, key, arm, _ = PAGES[what]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    samples, cpu0, browser0 = [], _cpu_seconds(pid), _browser_ms(cdp)
    for _ in range(n):
        page.evaluate(arm, caption)
        got, sent = wire.mark()
        page.keyboard.press(key)
        sample = page.evaluate("() => window.__latency")
        _settle(page, name)
        samples.append({**sample, "bytes": wire.received - got, "sent": wire.sent - sent})
        time.sleep(gap)  # as bench_latency (0.2 s): the next press after the page settled, as a person would
    all_sent(page)
    browser1 = _browser_ms(cdp)
    return {"samples": samples, "cpu_ms_per_move": (_cpu_seconds(pid) - cpu0) / n * 1000,
            "browser_ms_per_move": {k: (browser1[k] - browser0[k]) / n for k in browser1}}


def _series(page, wire: Wire, pid: int, what: str, presses: int, gap: float, hold: bool) -> dict:
    """`presses` steps `gap` seconds apart (one held key, or separate presses), then until the page settled."""
    _, _, name, key, _, _ = PAGES[what]
    key = "ArrowLeft" if key == "ArrowRight" else "ArrowRight"  # back the way the moves came: inside the range
    got, sent, cpu0 = *wire.mark(), _cpu_seconds(pid)
    for _ in range(presses):
        page.keyboard.down(key) if hold else page.keyboard.press(key)
        time.sleep(gap)
    if hold:
        page.keyboard.up(key)
    t = time.perf_counter()
    _settle(page, name)
    settled = (time.perf_counter() - t) * 1000
    all_sent(page)  # the counts include the value's own run, after the pause
    return {"settle_ms": settled, "messages_sent": wire.sent - sent,
            "bytes": wire.received - got, "cpu_ms": (_cpu_seconds(pid) - cpu0) * 1000,
            "value": page.locator(f".st-key-value_{name} input[type=range]").input_value()}


def _quiet(page, pid: int, what: str, moves: int, gap: float, series: int) -> list[dict]:
    """`series` series of `moves` key presses `gap` + PACE s apart on the page's slider, with nothing of the bench's
    in the page while counted (no observer, probe or polling: Chrome's counters charge those to the page, and not
    alike on every page; docs/performance.md, "Counted with no probe in the page"), each over the same wall time on
    every page (the quick sliders' 8 s pause included), back and forth so the value stays in range. Each checked
    once its counters are read: stepped by `moves` (none lost) and settled at once (`late_ms`: the time it took)."""
    _, _, name, key, _, _ = PAGES[what]
    back = {"ArrowRight": "ArrowLeft", "ArrowLeft": "ArrowRight"}[key]
    slider = page.locator(f".st-key-value_{name} input[type=range]" if name else ".st-key-value input[type=range]")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    out = []
    for i in range(series):
        slider.focus()
        start_value, step = float(slider.input_value()), float(slider.get_attribute("step"))

        def press(pressed: str = key if i % 2 == 0 else back) -> None:
            for j in range(moves):
                page.keyboard.press(pressed)
                if j < moves - 1:
                    time.sleep(gap + PACE)

        def check() -> dict:
            t = time.perf_counter()
            all_sent(page)
            if name:
                page.wait_for_function(SETTLED_JS, arg=name, timeout=60_000, polling=100)
            late = (time.perf_counter() - t) * 1000
            return {"settled": late < 300, "late_ms": late, "moves": moves,
                    "stepped": round(abs(float(slider.input_value()) - start_value) / step)}

        out.append(counted(pid, cdp, press, moves, series_window(moves, gap + PACE), check))
    return out


def session(what: str, mode: str, moves: int, warmup: int, hold: int, old_app: str = "", gap: float = 0.2,
            no_probe: int = 0) -> dict:
    """One fresh server in `mode` ("old": EXPLORER_QUICK_RESEND=1, or `old_app` when given; "new"), one browser:
    moves, hold, burst, then `no_probe` series of the moves with no probe (`_quiet`, under "quiet")."""
    from playwright.sync_api import sync_playwright

    path, caption, name, key, _, ready = PAGES[what]
    env = {"EXPLORER_PREWARM": "0", "EXPLORER_QUICK_RESEND": "1" if mode == "old" and not old_app else "0"}
    app = "bench/baseline_app.py" if what == "baseline" else old_app if mode == "old" and old_app else "app.py"
    if app == old_app:  # a script outside the repository still imports it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    proc, url = start(app, env=env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            wire = Wire(page)
            page.goto(url + path)
            page.wait_for_selector(ready, timeout=300_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            slider = f".st-key-value_{name}" if name else ".st-key-value"
            page.locator(f"{slider} input[type=range]").focus()
            if name:  # reach for the slider: its sweep arrives (the Table lab makes it only now)
                page.wait_for_selector(f"{slider}[data-swept]", timeout=60_000)
                page.wait_for_function(IDLE_JS, timeout=60_000)
            _moves(page, wire, proc.pid, what, warmup)
            out = {"moves": _moves(page, wire, proc.pid, what, moves, gap)}
            if name:
                out["hold"] = _series(page, wire, proc.pid, what, hold, 0.033, hold=True)
                out["burst"] = _series(page, wire, proc.pid, what, 5, 0.040, hold=False)
            if no_probe:
                out["quiet"] = _quiet(page, proc.pid, what, moves, gap, no_probe)
            browser.close()
    finally:
        stop(proc)
    return out


def summary(run: dict) -> dict:
    """Median / p95 of one session's moves, in ms and kB, and its hold and burst."""
    s = run["moves"]["samples"]
    quick = [x["quick"] / 1000 for x in s if x.get("quick") is not None]
    row = {"rerun": stats([x["src"] / 1000 for x in s]), "kB_per_move": stats([x["bytes"] / 1000 for x in s]),
           "exact": stats([x.get("exact", x["src"]) / 1000 for x in s]),
           "messages_per_move": stats([float(x["sent"]) for x in s]), "cpu_ms_per_move": run["moves"]["cpu_ms_per_move"],
           "browser_ms_per_move": run["moves"]["browser_ms_per_move"]}
    if quick:
        row["quick"] = stats(quick)
    return row | {k: run[k] for k in ("hold", "burst") if k in run}


def _line(what: str, mode: str, r: dict, base: float) -> str:
    q = r.get("quick")
    text = (f"{what:8} {mode:4} quick {q['median'] * 1000:6.1f} / {q['p95'] * 1000:6.1f} ms  " if q else
            f"{what:8} {mode:4} {'':29}")
    text += (f"rerun {r['rerun']['median'] * 1000:6.1f} / {r['rerun']['p95'] * 1000:6.1f} ms "
             f"({r['rerun']['median'] / base:.2f}x)  exact {r['exact']['median'] * 1000:6.1f} / "
             f"{r['exact']['p95'] * 1000:6.1f} ms  {r['kB_per_move']['median']:6.1f} kB/move  "
             f"CPU {r['cpu_ms_per_move']:5.1f} ms/move  browser {r['browser_ms_per_move']['tasks']:5.1f} ms "
             f"({r['browser_ms_per_move']['script']:4.1f} script, {r['browser_ms_per_move']['layout']:4.1f} layout, "
             f"{r['browser_ms_per_move']['style']:4.1f} style)")
    for k in ("hold", "burst"):
        if k in r:
            h = r[k]
            text += (f"\n{'':14}{k}: {h['messages_sent']} messages, {h['bytes'] / 1000:.0f} kB, CPU {h['cpu_ms']:.0f} ms, "
                     f"settled {h['settle_ms']:.0f} ms after the last step at {h['value']}")
    return text


def _over_baseline(per_move: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each page's no-probe figures over the no-model page's of the same runs: medians over medians, p95 over p95."""
    base = per_move["baseline"]
    return {name: {k: ms[k] / base[k] for k in ms if base[k]} for name, ms in per_move.items() if name != "baseline"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--moves", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--hold", type=int, default=20)
    parser.add_argument("--pages", default="image,lab,table")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between a move's settling and the next "
                        "press (past SETTLE_MS, every move's value goes to the server alone)")
    parser.add_argument("--old-app", default="", help="serve this app script as \"old\" (default: app.py with "
                        "EXPLORER_QUICK_RESEND=1)")
    parser.add_argument("--image-link", default=PAGES["image"][0], help="the Image page's address, from /")
    parser.add_argument("--modes", default="old,new", help="old,new (both, taking turns) or one of them (the "
                        "no-model page runs in every round)")
    parser.add_argument("--no-probe", type=int, default=3, metavar="N", help="series of the moves counted again with "
                        "no probe in the page, after the timed ones, on every page (0: none)")
    parser.add_argument("--out", default="quick_ab", help="bench/results/<out>.json")
    args = parser.parse_args()
    pages, modes = args.pages.split(","), args.modes.split(",")
    if (args.rounds < 1 or args.moves < 1 or args.warmup < 0 or args.hold < 2 or not set(pages) <= set(PAGES)
            or not 0 <= args.gap <= 30 or not modes or not set(modes) <= {"old", "new"} or args.no_probe < 0):
        print("error: --rounds, --moves at least 1, --warmup, --no-probe at least 0, --hold at least 2, --gap 0-30 s, "
              "--modes from old,new, --pages from " + ",".join(p for p in PAGES if p != "baseline"), file=sys.stderr)
        return 2
    if args.old_app and not Path(args.old_app).is_file():
        print(f"error: --old-app {args.old_app}: no such file", file=sys.stderr)
        return 2
    if not args.out or not args.out.replace("_", "").isalnum():
        print("error: --out is a plain name (letters, digits, _)", file=sys.stderr)
        return 2
    if not args.image_link.startswith("/image_whatif"):
        print("error: --image-link must start with /image_whatif", file=sys.stderr)
        return 2
    PAGES["image"] = (args.image_link, *PAGES["image"][1:])
    old_app = str(Path(args.old_app).resolve()) if args.old_app else ""
    busy, load_before = cpu_busy(), os.getloadavg()
    results: list[dict] = []
    quiet: dict[str, list[dict]] = {}  # "baseline" or "<page> <mode>" -> its sessions (for no_probe_figures)
    for r in range(args.rounds):
        run = session("baseline", "new", args.moves, args.warmup, args.hold, gap=args.gap, no_probe=args.no_probe)
        quiet.setdefault("baseline", []).append(run)
        base = summary(run)
        results.append({"round": r, "page": "baseline", "mode": "-", **base})
        base_ms = base["rerun"]["median"]
        print(f"\nround {r + 1}, load average {os.getloadavg()[0]:.2f}\n" + _line("baseline", "-", base, base_ms),
              flush=True)
        for what in pages:
            for mode in (modes if r % 2 == 0 else modes[::-1]):
                run = session(what, mode, args.moves, args.warmup, args.hold, old_app, args.gap, args.no_probe)
                quiet.setdefault(f"{what} {mode}", []).append(run)
                row = summary(run)
                results.append({"round": r, "page": what, "mode": mode, **row, "over_baseline": {
                    k: row[k]["median"] / base_ms for k in ("quick", "rerun") if k in row} | {
                    "exact": row["exact"]["median"] / base["exact"]["median"]}})
                print(_line(what, mode, row, base_ms), flush=True)
    what = (f"the app (new) vs {args.old_app} (old)" if args.old_app else
            "quick sliders: sweeps sent once + coalesced moves (new) vs the old traffic")
    no_probe = no_probe_figures(quiet) if args.no_probe else {}  # (printed as it is read)
    if no_probe:
        no_probe["over_baseline_no_probe"] = _over_baseline(no_probe["per_move_ms_no_probe"])
        for name, ratios in no_probe["over_baseline_no_probe"].items():
            print(f"{name}: over the no-model page, no probe: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    path = write(args.out, {"what": what, "image_link": args.image_link, "gap_s": args.gap, "modes": modes,
                              "moves": args.moves, "hold": args.hold, "rounds": args.rounds, "results": results,
                              "no_probe_series": args.no_probe, **no_probe,
                              "cpu_busy_before_run": busy, "loadavg_before": load_before,
                              "loadavg_after": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
