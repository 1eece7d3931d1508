"""Submit-to-answer latency of the Text what-if page in headless Chromium, with a no-model baseline.

For each of N typed sentences ("My brother was furious about letter number i.", concept gender): the time
from the Ctrl+Enter that submits the text until the page shows its rewrite ("My sister …"), and until the whole
what-if part has settled (nothing stale, the probability chart drawn), measured in the page with
performance.now(). Baseline in the same run: the same round trip on bench/baseline_text_app.py, which echoes
the text and draws a bar chart without any model. A third row times the explorer call alone, in-process
(`TextService.what_if`, 1 torch thread as the server runs it), on the same sentences.

Usage: `python bench/bench_text_page.py [--sentences 24]` (set EXPLORER_PRETRAINED to use other checkpoints).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common import print_table, stats, write
from serve import (CHROMIUM, CHROMIUM_ARGS, IDLE_JS, cpu_busy, start, stop, timed_in_subprocess,
                   training_running)

SENTENCE = "My brother was furious about letter number {i}."
REWRITE = "sister was furious about letter number {i}."  # textContent of the rewrite (its marks add no text)

# Resolves with {shown, settled} in ms from the next Ctrl+Enter until the page's text contains `marker`, and
# until it also has no stale element and a drawn chart. A MutationObserver fires in the same task as the DOM
# change, so the timing is not quantised to animation frames.
ARM_JS = """(marker) => {
  window.__latency = new Promise((resolve, reject) => {
    let t0 = null, shown = null;
    document.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    const check = () => {
      if (t0 === null) return;
      if (shown === null && document.body.textContent.includes(marker)) shown = performance.now() - t0;
      if (shown !== null && document.querySelectorAll('[data-stale=true]').length === 0
          && document.querySelector('.js-plotly-plot')) {
        obs.disconnect();
        resolve({shown, settled: performance.now() - t0});
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    setTimeout(() => reject(new Error('the answer did not appear within 60 s')), 60000);
  });
}"""

_MODEL_ONLY = """
import json, sys, time
import torch
from explorer.services.text import TextService
torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
service = TextService()
texts = json.loads(sys.argv[1])
for t in texts[:3]:
    service.what_if(t, "gender", "balanced")  # warm-up
out = []
for t in texts:
    t0 = time.perf_counter()
    service.what_if(t, "gender", "balanced")
    out.append(time.perf_counter() - t0)
print("RESULT" + json.dumps(out))
"""


def _submit(page, texts: list[str]) -> list[dict]:
    box = page.locator(".st-key-text_input textarea")
    out = []
    for i, text in enumerate(texts):
        box.fill(text)
        page.evaluate(ARM_JS, REWRITE.format(i=text.rsplit(" ", 1)[-1].rstrip(".")))
        box.press("Control+Enter")  # a text area sends its value on Ctrl+Enter
        out.append(page.evaluate("() => window.__latency"))
        page.wait_for_function(IDLE_JS, timeout=60_000)
        time.sleep(0.3)  # a person reads the answer before typing the next text
    return out


def browser_run(app: str, path: str, texts: list[str], warmup: list[str]) -> list[dict]:
    from playwright.sync_api import sync_playwright

    proc, url = start(app)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + path)
            page.wait_for_selector(".js-plotly-plot", timeout=300_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            _submit(page, warmup)
            samples = _submit(page, texts)
            browser.close()
    finally:
        stop(proc)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    contended_before, busy = training_running(), cpu_busy()
    texts = [SENTENCE.format(i=i) for i in range(args.sentences)]
    warmup = [SENTENCE.format(i=1000 + i) for i in range(args.warmup)]

    page = browser_run("app.py", "/text_whatif", texts, warmup)
    baseline = browser_run("bench/baseline_text_app.py", "/", texts, warmup)
    model = timed_in_subprocess(_MODEL_ONLY, json.dumps(texts), "model-only")
    contended = contended_before or training_running()
    rows = {
        "text page: Ctrl+Enter -> rewrite shown": stats([s["shown"] / 1000 for s in page]),
        "text page: Ctrl+Enter -> settled (chart drawn)": stats([s["settled"] / 1000 for s in page]),
        "baseline (no model): Ctrl+Enter -> rewrite shown": stats([s["shown"] / 1000 for s in baseline]),
        "baseline (no model): Ctrl+Enter -> settled": stats([s["settled"] / 1000 for s in baseline]),
        "explorer call alone (analyse, in-process)": stats(model),
    }
    ratio = rows["text page: Ctrl+Enter -> rewrite shown"]["median"] / \
        rows["baseline (no model): Ctrl+Enter -> rewrite shown"]["median"]
    print_table(f"submit-to-answer latency of the text page, {args.sentences} sentences each", rows, contended,
                busy)
    print(f"ratio text page / baseline (median, rewrite shown): {ratio:.2f}x")
    path = write("text_page_latency", {
        "what": "submit-to-answer latency of the Text what-if page (headless Chromium, Ctrl+Enter, concept gender)",
        "seconds": rows, "ratio_page_over_baseline": ratio, "sentences": args.sentences,
        "training_job_running": contended, "cpu_busy_before_run": busy, "loadavg": os.getloadavg(),
        "pretrained": os.environ.get("EXPLORER_PRETRAINED", "pretrained/"),
        "raw_ms": {"page": page, "baseline": baseline, "model_only": [m * 1000 for m in model]},
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
