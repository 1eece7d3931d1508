"""Every page answers a bad link and a bad upload with a message on the page, never an exception.

Links: negative, fractional and huge numbers, NaN and infinity, words where numbers go, unknown settings and
names, empty and 5,000-character values, the same on every page (home included, which reads no settings).
A note repeats a bad value shortened (`explorer.ui.common.format.echo`), so a long link cannot flood the page.
Uploads: ONNX models and audit CSVs that are oversized, empty, binary garbage or of another kind.

Each case opens its page afresh in AppTest, as a visitor following a shared link would; the models load once
per test process, so after each page's first case a case takes well under a second.
"""

from __future__ import annotations

import os

import pytest

from apptest_pages import no_exceptions, open_page
from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.data.upload_onnx import MAX_BYTES
from explorer.ui.common.format import ECHO_CHARS

IMAGE, LAB, TEXT, FLIP, TABLE, AUDIT, TRAIN = (
    f"pages/{p}.py" for p in ("image_whatif", "causal_graph_lab", "text_whatif", "flip_classifier", "table_lab",
                              "audit_model", "train_with_counterfactuals"))
HOME = None
LONG = "9" * 5000
MANY = ",".join(f"x{i}" for i in range(2000))  # a list setting with 2,000 unusable items
NOTE_MAX = 600  # characters: a note names what was wrong; it never repeats a whole long value

# (page, the link's settings, words one of the page's messages must hold)
LINKS = [
    (IMAGE, {"index": "-5"}, "asked for test digit #-5; the test set has #0–#9999, so #0 is shown"),
    (IMAGE, {"index": "abc"}, "index='abc' is not a number"),
    (IMAGE, {"index": "nan"}, "index='nan' is not a number"),
    (IMAGE, {"index": "1e309"}, "index='1e309' is not a number"),
    (IMAGE, {"index": "1e300"}, "so #9999 is shown"),
    (IMAGE, {"index": LONG}, "(5,000 characters\\)"),
    (IMAGE, {"index": ""}, "index='' is not a number"),
    (IMAGE, {"thickness": "nan"}, "thickness='nan' is not a number"),
    (IMAGE, {"thickness": "1e309"}, "thickness='1e309' is not a number"),
    (IMAGE, {"thickness": "-1e309"}, "thickness='-1e309' is not a number"),
    (IMAGE, {"thickness": "thick"}, "thickness='thick' is not a number"),
    (IMAGE, {"thickness": LONG}, "(5,000 characters\\)"),
    (IMAGE, {"digit": "seven"}, "digit='seven' is not a number"),
    (IMAGE, {"zzz": "1"}, "zzz='1' is not a variable of this world"),
    (IMAGE, {"z" * 300: "1"}, "(300 characters\\)"),
    (IMAGE, {"world": "zzz"}, "world='zzz' is not grey or colour, so the grey world is shown"),
    (IMAGE, {"hue": "0.5"}, "exists only in the colour world"),
    (IMAGE, {"world": "colour", "hue": "inf"}, "hue='inf' is not a number"),
    (IMAGE, {"classifier": "nope"}, "classifier='nope' is not a variable of this world"),
    (LAB, {"scene": "-5"}, "scene #-5 does not exist"),
    (LAB, {"scene": "1.5"}, "scene='1.5' is not a whole number"),
    (LAB, {"scene": "nan"}, "scene='nan' is not a whole number"),
    (LAB, {"scene": "1e309"}, "is not a whole number"),
    (LAB, {"scene": LONG}, "(5,000 characters\\)"),
    (LAB, {"cut": "a-b"}, "cut='a-b' is not an arrow"),
    (LAB, {"cut": "light-light"}, "cut='light-light' is not an arrow"),
    (LAB, {"cut": MANY}, "and 1,995 more are not arrows"),
    (LAB, {"add": "shadow_length-pendulum"}, "left out: the graph has a cycle"),
    (LAB, {"light": "nan"}, "light='nan' is not a number"),
    (LAB, {"light": "1e309"}, "light='1e309' is not a number"),
    (LAB, {"pendulum": "500"}, "outside its range"),
    (LAB, {"index": "3", "tab": "zzz"}, "index, tab are not settings of this page"),
    (TEXT, {"concept": "zzz"}, "concept='zzz' is not one of adjectives, gender, race"),
    (TEXT, {"concept": LONG}, "(5,000 characters\\)"),
    (TEXT, {"level": "zzz"}, "level='zzz' is not one of balanced, gentle, aggressive"),
    (TEXT, {"text": "x " * 10_000}, "20,000 characters; its first 2,000 are shown"),
    (TEXT, {"text": "   "}, "The link's text is empty"),
    (TEXT, {"index": "5"}, "setting index='5' is not one this page reads"),
    (TEXT, {"tab": "zzz"}, "setting tab='zzz' is not one this page reads"),
    (FLIP, {"index": "-5"}, "so #0 is shown"),
    (FLIP, {"index": "abc"}, "index='abc' is not a number"),
    (FLIP, {"index": "inf"}, "index='inf' is not a number"),
    (FLIP, {"classifier": "nope"}, "classifier='nope' is not one of this app's classifiers"),
    (FLIP, {"classifier": LONG}, "(5,000 characters\\)"),
    (FLIP, {"target": "zzz"}, "target='zzz' is not a class"),
    (FLIP, {"locks": "digit,wings"}, "locks 'wings' are not things that can be kept"),
    (FLIP, {"locks": "hue"}, "hue, which exists only in the colour world"),
    (FLIP, {"locks": MANY}, "and 1,995 more are not things"),
    (FLIP, {"tab": "zzz"}, "tab='zzz' is not one of this page's tabs"),
    (FLIP, {"world": "zzz"}, "world='zzz' is not grey or colour"),
    (FLIP, {"thickness": "3"}, "setting thickness='3' is not one this page reads"),
    (TABLE, {"row": "-5"}, "row -5 does not exist (0–9,999); row 0 is shown"),
    (TABLE, {"row": "abc"}, "row='abc' is not a whole number"),
    (TABLE, {"row": LONG}, "(5,000 characters\\)"),
    (TABLE, {"source": "zzz"}, "source='zzz' is not one of adult, world"),
    (TABLE, {"seed": "nan"}, "seed='nan' is not a whole number"),
    (TABLE, {"cut": "sex:zzz"}, "is not an arrow `parent:child` between two columns"),
    (TABLE, {"cut": "age:sex"}, "age → sex, which is not an arrow of the published graph"),
    (TABLE, {"sex": "Alien"}, "sex='Alien' is not a category of sex"),
    (TABLE, {"age": "1e309"}, "age='1e309' is not a number"),
    (TABLE, {"zzz": "1"}, "zzz is not a column or setting of this page"),
    (AUDIT, {"data": "zzz"}, "data='zzz' is not a shipped table"),
    (AUDIT, {"model": "zzz"}, "model='zzz' is not a shipped model"),
    (AUDIT, {"label": "zzz"}, "label='zzz' is not a column of the adult table"),
    (AUDIT, {"protected": "zzz"}, "protected columns 'zzz' are not columns of the adult table"),
    (AUDIT, {"rows": "-3"}, "rows=-3 is outside 50–15,060, so 50 is used"),
    (AUDIT, {"rows": "nan"}, "rows='nan' is not a number"),
    (AUDIT, {"zzz": "1"}, "setting zzz='1' is not one this page reads"),
    (TRAIN, {"strength": "0.5"}, "strength='0.5' is not one of this page's strengths"),
    (TRAIN, {"strength": LONG}, "(5,000 characters\\)"),
    (TRAIN, {"methods": MANY}, "and 1,995 more are not methods"),
    (TRAIN, {"methods": "unconfounded"}, "methods 'unconfounded' are not methods Train now offers"),
    (TRAIN, {"zzz": "1"}, "setting zzz='1' is not one this page reads"),
    (HOME, {"index": "3"}, "setting index='3' is not one this page reads"),
    (HOME, {"thickness": "nan"}, "setting thickness='nan' is not one this page reads"),
    (HOME, {"tab": LONG}, "(5,000 characters\\)"),
]


def messages(at) -> list[str]:
    return [m.value for m in (*at.warning, *at.error, *at.info)]


@pytest.mark.parametrize("page, query, words", LINKS,
                         ids=[f"{p or 'home'}:{','.join(f'{k[:12]}={v[:12]}' for k, v in q.items())}"
                              for p, q, _ in LINKS])
def test_a_bad_link_is_named_on_the_page_not_raised(page, query, words):
    at = open_page(page, query)  # asserts no exception
    said = messages(at)
    assert any(words in m for m in said), said
    assert all(len(m) < NOTE_MAX for m in said), [m[:200] for m in said if len(m) >= NOTE_MAX]
    assert not any(k[:ECHO_CHARS + 1] in m for k, v in query.items() for m in said if len(k) > ECHO_CHARS)


# --- uploads --------------------------------------------------------------------------------------------
ONNX_UPLOADS = [
    ("big.onnx", b"\x08\x07" + b"\x00" * MAX_BYTES, "the limit is 50.0 MB"),
    ("empty.onnx", b"", "The file is empty"),
    ("garbage.onnx", b"\x00\xff" + os.urandom(4000), "not an ONNX model"),
    ("texts.onnx", b"text,label\nMary was glad.,joy\n", "not an ONNX model"),
    ("model.onnx", b"PK\x03\x04" + os.urandom(500), "not an ONNX model"),  # a PyTorch .pt zip renamed
]
CSV_UPLOADS = [
    ("big.csv", b"text\n" + b"Mary was glad.\n" * (MAX_UPLOAD_BYTES // 15 + 1), "the page audits files up to 10.0 MB"),
    ("empty.csv", b"", "The file is empty"),
    ("garbage.csv", b"\x00\x01" + os.urandom(4000), "binary data"),
    ("book.csv", b"PK\x03\x04" + os.urandom(500), "an Excel workbook or a zip archive"),
    ("doc.csv", b"%PDF-1.4\n" + os.urandom(500), "a PDF document"),
    ("scores.csv", b"name,score\nMary,3\n", "no column named `text`"),
    ("header.csv", b"text,label\n", "no rows to audit"),
    ("quote.csv", b'text\n"Mary was glad\n', "could not be read as CSV"),
]


@pytest.mark.parametrize("name, data, words", ONNX_UPLOADS, ids=[u[0] for u in ONNX_UPLOADS])
def test_a_bad_onnx_upload_is_refused_on_the_page(name, data, words):
    at = open_page(FLIP)
    at.file_uploader(key="flip_upload").set_value((name, data, "application/octet-stream")).run()
    at.button(key="flip_add").click().run()
    no_exceptions(at)
    assert any("This model cannot be used" in m and words in m for m in messages(at)), messages(at)
    assert at.session_state["_flip_uploads"] == {}  # nothing kept


@pytest.mark.parametrize("name, data, words", CSV_UPLOADS, ids=[u[0] for u in CSV_UPLOADS])
def test_a_bad_audit_csv_is_refused_on_the_page(name, data, words):
    at = open_page(TEXT)
    at.file_uploader(key="audit_file").set_value((name, data, "text/csv")).run()
    no_exceptions(at)
    assert any("This file cannot be audited" in m and words in m for m in messages(at)), messages(at)
