"""The Text what-if page's audit section: the upload and the model to audit with, the progress bar, the report.

The page makes the audit's one service call (`TextService.audit`) when a file arrives; these pieces only draw.
Widget keys (tests address them): `audit_model`, `audit_file`, `audit_example`, `audit_json`, `audit_markdown`,
`audit_rows`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.services.audit import (METRIC_NAMES, METRIC_WORDS, AuditReport, describe_model, interval_words,
                                     parse_model_name)
from explorer.services.text import TextPage

PAGE_MAX_ROWS = 2_000  # ~10 s of audit on a 2-core CPU; the CLI takes whole files
_REPORT = "_audit_report"
_AUDIT_FOLLOWS = "_audit_follows"  # the audit model last set from section 1's concept and level
_AUDIT_PICKED = "_audit_picked"  # the visitor chose the audit model: section 1 no longer moves it


def audit_controls(view: TextPage) -> tuple[UploadedFile, str] | None:
    """The explanation, the example CSV, the model to audit with and the upload.

    The model follows the concept and level chosen above (`view.audit_default`) until the visitor picks another
    one here.

    Returns:
        (the uploaded file, the model's name), or None while no file is uploaded.
    """
    st.markdown("Upload a CSV file with a **`text`** column; optional columns unlock more numbers: **`label`** "
                "(the true class: accuracy), **`concept`** (0 or 1: CONEXP), **`text_cf`** (each text's true "
                "counterfactual: ATE_gt) and **`group`** (rows that belong together, such as texts about one "
                f"person: the intervals resample them together). The page audits the first {PAGE_MAX_ROWS:,} rows; "
                "for a whole file use "
                "`python -m explorer audit-text --csv FILE --json report.json`.")
    st.download_button("Download an example CSV", view.example_csv, file_name="audit_example.csv", mime="text/csv",
                       key="audit_example", icon=":material/download:")
    follow = view.audit_default
    # the concept or level above changed: follow it, unless the visitor has picked a model here
    if st.session_state.get(_AUDIT_FOLLOWS) != follow and not st.session_state.get(_AUDIT_PICKED):
        st.session_state["audit_model"] = st.session_state[_AUDIT_FOLLOWS] = follow
    model = st.selectbox("Model to audit", list(view.audit_models), key="audit_model",
                         format_func=view.audit_models.get,
                         on_change=st.session_state.__setitem__, args=(_AUDIT_PICKED, True),
                         help="Which pair of models (O and CF) reads your texts. It follows the concept and bias "
                              "level chosen in section 1 until you pick another here.")
    upload = st.file_uploader("Your CSV file (UTF-8)", type=["csv", "txt"], key="audit_file",
                              max_upload_size=MAX_UPLOAD_BYTES // 2**20)  # the browser refuses more, so does the reader
    if upload is None:
        st.session_state.pop(_REPORT, None)
        return None
    return upload, model


def kept_report(upload: UploadedFile, model: str) -> AuditReport | None:
    """The report of this file and model when it was audited on an earlier run (an audit takes seconds)."""
    key, report = st.session_state.get(_REPORT, (None, None))
    return report if key == (upload.file_id, model) else None


def keep_report(upload: UploadedFile, model: str, report: AuditReport) -> None:
    """Keeps the report for later runs: the section redraws it until another file or model is chosen."""
    st.session_state[_REPORT] = ((upload.file_id, model), report)


class AuditProgress:
    """The audit's progress bar: "Auditing… 200 of 2,000 texts"."""

    def __init__(self) -> None:
        self.bar = st.progress(0.0, text="Auditing…")

    def __call__(self, done: int, total: int) -> None:
        """Called by the audit after each batch of texts."""
        self.bar.progress(done / total, text=f"Auditing… {done:,} of {total:,} texts")

    def close(self) -> None:
        """Removes the bar once the audit is done (or failed)."""
        self.bar.empty()


def cannot_audit(err: Exception) -> None:
    """The file cannot be audited: says why."""
    st.error(f"**This file cannot be audited.** {err}")


def report_view(report: AuditReport) -> None:
    """The audit's numbers, its notes and the download buttons."""
    took = "under 0.1 s" if report.seconds < 0.1 else f"{report.seconds:.1f} s"
    st.success(f"Audited {report.n_audited:,} of {report.n_rows:,} rows with **{describe_model(report.model)}** "
               f"in {took}.")
    shown = [(k, v) for k, v in report.metrics.items() if v is not None]
    for col, (key, value) in zip(st.columns(max(1, len(shown))), shown):
        share = key.startswith("acc")
        col.metric(METRIC_NAMES[key], f"{value:.1%}" if share else f"{value:.3f}",
                   help=f"{METRIC_WORDS[key]} ({report.n_used[key]:,} rows)")
        if key in report.intervals:
            low, high = report.intervals[key]
            col.caption(f"95 % interval {low:.1%}–{high:.1%}" if share else f"95 % interval {low:.3f}–{high:.3f}")
    words = interval_words(report.grouped)
    st.caption(words[0].upper() + words[1:])
    if report.notes:
        st.markdown("**What could not be computed, and other notes**\n\n" + "\n".join(f"- {n}" for n in report.notes))
    if report.largest:
        st.caption("The rows where the two models disagree most: where the concept matters most to the model.")
        st.dataframe(pd.DataFrame(report.largest).rename(columns={"o": "O says", "cf": "CF says",
                                                                   "difference": "O–CF difference"}),
                     hide_index=True)
    left, middle, right = st.columns(3)
    left.download_button("Download the report (JSON)", report.to_json(), file_name="text_audit.json",
                         mime="application/json", key="audit_json", icon=":material/download:")
    middle.download_button("Download the report (Markdown)", report.to_markdown(), file_name="text_audit.md",
                           mime="text/markdown", key="audit_markdown", icon=":material/download:")
    right.download_button("Download every row's predictions (CSV)", report.to_rows_csv(),
                          file_name="text_audit_rows.csv", mime="text/csv", key="audit_rows",
                          icon=":material/download:",
                          help="One line per audited row: what O and CF say, their probabilities, and what "
                               "your optional columns add.")


def model_concept(name: str) -> str:
    """The concept of an audit model's name ("emotion-gender:balanced" -> "gender")."""
    return parse_model_name(name)[1]
