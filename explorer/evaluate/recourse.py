"""Causal recourse against the non-causal baseline, on rejected rows of the census world, for a shipped Adult model.

`evaluate_recourse(n, model_name, seed)` samples census-world rows WITH their noise, keeps the first `n` the model
rejects (probability below the threshold), and searches both recourses for each (`explorer/counterfactual/search/
recourse_causal.py`, `recourse_baseline.py`); the searches see only the rows' values. Because the world's noise is
known, every answer is also checked on the TRUE counterfactual: its do() run through the world's mechanisms on the
row's sampled noise, and the model asked again. Model inputs the world lacks are filled as in the counterfactual
fairness world check (docs/audit-table.md): capital gain = capital loss = 0 (their most common value), and
education_num follows education as it does in Adult's test rows.

Reported per method: success rate, median / p95 cost of the answers found, median / p95 seconds per query (all
queries, the graph check of the baseline included), and the share of answers found whose flip holds on the TRUE
counterfactual; for the baseline also the share of its answers inconsistent with the graph (its own do() propagated
causally reverts the flip, or moves descendants it kept) and both parts separately.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from explorer.counterfactual.search.recourse import Recourse, RecourseConfig, RecourseQuery, TablePredictor
from explorer.counterfactual.search.recourse_baseline import NonCausalRecourse
from explorer.counterfactual.search.recourse_causal import CausalRecourse
from explorer.counterfactual.search.recourse_search import column_scales
from explorer.data.tables import read_adult
from explorer.metrics.cf_fairness import derived_columns, scm_columns
from explorer.paths import ROOT
from explorer.registry import TABLE_MODELS, load_table_classifier
from explorer.scm.census import load_census_world
from explorer.scm.table_scm import TableSCM

FILL = {"capital_gain": 0.0, "capital_loss": 0.0}  # model inputs the census world does not model
RESULTS = ROOT / "bench" / "results" / "evaluate_recourse.json"
EXAMPLES = 3  # answers kept per model for the docs


def adult_derived(world: TableSCM) -> dict:
    """education_num as a function of education, read off Adult's complete test rows (as the --cf audit does)."""
    test = read_adult().rows("test", complete=True).reset_index(drop=True)
    return derived_columns(test, scm_columns(world, test.columns), world)


def rejected_rows(world: TableSCM, predictor: TablePredictor, n: int, seed: int, threshold: float
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """(noise, values) of the first `n` world rows the model rejects, (n,) each; and how many rows were sampled."""
    size = max(4 * n, 1000)  # about a quarter of world rows are accepted, so 4n rows give n rejections with room
    while True:
        noise, values = world.sample(size, seed)
        p = predictor.predict_proba(values, FILL)  # (size,)
        idx = np.flatnonzero(p < threshold)[:n]
        if len(idx) == n:
            return {c: v[idx] for c, v in noise.items()}, {c: v[idx] for c, v in values.items()}, size
        size *= 2


def true_flips(world: TableSCM, predictor: TablePredictor, noise: dict[str, np.ndarray], answers: list[Recourse],
               threshold: float) -> list[bool | None]:
    """Per answer: does its do(), run on the row's TRUE noise, give the positive decision? None where none found."""
    out: list[bool | None] = []
    for i, a in enumerate(answers):
        if not a.found or not a.do:
            out.append(None)
            continue
        values = world.counterfactual({c: v[i:i + 1] for c, v in noise.items()}, a.do)  # (1,) each
        out.append(bool(predictor.predict_proba(values, FILL)[0] >= threshold))
    return out


def mean(flags: list) -> float:
    """The share of true flags (or the mean), NaN for an empty list: no answer, no rate."""
    return float(np.mean(flags)) if flags else float("nan")


def summary(answers: list[Recourse], truth: list[bool | None], min_share: float, graph_check: bool) -> dict[str, float]:
    """Success, cost and time over the queries; the TRUE-counterfactual check (and the graph check) over successes."""
    found = [a for a in answers if a.found]
    cost = np.asarray([a.cost for a in found]) if found else np.full(1, np.nan)
    secs = np.asarray([a.seconds for a in answers])
    out = {"queries": len(answers), "found": len(found), "success_rate": len(found) / len(answers),
           "cost_median": float(np.median(cost)), "cost_p95": float(np.percentile(cost, 95)),
           "seconds_median": float(np.median(secs)), "seconds_p95": float(np.percentile(secs, 95)),
           "seconds_total": float(secs.sum()),
           "columns_changed_mean": mean([len(a.do) for a in found]),
           "with_downstream_changes": mean([any(c["kind"] == "downstream" for c in a.changes) for a in found]),
           "true_flip_share": mean([t for t in truth if t is not None]),
           # how far from the threshold the rows with and without an answer start
           "p_before_median_found": float(np.median([a.p_before for a in found])) if found else float("nan"),
           "p_before_median_not_found": float(np.median([a.p_before for a in answers if not a.found]))
           if len(found) < len(answers) else float("nan")}
    if graph_check:  # the baseline's answers against the graph
        out |= {"inconsistent_share": mean([bool(a.inconsistent) for a in found]),
                "reverted_share": mean([a.causal_share < min_share for a in found]),
                "moved_descendants_share": mean([bool(a.moved) for a in found])}
    return out


def example(a: Recourse) -> dict:
    """What the docs show of one answer."""
    return {"cost": round(a.cost, 3), "p_before": round(a.p_before, 3), "p_after": round(a.p_after, 3),
            "flip_share": a.flip_share, "changes": a.changes}


def evaluate_recourse(n: int = 200, model_name: str = "adult-logreg", seed: int = 0,
                      config: RecourseConfig | None = None) -> dict:
    """Both recourses on `n` rejected census-world rows (sample seed `seed`) for one shipped model (see the module)."""
    config = config or RecourseConfig()
    world, _ = load_census_world()
    model, _ = load_table_classifier(model_name)
    predictor = TablePredictor(model_name, model.predict_proba, world, adult_derived(world))
    noise, values, sampled = rejected_rows(world, predictor, n, seed, config.threshold)
    query = RecourseQuery(values, {c: np.full(n, v) for c, v in FILL.items()})
    scales = column_scales(world)
    out = {"model": model_name, "n": n, "seed": seed, "world_rows_sampled": sampled,
           "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
           "scales": {c: round(s, 3) for c, s in scales.items() if not world.columns[c].discrete}}
    answers = {}
    for method in (CausalRecourse(world, scales), NonCausalRecourse(world, scales)):
        answers[method.name] = method.search(query, predictor, 1, config)
        truth = true_flips(world, predictor, noise, answers[method.name], config.threshold)
        out[method.name] = summary(answers[method.name], truth, config.min_share, method.name == "non_causal")
    pairs = zip(answers["causal"], answers["non_causal"], strict=True)
    both = [i for i, (c, b) in enumerate(pairs) if c.found and b.found]  # rows both answered, for side-by-side examples
    out["examples"] = [{"query": i, **{m: example(a[i]) for m, a in answers.items()}} for i in both[:EXAMPLES]]
    return out


def evaluate_all(n: int = 200, seed: int = 0, models: tuple[str, ...] = TABLE_MODELS,
                 path: Path | None = RESULTS) -> dict:
    """`evaluate_recourse` for every shipped table model; written whole to `path` (None: not written)."""
    result = {"models": {m: evaluate_recourse(n, m, seed) for m in models}}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def to_markdown(result: dict) -> str:
    """The docs' table: one line per model and method."""
    head = ("| model | method | success | cost median | cost p95 | s/query median | s/query p95 | flip holds on "
            "TRUE cf | inconsistent with the graph (reverted / moved descendants) |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for name, r in result["models"].items():
        for method in ("causal", "non_causal"):
            s = r[method]
            graph = (f"{s['inconsistent_share']:.1%} ({s['reverted_share']:.1%} / {s['moved_descendants_share']:.1%})"
                     if "inconsistent_share" in s else "—")
            success = f"{s['success_rate']:.1%} ({s['found']}/{s['queries']})"
            lines.append(f"| `{name}` | {method.replace('_', '-')} | {success} "
                         f"| {s['cost_median']:.2f} | {s['cost_p95']:.2f} | {s['seconds_median']:.3f} "
                         f"| {s['seconds_p95']:.3f} | {s['true_flip_share']:.1%} | {graph} |")
    return "\n".join(lines)


def examples_markdown(result: dict) -> str:
    """The first answers of both methods for the same rejected rows, one bullet per row and method."""
    lines = []
    for name, r in result["models"].items():
        for ex in r["examples"]:
            for method in ("causal", "non_causal"):
                a = ex[method]
                moves = "; ".join(f"{c['column']} {c['old']} → {c['new']}" + (" (followed)" if c["kind"] == "downstream"
                                                                              else "") for c in a["changes"])
                lines.append(f"- `{name}`, row {ex['query']}, {method.replace('_', '-')}: {moves} — cost "
                             f"{a['cost']:.2f}, p {a['p_before']:.2f} → {a['p_after']:.2f}")
    return "\n".join(lines)
