"""audit-table --recourse N: the documented JSON keys, worked examples in the HTML report, the same answers for a
table whose columns are named differently, a one-line note when the census world cannot read the table, and bad
values refused before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from explorer.__main__ import main
from explorer.data.tables import read_adult
from explorer.evaluate.audit_table import AuditTableConfig, audit_table
from explorer.evaluate.audit_table_recourse import add_recourse
from explorer.metrics.group_fairness import BootstrapConfig
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        return main(argv), capsys.readouterr().err
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err


def test_recourse_keys_and_examples_in_json_and_html(tmp_path, capsys):
    out, page = tmp_path / "a.json", tmp_path / "r.html"
    code, err = _run(["audit-table", "--table", "adult", "--shipped", "adult-logreg", "--protected", "sex",
                      "--n-boot", "100", "--recourse", "12", "--json", str(out), "--report", str(page)], capsys)
    assert code == 0, err
    rec = json.loads(out.read_text())["recourse"]
    for method in ("causal", "noncausal"):
        for key in ("success_rate", "cost_median", "seconds_median"):
            assert key in rec[method], (method, key)
        assert rec[method]["queries"] == 12 and 0 <= rec[method]["success_rate"] <= 1
    assert 0 <= rec["noncausal"]["inconsistent_rate"] <= 1
    assert 1 <= len(rec["examples"]) <= 5
    html = page.read_text(encoding="utf-8")
    assert "<h2>Recourse</h2>" in html
    for ex in rec["examples"]:
        assert ex["causal"]["found"] and ex["causal"]["p_after"] >= 0.5 > ex["causal"]["p_before"]
        assert f"<h3>Row {ex['row']}</h3>" in html
        for change in ex["causal"]["changes"]:
            assert f"<td>{change['column']}</td><td>{change['old']}</td><td>{change['new']}</td>" in html
    assert any(c["kind"] == "downstream" for ex in rec["examples"] for c in ex["causal"]["changes"]) == \
        ("followed the graph" in html)


def test_a_table_with_other_column_names_gets_the_same_answers():
    rows = read_adult().rows("test", complete=True).reset_index(drop=True).head(300)
    model, _ = load_table_classifier("adult-gbm")
    scm = load_census_world()[0]
    config = AuditTableConfig(label="income", protected=("sex",), boot=BootstrapConfig(100, 0))
    reports = []
    for frame in (rows, rows.rename(columns={"marital_status": "Marital-Status", "hours_per_week": "HOURS-PER-WEEK"})):
        report, per_row = audit_table(frame, config, model.predict_proba)
        add_recourse(report, per_row, frame, model.predict_proba, scm, 4)
        reports.append(report["recourse"])
    strip = lambda r: [(e["row"], e["causal"]["do"], e["noncausal"]["do"]) for e in r["examples"]]  # noqa: E731
    assert strip(reports[0]) == strip(reports[1]) and reports[0]["causal"]["found"] >= 1


def test_a_table_the_world_cannot_read_gets_a_one_line_note(tmp_path, capsys):
    csv, out = tmp_path / "t.csv", tmp_path / "a.json"
    pd.DataFrame({"sex": ["F", "M"] * 10, "y": [0, 1] * 10, "pred": np.linspace(0, 1, 20)}).to_csv(csv, index=False)
    code, err = _run(["audit-table", "--csv", str(csv), "--predictions", "pred", "--label", "y", "--protected", "sex",
                      "--n-boot", "100", "--recourse", "5", "--json", str(out)], capsys)
    assert code == 0, err
    note = json.loads(out.read_text())["recourse"]["note"]
    assert "predictions column cannot be asked" in note and f"note: {note}" in err
    report = {"data": {"threshold": 0.5}}
    add_recourse(report, pd.DataFrame({"prediction": [0, 1]}), pd.DataFrame({"sex": ["F", "M"], "y": [0, 1]}),
                 lambda f: np.zeros(len(f)), load_census_world()[0], 2)
    assert report["recourse"]["note"].startswith("recourse is missing: the table has no column for the census")


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_a_bad_count_is_refused_before_anything_is_written(value, tmp_path, capsys):
    code, err = _run(["audit-table", "--table", "adult", "--shipped", "adult-gbm", "--protected", "sex",
                      "--recourse", value, "--json", str(tmp_path / "a.json")], capsys)
    assert code == 2 and "--recourse" in err and not list(tmp_path.iterdir())
