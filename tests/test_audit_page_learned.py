"""The page "Audit a model" with counterfactual fairness through the learned causal model (census-vae-adult): the
service gives the command line's `--cf --causal-model learned` numbers on the same rows, draws and seed, on one
torch thread; the page offers the choice and names the model in the report; Find recourse then goes through the
learned model too, as `--recourse N --causal-model learned`."""

from __future__ import annotations

import json

import torch
from apptest_pages import FIRST_LOAD, no_exceptions, open_page
from test_audit_table import _run  # the command line as a test runs it: (exit status, stderr)

from explorer.services.audit_table_page import (CF_DRAWS, LEARNED, AuditRequest, AuditTableService, ModelChoice,
                                                shipped_table, uploaded_table)

PAGE = "pages/audit_model.py"
N = 300


def _plain(x):
    return json.loads(json.dumps(x, default=str).replace("NaN", "null"))


def test_the_learned_model_s_flip_rates_are_the_command_line_s(tmp_path, capsys, monkeypatch):
    csv = shipped_table("adult").frame.head(N).to_csv(index=False).encode()
    (tmp_path / "t.csv").write_bytes(csv)
    code, err = _run(["audit-table", "--csv", str(tmp_path / "t.csv"), "--shipped", "adult-gbm", "--label", "income",
                      "--positive", ">50K", "--protected", "sex", "--cf", "--cf-draws", str(CF_DRAWS), "--seed", "0",
                      "--causal-model", "learned", "--json", str(tmp_path / "cli.json")], capsys)
    assert code == 0, err
    cli = json.loads((tmp_path / "cli.json").read_text())["cf_fairness"]
    threads = []  # torch set to one thread for the VAE's step (`one_torch_thread`), then back
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.append(n) or real(n))
    service = AuditTableService()
    plan = service.plan(uploaded_table(csv, "t.csv"), AuditRequest("income", ">50K", ("sex",), rows=N,
                                                                   causal_model=LEARNED),
                        ModelChoice("shipped", "adult-gbm"))
    seen = []
    view = service.compute(plan, lambda done, total: seen.append((done, total)))
    cf = view.report["cf_fairness"]
    assert cf["causal_model"] == "learned:census-vae-adult" == cli["causal_model"]
    assert cf["sex"]["flip_rate"] == cli["sex"]["flip_rate"] and 0 < cf["sex"]["flip_rate"] < 1
    assert _plain(cf) == _plain(cli)
    assert view.report["causal_graph"]["name"] == "census-vae-adult"
    assert seen[-1] == (len(plan.steps), len(plan.steps)) and ("cf", "sex") in plan.steps  # its own step, its bar
    assert threads[:1] == [1] and len(threads) == 2 and torch.get_num_threads() == threads[1]
    world = service.compute(service.plan(uploaded_table(csv, "t.csv"), AuditRequest("income", ">50K", ("sex",),
                                                                                    rows=N),
                                         ModelChoice("shipped", "adult-gbm")))
    assert not world.report["cf_fairness"]["causal_model"].startswith("learned")
    assert world.report["cf_fairness"]["sex"]["flip_rate"] != cf["sex"]["flip_rate"]
    # Find recourse follows the learned model when the audit did, and the report names it
    from explorer.services.audit_table_recourse import RecourseService

    recourse = RecourseService(service)
    values = {k: v.default for k, v in recourse.controls().items()}
    rejected = [i for i in range(N) if int(view.rows["prediction"].iloc[i]) == 0][:3]
    rows = [recourse.find(view, i, values) for i in rejected]
    assert all(not r.note for r in rows), [r.note for r in rows]
    found = [r for r in rows if r.found]
    assert found and recourse.learned(view) is not None and recourse.learned(world) is None
    for r in found:  # sex, race and native country never change; age never goes down
        causal = r.answers["causal"]
        assert not {"sex", "race", "native_country"} & set(causal["do"] or {}), causal["do"]
    section = json.loads(recourse.report(view, rows).json)["recourse"]
    assert section["causal_model"] == "learned:census-vae-adult"
    assert json.loads(recourse.report(world, [recourse.find(world, i, values) for i in rejected[:1]]).json
                      )["recourse"]["causal_model"].startswith("the census")


def test_on_the_page_the_causal_model_is_chosen_and_named_in_the_report():
    at = open_page(PAGE, {"data": "adult", "model": "adult-gbm", "protected": "sex", "rows": "200"})
    radio = at.radio(key="atopt_causal")
    assert radio.value == "world" and radio.options == ["the census world (default)",
                                                        "learned from Adult (census-vae-adult)"]
    assert any("**Find recourse** (One row tab) follow the causal model" in c.value for c in at.caption)
    radio.set_value(LEARNED).run()
    at.button(key="audit_model_run").click().run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    report = json.loads(at.session_state["_at_job"].view.json)
    assert report["cf_fairness"]["causal_model"] == "learned:census-vae-adult"
    assert any("through the learned model census-vae-adult" in c.value for c in at.caption)
    assert "causal" not in at.query_params and "atopt_causal" not in at.query_params  # links audit through the world
    at.toggle(key="at_cf").set_value(False).run()
    assert not [r for r in at.radio if r.key == "atopt_causal"]  # no counterfactual fairness: nothing to choose
