"""Counterfactual Explorer: navigation and the shared sidebar. Run with `streamlit run app.py`.

`streamlit run` imports this file first to find the server: `app`, Streamlit's own server with one route of ours
added (the Text page's answers, explorer/ui/text_route.py). Each visitor's run then executes it as the page script
(`__main__`).
"""

import streamlit as st

if __name__ != "__main__":  # the server (no Streamlit page is drawn here)
    from explorer.ui.text_route import ROUTES

    app = st.App(__file__, routes=ROUTES)
else:
    from explorer import ui

    st.set_page_config(page_title="Counterfactual Explorer", page_icon="🔀", layout="wide")
    page = st.navigation([
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        # The URL path stays the file name (/image_whatif): on a cold server Streamlit first resolves the
        # requested URL against the pages/ folder, and a custom url_path there pops up "Page not found".
        st.Page("pages/image_whatif.py", title="Image what-if", icon=":material/image:"),
        st.Page("pages/causal_graph_lab.py", title="Causal graph lab", icon=":material/account_tree:"),
        st.Page("pages/text_whatif.py", title="Text what-if", icon=":material/text_fields:"),
        st.Page("pages/flip_classifier.py", title="Flip a classifier", icon=":material/swap_horiz:"),
        st.Page("pages/audit_model.py", title="Audit a model", icon=":material/fact_check:"),
        st.Page("pages/table_lab.py", title="Table lab", icon=":material/table_chart:"),
        st.Page("pages/train_with_counterfactuals.py", title="Train with counterfactuals",
                icon=":material/model_training:"),
    ])
    ui.sidebar()
    page.run()
    # After the page, so its first drawing does not share the cores with the load: the Text page's models then
    # load in the background, and are ready by the time a visitor gets there.
    ui.prewarm()
