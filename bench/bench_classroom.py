"""A classroom at once: N browser sessions on one page, each moving its own slider.

One headless Chromium, N contexts (a visitor each), each on its own example: `--page image` (default) the Image
what-if page's thickness on its own test digit, `--page lab` the Causal graph lab's do(light) on its own scene,
`--page table_lab` the Table lab's do(age) on its own census-world person (bench/classroom_targets.py). Every
visitor presses ArrowRight on its slider `--moves` times, waiting for the rerun's answer and then "looking" for a
random 0.4-1.2 s (seeded), and ends with a burst of `--burst` presses 40 ms apart, faster than the server answers.
Measured:

- per-move latency, key press -> the answer on screen (the model's picture has a new address: the rerun's, or on the
  Image page the answer panel's, swapped from the sweep at the key press; on the Table lab, the records table's
  text changed), median and p95 over every move; key press -> the exact answer (nothing on the page stale: the
  rerun drawn); and key press -> the quick picture (readings, on the Table lab) the browser swaps in from the
  slider's sweep;
- lost moves: no new answer within `--lost-after` seconds;
- stale or leaked answers: after each move (and after the burst) the answer on screen is compared with the one
  the explorer gives for THIS visitor's example at the value THIS visitor's slider shows (computed in this
  process from the same services, ahead of the run): pictures pixel by pixel, the Table lab's records cell by
  cell. One that matches another visitor's is a leak; one that matches none is stale. After the burst this is
  the "newest value wins" check;
- the server's memory (RSS) after the pages opened, after the moves, and its CPU time per move;
- where the machine's CPU went during the moves: the server's, every Chromium process's, the whole machine's.
- each visitor's first move split in two (bench/classroom_stats.py): until the server's run for it ended (the
  server logs its runs, EXPLORER_RUN_STATS), and the browser's part after that.

A baseline in the same run, the same protocol on `bench/baseline_app.py` (a slider and a picture, no model),
is what Streamlit, the websocket and this machine's browser cost for the same number of visitors.

`--split-cores` puts the server (every thread) on core 0 and this process with its Chromium on the other cores:
the browsers then do not take the server's CPU, as in a real class where they run on the visitors' machines.

`--replicas 2` also measures two replicas behind Debian's nginx (deploy/replicas.py, docs/deploy.md) after the
one server; `--url` measures a deployment that is already running instead, with `--pids` naming its server
processes for memory and CPU.

Usage: `python bench/bench_classroom.py [--page image|lab|table_lab] [--sessions 16] [--moves 10] [--burst 5]
[--replicas 2] [--url URL --pids P1,P2] [--no-baseline] [--split-cores] [--out NAME]`; writes bench/results/<NAME>.json
(default classroom, classroom_lab, classroom_table_lab).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the explorer package, for the expected answers
from classroom_targets import TARGETS, Target, baseline_target
from classroom_stats import browser_cpu, first_move_split, machine_cpu, model_stats, runs, server_stats, visitor_key
from common import stats, write
from serve import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, cpu_busy, start, stop, training_running

LATE_LOOKS = 10  # after the burst, looks again this many times, 0.5 s apart, if the first look was wrong
_SLIDER_JS = """(slider) => {
  const knob = document.querySelector(slider + ' input[type=range]');
  return {value: knob ? Number(knob.value) : null, stale: document.querySelectorAll('[data-stale=true]').length};
}"""


@dataclass
class Visitor:
    k: int
    latencies: list[float] = field(default_factory=list)
    exact: list[float] = field(default_factory=list)  # key press -> nothing stale: the rerun's exact answer
    quick: list[float] = field(default_factory=list)  # the quick slider's picture or readings, where the page has one
    lost: int = 0
    checked: int = 0
    stale: int = 0
    leaked: int = 0
    burst_ok: bool | None = None
    burst_late: bool | None = None  # right within LATE_LOOKS more looks, 0.5 s apart, after a wrong first look
    first: tuple[float, float] | None = None  # the first move: (wall-clock time of its press, seconds until shown)


async def _look(page, target: Target, v: Visitor, others: list[int]) -> str:
    """"right" (this visitor's answer at its slider's value), "leaked" (another visitor's) or "stale"."""
    shown, value = await target.read(page, target)
    if shown is None or value is None:
        return "stale"
    if target.matches(shown, target.expected(v.k, value)):
        return "right"
    return "leaked" if any(target.matches(shown, target.expected(o, value)) for o in others) else "stale"


async def _check(page, target: Target, v: Visitor, others: list[int]) -> bool:
    """`_look`, counted: stale and leaked answers."""
    seen = await _look(page, target, v, others)
    v.checked += 1
    v.leaked += seen == "leaked"
    v.stale += seen == "stale"
    return seen == "right"


async def _settle(page, target: Target, timeout: float) -> None:
    """Waits until nothing on the page is stale and the slider value has held still for 0.5 s."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        state = await page.evaluate(_SLIDER_JS, target.slider)
        if state["value"] != last:
            last, since = state["value"], time.monotonic()
        if state["stale"] == 0 and time.monotonic() - since > 0.5:
            return
        await asyncio.sleep(0.1)


async def _visitor(page, target: Target, v: Visitor, moves: int, burst: int, lost_after: float,
                   others: list[int], rng: random.Random, go: asyncio.Event) -> None:
    await go.wait()
    await asyncio.sleep(rng.uniform(0, 1.0))  # visitors do not start in the same millisecond
    knob = page.locator(f"{target.slider} input[type=range]")
    await knob.focus()
    # towards the far end of the range: a slider near its top (an example's own value, with --unset) would stop
    # there, and a press that changes nothing shows nothing new (it would count as lost)
    low, high = float(await knob.get_attribute("min")), float(await knob.get_attribute("max"))
    key = "ArrowLeft" if float(await knob.input_value()) > (low + high) / 2 else "ArrowRight"
    for _ in range(moves):
        await page.evaluate(target.arm.replace("60000", str(int(lost_after * 1000))), target.caption)
        if target.quick_js:
            await page.evaluate(target.quick_js)
        pressed = time.time()
        await page.keyboard.press(key)
        answer: dict = {}
        try:
            answer = await page.evaluate("() => window.__latency")
            if not v.latencies and not v.lost:
                v.first = (pressed, answer["src"] / 1000)
            v.latencies.append(answer["src"] / 1000)
            v.exact.append(answer.get("exact", answer["src"]) / 1000)
        except Exception:  # noqa: BLE001 - the promise rejects when no new answer came in time
            v.lost += 1
        quick = await page.evaluate("() => window.__quick") if target.quick_js else answer.get("quick")
        if quick is not None:
            v.quick.append(quick / 1000)
        await _settle(page, target, lost_after)
        await _check(page, target, v, others)
        await asyncio.sleep(rng.uniform(0.4, 1.2))
    for _ in range(burst):  # faster than any server answers: only the newest value may be drawn in the end
        await page.keyboard.press(key)
        await asyncio.sleep(0.04)
    await _settle(page, target, lost_after)
    v.burst_ok = await _check(page, target, v, others)
    v.burst_late = v.burst_ok  # a held-back newest value goes once the last answer is in: drawn a moment later?
    for _ in range(LATE_LOOKS if not v.burst_ok else 0):
        await asyncio.sleep(0.5)
        await _settle(page, target, lost_after)
        v.burst_late = await _look(page, target, v, others) == "right"
        if v.burst_late:
            break


async def _run(url: str, pids: list[int], target: Target, sessions: int, moves: int, burst: int,
               lost_after: float, seed: int, stats_file: Path | None = None) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = []
        for k in range(sessions):  # opened one after another, as a class arriving: first picture each
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.goto(url + target.path(k))
            await page.wait_for_selector(target.ready, timeout=300_000)
            await page.wait_for_function(IDLE_JS, timeout=120_000)
            pages.append(page)
        rss_before, cpu_before = server_stats(pids)
        browser_before, machine_before = browser_cpu(), machine_cpu()
        model_before = model_stats(stats_file)
        visitors = [Visitor(k) for k in range(sessions)]
        go = asyncio.Event()
        tasks = [asyncio.create_task(_visitor(pages[k], target, visitors[k], moves, burst, lost_after,
                                              [o for o in range(sessions) if o != k], random.Random(seed + k), go))
                 for k in range(sessions)]
        t0 = time.monotonic()
        go.set()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        rss_after, cpu_after = server_stats(pids)
        browser_after, machine_after = browser_cpu(), machine_cpu()
        model = {k: v - model_before.get(k, 0) for k, v in model_stats(stats_file).items()}  # keys added later: 0 before
        server_runs = runs(stats_file.with_name("runs.jsonl") if stats_file else None)
        await browser.close()
    latencies = [x for v in visitors for x in v.latencies]
    quick = [x for v in visitors for x in v.quick]
    answered = len(latencies)
    return {
        "sessions": sessions, "moves_per_session": moves, "burst": burst, "wall_s": wall,
        "latency_s": stats(latencies) if latencies else None,
        "exact_s": stats(exact) if (exact := [x for v in visitors for x in v.exact]) else None,
        "lost_moves": sum(v.lost for v in visitors), "moves": sessions * moves,
        "pictures_checked": sum(v.checked for v in visitors),
        "stale_pictures": sum(v.stale for v in visitors), "leaked_pictures": sum(v.leaked for v in visitors),
        "burst_final_state_right": sum(bool(v.burst_ok) for v in visitors),
        "burst_final_state_right_within_5s": sum(bool(v.burst_late) for v in visitors),
        "server_rss_mb": {"after_pages_opened": rss_before, "after_moves": rss_after},
        "server_cpu_ms_per_move": 1000 * (cpu_after - cpu_before) / max(1, answered + sessions * burst),
        # where the machine's CPU went during the moves: the browsers share the cores with the server here
        "browser_cpu_ms_per_move": 1000 * (browser_after - browser_before) / max(1, answered + sessions * burst),
        "cpu_seconds_during_moves": {"server": cpu_after - cpu_before, "browsers": browser_after - browser_before,
                                     "machine_busy": machine_after[0] - machine_before[0],
                                     "machine_available": machine_after[1] - machine_before[1]},
        "quick_picture_s": stats(quick) if quick else None,
        "latency_s_by_visitor": [[round(x, 3) for x in v.latencies] for v in visitors],  # where a tail comes from
        # during the moves, the model thread's calls: how many found another running (waited) or another already
        # waiting (could have shared one batched call with it), and the time they waited and ran
        "model_thread": model if stats_file else None,
        # each first move: until the server's run for it ended, and the browser's part after that
        "first_move_split": _split(server_runs, target, visitors),
    }


def _split(server_runs: list[dict], target: Target, visitors: list[Visitor]) -> dict | None:
    key = visitor_key(target.path)
    if key is None:
        return None
    named = {v.k: parse_qs(target.path(v.k).partition("?")[2])[key][0] for v in visitors}
    return first_move_split(server_runs, key, [(named[v.k], *v.first) for v in visitors if v.first])


def _deployment(replicas: int):
    """deploy/replicas.py's Deployment (a script, not a package: loaded by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("replicas", Path(__file__).resolve().parent.parent / "deploy"
                                                  / "replicas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Deployment(replicas=replicas, timeout=300)


def _measure(target: Target, app: str | None, url: str | None, pids: list[int], args, replicas: int = 0) -> dict:
    target.warm(args.sessions, args.moves + args.burst + 1)  # before the server starts: not measured, not in its way
    proc = deployment = None
    if replicas:
        deployment = _deployment(replicas).start()
        url, pids = deployment.url, deployment.pids
    stats_file = None
    if not replicas and url is None:
        stats_file = Path(tempfile.mkdtemp()) / "model_stats.json"
        proc, url = start(app, timeout=300, env={"EXPLORER_MODEL_STATS": str(stats_file),
                                                 "EXPLORER_RUN_STATS": str(stats_file.with_name("runs.jsonl"))})
        pids = [proc.pid]
        if args.split_cores:  # every thread of the server on core 0 (threads it starts later inherit it)
            subprocess.run(["taskset", "-a", "-p", "-c", "0", str(proc.pid)], check=True, capture_output=True)
    try:
        result = asyncio.run(_run(url, pids, target, args.sessions, args.moves, args.burst, args.lost_after,
                                  args.seed, stats_file))
    finally:
        if proc is not None:
            stop(proc)
        if deployment is not None:
            deployment.stop()
    if not target.leaks_detectable:
        result["stale_pictures"] += result.pop("leaked_pictures")  # see classroom_targets.baseline_target
        result["leaked_pictures"] = None
    return result


def _line(name: str, r: dict) -> str:
    lat = r["latency_s"] or {"median": float("nan"), "p95": float("nan")}
    return (f"{name:40} {lat['median']:7.2f} {lat['p95']:7.2f} {r['lost_moves']:5d}/{r['moves']:<4d} "
            f"{r['stale_pictures']:5d} {r['leaked_pictures']!s:>6} {r['burst_final_state_right']:3d}/{r['sessions']:<3d}"
            f" {r['server_rss_mb']['after_pages_opened']:7.0f} {r['server_rss_mb']['after_moves']:7.0f}"
            f" {r['server_cpu_ms_per_move']:7.1f}" + (f"  quick picture {q['median'] * 1000:.1f} / {q['p95'] * 1000:.1f} ms"
                                                        if (q := r.get("quick_picture_s")) else "")
            + (f"  exact {e['median']:.2f} / {e['p95']:.2f} s" if (e := r.get("exact_s")) else "")
            + (f"  first moves: server {f['server_s']['median']:.2f} / {f['server_s']['p95']:.2f} s, browser "
               f"{f['browser_s']['median']:.2f} / {f['browser_s']['p95']:.2f} s ({f['matched']} matched)"
               if (f := r.get("first_move_split")) else ""))


def markdown(results: dict) -> str:
    """The docs' table (docs/performance.md), from a run's results."""
    lines = ["| what | median | p95 | the exact answer (nothing stale), median / p95 | lost moves | stale / leaked "
             "answers | bursts drawn right | server RSS before → after the moves | server CPU per move | quick picture "
             "or readings, median / p95 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lat, rss = r["latency_s"], r["server_rss_mb"]
        leaked = "–" if r["leaked_pictures"] is None else r["leaked_pictures"]
        ex = r.get("exact_s")
        exact = f"{ex['median']:.2f} / {ex['p95']:.2f} s" if ex else "–"
        lines.append(f"| {name} | {lat['median']:.2f} s | {lat['p95']:.2f} s | {exact} | {r['lost_moves']} of {r['moves']} | "
                     f"{r['stale_pictures']} / {leaked} of {r['pictures_checked']} | {r['burst_final_state_right']} of "
                     f"{r['sessions']} | {rss['after_pages_opened']:.0f} → {rss['after_moves']:.0f} MB | "
                     f"{r['server_cpu_ms_per_move']:.1f} ms | "
                     + (f"{q['median'] * 1000:.0f} / {q['p95'] * 1000:.0f} ms |" if (q := r.get("quick_picture_s"))
                        else "– |"))
    for name, r in results.items():
        if c := r.get("cpu_seconds_during_moves"):
            lines.append(f"\n{name}, CPU during the moves: server {c['server']:.1f} s, browsers {c['browsers']:.1f} s, "
                         f"machine busy {c['machine_busy']:.1f} of {c['machine_available']:.1f} core-seconds")
    return "\n".join(lines)


def _unset(path: Callable[[int], str], name: str) -> Callable[[int], str]:
    """Visitor k's link without `name=`: its slider starts at the example's own value, its box unticked."""
    def without(k: int) -> str:
        base, _, query = path(k).partition("?")
        return base + "?" + "&".join(p for p in query.split("&") if not p.startswith(f"{name}="))
    return without


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=sorted(TARGETS), default="image", help="the page the class uses")
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--lost-after", type=float, default=30.0, help="seconds after which a move counts as lost")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="a running deployment to measure instead of a fresh `streamlit run app.py`")
    parser.add_argument("--pids", default="", help="with --url: its server processes, comma-separated")
    parser.add_argument("--replicas", type=int, default=0,
                        help="also measure N replicas behind nginx (deploy/replicas.py), after the one server")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--unset", action="store_true", help="links that set no slider: each visitor's first move "
                        "ticks its box and waits for its slider's sweep (the class's worst case)")
    parser.add_argument("--split-cores", action="store_true",
                        help="the server on core 0, the browsers on the others: as in a class, where the visitors' "
                             "browsers run on their own machines (one server core left)")
    parser.add_argument("--out", help="bench/results/<OUT>.json (default classroom, or classroom_<PAGE>)")
    parser.add_argument("--table", metavar="JSON", help="only print the Markdown table of a stored run")
    args = parser.parse_args()
    if args.table:
        import json

        print(markdown(json.loads(Path(args.table).read_text())["results"]))
        return 0
    if args.sessions < 1 or args.moves < 1 or args.burst < 0:
        print("bench_classroom: --sessions and --moves must be at least 1, --burst at least 0", file=sys.stderr)
        return 2
    pids = [int(p) for p in args.pids.split(",") if p.strip()]
    if args.url and not pids:
        print("bench_classroom: with --url, name the server processes with --pids P1,P2", file=sys.stderr)
        return 2
    if args.split_cores:  # this process and the Chromium it starts on the other cores; the server gets core 0
        if os.cpu_count() < 2:
            print("bench_classroom: --split-cores needs at least 2 cores", file=sys.stderr)
            return 2
        os.sched_setaffinity(0, set(range(1, os.cpu_count())))
    contended, busy, load_before = training_running(), cpu_busy(), os.getloadavg()
    target = TARGETS[args.page]()
    if args.unset:
        target.path = _unset(target.path, target.slider.removeprefix(".st-key-value_"))
    results = {target.name: _measure(target, "app.py", args.url, pids, args)}
    if args.replicas:
        results[f"{target.name}, {args.replicas} replicas behind nginx"] = _measure(target, None, None, [], args,
                                                                                     args.replicas)
    if not args.no_baseline:
        results["baseline"] = _measure(baseline_target(), "bench/baseline_app.py", None, [], args)
    print(f"\n{args.sessions} sessions x {args.moves} moves + a burst of {args.burst}"
          + ("  [a training job was running]" if contended else "") + f"  [CPU {busy:.0%} busy before]")
    print(f"{'':40} {'median':>7} {'p95':>7} {'lost':>10} {'stale':>5} {'leaked':>6} {'burst ok':>7}"
          f" {'RSS0 MB':>7} {'RSS1 MB':>7} {'CPU ms/move':>7}")
    for name, r in results.items():
        print(_line(name, r))
    out = args.out or ("classroom" if args.page == "image" else f"classroom_{args.page}")
    path = write(out, {"what": target.what, "page": args.page, "url": args.url or "fresh streamlit run app.py",
                       "results": results, "unset": args.unset, "training_job_running": contended,
                       "cpu_busy_before_run": busy,
                       "loadavg_before": load_before, "loadavg": os.getloadavg()})
    print(markdown(results))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
