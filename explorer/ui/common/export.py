"""What the two export panels share (Causal graph lab, Table lab): the button that asks and what it asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import streamlit as st


@dataclass(frozen=True)
class ExportAsk:
    """What the visitor asked the export for: the arrows to cut (as the page's service takes them), N, the seed."""

    cuts: list
    n: int
    seed: int


def export_button(label: str, key: str, flag: str) -> bool:
    """The export's button. The click is also kept in the session under `flag` by a callback: a button's one-run
    True can be lost in a fragment's rerun (it was in AppTest runs), the session flag is not."""
    return st.button(label, key=key, icon=":material/dataset:", on_click=st.session_state.__setitem__,
                     args=(flag, True))


def export_asked(clicked: bool, flag: str, cuts: Sequence, n: int, seed: int) -> ExportAsk | None:
    """What was asked, when the button was pressed (`clicked`, or its kept `flag`); a warning instead of an
    export that would copy the bias when no arrow is chosen."""
    if not (st.session_state.pop(flag, False) or clicked):
        return None
    if not cuts:
        st.warning("Choose at least one arrow to cut: without a cut the export would copy the bias.")
        return None
    return ExportAsk(list(cuts), int(n), int(seed))
