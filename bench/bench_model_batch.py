"""Batching the waiting visitors' what-ifs on the model thread (issue 22): batched against one call at a time.

K threads, each a visitor on its own test digit, call `ImageService.what_if` in a loop with a changing do(thickness)
(a slider moving, one position further each call; with `--lab`, `LabService.what_if` on its own scene with a
changing do(light), in the learned graph), optionally pausing `--think` seconds (uniform 0..think) between
calls. Rounds alternate batching on and off (EXPLORER_MODEL_BATCH, read at each call) in the same process, so
both see the same machine load. Per K and mode: latency per call (median / p95 over all calls of all rounds),
calls per second (all calls over the round's wall time, median of rounds) and the mean batch size (from the model
thread's counts, EXPLORER_MODEL_STATS, set here before the explorer is imported). The baseline: one visitor alone
(K = 1), in the same run. Every digit's factual part is computed before timing, as a visitor's first call does.

Usage: `PYTHONPATH=. python bench/bench_model_batch.py [--visitors 4 8 16] [--rounds 3] [--moves 20] [--think 0]
[--lab] [--out model_batch]`; writes bench/results/<out>.json. Timed: run it without `nice`, record `uptime` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATS = Path(tempfile.mkdtemp()) / "model_stats.json"
os.environ["EXPLORER_MODEL_STATS"] = str(STATS)  # read when explorer.model_thread is imported, below

import torch  # noqa: E402

from common import stats, write  # noqa: E402  (bench/ is on the path when run as a script)

from explorer.device import pick_device  # noqa: E402
from explorer.services.image import ImageService  # noqa: E402
from explorer.services.lab import LabService  # noqa: E402


@dataclass(frozen=True)
class Slider:
    """The slider every visitor moves: the variable and its step grid, one step per call."""

    name: str
    positions: list[float]


THICKNESS = Slider("thickness", [round(1.0 + 0.1 * i, 1) for i in range(46)])
LIGHT = Slider("light", [float(a) for a in range(54, 133)])  # the lab's light angle, its 1-degree steps


@dataclass
class Round:
    """One round of K visitors in one mode: each call's latency, the wall time and the model thread's counts."""

    visitors: int
    batched: bool
    latencies: list[float]
    wall_s: float
    batches: int
    batched_calls: int
    wait_s: float
    run_s: float


def _counts() -> dict:
    return json.loads(STATS.read_text()) if STATS.exists() else {}


def _visitor(service: ImageService | LabService, slider: Slider, index: int, moves: int, think: float, seed: int,
             out: list[float]) -> None:
    rng = random.Random(seed)
    at = rng.randrange(len(slider.positions))
    for _ in range(moves):
        at = (at + 1) % len(slider.positions)  # one step further, as a key press moves the slider
        start = time.perf_counter()
        service.what_if(index, {slider.name: slider.positions[at]})
        out.append(time.perf_counter() - start)
        if think:
            time.sleep(rng.uniform(0, think))


def _digit(visitor: int, n: int) -> int:
    return (100 + 37 * visitor) % n  # each visitor its own digit or scene


def run_round(service: ImageService | LabService, slider: Slider, visitors: int, batched: bool, moves: int,
              think: float, seed: int) -> Round:
    os.environ["EXPLORER_MODEL_BATCH"] = "1" if batched else "0"
    before = _counts()
    per: list[list[float]] = [[] for _ in range(visitors)]
    threads = [threading.Thread(target=_visitor, args=(service, slider, _digit(v, len(service)), moves, think,
                                                       seed + v, per[v])) for v in range(visitors)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    after = _counts()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("batches", "batched_calls", "wait_s", "run_s")}
    return Round(visitors, batched, [x for p in per for x in p], wall, **delta)


def summary(rounds: list[Round]) -> dict:
    """Latency median / p95 in ms over every call, calls per second (median of rounds), mean batch size."""
    lat = stats([x for r in rounds for x in r.latencies])
    calls = sum(len(r.latencies) for r in rounds)
    batches = sum(r.batches for r in rounds)
    return {"median_ms": round(lat["median"] * 1000, 2), "p95_ms": round(lat["p95"] * 1000, 2), "calls": calls,
            "calls_per_s": round(statistics.median(len(r.latencies) / r.wall_s for r in rounds), 1),
            "mean_batch": round(sum(r.batched_calls for r in rounds) / batches, 2) if batches else 1.0,
            "thread_busy": round(sum(r.run_s for r in rounds) / sum(r.wall_s for r in rounds), 2),
            "mean_wait_ms": round(sum(r.wait_s for r in rounds) / calls * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode, alternating on / off")
    parser.add_argument("--moves", type=int, default=20, help="calls per visitor per round")
    parser.add_argument("--think", type=float, default=0.0, help="pause after each call, uniform 0..THINK s")
    parser.add_argument("--lab", action="store_true", help="the causal graph lab's what_if instead of the image's")
    parser.add_argument("--out", default="model_batch")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
    service = LabService(pick_device()) if args.lab else ImageService(pick_device())
    slider = LIGHT if args.lab else THICKNESS
    for v in range(max(args.visitors)):  # every digit's factual part computed and kept, as after a first call
        service.what_if(_digit(v, len(service)), {slider.name: slider.positions[0]})
    load_before = os.getloadavg()
    table: dict[str, dict] = {}
    raw: list[dict] = []
    for k in [1, *args.visitors]:
        rounds: list[Round] = []
        for r in range(args.rounds):
            for batched in ((True, False) if r % 2 == 0 else (False, True)):  # alternate which goes first
                rounds.append(run_round(service, slider, k, batched, args.moves, args.think, seed=1000 * r))
        for batched in (True, False):
            mine = [x for x in rounds if x.batched == batched]
            table[f"{k} visitors, batching {'on' if batched else 'off'}"] = summary(mine)
        raw += [asdict(x) | {"latencies": [round(t * 1000, 3) for t in x.latencies]} for x in rounds]
        print(f"{k:>3} visitors  on: {table[f'{k} visitors, batching on']}\n"
              f"{'':>13}off: {table[f'{k} visitors, batching off']}  load {os.getloadavg()[0]:.2f}", flush=True)
    alone = table["1 visitors, batching off"]
    ratios = {k: {"p95_vs_alone": round(v["p95_ms"] / alone["p95_ms"], 2),
                  "median_vs_alone": round(v["median_ms"] / alone["median_ms"], 2)} for k, v in table.items()}
    for k in args.visitors:
        on, off = table[f"{k} visitors, batching on"], table[f"{k} visitors, batching off"]
        ratios[f"{k} visitors, on / off"] = {"median": round(on["median_ms"] / off["median_ms"], 2),
                                             "p95": round(on["p95_ms"] / off["p95_ms"], 2),
                                             "calls_per_s": round(on["calls_per_s"] / off["calls_per_s"], 2)}
    path = write(args.out, {"args": vars(args), "load_average_before": [round(x, 2) for x in load_before],
                            "load_average_after": [round(x, 2) for x in os.getloadavg()],
                            "summary": table, "ratios": ratios, "rounds": raw})
    print(json.dumps(ratios, indent=1), f"\nwrote {path}")


if __name__ == "__main__":
    main()
