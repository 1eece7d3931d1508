"""Streamlit pieces of the page "Audit a model" split from `audit_table.py`: an upload's text encoding and the
causal model of counterfactual fairness.

Keys: `atopt_encoding` (drawn under the uploader once a CSV upload was refused as not UTF-8, while it is the upload) and `atopt_causal` (the census world or the learned VAE). Both are outside the link's widgets (`at_...`):
an upload is never in a link, and a link audits through the census world.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from explorer.services.audit_table_data import ENCODINGS, NOT_UTF8
from explorer.services.audit_table_page import LEARNED, WORLD, AuditRequest

ENCODING, CAUSAL = "atopt_encoding", "atopt_causal"
_NEEDED = "_atopt_encoding_for"  # the upload (name, size) refused as not UTF-8: the picker stays for it
CAUSAL_MODELS = {WORLD: "the census world (default)", LEARNED: "learned from Adult (census-vae-adult)"}


def _upload_id(upload: tuple[str, bytes]) -> tuple[str, int]:
    return upload[0], len(upload[1])


def encoding_picker(upload: tuple[str, bytes] | None) -> str | None:
    """The encoding to read the uploaded CSV in (None: UTF-8, or UTF-16 by its byte-order mark). The "Encoding"
    select box is drawn only for the upload refused as not UTF-8 (`needs_encoding`), on every run while it is the
    upload, so Streamlit keeps the choice; another upload starts again from UTF-8 (never read in an old guess)."""
    state = st.session_state
    if upload is None or state.get(_NEEDED) != _upload_id(upload):
        state.pop(ENCODING, None)
        return None
    label = st.selectbox("Encoding", list(ENCODINGS), key=ENCODING,
                         help="The text encoding the CSV was saved in: the file is read again in it. Excel in "
                              "Western Europe saves \"CSV\" as Windows-1252; \"Unicode text\" is UTF-16.")
    return ENCODINGS[label]


def needs_encoding(upload: tuple[str, bytes] | None, message: str) -> bool:
    """True (once per upload) when `message` refuses it as not UTF-8 and the picker is not drawn yet: the page
    reruns, and `encoding_picker` offers the encodings under the uploader."""
    if upload is None or NOT_UTF8 not in message or st.session_state.get(_NEEDED) == _upload_id(upload):
        return False
    st.session_state[_NEEDED] = _upload_id(upload)
    return True


def refusal(upload: tuple[str, bytes] | None, message: str) -> str:
    """The refusal of an upload, with where to choose its encoding when it is not UTF-8 (the picker is drawn)."""
    if upload is None or NOT_UTF8 not in message or st.session_state.get(_NEEDED) != _upload_id(upload):
        return message
    return (f"{message} Or choose the encoding it was saved in under \"Encoding\", below the upload (Windows-1252 for "
            "most CSV files from Excel in Western Europe).")


def causal_model(request: AuditRequest, predictions: bool) -> AuditRequest:
    """The request with the causal model of counterfactual fairness chosen (asked only when counterfactual
    fairness is on, a model is asked (a predictions column has none) and the label has two values (a
    multiclass label is audited one class against the rest, without counterfactual fairness or recourse: no
    positive decision is chosen for it))."""
    if not request.cf or predictions or request.positive is None:
        return request
    st.session_state.setdefault(CAUSAL, WORLD)
    chosen = st.radio("Causal model", list(CAUSAL_MODELS), format_func=CAUSAL_MODELS.get, key=CAUSAL,
                      horizontal=True,
                      help="The census world: a hand-built graph with mechanisms fitted to Adult. Learned: the "
                           "Table lab's VAE trained on Adult's rows, its own graph (slower than the "
                           "census world).")
    st.caption("Counterfactual fairness and **Find recourse** (One row tab) follow the causal model chosen here.")
    return replace(request, causal_model=str(chosen))
