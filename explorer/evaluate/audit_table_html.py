"""The table audit's report as one self-contained HTML file a person can hand on.

Inline CSS, charts drawn here as inline SVG from the report's numbers; no JavaScript and no external URL, so
the file opens the same offline, in a mail client or in an archive. Every piece of text that comes from the
data or the user (column, category and file names, notes) goes through `html.escape`. The sentences are the
ones the Markdown report shows (`report["reading"]`, built by audit_table_report.reading): one wording for
both formats.
"""

from __future__ import annotations

from html import escape

from explorer.evaluate.audit_table_report import (ANSWER_HEADS, FAILED_TITLE, HEADS, SHOWN, answer_rows,
                                                  failed_rows, inputs_sentence, matching_sentence, settings_sentence)
from explorer.metrics.group_fairness import FOUR_FIFTHS

CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem}
td.n{text-align:right}th{background:#f3f3f3}.pass{color:#1a7f37}.fail{color:#b3261e}
.note{background:#fff8e1;border-left:4px solid #e0a800;padding:.5rem 1rem}svg text{font-size:12px}"""

LIMITS = (
    "Group metrics describe this table and this model only: another sample, threshold or population can give "
    "other numbers. The intervals are bootstrap intervals of sampling noise, not of bias in how the data were "
    "collected.",
    "The label is taken as the truth; if the recorded outcomes are themselves biased, error-rate measures "
    "(TPR, FPR, equalized odds) inherit that bias.",
    "A small group's numbers are unsure: read its interval, not only its estimate.",
    "Passing or failing the four-fifths rule is a screening heuristic, not a legal or causal finding.",
    "Counterfactual fairness (when shown) goes through a causal model of Adult, the census world's graph and fitted "
    "mechanisms or the one learned from Adult's rows (the section names which), not one of this table; a wrong "
    "graph gives wrong counterfactuals, and held columns do not respond to the protected column.",
    "Recourse (when shown) follows that causal model: its graph decides what follows from a change, costs are equal "
    "weights by choice (one education level = 11.8 hours a week = a change of job), at most two columns change, and "
    "an answer changes what the model says, not what the person would earn.",
)


NUMERIC = ' class="n"'


def causal_model_note(cf: dict) -> str:
    """One sentence on the causal model counterfactual fairness went through (the report's `causal_model`)."""
    if str(cf.get("causal_model", "")).startswith("learned:"):
        return ("The table lab's causal-layer VAE learned from Adult's rows, its graph learned too; on the census "
                "world, where the truth is known, its flip rates run 0.01-0.02 high.")
    return ("The census world: Adult's published graph with mechanisms fitted to Adult's rows, standing in for "
            "this table's.")


def pct(x: float | None) -> str:
    """A share as the Markdown report writes it: `30.6 %`, or `n/a`."""
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _num(v) -> str:
    return escape(str(v)) if isinstance(v, bool) or v is None else f"{v:.4f}"


def _table(head: list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    """Cells are already escaped (or built from numbers) by the caller."""
    out = ["<table>", "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td{NUMERIC if i >= numeric_from else ''}>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    return out + ["</table>"]


def selection_chart(col: str, groups: dict[str, dict], level: float) -> str:
    """Horizontal bars of each group's selection rate, with its interval as a whisker (0 to 100 %)."""
    left, width, bar, gap = 160, 420, 18, 10
    height = len(groups) * (bar + gap) + 40
    x = lambda v: left + width * (0 if v is None else v)  # noqa: E731
    parts = [f'<svg width="{left + width + 70}" height="{height}" role="img">',
             f"<title>{escape(col)}: selection rate by group, {level:.0%} intervals</title>"]
    for i, (name, g) in enumerate(groups.items()):
        y = 10 + i * (bar + gap)
        lo, hi, mid = x(g["selection_rate_ci_low"]), x(g["selection_rate_ci_high"]), y + bar / 2
        parts += [f'<text x="{left - 6}" y="{mid + 4:.1f}" text-anchor="end">{escape(str(name))}</text>',
                  f'<rect x="{left}" y="{y}" width="{x(g["selection_rate"]) - left:.1f}" height="{bar}" '
                  'fill="#4c78a8"></rect>',
                  f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" stroke="#222"></line>',
                  f'<line x1="{lo:.1f}" y1="{y + 3}" x2="{lo:.1f}" y2="{y + bar - 3}" stroke="#222"></line>',
                  f'<line x1="{hi:.1f}" y1="{y + 3}" x2="{hi:.1f}" y2="{y + bar - 3}" stroke="#222"></line>',
                  f'<text x="{hi + 6:.1f}" y="{mid + 4:.1f}">{pct(g["selection_rate"])}</text>']
    axis = height - 22
    parts.append(f'<line x1="{left}" y1="{axis}" x2="{left + width}" y2="{axis}" stroke="#888"></line>')
    parts += [f'<text x="{x(t / 100):.1f}" y="{axis + 15}" text-anchor="middle">{t} %</text>'
              for t in (0, 25, 50, 75, 100)]
    return "".join(parts) + "</svg>"


def _multiclass(mc: dict | None, level: float) -> list[str]:
    """A multiclass audit: per class, one against the rest, each group's rates (the binary tables)."""
    if mc is None:
        return []
    out = ["<h2>Multiclass: each class against the rest</h2>", f"<p>{escape(mc['note'])}.</p>"]
    for c, sec in mc["per_class"].items():
        out += _groups(f"Class {c} against the rest", sec["groups"], level, chart=False)
        for col, fair in sec["fairness"].items():
            out += [f"<p>Class {escape(str(c))} against the rest, {escape(col)}: fairness measures</p>",
                    *_table(["measure", "value"], [[escape(k), _num(v)] for k, v in fair.items()])]
    return out


def _groups(title: str, section: dict, level: float, chart: bool) -> list[str]:
    out = []
    for col, groups in section.items():
        out.append(f"<h3>{escape(title)}: {escape(col)}</h3><p>Rate [{level:.0%} interval]</p>")
        rows = [[escape(str(name)), f"{g['count']:,}",
                 *[f"{pct(g[m])} [{pct(g[m + '_ci_low'])}, {pct(g[m + '_ci_high'])}]" for m in SHOWN]]
                for name, g in groups.items()]
        out += _table(["group", "rows", *HEADS], rows)
        if chart:
            out.append(selection_chart(col, groups, level))
    return out


def _fairness(report: dict) -> list[str]:
    out = ["<h2>Fairness differences and ratios</h2>"]
    for col, fair in report["fairness"].items():
        ok = fair.get("four_fifths_passes")
        verdict = "passes" if ok else "fails"
        out.append(f"<h3>{escape(col)}</h3><p class=\"{'pass' if ok else 'fail'}\">Four-fifths rule: the lowest "
                   f"group's selection rate is {fair['four_fifths_ratio']:.0%} of the highest's; it <strong>{verdict}</strong> "
                   f"(at least {FOUR_FIFTHS:.0%} passes).</p>")
        out += _table(["measure", "value"], [[escape(k), _num(v)] for k, v in fair.items()])
    return out


def _cf(cf: dict | None) -> list[str]:
    if cf is None:
        return []
    out = ["<h2>Counterfactual fairness</h2>"]
    if "note" in cf:
        out.append(f'<p class="note">{escape(cf["note"])}</p>')
    if "causal_model" in cf:
        note = escape(causal_model_note(cf))
        out.append(f'<p class="note">Causal model: {escape(cf["causal_model"])}. {note}</p>')
    for col, sec in cf.items():
        if not isinstance(sec, dict) or "flip_rate" not in sec:
            continue
        rows = [["all", pct(sec["flip_rate"]), f"{sec['mean_abs_dp']:.4f}"]]
        rows += [[escape(str(g)), pct(v["flip_rate"]), f"{v['mean_abs_dp']:.4f}"] for g, v in sec.items()
                 if isinstance(v, dict) and "count" in v]
        rows += [[f"path {escape(name)}", pct(v["flip_rate"]), f"{v['mean_abs_dp']:.4f}"]
                 for name, v in sec.get("path", {}).items()]
        out += [f"<h3>{escape(col)}</h3>", *_table(["rows", "flip rate", "mean |Δp|"], rows)]
        cuts = [f"<li>{escape(name)}: cuts {escape(', '.join(v.get('cut', [])))}</li>"
                for name, v in sec.get("path", {}).items()]
        out += ["<ul>", *cuts, "</ul>"] if cuts else []
    if "matching" in cf:
        out.append(f"<p>{escape(matching_sentence(cf['matching']))}</p>")
    if "held_columns" in cf:
        held = escape(", ".join(cf["held_columns"]) or "none")
        derived = escape(", ".join(f"{c} (from {v})" for c, v in cf["derived_columns"].items()) or "none")
        out.append(f"<p>Held at their factual values: {held}; derived: {derived}. {cf.get('draws', '?')} "
                   f"posterior noise draws per row, seed {cf.get('seed', '?')}.</p>")
    return out


def graph_layout(graph: dict) -> dict[str, tuple[int, int]]:
    """{node: (layer, slot)}: a node's layer is its longest path from a root, so every arrow points right; nodes
    of a layer stacked in causal order. Shared with the PDF report, which draws the same picture."""
    layer: dict[str, int] = {}
    for node in graph["nodes"]:  # causal order: parents come first
        layer[node] = 1 + max((layer[a] for a, b in graph["edges"] if b == node), default=-1)
    slots: dict[int, int] = {}
    out = {}
    for node in graph["nodes"]:
        out[node] = (layer[node], slots.get(layer[node], 0))
        slots[layer[node]] = out[node][1] + 1
    return out


GRAPH_BOX = (104, 22, 120, 34)  # node width, height; layer and slot spacing (points or pixels)


def graph_svg(graph: dict) -> str:
    """The causal graph as inline SVG: boxes per variable, an arrow per edge."""
    w, h, dx, dy = GRAPH_BOX
    pos = {n: (10 + a * dx, 10 + b * dy) for n, (a, b) in graph_layout(graph).items()}
    width = max(x for x, _ in pos.values()) + w + 20
    height = max(y for _, y in pos.values()) + h + 20
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="max-width:100%;'
             f'height:auto" role="img"><title>causal graph: {escape(graph["name"])}</title>',
             '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#666"></path></marker></defs>']
    for a, b in graph["edges"]:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        parts.append(f'<line x1="{x1 + w}" y1="{y1 + h / 2}" x2="{x2}" y2="{y2 + h / 2}" stroke="#999" '
                     'marker-end="url(#a)"></line>')
    for node, (x, y) in pos.items():
        parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="#eef3fa" stroke="#4c78a8"></rect>'
                     f'<text x="{x + w / 2}" y="{y + 15}" text-anchor="middle">{escape(node)}</text>')
    return "".join(parts) + "</svg>"


def _graph(graph: dict | None) -> list[str]:
    if graph is None:
        return []
    arrows = ", ".join(f"{a} → {b}" for a, b in graph["edges"])
    return ["<h2>Causal graph used</h2>",
            f"<p>The {escape(graph['name'])} world's graph: counterfactual fairness and recourse follow these arrows "
            "(its mechanisms fitted to Adult stand in for a causal model of this table).</p>",
            graph_svg(graph), f"<p>Arrows: {escape(arrows)}.</p>"]


def _recourse(rec: dict | None) -> list[str]:
    """Success, cost and time of both searches, then worked examples: each change old → new, downstream marked."""
    if rec is None:
        return []
    said = rec.get("reading") or [rec["note"]]  # a note alone: why recourse is missing
    out = ["<h2>Recourse</h2>", "<ul>", *[f"<li>{escape(s)}</li>" for s in said], "</ul>"]
    rows = [[name, f"{s['found']} / {s['queries']}", pct(s["success_rate"]), _num(s["cost_median"]),
             _num(s["seconds_median"]), pct(s.get("inconsistent_rate")) if "inconsistent_rate" in s else "—"]
            for name, s in (("causal", rec.get("causal")), ("non-causal", rec.get("noncausal"))) if s]
    out += _table(["method", "answered", "success", "cost median", "s / row median", "inconsistent with the graph"],
                  rows) if rows else []
    if rec.get("source"):
        out.append(f"<p>{escape(rec['source'])}</p>")
    for ex in rec.get("examples", []):
        out.append(f"<h3>Row {ex['row']}</h3><p>{escape(ex['sentence'])}</p>")
        settings = settings_sentence(ex.get("settings"))
        out += [f"<p>{escape(settings)}</p>"] if settings else []
        out += _table(ANSWER_HEADS, [[escape(c) for c in r] for r in answer_rows(ex)], numeric_from=2)
        lines = [[method, escape(str(c["column"])), escape(str(c["old"])), escape(str(c["new"])),
                  "followed the graph" if c["kind"] == "downstream" else "action"]
                 for method, key in (("causal", "causal"), ("non-causal", "noncausal"))
                 for c in ex[key]["changes"]]
        out += _table(["method", "column", "old", "new", "why"], lines, numeric_from=9)
    return out


def _failed(data: dict) -> list[str]:
    """The rows the model failed on (left out of every number): the note and the first few, with their errors."""
    failed = failed_rows(data)
    if failed is None:
        return []
    rows = [[escape(r), escape(e)] for r, e in failed[1]]
    return [f"<h2>{FAILED_TITLE}</h2>", f'<p class="note">{escape(failed[0])}</p>',
            *(_table(["row", "error"], rows, numeric_from=9) if rows else [])]


def to_html(report: dict, card_metrics: dict | None = None) -> str:
    """The report as one HTML page: what was audited, the reading, groups with charts, fairness, counterfactual
    fairness, limitations. `card_metrics`: a shipped model's card metrics, shown under the summary."""
    d, o, level = report["data"], report["overall"], report["bootstrap"]["level"]
    summary = [["rows", f"{d['rows']:,}"], ["source", escape(str(d.get("source", "the table")))],
               ["decisions from", escape(str(d.get("predictions", "the model")))],
               ["label", f"{escape(str(d['label']))} (positive: {escape(str(d['positive']))})"],
               ["protected columns", escape(", ".join(d.get("protected", report["groups"])))],
               ["threshold", escape(str(d["threshold"]))],
               ["overall", f"accuracy {pct(o['accuracy'])}, selection rate {pct(o['selection_rate'])}, base rate "
                           f"{pct(o['base_rate'])}" + (f", AUC {o['auc']:.3f}" if o.get("auc") is not None else "")],
               ["bootstrap", escape(f"{report['bootstrap']['n_boot']} replicates, seed {report['bootstrap']['seed']}"
                                    f", {report['bootstrap'].get('method', '')}")]]
    summary += [[f"model card: {escape(k)}", _num(v)] for k, v in (card_metrics or {}).items()]
    inputs = inputs_sentence(d.get("model_inputs"))
    body = ["<h1>Table audit</h1>", "<h2>Data summary</h2>", *_table(["", "value"], summary, numeric_from=9),
            *([f"<p>{escape(inputs)}</p>"] if inputs else []), *_failed(d),
            "<h2>Reading</h2>", "<ul>", *[f"<li>{escape(s)}</li>" for s in report["reading"]], "</ul>",
            "<h2>Groups</h2>", *_groups("Groups", report["groups"], level, chart=True),
            *_groups("Intersections", report["intersections"], level, chart=False),
            *_fairness(report), *_multiclass(report.get("multiclass"), level), *_graph(report.get("causal_graph")),
            *_cf(report.get("cf_fairness")),
            *_recourse(report.get("recourse")),
            "<h2>Limitations</h2>", "<ul>", *[f"<li>{escape(s)}</li>" for s in LIMITS], "</ul>"]
    return "\n".join(['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
                      "<title>Table audit</title>", f"<style>{CSS}</style></head><body>", *body,
                      "</body></html>"]) + "\n"
