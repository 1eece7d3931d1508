"""Recourse for one audited row on the page "Audit a model" ("One row" tab, "Find recourse").

The same searches as `audit-table --recourse` (`explorer.evaluate.audit_table_recourse`): the causal one through the
census world and the non-causal baseline, side by side, on the visitor's own script thread (about 0.1 s per search
on the dev box), so no shared thread is held. The controls come from `RecourseConfig`'s own spec (`config_spec`:
a tick and a cost weight per column, the search's settings) and go back through `RecourseConfig.from_controls`, so
the page offers exactly what the search reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from explorer.checkpoints import CheckpointError
from explorer.counterfactual.search.recourse import RecourseConfig, check_config, config_spec
from explorer.counterfactual.search.recourse_search import column_scales
from explorer.evaluate.audit_table_recourse import answer_dict, answer_sentence, table_recourse
from explorer.services.audit_table_page import AuditTableService, AuditView
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
            scm = self.audit.census()
        except CheckpointError as err:
            return RecourseRow(n, f"Recourse is missing: {' '.join(str(err).split())}")
        try:
            wired = table_recourse(view.values, view.predict, scm, scales_of(scm))
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
            found = wired.search([n], config)
        except Exception as err:  # noqa: BLE001 - a visitor's own model failing on changed rows: said, not raised
            said = " ".join(str(err).split())[:300]
            return RecourseRow(n, f"The model failed on the changed rows ({type(err).__name__}: {said}); recourse "
                                  "asks it about rows the census world makes, with its categories and numbers.")
        data = view.report["data"]
        answers = {k: answer_dict(v[0]) for k, v in found.items()}
        return RecourseRow(n, "", answers, {k: answer_sentence(a, data) for k, a in answers.items()},
                           {k: changes_table(a) for k, a in answers.items()})


def changes_table(answer: dict) -> pd.DataFrame:
    """One line per changed column: old, new, and whether it was an action or followed the graph."""
    return pd.DataFrame([{"column": c["column"], "old": str(c["old"]), "new": str(c["new"]),
                          "why": "action" if c["kind"] == "action" else "followed the graph"}
                         for c in answer["changes"]], columns=["column", "old", "new", "why"])
