"""Audit a model, One row tab: steps of the row number -> that row's answers drawn, and what a series of steps costs,
against a no-model page.

After an audit, the One row tab shows one audited person: the model's decision, how often it would change had the
person another sex or race (the counterfactual draws), a link into the Table lab, the row's values and the recourse
controls. Stepping the row number is the tab's everyday move: a step card the browser swaps in from the neighbours it
holds, and a held step while no recourse answer is on screen (explorer/ui/audit_table_row.py; the number reaches
Python after the quick sliders' pause or at the visitor's next action). Each move presses ArrowUp in the row
box; timed in the page from the key press until the decision's line changed ("answer shown") and until the last
change to the page (read once the page has been still for --gap s). After the series, until it has settled (the
last number's rerun drawn). Per step: the server's CPU ms and the browser's main-thread ms over the whole series, the
settling rerun included. Apps, taking turns: the page (held steps), the same page with EXPLORER_QUICK_SETTLE=0 (each
step sent at once: the page before held steps), optionally --compare APP, and bench/baseline_row_app.py (the same box
and lines made up from the number, no model). The audit itself runs once, from the link, before the timed moves.

Usage: `python bench/bench_audit_row.py [--moves 24] [--rounds 2] [--gap 0.3] [--compare APP] [--out NAME]`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from common import print_table, stats, write
from serve import (IDLE_JS, PACE, cpu_busy, page_args, no_probe_figures, per_move, print_per_move,
                   quiet_series, series_settled, series_window, take_turns, training_running)

BOX = ".st-key-at_row input"
LINK = "/audit_model?data=adult&model=adult-logreg&protected=sex,race&rows=500&cf=1&audit=1&row=20"
CARD = ".st-key-audit_row_card"  # the shown card, with the value a rerun drew it for (explorer/ui/step_cards.py)
READY = "[role=tab]:has-text('One row'), .st-key-at_row input"  # the audit drawn (or the no-model page)
# t0 in the window's capture phase (before any page listener); `shown`: the first change that leaves the element
# holding "Decision:" (a Markdown element, or the row's step card) with another text; `last`: the last change. The
# text is read as textContent: innerText lays the page out on every change, so a probe reading it cost the Audit
# page ~10 ms a step and the no-model page ~2 (series of 5, with and without the probe, scratch): the probe's work
ARM_JS = """() => {
  const s = window.__row = window.__last = {t0: null, shown: null, last: null};
  const text = (e) => e.textContent.trimStart();
  const decision = () => [...document.querySelectorAll('[data-testid=stMarkdownContainer], .st-key-audit_row_card')]
      .find(e => text(e).startsWith('Decision:'));
  const before = decision() ? text(decision()) : null;
  window.addEventListener('keydown', () => { s.t0 = performance.now(); }, {capture: true, once: true});
  s.obs = new MutationObserver(() => {
    if (s.t0 === null) return;
    const t = performance.now() - s.t0, d = decision();
    if (s.shown === null && d && text(d) !== before) s.shown = t;
    s.last = t;
  });
  s.obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""
READ_JS = "() => { window.__row.obs.disconnect(); return window.__row; }"


def _open(page) -> None:
    tab = page.get_by_role("tab", name="One row")
    if tab.count():
        tab.click()
    page.locator(BOX).wait_for(timeout=60_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)


def _steps(page, moves: int, gap: float) -> list[dict]:
    _open(page)
    out = []
    box = page.locator(BOX)
    for _ in range(moves):
        box.focus()
        page.evaluate(ARM_JS)
        box.press("ArrowUp")  # steps the row box (held between rows alike; sent at once on the others)
        page.wait_for_function("() => window.__row.shown !== null", timeout=60_000, polling=100)
        page.wait_for_function(IDLE_JS, timeout=60_000, polling=100)  # not by frames (serve.all_sent says why)
        time.sleep(gap)  # a person reads the row before the next step
        out.append(page.evaluate(READ_JS))
    out[-1]["settled"] = series_settled(page, BOX, CARD)  # the series' number reached Python and was drawn
    return out


def main() -> int:
    args = page_args(__doc__, "bench_audit_row", "/audit_model", "audit_row", least_warmup=1)
    if args is None:
        return 2
    os.environ["EXPLORER_PREWARM"] = "0"  # the servers inherit it: no background model loading during the moves
    contended_before, busy, load_before = training_running(), cpu_busy(), os.getloadavg()
    apps = {"audit page": ("app.py", LINK), "each step sent": ("app.py", LINK, {"EXPLORER_QUICK_SETTLE": "0"})}
    if args.compare:
        apps["compared page"] = (str(Path(args.compare).resolve()), LINK)
    apps["no-model page"] = ("bench/baseline_row_app.py", "/")
    runs = take_turns(apps, READY, lambda page, n: _steps(page, n, args.gap), args.moves, args.warmup, args.rounds,
                      series_window(args.moves, args.gap), quiet_series(BOX, CARD, args.moves, args.gap + PACE))
    rows, moves = {}, {}
    for name in apps:
        samples = [s for run in runs[name] for s in run["samples"]]
        rows[f"{name}: step -> answer shown"] = stats([s["shown"] / 1000 for s in samples])
        rows[f"{name}: step -> the page's last change"] = stats([s["last"] / 1000 for s in samples])
        rows[f"{name}: last step of a series -> its number's rerun drawn"] = stats(
            [s["settled"] / 1000 for s in samples if "settled" in s])
        moves[name] = per_move(runs[name])
    no_probe = no_probe_figures(runs)  # (printed as it is read)
    quiet = no_probe["per_move_ms_no_probe"]
    base, quiet_base = moves["no-model page"], quiet["no-model page"]
    ratios = {name: {f"shown {q}": rows[f"{name}: step -> answer shown"][q]
                     / rows["no-model page: step -> answer shown"][q] for q in ("median", "p95")}
              | {f"per step {k}": moves[name][k] / base[k] for k in base}
              | {f"per step, no probe, {k}": quiet[name][k] / quiet_base[k] for k in quiet_base}
              for name in apps if name != "no-model page"}
    contended = contended_before or training_running()
    print_table(f"Audit a model, One row: row number steps, {args.moves} moves x {args.rounds} rounds, {args.gap} s "
                "apart", rows,
                contended, busy)
    for name, ratio in ratios.items():
        print(f"ratio {name} / no-model page: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()))
    print_per_move(moves)
    path = write(args.out, {
        "what": "Audit a model, One row tab: steps of the row number -> the row's answers, and a series' cost "
                "(headless Chromium)",
        "seconds": rows, "ratios": ratios, "per_move_ms": moves, "moves": args.moves, "rounds": args.rounds,
        **no_probe,
        "gap_s": args.gap,
        "link": LINK, "compare": args.compare, "training_job_running": contended, "cpu_busy_before_run": busy,
        "loadavg_before_after": [load_before, os.getloadavg()],
        "counted_over_s": {name: [round(r["window_s"], 2) for r in runs[name]] for name in apps},
        "raw_ms": {name: [r["samples"] for r in runs[name]] for name in apps},
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
