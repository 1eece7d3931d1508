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


def print_table(title: str, rows: dict[str, dict[str, float]], contended: bool, busy: float,
                unit: str = "ms") -> None:
    """Prints `rows` (name -> stats() of seconds) as median / p95 / min in ms or s, under a title that flags
    a competing training job or a busy CPU (either makes every number slower)."""
    scale, digits = (1000, 1) if unit == "ms" else (1, 2)
    print(f"\n{title} ({unit})" + ("  [a training job was running: contended numbers]" if contended else "")
          + (f"  [CPU {busy:.0%} busy before the run: other load]" if busy > 0.2 else ""))
    width = max(len(name) for name in rows) + 2
    print(f"{'':{width}} {'median':>8} {'p95':>8} {'min':>8}")
    for name, s in rows.items():
        print(f"{name:{width}} " + " ".join(f"{s[k] * scale:8.{digits}f}" for k in ("median", "p95", "min")))


def write(name: str, payload: dict) -> Path:
    """Writes bench/results/<name>.json with the machine described."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": {"cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
                           "torch": torch.__version__, "cuda": torch.cuda.is_available()},
               "date": time.strftime("%Y-%m-%d %H:%M"), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
