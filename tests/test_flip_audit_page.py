"""The Flip page's second tab, "What flips this model?" (explorer/ui/flip_audit.py, explorer/services/audit_page.py),
and the visitor's uploads on the Image what-if page.

A shipped classifier's audit is read from a precomputed file: here a hand-written report in a temporary folder,
whose numbers the chart and the sentence must show, and the shipped files themselves. An upload is audited on the
page in chunks on the model thread, with a small step budget; a what-if of another visitor runs between two chunks.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import weakref

import pytest
import torch

from apptest_pages import no_exceptions, open_page
from explorer.evaluate.audit_classifier import LABELS, attribute_sets, audit_classifier
from explorer.registry import MORPHO, load_classifier
from explorer.services.audit_page import AuditUnavailable, digit_groups, merge_reports

PAGE, IMAGE_PAGE = "pages/flip_classifier.py", "pages/image_whatif.py"
STEPS = 10  # search steps per query: the audit's numbers do not matter here, its path through the page does
AUDIT_TAB = "What flips this model?"
DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module", autouse=True)
def few_steps():
    """Fresh Flip and audit services with a small step budget, and no background load of the text models."""
    from explorer.ui.flip import FLIP, STEPS_ENV
    from explorer.ui.flip_audit import AUDIT

    saved = {k: os.environ.get(k) for k in (STEPS_ENV, "EXPLORER_PREWARM")}
    os.environ.update({STEPS_ENV: str(STEPS), "EXPLORER_PREWARM": "0"})
    FLIP.shared.clear()
    AUDIT.shared.clear()
    yield
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    FLIP.shared.clear()
    AUDIT.shared.clear()


@pytest.fixture(scope="module")
def audits(few_steps):
    from explorer.ui.flip_audit import AUDIT

    return AUDIT.shared()  # the instance the page uses (Streamlit's resource cache is per process)


@pytest.fixture(scope="module")
def cnn_onnx(cpu) -> bytes:
    """The shipped grey CNN exported to ONNX in memory: an upload that reads digits well."""
    module = load_classifier(MORPHO["classifier"], cpu).module
    buf = io.BytesIO()
    torch.onnx.export(module, (torch.zeros(1, 1, 28, 28),), buf, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return buf.getvalue()


def _report(hue_kept: float) -> dict:
    """A hand-written colour-world audit of 10 digits: hue alone flips `hue_kept` of them with the digit kept."""
    report = {"classifier": "morpho-cnn-hue", "world": "colour", "method": "aip", "n": 10.0, "seed": 0.0,
              "steps": 200.0, "sets": "hue,thickness,intensity,style,style_latent"}
    for prefix, rates in (("", [hue_kept, 0.1, 0.0, 0.7, 1.0]), ("digit_free.", [1.0, 0.9, 0.8, 1.0, 1.0])):
        for name, rate in zip(attribute_sets(True), rates):
            key = f"{prefix}by_attributes.{name}"
            report |= {f"{key}.success": rate, f"{key}.n_flipped": 10 * rate, f"{key}.locks_held": 1.0}
    report |= {"most_flipping": "hue", "digit_free.most_flipping": "hue", "seconds": 12.0}
    return report


def _chart(at) -> dict:
    charts = [c for c in at.get("plotly_chart") if "flip_audit_chart" in c.proto.id]
    assert len(charts) == 1, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(charts[0].proto.spec)


def _audit_tab(at):
    at.session_state["flip_tab"] = AUDIT_TAB  # as a click on the tab does
    at.run()
    no_exceptions(at)
    return at


def test_the_tab_shows_a_shipped_classifiers_precomputed_audit_as_chart_words_table_and_json(audits, tmp_path,
                                                                                             monkeypatch):
    (tmp_path / "morpho-cnn-hue.colour.json").write_text(json.dumps(_report(0.6)))
    monkeypatch.setattr(audits, "folder", tmp_path)
    at = open_page(PAGE, {"index": "3", "world": "colour", "classifier": "morpho-cnn-hue", "tab": "audit"})
    assert [s.value for s in at.subheader][-1] == "2 · What flips Project CNN (colour-trained)?"
    assert "flip_run" not in [b.key for b in at.button]  # only the open tab runs
    assert any("changes its mind on the colour alone for 60 % of digits: it relies on the colour" in i.value
               for i in at.info), [i.value for i in at.info]
    chart = _chart(at)
    kept, free = chart["data"]
    assert [y.replace("<br>", " ") for y in kept["y"]] == [LABELS[n] for n in attribute_sets(True)]
    assert kept["x"] == [0.6, 0.1, 0.0, 0.7, 1.0]
    assert free["x"] == [1.0, 0.9, 0.8, 1.0, 1.0] and kept["text"][0] == "60%"
    assert "Precomputed on 10 test digits (morpho-cnn-hue.colour.json)" in " ".join(c.value for c in at.caption)
    assert any("| colour (hue) alone | 60 % of digits |" in m.value for m in at.markdown)
    assert [b.proto.label for b in at.get("download_button")] == ["Download the audit (JSON)",
                                                                  "Download the audit (Markdown)"]
    assert at.query_params == {"index": "3", "world": "colour", "classifier": "morpho-cnn-hue", "tab": "audit"}
    # the first tab again: the link drops tab=, and the question's widgets are drawn
    at.session_state["flip_tab"] = "Flip this digit"
    at.run()
    assert at.selectbox(key="flip_target") is not None and "tab" not in at.query_params


def test_the_question_asked_in_the_first_tab_is_kept_while_the_second_is_open():
    at = open_page(PAGE, {"index": "3"})
    at.selectbox(key="flip_target").set_value(5)
    at.checkbox(key="lock_digit").check()
    at.run()
    _audit_tab(at)
    assert "flip_target" not in [s.key for s in at.selectbox]  # not drawn: only the open tab runs
    at.session_state["flip_tab"] = "Flip this digit"
    at.run()
    assert at.selectbox(key="flip_target").value == 5 and at.checkbox(key="lock_digit").value
    assert at.query_params == {"index": "3", "classifier": "morpho-cnn", "target": "5", "locks": "digit"}


def test_a_missing_or_broken_audit_file_says_how_to_make_it(audits, tmp_path, monkeypatch):
    monkeypatch.setattr(audits, "folder", tmp_path)
    at = open_page(PAGE, {"tab": "audit"})
    text = "\n".join(i.value for i in at.info)
    assert "No precomputed audit of morpho-cnn in the grey world yet" in text and "make audits" in text
    assert "audit-classifier --classifier morpho-cnn --world grey" in text
    assert not [c for c in at.get("plotly_chart") if "flip_audit_chart" in c.proto.id]
    (tmp_path / "morpho-cnn.grey.json").write_text("{not json")
    with pytest.raises(AuditUnavailable, match="cannot be read"):
        audits.shipped("morpho-cnn", "grey")
    (tmp_path / "morpho-cnn.grey.json").write_text(json.dumps(_report(0.6)))  # another classifier's audit
    with pytest.raises(AuditUnavailable, match="not the audit of morpho-cnn in the grey world"):
        audits.shipped("morpho-cnn", "grey")
    at.run()
    no_exceptions(at)
    assert any("cannot be read" in i.value for i in at.info)
    at = open_page(PAGE, {"tab": "wings"})
    assert any("tab='wings' is not one of this page's tabs" in w.value for w in at.warning)
    assert at.selectbox(key="flip_target") is not None  # the first tab


def test_every_shipped_classifier_has_a_readable_audit_in_both_worlds(audits):
    for name in audits.flip.page().classifiers:
        for world, rows in (("grey", 4), ("colour", 5)):
            view = audits.shipped(name, world)
            assert view.classifier == name and len(view.rows) == rows and view.reading and view.n >= 10


def test_an_upload_is_audited_on_the_page_kept_in_the_session_and_asked_on_the_image_page(cnn_onnx, audits,
                                                                                           monkeypatch):
    at = open_page(PAGE, {"index": "3"})
    at.file_uploader(key="flip_upload").set_value(("cnn.onnx", cnn_onnx, "application/octet-stream"))
    at.run()
    at.button(key="flip_add").click().run(timeout=120)
    no_exceptions(at)
    name = "cnn.onnx (uploaded)"
    assert at.selectbox(key="flip_classifier").value == name
    _audit_tab(at)
    assert not at.get("plotly_chart") and any("press **Audit this model**" in c.value for c in at.caption)
    at.slider(key="flip_audit_n").set_value(10)
    at.button(key="flip_audit_run").click().run(timeout=120)
    no_exceptions(at)
    job = at.session_state["_flip_audit_jobs"][(name, "grey", weakref.ref(at.session_state["_flip_uploads"][name]))]
    report = job.view.report
    assert report["classifier"] == name and report["n"] == 10 and report["method"] == "aip"  # converted: gradients
    assert len(job.done) == 3 * 4  # three digit groups (4, 3, 3) x four attribute sets of the grey world
    assert _chart(at)["data"][0]["x"] == [report[f"by_attributes.{s}.success"] for s in attribute_sets(False)]
    assert any(job.view.reading in i.value for i in at.info)
    assert at.query_params["tab"] == "audit" and at.query_params["classifier"] == name
    # a model that fails while audited: said on the page, and not retried on every run
    calls = []
    monkeypatch.setattr(audits, "chunk", lambda *a: calls.append(a) or (_ for _ in ()).throw(RuntimeError("boom")))
    at.slider(key="flip_audit_n").set_value(15)
    at.button(key="flip_audit_run").click().run()
    no_exceptions(at)
    assert [e.value for e in at.error] == ["**This model cannot be audited.** RuntimeError: boom"]
    at.run()
    assert len(calls) == 1 and len(at.error) == 1
    # the Image what-if page asks the upload beside the shipped classifiers, in this session
    at.switch_page(IMAGE_PAGE).run()
    no_exceptions(at)
    (readers,) = [e for e in at.get("bidi_component") if e.key == "image_readers"]  # the answer panel's lines
    lines = json.loads(json.loads(readers.proto.json))["parts"]["lines"]
    assert any(line[0] == [name, "b"] and line[1][0].startswith(": original →") for line in lines)
    assert any("Also asked: your uploaded model **cnn.onnx (uploaded)**" in c.value for c in at.caption)
    link = next(p.proto for p in at.get("page_link") if "flip_classifier" in p.proto.page)
    assert "index=" in link.query_string and "What is the smallest change" in link.label


def test_an_upload_reading_other_classes_is_named_not_drawn_on_the_image_page(cnn_onnx):
    at = open_page(PAGE)
    at.file_uploader(key="flip_upload").set_value(("words.onnx", cnn_onnx, "application/octet-stream"))
    at.text_input(key="flip_classes").set_value(",".join(f"class {d}" for d in DIGITS))
    at.run()
    at.button(key="flip_add").click().run(timeout=120)
    no_exceptions(at)
    at.switch_page(IMAGE_PAGE).run()
    no_exceptions(at)
    assert any("Not shown: **words.onnx (uploaded)**" in c.value for c in at.caption)
    assert not any("words.onnx" in m.value for m in at.markdown)


def test_the_image_page_links_this_digit_and_world_to_the_flip_page():
    at = open_page(IMAGE_PAGE, {"index": "12", "world": "colour"})
    link = next(p.proto for p in at.get("page_link") if "flip_classifier" in p.proto.page)
    assert link.query_string == "index=12&world=colour"
    at = open_page(PAGE, {"index": "12", "world": "colour"})  # where the link leads
    assert at.number_input(key="flip_index").value == 12 and at.toggle(key="flip_coloured").value


def test_other_visitors_calls_run_between_the_chunks_of_an_audit(audits):
    image = audits.flip.image
    seen, failed = [], []

    def run():
        try:
            audits.compute("morpho-cnn", "grey", 20, progress=lambda done, total: seen.append((done, total)))
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            failed.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while (not seen or seen[-1][0] < 1) and worker.is_alive():  # the first chunk is done: the audit is under way
        assert time.monotonic() < deadline, "the audit's first chunk took over a minute"
        time.sleep(0.01)
    image.what_if(3, {"thickness": 4.0})  # another visitor's slider move, on the same model thread
    done_then, total = seen[-1]
    worker.join()
    assert not failed, failed
    assert done_then < total, "the what-if waited for the whole audit"
    assert seen[-1] == (total, total) and total == 5 * 4  # five digit groups of 4, four attribute sets


def test_an_interrupted_audit_resumes_with_the_chunks_it_had(audits, monkeypatch):
    done: dict = {}

    def stop_after_three(k: int, total: int) -> None:
        if k == 3:
            raise KeyboardInterrupt  # as Streamlit stops a run when the visitor moves a widget
    with pytest.raises(KeyboardInterrupt):
        audits.compute("morpho-cnn", "grey", 10, progress=stop_after_three, done=done)
    assert len(done) == 3
    calls = []
    chunk = audits.chunk
    monkeypatch.setattr(audits, "chunk", lambda *a: calls.append(a) or chunk(*a))
    view = audits.compute("morpho-cnn", "grey", 10, done=done)
    assert len(calls) == 12 - 3 and len(done) == 12 and view.n == 10


def test_merged_chunks_weigh_shares_by_digits_and_changes_by_flips():
    def part(seed, n, flipped, change):  # one chunk's report of the thickness set (the digit free flips them all)
        out = {"classifier": "m", "world": "grey", "method": "aip", "n": n, "seed": seed, "steps": 10.0,
               "sets": "thickness", "seconds": 1.0}
        for key, k, moved in (("by_attributes.thickness", flipped, change), ("digit_free.by_attributes.thickness", n,
                                                                              0.5)):
            out |= {f"{key}.success": k / n, f"{key}.n_flipped": k, f"{key}.locks_held": 1.0,
                    f"{key}.mean_change.thickness": moved}
        return out
    merged = merge_reports([part(0, 4, 2, 1.0), part(1, 2, 2, 4.0), part(2, 4, 0, None)])
    assert merged["n"] == 10 and merged["by_attributes.thickness.n_flipped"] == 4
    assert merged["by_attributes.thickness.success"] == pytest.approx(0.4)
    assert merged["by_attributes.thickness.mean_change.thickness"] == pytest.approx(2.5)  # (2 x 1 + 2 x 4) / 4
    assert merged["digit_free.by_attributes.thickness.success"] == 1.0
    assert merged["digit_free.by_attributes.thickness.mean_change.thickness"] == pytest.approx(0.5)
    assert merged["most_flipping"] == "thickness" and merged["digit_seeds"] == "0,1,2" and merged["seconds"] == 3
    assert "thickness alone for 40 % of digits" in merged["reading"]
    none = merge_reports([part(0, 4, 0, None)])
    assert none["by_attributes.thickness.mean_change.thickness"] is None and none["most_flipping"] == "none"


def test_chunks_by_attribute_set_give_the_librarys_own_report(audits):
    clf, space = audits.flip.classifier("morpho-cnn"), audits.flip.space
    whole = audit_classifier(clf, 3, "grey", 5, STEPS, space=space)
    merged = merge_reports([audit_classifier(clf, 3, "grey", 5, STEPS, space=space, sets=(s,))
                            for s in attribute_sets(False)], seed=5)
    assert {k: v for k, v in merged.items() if k not in ("seconds", "digit_seeds")} == \
        {k: v for k, v in whole.items() if k != "seconds"}
    groups = digit_groups(50, True)
    assert sum(k for _, k in groups) == 50 and max(k for _, k in groups) <= 4 and len(groups) == 13
