"""Home: what a counterfactual is, one live example, the shipped models and the device."""

import streamlit as st

from explorer import ui
from explorer.device import describe
from explorer.paths import PRETRAINED
from explorer.registry import model_cards
from explorer.ui.common.link import ignored
from explorer.ui.common.loader import load
from explorer.ui.image_whatif import IMAGE
from explorer.ui.models import classifier_list, model_cards as show_cards
from explorer.ui.render import example_picture

ui.run_through_app()

st.title("Counterfactual Explorer")
for note in ignored(st.query_params.to_dict(), ()):  # this page reads nothing from its address: a link is told so
    st.warning(note)
st.markdown("""
A **counterfactual** answers *"what would have happened if …?"* about **one particular case**, not about
cases on average. Take one handwritten digit: *what would this very digit have looked like if its writer
had used a thicker pen?* Answering takes three steps:

1. **Look closely** (*abduction*). Work out everything particular to this digit that we cannot see
   directly: the writer's hand, the exact path of the stroke, how hard they pressed.
2. **Change one thing** (*action*). Set the pen thickness to the new value, overriding whatever
   normally decides it. This is written **do(thickness = 5)**.
3. **Replay** (*prediction*). Let everything that depends on thickness follow, keep all the particulars
   from step 1, and redraw the digit.

Because the particulars are kept, the answer is the *same* digit, changed only where the change leads.
""")

service = load(IMAGE, stop=False)  # without the models, the page still explains and lists what is there
if service is not None:
    example_picture(service.what_if(0, {"thickness": 5.0}))  # one live explorer call: do(thickness = 5 px)
st.page_link("pages/image_whatif.py", label="Try it yourself on the Image what-if page", icon=":material/image:")
st.page_link("pages/text_whatif.py", label="Or ask it of a text: the Text what-if page", icon=":material/text_fields:")
st.page_link("pages/flip_classifier.py", label="Find the smallest change that flips a classifier",
             icon=":material/swap_horiz:")
st.page_link("pages/audit_model.py", label="Audit a model on a table: group and counterfactual fairness",
             icon=":material/fact_check:")
st.page_link("pages/table_lab.py", label="Ask it of a census record: what if this person had been a woman?",
             icon=":material/table_chart:")
st.page_link("pages/train_with_counterfactuals.py", label="Watch a model learn a shortcut, and counterfactuals "
             "unlearn it", icon=":material/model_training:")

st.header("The models shipped with the app")
view = service.page() if service is not None else None
if view is not None:
    classifier_list(view.classifiers)
show_cards(model_cards(PRETRAINED), PRETRAINED)

st.header("Where it runs")
st.markdown(f"The models run on **{describe(view.device) if view is not None else 'not loaded yet'}**.")
