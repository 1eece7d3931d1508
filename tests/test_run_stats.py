"""EXPLORER_RUN_STATS (explorer/ui/run_stats.py): each script run logged for the benchmarks, and nothing wrapped
without the variable; bench/classroom_stats.py's split of a first move into the server's part and the browser's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
from streamlit.testing.v1 import AppTest

from explorer.ui import run_stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from classroom_stats import first_move_split, visitor_key  # noqa: E402


def _script() -> None:
    import streamlit as st

    @st.fragment
    def part() -> None:
        st.button("again", key="again")

    st.write("hello")
    part()


def test_each_run_is_logged_with_its_times_and_link(tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setattr(ScriptRunner, "_run_script", ScriptRunner._run_script)  # put back after the test
    monkeypatch.setenv("EXPLORER_RUN_STATS", str(log))
    run_stats.install()
    run_stats.install()  # once only: a second call does not wrap twice
    at = AppTest.from_function(_script)
    at.query_params["index"] = "7"
    at.run()
    at.button(key="again").click().run()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 2
    assert all(r["start"] <= r["end"] and "index=7" in r["query"] for r in lines)


def test_nothing_is_wrapped_without_the_variable(monkeypatch):
    monkeypatch.delenv("EXPLORER_RUN_STATS", raising=False)
    before = ScriptRunner._run_script
    run_stats.install()
    assert ScriptRunner._run_script is before


def test_a_first_move_is_split_at_the_end_of_its_own_run():
    path = lambda k: f"/causal_graph_lab?scene={7 + 29 * k}&light=70"  # noqa: E731
    assert visitor_key(path) == "scene"
    runs = [{"start": 9.0, "end": 9.5, "query": "scene=7&light=70", "fragment": True},  # before the press
            {"start": 10.1, "end": 10.6, "query": "scene=36&light=70", "fragment": True},  # another visitor's
            {"start": 10.2, "end": 10.9, "query": "scene=7&light=71", "fragment": True},  # this move's
            {"start": 11.0, "end": 11.2, "query": "scene=7&light=72", "fragment": True}]  # a later one
    split = first_move_split(runs, "scene", [("7", 10.0, 3.0), ("65", 10.0, 0.1)])  # 65: shown from its sweep
    assert split["matched"] == 1
    assert abs(split["server_s"]["median"] - 0.9) < 1e-9 and abs(split["browser_s"]["median"] - 2.1) < 1e-9
    assert first_move_split([], "scene", [("7", 10.0, 3.0)]) is None
