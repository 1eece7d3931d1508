"""The Train-with-counterfactuals page: its service (samples, matrix, results, Train now's worker, cancel, queue),
the page in AppTest (renders, bad and hostile links, a Train now run that reaches the Flip page's classifiers) and
one Chromium run (start a training, see its progress, cancel it).

Train now runs tiny here (EXPLORER_TRAIN_NOW_LIMIT digits, 2 epochs: a second or two per method) so the file
stays quick on 2 cores; the Chromium run keeps a bigger one, long enough to be cancelled while it runs.
"""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
from playwright.sync_api import expect
import torch

from apptest_pages import no_exceptions, open_page
from explorer.services.cf_training import MAX_WAITING, CFTrainingService, Job, TrainQueue, read_results
from explorer.ui.common.format import ECHO_CHARS
from test_browser import CHROMIUM, browser, server  # noqa: F401 - the shared fixtures of the browser tests

PAGE = "pages/train_with_counterfactuals.py"
TINY = 512  # training digits for Train now in these tests: 8 steps of 128 over 2 epochs
SLOW = 8_000  # the page's own size, for the Chromium run's cancel
RESULTS = {"s0.99.confounding_before": 0.951, "s0.99.erm.ood_acc_mean": 0.31, "s0.99.erm.ood_acc_sd": 0.02,
           "s0.99.erm.iid_acc_mean": 0.99, "s0.99.erm.n_seeds": 3, "s0.99.cf_regularise.ood_acc_mean": 0.96,
           "s0.99.cf_regularise.ood_acc_sd": 0.01, "s0.99.cf_regularise.iid_acc_mean": 0.97,
           "s0.99.cf_regularise.hue_invariance_mean": 0.98, "s0.99.cf_regularise.n_seeds": 3,
           "s0.erm.ood_acc_mean": 0.97, "s0.erm.ood_acc_sd": 0.0, "s0.erm.iid_acc_mean": 0.97, "s0.erm.n_seeds": 3}


def wait(job: Job, until=lambda j: j.finished, timeout: float = 120) -> Job:
    deadline = time.monotonic() + timeout
    while not until(job):
        assert time.monotonic() < deadline, (job.state, job.phase, job.message)
        time.sleep(0.05)
    return job


@pytest.fixture(scope="module", autouse=True)
def tiny_page(tmp_path_factory):
    """The page's service with a tiny Train now and a results file of our own; no background text models."""
    from explorer.ui.cf_training import CF, LIMIT_ENV, RESULTS_ENV

    path = tmp_path_factory.mktemp("cf") / "results.json"
    path.write_text(json.dumps(RESULTS))
    saved = {k: os.environ.get(k) for k in (LIMIT_ENV, RESULTS_ENV, "EXPLORER_PREWARM")}
    os.environ.update({LIMIT_ENV: str(TINY), RESULTS_ENV: str(path), "EXPLORER_PREWARM": "0"})
    CF.shared.clear()
    yield
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    CF.shared.clear()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return CFTrainingService(tmp_path_factory.mktemp("none") / "missing.json", torch.device("cpu"), limit=TINY,
                             curve_n=100, every=2)


# --- the service ----------------------------------------------------------------------------------------
def test_samples_show_colour_following_the_digit_and_the_matrix_measures_it(service):
    strong, none = service.strength(0.99), service.strength(0)
    assert strong.images.shape == (4, 10, 3, 28, 28)  # four of every digit, digits in columns
    assert strong.own_band > 0.95 and none.own_band < 0.15
    d, h = strong.names.index("digit"), strong.names.index("hue")
    assert strong.matrix[d, h] > 0.9 and none.matrix[d, h] < 0.02 and strong.rows == 20_000
    with pytest.raises(ValueError, match="not one of the grid's"):
        service.strength(0.5)


def test_the_matrix_picture_writes_each_cell_and_escapes_the_names():
    import xml.etree.ElementTree as ET

    from explorer.ui.cf_training_charts import matrix_svg

    matrix = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.25], [0.0, 0.25, 1.0]])
    svg = ET.fromstring(matrix_svg(["digit", "<b>hue</b>", "thickness"], matrix))
    ns = "{http://www.w3.org/2000/svg}"
    cells = svg.findall(f"{ns}rect")
    words = [t.text for t in svg.iter(f"{ns}text")]
    assert len(cells) == 9 and words.count("<b>hue</b>") == 2  # as text, never markup
    assert [w for w in words if w[0].isdigit()] == [f"{v:.2f}" for v in matrix.ravel()]
    fills = [c.get("fill") for c in cells]
    assert fills[0] == "#08306b" and fills[2] == "#f7fbff"  # 1: the darkest blue, 0: the lightest
    assert fills[0] != fills[5] != fills[2]  # 0.25 in between


def test_results_missing_name_the_command_and_present_ones_read_in_words(service):
    missing = service.results()
    assert "not built yet" in missing.note and "evaluate cf-training --json" in missing.command
    res = read_results(RESULTS)
    assert res.scores[(0.99, "erm")].ood == 0.31 and res.scores[(0.99, "cf_regularise")].seeds == 3
    strong = next(r for r in res.readings if "Strength 0.99" in r)
    assert "reads colour" in strong and "random 31 %" in strong and "(CF regularisation) 96 %" in strong
    assert "does not lean on colour" in next(r for r in res.readings if "Strength 0." in r and "0.99" not in r)
    assert read_results({"runs": 0}).note  # an evaluation with no model in it


def test_examples_are_the_generators_counterfactuals_of_one_digit_each(service):
    ex = service.examples(0.99)
    assert sorted(ex.digits) == list(range(10)) and ex.factual.shape == (10, 3, 28, 28)
    assert ex.hue_cf.shape == ex.hue_true.shape == (2, 10, 3, 28, 28) and ex.digit_cf.shape == (10, 3, 28, 28)
    assert (ex.digit_asked != ex.digits).all()
    # the TRUE do(hue) only recolours: its brightest channel is the factual stroke
    assert np.allclose(ex.hue_true[0].max(axis=1), ex.factual.max(axis=1), atol=1.0)


def test_train_now_runs_in_the_worker_with_progress_curves_and_a_usable_model(service):
    job = wait(service.submit(0.99, ["erm"]))
    assert job.state == "done" and job.progress == 1.0, job.message
    points = job.curves["erm"]
    assert points[0][0] == 0 and points[-1][0] == 8 and len(points) >= 4  # every 2 steps of 8
    assert all(0 <= iid <= 1 and 0 <= ood <= 1 for _, iid, ood in points)
    clf = job.classifiers["erm"]
    assert "trained here" in clf.name and clf.engine == "PyTorch"
    with torch.inference_mode():
        assert clf.predict_proba(torch.zeros(2, 3, 28, 28)).shape == (2, 10)
    assert clf.card["method"] == "erm" and clf.card["train"]["limit"] == TINY  # loaded from what the run saved
    assert not job.folder.exists()  # and the folder is gone: the model lives in the session only


def test_a_second_request_waits_its_turn_and_cancel_keeps_nothing(tmp_path):
    slow = CFTrainingService(tmp_path / "none.json", torch.device("cpu"), limit=4096, curve_n=100, every=2)
    first, second, third = (slow.submit(0.99, m) for m in (["erm"], ["erm"], ["grad_supervision_random"]))
    wait(first, lambda j: j.curves.get("erm"))  # running: its first curve point is in
    assert (slow.place(first), slow.place(second), slow.place(third)) == (0, 1, 2)
    assert second.state == third.state == "queued"
    slow.cancel(second)  # never started
    assert second.state == "cancelled" and slow.place(second) == -1 and slow.place(third) == 1
    slow.cancel(first)  # stops at the next step
    wait(first)
    assert first.state == "cancelled" and not first.classifiers and not first.folder.exists()
    assert first.curves["erm"][-1][0] < 64  # stopped well before its 64 steps
    wait(third, lambda j: j.state == "running")
    slow.cancel(third)
    assert wait(third).state == "cancelled" and not third.folder.exists()


def test_the_queue_runs_one_job_at_a_time_in_order_and_is_bounded():
    gate, ran = threading.Event(), []
    queue = TrainQueue(lambda job: (ran.append(job), gate.wait(10)))
    jobs = [Job(0.99, ("erm",)) for _ in range(MAX_WAITING + 1)]
    queue.submit(jobs[0])
    wait(jobs[0], lambda j: queue.place(j) == 0)  # running: the others wait behind it
    for job in jobs[1:]:
        queue.submit(job)
    assert [queue.place(j) for j in jobs] == list(range(MAX_WAITING + 1))
    with pytest.raises(ValueError, match="The trainer is busy"):
        queue.submit(Job(0.99, ("erm",)))
    gate.set()
    wait(jobs[-1], lambda j: queue.place(j) == -1)
    assert ran == jobs  # first come, first served


def test_no_page_waits_for_lightning_until_a_training_starts():
    """Lightning's import takes ~10 s here: the pages' modules (this one's included) leave it to Train now."""
    import subprocess
    import sys

    from explorer.paths import ROOT

    probe = ("import pkgutil, importlib, sys; import explorer.ui as ui, explorer.services as sv\n"
             "for pkg in (sv, ui):\n"
             "    for m in pkgutil.iter_modules(pkg.__path__):\n"
             "        if m.name != 'cf_live_curves':\n"
             "            importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
             "print(len(sys.modules) > 500, 'lightning' in sys.modules, 'torchmetrics' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.stdout.split() == ["True", "False", "False"], proc.stdout + proc.stderr[-2000:]


def test_a_failed_training_is_a_message_and_keeps_nothing(monkeypatch):
    import explorer.training.cf_training as trainer  # the service imports it when a training starts

    def broken(cfg, progress=None, cancelled=None):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(trainer, "train_cf_classifier", broken)
    at = open_page(PAGE, {"methods": "erm"})
    at.button(key="cf_train").click().run()
    job = wait(at.session_state["_cf_job"])
    assert job.state == "failed" and "the disk is full" in job.message and not job.folder.exists()
    at.run()
    no_exceptions(at)
    assert any("The training failed" in e.value and "the disk is full" in e.value for e in at.error)
    assert not at.button(key="cf_train").disabled


def test_unknown_methods_and_strengths_are_refused(service):
    for strength, methods in ((0.99, ["unconfounded"]), (0.99, ["zzz"]), (0.99, []), (0.3, ["erm"])):
        with pytest.raises(ValueError):
            service.submit(strength, methods)


# --- the page -------------------------------------------------------------------------------------------
def test_the_page_shows_the_data_the_results_and_writes_its_link():
    at = open_page(PAGE, {"strength": "0.9", "methods": "erm,grad_supervision"})
    assert at.session_state["cf_strength"] == "0.9 (90 %)"  # the open tab
    assert [t.label for t in at.tabs] == ["0 (0 %)", "0.9 (90 %)", "0.99 (99 %)",
                                          "1 (100 %)"]
    heads = {h.value for h in at.subheader}  # every strength drawn, each in its tab
    assert {f"1 · The training data at strength {s}" for s in ("0", "0.9", "0.99", "1")} <= heads
    assert at.multiselect(key="cf_methods").value == ["erm", "grad_supervision"]
    assert len(at.image) >= 4 * 3 and not at.error  # each strength's samples, matrix and counterfactuals
    text = "\n".join(m.value for m in at.markdown)
    assert "reads colour" in text and "random 31 %" in text
    assert at.query_params == {"strength": "0.9", "methods": "erm,grad_supervision"}
    at.session_state["cf_strength"] = "0 (0 %)"  # as a click on the tab does
    at.run()
    no_exceptions(at)
    assert at.query_params["strength"] == "0"
    at.multiselect(key="cf_methods").set_value(["cf_regularise"]).run()  # below the strength's fragment
    assert at.query_params == {"strength": "0", "methods": "cf_regularise"}


def test_without_results_the_page_names_the_command(tmp_path, monkeypatch):
    from explorer.ui.cf_training import CF, RESULTS_ENV

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "none.json"))
    CF.shared.clear()
    try:
        at = open_page(PAGE)
        assert any("not built yet" in i.value and "evaluate cf-training --json bench/results/" in i.value
                   for i in at.info)
    finally:
        CF.shared.clear()


LONG = "9" * 5000
BAD_LINKS = [({"strength": "0.5"}, "strength='0.5' is not one of this page's strengths", True),
             ({"strength": "abc"}, "strength='abc' is not one of", True),
             ({"strength": "nan"}, "strength='nan' is not one of", True),
             ({"strength": LONG}, "(5,000 characters\\)", True),
             ({"methods": "erm,zzz"}, "methods 'zzz' are not methods Train now offers", True),
             ({"methods": "unconfounded"}, "methods 'unconfounded' are not", True),
             ({"foo": "1"}, "setting foo='1' is not one this page reads", False)]


@pytest.mark.parametrize("query, words, error", BAD_LINKS, ids=[",".join(q)[:20] + w[:12] for q, w, _ in BAD_LINKS])
def test_a_bad_link_gets_a_message_not_a_traceback(query, words, error):
    at = open_page(PAGE, query)
    said = [m.value for m in (at.error if error else at.warning)]
    assert any(words in m for m in said), said
    assert all(len(m) < 600 for m in said) and not any(LONG[:ECHO_CHARS + 1] in m for m in said)
    assert at.session_state["cf_strength"] == "0.99 (99 %)"  # the default where the link's is unusable
    assert at.multiselect(key="cf_methods").value  # at least one method is always picked


# Hostile links: the page is in tests/test_security.py's LINK_SETTINGS, with every other page.


def test_train_now_on_the_page_reaches_the_flip_pages_classifiers():
    at = open_page(PAGE, {"strength": "0.99", "methods": "erm"})
    at.button(key="cf_train").click().run()
    no_exceptions(at)
    job = at.session_state["_cf_job"]
    assert job.methods == ("erm",) and at.button(key="cf_train").disabled
    wait(job)
    at.run()
    no_exceptions(at)
    assert any("Trained in" in s.value for s in at.success), [s.value for s in at.success]
    name = job.classifiers["erm"].name
    assert name in at.session_state["_flip_uploads"]
    flip = at.switch_page("pages/flip_classifier.py").run()
    no_exceptions(flip)
    assert name in flip.selectbox(key="flip_classifier").options


# --- Chromium -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slow_train_now():
    """The server started below trains at the page's own size, long enough to be cancelled mid-run."""
    from explorer.ui.cf_training import LIMIT_ENV

    os.environ[LIMIT_ENV] = str(SLOW)
    yield
    os.environ[LIMIT_ENV] = str(TINY)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_in_chromium_start_a_training_see_progress_a_second_visitor_wait_and_cancel(slow_train_now, server, browser):  # noqa: F811
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    # two methods, ~50 s: long enough for the second visitor to queue behind it on a busy machine
    page.goto(f"{server}/train_with_counterfactuals?strength=0.99&methods=erm,cf_regularise")
    start = page.locator(".st-key-cf_train button")
    start.wait_for(timeout=150_000)
    start.click()
    page.locator("[data-testid=stProgress]").wait_for(timeout=60_000)
    page.get_by_text("Training Plain training (ERM)").wait_for(timeout=60_000)
    page.locator(".st-key-cf_curves .js-plotly-plot").wait_for(timeout=60_000)  # the live curves, drawn
    assert start.is_disabled()
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # a second visitor
    other.goto(f"{server}/train_with_counterfactuals?strength=0&methods=erm")
    other.locator(".st-key-cf_train button").click(timeout=60_000)
    other.get_by_text("your training is number 1 in line").wait_for(timeout=30_000)  # waits for the first
    other.locator(".st-key-cf_cancel button").click()
    other.get_by_text("Nothing was kept").wait_for(timeout=30_000)
    page.locator(".st-key-cf_cancel button").click()
    page.get_by_text("Nothing was kept").wait_for(timeout=60_000)
    # the panel says so first; the whole-page rerun that follows brings the Train button back
    expect(start).to_be_enabled(timeout=30_000)
    assert "strength=0.99" in page.url and "methods=erm,cf_regularise" in page.url
    other.context.close()
    page.context.close()


def test_in_chromium_a_strength_change_shows_its_tab_and_writes_the_link(server, browser):  # noqa: F811
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server}/train_with_counterfactuals?strength=0.99&methods=erm")
    page.get_by_text("1 · The training data at strength 0.99").wait_for(timeout=150_000)
    shown = page.get_by_text("Training digits at strength 0.9:")
    expect(shown).to_be_hidden()  # drawn already, in its closed tab
    page.locator(".st-key-cf_strength").get_by_role("tab", name="0.9 (90 %)").click()
    expect(shown).to_be_visible(timeout=5_000)
    expect(page.get_by_text("Training digits at strength 0.99:")).to_be_hidden()
    page.wait_for_function("() => location.search.includes('strength=0.9&')", timeout=30_000)  # the rerun's
    assert "methods=erm" in page.url  # the methods chosen below the fragment stay in the link
    expect(page.locator(".st-key-cf_strength [role=tab][aria-selected=true]")).to_have_text("0.9 (90 %)")
    page.reload()  # the link opens the tab it names
    expect(page.get_by_text("Training digits at strength 0.9:")).to_be_visible(timeout=150_000)
    expect(page.get_by_text("Training digits at strength 0.99:")).to_be_hidden()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the four tabs fit, none behind a scroll
    last = page.locator(".st-key-cf_strength [role=tab]").last
    expect(last).to_have_text("1 (100 %)")
    page.wait_for_function("() => { const t = [...document.querySelectorAll('.st-key-cf_strength [role=tab]')];"
                           " return t.length === 4 && t[3].getBoundingClientRect().right <= 390; }", timeout=10_000)
    page.context.close()
