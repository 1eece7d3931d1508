"""Do other visitors' sliders stay responsive while Train now trains? Image-page slider latency, idle vs training.

One app server, one headless Chromium, two visitors (browser contexts). Visitor B moves the Image what-if page's
thickness slider N times (key press -> new counterfactual picture, measured in the page as bench_latency.py does)
twice: first while nothing else runs (the baseline), then while visitor A's Train now job trains on the same
server (the page's worker thread, one torch thread). The ratio of the medians is the figure. Train now's own wall
time (click -> "Trained in") is reported too.

Usage: `python bench/bench_train_now.py [--moves 20] [--methods cf_augment,cf_regularise,true_augment]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench_latency import START, _moves
from common import print_table, stats, write
from serve import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, cpu_busy, start, stop, training_running

CAPTION = "drawn by the model"
SLIDER = ".st-key-value_thickness"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--methods", default="cf_augment,cf_regularise,true_augment",
                        help="Train now's methods: long enough to cover the timed moves")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    contended, busy = training_running(), cpu_busy()
    proc, url = start("app.py", env={"EXPLORER_PREWARM": "0"})
    image_path = f"/image_whatif?index=0&thickness={START}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            trainer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            visitor = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            trainer.goto(f"{url}/train_with_counterfactuals?strength=0.99&methods={args.methods}")
            trainer.wait_for_selector(".st-key-cf_train button", timeout=300_000)

            def image_moves() -> list[dict]:
                visitor.goto(url + image_path)  # every round starts from the same link: the same values
                visitor.wait_for_selector(f"[data-testid=stImage]:has-text('{CAPTION}') img", timeout=300_000)
                visitor.wait_for_function(IDLE_JS, timeout=60_000)
                return _moves(visitor, CAPTION, SLIDER, args.moves)

            image_moves()  # warm-up: the Image service loads, its first calls allocate
            idle = image_moves()
            clicked = time.perf_counter()
            trainer.locator(".st-key-cf_train button").click()
            trainer.wait_for_selector("[data-testid=stProgress]", timeout=120_000)  # the job is training
            training = image_moves()
            still_training = trainer.locator("text=Trained in").count() == 0
            trainer.wait_for_selector("text=Trained in", timeout=1_800_000)
            train_seconds = time.perf_counter() - clicked
            browser.close()
    finally:
        stop(proc)
    rows = {"image page while idle: key press -> new picture": stats([s["src"] / 1000 for s in idle]),
            "image page while Train now trains: key press -> new picture": stats([s["src"] / 1000 for s in training])}
    ratio = rows["image page while Train now trains: key press -> new picture"]["median"] / \
        rows["image page while idle: key press -> new picture"]["median"]
    print_table(f"slider latency for another visitor, {args.moves} moves each", rows, contended, busy)
    print(f"ratio training / idle (median): {ratio:.2f}x; Train now ({args.methods}) took {train_seconds:.0f} s"
          + ("" if still_training else "  [the job ended before the last timed move]"))
    path = write("train_now", {"seconds": rows, "ratio_training_over_idle": ratio, "moves": args.moves,
                               "methods": args.methods, "train_now_seconds": train_seconds,
                               "training_covered_every_move": still_training, "training_job_running": contended,
                               "cpu_busy_before_run": busy, "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
