"""A class typing at once on the Text what-if page: N browser sessions, each typing its own sentences key by key.

One headless Chromium, N contexts (a visitor each). Every visitor types `--sentences` sentences of its own ("My
brother was furious about letter number <n>.", n unique to the visitor and the sentence) key by key, 90-160 ms a
key and 0.05-0.4 s between words (seeded), pauses before Ctrl+Enter for one of `--pauses` seconds (0 is "at once"),
then reads the answer for 0.5-1.5 s. On the Text page a pause of 0.3 s in typing sends the text as a draft whose
answer is drawn hidden (explorer/ui/text_drafts.py): each pause between words that ends on a new text costs the
server a fragment run and a model call, the price this benchmark measures under a class.

Measured per app, in the same run: Ctrl+Enter -> the visitor's rewrite shown (median, p95, and split by the pause
before Ctrl+Enter) and -> settled (nothing stale); the answers drawn from a draft; lost answers (none within
`--lost-after` s); stale or leaked answers (after each answer, the numbers the visible result names must be the
visitor's own: another visitor's number is a leak, an older one stale); the server's CPU per text and its script
runs (EXPLORER_RUN_STATS: fragment runs beyond the commits are the drafts); the browsers' CPU.

The apps: the Text page, the same page with drafts off (EXPLORER_TEXT_DRAFTS=0), and the no-model page
(bench/baseline_text_app.py: the text area, an echo and a bar chart), each with the same visitors and seeds.
`--split-cores` puts the server on core 0 and the browsers on the others, as in a class where each browser has its
own machine.

Usage: `python bench/bench_text_class.py [--sessions 16] [--sentences 4] [--pauses 0,0.5,1] [--split-cores]
[--no-baseline] [--out NAME]`; writes bench/results/<NAME>.json (default text_class).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus

from classroom_stats import browser_cpu, machine_cpu, runs, server_stats
from common import stats, write
from serve import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, cpu_busy, start, stop, training_running

SENTENCE = "My brother was furious about letter number {n}."
REWRITE = "sister was furious about letter number {n}."  # in the result: the rewrite (its marks add no text)
BOX = ".st-key-text_input textarea"
# The visible result's text: the page's st.html and Markdown elements, not the drafts' hidden answer
RESULT_JS = """() => [...document.querySelectorAll('[data-testid=stHtml], [data-testid=stMarkdownContainer]')]
  .filter((e) => !e.closest('.st-key-text_draft_held')).map((e) => e.textContent).join(' ')"""
# Resolves with {shown, settled} in ms from the next key press (Ctrl+Enter) until the visible result holds
# `marker`, and until nothing is stale and, if `link` is given, the address bar names it too (the Text page writes
# its link last in the commit's rerun: with an answer drawn from a draft, "settled" is that rerun done); rejects
# after `limit` ms.
ARM_JS = """([marker, link, limit]) => {
  const text = """ + RESULT_JS + """;
  window.__latency = new Promise((resolve, reject) => {
    let t0 = null, shown = null;
    const linked = () => !link || decodeURIComponent(location.search.replace(/[+]/g, ' ')).includes(link);
    window.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    const check = () => {
      if (t0 === null) return;
      if (shown === null && text().includes(marker)) shown = performance.now() - t0;
      if (shown !== null && document.querySelectorAll('[data-stale=true]').length === 0 && linked()) {
        obs.disconnect();
        resolve({shown, settled: performance.now() - t0});
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    setTimeout(() => reject(new Error('no answer in time')), limit);
  });
}"""
DRAWN_FROM_DRAFTS_JS = "() => Number(document.querySelector('.td-root')?.dataset.shown || 0)"


@dataclass
class Visitor:
    k: int
    samples: list[dict] = field(default_factory=list)  # {pause, shown, settled, from_draft} per answered text
    lost: int = 0
    failed: list[str] = field(default_factory=list)  # a step the browser could not take (e.g. the box not editable)
    stale: int = 0
    leaked: int = 0


def number(k: int, j: int) -> int:
    """Visitor k's j-th sentence's number: unique across the class, so an answer names whose text it is."""
    return 1000 * (k + 1) + j


async def _type(page, text: str, rng: random.Random) -> None:
    words = text.split(" ")
    for i, word in enumerate(words):
        await page.keyboard.type(word + (" " if i < len(words) - 1 else ""), delay=rng.uniform(90, 160))
        if i < len(words) - 1:
            await asyncio.sleep(rng.uniform(0.05, 0.4))


async def _visitor(page, v: Visitor, sentences: int, pauses: list[float], lost_after: float, owners: dict[int, int],
                   linked: bool, rng: random.Random, go: asyncio.Event) -> None:
    await go.wait()
    await asyncio.sleep(rng.uniform(0, 2.0))  # a class does not start typing in the same second
    box = page.locator(BOX)
    for j in range(sentences):
        n = number(v.k, j)
        try:
            await box.fill("", timeout=lost_after * 1000)
            await box.focus()
        except Exception as err:  # noqa: BLE001 - counted and told, the class goes on
            v.failed.append(str(err).splitlines()[0])
            v.lost += 1
            continue
        await _type(page, text := SENTENCE.format(n=n), rng)
        pause = pauses[(v.k + j) % len(pauses)]  # every visitor meets every pause, the class mixes them
        await asyncio.sleep(pause)
        await page.evaluate(ARM_JS, [REWRITE.format(n=n), text if linked else None, int(lost_after * 1000)])
        drafted = await page.evaluate(DRAWN_FROM_DRAFTS_JS)
        pressed = time.time()
        await page.keyboard.press("Control+Enter")  # a text area sends its value on Ctrl+Enter
        try:
            answer = await page.evaluate("() => window.__latency")
        except Exception:  # noqa: BLE001 - the promise rejects when no answer came in time
            v.lost += 1
            continue
        answer.update(pause=pause, from_draft=await page.evaluate(DRAWN_FROM_DRAFTS_JS) > drafted, pressed=pressed,
                      previous=number(v.k, j - 1) if j else None)
        v.samples.append(answer)
        named = {int(x) for x in re.findall(r"letter number (\d+)", await page.evaluate(RESULT_JS))}
        v.leaked += any(owners.get(x, v.k) != v.k for x in named)
        v.stale += any(owners.get(x) == v.k and x != n for x in named)
        await asyncio.sleep(rng.uniform(0.5, 1.5))  # reads the answer


async def _run(url: str, pid: int, path: str, sessions: int, sentences: int, pauses: list[float],
               lost_after: float, seed: int, runs_file: Path) -> dict:
    from playwright.async_api import async_playwright

    owners = {number(k, j): k for k in range(sessions) for j in range(sentences)}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = []
        for _ in range(sessions):  # opened one after another, as a class arriving
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.goto(url + path)
            await page.wait_for_selector(BOX, timeout=300_000)
            await page.wait_for_function(IDLE_JS, timeout=120_000)
            pages.append(page)
        runs_before = len(runs(runs_file))
        (rss0, cpu0), browser0, machine0 = server_stats([pid]), browser_cpu(), machine_cpu()
        visitors = [Visitor(k) for k in range(sessions)]
        go = asyncio.Event()
        tasks = [asyncio.create_task(_visitor(pages[k], visitors[k], sentences, pauses, lost_after, owners,
                                              path != "/", random.Random(seed + k), go)) for k in range(sessions)]
        t0 = time.monotonic()
        go.set()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        (rss1, cpu1), browser1, machine1 = server_stats([pid]), browser_cpu(), machine_cpu()
        await browser.close()
    texts = sessions * sentences
    during = runs(runs_file)[runs_before:]
    samples = [s for v in visitors for s in v.samples]
    shown = lambda ss: stats([s["shown"] / 1000 for s in ss]) if ss else None  # noqa: E731
    return {
        "sessions": sessions, "texts": texts, "wall_s": wall,
        "shown_s": shown(samples), "settled_s": stats([s["settled"] / 1000 for s in samples]) if samples else None,
        "shown_s_by_pause": {str(p): shown([s for s in samples if s["pause"] == p]) for p in pauses},
        "from_draft_by_pause": {str(p): sum(s["from_draft"] for s in samples if s["pause"] == p) for p in pauses},
        "answered_by_pause": {str(p): sum(s["pause"] == p for s in samples) for p in pauses},
        "lost": sum(v.lost for v in visitors), "failed": [x for v in visitors for x in v.failed],
        "stale": sum(v.stale for v in visitors),
        "leaked": sum(v.leaked for v in visitors),
        # None where the app logs no runs (the no-model page is not the explorer)
        "server_runs": {"page": sum(not r["fragment"] for r in during), "fragment": sum(r["fragment"] for r in during)}
        if during else None,
        "server_cpu_ms_per_text": 1000 * (cpu1 - cpu0) / texts,
        "answers_split": server_split(samples, during),
        "server_rss_mb": {"before": rss0, "after": rss1},
        "cpu_seconds_during": {"server": cpu1 - cpu0, "browsers": browser1 - browser0,
                               "machine_busy": machine1[0] - machine0[0], "machine_available": machine1[1] - machine0[1]},
    }


def server_split(samples: list[dict], server_runs: list[dict]) -> dict | None:
    """Answers drawn by the commit's rerun (not from a draft), split in two: from Ctrl+Enter until the server's run
    for it ended, and the browser's part after that (its queue for the CPU, taking in the messages, drawing).

    The commit's run is found by its link: until it ends, the page's address names the visitor's previous sentence
    (its own number), so the last run that started after the press with that link is the commit's (a draft sent
    just before the press can run first). A visitor's first sentence has no such link: left out."""
    server, browser = [], []
    for s in samples:
        if s["from_draft"] or s["previous"] is None:
            continue
        mark = f"letter number {s['previous']}."
        mine = [r for r in server_runs if s["pressed"] <= r["start"] <= s["pressed"] + s["shown"] / 1000
                and mark in unquote_plus(r["query"])]
        if mine:
            done = max(r["end"] for r in mine) - s["pressed"]
            server.append(done)
            browser.append(max(0.0, s["shown"] / 1000 - done))
    return {"server_s": stats(server), "browser_s": stats(browser), "matched": len(server)} if server else None


def _measure(app: str, path: str, env: dict[str, str], args, pauses: list[float]) -> dict:
    runs_file = Path(tempfile.mkdtemp()) / "runs.jsonl"
    proc, url = start(app, timeout=300, env={**env, "EXPLORER_RUN_STATS": str(runs_file)})
    try:
        if args.split_cores:  # every thread of the server on core 0 (threads it starts later inherit it)
            subprocess.run(["taskset", "-a", "-p", "-c", "0", str(proc.pid)], check=True, capture_output=True)
        return asyncio.run(_run(url, proc.pid, path, args.sessions, args.sentences, pauses, args.lost_after,
                                args.seed, runs_file))
    finally:
        stop(proc)


def markdown(results: dict) -> str:
    """The docs' table (docs/performance.md), from a run's results."""
    lines = ["| app | Ctrl+Enter → shown, median / p95 | by pause before it (s): median / p95 | drawn from a draft "
             "| settled, median / p95 | lost (of which failed), stale, leaked | server runs: page / fragment | server CPU a text | "
             "server / browsers' CPU |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s, st, c = r["shown_s"], r["settled_s"], r["cpu_seconds_during"]
        if s is None:  # nothing answered
            lines.append(f"| {name} | – | – | – | – | {r['lost']} ({len(r['failed'])} failed), –, – | – | – | – |")
            continue
        by = "; ".join(f"{p}: {x['median']:.2f} / {x['p95']:.2f}" for p, x in r["shown_s_by_pause"].items() if x)
        drafted = sum(r["from_draft_by_pause"].values())
        lines.append(f"| {name} | {s['median']:.2f} / {s['p95']:.2f} s | {by} | {drafted} of {s['n']} | "
                     f"{st['median']:.2f} / {st['p95']:.2f} s | {r['lost']} ({len(r['failed'])} failed), {r['stale']}, "
                     f"{r['leaked']} | "
                     + (f"{r['server_runs']['page']} / {r['server_runs']['fragment']} | " if r["server_runs"] else "– | ")
                     + f"{r['server_cpu_ms_per_text']:.1f} ms | {c['server']:.1f} / {c['browsers']:.1f} s |")
    for name, r in results.items():
        if sp := r.get("answers_split"):
            lines.append(f"\n{name}, answers drawn by the commit's rerun ({sp['matched']}): the server's part "
                         f"{sp['server_s']['median']:.2f} / {sp['server_s']['p95']:.2f} s, the browser's "
                         f"{sp['browser_s']['median']:.2f} / {sp['browser_s']['p95']:.2f} s (median / p95)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--sentences", type=int, default=4, help="sentences each visitor types")
    parser.add_argument("--pauses", default="0,0.5,1", help="seconds before Ctrl+Enter, comma-separated, taken in turn")
    parser.add_argument("--lost-after", type=float, default=30.0, help="seconds after which an answer counts as lost")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-cores", action="store_true",
                        help="the server on core 0, the browsers on the others (as on the visitors' own machines)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", default="text_class", help="bench/results/<OUT>.json")
    args = parser.parse_args()
    try:
        pauses = [float(x) for x in args.pauses.split(",")]
    except ValueError:
        pauses = []
    if args.sessions < 1 or args.sentences < 1 or not pauses or not all(0 <= p <= 10 for p in pauses):
        print("bench_text_class: --sessions and --sentences must be at least 1, --pauses seconds 0-10, "
              "comma-separated", file=sys.stderr)
        return 2
    if args.split_cores:  # this process and its Chromium on the other cores; the server gets core 0
        if os.cpu_count() < 2:
            print("bench_text_class: --split-cores needs at least 2 cores", file=sys.stderr)
            return 2
        os.sched_setaffinity(0, set(range(1, os.cpu_count())))
    contended, busy, load_before = training_running(), cpu_busy(), os.getloadavg()
    apps = {"text page": ("app.py", "/text_whatif", {}),
            "text page, drafts off": ("app.py", "/text_whatif", {"EXPLORER_TEXT_DRAFTS": "0"})}
    if not args.no_baseline:
        apps["no-model page"] = ("bench/baseline_text_app.py", "/", {})
    results = {}
    for name, (app, path, env) in apps.items():
        results[name] = _measure(app, path, env, args, pauses)
        print(markdown(results), flush=True)
    out = write(args.out, {"what": "a class typing at once on the Text what-if page (headless Chromium)",
                           "sessions": args.sessions, "sentences": args.sentences, "pauses_s": pauses,
                           "split_cores": args.split_cores, "results": results, "training_job_running": contended,
                           "cpu_busy_before_run": busy, "loadavg_before": load_before, "loadavg": os.getloadavg()})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
