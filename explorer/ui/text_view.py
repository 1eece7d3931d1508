"""The Text what-if page's two views, each one element: the result, one HTML element (the text and its rewrite
side by side, the rewrite's rule, both models' answers in words and as bars, SVG pictures as data: URIs), and the
concept's measured effects, one Markdown element (their reading, grouped bars as inline SVG, the table).

Why one element and no Plotly: the result is redrawn on every Ctrl+Enter. Profiled on the 2-core machine
(docs/performance.md, "Text what-if"), the old result was 3 layout blocks, 7 Markdown elements and a Plotly
chart, 20 websocket messages per text, and the browser's main thread worked ~210 ms per text (the no-model
baseline page: ~40 ms). One Markdown string costs the server well under a millisecond and the browser one
parse. Nothing is lost: the Plotly chart was static (no hover, no zoom) and its numbers are in the sentences
above it. The effects section (outside the what-if fragment, unchanged by a text) is one static element too:
its Plotly chart was static as well, and its data grid held three rows. Measured against the Plotly chart and
the grid, it made no difference to a text's cost beyond the runs' noise (docs/performance.md, "Where the rest
goes"); it is kept for the page's simplicity, not its speed.

Why the result is HTML (`st.html`), not Markdown: the browser then sets it as it is, where Markdown with HTML is
parsed twice (Markdown, then its HTML) on every text: 14-17 ms less script a text, and 2-14 ms less latency
(docs/performance.md, "Text what-if"). `st.html` sanitises what it shows and keeps no inline SVG, so the bars
are pictures (data: URIs) in fixed ink (svg_charts.INK, as the Image page's) on a white card, so that a dark
theme does not hide their labels.

Security: the visitor's text reaches HTML only through `text_charts.escape` (HTML and Markdown syntax as
numeric entities); every other string in the HTML here (titles, class names from a model card) goes through
`html.escape`, and so do the Markdown blocks (&, < and >); a picture's SVG is quoted into its data: URI
(`_URI_ESCAPES`: no quote or angle bracket left). No Streamlit here, so the tests can read the string.
"""

from __future__ import annotations

import html
import math
import re

import pandas as pd

from explorer.counterfactual.text import RULES
from explorer.services.text import TextResult
from explorer.services.text_effects import num
from explorer.ui.svg_charts import INK
from explorer.ui.text_charts import EFFECT_SERIES, MODELS, counterfactual_html, original_html, prediction_rows

REWRITE_TITLES = {"adjectives": "Without its adjectives", "gender": "With the other gender",
                  "race": "With a name of the other race"}
CHART_ID = "text-probabilities"  # the picture's id: the bench waits for it, tests find it
EFFECTS_ID = "text-effects"
FONT = "Source Sans Pro, Segoe UI, Helvetica, Arial, sans-serif"
BACKGROUND = "<rect width='100%' height='100%' rx='6' fill='#ffffff'/>"
GRID, MUTED = "#e6e9ef", "#808495"  # the labels take the page's text colour (currentColor): light or dark theme

# A bar panel, in SVG user units: it scales down to its column (phones), never up past these.
PANEL_W, AXIS_W, PANEL_GAP = 300.0, 40.0, 18.0
TOP, BARS_H, LABELS_H, LEGEND_H = 26.0, 150.0, 22.0, 28.0


def _label(x: float, y: float, words: str, size: int = 12, anchor: str = "start", fill: str | None = None,
           bold: bool = False) -> str:
    # font and ink are the picture's (set once on <svg>): fewer bytes per move
    extra = (f" fill='{fill}'" if fill else "") + (" font-weight='bold'" if bold else "")
    return (f"<text x='{x:.0f}' y='{y:.0f}' font-size='{size}' text-anchor='{anchor}'{extra}>"
            f"{html.escape(words)}</text>")


def _panel(left: float, title: str, classes: tuple[str, ...], bars: list[tuple[list[float], str]]) -> list[str]:
    """One panel: its title, the labelled 0/50/100 % grid, a group of bars per class."""
    out = [_label(left + PANEL_W / 2, TOP - 10, title, 13, "middle", bold=True)]
    for frac in (0.0, 0.5, 1.0):
        y = TOP + BARS_H * (1 - frac)
        out.append(f"<line x1='{left:.1f}' x2='{left + PANEL_W:.1f}' y1='{y:.1f}' y2='{y:.1f}' stroke='{GRID}'/>")
        out.append(_label(left - 6, y + 4, f"{frac:.0%}", 11, "end", MUTED))
    slot = PANEL_W / len(classes)  # one class's bars and the air around them
    width = slot * 0.8 / len(bars)
    for k, name in enumerate(classes):
        x0 = left + k * slot + slot * 0.1
        for j, (values, colour) in enumerate(bars):
            h = BARS_H * min(max(float(values[k]), 0.0), 1.0)  # (C,) probabilities; clipped against rounding
            out.append(f"<rect x='{x0 + j * width:.1f}' y='{TOP + BARS_H - h:.1f}' width='{width:.1f}' "
                       f"height='{h:.1f}' fill='{colour}'/>")
        out.append(_label(left + (k + 0.5) * slot, TOP + BARS_H + 15, name, 12, "middle"))
    return out


def _svg(width: float, height: float, parts: list[str], label: str, ink: str = "currentColor") -> str:
    # fixed ink (a picture cannot take the page's colour) sits on a white card, readable on a dark theme too
    card = [BACKGROUND] if ink != "currentColor" else []
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' width='{width:.0f}' "
            f"style='max-width:100%;height:auto' font-family='{FONT}' fill='{ink}' role='img' "
            f"aria-label='{html.escape(label)}'>"
            + "".join(card + parts) + "</svg>")


# What a data: URI inside a single-quoted attribute must escape; the rest of the SVG stays readable.
_URI_ESCAPES = {c: f"%{ord(c):02X}" for c in "%#'\"<>\n"}


def _picture(svg: str, label: str) -> str:
    """An SVG as an <img> with a data: URI (st.html keeps these, not inline SVG)."""
    data = "".join(_URI_ESCAPES.get(c, c) for c in svg)
    return (f"<img src='data:image/svg+xml;charset=utf-8,{data}' alt='{html.escape(label)}' "
            "style='max-width:100%;height:auto'>")


def probability_html(result: TextResult) -> str:
    """Grouped bars, O vs CF model, per class: one panel for the text and one for its rewrite (if any), then a
    legend. Each panel is its own small picture with the same 0-100 % axis, side by side where they fit and
    one under the other on a phone, where one wide picture would shrink its labels to a few pixels."""
    panels = [("Your text", 0)] + ([("Rewritten text", 1)] if result.rewrite.changed else [])
    width, height = AXIS_W + PANEL_W + 6, TOP + BARS_H + LABELS_H
    pictures = []
    for title, on in panels:  # on: 0 = the models on the text, 1 = on its rewrite
        bars = [(list(result.probs[which][on]), colour) for which, _, colour in MODELS]
        label = f"{title}: each class's probability under both models"
        pictures.append(_picture(_svg(width, height, _panel(AXIS_W, title, result.classes, bars), label, INK), label))
    legend, x = [], AXIS_W
    for _, name, colour in MODELS:
        legend.append(f"<rect x='{x:.1f}' y='4' width='14' height='12' fill='{colour}'/>")
        legend.append(_label(x + 20, 15, name, 12))
        x += 20 + 6.2 * len(name) + 16
    return (f"<div id='{CHART_ID}' style='display:flex;flex-wrap:wrap;column-gap:{PANEL_GAP:.0f}px'>"
            + "".join(pictures) + _picture(_svg(x, LEGEND_H - 6, legend, "legend", INK), "legend") + "</div>")


def _column(title: str, words: str, body: str) -> str:
    return (f"<div style='flex:1 1 18rem;min-width:0'><p><strong>{html.escape(title)}</strong> "
            f"{html.escape(words)}</p>{body}</div>")


def _inline(words: str) -> str:
    """Our own words with **bold** and *italic* parts as HTML (the readings and rules are written for Markdown)."""
    bold = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(words))
    return re.sub(r"\*(?=\S)(.+?)(?<=\S)\*", r"<em>\1</em>", bold)


def result_html(result: TextResult) -> str:
    """Everything the what-if shows for one text, as one HTML string (for st.html): the two texts (they wrap
    into one column on a phone), the rule as a small grey line, the predictions as a list (one line per model
    and text, `prediction_lines` in words), the reading in words, and the bars (`probability_html`)."""
    texts = ("<div style='display:flex;flex-wrap:wrap;column-gap:1.5rem'>"
             + _column("Your text", "(the rewrite changes the marked words)", original_html(result))
             + _column(REWRITE_TITLES[result.concept], "(the rewrite's new words marked)", counterfactual_html(result))
             + "</div>")
    rule = f"The rewrite: {RULES[result.concept]}." + (f" {result.rewrite.note}" if result.rewrite.changed else "")
    items = "".join(f"<li><strong>{html.escape(model)}</strong> {on} → <strong>{html.escape(name)}</strong> ({p:.0%})"
                    "</li>" for model, on, name, p in prediction_rows(result))
    return (texts + f"<p style='font-size:0.875rem;color:{MUTED};margin:0.25rem 0 0.75rem'>{_inline(rule)}</p>"
            f"<ul>{items}</ul><p>{_inline(result.reading())}</p>" + probability_html(result))


# --- the measured effects ----------------------------------------------------------------------------------
EFFECT_W, EFFECT_H = 520.0, 170.0  # the bars' area; the axis, values and level names around it
# Tops the y axis can have: effects span 0.001-0.5, so the axis fits the largest bar instead of fixing 0-1.
NICE_TOPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def _axis_top(values: list[float]) -> float:
    biggest = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    return next((t for t in NICE_TOPS if biggest <= t), math.ceil(biggest * 10) / 10)


def effects_svg(frame: pd.DataFrame, level: str | None = None) -> str:
    """ATE_gt, TReATE and CONEXP per bias level (rows of `frame`) as grouped bars, each bar's value written
    above it, the chosen level's name in bold; then a legend. A missing number draws no bar and says n/a."""
    series = [(key, name, colour) for key, name, colour in EFFECT_SERIES if key in frame]
    values = [float(v) for key, _, _ in series for v in frame[key]]  # NaN where not measured
    top = _axis_top(values)
    left, head, labels = 48.0, 18.0, 36.0
    parts = []
    for frac in (0.0, 0.5, 1.0):
        y = head + EFFECT_H * (1 - frac)
        parts.append(f"<line x1='{left:.0f}' x2='{left + EFFECT_W:.0f}' y1='{y:.1f}' y2='{y:.1f}' stroke='{GRID}'/>")
        parts.append(_label(left - 6, y + 4, f"{top * frac:g}", 11, "end", MUTED))
    slot = EFFECT_W / max(len(frame.index), 1)  # one level's bars and the air around them
    width = slot * 0.75 / max(len(series), 1)
    for k, lv in enumerate(frame.index):
        x0 = left + k * slot + slot * 0.125
        for j, (key, _, colour) in enumerate(series):
            v = float(frame[key].iloc[k])
            x = x0 + j * width
            if math.isfinite(v):
                h = EFFECT_H * min(abs(v) / top, 1.0)
                parts.append(f"<rect x='{x:.1f}' y='{head + EFFECT_H - h:.1f}' width='{width - 2:.1f}' "
                             f"height='{h:.1f}' fill='{colour}'/>")
            else:
                h = 0.0
            parts.append(_label(x + width / 2 - 1, head + EFFECT_H - h - 4, num(v), 10, "middle", MUTED))
        parts.append(_label(left + (k + 0.5) * slot, head + EFFECT_H + 18, str(lv), 12, "middle", bold=lv == level))
    parts.append(_label(left + EFFECT_W / 2, head + EFFECT_H + labels - 2, "bias of the task model's training data",
                        11, "middle", MUTED))
    parts.append(f"<text x='12' y='{head + EFFECT_H / 2:.0f}' font-size='11' fill='{MUTED}' text-anchor='middle' "
                 f"transform='rotate(-90 12 {head + EFFECT_H / 2:.0f})'>mean |change in probability|</text>")
    chart = _svg(left + EFFECT_W + 6, head + EFFECT_H + labels + 4, parts,
                 "ATE_gt, TReATE and CONEXP for each bias level")
    legend, y = [], 14.0
    for _, name, colour in series:  # one per line: the names are long
        legend.append(f"<rect x='{left:.0f}' y='{y - 11:.0f}' width='14' height='12' fill='{colour}'/>")
        legend.append(_label(left + 20, y, name, 12))
        y += 20
    return (f"<div id='{EFFECTS_ID}'>" + chart + _svg(left + EFFECT_W + 6, y - 4, legend, "legend") + "</div>")


def effects_table_markdown(table: pd.DataFrame) -> str:
    """A Markdown table of `table` (levels as rows): names escaped, numbers as they are, n/a where missing."""
    cells = [[str(table.index.name or "level"), *map(str, table.columns)]]
    cells += [[str(lv), *("n/a" if pd.isna(v) else f"{v:.3f}" for v in row)] for lv, row in table.iterrows()]
    lines = ["| " + " | ".join(html.escape(c, quote=False).replace("|", "&#124;") for c in row) + " |"
             for row in cells]
    lines.insert(1, "|" + "---|" * len(cells[0]))
    return "\n".join(lines)


def effects_markdown(reading: str, frame: pd.DataFrame, table: pd.DataFrame, level: str, caption: str) -> str:
    """The effects section as one Markdown string: the reading (the service's Markdown), the bars, the table
    and the caption."""
    return "\n\n".join([reading, effects_svg(frame, level), effects_table_markdown(table),
                         f":small[:gray[{html.escape(caption, quote=False)}]]"])
