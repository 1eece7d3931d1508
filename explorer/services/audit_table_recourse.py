"""Recourse for one audited row on the page "Audit a model" ("One row" tab, "Find recourse").

The same searches as `audit-table --recourse` (`explorer.evaluate.audit_table_recourse`): the causal one through the
census world (or, when the audit's counterfactual fairness went through the learned VAE, through it, as
`--causal-model learned`) and the non-causal baseline, side by side, on the visitor's own script thread (about 0.1 s per search
on the dev box), so no shared thread is held. The controls come from `RecourseConfig`'s own spec (`config_spec`:
a tick and a cost weight per column, the search's settings) and go back through `RecourseConfig.from_controls`, so
the page offers exactly what the search reads. The table's columns reach the census world through the mapping the
visitor confirmed for counterfactual fairness (`AuditView.column_map`, as `--map` on the command line), and the
answers a visitor found go into the report's downloads (`report`) as the command line's `--recourse` section.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import pandas as pd

from explorer.checkpoints import CheckpointError
from explorer.counterfactual.search.recourse import Recourse, RecourseConfig, check_config, config_spec
from explorer.counterfactual.search.recourse_search import column_scales
from explorer.evaluate.audit_table import add_graph, world_view
from explorer.evaluate.audit_table_html import to_html
from explorer.evaluate.audit_table_pdf import to_pdf
from explorer.evaluate.audit_table_recourse import (METHODS as SEARCHES, answer_dict, answer_sentence,
                                                    example_sentence, recourse_reading, summary, table_recourse)
from explorer.metrics.cf_fairness_learned import causal_model_name, one_torch_thread
from explorer.services.audit_table_page import LEARNED, AuditTableService, AuditView
from explorer.types import VarSpec

METHODS = (("causal", "Causal recourse (what follows from a change follows the graph)"),
           ("noncausal", "Columns changed alone (as DiCE-style tools do)"))
EXPLAIN = ("Both searches look for the cheapest change of at most the set number of actionable columns that turns "
           "the model's decision. The causal one asks the census world what else would change (more education: "
           "another occupation, other hours) and needs the flip in most posterior draws of this person's "
           "unobserved noise; changes marked \u201cfollowed the graph\u201d were not asked for: they follow from the "
           "action. "
           "The other one changes the columns and keeps everything else, which the world may not allow: its answer "
           "is checked against the graph. Cost: education levels, SDs of hours (11.8 h), 1 per change of job or "
           "sector, times each column's weight; what follows costs nothing.")


@dataclass(frozen=True)
class RecourseRow:
    """One row's recourse: `note` alone when it cannot run (accepted already, no model, another table); else both
    answers (`answer_dict` of each), a sentence each, and a table of the changes."""

    n: int
    note: str = ""
    answers: dict[str, dict] = field(default_factory=dict)
    sentences: dict[str, str] = field(default_factory=dict)
    changes: dict[str, pd.DataFrame] = field(default_factory=dict)
    found: dict[str, Recourse] = field(default_factory=dict)  # the searches' own answers, for the report's numbers
    config: RecourseConfig | None = None  # the settings searched with
    matching: dict | None = None  # how the table's columns were matched to the world's variables


_SCALES: dict[int, tuple[object, dict[str, float]]] = {}  # id(world) -> (world, its column SDs), once per process


def scales_of(scm) -> dict[str, float]:
    """The world's column SDs (20,000 world rows: a fraction of a second), measured once per process."""
    if id(scm) not in _SCALES:
        _SCALES[id(scm)] = (scm, column_scales(scm))  # the world kept too, so its id is never reused
    return _SCALES[id(scm)][1]


class RecourseService:
    """The recourse controls and search for the page; the census world is the audit service's (loaded once)."""

    def __init__(self, audit: AuditTableService):
        self.audit = audit

    def controls(self) -> dict[str, VarSpec]:
        """The widgets to draw ({} when the census world is missing): `RecourseConfig`'s spec."""
        try:
            return config_spec(self.audit.census())
        except CheckpointError:
            return {}

    def find(self, view: AuditView, n: int, values: Mapping[str, float]) -> RecourseRow:
        """Both searches for audited row `n` under the widgets' `values`; never raises: what cannot be searched
        (settings, the model failing on changed rows) comes back as the row's note."""
        rows = view.rows
        if int(rows["prediction"].iloc[n]) == 1:
            return RecourseRow(n, "The model already gives this row the positive decision: recourse is for rejected "
                                  "rows.")
        if view.predict is None:
            return RecourseRow(n, "Recourse asks the model again on changed rows, and a predictions column cannot be "
                                  "asked.")
        try:
            scm, learned = self.audit.census(), self.learned(view)
        except CheckpointError as err:
            return RecourseRow(n, f"Recourse is missing: {' '.join(str(err).split())}")
        try:  # the world's names, through the mapping the visitor confirmed (as `--map` on the command line)
            world = world_view(view.values, view.predict, scm, view.column_map)
            wired = table_recourse(world.frame, world.predict, scm, scales_of(scm), learned=learned)
        except ValueError as err:
            return RecourseRow(n, f"Recourse needs the census world's columns: {' '.join(str(err).split())}.")
        if not wired.valid[n]:
            return RecourseRow(n, "This row holds a value the census world cannot read (an unknown category or an "
                                  "empty cell), so no recourse can be searched for it.")
        config = RecourseConfig.from_controls({**values, "threshold": view.report["data"]["threshold"]})
        try:
            check_config(scm, config)  # a column that may never change, or a setting out of range
        except ValueError as err:
            return RecourseRow(n, f"These settings cannot be searched: {' '.join(str(err).split())}.")
        try:
            with nullcontext() if learned is None else one_torch_thread():  # the VAE's small calls: one thread
                found = wired.search([n], config)
        except Exception as err:  # noqa: BLE001 - a visitor's own model failing on changed rows: said, not raised
            said = " ".join(str(err).split())[:300]
            return RecourseRow(n, f"The model failed on the changed rows ({type(err).__name__}: {said}); recourse "
                                  "asks it about rows the census world makes, with its categories and numbers.")
        data = view.report["data"]
        answers = {k: answer_dict(v[0]) for k, v in found.items()}
        return RecourseRow(n, "", answers, {k: answer_sentence(a, data) for k, a in answers.items()},
                           {k: changes_table(a) for k, a in answers.items()}, {k: v[0] for k, v in found.items()},
                           config, world.matching)

    def learned(self, view: AuditView):
        """The learned VAE when the audit's counterfactual fairness went through it (the page's Causal model
        choice, as `--causal-model learned` takes recourse through it too), else None."""
        if not str(view.report.get("cf_fairness", {}).get("causal_model", "")).startswith("learned:"):
            return None
        return self.audit.causal(LEARNED).vae

    def report(self, view: AuditView, found: Sequence[RecourseRow]) -> AuditView:
        """The view with the recourse the visitor found (`found`, in the order found) in its report: the JSON's
        `recourse` and the HTML and PDF reports' "Recourse" section, rendered as the command line's `--recourse`."""
        rows = [r for r in found if r.found]
        if not rows:
            return view
        scm = self.audit.census()  # loaded already: the rows were found through it
        report = copy.deepcopy(view.report)
        learned = self.learned(view)
        report["recourse"] = recourse_section(rows, report["data"], f"the {scm.name} world (explorer/scm/census.py)"
                                              if learned is None else causal_model_name(learned))
        if "causal_graph" not in report:  # an audit without counterfactual fairness: the graph recourse followed
            add_graph(report, scm)
        return dataclasses.replace(view, report=report, html=to_html(report, view.card).encode("utf-8"),
                                   json=json.dumps(report, indent=2, ensure_ascii=False), pdf=to_pdf(report, view.card))


def settings(config: RecourseConfig) -> dict:
    """What the report keeps of one search's settings (JSON-ready)."""
    return {"actionable": list(config.actionable), "costs": {c: config.costs.get(c, 1.0) for c in config.actionable},
            "max_changes": config.max_changes, "draws": config.draws, "min_share": config.min_share}


def recourse_section(rows: Sequence[RecourseRow], data: dict, causal_model: str) -> dict:
    """`report["recourse"]` for rows searched one at a time on the page, in the command line's keys (`add_recourse`):
    per method the success, cost and seconds of these answers, and every row as a worked example with its settings."""
    kept = [settings(r.config) for r in rows]
    actionable = list(dict.fromkeys(c for k in kept for c in k["actionable"]))
    section: dict = {"source": f"The rows searched on the page with Find recourse ({len(rows)}), each with the "
                               "settings it names.",
                     "rows": len(rows), "causal_model": causal_model,
                     "actionable": actionable, "max_changes": max(k["max_changes"] for k in kept),
                     "draws": max(k["draws"] for k in kept), "min_share": min(k["min_share"] for k in kept)}
    for key in SEARCHES:
        section[key] = summary([r.found[key] for r in rows], key == "noncausal")
    section["examples"] = [{"row": r.n, "causal": r.answers["causal"], "noncausal": r.answers["noncausal"],
                            "sentence": example_sentence(r.n, r.found["causal"], r.found["noncausal"], data),
                            "settings": k} for r, k in zip(rows, kept)]
    if any(k != kept[0] for k in kept):
        section["note"] = ("The rows were searched with different settings (the numbers above are the largest and "
                           "the columns all that any search could change); each row names its own.")
    section["reading"] = recourse_reading(section)
    if rows[-1].matching is not None:
        section["matching"] = rows[-1].matching
    return section


def changes_table(answer: dict) -> pd.DataFrame:
    """One line per changed column: old, new, and whether it was an action or followed the graph."""
    return pd.DataFrame([{"column": c["column"], "old": str(c["old"]), "new": str(c["new"]),
                          "why": "action" if c["kind"] == "action" else "followed the graph"}
                         for c in answer["changes"]], columns=["column", "old", "new", "why"])
