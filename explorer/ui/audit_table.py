"""Streamlit pieces of the page "Audit a model": link, pickers, columns, progress, results in tabs (calls: the page's).

Widget keys (tests and links address them): `at_data`, `at_model`, `at_predictions`, `at_categories`, `at_label`,
`at_positive`, `at_protected`, `at_rows`, `at_cf`, `at_row`; outside the link: the uploads `audit_model_csv` and
`audit_model_onnx`, the button `audit_model_run` and the mappings `atmap_...` (audit_table_map.py). A link holds
shipped data and models (`_apply` shows one); the One row tab links into the Table lab (`/table_lab?source=adult&row=3`:
the same numbering of Adult's test rows). Uploads are never in a link: they stay in the visitor's session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st

from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.data.upload_onnx import MAX_BYTES
from explorer.registry import TABLE_MODELS
from explorer.services.audit_table_page import (DEFAULT_ROWS, MAX_ROWS, MIN_ROWS, TABLES, AuditRequest,
                                                AuditTableService, AuditView, ColumnInfo, ModelChoice, Step,
                                                TableChoice, label_values, variables_to_confirm)
from explorer.services.audit_table_words import cf_caption, label_note
from explorer.ui.audit_table_map import forget_mappings, input_mapping, variable_mapping
from explorer.ui.audit_table_tabs import acted_in, forget
from explorer.ui.charts import fast_figure
from explorer.ui.common.format import echo, listed
from explorer.ui.common.link import PageLink, ignored
from explorer.ui.common.loader import Backend

PAGE = "audit_table"
KEYS = ("at_data", "at_model", "at_predictions", "at_categories", "at_label", "at_positive", "at_protected",
        "at_rows", "at_cf")  # what the page keeps for a visitor's return (lists included, which links skip)
LINK = PageLink(PAGE, ("at_",), marker="at_data")
UPLOAD, PREDICTIONS = "upload", "predictions"
MODELS = {**{m: f"{m} (shipped, trained on Adult)" for m in TABLE_MODELS},
          UPLOAD: "my ONNX model (upload)", PREDICTIONS: "a column of my table holds the decisions"}
DATA = {**TABLES, UPLOAD: "my table (CSV or Parquet upload)"}
_FOR = "_at_for"  # the table the label / protected / types widgets were last set for
_JOB = "_at_job"  # (settings, _Job): this visitor's last audit, session only
_ASKED = "_at_asked"  # the Run button's click (or a link's audit=1), recorded for this run
_INPUTS = "_at_input_map"  # the model-input mapping the visitor confirmed (session only, never in a link)


def _service() -> AuditTableService:
    return AuditTableService()


AUDIT_TABLE = Backend(PAGE, _service, "", lambda part: ())


@dataclass
class Job:
    """One audit: the steps done so far, the view once all are done, or why it could not run."""

    key: tuple
    done: dict[Step, object] = field(default_factory=dict)
    view: AuditView | None = None
    error: str = ""

    @property
    def pending(self) -> bool:
        return self.view is None and not self.error


# --- the link ---------------------------------------------------------------------------------------------------
def read_link(table_of: Callable[[str], TableChoice]) -> list[str]:
    """The settings from the address bar when it says what to show (a shared link, Back); returns its notes."""
    return LINK.read(lambda params: _apply(params, table_of))


def _apply(params: dict[str, str], table_of: Callable[[str], TableChoice]) -> list[str]:
    """`?data=adult&model=adult-logreg&label=income&protected=sex,race&rows=2000&cf=1&audit=1&row=3` -> the
    widgets' state; each bad value is named in a note and the rest still applies."""
    notes: list[str] = []
    state = st.session_state
    data = params.get("data", "adult")
    if data not in TABLES:
        notes.append(f"The link's data={echo(data)} is not a shipped table ({', '.join(TABLES)}; an uploaded table "
                     "is never in a link), so the Adult table is shown.")
        data = "adult"
    table = table_of(data)
    state["at_data"] = data
    set_defaults(table)
    model = params.get("model", TABLE_MODELS[0])
    if model not in TABLE_MODELS:
        notes.append(f"The link's model={echo(model)} is not a shipped model ({', '.join(TABLE_MODELS)}; an "
                     f"uploaded model is never in a link), so {TABLE_MODELS[0]} is used.")
        model = TABLE_MODELS[0]
    state["at_model"] = model
    columns = [str(c) for c in table.frame.columns]
    if "label" in params:
        if params["label"] in columns:
            state["at_label"] = params["label"]
        else:
            notes.append(f"The link's label={echo(params['label'])} is not a column of the {data} table, so "
                         f"{state['at_label']} is used.")
    values, _ = label_values(table.frame, state["at_label"])
    if "positive" in params:
        if params["positive"] in values:
            state["at_positive"] = params["positive"]
        else:
            notes.append(f"The link's positive={echo(params['positive'])} is not a value of {state['at_label']} "
                         f"({', '.join(values)}), so {state['at_positive']} is used.")
    if "protected" in params:
        asked = [c for c in params["protected"].split(",") if c]
        bad = [c for c in asked if c not in columns]
        if bad:
            notes.append(f"The link's protected columns {listed(bad)} are not columns of the {data} table; ignored.")
        state["at_protected"] = [c for c in asked if c in columns] or state["at_protected"]
    if "rows" in params:
        state["at_rows"] = _whole(params["rows"], "rows", MIN_ROWS, min(MAX_ROWS, len(table.frame)), notes) \
            or state["at_rows"]
    if "cf" in params:
        state["at_cf"] = params["cf"] != "0"
    if params.get("audit") == "1":
        state[_ASKED] = True
    if "row" in params and (row := _whole(params["row"], "row", 0, state["at_rows"] - 1, notes)) is not None:
        state["at_row"] = row
    return notes + ignored(params, ("data", "model", "label", "positive", "protected", "rows", "cf", "audit", "row"))


def _whole(text: str, name: str, low: int, high: int, notes: list[str]) -> int | None:
    """A link's whole number, clamped into [low, high] with a note; None (and a note) when it is not one."""
    try:
        asked = int(float(text))
    except (ValueError, OverflowError):
        notes.append(f"The link's {name}={echo(text)} is not a number, so it was ignored.")
        return None
    value = min(max(asked, low), high)
    if value != asked:
        notes.append(f"The link's {name}={echo(str(asked), quote=False)} is outside {low:,}–{high:,}, so {value:,} "
                     "is used.")
    return value


def write_link(table: TableChoice, model: ModelChoice, request: AuditRequest, shown: bool) -> None:
    """The address bar: a link to these settings when data and model are shipped (uploads never go in links)."""
    params: dict[str, str] = {}
    if table.shipped:
        params |= {"data": table.name, "label": request.label, "protected": ",".join(request.protected),
                   "rows": str(request.rows)} | ({"positive": request.positive} if request.positive else {})
        params |= {"model": model.name} if model.kind == "shipped" else {}
        params |= {"cf": "1" if request.cf else "0"} | ({"audit": "1"} if shown else {})
        params |= {"row": str(st.session_state["at_row"])} if shown and "at_row" in st.session_state else {}
    LINK.write(params, kept={k: st.session_state[k] for k in KEYS if k in st.session_state})


# --- the pickers -------------------------------------------------------------------------------------------------
def data_picker() -> tuple[str, tuple[str, bytes] | None]:
    """The table: a shipped one's name, or ("upload", (file name, bytes)) once a CSV or Parquet file is uploaded."""
    st.session_state.setdefault("at_data", "adult")
    name = st.selectbox("Data", list(DATA), format_func=DATA.get, key="at_data",
                        help="A shipped table's test split (the rows its models were not fitted on), or your own CSV.")
    if name != UPLOAD:
        return name, None
    file = st.file_uploader("Your table (CSV, UTF-8, first line names the columns; or Parquet, flat columns)",
                            type=["csv", "txt", "parquet"],
                            key="audit_model_csv", max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    st.caption("It stays in your session, in memory: never written to disk, never in a link, gone when you leave.")
    return name, None if file is None else (file.name, file.getvalue())


def model_picker(table: TableChoice) -> ModelChoice | None:
    """Where the decisions come from; None while an upload or a column is still to be given."""
    if st.session_state.get(_FOR) != (table.name, len(table.frame)):  # a new table: before its widgets are drawn
        set_defaults(table)
    st.session_state.setdefault("at_model", TABLE_MODELS[0])
    st.session_state[_INPUTS] = ()  # set again below when an uploaded model's inputs are mapped
    kind = st.selectbox("Model", list(MODELS), format_func=MODELS.get, key="at_model",
                        help="The shipped models read Adult's columns; yours may read any table's, matched by name.")
    if kind == PREDICTIONS:
        cols = [str(c) for c in table.frame.columns]
        column = st.selectbox("The column that holds the decisions (0/1, probabilities, or the label's values)",
                              cols, key="at_predictions")
        st.caption("Group metrics only: counterfactual fairness asks a model again, and a column cannot be asked.")
        return ModelChoice(PREDICTIONS, column)
    file = st.file_uploader("Your model (.onnx, one named input per column)", type=["onnx"], key="audit_model_onnx",
                            max_upload_size=MAX_BYTES // 2**20) if kind == UPLOAD else None
    if kind == UPLOAD:
        st.caption("Only ONNX is read (never a pickle); it is run by onnxruntime from memory and kept in your session "
                   "only. Export a scikit-learn pipeline with skl2onnx, one input per column (docs/audit-table.md).")
    choice = ModelChoice("shipped", kind) if kind != UPLOAD else \
        None if file is None else ModelChoice(UPLOAD, file.name, file.getvalue())
    cols = [str(c) for c in table.frame.columns]
    if choice is not None:  # inputs no column matches by name: the visitor maps them (the shipped model: cached)
        st.session_state[_INPUTS] = input_mapping(AUDIT_TABLE.shared().inputs_to_confirm(choice, cols), cols)
    return choice


def set_defaults(table: TableChoice) -> None:
    """The label, protected columns and types proposed for a table the widgets were not set for yet."""
    state, cols = st.session_state, [str(c) for c in table.frame.columns]
    label = table.label if table.label in cols else cols[-1]
    state["at_label"] = label
    state["at_positive"] = _positive(table, label)
    state["at_protected"] = [c for c in table.protected if c in cols]
    state["at_categories"] = None  # as inferred; filled by `confirm`
    state["at_rows"] = min(DEFAULT_ROWS, len(table.frame))
    state.setdefault("at_cf", True)
    state.pop("at_row", None)
    forget_mappings()  # another table: its mappings start again
    state["at_predictions"] = cols[0]  # not a column of the table before
    state[_FOR] = (table.name, len(table.frame))


def _positive(table: TableChoice, label: str) -> str | None:
    values, positive = label_values(table.frame, label)
    return positive or (values[-1] if len(values) == 2 else None)


def confirm(table: TableChoice, infos: list[ColumnInfo]) -> AuditRequest:
    """Column types, label, positive value, protected columns, rows and the counterfactual switch."""
    state = st.session_state  # set_defaults ran for this table in model_picker
    if state.get("at_categories") is None:
        state["at_categories"] = [i.name for i in infos if i.kind == "category"]
    with st.expander(f"Columns and their types ({len(infos)} columns, {len(table.frame):,} rows)"):
        st.dataframe([{"column": i.name, "read as": i.kind, "distinct values": i.distinct, "missing": i.missing,
                       "examples": i.examples} for i in infos], hide_index=True)
        st.multiselect("Read as categories (the rest as numbers)", [i.name for i in infos], key="at_categories",
                       help="A number column that is really a code (a zip code, a 0/1 group) is better read as a "
                            "category; a column of numbers with a stray word in it can be read as numbers here.")
    cols = [i.name for i in infos]
    left, middle, right = st.columns(3)
    label = left.selectbox("Label: the true outcome", cols, key="at_label")
    values, _ = label_values(table.frame, label)
    if len(values) == 2:
        if state.get("at_positive") not in values:
            state["at_positive"] = _positive(table, label)
        positive = middle.selectbox("The positive decision", values, key="at_positive",
                                    help="The outcome a person would want (a loan granted, income above 50K).")
    else:
        positive = None
        multi = len(values) > 2 and state.get("at_model") != PREDICTIONS  # audited one class against the rest
        (middle.info if multi else middle.warning)(plain(label_note(label, len(values), multi)))
    protected = right.multiselect("Protected attributes", cols, key="at_protected",
                                  help="The columns whose groups are compared; with two, their intersection too.")
    left, right = st.columns(2, vertical_alignment="bottom")
    rows = left.number_input("Rows to audit (the table's first rows)", min_value=min(MIN_ROWS, len(table.frame)),
                             max_value=min(MAX_ROWS, len(table.frame)), step=100, key="at_rows",
                             help="Fewer rows, a quicker audit and wider intervals; the command line takes whole "
                                  "tables.")
    cf = right.toggle("Counterfactual fairness (a few seconds more)", key="at_cf",
                      help="Through the census world's causal model, on tables with Adult's columns.")
    wanted = (cf or state.get("at_model") != PREDICTIONS) and len(values) <= 2  # cf and recourse read it
    column_map = variable_mapping(variables_to_confirm(cols), cols, expanded=bool(cf)) if wanted else ()
    return AuditRequest(label, positive, tuple(protected), int(rows), tuple(state["at_categories"]), bool(cf),
                        column_map, tuple(state.get(_INPUTS, ())))


def run_button() -> bool:
    """The Run button (or a link's audit=1): True on the run it asks for an audit."""
    clicked = st.button("Run the audit", key="audit_model_run", type="primary", icon=":material/play_arrow:",
                        on_click=st.session_state.__setitem__, args=(_ASKED, True))  # as the Flip page's Run
    return bool(st.session_state.pop(_ASKED, False) or clicked)


def job(key: tuple, asked: bool) -> Job | None:
    """The audit of these settings: new when asked, else the one kept from an earlier run (finished, or
    interrupted by a widget: it resumes), or None."""
    if asked:
        st.session_state[_JOB] = Job(key)
        forget()
    kept = st.session_state.get(_JOB)
    if kept is not None and kept.key == key:
        return kept
    if kept is not None:
        st.caption("The settings changed since the last audit: press **Run the audit** to audit these.")
    return None


class Progress:
    """The audit's progress bar: "Auditing… 3 of 8 steps"."""

    def __init__(self) -> None:
        self.bar = st.progress(0.0, text="Auditing…")

    def __call__(self, done: int, total: int) -> None:
        self.bar.progress(done / max(total, 1), text=f"Auditing… {done} of {total} steps (a chunk of rows scored, "
                                                     "or one protected column's counterfactuals)")

    def close(self) -> None:
        self.bar.empty()


def model_failed(err: Exception) -> str:
    """An unexpected failure while scoring (onnxruntime's own errors), as a message with what to do."""
    said = " ".join(str(err).split())[:300]
    return (f"The model failed on these rows ({type(err).__name__}: {said}). Check that it takes one input per "
            "column, strings for categories and numbers for numbers, and returns a probability or a 0/1 label.")


def failed(message: str) -> None:
    """What went wrong and what to do, never a traceback."""
    st.error(f"**This cannot be audited.** {plain(message)}", icon=":material/error:")  # names from the data: literal


# --- the results ---------------------------------------------------------------------------------------------------


_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~$:])")  # a column or category name from a CSV draws no link or formula


def plain(text: str) -> str:
    """Text from the data (column and category names inside sentences) as Markdown shows it, literally."""
    return _MARKDOWN.sub(r"\\\1", text)


def bullets(lines: list[str]) -> str:
    """Sentences as a Markdown list, shown literally."""
    return "\n".join(f"- {plain(line)}" for line in lines)


def selection_figure(col: str, groups: dict[str, dict]) -> dict:
    """Each group's selection rate as a bar, its 95 % interval as a whisker."""
    names = [str(g) for g in groups]
    rate = [g["selection_rate"] for g in groups.values()]
    low = [r - (g["selection_rate_ci_low"] or r) for r, g in zip(rate, groups.values())]
    high = [(g["selection_rate_ci_high"] or r) - r for r, g in zip(rate, groups.values())]
    bar = {"type": "bar", "orientation": "h", "y": names, "x": rate, "marker": {"color": "#4e79a7"},
           "error_x": {"type": "data", "symmetric": False, "array": high, "arrayminus": low, "color": "#222"},
           "hovertemplate": "%{y}: %{x:.1%} selected<extra></extra>"}
    return {"data": [bar], "layout": {
        "height": 60 + 34 * len(names), "margin": {"l": 10, "r": 20, "t": 30, "b": 10},
        "title": {"text": f"{col}: selection rate, 95 % interval", "font": {"size": 14}},
        "xaxis": {"range": [0, 1], "tickformat": ".0%", "fixedrange": True},
        "yaxis": {"autorange": "reversed", "fixedrange": True, "automargin": True}}}


def groups_tab(view: AuditView) -> None:
    """Overall numbers, the reading, and per protected column its groups and fairness measures."""
    st.markdown(bullets(view.overall))
    st.info(bullets(view.groups), icon=":material/lightbulb:")
    for col, table in view.group_tables.items():
        st.markdown(f"#### {plain(col)}: each group's rates [95 % interval]")
        groups = view.report["groups"].get(col) or view.report["intersections"][col]
        st.plotly_chart(fast_figure(selection_figure(col, groups)), key=f"audit_model_chart_{col}",
                        config={"displayModeBar": False})
        st.dataframe(table, hide_index=True)
        if col in view.fairness_tables:
            fair = view.report["fairness"][col]
            verdict = "passes" if fair["four_fifths_passes"] else "fails"
            (st.success if fair["four_fifths_passes"] else st.warning)(
                f"Four-fifths rule: the lowest {plain(col)} group's selection rate is {fair['four_fifths_ratio']:.0%} of "
                f"the highest's, so it **{verdict}** (80 % or more passes).")
            st.dataframe(view.fairness_tables[col], hide_index=True)
    st.caption("Computed by fairlearn's MetricFrame from the audited rows' confusion counts; intervals from 1,000 "
               "bootstrap replicates, each group resampled on its own (docs/audit-table.md).")


def cf_tab(view: AuditView) -> None:
    """Counterfactual fairness: the sentences and, per protected column, flips by group and by path."""
    if not view.cf:
        st.info("Counterfactual fairness was not asked for: switch it on above and run the audit again.")
        return
    st.info(bullets(view.cf), icon=":material/lightbulb:")
    for col, table in view.cf_tables.items():
        st.markdown(f"#### {plain(col)}: decisions that would change")
        st.dataframe(table, hide_index=True)
    if view.cf_tables:
        st.caption(cf_caption(view.report["cf_fairness"]))  # which causal model: the census world or the learned


def report_tab(view: AuditView) -> None:
    """The downloads: the HTML report to hand on, the JSON report, every row's prediction."""
    st.markdown("The report holds the data summary, the reading, every group's rates with intervals and a chart, "
                "the fairness measures, counterfactual fairness (with the causal graph it followed), the recourse "
                "found on the One row tab and the limitations, in one HTML file that opens offline, or as a PDF.")
    downloads = (("Download the report (PDF)", view.pdf, "audit_report.pdf", "application/pdf", "audit_model_pdf"),
                 ("Download the report (HTML)", view.html, "audit_report.html", "text/html", "audit_model_html"),
                 ("Download the report (JSON)", view.json, "audit_report.json", "application/json", "audit_model_json"),
                 ("Download every row's prediction (CSV)", view.rows_csv, "audit_rows.csv", "text/csv",
                  "audit_model_rows"))
    for column, (label, data, file_name, mime, key) in zip(st.columns(4), downloads):
        column.download_button(label, data, file_name=file_name, mime=mime, key=key, icon=":material/download:",
                               type="primary" if key == "audit_model_pdf" else "secondary",
                               on_click=acted_in, args=("Report",))
