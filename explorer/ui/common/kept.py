"""An identity cache for what a page derives from the service's objects (a sweep's encoding, its packed text).

No Streamlit here: the quick sliders (explorer/ui/quick_sliders.py) and the pages' encoders use it from the reruns
of many sessions at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable


class Kept:
    """What `make(obj)` gives, made once per object and kept by its identity (and `key`): the service and the pages'
    encoders return the same object for the same sweep. The entry holds the object, so its id cannot be reused while
    kept; beyond `size` the least recently used goes."""

    def __init__(self, size: int = 32) -> None:  # as the service keeps sweeps and the pages' encoders keep theirs
        self._items: OrderedDict[tuple, tuple[object, object]] = OrderedDict()
        self._size, self._lock = size, threading.Lock()  # reruns of many sessions run on their own threads

    def __call__(self, obj: object, make: Callable, *key: object):
        made = self.get(obj, *key)
        if made is None:
            made = make(obj)
            self.put(obj, made, *key)
        return made

    def get(self, obj: object, *key: object):
        """What is kept for `obj` (and `key`), or None (for a caller that makes several missing ones at once)."""
        at = (id(obj), *key)
        with self._lock:
            hit = self._items.get(at)
            if hit is None or hit[0] is not obj:
                return None
            self._items.move_to_end(at)
            return hit[1]

    def put(self, obj: object, made: object, *key: object) -> None:
        with self._lock:
            self._items[(id(obj), *key)] = (obj, made)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
