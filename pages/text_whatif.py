"""Text what-if: type a text, take a concept out of it, and compare what the original and the counterfactual
CausaLM models say, on your text and on its explicit rewrite."""

import streamlit as st

from explorer import ui
from explorer.services.text import TextInputError
from explorer.ui import text_whatif as text_ui

ui.run_through_app()

st.title("What if this text did not mention it?")
st.markdown("Would a model read a review differently **without its adjectives**, or a sentence differently if the "
            "person in it were **of another gender or race**? Each concept has two models trained for the same task: "
            "the **original** one (O), and a **counterfactual** one (CF) whose text encoder was trained to *forget* "
            "the concept (CausaLM, Feder et al. 2021). Where they disagree, the concept mattered to the original "
            "model. Your text is also **rewritten** without the concept, so you can check the estimate against "
            "what the original model says about the rewrite.")
service = text_ui.shared_text_whatif()
for note in text_ui.apply_link():  # `?concept=…&level=…&text=…` from a shared link, once per session
    st.warning(note)

st.subheader("1 · Choose a concept")
concept, level = text_ui.concept_picker()


@st.fragment
def what_if(concept: str, level: str) -> None:
    """Only this part reruns when the text changes: the text, the explorer call and its result."""
    st.subheader("2 · Type or pick a text")
    text = text_ui.text_input(concept)
    text_ui.write_link(concept, level, text)
    try:
        result = service.analyse(text, concept, level)  # both models on the text and on its rewrite
    except TextInputError as err:
        st.info(str(err))
        return
    text_ui.result_view(result)


if text_ui.load_models(service, concept):
    what_if(concept, level)

st.subheader("3 · The concept's effect, measured on the test set")
text_ui.effects_section(concept, level)

st.subheader("4 · Audit your own texts")
st.fragment(text_ui.audit_section)(service, concept, level)  # its own fragment: an upload does not rerun the what-if
