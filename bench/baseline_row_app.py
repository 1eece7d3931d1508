"""Baseline for bench_audit_row: a row number box -> whole-page rerun -> the row's lines and values, with no model.

What the Audit a model page's One row tab draws for a row (its decision, a line per protected column, the Table lab
link, the row's values in an expander), made up from the row number: what Streamlit, the websocket and the browser
cost for the same step.
"""

import streamlit as st

n = st.number_input("Row (0–499)", min_value=0, max_value=499, step=1, key="at_row")
st.markdown(f"**Decision:** >50K (probability {(n * 37 % 100) / 100:.1%})  \n**True outcome:** <=50K")
for col in ("sex", "race"):
    st.markdown(f"Had this person had another **{col}** (everything downstream following), the decision would change "
                f"in **{(n * 13 + len(col)) % 100}%** of the counterfactual draws.")
st.markdown(f"[Open row {n} in the Table lab](/table_lab?row={n}) to change its values and see what follows.")
with st.expander("This row's values"):
    st.dataframe([{"column": f"column {i}", "value": str(n * i)} for i in range(14)], hide_index=True)
