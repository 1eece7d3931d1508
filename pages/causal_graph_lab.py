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


@st.fragment(key=lab_ui.WHAT_IF)
def what_if(index: int) -> None:
    """Reruns when a box is ticked (or a move ticks one): the boxes and the graph, and in it the quick sliders'
    fragment and the answer's, which alone reruns when a quick slider's move ends (`lab_ui.moved`)."""
    edges, factual = lab_ui.current_edges(), lab.factual(index)
    graph_col, controls, shown = st.columns([1.1, 1, 2], gap="medium")
    with controls:
        do = lab_ui.controls(view.specs, factual)
    try:
        lab_ui.answer(lab, index, do, edges)  # asked once here: a graph the service refuses is said once
    except ValueError as err:  # CycleError included: a graph that slipped past the editor's check
        st.error(f"**This what-if cannot be answered:** {err}")
        return
    with shown:
        answer(index)
    with controls:  # after the answer: it is drawn before a sweep is computed
        quick(index)
    with graph_col:
        lab_render.causal_graph(edges, view.learned, do)


def _asked(index: int):
    """(edges, do, the answer) as the editor and the controls set them now (one what-if per move)."""
    edges = lab_ui.current_edges()
    do = lab_ui.current_do(view.specs, lab.factual(index))
    return edges, do, lab_ui.answer(lab, index, do, edges)


@st.fragment(key=lab_ui.QUICK_PART)
def quick(index: int) -> None:
    """The quick sliders: each sweeps its positions ahead (cached), so a move redraws in the browser."""
    edges, do, result = _asked(index)
    sweeps = lab.sweep(index, do, edges, lab_ui.live_sliders(view.specs, do))
    lab_ui.quick_controls(view.specs, lab.factual(index), do, sweeps, result, edges, view.learned)


@st.fragment(key=lab_ui.ANSWER)
def answer(index: int) -> None:
    """The answer panel, and in it the link's fragment; reruns on a quick slider's move the browser could not show
    whole from the sweep (a value between its positions)."""
    _, _, result = _asked(index)
    lab_render.clamp_notes(result, view.specs)
    lab_render.answer(result, view.specs)
    link(index)


@st.fragment(key=lab_ui.LINK_PART)
def link(index: int) -> None:
    """The address bar (a link to what is on screen): all a quick slider's move reruns when the browser shows its
    whole answer already (the sweep's, at that very value)."""
    edges, do = lab_ui.current_edges(), lab_ui.current_do(view.specs, lab.factual(index))
    lab_ui.write_link(index, edges, view.learned, do, view.specs)
    lab_ui.applied()


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
