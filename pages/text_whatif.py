"""Text what-if: type a text, take a concept out of it, and compare what the original and the counterfactual
CausaLM models say, on your text and on its explicit rewrite."""

import streamlit as st

from explorer import ui
from explorer.services.audit import AuditError
from explorer.services.text import TextInputError
from explorer.ui import text_audit, text_drafts
from explorer.ui import text_whatif as text_ui
from explorer.ui.common.loader import load

ui.run_through_app()

st.title("What if this text did not mention it?")
st.markdown("Would a model read a review differently **without its adjectives**, or a sentence differently if the "
            "person in it were **of another gender or race**? Each concept has two models trained for the same task: "
            "the **original** one (O), and a **counterfactual** one (CF) whose text encoder was trained to *forget* "
            "the concept (CausaLM, Feder et al. 2021). Where they disagree, the concept mattered to the original "
            "model. Your text is also **rewritten** without the concept, so you can check the estimate against "
            "what the original model says about the rewrite.")
service = load(text_ui.TEXT)  # quick: each concept's models load when the concept is first shown
for note in text_ui.read_link():  # `?concept=…&level=…&text=…` from a shared link or Back
    st.warning(note)

st.subheader("1 · Choose a concept")
concept, level, level_column = text_ui.concept_picker()
view = service.page(concept, level)  # the examples, the measured effects, the audit's models
text_ui.level_caption(level_column, level, view)


@st.fragment
def what_if(concept: str, level: str) -> None:
    """Only this part reruns when the text changes: the text, the explorer call and its result."""
    text = text_ui.text_area()
    try:
        result = text_ui.answer(service, text, concept, level)  # both models on the text and on its rewrite
    except TextInputError as err:
        st.info(str(err))
    else:
        text_ui.result_view(result)  # a draft's answer is drawn in its st.html before the rerun's (text_drafts)
    # Last: the browser handles the address bar's change before the messages after it (~15-20 ms a text)
    text_ui.write_link(concept, level, text, view)


if load(text_ui.TEXT, part=concept, stop=False) is not None:  # the concept's models, or the card saying why not
    st.subheader("2 · Type or pick a text")  # outside the fragment: not sent again on every text
    text_ui.example_picker(view)  # outside too: a pick reruns the page, a typed text only the fragment
    what_if(concept, level)
    text_drafts.drafts(service, concept, level)  # answers asked for while the visitor pauses in typing

st.subheader("3 · The concept's effect, measured on the test set")
text_ui.effects_section(view, level)

st.subheader("4 · Audit your own texts")


@st.fragment
def audit() -> None:
    """Its own fragment: an upload does not rerun the what-if. A new file (or model) is one service call."""
    asked = text_audit.audit_controls(view)
    if asked is None:
        return
    upload, model = asked
    report = text_audit.kept_report(upload, model)
    if report is None:
        if load(text_ui.TEXT, part=text_audit.model_concept(model), stop=False) is None:
            return  # the model's card says why
        progress = text_audit.AuditProgress()
        try:
            report = service.audit(upload.getvalue(), model, text_audit.PAGE_MAX_ROWS, progress)
        except AuditError as err:
            text_audit.cannot_audit(err)
            return
        finally:
            progress.close()
        text_audit.keep_report(upload, model, report)
    text_audit.report_view(report)


audit()
