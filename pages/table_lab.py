"""Table lab: one person of the Adult census table or of the census world, do() on any column, arrows to cut."""

import streamlit as st

from explorer import ui
from explorer.ui import table_lab as tl
from explorer.ui import table_lab_controls as tlc
from explorer.ui import table_lab_render as render
from explorer.ui.common.loader import load

ui.run_through_app()

st.title("Table lab: what if this person had been a woman?")
st.markdown("Each row of the Adult census table is one person. The **census world** is a causal model fitted to "
            "that table, along a published graph of which column causes which. Pick a person, set any column with "
            "**do(...)**, or **cut an arrow**, and see which other columns would move. For a person of the world "
            "the **TRUE** answer is known (the world keeps each row's noise); for a real person, the world's best "
            "guess is shown.")
lab = load(tl.TABLE)
view = lab.page()  # the columns, the row counts, the published and learned graphs
# `?source=…&row=…&cut=…&sex=…` from a shared link or Back; back from another page, the settings as left
for note in tl.read_link(view):
    st.warning(note)

st.subheader("1 · Pick a person")
person = tl.person_picker(view, lab)

st.subheader("2 · Edit the graph")
editor = st.expander("Arrows: which columns each column reads", key="tl_graph_open", on_change="rerun")
if editor.open:  # drawn when open only: closed, its 11 multi-selects need not be part of every page the browser redraws
    with editor:
        tl.graph_editor(view)


left, right = st.columns([1, 2], gap="medium")


@st.fragment(key=tlc.CONTROLS)
def do_controls(person: tl.Person) -> None:
    """Redrawn when a box is ticked or the controls are reset; a widget's move reruns `what_if` alone."""
    st.markdown("**3 · Set columns with do()**")
    tlc.controls(view, lab.factual(person.source, person.index, person.seed), person)


@st.fragment(key=tlc.ANSWER)
def what_if(person: tl.Person) -> None:
    """The answer to the do() widgets: only this part reruns when one of them moves, or only its link's fragment
    when the answer panel already shows a quick slider's move whole (`tlc.LINK`)."""
    link(person)  # first: a what-if that cannot be answered still has its link
    do = tlc.current_do(view)
    cut, added = tl.current_edits(view)
    sliders = st.container()  # above the answer, filled after it: the answer is drawn before a sweep is computed
    try:
        result = lab.what_if(person.source, person.index, do, cut, added, person.seed)
    except ValueError as err:  # CycleError included: a graph that slipped past the editor's check
        st.error(f"**This what-if cannot be answered:** {err}")
        return
    render.answer(result, view, tlc.QUICK)
    render.notes(result)
    # the quick slider in use: what_if at each of its positions (kept), so its moves redraw in the browser
    sweeps = lab.sweep(person.source, person.index, do, cut, added, person.seed, tlc.live_sliders(view, do))
    with sliders:
        tlc.quick_controls(view, result, do, sweeps, cut, added)


@st.fragment(key=tlc.LINK)
def link(person: tl.Person) -> None:
    """The address bar (a link to what is on screen), and the sliders told their move was applied."""
    tl.write_link(person, view, tlc.current_do(view))
    tlc.echo()


with left:
    do_controls(person)
with right:
    what_if(person)

st.subheader("4 · Published graph and learned graph")
render.graphs(view, person.source, *tl.current_edits(view))

st.subheader("5 · A de-biased table")
st.markdown("In the Adult table, occupation follows sex. **Cut** that arrow and the census world makes a table "
            "where each person's occupation no longer reads their sex: sex is shuffled across the rows and every "
            "column runs again on the rows' own noise. Other paths remain (sex → marital status → occupation), so "
            "the two may stay dependent: the card says which. The same seed gives the same bytes.")


@st.fragment
def export() -> None:
    """Its own fragment: choosing N does not rerun the what-if. A press of the button is one service call."""
    asked = tl.export_controls(view)
    if asked is not None:
        progress = tl.ExportProgress()
        try:
            tl.keep_export(lab.export(asked.cuts, asked.n, asked.seed, progress))
        except ValueError as err:
            st.error(str(err))
            return
        finally:
            progress.close()
    if (done := tl.kept_export()) is not None:
        render.export_view(done)


export()
