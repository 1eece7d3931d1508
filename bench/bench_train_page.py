"""A strength change on the Train with counterfactuals page in headless Chromium, with a no-model baseline.

The page's interaction is the confounding strength, one tab per strength (a radio on older pages, for --compare):
each tab holds the training digits of that strength, their confounding matrix and the counterfactual examples.
For each of N changes (ArrowRight on the open tab, which wraps around the four strengths), timed in the page with
performance.now() from the key press until the training digits' picture shown is another and has loaded, until
nothing on the page is stale (serve.ARM_JS, watching the picture shown), and until the address bar changed.
Baseline in the same run: bench/baseline_app.py's slider and picture, no model (the same baseline as the slider
pages'). Per change also the server's CPU milliseconds and the browser's main-thread milliseconds (Chrome's
Performance metrics). The apps take turns within each round, a fresh server per run.

Usage: `python bench/bench_train_page.py [--moves 16] [--rounds 2] [--compare APP]`; `--compare` also times another
app serving the page (e.g. a worktree's app.py) in the same rounds. Writes bench/results/train_page.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from common import print_table, stats, write
from serve import ARM_JS, IDLE_JS, cpu_busy, drawn_selector, measured_run, training_running

# The strength's control to focus: the open tab (a radio on pages up to af9e1aa, for --compare).
TRAIN = ("/train_with_counterfactuals", "Training digits at strength",
         ".st-key-cf_strength [role=tab][aria-selected=true], .st-key-cf_strength input[type=radio]:checked")
BASELINE = ("/", "baseline picture", ".st-key-value input[type=range]")
# Each strength's picture is drawn in its own tab, the closed ones hidden: the picture timed is the one shown, and a
# change of tab is seen by any attribute's change (the page's own timing, serve.ARM_JS, watches `src` alone).
VISIBLE = ".filter(e => e.checkVisibility())"
TAB_ARM_JS = (ARM_JS.replace(".find(e => e.innerText", VISIBLE + ".find(e => e.innerText", 1)
              .replace("attributes: true,\n                                attributeFilter: ['src', 'data-stale']",
                       "attributes: true"))
assert TAB_ARM_JS.count(VISIBLE) == 1 and "attributeFilter" not in TAB_ARM_JS
# The link: key press -> the address bar names the new strength (the rerun that follows a change writes it).
LINK_JS = """() => {
  const before = location.search;
  window.__link = new Promise((resolve) => {
    let t0 = null;
    window.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    const poll = setInterval(() => {
      if (t0 !== null && location.search !== before) { clearInterval(poll); resolve(performance.now() - t0); }
    }, 2);
    setTimeout(() => { clearInterval(poll); resolve(null); }, 10000);
  });
}"""


def _changes(page, caption: str, focus: str, n: int) -> list[dict]:
    out, linked = [], caption != BASELINE[1]
    for _ in range(n):
        page.locator(focus).focus()  # the open tab (or the slider): a rerun may have replaced it
        page.evaluate(TAB_ARM_JS, caption)
        if linked:
            page.evaluate(LINK_JS)
        page.keyboard.press("ArrowRight")
        out.append(page.evaluate("() => window.__latency"))
        if linked:
            out[-1]["link"] = page.evaluate("() => window.__link")
        page.wait_for_function(IDLE_JS, timeout=60_000)
        time.sleep(0.3)  # a person looks before the next change
    return out


def run(app: str, path: str, caption: str, focus: str, moves: int, warmup: int) -> dict:
    """{"samples": [{src, loaded, exact}] per change, "server_cpu_ms", "browser_task_ms", "browser_script_ms"}."""
    # warm: every strength drawn once, so its pictures are computed before the timed changes
    shown = drawn_selector(caption) + " >> visible=true"  # the open tab's picture
    return measured_run(app, path, shown, lambda page: _changes(page, caption, focus, warmup),
                        lambda page: _changes(page, caption, focus, moves), moves)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare", metavar="APP", help="another app serving the page, timed in the same rounds")
    args = parser.parse_args()
    if args.moves < 1 or args.rounds < 1 or args.warmup < 0:
        print("bench_train_page: --moves and --rounds must be at least 1, --warmup at least 0", file=sys.stderr)
        return 2
    if args.compare and not Path(args.compare).is_file():
        print(f"bench_train_page: --compare {args.compare}: no such file", file=sys.stderr)
        return 2
    contended, busy, load_before = training_running(), cpu_busy(), os.getloadavg()
    apps = {"train page": ("app.py", *TRAIN)}
    if args.compare:
        apps["compared page"] = (str(Path(args.compare).resolve()), *TRAIN)
    apps["baseline (no model)"] = ("bench/baseline_app.py", *BASELINE)
    runs: dict[str, list[dict]] = {name: [] for name in apps}
    for _ in range(args.rounds):  # the apps take turns, so that drifting load hits them alike
        for name, spec in apps.items():
            runs[name].append(run(*spec, args.moves, args.warmup))
    rows, per_move = {}, {}
    for name, rs in runs.items():
        samples = [s for r in rs for s in r["samples"]]
        rows[f"{name}: change -> new picture loaded"] = stats([s["loaded"] / 1000 for s in samples])
        rows[f"{name}: change -> page exact (nothing stale)"] = stats([s["exact"] / 1000 for s in samples])
        if samples and "link" in samples[0]:
            rows[f"{name}: change -> link written"] = stats([s["link"] / 1000 for s in samples if s["link"]])
        per_move[name] = {k: sum(r[k] for r in rs) / len(rs)
                          for k in ("server_cpu_ms", "browser_task_ms", "browser_script_ms")}
    print_table(f"strength change -> drawn, {args.moves} changes x {args.rounds} rounds", rows, contended, busy)
    base = rows["baseline (no model): change -> new picture loaded"]
    for name in apps:
        if name.startswith("baseline"):
            continue
        mine = rows[f"{name}: change -> new picture loaded"]
        print(f"ratio {name} / baseline, picture loaded: median {mine['median'] / base['median']:.2f}x, "
              f"p95 {mine['p95'] / base['p95']:.2f}x")
    for name, m in per_move.items():
        print(f"{name}: per change, server CPU {m['server_cpu_ms']:.1f} ms, browser main thread "
              f"{m['browser_task_ms']:.1f} ms (script {m['browser_script_ms']:.1f} ms)")
    path = write("train_page", {"what": __doc__.splitlines()[0], "rows": rows, "per_move": per_move,
                                "moves": args.moves, "rounds": args.rounds, "compare": args.compare,
                                "training_job_running": contended, "cpu_busy_before_run": busy,
                                "loadavg_before": load_before, "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
