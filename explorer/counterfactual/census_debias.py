"""De-biased tables from the census world itself: the reference a learned model's export is compared with.

How a de-biased table is made (the pendulum export's recipe, explorer/counterfactual/debias.py, with the
world's TRUE mechanisms in place of a model, and the cut convention of explorer/scm/table_scm.py):
  1. sample n rows of the census world with their noise (seeded);
  2. give every cut arrow's parent new values drawn independently of everything else: its values shuffled
     across the rows (one permutation, drawn from its own stream of the seed), which keeps its distribution;
  3. run the world's mechanisms again on the same noise under do(parent = shuffled) in the graph without the
     cut arrows: a cut child reads its parent's FACTUAL value, so it no longer follows it; the parent's other
     descendants do, so paths around the cut remain (sex -> marital_status -> occupation when sex -> occupation
     alone is cut), and the two ends of a cut arrow may stay dependent.
The card says what was cut, how, and the dependence (bias-corrected Cramer's V, explorer/metrics/tables.py) of
every pair of columns before (the factual sample) and after (the exported rows). Same (cuts, n, seed, world)
-> the same bytes: no time stamps in the card, fixed float formatting in the CSV.
"""

from __future__ import annotations

import json
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from explorer.data.tables import to_frame
from explorer.metrics.tables import bin_edges, dependence_matrix
from explorer.scm.census import GRAPH_SOURCE, load_census_world
from explorer.scm.graph import Dag
from explorer.scm.table_scm import TableSCM

MAX_N = 1_000_000
_SHUFFLE_STREAM = 0x5EED  # the permutation's stream, apart from every column's noise stream
METHOD = ("census world (pretrained/census_world, explorer/scm/census.py): n rows sampled with their noise; every "
          "cut arrow's parent given its own values shuffled across the rows by do(); the world's TRUE mechanisms "
          "run again on the same noise in the graph without the cut arrows, where a cut child reads its "
          "parent's factual value (explorer/scm/table_scm.py)")
MEASURE = ("bias-corrected Cramer's V (Bergsma 2013), continuous columns binned at the factual sample's deciles "
           "(explorer/metrics/tables.py); 0 = independent, 1 = one column fixes the other")


def _paths(graph: Dag, start: str, end: str) -> list[list[str]]:
    """Every directed path start -> ... -> end in `graph`, shortest first."""
    out, stack = [], [[start]]
    while stack:
        path = stack.pop()
        for child in graph.children(path[-1]):
            if child == end:
                out.append(path + [child])
            else:
                stack.append(path + [child])
    return sorted(out, key=lambda p: (len(p), p))


def remaining_paths(graph: Dag, cuts: Iterable[tuple[str, str]], shown: int = 3) -> list[dict]:
    """Per cut arrow, the directed paths between its ends that the cut graph keeps, with a note in words."""
    out = []
    for parent, child in cuts:
        paths = _paths(graph, parent, child)
        if paths:
            eg = "; ".join(" -> ".join(p) for p in paths[:shown])
            note = (f"cutting {parent} -> {child} leaves {len(paths)} other directed path(s) from {parent} to "
                    f"{child}, e.g. {eg}: {child} still follows {parent} through them, so the two may stay "
                    "dependent; cut those arrows too to make them independent")
        else:
            note = f"no directed path from {parent} to {child} remains"
        out.append({"cut": f"{parent}:{child}", "paths": len(paths),
                    "shortest": [" -> ".join(p) for p in paths[:shown]], "note": note})
    return out


def export_world(cuts: Iterable[str | tuple[str, str]], n: int, seed: int, world: TableSCM | None = None,
                 progress: Callable[[float], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """The census world's de-biased table (module docstring) and its card.

    Args:
        cuts: (parent, child) pairs or "parent:child" strings, each an arrow of the world's graph.
        n: rows, 1..MAX_N.
        seed: the sample's and the shuffle's seed.
        world: the census world (default: the shipped one, pretrained/census_world).
        progress: called with the share done after each stage (the Table lab's progress bar); the rows and the
            card do not depend on it.

    Raises:
        ValueError: a size out of range, an unknown column, or a cut that names no arrow (the message lists
            the arrows out of that parent).
        CheckpointError: the shipped world is missing or damaged (the message names the rebuild).
    """
    if not 1 <= n <= MAX_N:
        raise ValueError(f"the size must be between 1 and {MAX_N:,} rows; got {n:,}")
    if world is None:
        world, _ = load_census_world()
    graph = world.cut(cuts)  # parses and checks every arrow before anything is sampled
    pairs = sorted(world.graph.edges - graph.edges)  # (parent, child) of each arrow cut
    tell = progress or (lambda done: None)
    noise, factual = world.sample(n, seed)
    tell(0.25)
    perm = np.random.default_rng([seed, _SHUFFLE_STREAM]).permutation(n)
    do = {p: factual[p][perm] for p in dict.fromkeys(p for p, _ in pairs)}  # each cut parent, shuffled once
    after = world.counterfactual(noise, do, graph)
    tell(0.5)
    specs = world.columns
    edges = bin_edges(factual, specs)
    before_dep, after_dep = dependence_matrix(factual, specs, edges), dependence_matrix(after, specs, edges)
    tell(0.9)
    names = list(specs)
    frame = to_frame(after, specs)
    for c, s in specs.items():
        if not s.discrete:
            frame[c] = frame[c].round(0 if s.integer else 4)
    card = {
        "kind": "de-biased table from the census world's TRUE mechanisms",
        "world": "census", "graph_source": GRAPH_SOURCE,
        "cuts": [f"{p}:{c}" for p, c in pairs], "n": n, "seed": seed, "method": METHOD,
        "dependence_measure": MEASURE,
        "dependence": {"columns": names, "before": before_dep.round(4).tolist(), "after": after_dep.round(4).tolist()},
        "pairs": {f"{names[i]}:{names[j]}": {"before": round(float(before_dep[i, j]), 4),
                                             "after": round(float(after_dep[i, j]), 4)}
                  for i in range(len(names)) for j in range(i + 1, len(names))},
        "remaining_paths": remaining_paths(graph, pairs),
        "columns": {c: (list(s.categories) if s.discrete else f"continuous, {'whole numbers' if s.integer else ''}"
                        .rstrip(", ")) for c, s in specs.items()},
    }
    tell(1.0)
    return frame, card


def to_csv(frame: pd.DataFrame) -> str:
    """The table's CSV text: the same rows give the same characters (integers without '.0', else 4 decimals)."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype.kind == "f":
            whole = bool(np.all(out[c].to_numpy() == np.round(out[c].to_numpy())))
            out[c] = out[c].astype(np.int64) if whole else out[c].map(lambda v: f"{v:.4f}")
    return out.to_csv(index=False, lineterminator="\n")


def card_text(card: dict) -> str:
    return json.dumps(card, indent=2, ensure_ascii=False) + "\n"
