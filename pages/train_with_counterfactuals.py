"""Train with counterfactuals: a classifier learns the colour shortcut where colour follows the digit, and
counterfactual images (the same digit in other colours, or another digit in the same colour) unlearn it."""

import streamlit as st

from explorer import ui
from explorer.ui import cf_training as cf
from explorer.ui.common.loader import load

ui.run_through_app()

st.title("Train with counterfactuals")
st.markdown("In this world a digit's **colour** usually follows the digit: at strength 0.99, 99 of 100 training "
            "3s wear the 3s' colour. A classifier trained there can get the answer from the colour alone, and "
            "does: shown digits coloured at random, it fails. **Counterfactual** images, the same digit redrawn "
            "in another colour by a generator, teach it that colour is not the digit.")
service = load(cf.CF)
cf.link_notes(cf.read_link())  # `?strength=0.99&methods=erm,cf_regularise`: what was wrong with it


@st.fragment
def by_strength() -> None:
    """Sections 1-2 of each strength, one tab a strength, and the link: a change of strength opens a tab drawn
    already, then reruns only this fragment, which writes the link (bench/bench_train_page.py)."""
    for strength, tab in cf.strength_tabs():  # the open tab first: it is drawn before the others
        with tab:
            st.subheader(f"1 · The training data at strength {strength:g}")
            cf.training_data(service, strength)  # the samples and the confounding matrix
            st.subheader(f"2 · The counterfactuals the methods train with at strength {strength:g}")
            cf.examples(service, strength)
    cf.write_link(cf.chosen_strength(), cf.chosen_methods())  # the only link write: a full run runs this too


by_strength()
st.subheader("3 · What the grid of trained models found")
cf.results(service.results())
st.subheader("4 · Train now")
methods = cf.method_picker()
if cf.train_button(methods):
    try:
        cf.started(service.submit(cf.chosen_strength(), methods))  # queued behind any other visitor's training
    except ValueError as err:
        cf.refused(err)
cf.live(service)
