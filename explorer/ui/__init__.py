"""The only Streamlit code in the package: the cached service, widgets built from specs, and rendering.

Pages import this package and stay thin: widgets -> one `explorer` call -> render.
"""

from explorer.ui.loader import load_service, prewarm, run_through_app, sidebar
from explorer.ui.models import classifier_list, model_cards
from explorer.ui.render import (attributes, causal_graph, clamp_notes, downstream_note, example_picture, pictures,
                                predictions)
from explorer.ui.widgets import apply_link, intervention_controls, link_notes, sample_picker, write_link

__all__ = ["apply_link", "attributes", "causal_graph", "clamp_notes", "classifier_list", "downstream_note",
           "example_picture", "intervention_controls", "link_notes", "load_service", "model_cards", "pictures",
           "predictions", "prewarm", "run_through_app", "sample_picker", "sidebar", "write_link"]
