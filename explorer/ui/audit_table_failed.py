"""The page "Audit a model": the rows the model could not score, said above the results (split from
`audit_table.py`). The audit library leaves such rows out of every number and says so in `report["data"]
["failed_rows"]`; the page shows its note as a warning and the first rows with their errors in an expander. Nothing
is drawn when the key is missing (every row scored)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.evaluate.audit_table_report import FAILED_TITLE, failed_rows
from explorer.services.audit_table_page import AuditView
from explorer.ui.audit_table import plain


def failed_rows_note(view: AuditView) -> None:
    """The warning and, in an expander, each example row and the model's error on it."""
    failed = failed_rows(view.report["data"])
    if failed is None:
        return
    st.warning(plain(failed[0]), icon=":material/warning:")
    if failed[1]:
        with st.expander(f"{FAILED_TITLE}: the first {len(failed[1])}"):
            st.dataframe(pd.DataFrame(failed[1], columns=["row", "error"]), hide_index=True)
