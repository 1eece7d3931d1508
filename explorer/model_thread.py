"""One long-lived thread for the interactive model calls (a slider move on the image or lab page).

Why: PyTorch's CPU convolutions (oneDNN) pay a set-up cost the first time a thread runs them, and Streamlit
runs every rerun, fragment reruns included, in a new thread. Measured on the 2-core dev box with the
pendulum lab's what_if(): 10-12 ms on a thread that has run it before, 37-58 ms on each new thread, 10-14 ms on
new threads once oneDNN is switched off. Switching oneDNN off globally would slow the batch paths (export,
training), so instead the interactive calls hop onto one thread that stays warm.

One worker serialises calls from concurrent sessions; with one torch thread per call (explorer/ui/loader.py)
that costs a waiting session one call, about 10-20 ms. The export does not go through it. The text page's
calls do not either: they run no convolutions, and fresh threads measured no slower there.

With EXPLORER_MODEL_STATS=FILE (a benchmark sets it), every call also counts how many calls were already queued or
running when it arrived and how long it waited, written to FILE as JSON: the measure of how much batching the
waiting sessions' calls into one could save (bench/bench_classroom.py).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-model")
_STATE = threading.local()
_STATS_FILE = os.environ.get("EXPLORER_MODEL_STATS")


class _Stats:
    """Counts for EXPLORER_MODEL_STATS: calls, the queue each found, time waited and run."""

    def __init__(self) -> None:
        self.lock, self.pending = threading.Lock(), 0
        self.counts = {"calls": 0, "found_busy": 0, "found_queued": 0, "wait_s": 0.0, "run_s": 0.0}

    def arrive(self) -> float:
        with self.lock:
            self.counts["found_busy"] += self.pending >= 1  # another call running: this one waits
            self.counts["found_queued"] += self.pending >= 2  # another one waiting too: a batch could take both
            self.pending += 1
        return time.perf_counter()

    def leave(self, arrived: float, started: float, ended: float, path: str) -> None:
        with self.lock:
            self.pending -= 1
            c = self.counts
            c["calls"] += 1
            c["wait_s"] += started - arrived
            c["run_s"] += ended - started
            tmp = f"{path}.tmp"
            with open(tmp, "w") as f:
                json.dump(c, f)
            os.replace(tmp, path)  # whole or absent: the benchmark reads it while the server runs


_STATS = _Stats()


def _call(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    _STATE.inside = True
    try:
        return fn(*args, **kwargs)
    finally:
        _STATE.inside = False


def on_model_thread(fn: Callable[..., T]) -> Callable[..., T]:
    """Runs `fn` on the model thread and waits for it; exceptions reach the caller unchanged.

    A call made from the model thread itself runs in place (a wrapped method calling another would
    otherwise wait on itself forever).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_STATE, "inside", False):
            return fn(*args, **kwargs)
        if not _STATS_FILE:
            return _POOL.submit(_call, fn, args, kwargs).result()
        arrived, times = _STATS.arrive(), []

        def timed(*a, **kw):
            times.append(time.perf_counter())
            try:
                return _call(*a, **kw)
            finally:
                times.append(time.perf_counter())

        try:
            return _POOL.submit(timed, fn, args, kwargs).result()
        finally:
            _STATS.leave(arrived, *(times + [arrived, arrived])[:2], _STATS_FILE)

    return wrapper
