"""`audit-table --types COLUMN=KIND`: the page's column-type correction on the command line (issue 21). A code
column written as floats (10115.0) is read as the category the model knows (10115) only when corrected, with the
page's own `retype`; the types used are in `data.column_types`; a bad kind, an unknown column or a column that
cannot be read as numbers is one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from explorer.evaluate.audit_table import AuditTableConfig, audit_table
from explorer.metrics.group_fairness import BootstrapConfig
from explorer.models.table_onnx import load_table_model
from explorer.services.audit_table_data import KINDS, columns, retype
from test_audit_table import _run  # main(argv) with the parser's SystemExit(2) read as a return code

ZIPS = ["10115", "20095", "80331", "50667"]
ROWS = pd.DataFrame({"zip": [float(z) for z in ZIPS] * 10, "sex": ["F", "M", "M", "F", "M"] * 8,
                     "age": np.linspace(20, 60, 40), "y": [0, 1, 1, 0, 1, 0, 0, 1] * 5})


def _zip_model() -> bytes:
    """A pipeline exported by the test that knows the zip codes as text (handle_unknown='error')."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    train = ROWS.assign(zip=ZIPS * 10)[["zip", "age"]]
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error"), ["zip"])],
                                                remainder="passthrough")), ("clf", LogisticRegression())])
    pipe.fit(train, ROWS.y)
    return to_onnx(pipe, initial_types=[("zip", StringTensorType([None, 1])), ("age", FloatTensorType([None, 1]))],
                   options={id(pipe): {"zipmap": False}}).SerializeToString()


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "m.onnx").write_bytes(_zip_model())
    ROWS.to_csv(tmp_path / "t.csv", index=False)  # zip written as 10115.0: a number column
    ROWS.assign(age=["old"] + list(ROWS.age[1:])).to_csv(tmp_path / "word.csv", index=False)
    (tmp_path / "out").mkdir()
    return tmp_path


def _audit(files, *extra: str, csv: str = "t.csv"):
    return ["audit-table", "--csv", str(files / csv), "--model", str(files / "m.onnx"), "--label", "y",
            "--protected", "sex", "--n-boot", "100", "--json", str(files / "out" / "a.json"), *extra]


def test_a_code_column_read_as_a_category_is_what_the_page_correction_gives(files, capsys):
    code, err = _run(_audit(files), capsys)  # as inferred: 10115.0, a category the model never saw, in every row
    assert code == 2 and "its OneHotEncoder node: Unknown Category" in err
    code, err = _run(_audit(files, "--types", "zip=categorical"), capsys)
    assert code == 0, err
    report = json.loads((files / "out" / "a.json").read_text())
    assert report["data"]["types_corrected"] == {"zip": "category"}
    assert report["data"]["column_types"] == {"zip": "category", "sex": "category", "age": "number", "y": "number"}
    assert report["data"]["failed_rows"]["count"] == 0
    # the page's own correction ("Read as categories": the inferred categories and zip), audited by the library
    inferred = tuple(i.name for i in columns(ROWS) if i.kind == "category")
    frame = retype(ROWS, inferred + ("zip",))
    assert list(frame.zip[:4]) == ZIPS
    expected, _ = audit_table(frame, AuditTableConfig("y", ("sex",), boot=BootstrapConfig(100, 0)),
                              load_table_model(_zip_model(), "m").predict_proba)
    for key in ("overall", "groups", "fairness", "reading"):
        assert report[key] == expected[key], key


def test_the_last_kind_given_for_a_column_wins_and_a_number_column_stays_one(files, capsys):
    code, err = _run(_audit(files, "--types", "zip=number", "--types", "zip=category,age=continuous"), capsys)
    assert code == 0, err
    data = json.loads((files / "out" / "a.json").read_text())["data"]
    assert data["types_corrected"] == {"zip": "category", "age": "number"} and data["column_types"]["age"] == "number"


@pytest.mark.parametrize("extra, csv, words", [
    (["--types", "zip=ordinal"], "t.csv", "zip=ordinal: the audit reads a column as a category or a number"),
    (["--types", "zip=text"], "t.csv", "'text' is not a kind of column; write zip=category or zip=number"),
    (["--types", "zip"], "t.csv", "'zip' is not COLUMN=KIND; write e.g. --types zip=category"),
    (["--types", ","], "t.csv", "--types names nothing"),
    (["--types", "postcode=category"], "t.csv", "--types names the column 'postcode', which is not in the table"),
    (["--types", "age=number,sex=category"], "word.csv", "--types: Column age cannot be read as numbers: row 0 "
                                                         "holds 'old'"),
])
def test_bad_types_are_one_line_exit_2_and_nothing_written(files, capsys, extra, csv, words):
    code, err = _run(_audit(files, "--rows", str(files / "out" / "r.csv"), *extra, csv=csv), capsys)
    lines = [line for line in err.splitlines() if line.strip() and "auditing" not in line]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], err
    assert not list((files / "out").iterdir())


def test_the_command_lines_kinds_are_the_pages():
    from explorer.cli_audit_table import TYPE_KINDS

    assert set(TYPE_KINDS) == set(KINDS) and set(KINDS.values()) == {"category", "number"}
