"""Flip a classifier: a step of the digit number -> the picked digit's picture shown, against a no-model page.

Before any search the Flip page shows the picked digit with the classifier's and the oracle's readings
(explorer/ui/flip_digit.py: a card the browser swaps in on the step from the neighbours it holds, which the rerun
then draws again); picking another digit is the page's everyday move (a search is seconds of model work on request,
timed by bench_search.py). Each move presses ArrowUp in the digit number's box, which steps it and reruns the page;
timed in the page from the key press until the new picture's address is set and until it has loaded and nothing is
stale (serve.ARM_JS: the rerun done). Baseline in the same run:
bench/baseline_number_app.py, the same box, a whole-page rerun and a new PNG, no model. Also per move: the server's
CPU ms and the browser's main-thread ms. The servers run with EXPLORER_PREWARM=0: the other pages' models, which the
app loads in the background after the first page is drawn, would otherwise load during the first moves.

Usage: `python bench/bench_flip_page.py [--moves 24] [--rounds 2] [--compare APP] [--out NAME]`; `--compare` times a
second app serving the page at /flip_classifier (e.g. the page before a change) in the same rounds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from common import print_table, stats, write
from serve import (ARM_JS, IDLE_JS, cpu_busy, drawn_selector, page_args, per_move, print_per_move, take_turns,
                   training_running)

CAPTION = "Test digit #"  # the picked digit's picture (the no-model page's picture has the same caption)
BOX = ".st-key-flip_index input"


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


def _step(page, moves: int) -> list[dict]:
    out = []
    box = page.locator(BOX)
    for _ in range(moves):
        box.focus()
        page.evaluate(ARM_JS, CAPTION)
        page.evaluate(LAST_CHANGE_JS)
        box.press("ArrowUp")  # steps the number box; it sends the new value at once
        sample = page.evaluate("() => window.__latency")
        page.wait_for_function(IDLE_JS, timeout=60_000)
        time.sleep(0.3)  # a person looks at the new digit before the next step
        out.append(sample | {"rerun": page.evaluate(LAST_CHANGE_READ_JS)})
    return out


def main() -> int:
    args = page_args(__doc__, "bench_flip_page", "/flip_classifier", "flip_page")
    if args is None:
        return 2
    os.environ["EXPLORER_PREWARM"] = "0"  # the servers inherit it: no background model loading during the moves
    contended_before, busy, load_before = training_running(), cpu_busy(), os.getloadavg()
    apps = {"flip page": ("app.py", "/flip_classifier?index=0")}
    if args.compare:
        apps["compared page"] = (str(Path(args.compare).resolve()), "/flip_classifier?index=0")
    apps["no-model page"] = ("bench/baseline_number_app.py", "/")
    runs = take_turns(apps, drawn_selector(CAPTION), _step, args.moves, args.warmup, args.rounds)
    rows, moves = {}, {}
    for name in apps:
        samples = [s for run in runs[name] for s in run["samples"]]
        rows[f"{name}: step -> picture set"] = stats([s["src"] / 1000 for s in samples])
        rows[f"{name}: step -> picture loaded, nothing stale"] = stats([s["exact"] / 1000 for s in samples])
        rows[f"{name}: step -> its rerun drawn (the last change)"] = stats([s["rerun"] / 1000 for s in samples])
        moves[name] = per_move(runs[name])
    base = rows["no-model page: step -> picture set"]
    rerun = rows["no-model page: step -> its rerun drawn (the last change)"]
    ratios = {name: {q: rows[f"{name}: step -> picture set"][q] / base[q] for q in ("median", "p95")}
              | {f"rerun {q}": rows[f"{name}: step -> its rerun drawn (the last change)"][q] / rerun[q]
                 for q in ("median", "p95")}
              for name in apps if name != "no-model page"}
    contended = contended_before or training_running()
    print_table(f"Flip page: digit number step -> picture, {args.moves} moves x {args.rounds} rounds", rows,
                contended, busy)
    for name, ratio in ratios.items():
        print(f"ratio {name} / no-model page, picture set: median {ratio['median']:.2f}x, p95 {ratio['p95']:.2f}x; "
              f"rerun drawn: {ratio['rerun median']:.2f}x, {ratio['rerun p95']:.2f}x")
    print_per_move(moves)
    path = write(args.out, {
        "what": "Flip page: a step of the digit number -> the picked digit's picture (headless Chromium)",
        "seconds": rows, "ratios": ratios, "per_move_ms": moves, "moves": args.moves, "rounds": args.rounds,
        "compare": args.compare, "training_job_running": contended, "cpu_busy_before_run": busy,
        "loadavg_before_after": [load_before, os.getloadavg()],
        "raw_ms": {name: [r["samples"] for r in runs[name]] for name in apps},
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
