"""Baseline for bench_text_page: the same text area -> fragment rerun -> rewrite + bar chart round trip, no model.

Its latency is what Streamlit, the websocket, Plotly and the browser cost on this machine; the text page's
latency minus this is what the explorer call and our rendering add.
"""

import streamlit as st


@st.fragment
def panel() -> None:
    text = st.text_area("text", "My brother was furious about the letter.", key="text_input", height=110)
    st.markdown(f"**Your text**: {text}")
    st.markdown(f"**Rewrite**: {text.replace('brother', 'sister')}")
    bars = [len(text) % 7 / 10, 0.2, 0.3, 0.1]  # changes with the text, like the models' probabilities
    st.plotly_chart({"data": [{"type": "bar", "x": ["anger", "fear", "joy", "sadness"], "y": bars, "name": m}
                              for m in ("O", "CF")], "layout": {"height": 260, "barmode": "group"}},
                    key="bars", config={"displayModeBar": False, "staticPlot": True})


panel()
