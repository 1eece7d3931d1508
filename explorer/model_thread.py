"""One long-lived thread for the interactive model calls (a slider move on the image or lab page).

Why: PyTorch's CPU convolutions (oneDNN) pay a set-up cost the first time a thread runs them, and Streamlit
runs every rerun, fragment reruns included, in a new thread. Measured on the 2-core dev box with the
pendulum lab's what_if(): 10-12 ms on a thread that has run it before, 37-58 ms on each new thread, 10-14 ms on
new threads once oneDNN is switched off. Switching oneDNN off globally would slow the batch paths (export,
training), so instead the interactive calls hop onto one thread that stays warm.

One worker serialises calls from concurrent sessions; with one torch thread per call (explorer/ui/loader.py)
that costs a waiting session one call, about 10-20 ms. The export does not go through it. The text page's
calls do not either: they run no convolutions, and fresh threads measured no slower there.

Calls that can share a model call (`Batcher`: the Image page's what-ifs) wait together: while one batch runs, the
calls that arrive for the same key join one group, and the next batch takes the whole group at once (one decoder
call for the moves waiting, instead of one each). EXPLORER_MODEL_BATCH=0 turns that off (each runs alone, as
`on_model_thread` calls do), for A/B measurements. The jobs waiting run answers first (`ANSWER`), then the work done
ahead (`AHEAD`: the sweeps of the quick sliders), each in arrival order; EXPLORER_MODEL_PRIORITY=0 runs all in
arrival order, for A/B measurements.

With EXPLORER_MODEL_STATS=FILE (a benchmark sets it), every call also counts how many calls were already queued or
running when it arrived and how long it waited, written to FILE as JSON: the measure of how much batching the
waiting sessions' calls into one could save (bench/bench_classroom.py). `run_s` is the time the thread ran (a
batch counted once); `batches`, `batched_calls` and `shared_calls` count the batches run, the calls they served
and those served with at least one other call.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import queue
import threading
import time
from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

ANSWER, AHEAD = 0, 1  # job priorities: an answer a visitor waits to see, before work done ahead (a slider's sweep)


def prioritising() -> bool:
    """Whether the model thread runs answers before sweeps (EXPLORER_MODEL_PRIORITY unset or not "0"); else in
    arrival order, for A/B measurements. Read at each submission."""
    return os.environ.get("EXPLORER_MODEL_PRIORITY", "1") != "0"


class _Worker:
    """The one model thread: runs the jobs waiting by priority (`ANSWER` first), then in arrival order.

    Why not a plain one-worker pool: a sweep (80 scenes) runs 10-20x as long as a what-if, and in arrival order a
    visitor's move waited behind the sweeps other visitors had asked for (a class of 16 on the lab: the calls'
    waiting fell from 14.9 to 6.2 s with answers first, docs/performance.md). A job already running is never
    interrupted."""

    def __init__(self) -> None:
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()  # ties in arrival order (and never compares two jobs' functions)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, fn: Callable[..., T], *args, priority: int = ANSWER) -> Future:
        future: Future = Future()
        with self._lock:
            if self._thread is None:  # started on first use: importing this module starts nothing
                self._thread = threading.Thread(target=self._loop, name="explorer-model", daemon=True)
                self._thread.start()
        self._jobs.put((priority if prioritising() else ANSWER, next(self._order), fn, args, future))
        return future

    def _loop(self) -> None:
        while True:
            _, _, fn, args, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # noqa: BLE001 - the caller re-raises it, unchanged
                future.set_exception(err)


_POOL = _Worker()
_STATE = threading.local()
_STATS_FILE = os.environ.get("EXPLORER_MODEL_STATS")


def batching() -> bool:
    """Whether `Batcher`s batch (EXPLORER_MODEL_BATCH unset or not "0"). Read at each call, so a benchmark can
    alternate in one process."""
    return os.environ.get("EXPLORER_MODEL_BATCH", "1") != "0"


class _Stats:
    """Counts for EXPLORER_MODEL_STATS: calls, the queue each found, time waited and run, batches."""

    def __init__(self) -> None:
        self.lock, self.pending = threading.Lock(), 0
        self.counts = {"calls": 0, "found_busy": 0, "found_queued": 0, "wait_s": 0.0, "run_s": 0.0,
                       "batches": 0, "batched_calls": 0, "shared_calls": 0}  # numbers only: the bench subtracts

    def arrive(self) -> float:
        with self.lock:
            self.counts["found_busy"] += self.pending >= 1  # another call running: this one waits
            self.counts["found_queued"] += self.pending >= 2  # another one waiting too: a batch could take both
            self.pending += 1
        return time.perf_counter()

    def batch(self, size: int) -> None:
        with self.lock:
            self.counts["batches"] += 1
            self.counts["batched_calls"] += size
            self.counts["shared_calls"] += size if size > 1 else 0

    def leave(self, arrived: float, started: float, ran: float, path: str) -> None:
        """One call done: it waited from `arrived` to `started`; `ran` is its share of the thread's run time."""
        with self.lock:
            self.pending -= 1
            c = self.counts
            c["calls"] += 1
            c["wait_s"] += started - arrived
            c["run_s"] += ran
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


def _inside() -> bool:
    return getattr(_STATE, "inside", False)


def _run_alone(fn: Callable[..., T], args: tuple, kwargs: dict, priority: int = ANSWER) -> T:
    """Runs one call on the model thread, counted when EXPLORER_MODEL_STATS is set, and waits for it."""
    if not _STATS_FILE:
        return _POOL.submit(_call, fn, args, kwargs, priority=priority).result()
    arrived, times = _STATS.arrive(), []

    def timed(*a, **kw):
        times.append(time.perf_counter())
        try:
            return _call(*a, **kw)
        finally:
            times.append(time.perf_counter())

    try:
        return _POOL.submit(timed, fn, args, kwargs, priority=priority).result()
    finally:
        started, ended = (times + [arrived, arrived])[:2]
        _STATS.leave(arrived, started, ended - started, _STATS_FILE)


def on_model_thread(fn: Callable[..., T] | None = None, *, priority: int = ANSWER):
    """Runs `fn` on the model thread and waits for it; exceptions reach the caller unchanged. As
    `@on_model_thread(priority=AHEAD)`, for work done ahead: the answers waiting run first.

    A call made from the model thread itself runs in place (a wrapped method calling another would
    otherwise wait on itself forever).
    """

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if _inside():
                return fn(*args, **kwargs)
            return _run_alone(fn, args, kwargs, priority)

        return wrapper

    return wrap if fn is None else wrap(fn)


@dataclass(eq=False)
class _Waiting(Generic[R, T]):
    """One caller's request in a group, the future its caller waits on, and (for the stats) when it ran."""

    request: R
    future: Future = field(default_factory=Future)
    arrived: float = 0.0
    started: float = 0.0
    ran: float = 0.0  # its share of the batch's run time: the whole of it on the group's first call, else 0


class Batcher(Generic[R, T]):
    """Runs the requests waiting for the model thread under one key as one batch: `many(requests) -> results`.

    A caller's request joins the pending group of its key; the group's first caller submits one job to the model
    thread, and that job, when it starts, takes the whole group (later arrivals start the next group). A group
    of one runs `one(request)`. If `many` raises, the group's requests run one by one, so a bad request cannot fail
    another visitor's call, and each caller gets its own result or exception, unchanged. A call made on the model
    thread itself runs in place; with EXPLORER_MODEL_BATCH=0 each call runs alone, as `on_model_thread` runs it.

    Args:
        one: one request -> its result (the unbatched call).
        many: requests (two or more, one key) -> their results, in order.
        priority: `ANSWER` (a visitor waits to see it) or `AHEAD` (a sweep: answers waiting go first).
    """

    def __init__(self, one: Callable[[R], T], many: Callable[[list[R]], list[T]], priority: int = ANSWER):
        self.one, self.many, self.priority = one, many, priority
        self._lock = threading.Lock()
        self._groups: dict[Hashable, list[_Waiting[R, T]]] = {}

    def __call__(self, key: Hashable, request: R) -> T:
        if _inside():
            return self.one(request)
        if not batching():
            return _run_alone(self.one, (request,), {}, self.priority)
        waiting: _Waiting[R, T] = _Waiting(request)
        if _STATS_FILE:
            waiting.arrived = _STATS.arrive()
        with self._lock:
            first = key not in self._groups
            self._groups.setdefault(key, []).append(waiting)
        if first:
            try:
                _POOL.submit(self._run, key, priority=self.priority)
            except BaseException as err:  # the thread could not start (the interpreter exits): nobody may wait forever
                with self._lock:
                    for w in self._groups.pop(key, []):
                        w.future.set_exception(err)
        try:
            return waiting.future.result()
        finally:
            if _STATS_FILE:
                _STATS.leave(waiting.arrived, waiting.started, waiting.ran, _STATS_FILE)

    def pending(self, key: Hashable) -> int:
        """How many calls wait in the key's group, not yet taken by a batch (tests and benchmarks read it)."""
        with self._lock:
            return len(self._groups.get(key, ()))

    def _run(self, key: Hashable) -> None:
        """The job on the model thread: takes the key's group as it is now and answers every caller in it."""
        with self._lock:
            group = self._groups.pop(key)
        started = time.perf_counter()
        _STATE.inside = True
        try:
            outcomes = self._outcomes([w.request for w in group])
        except BaseException as err:  # noqa: BLE001 - only if answering itself failed: no caller may wait forever
            outcomes = [(None, err)] * len(group)
        finally:
            _STATE.inside = False
        group[0].ran = time.perf_counter() - started  # set before any caller wakes and counts it
        for w in group:
            w.started = started
        if _STATS_FILE:
            _STATS.batch(len(group))
        for w, (result, err) in zip(group, outcomes):
            if err is None:
                w.future.set_result(result)
            else:
                w.future.set_exception(err)

    def _outcomes(self, requests: list[R]) -> list[tuple[T | None, BaseException | None]]:
        """(result, None) or (None, exception) per request: all at once, or one by one if the batch raises."""
        if len(requests) > 1:
            try:
                results = self.many(requests)
            except Exception:  # noqa: BLE001 - one bad request: fall back to each alone, below
                results = None
            if results is not None and len(results) == len(requests):
                return [(r, None) for r in results]
        outcomes: list[tuple[T | None, BaseException | None]] = []
        for request in requests:
            try:
                outcomes.append((self.one(request), None))
            except BaseException as err:  # noqa: BLE001 - its caller re-raises it, unchanged
                outcomes.append((None, err))
        return outcomes
