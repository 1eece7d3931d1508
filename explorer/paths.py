"""Where things live: shipped checkpoints, and the on-disk cache of derived data."""

from __future__ import annotations

import os
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = Path(os.environ.get("EXPLORER_PRETRAINED", ROOT / "pretrained"))
ASSETS = ROOT / "assets"


def cache_dir() -> Path:
    """The derived-data cache (rebuildable from a seed, never committed)."""
    path = Path(os.environ.get("EXPLORER_CACHE", ROOT / ".cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch_beside(path: Path) -> Path:
    """A temporary name next to `path` for writing it whole before renaming it over `path`. Unique to this
    process and thread, so two servers (or two test workers) filling the same cache entry at once never write into
    one file; it ends like `path` (`np.savez` appends ".npz" to a name that does not)."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.tmp{path.suffix}")
