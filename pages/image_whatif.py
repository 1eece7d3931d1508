"""Image what-if: pick a real digit, set some of its causes, see what the models draw and predict."""

import streamlit as st

from explorer import ui
from explorer.ui import image_whatif as image_ui
from explorer.ui import render
from explorer.ui.common.loader import load

ui.run_through_app()

st.title("What if this digit had been written differently?")
st.markdown("Pick a real handwritten digit, then **set** one of its causes, e.g. *what if it had been "
            "written with a thicker pen?* The model redraws the **same** digit under your change, and "
            "the shipped classifiers (and any you uploaded or trained on the other pages) say which digit they "
            "see, before and after; two of them learned where colour gives the digit away, one with counterfactuals.")
service = load(image_ui.IMAGE)
view = service.page()  # the picker's range and gallery, both worlds' variables and graphs
for note in image_ui.read_link(view):  # `?index=12&world=colour&thickness=4.5`, a shared link or Back
    st.warning(note)

st.subheader("1 · Pick a digit")
index, coloured = image_ui.sample_picker(view)


@st.fragment
def what_if(index: int, coloured: bool) -> None:
    """Only this part reruns when a move ends (a quick slider released, a box ticked): the controls, the explorer
    call, its pictures and the sweep the quick sliders redraw from while they move."""
    world = view.worlds[coloured]
    controls, shown = st.columns([1, 2.6], gap="medium")
    with controls:
        st.caption("Tick **do(...)** or move a slider to *set* a variable. Variables you leave unticked "
                   "follow their causes: setting only thickness also changes intensity (thicker strokes are "
                   "drawn brighter here), unless you tick intensity too.")
        do = image_ui.controls(world.specs, service.factual(index, coloured), index, coloured)

    readers, others = image_ui.digit_readers()  # the visitor's uploaded classifiers, this session only
    result = service.what_if(index, do, coloured, readers)  # abduction -> action -> prediction
    # the quick slider in use: its positions drawn ahead (cached), so a move redraws in the browser
    sweeps = service.sweep(index, do, coloured, readers, image_ui.live_sliders(world.specs))
    with controls:
        image_ui.quick_controls(world.specs, service.factual(index, coloured), do, sweeps, result, render.NAMES)

    with shown:
        render.clamp_notes(result, world.specs)
        render.pictures(result)
        render.downstream_note(result, world.specs)
        render.attributes(result, world.specs)
    st.subheader("3 · What the classifiers see")
    render.predictions(result)
    image_ui.uploads_note(readers, others)
    image_ui.flip_link(result.index, coloured)
    st.subheader("4 · The causal graph of this world")
    render.causal_graph(result, world.graph)
    image_ui.write_link(result.index, coloured, do, world.specs)


st.subheader("2 · Ask what if")  # outside the fragment: the same on every move, so a move does not send it again
what_if(index, coloured)
