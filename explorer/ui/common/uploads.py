"""A visitor's uploaded classifiers, shared by the pages of their session.

The Flip page checks and adds them (`FlipService.add_upload`); the Image what-if page asks them too. They live in
the visitor's session only: never written to disk, never seen by another visitor, gone when the session ends.
"""

from __future__ import annotations

import streamlit as st

from explorer.interfaces import Classifier

KEY = "_flip_uploads"  # session key: {name: classifier} (the Flip page's name for it, which tests read)


def uploads() -> dict[str, Classifier]:
    """This visitor's uploaded classifiers, by name (empty until they add one on the Flip page)."""
    return st.session_state.setdefault(KEY, {})
