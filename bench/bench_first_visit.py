"""A page's first visit on a fresh server: from `streamlit run` to the page fully drawn, for this code and another
(a worktree of an earlier commit), the two taking turns run after run.

Each run starts a fresh server and opens the page directly, as the first visitor to it after a deploy would (nothing
warmed by an earlier page). "Fully drawn": the page's last widget is on the page, nothing is stale and the script
has finished running. The figure is the ratio of the two medians, measured in the same run.

Usage: `python bench/bench_first_visit.py --compare <worktree>/app.py [--page train_with_counterfactuals]
[--ready cf_train] [--runs 5]`; `--ready` is the key of the widget the page draws last.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from common import print_table, stats, write
from serve import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, ROOT, cpu_busy, start, stop, training_running

DRAWN_JS = """(key) => Boolean(document.querySelector(`.st-key-${key}`))
    && document.querySelectorAll('[data-stale=true]').length === 0
    && !document.querySelector('[data-testid=stStatusWidget] [data-testid=stStatusWidgetRunningIcon]')"""


def _one_run(browser, app: Path, page_name: str, ready: str, timeout_s: float) -> dict[str, float]:
    t0 = time.perf_counter()
    proc, url = start(str(app), timeout_s)
    healthy = time.perf_counter() - t0
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{url}/{page_name}")
        page.wait_for_function(DRAWN_JS, arg=ready, timeout=timeout_s * 1000, polling=20)
        drawn = time.perf_counter() - t0
        page.wait_for_function(IDLE_JS, timeout=10_000)
        context.close()
    finally:
        stop(proc)
    return {"healthy": healthy, "drawn": drawn, "page": drawn - healthy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, required=True, help="the other code's app.py (a worktree)")
    parser.add_argument("--page", default="train_with_counterfactuals", help="the page's address, e.g. flip_classifier")
    parser.add_argument("--ready", default="cf_train", help="key of the widget the page draws last")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per run")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    apps = {"now": ROOT / "app.py", "compared": args.compare.resolve()}
    contended, busy = training_running(), cpu_busy()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in apps}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for i in range(args.runs):
            order = list(apps) if i % 2 == 0 else list(apps)[::-1]  # taking turns: neither always runs first
            for name in order:
                runs[name].append(_one_run(browser, apps[name], args.page, args.ready, args.timeout))
                last = runs[name][-1]
                print(f"run {i + 1} {name}: healthy {last['healthy']:.2f} s, /{args.page} drawn {last['drawn']:.2f} s")
        browser.close()
    contended = contended or training_running()
    rows = {f"{name}: {what}": stats([r[key] for r in runs[name]])
            for name in apps for what, key in (("server healthy", "healthy"), (f"/{args.page} drawn", "drawn"),
                                               ("healthy -> drawn", "page"))}
    print_table(f"first visit of /{args.page}, {args.runs} runs each, from `streamlit run`", rows, contended, busy,
                unit="s")
    ratio = stats([r["drawn"] for r in runs["now"]])["median"] / stats([r["drawn"] for r in runs["compared"]])["median"]
    print(f"now / compared (medians, drawn): {ratio:.2f}")
    path = write(f"first_visit_{args.page}", {
        "what": f"time from `streamlit run app.py` to /{args.page} fully drawn, this code against {args.compare}",
        "seconds": rows, "runs": runs, "now_over_compared_drawn_median": ratio, "training_job_running": contended,
        "cpu_busy_before_run": busy, "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
