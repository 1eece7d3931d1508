"""Home: what a counterfactual is, one live example, the shipped models and the device."""

import streamlit as st

from explorer import ui
from explorer.device import describe

ui.run_through_app()

st.title("Counterfactual Explorer")
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

service = ui.load_service(stop=False)
if service is not None:
    result = service.what_if(0, {"thickness": 5.0})  # one live explorer call: do(thickness = 5 px)
    ui.example_picture(result)
st.page_link("pages/image_whatif.py", label="Try it yourself on the Image what-if page", icon=":material/image:")
st.page_link("pages/text_whatif.py", label="Or ask it of a text: the Text what-if page", icon=":material/text_fields:")

st.header("The models shipped with the app")
if service is not None:
    ui.classifier_list(service.classifiers)
ui.model_cards()

st.header("Where it runs")
device = service.device if service is not None else None
st.markdown(f"The models run on **{describe(device) if device is not None else 'not loaded yet'}**.")
