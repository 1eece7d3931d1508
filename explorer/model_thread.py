"""One long-lived thread for the interactive model calls (a slider move on the image or lab page).

Why: PyTorch's CPU convolutions (oneDNN) pay a set-up cost the first time a thread runs them, and Streamlit
runs every rerun, fragment reruns included, in a new thread. Measured on the 2-core dev box with the
pendulum lab's what_if(): 10-12 ms on a thread that has run it before, 37-58 ms on each new thread, 10-14 ms on
new threads once oneDNN is switched off. Switching oneDNN off globally would slow the batch paths (export,
training), so instead the interactive calls hop onto one thread that stays warm.

One worker serialises calls from concurrent sessions; with one torch thread per call (explorer/ui/loader.py)
that costs a waiting session one call, about 10-20 ms. The export does not go through it. The text page's
calls do not either: they run no convolutions, and fresh threads measured no slower there.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-model")
_STATE = threading.local()


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
        return _POOL.submit(_call, fn, args, kwargs).result()

    return wrapper
