"""The Markdown tables of docs/search.md, made from the reports themselves: every figure is read, none typed in.

    python bench/search_tables.py bench/results/evaluate_search.json   # evaluate search: one table per mode
    python bench/search_tables.py --audits assets/audits                # audit-classifier: one row per report
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ORDER = ["aip", "pixel", "latent", "random"]  # the method first, then its baselines
MODES = {"any": "target: any other class", "random": "target: a random other class",
         "style_only": "style only: digit and latent locked"}
COLUMNS = [("success", "success", 2), ("oracle_agrees", "oracle agrees", 2), ("attr_distance", "attr distance", 2),
           ("pixel_l1", "pixel L1", 1), ("n_changed", "changed", 1), ("plausibility", "plausibility", 1)]
SPEED = [("queries_per_s", "queries/s batched", 1)]


def _cell(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def tables(report: dict) -> str:
    """One Markdown table per mode: a row per method and classifier, in the report's order."""
    rows = sorted({tuple(k.split(".")[:2]) for k in report if k.count(".") == 3},
                  key=lambda r: (ORDER.index(r[0]) if r[0] in ORDER else len(ORDER), r))
    out = [f"{report.get('n', '?'):.0f} test digits, seed {report.get('seed', 0):.0f}; "
           f"the run took {report.get('seconds', float('nan')) / 60:.0f} min."]
    for mode, title in MODES.items():
        cols = COLUMNS + ([("holds_on_true", "holds on TRUE", 2)] if mode == "style_only" else [])
        head = ["method", "classifier"] + [c[1] for c in cols] + ["ms/query median (p95)"] + [c[1] for c in SPEED]
        out += ["", f"**{title}** (`{mode}`)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method, clf in rows:
            key = f"{method}.{clf}.{mode}."
            if key + "success" not in report:
                continue
            cells = [method, clf] + [_cell(report.get(key + c), d) for c, _, d in cols]
            cells.append(f"{_cell(report.get(key + 'ms_per_query_median'), 0)} "
                         f"({_cell(report.get(key + 'ms_per_query_p95'), 0)})")
            cells += [_cell(report.get(key + c), d) for c, _, d in SPEED]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


SETS = ("hue", "thickness", "intensity", "style", "style_latent")


def audit_table(folder: Path) -> str:
    """One row per audit report in `folder`: the share of digits each attribute set flips with the digit kept."""
    head = ["classifier", "world", "digits", "method"] + [s.replace("_", " + ") for s in SETS] + ["most often"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for path in sorted(folder.glob("*.json")):
        r = json.loads(path.read_text())
        cells = [r["classifier"], r["world"], f"{r['n']:.0f}", r["method"]]
        cells += [_cell(r.get(f"by_attributes.{s}.success"), 2) for s in SETS]
        out.append("| " + " | ".join(cells + [str(r.get("most_flipping") or "—")]) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--audits"]:
        print(audit_table(Path(sys.argv[2] if len(sys.argv) > 2 else "assets/audits")))
    else:
        with open(sys.argv[1] if len(sys.argv) > 1 else "bench/results/evaluate_search.json") as f:
            print(tables(json.load(f)))
