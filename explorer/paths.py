"""Where things live: shipped checkpoints, and the on-disk cache of derived data."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = Path(os.environ.get("EXPLORER_PRETRAINED", ROOT / "pretrained"))
ASSETS = ROOT / "assets"


def cache_dir() -> Path:
    """The derived-data cache (rebuildable from a seed, never committed)."""
    path = Path(os.environ.get("EXPLORER_CACHE", ROOT / ".cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path
