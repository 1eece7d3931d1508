"""A classroom at once: N browser sessions on the Image what-if page, each moving its own thickness slider.

One headless Chromium, N contexts (a visitor each), each on its own test digit (`/image_whatif?index=K`).
Every visitor presses ArrowRight on the thickness slider `--moves` times, waiting for the new picture and then
"looking" for a random 0.4-1.2 s (seeded), and ends with a burst of `--burst` presses 40 ms apart, faster
than the server answers. Measured:

- per-move latency, key press -> the model's picture has a new address (median, p95 over every move);
- lost moves: no new picture within `--lost-after` seconds;
- stale or leaked pictures: after each move (and after the burst) the picture on screen is compared with the
  one the explorer draws for THIS visitor's digit at the value THIS visitor's slider shows (computed in this
  process from the same checkpoints). A picture that matches another visitor's digit is a leak; one that
  matches none is stale. After the burst this is the "newest value wins" check;
- the server's memory (RSS) after the pages opened, after the moves, and its CPU time per move.

A baseline in the same run, the same protocol on `bench/baseline_app.py` (a slider and a picture, no model),
is what Streamlit, the websocket and this machine's browser cost for the same number of visitors.

`--replicas 2` also measures two replicas behind Debian's nginx (deploy/replicas.py, docs/deploy.md) after the
one server; `--url` measures a deployment that is already running instead, with `--pids` naming its server
processes for memory and CPU.

Usage: `python bench/bench_classroom.py [--sessions 16] [--moves 10] [--burst 5] [--replicas 2]
[--url URL --pids P1,P2] [--no-baseline] [--out classroom]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the explorer package, for the expected pictures
from common import stats, write
from serve import (
    ARM_JS,
    QUICK_PICTURE_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE_JS,
    cpu_busy,
    start,
    stop,
    training_running,
)

START = 1.5  # px: where every visitor's link puts the thickness slider; each ArrowRight adds 0.1 px
FIRST_INDEX, INDEX_STEP = 100, 37  # visitor k looks at test digit 100 + 37 k: all different
LATE_LOOKS = 10  # after the burst, looks again this many times, 0.5 s apart, if the first look was wrong
TOLERANCE = 3  # of 255: a picture "matches" when every pixel is within this (batched float sums may differ)

_READ_JS = """([caption, slider]) => {
  const box = [...document.querySelectorAll('[data-testid=stImageContainer]')].find(e => e.innerText.includes(caption));
  const img = box && box.querySelector('img');
  const knob = document.querySelector(slider + ' input[type=range]');
  return {src: img ? img.src : null, value: knob ? Number(knob.value) : null,
          stale: document.querySelectorAll('[data-stale=true]').length};
}"""


@dataclass
class Target:
    """One app under test: where a visitor goes, which picture and slider are watched, the expected picture."""

    name: str
    path: Callable[[int], str]  # visitor -> path with its link
    caption: str
    slider: str
    expected: Callable[[int, float], np.ndarray]  # (visitor, slider value) -> (H, W[, 3]) uint8


@dataclass
class Visitor:
    k: int
    latencies: list[float] = field(default_factory=list)
    quick: list[float] = field(default_factory=list)  # the quick slider's picture, where the page has one
    lost: int = 0
    checked: int = 0
    stale: int = 0
    leaked: int = 0
    burst_ok: bool | None = None
    burst_late: bool | None = None  # right within LATE_LOOKS more looks, 0.5 s apart, after a wrong first look


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int16)


def _matches(shown: np.ndarray, expected: np.ndarray) -> bool:
    exp = expected if expected.ndim == 3 else np.repeat(expected[..., None], 3, axis=2)
    return shown.shape == exp.shape and int(np.abs(shown - exp.astype(np.int16)).max()) <= TOLERANCE


async def _shown(page, target: Target) -> tuple[np.ndarray | None, float | None]:
    """(the watched picture, the slider's value) as on screen now. A picture's address can be dropped by the
    server just as it is read (a newer rerun replaced it): read again, up to 5 times."""
    for _ in range(5):
        state = await page.evaluate(_READ_JS, [target.caption, target.slider])
        if state["src"]:
            b64 = await page.evaluate("async (src) => { const r = await fetch(src); if (!r.ok) return null;"
                                      " const b = await r.arrayBuffer(); let s = '';"
                                      " new Uint8Array(b).forEach(c => s += String.fromCharCode(c));"
                                      " return btoa(s); }", state["src"])
            try:
                return _decode(base64.b64decode(b64 or "")), state["value"]
            except OSError:  # PIL's UnidentifiedImageError: not an image (the address was gone)
                pass
        await asyncio.sleep(0.2)
    return None, None


async def _look(page, target: Target, v: Visitor, others: list[int]) -> str:
    """"right" (this visitor's picture at its slider's value), "leaked" (another visitor's) or "stale"."""
    shown, value = await _shown(page, target)
    if shown is not None and value is not None and _matches(shown, target.expected(v.k, value)):
        return "right"
    if shown is not None and value is not None and any(_matches(shown, target.expected(o, value)) for o in others):
        return "leaked"
    return "stale"


async def _check(page, target: Target, v: Visitor, others: list[int]) -> bool:
    """`_look`, counted: stale and leaked pictures."""
    seen = await _look(page, target, v, others)
    v.checked += 1
    v.leaked += seen == "leaked"
    v.stale += seen == "stale"
    return seen == "right"


async def _settle(page, target: Target, timeout: float) -> None:
    """Waits until nothing on the page is stale and the slider value has held still for 0.5 s."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        state = await page.evaluate(_READ_JS, [target.caption, target.slider])
        if state["value"] != last:
            last, since = state["value"], time.monotonic()
        if state["stale"] == 0 and time.monotonic() - since > 0.5:
            return
        await asyncio.sleep(0.1)


async def _visitor(page, target: Target, v: Visitor, moves: int, burst: int, lost_after: float,
                   others: list[int], rng: random.Random, go: asyncio.Event) -> None:
    await go.wait()
    await asyncio.sleep(rng.uniform(0, 1.0))  # visitors do not start in the same millisecond
    await page.locator(f"{target.slider} input[type=range]").focus()
    for _ in range(moves):
        await page.evaluate(ARM_JS.replace("60000", str(int(lost_after * 1000))), target.caption)
        await page.evaluate(QUICK_PICTURE_JS)
        await page.keyboard.press("ArrowRight")
        try:
            v.latencies.append((await page.evaluate("() => window.__latency"))["src"] / 1000)
        except Exception:  # noqa: BLE001 - the promise rejects when no new picture came in time
            v.lost += 1
        quick = await page.evaluate("() => window.__quick")
        if quick is not None:
            v.quick.append(quick / 1000)
        await _settle(page, target, lost_after)
        await _check(page, target, v, others)
        await asyncio.sleep(rng.uniform(0.4, 1.2))
    for _ in range(burst):  # faster than any server answers: only the newest value may be drawn in the end
        await page.keyboard.press("ArrowRight")
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


def _server_stats(pids: list[int]) -> tuple[float, float]:
    """(RSS in MB, CPU seconds) summed over the server processes."""
    rss, cpu = 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        rss += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) / 1024
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return rss, cpu


def _model_stats(path: Path | None) -> dict:
    """The server's model-thread counts (explorer/model_thread.py, EXPLORER_MODEL_STATS), zeros before any call."""
    if path is None or not path.exists():
        return {"calls": 0, "found_busy": 0, "found_queued": 0, "wait_s": 0.0, "run_s": 0.0}
    import json

    return json.loads(path.read_text())


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
            await page.wait_for_selector(f"[data-testid=stImage]:has-text('{target.caption}') img", timeout=300_000)
            await page.wait_for_function(IDLE_JS, timeout=120_000)
            pages.append(page)
        rss_before, cpu_before = _server_stats(pids)
        model_before = _model_stats(stats_file)
        visitors = [Visitor(k) for k in range(sessions)]
        go = asyncio.Event()
        tasks = [asyncio.create_task(_visitor(pages[k], target, visitors[k], moves, burst, lost_after,
                                              [o for o in range(sessions) if o != k], random.Random(seed + k), go))
                 for k in range(sessions)]
        t0 = time.monotonic()
        go.set()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        rss_after, cpu_after = _server_stats(pids)
        model = {k: v - model_before.get(k, 0) for k, v in _model_stats(stats_file).items()}  # keys added later: 0 before
        await browser.close()
    latencies = [x for v in visitors for x in v.latencies]
    quick = [x for v in visitors for x in v.quick]
    answered = len(latencies)
    return {
        "sessions": sessions, "moves_per_session": moves, "burst": burst, "wall_s": wall,
        "latency_s": stats(latencies) if latencies else None,
        "lost_moves": sum(v.lost for v in visitors), "moves": sessions * moves,
        "pictures_checked": sum(v.checked for v in visitors),
        "stale_pictures": sum(v.stale for v in visitors), "leaked_pictures": sum(v.leaked for v in visitors),
        "burst_final_state_right": sum(bool(v.burst_ok) for v in visitors),
        "burst_final_state_right_within_5s": sum(bool(v.burst_late) for v in visitors),
        "server_rss_mb": {"after_pages_opened": rss_before, "after_moves": rss_after},
        "server_cpu_ms_per_move": 1000 * (cpu_after - cpu_before) / max(1, answered + sessions * burst),
        "quick_picture_s": stats(quick) if quick else None,
        # during the moves, the model thread's calls: how many found another running (waited) or another already
        # waiting (could have shared one batched call with it), and the time they waited and ran
        "model_thread": model if stats_file else None,
    }


def _image_target() -> Target:
    import torch

    from explorer.device import pick_device
    from explorer.services.image import ImageService
    from explorer.ui.images import png

    torch.set_num_threads(1)
    service = ImageService(pick_device())
    cache: dict[tuple[int, float], np.ndarray] = {}

    def expected(k: int, value: float) -> np.ndarray:
        key = (FIRST_INDEX + INDEX_STEP * k, round(value, 1))
        if key not in cache:
            cache[key] = _decode(png(service.what_if(key[0], {"thickness": key[1]}).generated))
        return cache[key]

    return Target("image what-if", lambda k: f"/image_whatif?index={FIRST_INDEX + INDEX_STEP * k}&thickness={START}",
                  "drawn by the model", ".st-key-value_thickness", expected)


def _baseline_target() -> Target:
    # The baseline app's picture depends on the slider only, so every visitor at the same value sees the same
    # picture: leaks cannot be told apart there, and are not counted (the check still finds stale pictures).
    def expected(_k: int, value: float) -> np.ndarray:
        grid = np.add.outer(np.arange(28), np.arange(28)) * value % 256  # as bench/baseline_app.py draws it
        return np.asarray(Image.fromarray(grid.astype(np.uint8)).resize((140, 140), Image.Resampling.NEAREST)
                          .convert("RGB"), np.int16)

    return Target("baseline (no model)", lambda _k: "/", "baseline picture", ".st-key-value", expected)


def _deployment(replicas: int):
    """deploy/replicas.py's Deployment (a script, not a package: loaded by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("replicas", Path(__file__).resolve().parent.parent / "deploy"
                                                  / "replicas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Deployment(replicas=replicas, timeout=300)


def _measure(target: Target, app: str | None, url: str | None, pids: list[int], args, replicas: int = 0) -> dict:
    proc = deployment = None
    if replicas:
        deployment = _deployment(replicas).start()
        url, pids = deployment.url, deployment.pids
    stats_file = None
    if not replicas and url is None:
        stats_file = Path(tempfile.mkdtemp()) / "model_stats.json"
        proc, url = start(app, timeout=300, env={"EXPLORER_MODEL_STATS": str(stats_file)})
        pids = [proc.pid]
    try:
        result = asyncio.run(_run(url, pids, target, args.sessions, args.moves, args.burst, args.lost_after,
                                  args.seed, stats_file))
    finally:
        if proc is not None:
            stop(proc)
        if deployment is not None:
            deployment.stop()
    if target.name.startswith("baseline"):
        result["stale_pictures"] += result.pop("leaked_pictures")  # see _baseline_target
        result["leaked_pictures"] = None
    return result


def _line(name: str, r: dict) -> str:
    lat = r["latency_s"] or {"median": float("nan"), "p95": float("nan")}
    return (f"{name:40} {lat['median']:7.2f} {lat['p95']:7.2f} {r['lost_moves']:5d}/{r['moves']:<4d} "
            f"{r['stale_pictures']:5d} {r['leaked_pictures']!s:>6} {r['burst_final_state_right']:3d}/{r['sessions']:<3d}"
            f" {r['server_rss_mb']['after_pages_opened']:7.0f} {r['server_rss_mb']['after_moves']:7.0f}"
            f" {r['server_cpu_ms_per_move']:7.1f}" + (f"  quick picture {q['median'] * 1000:.1f} / {q['p95'] * 1000:.1f} ms"
                                                        if (q := r.get("quick_picture_s")) else ""))


def markdown(results: dict) -> str:
    """The docs' table (docs/performance.md), from a run's results."""
    lines = ["| what | median | p95 | lost moves | stale / leaked pictures | bursts drawn right | "
             "server RSS before → after the moves | server CPU per move |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lat, rss = r["latency_s"], r["server_rss_mb"]
        leaked = "–" if r["leaked_pictures"] is None else r["leaked_pictures"]
        lines.append(f"| {name} | {lat['median']:.2f} s | {lat['p95']:.2f} s | {r['lost_moves']} of {r['moves']} | "
                     f"{r['stale_pictures']} / {leaked} of {r['pictures_checked']} | {r['burst_final_state_right']} of "
                     f"{r['sessions']} | {rss['after_pages_opened']:.0f} → {rss['after_moves']:.0f} MB | "
                     f"{r['server_cpu_ms_per_move']:.1f} ms |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    parser.add_argument("--out", default="classroom", help="bench/results/<OUT>.json")
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
    contended, busy = training_running(), cpu_busy()
    target = _image_target()
    results = {"whatif": _measure(target, "app.py", args.url, pids, args)}
    if args.replicas:
        results[f"whatif, {args.replicas} replicas behind nginx"] = _measure(target, None, None, [], args,
                                                                              args.replicas)
    if not args.no_baseline:
        results["baseline"] = _measure(_baseline_target(), "bench/baseline_app.py", None, [], args)
    print(f"\n{args.sessions} sessions x {args.moves} moves + a burst of {args.burst}"
          + ("  [a training job was running]" if contended else "") + f"  [CPU {busy:.0%} busy before]")
    print(f"{'':40} {'median':>7} {'p95':>7} {'lost':>10} {'stale':>5} {'leaked':>6} {'burst ok':>7}"
          f" {'RSS0 MB':>7} {'RSS1 MB':>7} {'CPU ms/move':>7}")
    for name, r in results.items():
        print(_line(name, r))
    path = write(args.out, {"what": "N concurrent browser sessions moving the Image what-if page's thickness slider",
                            "url": args.url or "fresh streamlit run app.py", "results": results,
                            "training_job_running": contended, "cpu_busy_before_run": busy,
                            "loadavg": os.getloadavg()})
    print(markdown(results))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
