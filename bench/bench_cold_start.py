"""Cold start: from `streamlit run app.py` to the first what-if page fully rendered in headless Chromium.

Each run starts a fresh server process (so torch is imported and every model loaded again) and opens
/image_whatif directly, as the first visitor after a deploy would. "Fully rendered" = the counterfactual
picture has loaded, the prediction sentences and the causal graph are on the page, and no element is
stale. Reported: time to a healthy server, and time to the rendered page (both from process start).

Usage: `python bench/bench_cold_start.py [--runs 5]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request

from common import print_table, stats, write
from serve import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, ROOT, cpu_busy, free_port, stop, training_running

RENDERED_JS = """() => {  // the answer panel's picture drawn by the model, its readings, and two SVG charts
  const fig = [...document.querySelectorAll('.ip-root figure')]
      .find(e => e.innerText.includes('drawn by the model'));
  const img = fig && fig.querySelector('img');
  const preds = [...document.querySelectorAll('.ip-lines')].some(e => e.innerText.includes('original →'));
  const charts = [...document.querySelectorAll('img[src^="data:image/svg"]')]
      .filter(i => i.complete && i.naturalWidth).length >= 2;  // the probabilities and the causal graph
  return Boolean(img && img.complete && img.naturalWidth && preds && charts)
      && document.querySelectorAll('[data-stale=true]').length === 0;
}"""


def _one_run(browser, timeout_s: float) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                    raise RuntimeError("server did not become healthy")
                time.sleep(0.02)
        healthy = time.perf_counter() - t0
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{url}/image_whatif")
        page.wait_for_function(RENDERED_JS, timeout=timeout_s * 1000, polling=20)
        rendered = time.perf_counter() - t0
        page.wait_for_function(IDLE_JS, timeout=10_000)
        context.close()
    finally:
        stop(proc)
    return {"healthy": healthy, "rendered": rendered}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per run")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    contended, busy = training_running(), cpu_busy()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        runs = []
        for i in range(args.runs):
            runs.append(_one_run(browser, args.timeout))
            last = runs[-1]
            print(f"run {i + 1}: healthy {last['healthy']:.2f} s, what-if page rendered {last['rendered']:.2f} s")
        browser.close()
    contended = contended or training_running()
    rows = {"server healthy (/_stcore/health)": stats([r["healthy"] for r in runs]),
            "first what-if page fully rendered": stats([r["rendered"] for r in runs])}
    print_table(f"cold start, {args.runs} runs, from `streamlit run`", rows, contended, busy, unit="s")
    path = write("cold_start", {
        "what": "time from `streamlit run app.py` to the first /image_whatif page fully rendered (headless Chromium)",
        "seconds": rows, "runs": runs, "training_job_running": contended, "cpu_busy_before_run": busy,
        "loadavg": os.getloadavg(),
        "pretrained": os.environ.get("EXPLORER_PRETRAINED", "pretrained/"),
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
