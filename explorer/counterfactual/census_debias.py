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

The learned model's export (`export_learned`, `--model learned-world | learned-adult`) follows the same recipe
with the tabular causal-layer VAE (explorer/models/table_vae.py) in place of the world: its rows are world rows
(the same sample and the same shuffle as `export_world` of the same n and seed, so the two can be compared row
for row) or real Adult training rows; the cut parent is shuffled by do(), and `counterfactual_rows(obs, do,
graph=cut graph)` recomputes the descendants from the ABDUCTED concepts, a cut child reading its parent's
factual concept; a row whose shuffled values equal its own is kept as it is (composition, as in the world). A cut must be an arrow of the model's LEARNED graph (not the world's).
"""

from __future__ import annotations

import json
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch

from explorer.data.tables import read_adult, to_frame
from explorer.metrics.tables import bin_edges, dependence_matrix
from explorer.models.table_vae import TableVAEModel, load_table_vae
from explorer.paths import PRETRAINED
from explorer.scm.census import GRAPH_SOURCE, census_rows, load_census_world
from explorer.scm.graph import Dag
from explorer.scm.table_scm import TableSCM

MAX_N = 1_000_000
_SHUFFLE_STREAM = 0x5EED  # the permutation's stream, apart from every column's noise stream
METHOD = ("census world (pretrained/census_world, explorer/scm/census.py): n rows sampled with their noise; every "
          "cut arrow's parent given its own values shuffled across the rows by do(); the world's TRUE mechanisms "
          "run again on the same noise in the graph without the cut arrows, where a cut child reads its "
          "parent's factual value (explorer/scm/table_scm.py)")
MODELS = ("world", "learned-world", "learned-adult")  # `export census --model`
LEARNED = {"learned-world": "census-vae-world", "learned-adult": "census-vae-adult"}  # pretrained/ folders
_ROWS_STREAM = 0xADD7  # which real Adult rows a learned-adult export draws
MODEL_DRAWS = 1  # posterior draws per exported row: one draw is a SAMPLE of the counterfactual (see export_learned)
CHUNK = 8192  # rows per model call: bounds memory; each chunk has its own stream of the seed, so bytes are fixed
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
    frame, measured = _measured(factual, after, specs)
    tell(0.9)
    card = {
        "kind": "de-biased table from the census world's TRUE mechanisms",
        "world": "census", "graph_source": GRAPH_SOURCE,
        "cuts": [f"{p}:{c}" for p, c in pairs], "n": n, "seed": seed, "method": METHOD,
        "dependence_measure": MEASURE, **measured,
        "remaining_paths": remaining_paths(graph, pairs), "columns": _columns(specs),
    }
    tell(1.0)
    return frame, card


def _measured(factual: dict, after: dict, specs: dict) -> tuple[pd.DataFrame, dict]:
    """The exported rows as a frame (numbers rounded) and the card's dependence before/after, matrix and pairs."""
    edges = bin_edges(factual, specs)
    before_dep, after_dep = dependence_matrix(factual, specs, edges), dependence_matrix(after, specs, edges)
    names = list(specs)
    frame = to_frame(after, specs)
    for c, s in specs.items():
        if not s.discrete:
            frame[c] = frame[c].round(0 if s.integer else 4)
    return frame, {
        "dependence": {"columns": names, "before": before_dep.round(4).tolist(), "after": after_dep.round(4).tolist()},
        "pairs": {f"{names[i]}:{names[j]}": {"before": round(float(before_dep[i, j]), 4),
                                             "after": round(float(after_dep[i, j]), 4)}
                  for i in range(len(names)) for j in range(i + 1, len(names))}}


def _columns(specs: dict) -> dict:
    return {c: (list(s.categories) if s.discrete else f"continuous, {'whole numbers' if s.integer else ''}"
                .rstrip(", ")) for c, s in specs.items()}


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


def learned_cut(model: TableVAEModel, cuts: Iterable[str | tuple[str, str]]) -> Dag:
    """The model's learned graph without `cuts`; a cut that is no arrow of THAT graph is a ValueError naming the
    arrows out of its parent there (the learned graph differs from the world's)."""
    graph, cut = model.graph, set()
    for arrow in cuts:
        pair = tuple(p.strip() for p in arrow.split(":")) if isinstance(arrow, str) else tuple(arrow)
        if len(pair) != 2 or not all(pair):
            raise ValueError(f"{arrow!r} is not PARENT:CHILD; an arrow is written parent:child, e.g. sex:occupation")
        for name in pair:
            if name not in model.columns:
                raise ValueError(f"unknown column {name!r}; the columns are {', '.join(model.columns)}")
        if pair not in graph.edges:
            out = ", ".join(f"{pair[0]}:{c}" for c in sorted(graph.children(pair[0]))) or "none"
            raise ValueError(f"{pair[0]} -> {pair[1]} is not an arrow of the learned graph of {model.name}, so it "
                             f"cannot be cut; the arrows out of {pair[0]} there are: {out}")
        cut.add(pair)
    return Dag(graph.nodes, graph.edges - cut)


def model_rows(name: str, n: int, seed: int, world: TableSCM | None = None) -> tuple[dict, str]:
    """The factual rows a learned export starts from, and their description: world rows (the same sample as
    `export_world`) for learned-world; for learned-adult, n of the complete real Adult training rows drawn with the
    seed (without replacement up to their number, with replacement beyond it)."""
    if name == "learned-world":
        world = world or load_census_world()[0]
        return world.sample(n, seed)[1], f"{n} census-world rows sampled with seed {seed} (as the world's export)"
    rows = census_rows(read_adult(), "train")
    total = len(rows["sex"])
    pick = np.random.default_rng([seed, _ROWS_STREAM]).choice(total, n, replace=n > total)
    how = "with" if n > total else "without"
    return ({c: v[pick] for c, v in rows.items()},
            f"{n} of the {total} complete real Adult training rows, drawn {how} replacement with seed {seed}")


def export_learned(model_name: str, cuts: Iterable[str | tuple[str, str]], n: int, seed: int,
                   world: TableSCM | None = None, model: TableVAEModel | None = None, draws: int = MODEL_DRAWS,
                   progress: Callable[[float], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """The learned model's de-biased table (module docstring) and its card.

    One posterior draw per row (`draws` 1) makes each exported row a SAMPLE of the model's counterfactual, as the
    world's export is one sample of its TRUE counterfactual; the best guess over many draws (the Table lab's
    counterfactual row) would pile rows onto each column's most likely category and change the dependences.

    Args:
        model_name: "learned-world" (pretrained/census-vae-world, on world rows) or "learned-adult"
            (pretrained/census-vae-adult, on real Adult training rows).
        cuts, n, seed, world, progress: as `export_world`; every cut an arrow of the model's learned graph.
        model: the loaded model (default: the shipped one named by `model_name`).

    Raises:
        ValueError: an unknown model name, a size out of range, an unknown column, or a cut that names no arrow
            of the learned graph. CheckpointError: the model is missing or damaged (the message names the rebuild).
    """
    if model_name not in LEARNED:
        raise ValueError(f"unknown model {model_name!r}; choose one of {', '.join(MODELS)}")
    if not 1 <= n <= MAX_N:
        raise ValueError(f"the size must be between 1 and {MAX_N:,} rows; got {n:,}")
    model = model or load_table_vae(PRETRAINED / LEARNED[model_name], "cpu")
    graph = learned_cut(model, cuts)  # every arrow checked before anything is computed
    pairs = sorted(model.graph.edges - graph.edges)
    tell = progress or (lambda done: None)
    factual, rows_text = model_rows(model_name, n, seed, world)
    tell(0.1)
    perm = np.random.default_rng([seed, _SHUFFLE_STREAM]).permutation(n)
    do = {p: factual[p][perm] for p in dict.fromkeys(p for p, _ in pairs)}  # as export_world: the same shuffle
    # composition: a row whose cut parents draw their own values back is the factual row (as in the world, where
    # the same noise gives the same row); the model's do() would move it (a category's concept is set to the
    # category's centre, not the row's own score), so only rows whose values change go through the model
    moved = np.any([do[p] != factual[p] for p in do], axis=0)  # (n,)
    after = {c: v.copy() for c, v in factual.items()}
    if moved.any():
        rows = {c: v[moved] for c, v in factual.items()}
        cf = _counterfactual_chunks(model, rows, {p: v[moved] for p, v in do.items()}, graph, seed, draws,
                                    lambda d: tell(0.1 + 0.7 * d))
        for c in after:
            after[c][moved] = cf[c]
    frame, measured = _measured(factual, after, model.columns)
    tell(0.9)
    card = {
        "kind": f"de-biased table from the learned tabular causal-layer VAE ({model.name})",
        "model": model.name, "model_data": model.card.get("data"), "rows": rows_text,
        "cuts": [f"{p}:{c}" for p, c in pairs], "n": n, "seed": seed, "draws": draws,
        "method": (f"{model.name} (explorer/models/table_vae.py): every cut arrow's parent given its own values "
                   "shuffled across the rows by do() (the world export's shuffle); counterfactual_rows(obs, do, "
                   "graph = the learned graph without the cut arrows): concepts abducted from each row, descendants "
                   "recomputed on the same noise, a cut child reading its parent's factual concept; rows whose "
                   "shuffled values equal their own kept as they are (composition, as in the world's export); "
                   f"{draws} posterior draw(s) per row, {CHUNK} rows per call, each chunk its own stream of the seed"),
        "learned_graph_edges": sorted(f"{p}:{c}" for p, c in model.graph.edges),
        "dependence_measure": MEASURE, **measured,
        "remaining_paths": remaining_paths(graph, pairs), "columns": _columns(model.columns),
    }
    tell(1.0)
    return frame, card


def _counterfactual_chunks(model: TableVAEModel, factual: dict, do: dict, graph: Dag, seed: int, draws: int,
                           tell: Callable[[float], None]) -> dict[str, np.ndarray]:
    """counterfactual_rows over CHUNK rows at a time on one thread (same seed, same rows, same bytes)."""
    n = len(next(iter(factual.values())))
    seeds = np.random.SeedSequence([seed, _SHUFFLE_STREAM]).generate_state(max(1, -(-n // CHUNK)), np.uint32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: a second intra-op thread only spins on this shared machine
    parts = []
    try:
        for i, start in enumerate(range(0, n, CHUNK)):
            rows = slice(start, start + CHUNK)
            chunk = TableVAEModel(model.model, model.columns, model.name, model.card, model.device, draws=draws,
                                  seed=int(seeds[i]))
            parts.append(chunk.counterfactual_rows({c: v[rows] for c, v in factual.items()},
                                                   {c: v[rows] for c, v in do.items()}, graph=graph))
            tell(min(1.0, (start + CHUNK) / n))
    finally:
        torch.set_num_threads(threads)
    return {c: np.concatenate([p[c] for p in parts]) for c in model.columns}
