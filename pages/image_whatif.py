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


@st.fragment(key=image_ui.WHAT_IF)
def what_if(index: int, coloured: bool) -> None:
    """Reruns when a box is ticked, the digit's slider moves or the page is reset: the controls and the graph, and
    in it the quick sliders' fragment and the answer's, which alone reruns when a quick slider's move ends."""
    world, factual = view.worlds[coloured], service.factual(index, coloured)
    controls, shown = st.columns([1, 2.6], gap="medium")
    with controls:
        st.caption("Tick **do(...)** or move a slider to *set* a variable. Variables you leave unticked "
                   "follow their causes: setting only thickness also changes intensity (thicker strokes are "
                   "drawn brighter here), unless you tick intensity too.")
        image_ui.controls(world.specs, factual, index, coloured)
        sliders = st.container()  # filled after the answer: the answer is drawn before a sweep is computed
        image_ui.reset_button(world.specs, factual)
    with shown:
        answer(index, coloured)
        image_ui.uploads_note(*image_ui.digit_readers())
        image_ui.flip_link(index, coloured)
    with sliders:
        quick(index, coloured)
    st.subheader("4 · The causal graph of this world")
    render.causal_graph(world.graph, image_ui.current_do(world.specs, factual))


def _asked(index: int, coloured: bool):
    """(world, do, the visitor's digit readers, the answer) as the controls set them now (one what-if per move)."""
    world = view.worlds[coloured]
    do = image_ui.current_do(world.specs, service.factual(index, coloured))
    mine = image_ui.digit_readers()[0]  # the visitor's uploaded classifiers, this session only
    return world, do, mine, image_ui.answer(service, index, coloured, do, mine)


@st.fragment(key=image_ui.QUICK)
def quick(index: int, coloured: bool) -> None:
    """The quick sliders: each sweeps its positions ahead (cached), so a move redraws in the browser."""
    world, do, mine, result = _asked(index, coloured)
    sweeps = service.sweep(index, do, coloured, mine, image_ui.live_sliders(world.specs, do))
    image_ui.quick_controls(world.specs, service.factual(index, coloured), do, sweeps, result, render.NAMES,
                            render.swept(result, world.specs, world.graph))  # the panel's parts, per position


@st.fragment(key=image_ui.ANSWER)
def answer(index: int, coloured: bool) -> None:
    """The pictures, notes and values, and what the classifiers read (two mounts of one element), and the link's
    fragment; reruns on a quick slider's move the browser could not show whole from the sweep."""
    world, _, _, result = _asked(index, coloured)
    render.clamp_notes(result, world.specs)
    render.answer(result, world.specs)
    st.subheader("3 · What the classifiers see")
    render.readers(result)
    link(index, coloured)


@st.fragment(key=image_ui.LINK_PART)
def link(index: int, coloured: bool) -> None:
    """The address bar (a link to what is on screen): all a quick slider's move reruns when the browser shows its
    whole answer already (the sweep's, at that very value)."""
    world = view.worlds[coloured]
    do = image_ui.current_do(world.specs, service.factual(index, coloured))
    image_ui.write_link(index, coloured, do, world.specs)
    image_ui.applied()


st.subheader("2 · Ask what if")  # outside the fragment: the same on every move, so a move does not send it again
what_if(index, coloured)
