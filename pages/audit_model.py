"""Audit a model: group and counterfactual fairness of a classifier on a table, for people who do not program.

Pick or upload the data and the model, confirm the columns, then one audit (the command line's `audit-table`)
runs in steps with a progress bar; the results come in tabs. The calls are `explorer.services.audit_table_page`'s.
"""

import streamlit as st

from explorer import ui
from explorer.services.audit_table_page import AuditTableError, columns, shipped_table, uploaded_table
from explorer.services.audit_table_recourse import RecourseService
from explorer.ui import audit_table as audit_ui
from explorer.ui import audit_table_failed as failed_ui
from explorer.ui import audit_table_multiclass as multiclass_ui
from explorer.ui import audit_table_options as options_ui
from explorer.ui import audit_table_recourse as recourse_ui
from explorer.ui import audit_table_row as row_ui
from explorer.ui import audit_table_tabs as tabs_ui
from explorer.ui.common.loader import load

ui.run_through_app()

st.title("Audit a model on a table")
st.markdown("Does a model treat groups of people differently, and would its decision change had a person been of "
            "another sex or race? Pick a table and a model (or bring your own: a CSV and an ONNX file), confirm the "
            "label and the protected attributes, and run the audit: each group's rates with their uncertainty, the "
            "fairness measures and the four-fifths rule (computed by fairlearn), counterfactual fairness through a "
            "causal model, every number in words, and a report to hand on.")
service = load(audit_ui.AUDIT_TABLE)
for note in audit_ui.read_link(shipped_table):  # `?data=adult&model=adult-logreg&protected=sex,race&audit=1`
    st.warning(note)

st.subheader("1 · Data and model")
left, right = st.columns(2)
with left:
    name, upload = audit_ui.data_picker()
    encoding = options_ui.encoding_picker(upload)  # shown once a CSV is refused as not UTF-8
try:
    table = shipped_table(name) if upload is None and name != audit_ui.UPLOAD else \
        uploaded_table(upload[1], upload[0], encoding) if upload is not None else None
except AuditTableError as err:
    if options_ui.needs_encoding(upload, str(err)):  # not UTF-8: again, with the "Encoding" select box
        st.rerun()
    audit_ui.failed(options_ui.refusal(upload, str(err)))  # nothing kept: the uploader holds the file
    st.stop()
if table is None:
    st.info("Upload a table (CSV or Parquet) to go on, or pick a shipped table.", icon=":material/upload:")
    st.stop()
with right:
    model = audit_ui.model_picker(table)

st.subheader("2 · Columns, label and protected attributes")
request = options_ui.causal_model(audit_ui.confirm(table, columns(table.frame)), model is None or
                                  model.kind == "predictions")  # the census world or the learned model
asked = audit_ui.run_button()
if model is None:
    st.info("Upload your ONNX model to go on, or pick a shipped one.", icon=":material/upload:")
    st.stop()

key = (table.name, len(table.frame), table.encoding, model.kind, model.name, hash(model.data), request)
job = audit_ui.job(key, asked)
if job is not None and job.pending:  # new, or interrupted by a widget: the steps done are kept and skipped
    bar = audit_ui.Progress()
    try:
        plan = service.plan(table, request, model)
        job.view = service.compute(plan, bar, job.done)  # the page's one call
    except AuditTableError as err:
        job.error = str(err)
    except Exception as err:  # noqa: BLE001 - a visitor's own model failing: said, not a traceback
        job.error = audit_ui.model_failed(err)  # (Streamlit's stop and rerun are BaseExceptions: they pass)
    bar.close()
if job is not None and job.error:
    audit_ui.failed(job.error)
elif job is not None and job.view is not None:
    st.subheader("3 · Results")
    failed_ui.failed_rows_note(job.view)  # rows the model could not score (left out of every number), if any
    # keyed, so a rerun (Find recourse, a row number) stays on the open tab. Not on_change="rerun": with Streamlit
    # 1.67 the click after a tab's own rerun sometimes sent other widgets' defaults (the link's protected columns
    # emptied, rows 50), and the audit was gone (10 of 44 Chromium runs of a tab click, then Find recourse; none
    # of 42 keyed only, then Find recourse or a new row number)
    groups, cf, row, report = tabs_ui.tabs()  # opened at the tab last acted in, if a redraw remounts them
    multiclass = job.view.multiclass  # a label of more than two classes: each audited against the rest
    with groups:
        (multiclass_ui.groups_tab if multiclass else audit_ui.groups_tab)(job.view)
    with cf:
        if multiclass:
            multiclass_ui.binary_only(job.view, "Counterfactual fairness")
        else:
            audit_ui.cf_tab(job.view)
    recourse = RecourseService(service)  # on this visitor's thread, as the audit's steps

    def recourse_part(shown) -> bool:  # below the row: its recourse (True when a search just ran)
        if multiclass:
            multiclass_ui.binary_only(job.view, "Recourse")
            return False
        return recourse_ui.recourse_section(job.key, shown.n, shown.rejected, recourse.controls(),
                                            lambda values: recourse.find(job.view, shown.n, values))

    with row:  # its own fragment: a new row number reruns only this tab (and writes the link)
        row_ui.one_row(job.view, lambda n: service.row(job.view, n), recourse_part,
                       lambda: audit_ui.write_link(table, model, request, shown=True),
                       lambda shown: "" if multiclass else recourse_ui.rest(job.key, shown.n))
    with report:  # drawn after the One row tab, so a recourse just found is in the downloads
        audit_ui.report_tab(recourse_ui.with_found(job.key, job.view, lambda found: recourse.report(job.view, found)))
audit_ui.write_link(table, model, request, shown=job is not None and job.view is not None)  # after the row picker
