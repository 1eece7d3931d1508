"""The cached what-if service, and the one place that turns loading failures into page messages."""

from __future__ import annotations

import os
import re
import threading

import streamlit as st
import torch

from explorer.checkpoints import CheckpointError
from explorer.data.mnist import MnistSourceError
from explorer.device import describe, pick_device
from explorer.paths import PRETRAINED, ROOT
from explorer.services.image import REBUILD, ImageService

_COMMAND = re.compile(r"Rebuild (?:it|them) with: (.+?)\s*$")

# One CPU thread per model call in the server process (set at import, so the sidebar reports it too):
# a what-if is a batch of 2 small images, too little work to split across cores, and split work waits
# for the slowest core. Measured on the 2-core dev box: idle, 17 ms per what_if() with 1 thread and
# 16 ms with 2; while a training job ran, 18 ms with 1 thread and 711 ms with 2. Concurrent sessions
# then get a core each instead of fighting over both.
torch.set_num_threads(1)


@st.cache_resource(show_spinner="Loading the models and 10,000 test digits (once per server, ~10 s)…")
def shared_service() -> ImageService:
    # One instance per server process, shared read-only by every session: what_if() is pure in its
    # arguments, so sharing is safe and saves each visitor the load. Exceptions are not cached by
    # Streamlit, so after a fix a page reload retries.
    return ImageService(pick_device())


def load_service(stop: bool = True) -> ImageService | None:
    """The shared service; on failure shows what went wrong and the command that fixes it.

    Args:
        stop: end the page after the message (pages that need the models); False returns None so a
            page can still show what does not depend on them.
    """
    try:
        return shared_service()
    except CheckpointError as err:
        match = _COMMAND.search(str(err))
        command = match.group(1) if match else REBUILD
        st.error(f"**The trained models could not be loaded.**\n\n{err}\n\n"
                 f"Run this in the project folder, then reload the page:\n\n```\n{command}\n```")
    except MnistSourceError as err:
        st.error(f"**The handwritten digits (MNIST test set) could not be read.**\n\n{err}\n\n"
                 "Reinstall the project's dependencies, then reload the page:\n\n```\nmake install\n```")
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        # Anything else raised while loading (e.g. the third-party classifier's package) is still a
        # set-up problem, not something the visitor can fix on the page: name it instead of a traceback.
        st.error(f"**The models could not be loaded** ({type(err).__name__}: {err}).\n\n"
                 "Reinstall the dependencies and rebuild the models, then reload the page:\n\n"
                 f"```\nmake install\n{REBUILD}\n```")
    if stop:
        st.stop()
    return None


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
    from explorer.ui.text_whatif import DEFAULT_CONCEPT, shared_text_whatif

    service = shared_text_whatif()  # the pages' own instance: its lock makes a page that asks first wait, once
    thread = threading.Thread(target=_load_quietly, args=(service, DEFAULT_CONCEPT), name="prewarm", daemon=True)
    thread.start()
    return thread


def _load_quietly(service, concept: str) -> None:
    try:
        service.pair(concept)
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
