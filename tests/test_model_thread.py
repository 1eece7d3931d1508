"""The model thread: interactive calls from many short-lived threads all run on one long-lived thread."""

from __future__ import annotations

import threading

import pytest

from explorer.model_thread import on_model_thread


@on_model_thread
def _where() -> int:
    return threading.get_ident()


@on_model_thread
def _fails() -> None:
    raise ValueError("bad do()")


@on_model_thread
def _outer() -> tuple[int, int]:
    return threading.get_ident(), _where()  # a wrapped call from the model thread itself


def test_calls_from_new_threads_share_one_worker_thread():
    seen: list[int] = []
    callers = [threading.Thread(target=lambda: seen.append(_where())) for _ in range(5)]
    for t in callers:  # one after another, as Streamlit's reruns are: each a fresh thread
        t.start()
        t.join()
    assert len(seen) == 5 and len(set(seen)) == 1
    assert seen[0] != threading.get_ident() and seen[0] not in {t.ident for t in callers}


def test_exceptions_reach_the_caller_unchanged():
    with pytest.raises(ValueError, match="bad do"):
        _fails()


def test_a_nested_call_runs_in_place_instead_of_waiting_on_itself():
    outer, inner = _outer()
    assert outer == inner


def test_with_a_stats_file_each_call_counts_the_queue_it_found(tmp_path, monkeypatch):
    import json
    import time

    import explorer.model_thread as mt

    path = tmp_path / "model_stats.json"
    monkeypatch.setattr(mt, "_STATS_FILE", str(path))
    monkeypatch.setattr(mt, "_STATS", mt._Stats())
    slow = on_model_thread(lambda: time.sleep(0.05))
    slow()  # alone: finds the thread idle
    alone = json.loads(path.read_text())
    assert alone["calls"] == 1 and alone["found_busy"] == 0 and alone["run_s"] >= 0.04
    callers = [threading.Thread(target=slow) for _ in range(3)]  # at once: the later ones wait
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    together = json.loads(path.read_text())
    assert together["calls"] == 4 and together["found_busy"] >= 1 and together["wait_s"] >= 0.04
    assert not list(tmp_path.glob("*.tmp"))
