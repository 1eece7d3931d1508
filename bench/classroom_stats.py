"""The classroom benchmark's readings of the machine and the server: memory and CPU of the server processes and of
the browsers, the whole machine's CPU, the model thread's counts (EXPLORER_MODEL_STATS) and the server's script runs
(EXPLORER_RUN_STATS, explorer/ui/run_stats.py), from which a visitor's first move is split into the server's part
and the browser's. Split from bench_classroom.py, which uses them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs

from common import stats
from serve import cpu_ms

def server_stats(pids: list[int]) -> tuple[float, float]:
    """(RSS in MB, CPU seconds) summed over the server processes."""
    rss, cpu = 0.0, 0.0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        rss += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) / 1024
        cpu += cpu_ms(pid) / 1000  # utime + stime
    return rss, cpu


def browser_cpu() -> float:
    """CPU seconds (user + system) of every Chromium process on the machine: the class's browsers, which share
    this machine's cores with the server here (in a real class they run on the visitors' own machines)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().startswith(("chrom", "headless")):
                total += cpu_ms(int(proc.name)) / 1000
        except OSError:  # the process ended while read
            continue
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, summed over its cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


def model_stats(path: Path | None) -> dict:
    """The server's model-thread counts (explorer/model_thread.py, EXPLORER_MODEL_STATS), zeros before any call."""
    if path is None or not path.exists():
        return {"calls": 0, "found_busy": 0, "found_queued": 0, "wait_s": 0.0, "run_s": 0.0}
    return json.loads(path.read_text())


def runs(path: Path | None) -> list[dict]:
    """The server's script runs so far (explorer/ui/run_stats.py): {"start", "end", "query", "fragment"}."""
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def visitor_key(path_of) -> str | None:
    """The link parameter that tells the visitors apart (the one whose value differs between the first two)."""
    first, second = (parse_qs(path_of(k).partition("?")[2]) for k in (0, 1))
    return next((name for name in first if first[name] != second.get(name)), None)


def first_move_split(server_runs: list[dict], key: str | None, firsts: list[tuple[str, float, float]]) -> dict | None:
    """Each visitor's first move split in two: from the key press until the server's run for it ended, and from then
    until the answer was on screen (the browser's part: its queue for the CPU, taking in the messages, drawing).

    Args:
        server_runs: `runs(...)` after the moves.
        key: `visitor_key(...)`, the link parameter naming the visitor.
        firsts: per visitor, (its value of `key`, the wall-clock time of its first press, the seconds until that
            move was on screen).
    Returns:
        {"server_s": stats, "browser_s": stats, "matched": visitors whose run was found}, or None without a run log.
    """
    if not server_runs or key is None:
        return None
    server, browser = [], []
    for value, pressed, latency in firsts:
        # a run for this move starts after the press and before the answer showed (a move the browser drew from
        # its sweep has none: it is left out)
        mine = sorted((r for r in server_runs if pressed <= r["start"] <= pressed + latency
                       and parse_qs(r["query"]).get(key) == [value]), key=lambda r: r["start"])
        if mine:
            done = mine[0]["end"] - pressed
            server.append(done)
            browser.append(max(0.0, latency - done))
    if not server:
        return None
    return {"server_s": stats(server), "browser_s": stats(browser), "matched": len(server),
            "server_by_visitor": [round(x, 3) for x in server]}
