"""Audit your own texts: the CSV reader on hand-made files, the metrics on a hand-checkable fake model,
100,000 rows through the CLI (fake model), and a few hundred rows through the real one (when shipped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.services import audit as A
from explorer.services.audit import AuditError, AuditModel, audit, read_audit_csv
from explorer.paths import PRETRAINED

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("anger", "fear", "joy", "sadness")
SHIPPED = all((PRETRAINED / f"causalm-gender-{w}" / "card.json").exists() for w in ("o", "cf"))


class FakePair:
    """O reads anger whenever "Mary" is in the text, else joy; CF always reads joy. Counts its calls."""

    def __init__(self):
        self.calls, self.seen = 0, 0

    def predict(self, texts: list[str]) -> dict[str, np.ndarray]:
        self.calls += 1
        self.seen += len(texts)
        anger, joy = np.eye(4)[0], np.eye(4)[2]
        return {"o": np.array([anger if "Mary" in t else joy for t in texts]).reshape(-1, 4),
                "cf": np.tile(joy, (len(texts), 1))}


def _fake(pair: FakePair | None = None) -> AuditModel:
    pair = pair or FakePair()
    return AuditModel("emotion-gender:balanced", "gender", CLASSES, pair.predict)


GOOD = ("text,label,concept,text_cf\n"
        "Mary is happy.,joy,1,James is happy.\n"
        "James is happy.,2,0,Mary is happy.\n")


# --- reading ----------------------------------------------------------------------------------------------
def test_a_good_file_gives_hand_checked_numbers():
    report = audit(read_audit_csv(GOOD.encode()), _fake())
    # row 1: O = anger, CF = joy -> mean |diff| over 4 classes = 0.5; row 2: both joy -> 0
    assert report.metrics["treate"] == pytest.approx(0.25)
    # O(text) vs O(text_cf) differ in both rows (the name moves) -> 0.5
    assert report.metrics["ate_gt"] == pytest.approx(0.5)
    # E[O | concept 1] = anger, E[O | concept 0] = joy -> 0.5
    assert report.metrics["conexp"] == pytest.approx(0.5)
    assert report.metrics["acc_o"] == 0.5 and report.metrics["acc_cf"] == 1.0  # label by name and by index
    assert report.n_rows == report.n_audited == 2 and report.n_used["ate_gt"] == 2
    assert not report.notes
    assert report.largest[0]["row"] == 1 and report.largest[0]["o"] == "anger"
    data = json.loads(report.to_json())
    assert data["metrics"]["treate"] == pytest.approx(0.25) and data["classes"] == list(CLASSES)
    md = report.to_markdown()
    # two rows, differences 0.5 and 0: a resample holds two, one or no copies of the first
    assert "| TReATE | 0.2500 | 0.0000–0.5000 | 2 |" in md and "Mary is happy." in md
    assert data["intervals"]["ate_gt"] == [0.5, 0.5] and data["intervals"]["acc_cf"] == [1.0, 1.0]
    rows = report.rows
    assert rows["row"].tolist() == [1, 2] and rows["o_says"].tolist() == ["anger", "joy"]
    assert rows["cf_says"].tolist() == ["joy", "joy"] and rows["o_cf_difference"].tolist() == [0.5, 0.0]
    assert rows["label"].tolist() == ["joy", "joy"] and rows["concept"].tolist() == [1, 0]
    assert rows["o_says_on_text_cf"].tolist() == ["joy", "anger"] and rows["o_change_to_text_cf"].tolist() == [0.5, 0.5]
    assert "group" not in rows and rows["p_o_anger"].tolist() == [1.0, 0.0]
    assert report.to_rows_csv().splitlines()[1].startswith("1,Mary is happy.,anger,joy,0.5000,1.0000")


def test_rows_of_one_group_are_resampled_together():
    # 20 persons x 10 texts; O and CF differ by 0.5 on Mary's persons only, so the per-text values move together
    texts = [(f"{'Mary' if p % 2 else 'James'}{p} is happy {i}.", f"p{p}") for p in range(20) for i in range(10)]
    csv = "text,group\n" + "".join(f"{t},{g}\n" for t, g in texts)
    grouped = audit(read_audit_csv(csv.encode()), _fake())
    alone = audit(read_audit_csv(("text\n" + "".join(f"{t}\n" for t, _ in texts)).encode()), _fake())
    assert grouped.metrics["treate"] == alone.metrics["treate"] == pytest.approx(0.25)
    (lo_g, hi_g), (lo_a, hi_a) = grouped.intervals["treate"], alone.intervals["treate"]
    assert lo_g < 0.25 < hi_g and lo_a < 0.25 < hi_a
    assert hi_g - lo_g > 2.5 * (hi_a - lo_a)  # 20 units instead of 200
    assert grouped.rows["group"].tolist()[:2] == ["p0", "p0"] and not any("ignored" in n for n in grouped.notes)
    assert "resampled together" in grouped.to_markdown() and "add a `group` column" in alone.to_markdown()


def test_bom_semicolons_quotes_and_line_breaks():
    data = '\ufefftext;label\n"Hello, Mary; you\nlook happy";joy\n'.encode("utf-8")
    frame = read_audit_csv(data)
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"][0] == "Hello, Mary; you\nlook happy"
    assert frame.attrs["notes"] == []


def test_windows_1252_is_read_with_a_notice():
    frame = read_audit_csv("text\nCafé crème was lovely\n".encode("cp1252"))
    assert frame["text"][0] == "Café crème was lovely"
    assert any("Windows-1252" in n and "0xe9 on line 2" in n for n in frame.attrs["notes"])
    report = audit(frame, _fake())
    assert any("Windows-1252" in n for n in report.notes)


@pytest.mark.parametrize("data, message", [
    (b"", "The file is empty"),
    (b"  \n\n", "The file is empty"),
    (b"label,concept\njoy,1\n", "no column named `text` (columns found: `label`, `concept`)"),
    (b"text,label\n", "header but no rows"),
    (b"PK\x03\x04\x14\x00\x06\x00garbage", "Excel workbook"),
    (b"%PDF-1.7 stuff", "PDF"),
    (b"text\n\x00\x01\x02\x03", "binary data"),
    (b"text\nbad \x81 byte\n", "0x81 on line 2 is not Windows-1252"),
    (b'text,label\n"unclosed quote,joy\n', "could not be read as CSV"),
])
def test_bad_files_end_in_a_clear_error(data, message):
    with pytest.raises(AuditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_audit_csv(data)


def test_unknown_columns_are_named_and_dropped(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Text,Source\nMary is angry.,web\n")
    frame = read_audit_csv(path)
    assert list(frame.columns) == ["text"]
    assert any("Columns ignored: source" in n for n in frame.attrs["notes"])
    with pytest.raises(AuditError, match="Cannot read"):
        read_audit_csv(tmp_path / "missing.csv")


# --- what cannot be computed ----------------------------------------------------------------------------
def test_missing_columns_and_bad_values_become_notes():
    report = audit(read_audit_csv(b"text\nMary is happy.\nJames is sad.\n"), _fake())
    assert report.metrics["treate"] is not None
    assert report.metrics["ate_gt"] is None and report.metrics["conexp"] is None and report.metrics["acc_o"] is None
    notes = " ".join(report.notes)
    assert "no `text_cf` column" in notes and "no `concept` column" in notes and "no `label` column" in notes
    assert json.loads(report.to_json())["metrics"]["ate_gt"] is None

    csv = "text,label,concept,text_cf\nMary is happy.,happy,maybe,\n,joy,1,x\nJames wept.,sadness,1,Mary wept.\n"
    report = audit(read_audit_csv(csv.encode()), _fake())
    assert report.n_rows == 3 and report.n_audited == 2
    notes = " ".join(report.notes)
    assert "1 row(s) with an empty text were skipped (rows 2)" in notes
    assert "Rows 1 have a `label` that is not one of anger, fear, joy, sadness" in notes
    assert "rows 1 were left out of CONEXP" in notes and "needs rows with concept 1 and rows with concept 0" in notes
    assert "ATE_gt uses the 1 rows with a `text_cf`; rows 1 have none" in notes
    assert report.n_used["acc_o"] == 1 and report.n_used["ate_gt"] == 1


def test_the_page_cap_is_said_and_model_names_are_checked():
    csv = "text\n" + "".join(f"Mary said {i}.\n" for i in range(30))
    report = audit(read_audit_csv(csv.encode()), _fake(), max_rows=10)
    assert report.n_rows == 30 and report.n_audited == 10
    assert any("first 10 were audited" in n and "audit-text" in n for n in report.notes)
    assert A.parse_model_name("emotion-race:gentle") == ("emotion-race", "race", "gentle")
    assert A.parse_model_name("sentiment-adjectives") == ("sentiment-adjectives", "adjectives", "balanced")
    for bad in ("emotion", "emotion-race:wild"):
        with pytest.raises(AuditError, match="Unknown"):
            A.parse_model_name(bad)


# --- 100,000 rows through the CLI (fake model), and its exit status on a bad file ------------------------
def test_cli_audits_100k_rows_in_batches(tmp_path, monkeypatch, capsys):
    from explorer.__main__ import main

    n = 100_000
    rng = np.random.default_rng(0)
    names = np.where(rng.random(n) < 0.5, "Mary", "James")
    path = tmp_path / "big.csv"
    path.write_text("text,concept\n" + "".join(f"{w} is happy {i}.,{int(w == 'Mary')}\n"
                                                for i, w in enumerate(names)))
    fake = FakePair()
    monkeypatch.setattr(A, "load_audit_model", lambda name: _fake(fake))
    out, rows = tmp_path / "report.json", tmp_path / "rows.csv"
    assert main(["audit-text", "--csv", str(path), "--json", str(out), "--rows", str(rows)]) == 0
    report = json.loads(out.read_text())
    lines = rows.read_text().splitlines()
    assert len(lines) == n + 1 and lines[0].startswith("row,text,o_says,cf_says,o_cf_difference")
    lo, hi = report["intervals"]["treate"]
    assert lo < report["metrics"]["treate"] < hi and hi - lo < 0.01  # 100,000 independent rows: a tight interval
    assert report["n_audited"] == n and fake.seen == n and fake.calls == -(-n // A.BATCH)
    share = float((names == "Mary").mean())
    assert report["metrics"]["treate"] == pytest.approx(0.5 * share)  # Mary rows differ by 0.5, others by 0
    assert report["metrics"]["conexp"] == pytest.approx(0.5)
    assert "| TReATE |" in capsys.readouterr().out


def test_cli_bad_file_exits_2_with_a_message(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label\njoy\n")
    proc = subprocess.run([sys.executable, "-m", "explorer", "audit-text", "--csv", str(bad), "--json",
                           str(tmp_path / "r.json")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "no column named `text`" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.json").exists()


# --- the real model on a few hundred rows -----------------------------------------------------------------
@pytest.mark.skipif(not SHIPPED, reason="no CausaLM gender checkpoints in pretrained/: "
                                        "python -m explorer train causalm")
def test_real_model_matches_the_pair_called_directly():
    import pandas as pd

    from explorer.metrics.effects import ate_gt, treate
    from explorer.registry import load_text_pair
    from explorer.scm.templates import CLASSES as EMOTIONS
    from explorer.scm.templates import template_corpus

    rows = template_corpus("gender", "test")[:300]
    csv = pd.DataFrame({"text": [r.text for r in rows], "label": [EMOTIONS[r.label] for r in rows],
                        "concept": [r.value for r in rows], "text_cf": [r.text_cf for r in rows]}).to_csv(index=False)
    report = audit(read_audit_csv(csv.encode()), "emotion-gender")
    pair = load_text_pair("gender")
    p = pair.predict([r.text for r in rows], "balanced")
    p_cf_text = pair.predict([r.text_cf for r in rows], "balanced")["o"]
    assert report.metrics["treate"] == pytest.approx(treate(p["o"], p["cf"]), abs=1e-5)
    assert report.metrics["ate_gt"] == pytest.approx(ate_gt(p["o"], p_cf_text), abs=1e-5)
    assert report.metrics["acc_o"] == pytest.approx(float((p["o"].argmax(1) == [r.label for r in rows]).mean()))
    assert report.n_audited == 300 and not report.notes


def test_rows_with_an_unquoted_comma_are_left_out_and_named_not_misread():
    # every row has one field too many: pandas would make the first field an index and audit "sadly"
    with pytest.raises(AuditError, match=r"2 row\(s\) have more fields than the header's 2 \(up to 3\): rows 1, 2"):
        read_audit_csv(b"text,label\nMary was late, sadly,sadness\nJames won, finally,joy\n")
    frame = read_audit_csv(b"text,label\nMary is happy.,joy\nMary was late, sadly,sadness\n"
                           b'"James won, finally",joy\nJames wept.,sadness,,\n')
    assert frame["text"].tolist() == ["Mary is happy.", "James won, finally", "James wept."]
    assert any("1 row(s) have more fields" in n and "rows 2" in n and "left out" in n for n in frame.attrs["notes"])
    report = audit(frame, _fake())
    # the file's own row numbers survive the gap, and the left-out row counts among the file's rows
    assert report.rows["row"].tolist() == [1, 3, 4] and report.n_rows == 4 and report.n_audited == 3
    assert report.metrics["acc_o"] == pytest.approx(1 / 3)  # Mary -> anger (label joy); James rows -> joy
    with pytest.raises(AuditError, match="`text` more than once"):
        read_audit_csv(b"Text,text\na,b\n")
