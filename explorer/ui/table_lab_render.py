"""The Table lab's results, drawn from what `TableLabService` returns: the records side by side with changed
cells highlighted, the published graph next to the learned one, and the de-biased export's outcome.

Widget keys: `tl_download_csv`, `tl_download_card`. The answer panel `tl_records` and the container `tl_graphs`
(their tables scroll sideways on a phone).
"""

from __future__ import annotations

import re

import streamlit as st

from explorer.scm.graph import Dag
from explorer.services.table_lab import SOURCES, TableExport, TablePage, TableResult
from explorer.ui import answer_panel, table_lab_answer

_SPECIAL = re.compile(r"([\\`*_\[\]<>|$~#])")


def _md(text: str) -> str:
    """Text for a Markdown cell: category names such as `<=50K` or `Outlying-US(Guam-USVI-etc)` shown as is."""
    return _SPECIAL.sub(r"\\\1", text)


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


def answer(result: TableResult, view: TablePage, follow: str) -> None:
    """The answer panel (explorer/ui/answer_panel.py, key `tl_records`): the person, their record next to the
    counterfactual ones with changed cells highlighted, and what the columns mean; swapped from the sweep of the
    quick sliders `follow` while one moves (explorer/ui/table_lab_answer.py)."""
    answer_panel.mount("tl_records", table_lab_answer.answer(result, view), {}, follow=follow, look="records",
                       whole=True)


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
