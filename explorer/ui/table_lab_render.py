"""The Table lab's results, drawn from what `TableLabService` returns: the records side by side with changed
cells highlighted, the published graph next to the learned one, and the de-biased export's outcome.

Widget keys: `tl_download_csv`, `tl_download_card`. Containers: `tl_records`, `tl_graphs` (their tables scroll
sideways on a phone).
"""

from __future__ import annotations

import re

import streamlit as st

from explorer.data.tables import ColumnSpec
from explorer.scm.graph import Dag
from explorer.services.table_lab import DRAWS, SOURCES, TableExport, TablePage, TableResult

_SPECIAL = re.compile(r"([\\`*_\[\]<>|$~#])")


def _md(text: str) -> str:
    """Text for a Markdown cell: category names such as `<=50K` or `Outlying-US(Guam-USVI-etc)` shown as is."""
    return _SPECIAL.sub(r"\\\1", text)


def value_text(spec: ColumnSpec, value: float | int) -> str:
    """A value in words: a category's name, or a number with one decimal when it is not whole."""
    if spec.discrete:
        return spec.categories[int(value)]
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _scroll_css(key: str, min_width: str) -> str:
    # Wider than a phone (390 px): the table scrolls sideways inside its own box instead of running off the
    # page's edge, as on the Causal graph lab (tests/test_phone_layout.py checks the lab's the same way).
    return f"""<style>
.st-key-{key} [data-testid=stMarkdownContainer] {{overflow-x: auto; -webkit-overflow-scrolling: touch}}
.st-key-{key} table {{font-size: 0.875rem; min-width: {min_width}; margin-bottom: 0.25rem}}
.st-key-{key} th, .st-key-{key} td {{padding: 0.3rem 0.45rem}}
</style>"""


def notes(result: TableResult) -> None:
    for note in result.notes:
        st.info(note)


def _cell(spec: ColumnSpec, value: float | int, changed: bool, set_here: bool) -> str:
    text = _md(value_text(spec, value))
    if set_here:
        return f":orange-background[**{text}** (set by you)]"
    return f":orange-background[**{text}**]" if changed else text


def record_rows(result: TableResult, view: TablePage) -> tuple[list[str], list[list[str]]]:
    """The records table as (header, rows): one row per column, factual first, then the answers."""
    header = ["column", "this person"]
    first = "what if: the world's best guess" if result.learned is None else f"what if: {_md(result.model)}"
    answers = [(first, result.cf, set(result.changed))]
    if result.true_cf is not None:
        answers.append(("what if: TRUE", result.true_cf, set(result.changed_true)))
    if result.learned is not None:  # the world's ceiling beside the learned model's answer
        answers.append(("the world's best guess", result.ceiling, set(result.changed_ceiling)))
    header += [a[0] for a in answers]
    if result.learned is None:
        header.append("how sure")
    rows = []
    for name, spec in view.columns.items():
        row = [f"**{_md(spec.label or name)}**", _md(value_text(spec, result.obs[name]))]
        for _, values, changed in answers:
            row.append(_cell(spec, values[name], name in changed, name in result.intervened))
        if result.learned is None:
            row.append(f"{result.agreement[name]:.0%}" if name in result.agreement and name in result.downstream
                       else "")
        rows.append(row)
    return header, rows


def records_style() -> None:
    """The records table's style (it takes no space); drawn outside the what-if fragment, once per page run."""
    st.html(_scroll_css("tl_records", "30rem"))


def records(result: TableResult, view: TablePage) -> None:
    """The factual record next to the counterfactual ones, changed cells highlighted."""
    where = (f"row {result.index:,} of the census world's sample (seed {result.seed})" if result.source == "world"
             else f"row {result.index:,} of the complete Adult test rows (line {result.file_row:,} of adult.test's "
                  "data)")
    header, rows = record_rows(result, view)
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"] + ["| " + " | ".join(r) + " |" for r in rows]
    with st.container(key="tl_records"):  # one element: each element is one more message for the browser to apply
        st.markdown(f"**The person:** {where}.\n\n" + "\n".join(lines))
    changed = ", ".join(result.changed) or "nothing"
    st.caption(f"Highlighted: cells that differ from this person's record (changed in the answer: {changed}). "
               "The world's best guess runs the world's mechanisms on the noise's posterior given this record "
               f"({DRAWS} draws): the most frequent category, or the median; **how sure** is the share of draws that "
               "agree with it. "
               + ("The TRUE column is the census world's own counterfactual: its mechanisms run again on the noise "
                  "this row was sampled with. " if result.true_cf is not None else
                  "A real person has no TRUE counterfactual: nobody knows their noise. ")
               + "A categorical column's counterfactual is not identified from the record alone, so even the "
                 "world's best guess can miss the TRUE value (docs/census.md, the ceiling).")


def _parents(graph: Dag | None, child: str, reference: Dag, cut: set, added: set) -> str:
    if graph is None:
        return "—"
    out = []
    for p in sorted(set(graph.parents(child)) | {a for a, b in cut if b == child}):
        if (p, child) in cut:
            out.append(f"~~{_md(p)}~~")  # struck through: cut by the visitor
        elif (p, child) not in reference.edges or (p, child) in added:
            out.append(f"**+{_md(p)}**")
        else:
            out.append(_md(p))
    return ", ".join(out) or "(a root)"


def graphs(view: TablePage, source: str, cut: list[tuple[str, str]], added: list[tuple[str, str]]) -> None:
    """The published graph (with the visitor's edits) next to the learned model's graph, column by column."""
    learned = view.learned[source]
    edited = Dag(view.published.nodes, (view.published.edges - set(cut)) | set(added))
    lines = ["| column | causes in the published graph (your edits) | causes the learned model found |",
             "|---|---|---|"]
    for child in view.columns:
        lines.append(f"| **{_md(child)}** | {_parents(edited, child, view.published, set(cut), set(added))} | "
                     f"{_parents(learned, child, view.published, set(), set())} |")
    st.html(_scroll_css("tl_graphs", "28rem"))
    with st.container(key="tl_graphs"):
        st.markdown("\n".join(lines))
    st.caption(f"**Published graph** ({len(view.published.edges)} arrows): {_md(view.source)}. ~~Struck~~: cut by "
               "you; **+bold**: not in the published graph.")
    if learned is None:
        st.info(f"**The learned graph is not shown:** {_md(view.models[source])}. The learned model for "
                f"{SOURCES[source]} is being built; until it ships, the answers above are the census world's.")
    else:
        extra = sorted(learned.edges - view.published.edges)
        missing = sorted(view.published.edges - learned.edges)
        st.caption(f"**Learned** by {_md(view.models[source])}: {len(learned.edges)} arrows, {len(extra)} not in the "
                   f"published graph, {len(missing)} of the published ones missing.")


# --- the export's outcome -------------------------------------------------------------------------------
def export_message(card: dict) -> str:
    """What the export did to each cut arrow's dependence, and the paths that remain around it."""
    lines = [f"**Exported {card['n']:,} rows** (seed {card['seed']}) from the census world's TRUE mechanisms."]
    for arrow in card["cuts"]:
        p, c = arrow.split(":")
        pair = card["pairs"].get(f"{p}:{c}") or card["pairs"].get(f"{c}:{p}")
        lines.append(f"- Cut **{p} → {c}**: dependence (Cramér's V) {pair['before']:.3f} in the world's rows, "
                     f"{pair['after']:.3f} in the export.")
    for path in card["remaining_paths"]:
        if path["paths"]:
            lines.append(f"- {_md(path['note'])}.")
    return "\n".join(lines)


def export_view(export: TableExport) -> None:
    """The export's outcome and its two downloads: the rows (CSV) and the card saying how they were made."""
    card = export.card
    st.success(export_message(card))
    name = f"census_debiased_{'_'.join(a.replace(':', '-') for a in card['cuts'])}_n{card['n']}_seed{card['seed']}"
    a, b = st.columns(2)
    a.download_button(f"Download the table (CSV, {len(export.csv) / 1e6:.1f} MB)", export.csv,
                      file_name=f"{name}.csv", mime="text/csv", key="tl_download_csv", icon=":material/download:")
    b.download_button("Download its card (JSON)", export.card_json, file_name=f"{name}.json",
                      mime="application/json", key="tl_download_card", icon=":material/description:")
