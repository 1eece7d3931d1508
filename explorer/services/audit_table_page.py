"""The page "Audit a model" (issue 21 §5): a table, a model, the group and counterfactual fairness audit.

The audit is the command line's (`explorer.evaluate.audit_table`), so the page and `audit-table` give the same
numbers on the same rows (tables, columns and encodings: `audit_table_data.py`; recourse: `audit_table_recourse.py`).
`plan` checks every input before a model is asked anything; then the audit runs as steps (`compute`): one chunk of
rows scored per step as the command line scores it (`audit_chunk`: rows the model fails on found, left out of every
number and listed; half or more failing refused), then counterfactual fairness one protected column per step,
through the census world or the learned VAE (`causal_model`). Each step's result is kept in `done`, so an
interrupted audit resumes where it stopped, and a progress bar moves between steps; steps run on the visitor's own
script thread (onnxruntime and torch on one thread), not on the shared model thread. The last step assembles the
report with the library's `assemble` (`assemble_multiclass`: a label of more than two values, one class against
the rest) and adds a plain-language reading of every headline number.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from explorer.checkpoints import CheckpointError
from explorer.evaluate.audit_table import (AuditTableConfig, ChunkResult, LabelChunk, Prepared, add_cf_fairness,
                                           add_graph, assemble, assemble_multiclass, audit_table, check_columns,
                                           checked_label, is_multiclass, merge, next_chunk, predictions_column, prepare,
                                           protected_groups)
from explorer.evaluate.audit_table_rows import failed_of, merge_cf
from explorer.evaluate.audit_table_html import to_html
from explorer.evaluate.audit_table_pdf import to_pdf
from explorer.metrics.group_fairness import BootstrapConfig
from explorer.metrics.cf_fairness import match_variables
from explorer.models.table_onnx import TableOnnxModel, column_key, load_table_model, propose_inputs
from explorer.registry import TABLE_MODELS, load_table_classifier
from explorer.scm.census import CENSUS_COLUMNS, load_census_world
from explorer.services.audit_table_data import (TABLES, AuditTableError, ColumnInfo, TableChoice,  # noqa: F401
                                                about_table, columns, label_values, retype, shipped_table,
                                                uploaded_table, variables_to_confirm)
from explorer.services.audit_table_words import (cf_reading, cf_table, fairness_table, group_table,
                                                 multiclass_overall, overall_reading)

MIN_ROWS, DEFAULT_ROWS, MAX_ROWS = 50, 2_000, 20_000  # the page's audit; the command line takes whole tables
CHUNK_ROWS = 500  # rows scored per step: a fraction of a second, so the progress bar moves
CF_DRAWS = 20  # posterior draws per row, as the command line's default
WORLD, LEARNED = "world", "learned"  # the causal model of counterfactual fairness (`--causal-model`)
Step = tuple[str, object]  # ("score", first row) or ("cf", protected column)


@dataclass(frozen=True)
class ModelChoice:
    """Where the decisions come from: kind "shipped" (`name` in TABLE_MODELS), "upload" (`name` the file's
    name, `data` its bytes) or "predictions" (`name` a column of the table)."""

    kind: str
    name: str
    data: bytes = b""


@dataclass(frozen=True)
class AuditRequest:
    """label, positive (None: inferred as the command line does), protected columns, the first `rows` rows,
    `categories` (the columns read as categories; the rest as numbers), counterfactual fairness or not."""

    label: str
    positive: str | None
    protected: tuple[str, ...]
    rows: int = DEFAULT_ROWS
    categories: tuple[str, ...] | None = None
    cf: bool = True
    column_map: tuple[tuple[str, str], ...] = ()  # (column, census variable) the visitor confirmed (`--map`)
    input_map: tuple[tuple[str, str], ...] = ()  # (column, model input) the visitor confirmed (`--map`)
    causal_model: str = WORLD  # counterfactual fairness through the census world or the learned VAE (recourse: world)


@dataclass
class AuditPlan:
    """A checked audit, as steps. `model` is None for a predictions column (`given` then holds its values);
    `prepared` is None for a multiclass label (`multiclass`: the model is audited one class against the rest)."""

    frame: pd.DataFrame
    config: AuditTableConfig
    prepared: Prepared | None
    model: TableOnnxModel | None
    given: np.ndarray | None
    about: dict
    card: dict | None
    cf: bool
    cf_note: str = ""
    scm: object = None
    table: TableChoice | None = None
    column_map: dict[str, str] = field(default_factory=dict)  # {column: census variable}, before names
    multiclass: bool = False
    causal_model: str = WORLD

    @property
    def steps(self) -> list[Step]:
        score = [("score", start) for start in range(0, len(self.frame), CHUNK_ROWS)] if self.model else []
        cf = self.cf and self.scm is not None and not self.multiclass  # binary only, as on the command line
        return score + ([("cf", c) for c in self.config.protected] if cf else [])


@dataclass(frozen=True)
class AuditView:
    """Everything the page shows of one audit.

    Attributes:
        report: the command line's JSON report; rows: its per-row table (plus the audited rows' values).
        overall, cf: plain sentences; groups: the library's reading (report["reading"]).
        group_tables, fairness_tables, cf_tables: {column: table to show}.
        html, json, rows_csv (and pdf, at the end): the downloads.
        classes: a multiclass audit's {class: (group_tables, fairness_tables)}, one class against the rest ({}
            for a yes/no label).
    """

    report: dict
    rows: pd.DataFrame
    values: pd.DataFrame
    overall: list[str]
    groups: list[str]
    cf: list[str]
    group_tables: dict[str, pd.DataFrame]
    fairness_tables: dict[str, pd.DataFrame]
    cf_tables: dict[str, pd.DataFrame]
    html: bytes
    json: str
    rows_csv: str
    table: str
    shipped: bool
    notes: list[str] = field(default_factory=list)
    predict: Callable[[pd.DataFrame], np.ndarray] | None = None  # the model, for recourse (None: a predictions column)
    pdf: bytes = b""  # the same report as `html`, as a PDF (audit_table_pdf.to_pdf; about 0.2 s)
    card: dict | None = None  # a shipped model's card metrics, which the reports show (rebuilt with recourse)
    column_map: dict[str, str] = field(default_factory=dict)  # {column: census variable} confirmed, for recourse
    classes: dict[str, tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]] = field(default_factory=dict)
    made_rows: dict[int, RowView] = field(default_factory=dict, repr=False, compare=False)  # `row`'s, each made once

    @property
    def multiclass(self) -> bool:
        return "multiclass" in self.report


@dataclass(frozen=True)
class RowView:
    """One audited row: its values, true label, probability and decision, and its counterfactual flip rates."""

    n: int
    values: dict
    label: str
    probability: float | None
    decision: str
    flip_rates: dict[str, float]
    lab_link: str
    rejected: bool = False  # the model's decision is negative: recourse applies


# --- the model and the plan ----------------------------------------------------------------------------------
class AuditTableService:
    """The page's calls. Shipped models are loaded once per server process and shared (onnxruntime's `run` is
    safe to call from several threads); an uploaded model lives in its visitor's session."""

    def __init__(self) -> None:
        self.shipped: dict[str, tuple[TableOnnxModel, dict]] = {}
        self.scm = None
        self.learned = None

    def model(self, choice: ModelChoice) -> tuple[TableOnnxModel, str, dict | None]:
        """(the model, how the report names it, a shipped model's card metrics)."""
        if choice.kind == "shipped":
            if choice.name not in TABLE_MODELS:
                raise AuditTableError(f"There is no shipped model {choice.name!r}; choose one of "
                                      f"{', '.join(TABLE_MODELS)}.")
            if choice.name not in self.shipped:
                self.shipped[choice.name] = load_table_classifier(choice.name)  # CheckpointError names the fix
            model, card = self.shipped[choice.name]
            return (model, f"the shipped model {choice.name} (test accuracy "
                           f"{card['metrics']['test_accuracy']:.4f})", card["metrics"])
        try:
            model = load_table_model(choice.data, choice.name.rsplit(".", 1)[0])
        except ValueError as err:  # OnnxUploadError: not ONNX, custom operators, too big...
            raise AuditTableError(f"The model {choice.name} cannot be used: {_sentence(str(err))}") from None
        return model, f"the ONNX model {choice.name}", None

    def inputs_to_confirm(self, model: ModelChoice | None, table_columns) -> dict[str, str | None]:
        """{model input: the column proposed for it} for the model's inputs no column matches by name ({} for a
        predictions column, or a model that cannot be read: `plan` says why). An upload is read from the visitor's
        bytes on each call, never kept."""
        if model is None or model.kind not in ("shipped", "upload"):
            return {}
        try:
            inputs = list(self.model(model)[0].inputs)
        except (AuditTableError, CheckpointError):
            return {}
        cols = [str(c) for c in table_columns]
        matched = {column_key(c) for c in cols}
        return {i: p for i, p in propose_inputs(inputs, cols).items() if column_key(i) not in matched}

    def census(self):
        """The census world (loaded once), or the reason it cannot be loaded."""
        if self.scm is None:
            self.scm = load_census_world()[0]  # CheckpointError when missing
        return self.scm

    def causal(self, name: str):
        """The causal model of counterfactual fairness: the census world, or the learned VAE of Adult (loaded once,
        `cf_fairness_learned.learned_model`; CheckpointError when missing)."""
        if name != LEARNED:
            return self.census()
        if self.learned is None:
            from explorer.metrics.cf_fairness_learned import learned_model  # torch: only when asked for

            self.learned = learned_model()
        return self.learned

    def plan(self, table: TableChoice, request: AuditRequest, model: ModelChoice) -> AuditPlan:
        """Every check of the command line, before a model is asked anything; AuditTableError on the first."""
        if not 1 <= request.rows <= MAX_ROWS:
            raise AuditTableError(f"The page audits 1 to {MAX_ROWS:,} rows, not {request.rows:,}; for a "
                                  "whole table use `python -m explorer audit-table`.")
        if not request.protected:
            raise AuditTableError("Choose at least one protected column (e.g. sex) whose groups the audit compares.")
        if request.label in request.protected:
            raise AuditTableError(f"The column {request.label} is both the label and a protected column; choose another.")
        frame = retype(table.frame.head(request.rows).reset_index(drop=True), request.categories)
        config = AuditTableConfig(label=request.label, protected=request.protected, positive=request.positive,
                                  chunk_rows=CHUNK_ROWS, boot=BootstrapConfig())
        about = about_table(table, frame)  # source, encoding, column types (as the command line's `--types`)
        try:
            multiclass = model.kind != "predictions" and is_multiclass(frame, request.label)
            if multiclass:  # the command line's checks of a multiclass audit, before the model is asked
                checked_label(frame, config)
                protected_groups(frame, config)
            prepared = None if multiclass else prepare(frame, config)
            if model.kind == "predictions":
                check_columns(frame, [model.name], "predictions")
                given = predictions_column(frame[model.name], frame[request.label], prepared.positive)
                about["predictions"] = f"the column {model.name} (group metrics only; no model)"
                return AuditPlan(frame, config, prepared, None, given, about, None, False,
                                 "Counterfactual fairness is missing: it asks a model again on counterfactual rows, "
                                 "and a predictions column cannot be asked.", table=table)
            onnx, about["predictions"], card = self.model(model)
            onnx = onnx.with_inputs(dict(request.input_map))  # a copy: a shipped model is shared
            used = onnx.columns(list(frame.columns))  # every input matched to a column before a row is scored
            about["model_inputs"] = {"by_name": {i: c for i, c in used.items() if c not in dict(request.input_map)},
                                     "by_map": {i: c for i, c in used.items() if c in dict(request.input_map)}}
            match_variables(CENSUS_COLUMNS, list(map(str, frame.columns)), dict(request.column_map))
        except (ValueError, CheckpointError) as err:  # CheckpointError: a shipped model's files, and their rebuild
            raise AuditTableError(_sentence(str(err).replace("--map", "The mapping"))) from None
        plan = AuditPlan(frame, config, prepared, onnx, None, about, card, request.cf and not multiclass,
                         table=table, column_map=dict(request.column_map), multiclass=multiclass,
                         causal_model=request.causal_model)
        if request.cf and not multiclass:
            try:
                plan.scm = self.causal(request.causal_model)
            except CheckpointError as err:
                plan.cf_note = f"Counterfactual fairness is missing: {' '.join(str(err).split())}"
        return plan

    def step(self, plan: AuditPlan, step: Step, done: MutableMapping[Step, object]) -> object:
        """One step: a chunk's probabilities, or one protected column's counterfactual fairness."""
        kind, what = step
        if kind == "score":  # a chunk scored as the command line scores it, the rows the model fails on found
            return self.score(plan, what, done)
        proba = _probabilities(plan, done)
        errors = failed_of(_chunks(plan, done)).errors  # those rows have no counterfactual either (`kept`)
        rows = pd.DataFrame({"probability": proba, "model_error": [errors.get(i, "") for i in range(len(proba))]})
        scratch = {"data": {"threshold": plan.config.threshold}}
        learned = plan.causal_model == LEARNED
        if learned:
            from explorer.metrics.cf_fairness_learned import one_torch_thread
        with one_torch_thread() if learned else nullcontext():  # the VAE's small calls: one thread is faster
            add_cf_fairness(scratch, rows, plan.frame, plan.model.predict_proba, plan.scm, [what], draws=CF_DRAWS,
                            seed=plan.config.boot.seed, column_map=plan.column_map)
        return scratch["cf_fairness"], rows.drop(columns=["probability", "model_error"])

    @staticmethod
    def score(plan: AuditPlan, start: int, done: MutableMapping[Step, object]) -> ChunkResult | LabelChunk:
        """The chunk from row `start` as the command line scores it (`next_chunk`), after the chunks done before it;
        ValueError (`refuse`) once half of the audited rows or more have failed."""
        earlier = [done[s] for s in plan.steps if s[0] == "score" and s[1] < start]
        scores = plan.model.predict_labels if plan.multiclass else plan.model.predict_proba
        return next_chunk(plan.frame, start, start + CHUNK_ROWS, earlier, scores,
                          None if plan.multiclass else plan.prepared, plan.config.threshold)

    def compute(self, plan: AuditPlan, progress: Callable[[int, int], None] | None = None,
                done: MutableMapping[Step, object] | None = None) -> AuditView:
        """Runs the steps not in `done` (each added as it finishes), then the report; AuditTableError when the
        model fails on the rows (a missing value, a number column holding text, NaN out)."""
        done = {} if done is None else done
        steps = plan.steps
        try:
            for step in steps:
                if step not in done:
                    if progress:
                        progress(sum(s in done for s in steps), len(steps))
                    done[step] = self.step(plan, step, done)
            if progress:
                progress(len(steps), len(steps))
            return self.view(plan, done)
        except AuditTableError:  # said already (a ValueError too)
            raise
        except ValueError as err:  # `refuse` (half the rows or more) says so itself; else the whole table's error
            said = _sentence(str(err))
            raise AuditTableError(said if said.startswith("The model cannot score") else
                                  f"The model cannot score these rows: {said}") from None

    def view(self, plan: AuditPlan, done: MutableMapping[Step, object]) -> AuditView:
        """The report (the library's, from the steps' results) and everything the page shows of it."""
        if plan.multiclass:
            return self.multiclass_view(plan, done)
        if plan.model is None:  # a predictions column: no model, nothing fails
            report, rows = audit_table(plan.frame, plan.config, None, plan.given, plan.about, prepared=plan.prepared)
        else:  # the steps' chunks merged and assembled as the command line's (failed rows listed, left out)
            report, rows = assemble(plan.frame, plan.config, plan.prepared, *merge(_chunks(plan, done)), plan.about)
        if plan.cf or plan.cf_note:
            report["cf_fairness"] = {"note": plan.cf_note} if plan.cf_note else \
                merge_cf([done[("cf", c)] for c in plan.config.protected], rows)
            if any(isinstance(v, dict) and "flip_rate" in v for v in report["cf_fairness"].values()):
                add_graph(report, plan.scm)  # as add_cf_fairness does on the command line
                if plan.causal_model == LEARNED:  # as the command line's `--causal-model learned` names it
                    report["cf_fairness"]["causal_model"] = f"learned:{plan.scm.name}"  # `causal_model_name`
        protected = plan.config.protected
        cf = report.get("cf_fairness", {})
        table = plan.table
        return AuditView(report, rows, plan.frame, overall_reading(report), list(report["reading"]),
                         cf_reading(cf, protected) if cf else [],
                         {c: group_table(g) for c, g in (report["groups"] | report["intersections"]).items()},
                         {c: fairness_table(f) for c, f in report["fairness"].items()},
                         {c: cf_table(cf[c]) for c in protected if isinstance(cf.get(c), dict)},
                         to_html(report, plan.card).encode("utf-8"),
                         json.dumps(report, indent=2, ensure_ascii=False), rows.to_csv(index=False),
                         table.name if table else "", bool(table and table.shipped),
                         predict=plan.model.predict_proba if plan.model is not None else None,
                         pdf=to_pdf(report, plan.card), card=plan.card, column_map=plan.column_map)

    def multiclass_view(self, plan: AuditPlan, done: MutableMapping[Step, object]) -> AuditView:
        """A multiclass model's audit (the library's `audit_multiclass`, from the steps' predicted classes): per
        class, against the rest, each group's rates and fairlearn's measures; no counterfactuals, no recourse."""
        try:  # the steps' chunks of predicted classes, as the command line's `audit_multiclass` assembles them
            report, rows = assemble_multiclass(plan.frame, plan.config, _chunks(plan, done), plan.about)
        except ValueError as err:  # the model's classes are none of the label's: not a scoring failure
            raise AuditTableError(_sentence(str(err))) from None
        classes = {c: ({col: group_table(g) for col, g in sec["groups"].items()},
                       {col: fairness_table(f) for col, f in sec["fairness"].items()})
                   for c, sec in report["multiclass"]["per_class"].items()}
        table = plan.table
        return AuditView(report, rows, plan.frame, multiclass_overall(report), list(report["reading"]), [], {}, {}, {},
                         to_html(report, plan.card).encode("utf-8"), json.dumps(report, indent=2, ensure_ascii=False),
                         rows.to_csv(index=False), table.name if table else "", bool(table and table.shipped),
                         pdf=to_pdf(report, plan.card), card=plan.card, classes=classes)

    def row(self, view: AuditView, n: int) -> RowView:
        """Row `n` of the audited rows: its values, label, probability, decision and counterfactual flip rates; made
        once per audit (the page's rerun draws up to 49 rows' cards: ~7 ms of pandas lookups each time otherwise)."""
        if not 0 <= n < len(view.rows):
            raise AuditTableError(f"Row {n:,} is not among the {len(view.rows):,} audited rows (0–{len(view.rows) - 1}).")
        if n not in view.made_rows:
            view.made_rows[n] = self._row(view, n)
        return view.made_rows[n]

    def _row(self, view: AuditView, n: int) -> RowView:
        r = view.rows.iloc[n]
        d = view.report["data"]
        proba = float(r["probability"]) if "probability" in r else None
        flips = {c[3:-10]: float(r[c]) for c in view.rows.columns if c.startswith("cf_") and c.endswith("_flip_rate")}
        # the Table lab numbers Adult's complete test rows as this page does (source=adult: not its world's rows)
        link = f"/table_lab?source=adult&row={n}" if view.shipped and view.table == "adult" else ""
        if str(r.get("model_error", "") or ""):  # left out of every number: no decision, no recourse
            label = str(r["label"]) if view.multiclass else d["positive"] if int(r["label"]) == 1 else \
                f"not {d['positive']}"
            return RowView(n, view.values.iloc[n].to_dict(), label, None,
                           f"none: the model could not score this row ({r['model_error']})", {}, link)
        flips = {c: f for c, f in flips.items() if f == f}  # NaN: a row without counterfactuals
        if view.multiclass:  # the predicted and the true class; recourse is binary only
            return RowView(n, view.values.iloc[n].to_dict(), str(r["label"]), None, str(r["prediction"]), {}, link)
        decision = d["positive"] if int(r["prediction"]) == 1 else f"not {d['positive']}"
        label = d["positive"] if int(r["label"]) == 1 else f"not {d['positive']}"
        return RowView(n, view.values.iloc[n].to_dict(), label, proba, decision, flips, link,
                       int(r["prediction"]) == 0)


def _chunks(plan: AuditPlan, done: MutableMapping[Step, object]) -> list:
    """The scored chunks (`ChunkResult`, or a multiclass model's `LabelChunk`), in row order."""
    return [done[s] for s in plan.steps if s[0] == "score"]


def _probabilities(plan: AuditPlan, done: MutableMapping[Step, object]) -> np.ndarray:
    """(n,) the scored chunks' probabilities (NaN where the model failed), in row order."""
    return np.concatenate([c.proba for c in _chunks(plan, done)])


def _sentence(text: str) -> str:
    """An error message of the library as a sentence: capitalised, with a full stop."""
    text = " ".join(text.split())
    return (text[:1].upper() + text[1:]).rstrip(".") + "."
