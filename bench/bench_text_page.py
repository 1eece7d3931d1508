"""Submit-to-answer latency of the Text what-if page in headless Chromium, with a no-model baseline.

For each of N typed sentences ("My brother was furious about letter number i.", concept gender): the time
from the Ctrl+Enter that submits the text until the page shows its rewrite ("My sister …"), and until the whole
what-if part has settled (nothing stale, the probability chart drawn, the link written), measured in the page
with performance.now(). On the text page the rewrite, both models' answers and their bars are one HTML element
(explorer/ui/text_view.py), so the rewrite shown means the answers and the bars are shown with it. Baseline in
the same run: the same round trip on bench/baseline_text_app.py, which echoes the text and draws a bar chart
without any model. A third row times the explorer call alone, in-process (`TextService.what_if`, 1 torch thread
as the server runs it), on the same sentences.

Also per move: the server's CPU milliseconds (what sets how many visitors a core serves) and the browser's
main-thread milliseconds (Chrome's Performance metrics), for the page and the baseline.

`--pause S` waits S seconds between setting a text and its Ctrl+Enter, as a person pauses before a command: the
page then asks for the text's answer during the pause (explorer/ui/text_drafts.py) and Ctrl+Enter shows it at
once; each sample says whether it was drawn so (`from_draft`). 0 (the default) presses at once: no draft; the page
then asks its answer route for it (explorer/ui/text_route.py), and each sample says whether that answer was drawn
(`from_route`; `EXPLORER_TEXT_ROUTE=0` in the environment turns the route's use off).

Usage: `python bench/bench_text_page.py [--sentences 24] [--rounds 2] [--pause 0] [--compare APP] [--out NAME]`
(set EXPLORER_PRETRAINED to use other checkpoints). `--compare` times a second version of the page (an app serving
it at /text_whatif, e.g. one that runs a saved copy of the old page) in the same rounds: a before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from common import print_table, stats, write
from serve import IDLE_JS, cpu_busy, measured_run, timed_in_subprocess, training_running

SENTENCE = "My brother was furious about letter number {i}."
REWRITE = "sister was furious about letter number {i}."  # textContent of the rewrite (its marks add no text)

# Resolves with {shown, settled} in ms from the next Ctrl+Enter until the page's text contains `marker`, and
# until it also has no stale element, a chart matching `chart` (a CSS selector) and, if `link` is given, the
# address bar names the text (the page writes its link last in the commit's rerun: with an answer drawn from a
# draft, "settled" is that rerun done). A MutationObserver fires in the same task as the DOM change, so the
# timing is not quantised to animation frames. The clock starts in the window's capture phase, before any of the
# page's own key listeners (the drafts' swap on Ctrl+Enter), whose DOM change would otherwise pass unseen.
ARM_JS = """([marker, chart, link]) => {
  window.__latency = new Promise((resolve, reject) => {
    let t0 = null, shown = null;
    window.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    const linked = () => !link || decodeURIComponent(location.search.replace(/[+]/g, ' ')).includes(link);
    const check = () => {
      if (t0 === null) return;
      if (shown === null && document.body.textContent.includes(marker)) shown = performance.now() - t0;
      if (shown !== null && document.querySelectorAll('[data-stale=true]').length === 0
          && document.querySelector(chart) && linked()) {
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


PAGE_CHART = "#text-probabilities"  # the text page's bars (explorer/ui/text_view.py CHART_ID)
BASELINE_CHART = ".js-plotly-plot"  # the baseline's Plotly bars


DRAWN_FROM_DRAFTS_JS = "() => Number(document.querySelector('.td-root')?.dataset.shown || 0)"
DRAWN_FROM_ROUTE_JS = "() => Number(document.querySelector('.td-root')?.dataset.asked || 0)"


def _submit(page, texts: list[str], chart: str, pause: float) -> list[dict]:
    box = page.locator(".st-key-text_input textarea")
    out = []
    for text in texts:
        box.fill(text)
        time.sleep(pause)  # the person's pause before Ctrl+Enter
        link = text if chart == PAGE_CHART else None  # the baseline writes no link
        page.evaluate(ARM_JS, [REWRITE.format(i=text.rsplit(" ", 1)[-1].rstrip(".")), chart, link])
        drafted, asked = page.evaluate(DRAWN_FROM_DRAFTS_JS), page.evaluate(DRAWN_FROM_ROUTE_JS)
        box.press("Control+Enter")  # a text area sends its value on Ctrl+Enter
        out.append(page.evaluate("() => window.__latency"))
        out[-1]["from_draft"] = page.evaluate(DRAWN_FROM_DRAFTS_JS) > drafted
        out[-1]["from_route"] = page.evaluate(DRAWN_FROM_ROUTE_JS) > asked
        page.wait_for_function(IDLE_JS, timeout=60_000)
        time.sleep(0.3)  # a person reads the answer before typing the next text
    return out


def browser_run(app: str, path: str, texts: list[str], warmup: list[str], chart: str, pause: float) -> dict:
    """{"samples": [{shown, settled, from_draft}] per text, "server_cpu_ms", "browser_task_ms", "browser_script_ms": per
    move, averaged over the texts (the 0.3 s pauses between moves included: an idle server uses ~0)}."""
    return measured_run(app, path, chart, lambda page: _submit(page, warmup, chart, pause),
                        lambda page: _submit(page, texts, chart, pause), len(texts))


def _runs(apps: dict[str, tuple[str, str, str]], texts: list[str], warmup: list[str], rounds: int,
          pause: float) -> dict:
    """Each app's runs, the apps taking turns within each round so that drifting load hits them alike."""
    out = {name: [] for name in apps}
    for _ in range(rounds):
        for name, (app, path, chart) in apps.items():
            out[name].append(browser_run(app, path, texts, warmup, chart, pause))
    return out


def _rows(name: str, runs: list[dict]) -> dict:
    samples = [s for run in runs for s in run["samples"]]
    return {f"{name}: Ctrl+Enter -> rewrite shown": stats([s["shown"] / 1000 for s in samples]),
            f"{name}: Ctrl+Enter -> settled (chart drawn, link written)": stats([s["settled"] / 1000 for s in samples])}


def _per_move(runs: list[dict]) -> dict[str, float]:
    """Server CPU and browser main-thread ms per move, averaged over the runs."""
    keys = ("server_cpu_ms", "browser_task_ms", "browser_script_ms")
    return {k: sum(run[k] for run in runs) / len(runs) for k in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each app, taking turns")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between a text and its Ctrl+Enter")
    parser.add_argument("--out", default="text_page_latency", help="the results file's name (bench/results/NAME.json)")
    parser.add_argument("--compare", metavar="APP", help="a second app serving the page at /text_whatif (e.g. "
                        "the page's previous version), timed in the same rounds")
    args = parser.parse_args()
    if args.sentences < 1 or args.warmup < 0 or args.rounds < 1 or not 0 <= args.pause <= 60:
        print("error: --sentences and --rounds must be at least 1, --warmup at least 0, --pause 0-60 s",
              file=sys.stderr)
        return 2
    if args.compare and not Path(args.compare).is_file():
        print(f"error: --compare {args.compare}: no such file", file=sys.stderr)
        return 2
    contended_before, busy = training_running(), cpu_busy()
    texts = [SENTENCE.format(i=i) for i in range(args.sentences)]
    warmup = [SENTENCE.format(i=1000 + i) for i in range(args.warmup)]
    apps = {"text page": ("app.py", "/text_whatif", PAGE_CHART)}
    if args.compare:  # a version of the page from 2026-12-05 on (its bars are the same picture)
        apps["compared page"] = (str(Path(args.compare).resolve()), "/text_whatif", PAGE_CHART)
    apps["baseline (no model)"] = ("bench/baseline_text_app.py", "/", BASELINE_CHART)
    load_before = os.getloadavg()
    runs = _runs(apps, texts, warmup, args.rounds, args.pause)
    model = timed_in_subprocess(_MODEL_ONLY, json.dumps(texts), "model-only")
    contended = contended_before or training_running()
    rows = {k: v for name in apps for k, v in _rows(name, runs[name]).items()}
    rows["explorer call alone (analyse, in-process)"] = stats(model)
    base = rows["baseline (no model): Ctrl+Enter -> rewrite shown"]
    ratios = {name: {q: rows[f"{name}: Ctrl+Enter -> rewrite shown"][q] / base[q] for q in ("median", "p95")}
              for name in apps if not name.startswith("baseline")}
    per_move = {name: _per_move(runs[name]) for name in apps}
    print_table(f"submit-to-answer latency of the text page, {args.sentences} sentences x {args.rounds} rounds",
                rows, contended, busy)
    for name, ratio in ratios.items():
        print(f"ratio {name} / baseline, rewrite shown: median {ratio['median']:.2f}x, p95 {ratio['p95']:.2f}x")
    for name, ms in per_move.items():
        print(f"{name}: per move, server CPU {ms['server_cpu_ms']:.1f} ms, browser main thread "
              f"{ms['browser_task_ms']:.1f} ms (script {ms['browser_script_ms']:.1f} ms)")
    drafted = {name: sum(s.get("from_draft", False) for r in runs[name] for s in r["samples"]) for name in apps}
    routed = {name: sum(s.get("from_route", False) for r in runs[name] for s in r["samples"]) for name in apps}
    print("answers drawn from a draft: " + ", ".join(f"{name} {n} of {args.sentences * args.rounds}"
                                                      for name, n in drafted.items()))
    print("answers drawn from the route: " + ", ".join(f"{name} {n} of {args.sentences * args.rounds}"
                                                        for name, n in routed.items()))
    path = write(args.out, {
        "what": "submit-to-answer latency of the Text what-if page (headless Chromium, Ctrl+Enter, concept gender)",
        "seconds": rows, "ratio_page_over_baseline": ratios["text page"]["median"], "ratios": ratios,
        "per_move_ms": per_move, "sentences": args.sentences, "rounds": args.rounds, "compare": args.compare,
        "pause_s": args.pause, "drawn_from_draft": drafted, "drawn_from_route": routed,
        "training_job_running": contended, "cpu_busy_before_run": busy,
        "loadavg_before_after": [load_before, os.getloadavg()],
        "pretrained": os.environ.get("EXPLORER_PRETRAINED", "pretrained/"),
        "raw_ms": {**{name: [r["samples"] for r in runs[name]] for name in apps},
                   "model_only": [m * 1000 for m in model]},
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
