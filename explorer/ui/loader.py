"""What every run of the app shares: one model thread per call, the sidebar, the route through app.py, and the
Text page's models loading in the background. The pages' services load through `explorer.ui.common.loader`."""

from __future__ import annotations

import os
import sys
import threading

import streamlit as st
import torch

from explorer.device import describe, pick_device
from explorer.paths import PRETRAINED, ROOT
from explorer.ui import run_stats

# One CPU thread per model call in the server process (set at import, so the sidebar reports it too):
# a what-if is a batch of 2 small images, too little work to split across cores, and split work waits
# for the slowest core. Measured on the 2-core dev box: idle, 17 ms per what_if() with 1 thread and
# 16 ms with 2; while a training job ran, 18 ms with 1 thread and 711 ms with 2. Concurrent sessions
# then get a core each instead of fighting over both.
torch.set_num_threads(1)

# The GIL's switch interval: Python's own 5 ms unless EXPLORER_SWITCH_INTERVAL_MS sets another. The model thread
# (explorer/model_thread.py) releases the GIL around each torch operation and must win it back after each; while
# other visitors' reruns run Python, each win-back waits until the GIL is given up, at the latest after one
# interval. bench/bench_gil_convoy.py, an Image sweep beside two busy Python threads: 13.2x its time alone at 5 ms,
# 3.5x at 0.5 ms (the busy threads doing 20 % less work). Not shorter by default: under a class of 16 on the
# two-core machine it moved the wait from the first move to the later ones and cost more server CPU per move, with
# no gain in the p95 (docs/performance.md, "Where a class's CPU goes").
SWITCH_INTERVAL_MS = 5.0


def switch_interval_ms() -> float:
    """EXPLORER_SWITCH_INTERVAL_MS when it is a number from 0.05 to 100, else SWITCH_INTERVAL_MS."""
    given = os.environ.get("EXPLORER_SWITCH_INTERVAL_MS")
    try:
        value = SWITCH_INTERVAL_MS if given is None else float(given)
    except ValueError:
        value = -1.0
    if 0.05 <= value <= 100:
        return value
    print(f"EXPLORER_SWITCH_INTERVAL_MS={given!r} is not a number of milliseconds from 0.05 to 100; using "
          f"{SWITCH_INTERVAL_MS}", file=sys.stderr)
    return SWITCH_INTERVAL_MS


sys.setswitchinterval(switch_interval_ms() / 1000)
run_stats.install()  # only when a benchmark sets EXPLORER_RUN_STATS: each script run's times, for its report


def prewarm() -> None:
    """Starts loading the Text page's default models in the background, once per server process.

    The first visitor usually lands on Home and moves on: the text models (transformers and the BERT base,
    ~5 s on the 2-core box) are then ready when they open the Text page (bench/bench_cold_start.py --text).
    EXPLORER_PREWARM=0 turns it off (the benchmark's baseline).
    """
    if os.environ.get("EXPLORER_PREWARM", "1") != "0":
        _prewarm_thread()


@st.cache_resource(show_spinner=False)
def _prewarm_thread() -> threading.Thread:
    # Imported here, not at the top (no cycle to dodge): the text page's modules take ~0.3 s to import, which the
    # first page a visitor opens need not wait for.
    from explorer.ui.text_whatif import DEFAULT_CONCEPT, TEXT

    service = TEXT.shared()  # the pages' own instance: its lock makes a page that asks first wait, once
    thread = threading.Thread(target=_load_quietly, args=(service, DEFAULT_CONCEPT), name="prewarm", daemon=True)
    thread.start()
    return thread


def _load_quietly(service, concept: str) -> None:
    try:
        service.load(concept)
    except Exception:  # noqa: BLE001 - not cached on failure: the page's own load retries and says what to do
        pass


def sidebar() -> None:
    """The sidebar every page shares: where the models run and where they are read from."""
    with st.sidebar:
        st.caption(f"**Computing on:** {describe(pick_device())}")
        if PRETRAINED.resolve() != (ROOT / "pretrained").resolve():  # only worth a line when not the shipped ones
            st.caption(f"**Models from:** `{PRETRAINED}`")


def run_through_app() -> None:
    """Reruns through app.py when Streamlit ran this page on its own.

    A `pages/` folder next to app.py puts a fresh Streamlit process in its legacy multipage mode until
    some run calls `st.navigation`. If the first visitor after a server start opens a page's URL
    directly, Streamlit runs that page file alone: no page config, no shared sidebar, and a navigation
    listing "app". Leaving legacy mode and rerunning sends this and every later run through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager  # internal, pinned by requirements.txt

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
