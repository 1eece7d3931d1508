"""audit-table --report: one self-contained HTML file (no script, no external URL, tags balanced), the JSON's
numbers in it, every name from the data escaped, and a suffix other than .html refused before anything is
written."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pandas as pd

from explorer.__main__ import main
from explorer.evaluate.audit_table_html import pct

CHECKED = ("table", "tr", "td", "th", "svg", "ul", "li", "h2", "h3", "p")
EVIL = "<script>alert(1)</script>"


class Balance(HTMLParser):
    """Fails on a closing tag that does not match the innermost open one (of the tags checked)."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in CHECKED:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in CHECKED:
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Balance:
    b = Balance()
    b.feed(page)
    b.close()
    assert b.stack == [], b.stack
    return b


def _run(argv: list[str], capsys) -> tuple[int, str]:
    """main's exit status (argparse's refusals raise SystemExit) and what it wrote on stderr."""
    try:
        return main(argv), capsys.readouterr().err
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err


def test_the_adult_report_is_one_well_formed_self_contained_page(tmp_path, capsys):
    out, page = tmp_path / "a.json", tmp_path / "r.html"
    code, err = _run(["audit-table", "--table", "adult", "--shipped", "adult-gbm", "--protected", "sex",
                      "--n-boot", "200", "--json", str(out), "--report", str(page)], capsys)
    assert code == 0, err
    html, report = page.read_text(encoding="utf-8"), json.loads(out.read_text())
    parse(html)
    for needle in ("<script", "http://", "https://", "<link", "src="):
        assert needle not in html.lower(), needle
    assert html.count("<svg") == 1 and "Four-fifths rule" in html and "Limitations" in html
    for name, g in report["groups"]["sex"].items():
        assert f"<td>{name}</td>" in html
        assert f"{pct(g['selection_rate'])} [{pct(g['selection_rate_ci_low'])}, " in html  # the table's cell
        assert f">{pct(g['selection_rate'])}</text>" in html  # the chart's label
    assert "model card: test_auc" in html  # the shipped model's card metrics
    assert report["reading"][0].replace(">", "&gt;") in html  # the Markdown report's sentences, escaped


def test_names_from_the_data_appear_only_escaped(tmp_path, capsys):
    csv, page = tmp_path / "t.csv", tmp_path / "r.html"
    pd.DataFrame({"grp<b>": [EVIL] * 4 + ["plain"] * 4, "y": [1, 0, 1, 0, 1, 1, 0, 0],
                  "pred": [1, 0, 0, 0, 1, 1, 1, 0]}).to_csv(csv, index=False)
    code, err = _run(["audit-table", "--csv", str(csv), "--predictions", "pred", "--label", "y",
                      "--protected", "grp<b>", "--n-boot", "100", "--cf", "--json", str(tmp_path / "a.json"),
                      "--report", str(page)], capsys)
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "grp&lt;b&gt;" in html
    assert "predictions column cannot be asked" in html  # the --cf note
    assert EVIL in "".join(parse(html).text)  # shown to the reader as text


def test_a_report_that_is_neither_html_nor_pdf_is_refused_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("r.md", "r.docx", "report"):
        code, err = _run(["audit-table", "--table", "adult", "--shipped", "adult-gbm", "--protected", "sex",
                          "--json", str(out / "a.json"), "--report", str(out / name)], capsys)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err
        assert "use .html or .pdf" in err
    assert not list(out.iterdir())


FAILED = {"count": 3, "examples": [{"row": 2, "error": "column age: 'n/a' is not a number"},
                                   {"row": 7, "error": f"the model returns NaN {EVIL}"}],
          "note": "3 rows (37.5 %) could not be scored by the model and are left out of every number; the first: "
                  "row 2, column age: 'n/a' is not a number"}  # as `audit_table_rows.failed_section` writes it


def small_report(**data) -> dict:
    """A report dict as the audit writes it, on 8 rows of one protected column (what the renderers read)."""
    rates = {f"{m}{s}": 0.5 for m in ("selection_rate", "true_positive_rate", "false_positive_rate",
                                      "false_negative_rate", "accuracy") for s in ("", "_ci_low", "_ci_high")}
    return {"data": {"rows": 8, "label": "y", "positive": "1", "threshold": 0.5, "protected": ["sex"], **data},
            "overall": {"accuracy": 0.5, "selection_rate": 0.5, "base_rate": 0.5, "auc": None},
            "groups": {"sex": {"F": {"count": 4, **rates}, "M": {"count": 4, **rates}}}, "intersections": {},
            "fairness": {}, "reading": ["sex = F got it as often as sex = M"],
            "bootstrap": {"n_boot": 100, "seed": 0, "level": 0.95}}


def test_rows_the_model_could_not_score_have_a_section_only_when_there_are_some():
    from explorer.evaluate.audit_table_html import to_html
    from explorer.evaluate.audit_table_report import to_markdown

    html = to_html(small_report(failed_rows=FAILED))
    parse(html)
    assert "<h2>Rows the model could not score</h2>" in html
    assert "3 rows (37.5 %) could not be scored by the model and are left out of every number; the first: row 2, " \
           "column age: &#x27;n/a&#x27; is not a number. Listed: the first 2 of 3." in html
    assert "<td>7</td><td>the model returns NaN &lt;script&gt;alert(1)&lt;/script&gt;</td>" in html  # escaped
    assert html.index("Rows the model could not score") < html.index("<h2>Reading</h2>")  # before the numbers
    md = to_markdown(small_report(failed_rows=FAILED))
    assert "## Rows the model could not score" in md and "| 2 | column age: 'n/a' is not a number |" in md
    for clean in (small_report(), small_report(failed_rows={"count": 0, "examples": [], "note": ""})):
        assert "could not score" not in to_html(clean) and "could not score" not in to_markdown(clean)
