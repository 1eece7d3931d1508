"""The part-of-speech tag set of the reviews' control task, shared by the data, the model and its training."""

from __future__ import annotations

# Universal POS tags kept by the control head of the adjectives setting (ADJ itself is left out on purpose:
# the control head must not ask the encoder to keep the very concept the adversary removes).
POS_CONTROL = ("NOUN", "VERB", "ADV", "PRON", "DET", "ADP", "PUNCT", "PROPN", "AUX", "CCONJ", "OTHER")
IGNORE = -100  # the label PyTorch's cross-entropy skips


def pos_index(tag: str) -> int:
    """A Universal POS tag to the control head's class; ADJ is IGNORE (see POS_CONTROL)."""
    if tag == "ADJ":
        return IGNORE
    return POS_CONTROL.index(tag) if tag in POS_CONTROL else POS_CONTROL.index("OTHER")
