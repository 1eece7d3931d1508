"""The PDF report (`audit-table --report OUT.pdf`, the page's PDF download): a PDF whose text holds the JSON's key
numbers (groups with intervals, fairness, counterfactual fairness, recourse, the graph used), names from the data
printed as text, and the same file from the page's service."""

from __future__ import annotations

import base64
import json
import re
import zlib

import pandas as pd
import pytest

from explorer.__main__ import main
from explorer.evaluate.audit_table_html import pct
from explorer.evaluate.audit_table_pdf import latin, to_pdf
from explorer.services.audit_table_page import AuditRequest, AuditTableService, ModelChoice, shipped_table

EVIL = "<b>Jos\u00e9 & \u4e2d</b>"


def text_of(pdf: bytes) -> bytes:
    """Every stream of the file decoded as reportlab writes them (ASCII85 over Flate when compressed), joined:
    what a PDF reader would draw."""
    out = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = raw.strip()
        try:
            out.append(zlib.decompress(base64.a85decode(data[:-2] if data.endswith(b"~>") else data)))
        except (ValueError, zlib.error):  # not ASCII85 over Flate (an uncompressed stream): as written
            out.append(raw)
    return b"\n".join(out)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        return main(argv), capsys.readouterr().err
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def cli_pdf(tmp_path_factory) -> tuple[dict, bytes, bytes]:
    """The CLI's JSON and PDF on Adult's first 600 test rows with counterfactual fairness and recourse; and the same
    report as an uncompressed PDF."""
    d = tmp_path_factory.mktemp("pdf")
    shipped_table("adult").frame.head(600).to_csv(d / "t.csv", index=False)
    code = main(["audit-table", "--csv", str(d / "t.csv"), "--shipped", "adult-logreg", "--label", "income",
                 "--positive", ">50K", "--protected", "sex,race", "--n-boot", "200", "--cf", "--recourse", "15",
                 "--json", str(d / "a.json"), "--report", str(d / "r.pdf")])
    assert code == 0
    report = json.loads((d / "a.json").read_text())
    return report, (d / "r.pdf").read_bytes(), to_pdf(report, None, compress=False)


def test_the_pdf_holds_the_report_s_key_numbers(cli_pdf):
    report, pdf, plain = cli_pdf
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF") and plain.startswith(b"%PDF")
    for text in (text_of(pdf), plain):  # compressed by the CLI, readable as written with pageCompression=0
        for name, g in report["groups"]["sex"].items():
            rate, interval = pct(g["selection_rate"]), f"[{pct(g['selection_rate_ci_low'])}, " \
                                                        f"{pct(g['selection_rate_ci_high'])}]"
            cell = re.escape(f"({rate}) Tj".encode()) + rb"\s+T\* " + re.escape(f"({interval})".encode())
            assert re.search(cell, text), (rate, interval)  # the group's table: the rate, below it its interval
        assert f"{report['fairness']['sex']['demographic_parity_difference']:.4f}".encode() in text
        assert pct(report["cf_fairness"]["sex"]["flip_rate"]).encode() in text
        rec = report["recourse"]
        assert pct(rec["causal"]["success_rate"]).encode() in text
        assert pct(rec["noncausal"]["inconsistent_rate"]).encode() in text
        assert f"Row {rec['examples'][0]['row']}".encode() in text
        for heading in (b"Data summary", b"Causal graph used", b"Counterfactual fairness", b"Recourse",
                        b"Limitations"):
            assert heading in text, heading
        assert b"(native_country) Tj" in text and b"(Arrows: age -" in text  # the graph drawn, its arrows listed


def test_names_from_the_data_print_as_text():
    report = {"data": {"rows": 4, "label": "y", "positive": "1", "threshold": 0.5, "protected": [EVIL]},
              "overall": {"accuracy": 0.5, "selection_rate": 0.5, "base_rate": 0.5, "auc": None},
              "groups": {EVIL: {EVIL: {"count": 2, **{f"{m}{s}": 0.5 for m in ("selection_rate", "true_positive_rate",
                                                                                "false_positive_rate",
                                                                                "false_negative_rate", "accuracy")
                                                       for s in ("", "_ci_low", "_ci_high")}}}},
              "intersections": {}, "fairness": {}, "reading": [f"{EVIL} got it"],
              "bootstrap": {"n_boot": 100, "seed": 0, "level": 0.95}}
    text = to_pdf(report, None, compress=False)
    assert latin(EVIL) == "<b>Jos\u00e9 & ?</b>"  # cp1252 keeps é; a character Helvetica lacks shows as ?
    joined = text.replace(b") Tj (", b"")  # reportlab draws a line in pieces; é as its octal escape
    assert b"<b>Jos\\351 & ?</b> got it" in joined  # drawn as the characters themselves, not read as markup


def test_the_page_offers_the_same_report_as_pdf():
    service = AuditTableService()
    view = service.compute(service.plan(shipped_table("adult"), AuditRequest("income", ">50K", ("sex",), rows=200,
                                                                             cf=False),
                                        ModelChoice("shipped", "adult-gbm")))
    assert view.pdf.startswith(b"%PDF")
    female = view.report["groups"]["sex"]["Female"]
    assert pct(female["selection_rate"]).encode() in text_of(view.pdf)
    assert b"model card: test_auc" in text_of(view.pdf)


def test_a_predictions_only_report_has_no_graph_and_still_builds(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    pd.DataFrame({"sex": ["F", "M"] * 10, "y": [0, 1] * 10, "pred": [0, 1, 1, 0] * 5}).to_csv(csv, index=False)
    code, err = _run(["audit-table", "--csv", str(csv), "--predictions", "pred", "--label", "y", "--protected", "sex",
                      "--n-boot", "100", "--cf", "--recourse", "3", "--json", str(tmp_path / "a.json"),
                      "--report", str(tmp_path / "r.pdf")], capsys)
    assert code == 0, err
    text = text_of((tmp_path / "r.pdf").read_bytes())
    assert b"Causal graph used" not in text and b"predictions column cannot be asked" in text


def test_rows_the_model_could_not_score_print_only_when_there_are_some():
    from test_audit_table_html import FAILED, small_report

    text = to_pdf(small_report(failed_rows=FAILED), None, compress=False).replace(b") Tj (", b"")
    assert b"(Rows the model could not score) Tj" in text and b"are left out of every number" in text
    assert b"Listed: the first 2 of 3." in text and b"(7) Tj" in text  # the note, how many listed, a row
    assert b"the model returns NaN <script>alert\\(1\\)</script>" in text  # as text, not markup
    assert text.index(b"Rows the model could not score") < text.index(b"(Reading)")
    assert b"could not score" not in to_pdf(small_report(), None, compress=False)
