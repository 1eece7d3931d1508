"""Flip a classifier: the smallest real change to a digit that makes a classifier change its mind, found by AIP
and by three baselines side by side, each checked by an independent oracle and, where it exists, the TRUE answer."""

import streamlit as st

from explorer import ui
from explorer.data.upload_onnx import OnnxUploadError
from explorer.services.audit_page import AuditUnavailable
from explorer.services.search import UploadOptions
from explorer.ui import flip as flip_ui
from explorer.ui import flip_audit as audit_ui
from explorer.ui import flip_digit
from explorer.ui.common.loader import load
from explorer.ui.common.uploads import uploads

ui.run_through_app()

st.title("What is the smallest change that flips a classifier?")
st.markdown("Pick a real handwritten digit and a classifier, and ask: *what is the smallest change to this digit "
            "that makes the classifier say something else?* The answer is a **counterfactual**: the same digit, "
            "changed just enough to flip the classifier's mind.")
st.caption("A counterfactual search tries changes and keeps the smallest one that works. AIP changes things a "
           "person can name (the digit, the pen's thickness, the ink's brightness, its colour) and redraws the digit "
           "with the generator, so its answer stays a digit; the three baselines beside it change pixels, only the "
           "handwriting style, or random named attributes. The pixel search's answers are often speckled noise "
           "that fools the classifier but that the oracle, an independent digit reader, does not read as the "
           "target.")
service = load(flip_ui.FLIP)
view = service.page()  # the digit count, the classifiers, what can be kept fixed in each world
for note in flip_ui.read_link(view):  # `?index=3&world=colour&classifier=…&target=8&locks=digit`
    st.warning(note)

st.subheader("1 · Pick a classifier and a digit")
picker = st.container()  # drawn after the upload box below, so that a model just added can be picked at once
digit_box = st.container()  # the digit's own fragment, drawn once the classifier is known
with st.expander("Bring your own classifier (ONNX)", icon=":material/upload:"):
    asked = flip_ui.upload_form()
    if asked is not None:  # "Add this model": the upload's one service call
        data, typed = asked
        try:
            flip_ui.keep_upload(service.add_upload(data, UploadOptions.from_text(**typed)))
        except OnnxUploadError as err:
            flip_ui.upload_refused(err)  # nothing is kept
name = flip_ui.classifier_picker(view, picker)
coloured = flip_digit.world_toggle(picker)
classes = flip_ui.classes_of(view, name)
with digit_box:  # the picked digit and what both readers make of it, before any search; a new digit reruns only it
    index = flip_digit.digit_section(service, view, name, coloured)

tabs = flip_ui.tabs()  # only the open tab runs
if tabs["flip"].open:
    with tabs["flip"]:
        st.subheader("2 · Ask for a flip")
        target, locks = flip_ui.question(view, classes, coloured)
        settings = (index, coloured, name, target, locks)
        if flip_ui.run_button():
            with st.spinner("Searching with AIP and the baselines…", show_time=True):
                result = service.flip(index, name, target, locks, coloured, uploads())  # the tab's one call
            flip_ui.keep(settings, result)
        result = flip_ui.kept(settings)
        flip_ui.write_link(index, coloured, name, target, locks, classes)
        if result is not None:
            st.subheader("3 · The answers, side by side")
            flip_ui.answers(result)
            st.subheader(f"4 · {flip_ui.METHODS[result.lead]}'s answer up close")
            left, right = st.columns(2, gap="large")
            with left:
                flip_ui.changes(result, view.specs[coloured])
            with right:
                flip_ui.true_answer(result)
            flip_ui.path_strip(result)
            flip_ui.image_link(result)
else:
    with tabs["audit"]:  # what flips this model, over many digits: precomputed, or computed for an upload
        world = "colour" if coloured else "grey"
        audit_ui.heading(name, world)
        audits = load(audit_ui.AUDIT)
        flip_ui.write_link(index, coloured, name, None, (), classes, tab="audit")
        if name in view.classifiers:  # shipped: read from assets/audits/ (`make audits`)
            try:
                audit_ui.show(audits.shipped(name, world))  # the tab's one call
            except AuditUnavailable as err:
                audit_ui.missing(err)
        elif (job := audit_ui.request(name, world, uploads()[name])) is not None:  # an upload: on request
            if job.pending:  # new, or interrupted by a widget: the parts done are kept and skipped
                bar = audit_ui.Progress()
                try:
                    job.view = audits.compute(name, world, job.n, uploads(), bar, job.done)  # the tab's one call
                except Exception as err:  # noqa: BLE001 - the visitor's own model failing: said, not a traceback
                    job.error = audit_ui.why(err)  # (Streamlit's stop and rerun are BaseExceptions: they pass)
                bar.close()
            audit_ui.outcome(job)
