"""Causal recourse in the table audit (`audit-table --recourse N`, the page's "Find recourse").

The searches are the census world's (`explorer/counterfactual/search/recourse_causal.py` and its non-causal baseline,
docs/audit-table.md "Causal recourse"); with `--causal-model learned` the causal search (and the baseline's graph
check) propagate through the table lab's learned model instead (`explorer/metrics/recourse_learned.py`), the rows
still matched and encoded by the world's variables, which that model shares. This module only wires them to an
audited table:

- the table's columns are matched to the world's variables by the same normalised names as `--cf`
  (`explorer.metrics.cf_fairness.scm_columns`); a table the world cannot read gets a one-line note, nothing else;
- the model's other inputs are held at the row's values (Adult's capital gain, fnlwgt...), except a column derived
  from a modelled one in the audited rows (education_num of education), which follows it, as in `--cf`;
- the world's rows are handed to the model under the table's own column names, so a model whose inputs are named
  `marital-status` reads them as it reads the table;
- the rows searched are the first N the model rejects (probability below the threshold) whose values the world can
  encode (a category it never saw, or an empty cell, skips the row and the note counts it).

Reported (`report["recourse"]`): per method the success rate, median and p95 cost of the answers found, median and
p95 seconds per query; for the baseline also the share of its answers inconsistent with the graph; and up to
EXAMPLES rows answered by the causal search, both answers side by side, each with a sentence in plain words.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from explorer.counterfactual.search.recourse import Recourse, RecourseConfig, RecourseQuery, TablePredictor
from explorer.counterfactual.search.recourse_baseline import NonCausalRecourse
from explorer.counterfactual.search.recourse_causal import CausalRecourse
from explorer.counterfactual.search.recourse_search import column_scales
from explorer.evaluate.audit_table import add_graph
from explorer.metrics.cf_fairness import derived_columns, scm_columns
from explorer.metrics.cf_fairness_learned import causal_model_name, learned_model, one_torch_thread
from explorer.metrics.recourse_learned import learned_searches
from explorer.models.table_vae import TableVAEModel
from explorer.scm.table_scm import TableSCM

Predict = Callable[[pd.DataFrame], np.ndarray]  # rows -> (n,) probability of the positive class
EXAMPLES = 5  # worked examples kept in the report
METHODS = {"causal": "causal", "noncausal": "non_causal"}  # report key -> the search's own name


@dataclass
class TableRecourse:
    """The two searches wired to one table: its rows as world codes, the model seen from world values."""

    scm: TableSCM
    obs: dict[str, np.ndarray]  # (n,) codes or floats per world variable; -1 / NaN where a row cannot be encoded
    valid: np.ndarray  # (n,) bool: every world variable encoded
    held: dict[str, np.ndarray]  # (n,) per model input the world lacks, kept at the row's value
    predictor: TablePredictor
    causal: CausalRecourse
    noncausal: NonCausalRecourse

    def query(self, rows: Sequence[int]) -> RecourseQuery:
        idx = np.asarray(rows, np.int64)
        return RecourseQuery({c: v[idx] for c, v in self.obs.items()}, {c: v[idx] for c, v in self.held.items()})

    def search(self, rows: Sequence[int], config: RecourseConfig) -> dict[str, list[Recourse]]:
        """Both searches on the table's rows `rows` (ValueError for a config that asks the impossible)."""
        query = self.query(rows)
        return {key: getattr(self, key).search(query, self.predictor, 1, config) for key in METHODS}


def table_recourse(frame: pd.DataFrame, predict: Predict, scm: TableSCM,
                   scales: dict[str, float] | None = None, learned: TableVAEModel | None = None) -> TableRecourse:
    """The searches for `frame`'s rows; ValueError (one line) when the world has a variable no column matches.
    With `learned`, what follows an action follows that VAE's graph and mechanisms (`explorer.metrics.
    recourse_learned`); the columns are still matched and encoded by the world's variables, which the VAE shares."""
    frame = frame.reset_index(drop=True)
    mapping = scm_columns(scm, frame.columns)  # {variable: column}; ValueError naming what is missing
    obs, valid = {}, np.ones(len(frame), bool)
    for var, col in mapping.items():
        spec = scm.columns[var]
        if spec.discrete:
            index = {c: k for k, c in enumerate(spec.categories)}
            codes = frame[col].astype(object).map(lambda v: index.get(str(v), -1)).to_numpy(np.int64)
            valid &= codes >= 0
            obs[var] = np.where(codes >= 0, codes, 0)
        else:
            numbers = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
            valid &= np.isfinite(numbers)
            obs[var] = np.where(np.isfinite(numbers), numbers, 0.0)
    derived = derived_columns(frame, mapping, scm)
    used = set(mapping.values()) | set(derived)
    held = {str(c): frame[c].to_numpy() for c in frame.columns if c not in used}
    rename = {var: col for var, col in mapping.items() if var != col}

    def predict_world(world_rows: pd.DataFrame) -> np.ndarray:
        return predict(world_rows.rename(columns=rename))  # the model reads the table's own column names

    predictor = TablePredictor("model", predict_world, scm, derived)
    scales = scales if scales is not None else column_scales(scm)  # the world's cost units, whichever model
    if learned is not None:
        if dict(learned.columns) != dict(scm.columns):
            raise ValueError(f"the learned model {learned.name} does not have the {scm.name} world's columns and "
                             "categories, which recourse encodes rows by; use --causal-model world")
        return TableRecourse(scm, obs, valid, held, predictor, *learned_searches(learned, scales))
    return TableRecourse(scm, obs, valid, held, predictor, CausalRecourse(scm, scales),
                         NonCausalRecourse(scm, scales))


def causal_models(kind: str) -> tuple[TableSCM, TableVAEModel | None]:
    """The census world (its variables match and encode the table) and, for kind "learned", the shipped learned
    model of Adult the causal search then runs through; CheckpointError when a checkpoint is missing."""
    from explorer.scm.census import load_census_world

    return load_census_world()[0], (learned_model().vae if kind == "learned" else None)


def rejected(rows: pd.DataFrame, valid: np.ndarray, n: int) -> tuple[list[int], int]:
    """The first `n` audited rows the model rejects that the world can encode; and how many rejected rows were
    skipped for a value the world cannot encode before those were found."""
    rejected_rows = np.flatnonzero(rows["prediction"].to_numpy() == 0)
    ok = rejected_rows[valid[rejected_rows]][:n]
    last = ok[-1] if len(ok) else (rejected_rows[-1] if len(rejected_rows) else -1)
    skipped = int((~valid[rejected_rows[rejected_rows <= last]]).sum())
    return [int(i) for i in ok], skipped


def summary(answers: list[Recourse], baseline: bool) -> dict[str, float | int | None]:
    """Success, cost and seconds per query (the keys the JSON report carries); the baseline's graph check."""
    found = [a for a in answers if a.found]
    cost = [a.cost for a in found]
    secs = [a.seconds for a in answers]

    def stat(xs: list[float], q: float) -> float | None:
        return float(np.percentile(xs, q)) if xs else None  # no answer, no cost: null in the JSON, never NaN

    out = {"queries": len(answers), "found": len(found),
           "success_rate": len(found) / len(answers) if answers else None,
           "cost_median": stat(cost, 50), "cost_p95": stat(cost, 95),
           "seconds_median": stat(secs, 50), "seconds_p95": stat(secs, 95),
           "with_downstream_changes": (float(np.mean([any(c["kind"] == "downstream" for c in a.changes)
                                                      for a in found])) if found else None)}
    if baseline:
        out["inconsistent_rate"] = float(np.mean([bool(a.inconsistent) for a in found])) if found else None
    return out


def answer_dict(a: Recourse) -> dict:
    """What the report keeps of one answer (JSON-ready)."""
    out = {"found": a.found, "cost": round(a.cost, 3), "p_before": round(a.p_before, 4),
           "p_after": round(a.p_after, 4), "flip_share": round(a.flip_share, 3), "seconds": round(a.seconds, 4),
           "do": a.do, "changes": a.changes, "note": a.note}
    if a.inconsistent is not None:
        out |= {"inconsistent": a.inconsistent, "moved": a.moved, "causal_share": a.causal_share}
    return out


def add_recourse(report: dict, rows: pd.DataFrame, frame: pd.DataFrame, predict: Predict | None, scm: TableSCM,
                 n: int, config: RecourseConfig | None = None, learned: TableVAEModel | None = None) -> None:
    """`report["recourse"]` for the first `n` rejected rows (module docstring); a `note` alone when it cannot run.
    `learned`: the causal search through that learned model (`--causal-model learned`), on one torch thread."""
    if predict is None:
        report["recourse"] = {"note": "recourse is missing: it asks a model again on changed rows, and a "
                                      "predictions column cannot be asked"}
        return
    try:
        wired = table_recourse(frame, predict, scm, learned=learned)
    except ValueError as err:
        report["recourse"] = {"note": f"recourse is missing: {' '.join(str(err).split())}"}
        return
    config = config or RecourseConfig(threshold=report["data"]["threshold"])
    picked, skipped = rejected(rows, wired.valid, n)
    section: dict = {"rows_asked": n, "rows": len(picked), "rows_skipped": skipped,
                     "causal_model": (f"the {scm.name} world (explorer/scm/census.py)" if learned is None
                                      else causal_model_name(learned)),
                     "actionable": list(config.actionable), "max_changes": config.max_changes,
                     "draws": config.draws, "min_share": config.min_share}
    notes = []
    if skipped:
        notes.append(f"{skipped} rejected row(s) were skipped: a value the {scm.name} world cannot read (an unknown "
                     "category or an empty cell)")
    if len(picked) < n:
        notes.append(f"only {len(picked)} rejected row(s) could be searched, not {n}")
    if picked:
        add_graph(report, scm if learned is None else wired.causal.scm)  # the graph the answers followed
        with nullcontext() if learned is None else one_torch_thread():  # the VAE's small calls: one thread
            answers = wired.search(picked, config)
        for key in METHODS:
            section[key] = summary(answers[key], key == "noncausal")
        both = [(row, c, b) for row, c, b in zip(picked, answers["causal"], answers["noncausal"], strict=True)
                if c.found]
        # the examples that show what the graph adds (a change that followed, a baseline answer the world would not
        # produce) first, then the rest, each in row order
        who = "the world" if learned is None else "the learned model"  # whose propagation judged the baseline
        both.sort(key=lambda t: not (any(ch["kind"] == "downstream" for ch in t[1].changes) or t[2].inconsistent))
        section["examples"] = [{"row": row, "causal": answer_dict(c), "noncausal": answer_dict(b),
                                "sentence": example_sentence(row, c, b, report["data"], who)}
                               for row, c, b in both[:EXAMPLES]]
    if notes:
        section["note"] = "; ".join(notes) + "."
    section["reading"] = recourse_reading(section)
    report["recourse"] = section


# --- words ----------------------------------------------------------------------------------------------------
def moves(changes: list[dict], followed: str = " (followed)") -> str:
    """'education HS-grad → Bachelors; occupation Sales → Exec-managerial (followed)'."""
    return "; ".join(f"{c['column']} {c['old']} → {c['new']}" + (followed if c["kind"] == "downstream" else "")
                     for c in changes)


def answer_sentence(a: Recourse | dict, data: dict, who: str = "the world") -> str:
    """One answer in words: what changes (and what follows), its cost, the probability before and after; `who`
    names the causal model the baseline's answer was propagated through."""
    a = a if isinstance(a, dict) else answer_dict(a)
    if not a["found"]:
        return f"no answer: {a['note']}."
    acts = [c for c in a["changes"] if c["kind"] == "action"]
    after = [c for c in a["changes"] if c["kind"] == "downstream"]
    what = "; ".join(f"{c['column']} from {c['old']} to {c['new']}" for c in acts) or "nothing"
    text = f"change {what}"
    if after:
        text += (", and in the causal model " + "; ".join(f"{c['column']} follows from {c['old']} to {c['new']}"
                                                           for c in after))
    text += (f" (cost {a['cost']:.2f}): the probability of {data['label']} = {data['positive']} goes from "
             f"{a['p_before']:.2f} to {a['p_after']:.2f}")
    if a.get("inconsistent"):
        why = (f"{who} would also move {', '.join(a['moved'])}" if a.get("moved") else
               f"propagated through {who} the flip does not hold")
        text += f"; inconsistent with the graph: {why}"
    return text + "."


def example_sentence(row: int, causal: Recourse, baseline: Recourse, data: dict, who: str = "the world") -> str:
    """Both answers for one rejected row, in words."""
    return (f"Row {row}, rejected at probability {causal.p_before:.2f}. Causal recourse: "
            f"{answer_sentence(causal, data)} Changing the columns alone, every other one kept (as DiCE-style tools "
            f"do): {answer_sentence(baseline, data, who)}")


def recourse_reading(section: dict) -> list[str]:
    """The recourse section's headline numbers in words."""
    out = [section["note"]] if section.get("note") and "causal" not in section else []
    c, b = section.get("causal"), section.get("noncausal")
    if c and c["queries"]:
        cost = "" if c["cost_median"] is None else f" at a median cost of {c['cost_median']:.2f}"
        out.append(f"For {c['found']} of {c['queries']} rejected rows ({c['success_rate']:.0%}) a change of at most "
                   f"{section['max_changes']} actionable columns ({', '.join(section['actionable'])}) turns the "
                   f"decision in the causal model, what follows from it following{cost}; "
                   f"{c['seconds_median']:.2f} s per row (median).")
    if b and b["queries"]:
        inc = "" if b["inconsistent_rate"] is None else (
            f"; {b['inconsistent_rate']:.0%} of its answers are inconsistent with the graph ("
            + ("the learned model" if section.get("causal_model", "").startswith("learned:") else "the world")
            + " would move columns it keeps, or the flip would not hold)")
        out.append(f"Changing columns alone (as DiCE-style tools do) answers {b['found']} of {b['queries']} "
                   f"({b['success_rate']:.0%}){inc}.")
    if section.get("note") and "causal" in section:
        out.append(section["note"])
    return out
