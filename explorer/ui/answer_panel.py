"""The answer panel (assets/image_panel/): a what-if page's results drawn as ONE element whose own script redraws,
in place, only the parts whose data changed, and swaps them from a quick slider's sweep while the slider moves.

Used by the Image what-if page (explorer/ui/render.py: its parts from explorer/ui/image_answer.py), the Causal
graph lab (explorer/ui/lab_render.py: from explorer/ui/lab_answer.py) and the Table lab (explorer/ui/
table_lab_render.py: from explorer/ui/table_lab_answer.py). Why one element: docs/performance.md, "Where
a class's CPU goes" (each element a move re-sends is re-rendered by the browser, changed or not).
"""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.components.v2 import component

from explorer.ui import quick_sliders

_PANEL = Path(__file__).resolve().parents[2] / "assets" / "image_panel"
_COMPONENT = component(
    "explorer_image_panel", html=(_PANEL / "image_panel.html").read_text(),
    css=(_PANEL / "image_panel.css").read_text(), js=(_PANEL / "image_panel.js").read_text(),
    isolate_styles=False)  # no shadow root: tests and benchmarks read its pictures and text as the page's own


def mount(key: str, parts: dict, notes: dict[str, str], follow: str = quick_sliders.KEY, look: str = "",
          whole: bool = False) -> None:
    """One mount of the panel: its parts, the notes under them, the quick sliders it follows (their component key)
    and the number of their last move applied, its look ("" digits: four 28 px pictures; "scenes": three 64 px
    scenes; "records": the Table lab's table), and whether the sweep's parts are the page's whole answer (`whole`: a step at a swept value is then
    final, not stale until a rerun). As JSON text: a str goes to the browser as it is, a dict Streamlit would walk
    for dataframes."""
    data = {"parts": parts, "notes": notes, "follow": follow, "applied": quick_sliders.applied(follow), "look": look,
            "whole": whole}
    _COMPONENT(key=key, data=json.dumps(data, separators=(",", ":")))
