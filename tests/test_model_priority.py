"""The model thread runs answers before work done ahead (explorer/model_thread.py, `ANSWER` and `AHEAD`)."""

from __future__ import annotations

import threading
import time

import pytest
from test_model_batch import _Gate

import explorer.model_thread as mt
from explorer.model_thread import Batcher


@pytest.mark.parametrize("prioritise, expected", [("1", ["answer 1", "answer 2", "sweep 1", "sweep 2"]),
                                                    ("0", ["sweep 1", "answer 1", "sweep 2", "answer 2"])])
def test_answers_waiting_run_before_sweeps_that_arrived_earlier(monkeypatch, prioritise, expected):
    """A visitor's answer does not wait behind other visitors' sweeps (work done ahead); each kind in arrival order;
    EXPLORER_MODEL_PRIORITY=0: all in arrival order."""
    monkeypatch.setenv("EXPLORER_MODEL_PRIORITY", prioritise)
    ran: list[str] = []
    record = lambda name: ran.append(name) or name  # noqa: E731
    sweeps = Batcher(record, lambda names: [record(n) for n in names], mt.AHEAD)
    answers = Batcher(record, lambda names: [record(n) for n in names])
    with _Gate():  # the model thread busy (a sweep running): these four wait, in this order of arrival
        threads = []
        for batcher, name in [(sweeps, "sweep 1"), (answers, "answer 1"), (sweeps, "sweep 2"), (answers, "answer 2")]:
            threads.append(threading.Thread(target=batcher, args=(name, name)))  # each its own key: four jobs
            threads[-1].start()
            while mt._POOL._jobs.qsize() < len(threads):  # queued on the model thread before the next arrives
                time.sleep(0.002)
    for t in threads:
        t.join(30)
    assert ran == expected
