"""Flip a classifier: steps of the digit number -> the picked digit's picture shown, and what a series of steps costs,
against a no-model page.

Before any search the Flip page shows the picked digit with the classifier's and the oracle's readings
(explorer/ui/flip_digit.py): a step card the browser swaps in on the step from the neighbours it holds, and a held
step (the number reaches Python after the quick sliders' pause, EXPLORER_QUICK_SETTLE, or at the visitor's next
action: one rerun for a series of steps). Picking another digit is the page's everyday move (a search is seconds of
model work on request, timed by bench_search.py). Each step presses ArrowUp in the digit number's box; timed in the
page from the key press until the new picture's address is set, until it has loaded and nothing is stale, and until
the page's last change (read once the page has been still for --gap s). After the series, until the page has
settled: the last number's rerun drawn (its neighbours held). Per step: the server's CPU ms and the browser's
main-thread ms over the whole series, the settling rerun included. Apps, taking turns: the page (held steps), the
same page with EXPLORER_QUICK_SETTLE=0 (each step sent at once: the page before held steps), optionally --compare
APP, and bench/baseline_number_app.py (the same box, a whole-page rerun and a new PNG, no model). The servers run
with EXPLORER_PREWARM=0: the other pages' models, which the app loads in the background after the first page is
drawn, would otherwise load during the first moves.

Usage: `python bench/bench_flip_page.py [--moves 24] [--rounds 2] [--gap 0.3] [--compare APP] [--out NAME]`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from common import print_table, stats, write
from serve import (ARM_JS, IDLE_JS, PACE, cpu_busy, drawn_selector, page_args, no_probe_figures, per_move,
                   print_per_move, quiet_series, series_settled, series_window, take_turns, training_running)

CAPTION = "Test digit #"  # the picked digit's picture (the no-model page's picture has the same caption)
BOX = ".st-key-flip_index input"
CARD = ".st-key-flip_digit_card"  # the shown card, with the value a rerun drew it for (explorer/ui/step_cards.py)


# The step's rerun done: the last change to the page after the key press (read once the page has been still and
# idle for 0.3 s). On the Flip page the picture is swapped before its rerun, so "nothing stale" right after the
# picture no longer says that the rerun has drawn; this does, on every page alike.
LAST_CHANGE_JS = """() => {
  const s = window.__last = {t0: null, last: null};
  window.addEventListener('keydown', () => { s.t0 = performance.now(); }, {capture: true, once: true});
  s.obs = new MutationObserver(() => { if (s.t0 !== null) s.last = performance.now() - s.t0; });
  s.obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""
LAST_CHANGE_READ_JS = "() => { window.__last.obs.disconnect(); return window.__last.last; }"


def _steps(page, moves: int, gap: float) -> list[dict]:
    out = []
    box = page.locator(BOX)
    for _ in range(moves):
        box.focus()
        page.evaluate(ARM_JS, CAPTION)
        page.evaluate(LAST_CHANGE_JS)
        box.press("ArrowUp")  # steps the number box (held on the Flip page; sent at once on the others)
        sample = page.evaluate("() => window.__latency")
        page.wait_for_function(IDLE_JS, timeout=60_000, polling=100)  # not by frames (serve.all_sent says why)
        time.sleep(gap)  # a person looks at the new digit before the next step
        out.append(sample | {"rerun": page.evaluate(LAST_CHANGE_READ_JS)})
    out[-1]["settled"] = series_settled(page, BOX, CARD)  # the series' number reached Python and was drawn
    return out


def main() -> int:
    args = page_args(__doc__, "bench_flip_page", "/flip_classifier", "flip_page")
    if args is None:
        return 2
    os.environ["EXPLORER_PREWARM"] = "0"  # the servers inherit it: no background model loading during the moves
    contended_before, busy, load_before = training_running(), cpu_busy(), os.getloadavg()
    link = "/flip_classifier?index=20"
    apps = {"flip page": ("app.py", link),
            "each step sent": ("app.py", link, {"EXPLORER_QUICK_SETTLE": "0"})}
    if args.compare:
        apps["compared page"] = (str(Path(args.compare).resolve()), link)
    apps["no-model page"] = ("bench/baseline_number_app.py", "/")
    runs = take_turns(apps, drawn_selector(CAPTION), lambda page, n: _steps(page, n, args.gap), args.moves,
                      args.warmup, args.rounds, series_window(args.moves, args.gap),
                      quiet_series(BOX, CARD, args.moves, args.gap + PACE))
    rows, moves = {}, {}
    for name in apps:
        samples = [s for run in runs[name] for s in run["samples"]]
        rows[f"{name}: step -> picture set"] = stats([s["src"] / 1000 for s in samples])
        rows[f"{name}: step -> picture loaded, nothing stale"] = stats([s["exact"] / 1000 for s in samples])
        rows[f"{name}: step -> the page's last change"] = stats([s["rerun"] / 1000 for s in samples])
        rows[f"{name}: last step of a series -> its number's rerun drawn"] = stats(
            [s["settled"] / 1000 for s in samples if "settled" in s])
        moves[name] = per_move(runs[name])
    no_probe = no_probe_figures(runs)  # (printed as it is read)
    quiet = no_probe["per_move_ms_no_probe"]
    base, quiet_base = moves["no-model page"], quiet["no-model page"]
    ratios = {name: {"picture set " + q: rows[f"{name}: step -> picture set"][q]
                     / rows["no-model page: step -> picture set"][q] for q in ("median", "p95")}
              | {f"per step {k}": moves[name][k] / base[k] for k in base}
              | {f"per step, no probe, {k}": quiet[name][k] / quiet_base[k] for k in quiet_base}
              for name in apps if name != "no-model page"}
    contended = contended_before or training_running()
    print_table(f"Flip page: digit number steps, {args.moves} moves x {args.rounds} rounds, {args.gap} s apart", rows,
                contended, busy)
    for name, r in ratios.items():
        print(f"ratio {name} / no-model page: picture set {r['picture set median']:.2f}x / "
              f"{r['picture set p95']:.2f}x; per step: server CPU {r['per step server_cpu_ms']:.2f}x, browser "
              f"main thread {r['per step browser_task_ms']:.2f}x (script {r['per step browser_script_ms']:.2f}x); "
              f"no probe: server CPU {r['per step, no probe, server_cpu_ms']:.2f}x, browser main thread "
              f"{r['per step, no probe, browser_task_ms']:.2f}x")
    print_per_move(moves)
    path = write(args.out, {
        "what": "Flip page: steps of the digit number -> the picked digit's picture, and a series' cost "
                "(headless Chromium)",
        "seconds": rows, "ratios": ratios, "per_move_ms": moves, "moves": args.moves, "rounds": args.rounds,
        **no_probe,
        "gap_s": args.gap, "compare": args.compare, "training_job_running": contended, "cpu_busy_before_run": busy,
        "loadavg_before_after": [load_before, os.getloadavg()],
        "counted_over_s": {name: [round(r["window_s"], 2) for r in runs[name]] for name in apps},
        "raw_ms": {name: [r["samples"] for r in runs[name]] for name in apps},
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
