"""`audit-table --cf --causal-model learned`: counterfactual fairness through the table lab's learned model on the
command line says which model it used, answers otherwise than the census world."""

from __future__ import annotations

import json

import pytest
from test_audit_table import _run  # the command line run as a test runs it: (exit status, stderr)

from explorer.services.audit_table_page import shipped_table

N = 400


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("learned") / "t.csv"
    shipped_table("adult").frame.head(N).to_csv(path, index=False)
    return path


def test_the_learned_model_on_the_command_line_says_so_and_differs_from_the_world(table, tmp_path, capsys):
    cf = {}
    for model in ("learned", "world"):
        out = tmp_path / f"{model}.json"
        code, err = _run(["audit-table", "--csv", str(table), "--shipped", "adult-gbm", "--label", "income",
                          "--positive", ">50K", "--protected", "sex", "--n-boot", "100", "--cf", "--cf-draws", "4",
                          "--causal-model", model, "--json", str(out), "--report", str(tmp_path / f"{model}.html")],
                         capsys)
        assert code == 0, err
        cf[model] = json.loads(out.read_text())["cf_fairness"]
        assert json.loads(out.read_text())["data"]["encoding"] == "utf-8"
    # the report says which causal model the numbers went through
    assert "causal-layer VAE learned from Adult" in (tmp_path / "learned.html").read_text()
    assert "published graph with mechanisms fitted" in (tmp_path / "world.html").read_text()
    assert cf["learned"]["causal_model"] == "learned:census-vae-adult"
    assert not cf["world"]["causal_model"].startswith("learned")
    for report in cf.values():
        assert 0.0 < report["sex"]["flip_rate"] < 1.0 and set(report["sex"]["path"]) == {"direct", "not_marital_status"}
    # two causal models, two answers: the learned one changes marital status and relationship more often
    assert cf["learned"]["sex"]["flip_rate"] != cf["world"]["sex"]["flip_rate"]

