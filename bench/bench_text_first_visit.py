"""The first visitor after a deploy: Home, then the Text what-if page. How long until the text's answers show?

Each run starts a fresh server, opens Home and waits until its live picture is drawn, stays `--pause` seconds
(a visitor reading the page), then clicks "Text what-if" in the sidebar and times the click until both models'
answers on the example text are on the page. The text models load in the background from the first page view
(`ui.prewarm`); the baseline in the same run is the same server with EXPLORER_PREWARM=0, where the Text page
loads them itself. Runs alternate between the two, so drift hits both alike.

Usage: `python bench/bench_text_first_visit.py [--runs 4] [--pause 3]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from common import print_table, stats, write
from serve import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, cpu_busy, start, stop, training_running

HOME_JS = """() => { const img = [...document.querySelectorAll('[data-testid=stImage] img')][0];
  return Boolean(img && img.complete && img.naturalWidth); }"""
# both models' answers on the text, as the Text page lists them
ANSWERS_JS = """() => [...document.querySelectorAll('[data-testid=stHtml] ul')]
  .some(e => e.innerText.includes('on your text'))"""


def _one_run(browser, prewarm: bool, pause: float, timeout_s: float) -> float:
    proc, url = start(env={"EXPLORER_PREWARM": "1" if prewarm else "0"}, timeout=timeout_s)
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url)
        page.wait_for_function(HOME_JS, timeout=timeout_s * 1000, polling=50)
        page.wait_for_function(IDLE_JS, timeout=timeout_s * 1000)
        time.sleep(pause)
        t0 = time.perf_counter()
        page.get_by_role("link", name="Text what-if").first.click()
        page.wait_for_function(ANSWERS_JS, timeout=timeout_s * 1000, polling=20)
        took = time.perf_counter() - t0
        page.context.close()
        return took
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="runs of each kind")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds on Home before the click")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    contended, busy = training_running(), cpu_busy()
    runs: dict[str, list[float]] = {"prewarm": [], "baseline": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for i in range(args.runs):
            for kind in ("prewarm", "baseline") if i % 2 == 0 else ("baseline", "prewarm"):
                runs[kind].append(_one_run(browser, kind == "prewarm", args.pause, args.timeout))
                print(f"run {i + 1} {kind}: {runs[kind][-1]:.2f} s", flush=True)
        browser.close()
    contended = contended or training_running()
    rows = {"click → answers shown, models loading since Home": stats(runs["prewarm"]),
            "baseline: the Text page loads them (EXPLORER_PREWARM=0)": stats(runs["baseline"])}
    print_table(f"first Text page visit after Home ({args.pause:.0f} s there), {args.runs} runs each", rows,
                contended, busy, unit="s")
    path = write("text_first_visit", {
        "what": "fresh server; Home drawn; pause; click Text what-if; time until both models' answers show",
        "pause_s": args.pause, "seconds": rows, "runs": runs, "training_job_running": contended,
        "cpu_busy_before_run": busy, "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
