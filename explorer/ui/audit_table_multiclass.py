"""The page "Audit a model" for a multiclass model: each class audited against the rest (split from
`audit_table.py`). The numbers are the command line's (`audit_multiclass`, the report's "multiclass" key).

A class picker (`atmc_class`, outside the link: a multiclass label comes from an upload, which links never hold)
shows one class's groups and fairness measures at a time; counterfactual fairness and recourse say, in one sentence,
that they are binary only.
"""

from __future__ import annotations

import streamlit as st

from explorer.metrics.group_fairness import JOIN
from explorer.services.audit_table_page import AuditView
from explorer.services.audit_table_words import BINARY_ONLY
from explorer.ui.audit_table import bullets, plain, selection_figure
from explorer.ui.charts import fast_figure


def groups_tab(view: AuditView) -> None:
    """The overall numbers, the reading (every class), then one class's tables and charts, picked."""
    mc = view.report["multiclass"]
    st.markdown(bullets(view.overall))
    st.info(bullets(view.groups), icon=":material/lightbulb:")
    classes = list(view.classes)
    if st.session_state.get("atmc_class") not in classes:
        st.session_state["atmc_class"] = classes[0]
    c = st.selectbox("Class (audited against the rest)", classes, key="atmc_class",
                     help="Each group's rates with this class's prediction as the decision and this class as the "
                          "label; the other classes count as \u201cnot this class\u201d.")
    groups, fairness = view.classes[c]
    for col, table in groups.items():
        st.markdown(f"#### Class {plain(str(c))} against the rest, {plain(col)}: each group's rates [95 % interval]")
        section = mc["per_class"][c]["groups"][col]
        if JOIN not in col:  # an intersection: its table only, as for a yes/no label
            st.plotly_chart(fast_figure(selection_figure(f"{c}: {col}", section)), key=f"audit_model_mc_chart_{col}",
                            config={"displayModeBar": False})
        st.dataframe(table, hide_index=True)
        if col in fairness:
            st.dataframe(fairness[col], hide_index=True)
    st.caption(plain(mc["note"][:1].upper() + mc["note"][1:] + ". Computed by fairlearn's MetricFrame; intervals from "
                     "1,000 bootstrap replicates, each group resampled on its own."))


def binary_only(view: AuditView, what: str) -> None:
    """The sentence a multiclass audit shows where counterfactual fairness or recourse would be."""
    st.info(f"**{what}:** " + BINARY_ONLY.format(n=len(view.classes)), icon=":material/info:")
