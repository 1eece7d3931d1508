"""The Text what-if page's highlighted texts and tables, as plain data: escaped HTML and data frames.

No Streamlit here, so the tests can check every HTML string for escaping. The page's pictures are inline SVG,
written in `text_view.py`.
"""

from __future__ import annotations

import pandas as pd

from explorer.counterfactual.text import visible
from explorer.services.audit import METRIC_NAMES
from explorer.services.text import TextResult
from explorer.services.text_effects import INTERVALS
from explorer.ui.charts import CF_COLOUR, ORIGINAL_COLOUR

MODELS = (("o", "original model (O)", ORIGINAL_COLOUR), ("cf", "counterfactual model (CF)", CF_COLOUR))
EFFECT_SERIES = (("ate_gt", "ATE_gt: measured on true rewritten texts", "#4e79a7"),
                 ("treate", "TReATE: O vs CF model, no rewriting", CF_COLOUR),
                 ("conexp", "CONEXP: correlation only", ORIGINAL_COLOUR))
# Light marks with their own dark ink: on a dark theme the page's light text would vanish on them.
CHANGED_STYLE = "background:#ffe3c2;color:#31333f;border-radius:3px;padding:0 2px"
REMOVED_STYLE = "background:#fde0dd;color:#31333f;text-decoration:line-through;border-radius:3px;padding:0 2px"
ADDED_STYLE = "background:#d9f0d3;color:#31333f;border-radius:3px;padding:0 2px"
UNREAD_STYLE = "color:#9aa5b1"
# Characters Markdown (or its maths plugin) could act on, as numeric entities: the text is shown verbatim.
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>\"'`*_$[]\\~|#{}"}


def escape(piece: str) -> str:
    """User text made inert for Markdown-with-HTML: entities for HTML and Markdown syntax, <br> for newlines."""
    return "".join(_ENTITIES.get(c, c) for c in piece).replace("\r\n", "\n").replace("\n", "<br>")


def _runs(text: str, marks: list[tuple[int, int, str]], read_chars: int | None):
    """(piece, style or None, read by the models) runs of `text`, cut wherever a mark or the read part ends."""
    cuts = {0, len(text), *(c for start, end, _ in marks for c in (start, end))}
    if read_chars is not None and 0 < read_chars < len(text):
        cuts.add(read_chars)
    cuts = sorted(c for c in cuts if 0 <= c <= len(text))
    for a, b in zip(cuts, cuts[1:]):
        style = next((s for start, end, s in marks if start <= a and b <= end), None)
        yield text[a:b], style, read_chars is None or b <= read_chars


def highlighted_html(text: str, marks: list[tuple[int, int, str]], read_chars: int | None = None) -> str:
    """`text` as one line of HTML, each (start, end, style) mark in its style, the part the models did not
    read in grey. One line with no blank line in it, so Markdown passes it through as a single HTML block."""
    parts = []
    for piece, style, read in _runs(text, marks, read_chars):
        shown = escape(piece)
        if style:
            shown = f'<span style="{style}">{shown}</span>'
        if not read:
            shown = f'<span style="{UNREAD_STYLE}" title="not read by the models">{shown}</span>'
        parts.append(shown)
    return f'<div style="line-height:1.9;font-size:1.05rem">{"".join(parts) or "&nbsp;"}</div>'


def _trim(start: int, piece: str, style: str) -> tuple[int, int, str]:
    """The mark of `piece` (standing at `start`) without its leading and trailing whitespace."""
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + len(piece.rstrip()), style


def original_html(result: TextResult) -> str:
    """The analysed text with the words the counterfactual changes (orange) or removes (struck through)."""
    marks = [_trim(c.start, c.old, CHANGED_STYLE if c.new.strip() else REMOVED_STYLE)
             for c in result.rewrite.changes if visible(c)]
    return highlighted_html(result.obs, marks, result.read_chars)


def counterfactual_html(result: TextResult) -> str:
    """The rewritten text with the words that replaced the original's highlighted (green)."""
    cf = result.rewrite
    marks = [_trim(start, c.new, ADDED_STYLE) for c, (start, _) in zip(cf.changes, cf.cf_spans())
             if visible(c) and c.new.strip()]
    return highlighted_html(cf.text_cf, marks)


def prediction_rows(result: TextResult) -> list[tuple[str, str, str, float]]:
    """(model, on which text, the class it picks, how sure it is) per model and text."""
    rows = [("o", False, "Original model (O)", "on your text"),
            ("cf", False, "Counterfactual model (CF)", "on your text")]
    if result.rewrite.changed:
        rows += [("o", True, "Original model (O)", "on the rewritten text"),
                 ("cf", True, "Counterfactual model (CF)", "on the rewritten text")]
    return [(model, on, *result.top(which, on_cf)) for which, on_cf, model, on in rows]


def prediction_lines(result: TextResult) -> list[str]:
    """One line of plain words per (model, text): what the page's list says."""
    return [f"{model} {on} → {name} ({p:.0%})" for model, on, name, p in prediction_rows(result)]


def shown_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The effects table as the page shows it: readable column names, 3 decimals."""
    names = METRIC_NAMES | {"probe_o": "probe O", "probe_cf": "probe CF", "probe_majority": "probe: majority guess",
                            "realised_bias": "realised bias"}  # the audit names its numbers the same way
    shown = frame[[c for c in frame.columns if c not in INTERVALS]]  # read out in words instead
    return shown.rename(columns=names).astype(float).round(3)
