"""EXPLORER_RUN_STATS=FILE (a benchmark sets it): each script run of the server, the whole page's or a fragment's,
is appended to FILE as one JSON line: {"start", "end"} (wall-clock seconds), "query" (the link the run was asked
with) and "fragment" (whether it was a fragment's run).

Why: in a benchmark the visitors' browsers share this machine's cores with the server, so a move's latency mixes
the server's work with the browsers' queue; the runs' times say which part of it was the server's
(bench/bench_classroom.py, "first moves"). Off unless the variable is set: nothing is wrapped then.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time

_LOCK = threading.Lock()


def install() -> None:
    """Wraps Streamlit's ScriptRunner._run_script once, when EXPLORER_RUN_STATS names a file."""
    path = os.environ.get("EXPLORER_RUN_STATS")
    if not path:
        return
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner  # internal, pinned by requirements.txt

    run = ScriptRunner._run_script
    if getattr(run, "_explorer_timed", False):
        return

    @functools.wraps(run)
    def timed(self, rerun_data, *args, **kwargs):
        start = time.time()
        try:
            return run(self, rerun_data, *args, **kwargs)
        finally:
            line = json.dumps({"start": start, "end": time.time(), "query": rerun_data.query_string,
                               "fragment": bool(rerun_data.fragment_id_queue)})
            with _LOCK, open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")

    timed._explorer_timed = True
    ScriptRunner._run_script = timed
