"""What the Table lab shows of one what-if, as data: the person, the records table and the words under it, the parts
of its answer panel (assets/image_panel/, mounted by explorer/ui/table_lab_render.py).

Why data and not Streamlit elements: as on the Image page and the Causal graph lab (explorer/ui/image_answer.py,
explorer/ui/lab_answer.py), every element a move re-sends costs the browser a re-render, and data can be swept: the
Table lab's sweep holds `what_if`'s answer at every position of a quick slider (explorer/services/table_lab_sweep.py),
so while age or hours per week moves, the browser swaps the whole records table from it, and the rerun only writes
the link.

A cell is [text, mark]: "" plain, "b" bold (a column's name), "c" changed (highlighted), "s" set by the visitor
(highlighted, "(set by you)" after it); text is runs of [text, style] as on the other pages. No Streamlit here.
"""

from __future__ import annotations

from explorer.data.tables import ColumnSpec
from explorer.services.table_lab import DRAWS, TablePage, TableResult
from explorer.services.table_lab_sweep import ColumnSweep

Runs = list[list[str]]


def value_text(spec: ColumnSpec, value: float | int) -> str:
    """A value in words: a category's name, or a number with one decimal when it is not whole."""
    if spec.discrete:
        return spec.categories[int(value)]
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def person(result: TableResult) -> Runs:
    """Which person this is: a row of the census world's sample, or of the real Adult test rows."""
    where = (f"row {result.index:,} of the census world's sample (seed {result.seed})" if result.source == "world"
             else f"row {result.index:,} of the complete Adult test rows (line {result.file_row:,} of adult.test's "
                  "data)")
    return [["The person:", "b"], [f" {where}.", ""]]


def records(result: TableResult, view: TablePage) -> dict:
    """The records table: {header, rows}, a row per column: its name, this person's value, then the answers (the
    learned model's or the world's best guess, TRUE on a world row, the best guess beside a learned model's), and
    on a real row without a learned model, how sure the best guess is."""
    first = "what if: the world's best guess" if result.learned is None else f"what if: {result.model}"
    answers = [(first, result.cf, set(result.changed))]
    if result.true_cf is not None:
        answers.append(("what if: TRUE", result.true_cf, set(result.changed_true)))
    if result.learned is not None:  # the world's ceiling beside the learned model's answer
        answers.append(("the world's best guess", result.ceiling, set(result.changed_ceiling)))
    header = ["column", "this person", *(a[0] for a in answers)] + (["how sure"] if result.learned is None else [])
    rows = []
    for name, spec in view.columns.items():
        row = [[spec.label or name, "b"], [value_text(spec, result.obs[name]), ""]]
        for _, values, changed in answers:
            mark = "s" if name in result.intervened else "c" if name in changed else ""
            row.append([value_text(spec, values[name]), mark])
        if result.learned is None:
            sure = name in result.agreement and name in result.downstream
            row.append([f"{result.agreement[name]:.0%}" if sure else "", ""])
        rows.append(row)
    return {"header": header, "rows": rows}


def changed(result: TableResult) -> Runs:
    """The first words under the table: what the highlight means, and which columns changed in the answer."""
    return [[f"Highlighted: cells that differ from this person's record (changed in the answer: "
             f"{', '.join(result.changed) or 'nothing'}).", ""]]


def note(result: TableResult) -> Runs:
    """The rest of the words under the table: how the best guess and the TRUE answer are made."""
    true = ("The TRUE column is the census world's own counterfactual: its mechanisms run again on the noise this "
            "row was sampled with. " if result.true_cf is not None else
            "A real person has no TRUE counterfactual: nobody knows their noise. ")
    return [["The world's best guess runs the world's mechanisms on the noise's posterior given this record "
             f"({DRAWS} draws): the most frequent category, or the median; ", ""], ["how sure", "b"],
            [" is the share of draws that agree with it. " + true + "A categorical column's counterfactual is not "
             "identified from the record alone, so even the world's best guess can miss the TRUE value "
             "(docs/census.md, the ceiling).", ""]]


def answer(result: TableResult, view: TablePage) -> dict:
    """The panel's parts: the person, the records table, the words under it."""
    return {"person": person(result), "records": records(result, view), "changed": changed(result),
            "records_note": note(result)}


def swept(sweep: ColumnSweep, view: TablePage) -> list[dict]:
    """Per position of `sweep`, the parts that move with its slider: the changed columns, and the table's rows,
    "=" for a row the same at every position (drawn as the rerun drew it: a column the slider cannot move)."""
    tables = [records(r, view) for r in sweep.results]
    moving = [any(t["rows"][i] != tables[0]["rows"][i] for t in tables) for i in range(len(view.columns))]
    return [{"records": {"rows": [row if moves else "=" for row, moves in zip(t["rows"], moving)]},
             "changed": changed(r)} for t, r in zip(tables, sweep.results)]
