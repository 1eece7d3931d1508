"""Small helpers shared by the benchmark scripts: timing statistics and result files."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def stats(samples: list[float]) -> dict[str, float]:
    """Median, p95, min and count of a list of timings (seconds)."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"median": statistics.median(ordered), "p95": p95, "min": ordered[0], "n": len(ordered)}


def write(name: str, payload: dict) -> Path:
    """Writes bench/results/<name>.json with the machine described."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": {"cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
                           "torch": torch.__version__, "cuda": torch.cuda.is_available()},
               "date": time.strftime("%Y-%m-%d %H:%M"), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
