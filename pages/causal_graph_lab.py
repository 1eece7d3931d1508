"""Causal graph lab: a pendulum scene with known physics, a VAE with a causal layer, arrows you can cut."""

import streamlit as st

from explorer import ui
from explorer.counterfactual.debias import ExportError
from explorer.ui import graph_lab as lab_ui
from explorer.ui import lab_render
from explorer.ui.common.loader import load

ui.run_through_app()

st.title("Causal graph lab: what if the shadow did not follow the light?")
st.markdown("A pendulum hangs under a sun; both cast a shadow on the ground. The model below learned the "
            "scene's **causes** from pictures: which concept drives which (the graph), and how (one small "
            "network per arrow). Set a concept with **do(...)**, or **cut an arrow**, and compare the model's "
            "picture with the **true** one, which the scene's simulator draws from the same scene.")
lab = load(lab_ui.LAB)
view = lab.page()  # the scene range, both graphs, the edge probabilities
# `?scene=…&cut=…&light=…` from a shared link or Back; back from another page, the scene, arrows and do()
# settings as the visitor left them
for note in lab_ui.read_link(view):
    st.warning(note)

st.subheader("1 · Pick a scene")
index = lab_ui.scene_picker(view)

st.subheader("2 · Edit the graph, set concepts")
st.fragment(lab_ui.edge_editor)(view.learned)  # its own fragment: a slider move does not redraw it


@st.fragment
def what_if(index: int) -> None:
    """Only this part reruns when a move ends (a quick slider released, a box ticked): the controls, the explorer
    call, its pictures and the sweep the quick sliders redraw from while they move."""
    edges = lab_ui.current_edges()
    graph_col, controls, shown = st.columns([1.1, 1, 2], gap="medium")
    factual = lab.factual(index)
    with controls:
        do = lab_ui.controls(view.specs, factual)
    lab_ui.write_link(index, edges, view.learned, do, view.specs)  # the address bar: a link to what is on screen
    try:
        result = lab.what_if(index, do, edges)  # abduction -> action -> prediction, in the edited graph
        # the quick slider in use: its positions drawn ahead (cached), so a move redraws in the browser
        sweeps = lab.sweep(index, do, edges, lab_ui.live_sliders(view.specs))
    except ValueError as err:  # CycleError included: a graph that slipped past the editor's check
        st.error(f"**This what-if cannot be answered:** {err}")
        return
    with controls:
        lab_ui.quick_controls(view.specs, factual, do, sweeps, result)
    with shown:
        lab_render.notes(result, view.specs)
        lab_render.pictures(result)
        lab_render.values_table(result, view.specs)
    with graph_col:
        lab_render.causal_graph(edges, view.learned, result.intervened, result.downstream)


what_if(index)

st.subheader("3 · Learned graph and true graph")
lab_render.adjacency(view)

st.subheader("4 · A de-biased dataset")
st.markdown("In real scenes the shadow's position follows the light closely, so a classifier trained on them "
            "can read the light off the shadow. **Cut** that arrow and the model generates scenes where the "
            "two are independent: every real scene gets a light drawn at random, and its shadow keeps its "
            "place. Download the images and their labels as a zip (the same seed gives the same bytes).")


@st.fragment
def export() -> None:
    """Its own fragment: choosing N does not rerun the what-if. A press of the button is one service call."""
    asked = lab_ui.export_controls(view)
    if asked is not None:
        progress = lab_ui.ExportProgress()
        try:
            lab_ui.keep_export(lab.export(asked.cuts, asked.n, asked.seed, progress))
        except ExportError as err:
            st.error(str(err))
            return
        finally:
            progress.close()
    if (done := lab_ui.kept_export()) is not None:
        lab_render.export_view(done)


export()
