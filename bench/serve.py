"""Helpers the browser benchmarks share: start/stop `streamlit run`, launch Debian's Chromium, read the page."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Resolves with {src, loaded, exact} in ms from the next key press until the image captioned `caption` gets a
# new src, until that new image has loaded, and until nothing on the page is stale any more (Streamlit marks an
# element data-stale while a rerun may still redraw it; the Image page's answer panel marks itself so while it shows
# the sweep's answer, until the rerun's exact one arrives). A MutationObserver fires in the same task as the DOM
# change, so the timing is not quantised to animation frames. The picture is a Streamlit image or a figure of the
# Image page's answer panel (assets/image_panel/). Also records when the quick sliders' own picture changed and
# loaded (`quick`, `quick_loaded`; null on a page without them).
FIND_PICTURE_JS = """(caption) => {
  const box = [...document.querySelectorAll('[data-testid=stImageContainer], .ip-root figure, .fd-card figure')]
      .find(e => e.innerText.includes(caption));
  return box ? box.querySelector("img") : null;
}"""


def drawn_selector(caption: str) -> str:
    """A Playwright selector for the picture captioned `caption` (a Streamlit image, an answer panel's figure or the
    Flip page's digit card)."""
    return (f"[data-testid=stImage]:has-text('{caption}') img, .ip-root figure:has-text('{caption}') img, "
            f".fd-card figure:has-text('{caption}') img")


ARM_JS = """(caption) => {
  const find = () => (FIND)(caption);
  const quick = () => document.querySelector('.qs-picture');
  const before = find().src, quickBefore = quick() ? quick().src : null;
  const idle = () => document.querySelectorAll('[data-stale=true]').length === 0;
  window.__latency = new Promise((resolve, reject) => {
    let t0 = null, q = null, ql = null, src = null, loaded = null;
    window.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    const finish = () => {
      if (loaded === null || !idle()) return;
      obs.disconnect();
      clearInterval(poll);
      resolve({src, loaded, exact: performance.now() - t0, quick: q, quick_loaded: ql});
    };
    const obs = new MutationObserver(() => {
      if (t0 === null) return;
      const qp = quick();
      if (q === null && qp && qp.src !== quickBefore) {
        q = performance.now() - t0;
        const mark = () => { if (ql === null) ql = performance.now() - t0; };
        if (qp.complete && qp.naturalWidth) mark(); else qp.addEventListener('load', mark, {once: true});
      }
      const img = find();
      if (src === null) {
        if (!img || img.src === before) return;
        src = performance.now() - t0;
        const done = () => { loaded = performance.now() - t0; finish(); };
        if (img.complete && img.naturalWidth) done(); else img.addEventListener('load', done, {once: true});
      }
      finish();
    });
    const poll = setInterval(() => { if (src !== null) finish(); }, 20);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true,
                                attributeFilter: ['src', 'data-stale']});
    setTimeout(() => reject(new Error('image did not change within 60 s')), 60000);
  });
}""".replace("FIND", FIND_PICTURE_JS)

# The quick slider's own picture (explorer/ui/quick_sliders.py), swapped in the browser from the slider's sweep:
# key press -> its new address, in window.__quick (null when it did not change within 5 s: no sweep yet).
QUICK_PICTURE_JS = """() => {
  const img = () => document.querySelector('.qs-picture');
  const before = img() ? img().src : null;
  window.__quick = new Promise((resolve) => {
    let t0 = null;
    window.addEventListener('keydown', () => { t0 = performance.now(); }, {capture: true, once: true});
    const obs = new MutationObserver(() => {
      if (t0 === null || !img() || img().src === before) return;
      obs.disconnect();
      resolve(performance.now() - t0);
    });
    obs.observe(document.body, {subtree: true, attributes: true, attributeFilter: ['src']});
    setTimeout(() => { obs.disconnect(); resolve(null); }, 5000);
  });
}"""

IDLE_JS = "() => document.querySelectorAll('[data-stale=true]').length === 0"
# Every value the visitor set has reached the server and been applied: a move shown whole waits in the browser
# for a pause (explorer/ui/quick_sliders.py, SETTLE_MS), so a series of moves is measured until that last one ran.
GONE_JS = """() => [...document.querySelectorAll('.qs-root')]
  .every((r) => !r.__qs || (!r.__qs.settled && r.__qs.pending === null))"""


def all_sent(page, timeout: int = 60_000) -> None:
    """Waits until every value set on `page` reached the server and its run was drawn (GONE_JS, then IDLE_JS).

    Polled every 100 ms, not on every animation frame (Playwright's default): the wait spans a quick slider's pause
    (seconds), and polling by frames makes the page draw ~60 frames a second meanwhile, which Chrome's counters then
    charge to the page (~15 ms a move in a series of ten; the no-model page, with no pause, paid none of it)."""
    page.wait_for_function(GONE_JS, timeout=timeout, polling=100)
    page.wait_for_function(IDLE_JS, timeout=timeout, polling=100)



# A series of steps of a step-card box settled (explorer/ui/step_cards.py): the box's number reached Python and its
# rerun is drawn: no step held, nothing stale, and the shown card (in `card`) drawn by a rerun for the box's number
# (its `data-drawn`). A page with no step cards (a no-model page): nothing stale is enough. Resolves with the ms
# since the last key press (window.__last.t0, set by the bench).
SETTLED_JS = """([box, card]) => new Promise((resolve) => {
  const done = () => {
    if (document.querySelectorAll('[data-stale=true], [data-sc-held]').length) return false;
    const drawn = document.querySelector(`${card} [data-drawn]`);  // the value the last rerun drew the card for
    return !drawn || Number(drawn.dataset.drawn) === Number(document.querySelector(box).value);
  };
  // checked on the page's own changes, not by a timer: a poll every 20 ms through a held series' 8 s pause was
  // ~400 checks of the whole page, charged to the page by Chrome's counters (the no-model page settles at once)
  const watch = new MutationObserver(() => check());
  const check = () => { if (done()) { watch.disconnect(); resolve(performance.now() - window.__last.t0); } };
  watch.observe(document.body, {subtree: true, childList: true, attributes: true});
  check();
})"""


def series_settled(page, box: str, card: str) -> float:
    """ms from the series' last key press until it settled (SETTLED_JS)."""
    return page.evaluate(SETTLED_JS, [box, card])


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) the process has used so far, in ms (10 ms ticks: average over many moves)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def browser_ms(cdp) -> dict[str, float]:
    """The page's main-thread time so far (Chrome's Performance metrics, `Performance.enable` sent), in ms: all
    tasks, and script."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"task": metrics["TaskDuration"] * 1000, "script": metrics["ScriptDuration"] * 1000}


def measured_run(app: str, path: str, ready: str, warm, timed, n: int, env: dict[str, str] | None = None,
                 window: float = 0.0, quiet=None) -> dict:
    """A fresh `streamlit run app` (with `env` added) and one Chromium page at `path`, once `ready` (a selector) shows
    and nothing is stale: `warm(page)` untimed, then `timed(page)`, whose samples are returned with the server's CPU
    and the browser's main-thread milliseconds per move (over `n` moves), counted over at least `window` seconds
    from the first move (apps compared over the same wall time: a server does some work while idle, e.g. Streamlit
    polls its config files every 0.2 s, ~3 ms a second, which a page whose series ends with a pause would otherwise
    pay alone): {"samples", "server_cpu_ms", "browser_task_ms", "browser_script_ms", "window_s"}. `quiet`: a
    (moves, check, series) triple (`quiet_series`): after it, `series` times the same moves made with no probe in the
    page, each counted the same way, under "quiet" (a list), each with its check's result as its "samples"."""
    from playwright.sync_api import sync_playwright

    proc, url = start(app, env=env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(url + path)
            page.wait_for_selector(ready, timeout=300_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            warm(page)
            out = counted(proc.pid, cdp, lambda: timed(page), n, window)
            if quiet is not None:  # series after series, each counted on its own
                moves, check, series = quiet
                out["quiet"] = [counted(proc.pid, cdp, lambda: moves(page), n, window, lambda: check(page))
                                for _ in range(series)]
            browser.close()
    finally:
        stop(proc)
    return out


def counted(pid: int, cdp, run, n: int, window: float, after=None) -> dict:
    """`run()`'s samples, with the server's and the browser's ms per move over at least `window` s; `after()`, if
    given, once the counters are read, and its result as the samples."""
    cpu0, seen0, t0 = cpu_ms(pid), browser_ms(cdp), time.monotonic()
    samples = run()
    time.sleep(max(0.0, t0 + window - time.monotonic()))
    cpu1, seen1, t1 = cpu_ms(pid), browser_ms(cdp), time.monotonic()
    return {"samples": after() if after is not None else samples, "server_cpu_ms": (cpu1 - cpu0) / n,
            "browser_task_ms": (seen1["task"] - seen0["task"]) / n,
            "browser_script_ms": (seen1["script"] - seen0["script"]) / n, "window_s": t1 - t0}


PACE = 0.3  # s added to a bench's --gap between the no-probe pass's key presses (the timed pass waits for each
# step's page to be still before its gap)


def no_probe_figures(runs: dict[str, list[dict]]) -> dict:
    """What `take_turns`'s no-probe series measured ({app: [run, ...]}), printed and for the results file:
    {"per_move_ms_no_probe": {app: per_move_quiet}, "no_probe_series_ms": {app: [each series' counters]},
    "no_probe_checks": {app: [each series' check]}}; a warning on stderr for each series that lost a step or had
    not settled within the window (its counters then miss part of the series)."""
    series = {name: [q for r in app_runs for q in r["quiet"]] for name, app_runs in runs.items()}
    figures = {"per_move_ms_no_probe": {name: per_move_quiet(app_runs) for name, app_runs in runs.items()},
               "no_probe_series_ms": {name: [{k: q[k] for k in _COUNTERS} for q in s] for name, s in series.items()},
               "no_probe_checks": {name: [q["samples"] for q in s] for name, s in series.items()}}
    print("per move over the series with no probe in the page:")
    print_per_move(figures["per_move_ms_no_probe"])
    for name, checks in figures["no_probe_checks"].items():
        for c in checks:
            if not c["settled"] or c["stepped"] != c["moves"]:
                print(f"WARNING {name}: no-probe series stepped {c['stepped']:g} of {c['moves']}, settled "
                      f"{c['late_ms']:.0f} ms after the window", file=sys.stderr)
    return figures


def quiet_series(box: str, card: str, moves: int, pace: float, series: int = 3) -> tuple:
    """`measured_run`'s `quiet` triple: `series` series of `moves` ArrowUp presses in the number box `box`, `pace` s
    apart, with nothing of the bench's in the page while counted: no observer, no probe, no polling. Why: the timed
    pass's observers, probes and waits run in the page, and Chrome's counters charge them to it, by how much depends
    on what each step changes there (docs/performance.md, "Audit a model"). Checked once the counters are read: the
    box holds the first value plus `moves` (no step lost) and the series settled within the window (`settled`:
    SETTLED_JS answered at once)."""
    start: list[float] = []

    def press(page) -> None:
        field = page.locator(box)
        field.focus()
        start.append(float(field.input_value()))
        for i in range(moves):
            field.press("ArrowUp")
            if i < moves - 1:
                time.sleep(pace)

    def check(page) -> dict:
        page.evaluate("() => { window.__last = {t0: performance.now()}; }")
        late = page.evaluate(SETTLED_JS, [box, card])  # ms it still took: ~0 when settled within the window
        value = float(page.locator(box).input_value())
        return {"settled": late < 200, "late_ms": late, "stepped": value - start[-1], "moves": moves}

    return press, check, series


def page_args(doc: str, prog: str, page: str, out: str, least_warmup: int = 0):
    """The options of a bench that times a page against its no-model page, parsed and checked: --moves, --warmup,
    --rounds, --gap (seconds a person looks after a step's page is still), --compare (a second app serving the page
    at `page`, e.g. the page before a change), --out. Returns None after a one-line message on stderr when one is out
    of range or --compare names no file."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("--moves", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each app, taking turns")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between a step's still page and the next step")
    parser.add_argument("--compare", metavar="APP", help=f"a second app serving the page at {page}")
    parser.add_argument("--out", default=out, help="the results file's name (bench/results/NAME.json)")
    args = parser.parse_args()
    if args.moves < 1 or args.warmup < least_warmup or args.rounds < 1 or not 0 <= args.gap <= 30:
        print(f"{prog}: --moves and --rounds must be at least 1, --warmup at least {least_warmup}, --gap 0-30 s",
              file=sys.stderr)
        return None
    if args.compare and not Path(args.compare).is_file():
        print(f"{prog}: --compare {args.compare}: no such file", file=sys.stderr)
        return None
    return args


def take_turns(apps: dict[str, tuple], ready: str, step, moves: int, warmup: int, rounds: int,
               window: float = 0.0, quiet=None) -> dict:
    """`measured_run` of each app ({name: (app, path)} or {name: (app, path, env)}) `rounds` times, the apps taking
    turns within each round so that drifting load hits them alike: `step(page, n)` makes n moves (warmup, then the
    timed ones) and returns their samples; each app's counters over at least `window` s; `quiet`: `measured_run`'s.
    Returns {name: [run, ...]}."""
    out = {name: [] for name in apps}
    for _ in range(rounds):
        for name, (app, path, *env) in apps.items():
            out[name].append(measured_run(app, path, ready, lambda page: step(page, warmup),
                                          lambda page: step(page, moves), moves, *env, window=window, quiet=quiet))
    return out


def series_window(moves: int, gap: float) -> float:
    """Seconds over which a series of `moves` steps `gap` s apart is counted, for every app alike: about what the
    held steps' series takes, its settling pause included (`quick_sliders.settle_ms`, 8 s by default)."""
    return moves * (gap + 0.5) + 10.0


def per_move(runs: list[dict]) -> dict[str, float]:
    """The server's CPU and the browser's main-thread milliseconds per move, averaged over `measured_run` runs."""
    return {k: sum(r[k] for r in runs) / len(runs) for k in _COUNTERS}


def per_move_quiet(runs: list[dict]) -> dict[str, float]:
    """The same over every no-probe series of `measured_run` runs (`quiet`): the median, and the p95 of each."""
    series = [q for r in runs for q in r["quiet"]]
    return {k: statistics.median(q[k] for q in series) for k in _COUNTERS} | {
        f"{k}_p95": statistics.quantiles([q[k] for q in series], n=20, method="inclusive")[-1] for k in _COUNTERS}


_COUNTERS = ("server_cpu_ms", "browser_task_ms", "browser_script_ms")


def print_per_move(moves: dict[str, dict[str, float]]) -> None:
    """One line per app of `per_move`'s figures."""
    for name, ms in moves.items():
        print(f"{name}: per move, server CPU {ms['server_cpu_ms']:.1f} ms, browser main thread "
              f"{ms['browser_task_ms']:.1f} ms (script {ms['browser_script_ms']:.1f} ms)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app: str = "app.py", timeout: float = 120.0, env: dict[str, str] | None = None
          ) -> tuple[subprocess.Popen, str]:
    """`streamlit run <app>` on a free port (with `env` added to this process's environment); returns
    (process, base URL) once /_stcore/health answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"streamlit run {app} did not become healthy within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def timed_in_subprocess(code: str, arg: str, what: str) -> list[float]:
    """Runs `python -c code arg` from the repository root and returns the timings it prints on a line
    `RESULT<json list>`: the explorer call alone, in a fresh process, as the rows beside a browser run."""
    import json

    done = subprocess.run([sys.executable, "-c", code, arg], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"{what} timing failed:\n{done.stderr[-2000:]}")
    return json.loads(line[len("RESULT"):])


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPU time spent busy over `seconds` (from /proc/stat): other load skews timings."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # (idle + iowait, total)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def training_running() -> bool:
    """Whether a `python -m explorer train` job shares the CPU (it makes every number slower)."""
    return subprocess.run(["pgrep", "-f", "explorer train"], capture_output=True).returncode == 0
