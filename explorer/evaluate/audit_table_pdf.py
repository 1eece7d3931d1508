"""The table audit's report as a PDF (`audit-table --report OUT.pdf`, the page's PDF download), with reportlab.

The same content as the HTML report (`audit_table_html.py`), from the same report dict: the data summary, the
reading, the causal graph used, each group's rates with their intervals and a bar chart, the fairness measures,
counterfactual fairness, recourse with its worked examples, and the limitations. Charts and the graph are drawn
with reportlab's own vector graphics (no browser, no network, no plotting service).

The text uses the PDF's standard Helvetica, whose encoding (WinAnsi) lacks a few characters the HTML report uses:
arrows become "->", |Δp| becomes |dp|, and any other character outside it (a category name in another script) shows
as "?". A standard font keeps the text searchable and the file small, with no font file to ship. Text from the data
is escaped for reportlab's paragraph markup, so a category called `<b>` prints as itself.
"""

from __future__ import annotations

import io
from html import escape

from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from explorer.evaluate.audit_table_html import GRAPH_BOX, LIMITS, graph_layout, pct
from explorer.evaluate.audit_table_report import (ANSWER_HEADS, FAILED_TITLE, HEADS, SHOWN, answer_rows,
                                                  failed_rows, inputs_sentence, matching_sentence, settings_sentence)

STYLES = getSampleStyleSheet()
BLUE = colors.HexColor("#4c78a8")
WIDTH = A4[0] - 3 * cm  # the frame's width: margins of 1.5 cm
_SWAP = {"→": "->", "Δ": "d", "≥": ">=", "≤": "<=", "“": '"', "”": '"', "’": "'", "\u00a0": " "}


def latin(text: object) -> str:
    """Text Helvetica can draw: the few symbols the reports use spelled out, anything else outside cp1252 as ?."""
    text = str(text)
    for a, b in _SWAP.items():
        text = text.replace(a, b)
    return text.encode("cp1252", "replace").decode("cp1252")


def para(text: object, style: str = "BodyText") -> Paragraph:
    """A paragraph of plain text (escaped: reportlab reads <b> and & as markup)."""
    return Paragraph(escape(latin(text)), STYLES[style])


def table(head: list[str], rows: list[list[object]], widths: list[float] | None = None) -> Table:
    """A grid with a grey header; cells are paragraphs, so long names wrap instead of running off the page."""
    small = STYLES["BodyText"].clone("cell", fontSize=7.5, leading=9)
    cells = [[Paragraph(f"<b>{escape(latin(h))}</b>", small) for h in head]]
    # a tuple cell is lines (a rate, then its interval), so a narrow column breaks it where the reader expects
    cells += [[Paragraph("<br/>".join(escape(latin(x)) for x in (c if isinstance(c, tuple) else (c,))), small)
               for c in row] for row in rows]
    t = Table(cells, colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
                           ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return t


def selection_chart(col: str, groups: dict[str, dict]) -> Drawing:
    """Each group's selection rate as a bar, its interval as a whisker, on a 0-100 % axis."""
    left, width, bar, gap = 130, 300, 12, 6
    height = len(groups) * (bar + gap) + 30
    d = Drawing(left + width + 60, height)
    x = lambda v: left + width * (0 if v is None else v)  # noqa: E731
    for i, (name, g) in enumerate(groups.items()):
        y = height - 10 - (i + 1) * (bar + gap)
        lo, hi, mid = x(g["selection_rate_ci_low"]), x(g["selection_rate_ci_high"]), y + bar / 2
        d.add(String(left - 5, mid - 3, latin(name)[:28], fontSize=8, textAnchor="end"))
        d.add(Rect(left, y, x(g["selection_rate"]) - left, bar, fillColor=BLUE, strokeColor=None))
        d.add(Line(lo, mid, hi, mid, strokeWidth=0.8))
        d.add(Line(lo, y + 2, lo, y + bar - 2, strokeWidth=0.8))
        d.add(Line(hi, y + 2, hi, y + bar - 2, strokeWidth=0.8))
        d.add(String(hi + 4, mid - 3, pct(g["selection_rate"]), fontSize=8))
    d.add(Line(left, 14, left + width, 14, strokeColor=colors.grey))
    for t in (0, 25, 50, 75, 100):
        d.add(String(x(t / 100), 4, f"{t} %", fontSize=7, textAnchor="middle"))
    return d


def graph_drawing(graph: dict) -> Drawing:
    """The causal graph: the HTML report's layout (`graph_layout`), scaled to the page's width."""
    w, h, dx, dy = GRAPH_BOX
    layout = graph_layout(graph)
    layers = 1 + max(a for a, _ in layout.values())
    scale = min(1.0, WIDTH / (layers * dx))
    w, h, dx, dy = w * scale, h * scale * 1.0, dx * scale, dy * scale
    rows = 1 + max(b for _, b in layout.values())
    height = rows * dy + 10
    pos = {n: (5 + a * dx, height - 5 - h - b * dy) for n, (a, b) in layout.items()}  # PDF y runs upward
    d = Drawing(layers * dx + 10, height)
    for a, b in graph["edges"]:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        d.add(Line(x1 + w, y1 + h / 2, x2, y2 + h / 2, strokeColor=colors.grey, strokeWidth=0.6))
        d.add(Polygon([x2, y2 + h / 2, x2 - 5, y2 + h / 2 + 2.5, x2 - 5, y2 + h / 2 - 2.5],
                      fillColor=colors.grey, strokeColor=None))
    for node, (x, y) in pos.items():
        d.add(Rect(x, y, w, h, rx=3, fillColor=colors.HexColor("#eef3fa"), strokeColor=BLUE, strokeWidth=0.6))
        d.add(String(x + w / 2, y + h / 2 - 3, latin(node), fontSize=7.5 * max(scale, 0.8), textAnchor="middle"))
    return d


def _summary(report: dict, card: dict | None) -> list:
    d, o, b = report["data"], report["overall"], report["bootstrap"]
    rows = [["rows", f"{d['rows']:,}"], ["source", d.get("source", "the table")],
            ["decisions from", d.get("predictions", "the model")],
            ["label", f"{d['label']} (positive: {d['positive']})"],
            ["protected columns", ", ".join(d.get("protected", report["groups"]))], ["threshold", d["threshold"]],
            ["overall", f"accuracy {pct(o['accuracy'])}, selection rate {pct(o['selection_rate'])}, base rate "
                        f"{pct(o['base_rate'])}" + (f", AUC {o['auc']:.3f}" if o.get("auc") is not None else "")],
            ["bootstrap", f"{b['n_boot']} replicates, seed {b['seed']}, {b.get('method', '')}"]]
    rows += [[f"model card: {k}", _num(v)] for k, v in (card or {}).items()]
    inputs = inputs_sentence(d.get("model_inputs"))
    failed = failed_rows(d)  # the rows the model failed on, left out of every number
    return [para("Data summary", "Heading2"), table(["", "value"], rows, [4 * cm, WIDTH - 4 * cm]),
            *([para(inputs)] if inputs else []),
            *([para(FAILED_TITLE, "Heading2"), para(failed[0])] if failed else []),
            *([table(["row", "error"], failed[1], [2 * cm, WIDTH - 2 * cm])] if failed and failed[1] else [])]


def _num(v) -> str:
    return str(v) if isinstance(v, bool) or v is None else f"{v:.4f}"


def _group_table(groups: dict[str, dict]) -> Table:
    """Each group's rows and rates, each rate with its interval on a line of its own."""
    rows = [[name, f"{g['count']:,}", *[(pct(g[m]), f"[{pct(g[m + '_ci_low'])}, {pct(g[m + '_ci_high'])}]")
                                         for m in SHOWN]] for name, g in groups.items()]
    widths = [3.0 * cm, 1.2 * cm] + [(WIDTH - 4.2 * cm) / len(SHOWN)] * len(SHOWN)  # an interval on a line
    return table(["group", "rows", *HEADS], rows, widths)


def _groups(report: dict) -> list:
    level = report["bootstrap"]["level"]
    out = [para("Groups", "Heading2"), para(f"Rate [{level:.0%} interval]")]
    for title, section, chart in (("Groups", report["groups"], True),
                                  ("Intersections", report["intersections"], False)):
        for col, groups in section.items():
            out += [para(f"{title}: {col}", "Heading3"), _group_table(groups)]
            out += [Spacer(1, 4), selection_chart(col, groups)] if chart else []
    out.append(para("Fairness differences and ratios", "Heading2"))
    for col, fair in report["fairness"].items():
        verdict = "passes" if fair.get("four_fifths_passes") else "fails"
        out += [para(col, "Heading3"), para(f"Four-fifths rule: the lowest group's selection rate is "
                                            f"{fair['four_fifths_ratio']:.0%} of the highest's; it {verdict} (at "
                                            "least 80% passes)."),
                table(["measure", "value"], [[k, _num(v)] for k, v in fair.items()], [8 * cm, 4 * cm])]
    return out


def _multiclass(report: dict) -> list:
    """A multiclass audit: per class, one against the rest, each group's rates and the fairness measures."""
    mc = report.get("multiclass")
    if mc is None:
        return []
    level = report["bootstrap"]["level"]
    out = [para("Multiclass: each class against the rest", "Heading2"), para(mc["note"] + ".")]
    for c, sec in mc["per_class"].items():
        for col, groups in sec["groups"].items():
            out += [para(f"Class {c} against the rest: {col}", "Heading3"), para(f"Rate [{level:.0%} interval]"),
                    _group_table(groups)]
            if col in sec["fairness"]:
                fair = [[k, _num(v)] for k, v in sec["fairness"][col].items()]
                out += [Spacer(1, 4), table(["measure", "value"], fair, [8 * cm, 4 * cm])]
    return out


def _graph(graph: dict | None) -> list:
    if graph is None:
        return []
    arrows = ", ".join(f"{a} -> {b}" for a, b in graph["edges"])
    return [para("Causal graph used", "Heading2"),
            para(f"The {graph['name']} world's graph: counterfactual fairness and recourse follow these arrows (its "
                 "mechanisms fitted to Adult stand in for a causal model of this table)."),
            graph_drawing(graph), para(f"Arrows: {arrows}.")]


def _cf(cf: dict | None) -> list:
    if cf is None:
        return []
    out = [para("Counterfactual fairness", "Heading2")]
    out += [para(cf["note"])] if "note" in cf else []
    for col, sec in cf.items():
        if not isinstance(sec, dict) or "flip_rate" not in sec:
            continue
        rows = [["all", pct(sec["flip_rate"]), f"{sec['mean_abs_dp']:.4f}", ""]]
        rows += [[g, pct(v["flip_rate"]), f"{v['mean_abs_dp']:.4f}", ""] for g, v in sec.items()
                 if isinstance(v, dict) and "count" in v]
        rows += [[f"path {name}", pct(v["flip_rate"]), f"{v['mean_abs_dp']:.4f}", ", ".join(v.get("cut", []))]
                 for name, v in sec.get("path", {}).items()]
        out += [para(col, "Heading3"), table(["rows", "flip rate", "mean |dp|", "arrows cut"], rows)]
    if "matching" in cf:
        out.append(para(matching_sentence(cf["matching"])))
    if "held_columns" in cf:
        derived = ", ".join(f"{c} (from {v})" for c, v in cf["derived_columns"].items()) or "none"
        out.append(para(f"Held at their factual values: {', '.join(cf['held_columns']) or 'none'}; derived: "
                        f"{derived}. {cf.get('draws', '?')} posterior noise draws per row, seed "
                        f"{cf.get('seed', '?')}."))
    return out


def _recourse(rec: dict | None) -> list:
    if rec is None:
        return []
    out = [para("Recourse", "Heading2"), *[para(f"- {s}") for s in rec.get("reading") or [rec["note"]]]]
    rows = [[name, f"{s['found']} / {s['queries']}", pct(s["success_rate"]), _num(s["cost_median"]),
             _num(s["seconds_median"]), pct(s.get("inconsistent_rate")) if "inconsistent_rate" in s else "-"]
            for name, s in (("causal", rec.get("causal")), ("non-causal", rec.get("noncausal"))) if s]
    if rows:
        out.append(table(["method", "answered", "success", "cost median", "s / row median",
                          "inconsistent with the graph"], rows))
    out += [para(rec["source"])] if rec.get("source") else []
    for ex in rec.get("examples", []):
        lines = [[method, c["column"], c["old"], c["new"], "followed the graph" if c["kind"] == "downstream"
                  else "action"] for method, key in (("causal", "causal"), ("non-causal", "noncausal"))
                 for c in ex[key]["changes"]]
        settings = settings_sentence(ex.get("settings"))
        out.append(KeepTogether([para(f"Row {ex['row']}", "Heading3"), para(ex["sentence"]),
                                 *([para(settings)] if settings else []), table(ANSWER_HEADS, answer_rows(ex)),
                                 Spacer(1, 4), table(["method", "column", "old", "new", "why"], lines)]))
    return out


def to_pdf(report: dict, card_metrics: dict | None = None, compress: bool = True) -> bytes:
    """The report as PDF bytes (`compress=False`: text streams left readable, for tests and grep)."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.5 * cm, title="Table audit", author="Counterfactual Explorer",
                            pageCompression=1 if compress else 0, invariant=1)  # invariant: same bytes each run
    story = [para("Table audit", "Title"), *_summary(report, card_metrics), para("Reading", "Heading2"),
             *[para(f"- {s}") for s in report["reading"]], *_groups(report), *_multiclass(report),
             *_graph(report.get("causal_graph")),
             *_cf(report.get("cf_fairness")), *_recourse(report.get("recourse")), para("Limitations", "Heading2"),
             *[para(f"- {s}") for s in LIMITS]]
    doc.build(story)
    return out.getvalue()
