"""Image what-if: pick a real digit, set some of its causes, see what the models draw and predict."""

import streamlit as st

from explorer import ui

ui.run_through_app()

st.title("What if this digit had been written differently?")
st.markdown("Pick a real handwritten digit, then **set** one of its causes, e.g. *what if it had been "
            "written with a thicker pen?* The model redraws the **same** digit under your change, and "
            "three classifiers say which digit they see, before and after.")
service = ui.load_service()
ui.apply_link(service)
for note in ui.link_notes():
    st.warning(note)

st.subheader("1 · Pick a digit")
index, coloured = ui.sample_picker(service)


@st.fragment
def what_if(index: int, coloured: bool) -> None:
    """Only this part reruns when a slider moves: the controls, the explorer call and its pictures."""
    specs = service.specs(coloured)
    factual = {k: float(v[0]) for k, v in service.row(index, coloured)[1].items()}
    st.subheader("2 · Ask what if")
    controls, shown = st.columns([1, 2.6], gap="medium")
    with controls:
        st.caption("Tick **do(...)** or move a slider to *set* a variable. Variables you leave unticked "
                   "follow their causes: setting only thickness also changes intensity (thicker strokes are "
                   "drawn brighter here), unless you tick intensity too.")
        do = ui.intervention_controls(specs, factual, key=(index, coloured))

    result = service.what_if(index, do, coloured)  # abduction -> action -> prediction

    with shown:
        ui.clamp_notes(result, specs)
        ui.pictures(result)
        ui.downstream_note(result, specs)
        ui.attributes(result, specs)
    st.subheader("3 · What the classifiers see")
    ui.predictions(result)
    st.subheader("4 · The causal graph of this world")
    ui.causal_graph(result, service.worlds[coloured].graph)
    ui.write_link(result.index, coloured, do, specs)


what_if(index, coloured)
