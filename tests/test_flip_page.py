"""The Flip-a-classifier page in AppTest: Run, target, locks, the link, uploads (in Chromium:
test_flip_page_browser.py).

The searches run with a small step budget (EXPLORER_SEARCH_STEPS) so that the file stays quick on 2 cores; the
page's answers are checked against the service that produced them.
"""

from __future__ import annotations

import io
import os

import pytest
import torch
from streamlit.testing.v1 import AppTest

from apptest_pages import no_exceptions, open_page
from explorer.data.upload_onnx import OnnxUploadError
from explorer.models.cnn import CNNConfig, DigitCNN
from explorer.models.onnx_classifier import ENGINE_ORT, ENGINE_TORCH, load_onnx_classifier
from explorer.paths import PRETRAINED
from explorer.registry import DIGIT_CLASSIFIERS
from explorer.services.search import UploadOptions
from explorer.ui.step_cards import HELD

PAGE = "pages/flip_classifier.py"
STEPS = 40  # search steps (generations for the random search): enough for the shipped classifiers on digit #3
ANSWERS = ("AIP's answer", "Pixel search's answer", "Style-only search's answer", "Random search's answer")


@pytest.fixture(scope="module", autouse=True)
def few_steps():
    """A fresh service with a small step budget, and no background load of the text models while we run."""
    from explorer.ui.flip import FLIP, STEPS_ENV

    saved = {k: os.environ.get(k) for k in (STEPS_ENV, "EXPLORER_PREWARM")}
    os.environ.update({STEPS_ENV: str(STEPS), "EXPLORER_PREWARM": "0"})
    FLIP.shared.clear()
    yield
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    FLIP.shared.clear()


@pytest.fixture(scope="module")
def service(few_steps):
    from explorer.ui.flip import FLIP

    return FLIP.shared()  # the instance the page uses (Streamlit's resource cache is per process)


@pytest.fixture(scope="module")
def tiny_onnx(test_data) -> bytes:
    """A small CNN trained for a few seconds on 200 test digits, exported here into memory (never a file)."""
    torch.manual_seed(0)
    module = DigitCNN(CNNConfig(width=8, hidden=16, dropout=0.0))
    x = torch.from_numpy(test_data.images).float()[:, None]  # (200, 1, 28, 28) on 0-255
    y = torch.from_numpy(test_data.values["digit"]).long()  # (200,)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _ in range(150):  # fits these digits (~75% on others): a flip then means something
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(x), y).backward()
        opt.step()
    buf = io.BytesIO()
    torch.onnx.export(module.eval(), (x[:1],), buf, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return buf.getvalue()


def _captions(at: AppTest) -> list[str]:
    return [c for im in at.image for c in (im.captions or [])]


def _card(at: AppTest) -> str:
    """The picked digit's card (explorer/ui/flip_digit.py): the page's first HTML element, before the neighbours."""
    return at.get("html")[0].proto.body


def _run(at: AppTest) -> AppTest:
    at.button(key="flip_run").click().run(timeout=120)
    no_exceptions(at)
    return at


def _kept(at: AppTest):
    return at.session_state["_flip_result"][1]  # (settings, FlipResult) of the last Run


def test_run_shows_the_factual_and_every_method_with_pictures_and_readings(service):
    at = open_page(PAGE, {"index": "3"})
    assert at.number_input(key="flip_index").value == 3
    # before Run: the picked digit and both readings, nothing searched
    assert _captions(at) == [] and "Test digit #3" in _card(at)
    digit = service.digit(3, "morpho-cnn", False)
    card = _card(at)
    assert f"reads <b>{digit.reading.label}</b>" in card and f"The oracle reads <b>{digit.oracle.label}</b>" in card
    assert f"thickness {digit.obs['thickness']:.1f} px" in card
    # the neighbours the browser swaps in on a step are those digits' own cards, read as `digit` reads each
    held = at.get("html")[1].proto.body
    assert [f"data-step='{i}'" in held for i in range(-1, 5 + HELD)] == [False] + [True] * (4 + HELD) + [False]
    for near in service.digits([2, 4], "morpho-cnn", False):
        alone = service.digit(near.index, "morpho-cnn", False)
        assert (near.picture == alone.picture).all() and near.obs == alone.obs
        assert abs(near.reading.prob - alone.reading.prob) < 1e-5 and near.oracle.index == alone.oracle.index
        assert f"Test digit #{near.index}</figcaption>" in held
    _run(at)
    captions = _captions(at)
    for caption in ("Original: test digit #3", *ANSWERS):
        assert caption in captions, captions
    result = _kept(at)
    # the digit shown before Run is the one every search started from, read the same way
    assert (result.original == digit.picture).all() and result.obs == digit.obs
    assert [(r.index, r.prob) for r in (result.reading, result.oracle)] == \
        [(r.index, r.prob) for r in (digit.reading, digit.oracle)]
    assert list(result.answers) == list(service.page().methods) and not result.skipped
    assert result.answers["aip"].found, result.answers["aip"].note
    text = "\n".join(m.value for m in at.markdown)
    for a in result.answers.values():
        assert f"reads **{a.reading.label}**" in text and f"The oracle reads **{a.oracle.label}**" in text
        if a.found:  # "any other class": the classifier no longer reads what it read on the factual digit
            assert a.reading.index != result.reading.index
    assert 2 <= len(result.path) <= 6 and "Path: answer" in captions
    # the TRUE counterfactual exists unless AIP changed the digit; either way the page says which
    assert ("True answer: redrawn by the world's known rules" in captions) == (result.true_image is not None)
    if result.true_image is None:
        assert any("No true answer" in i.value for i in at.info)
    assert at.query_params == {"index": "3", "classifier": "morpho-cnn"}
    link = at.get("page_link")[-1].proto
    assert "image_whatif" in link.page
    assert "index=3" in link.query_string


def test_target_and_locks_are_honoured_and_written_to_the_link(service):
    at = open_page(PAGE, {"index": "3"})
    at.selectbox(key="flip_target").set_value(5)
    at.checkbox(key="lock_digit").check()
    _run(at)
    result = _kept(at)
    assert result.target == 5 and result.locks == ("digit",)
    assert "digit" not in result.answers["aip"].do and "digit" not in result.answers["random"].do
    for a in result.answers.values():
        assert a.found == (a.reading.index == 5), (a.method, a.note)
        assert a.found or a.note
    assert at.query_params == {"index": "3", "classifier": "morpho-cnn", "target": "5", "locks": "digit"}
    table = next((m.value for m in at.markdown if m.value.startswith("| attribute")), "")
    assert "| digit |" not in table
    # the same settings straight from the service give the same answer
    again = service.flip(3, "morpho-cnn", 5, ("digit",), False)
    assert again.answers["aip"].do == result.answers["aip"].do


def test_every_lock_leaves_nothing_to_search_and_says_so(service):
    result = service.flip(3, "morpho-cnn", None, ("digit", "thickness", "intensity", "latent"), False)
    for method in ("aip", "latent", "random"):
        assert not result.answers[method].found and "no counterfactual found" in result.answers[method].note
    assert result.true_image is None and result.true_note


def test_colour_world_offers_hue_and_the_link_carries_the_world(service):
    at = open_page(PAGE, {"index": "12", "world": "colour", "classifier": "morpho-cnn-hue", "locks": "digit,latent"})
    assert at.toggle(key="flip_coloured").value and at.checkbox(key="lock_hue") is not None
    assert at.checkbox(key="lock_digit").value and at.checkbox(key="lock_latent").value
    _run(at)
    result = _kept(at)
    assert result.coloured and result.answers["aip"].image.shape == (3, 28, 28)
    digit = service.digit(12, "morpho-cnn-hue", True)  # the tinted digit shown before Run
    assert digit.picture.shape == (3, 28, 28) and (digit.picture == result.original).all()
    assert "As the world draws it: " in _card(at) and " hue " in _card(at).split("As the world draws it")[1]
    assert at.query_params["world"] == "colour" and at.query_params["locks"] == "digit,latent"


def test_bad_link_values_are_named_not_raised():
    at = open_page(PAGE, {"index": "abc", "classifier": "nope", "target": "x", "locks": "digit,wings", "foo": "1"})
    warnings = "\n".join(w.value for w in at.warning)
    for named in ("index='abc'", "classifier='nope'", "target='x'", "'wings'", "foo='1'"):
        assert named in warnings, warnings
    assert at.selectbox(key="flip_classifier").value == "morpho-cnn" and at.checkbox(key="lock_digit").value


def test_a_card_sets_an_uploaded_models_name_as_text_not_markup(service):
    from explorer.ui.flip_digit import card_html

    name = "<img src=x onerror=alert(1)>"  # an upload's name is the visitor's own text
    text = card_html(service.digit(3, "morpho-cnn", False), name, service.page().specs[False])
    assert "&lt;img src=x onerror=alert(1)&gt; reads <b>" in text and "<img src=x" not in text


def test_an_upload_that_is_not_onnx_is_refused_with_its_message_and_nothing_is_kept():
    before = sorted(PRETRAINED.iterdir())
    at = open_page(PAGE)
    at.file_uploader(key="flip_upload").set_value(("model.onnx", b"not a model at all", "application/octet-stream"))
    at.run()
    at.button(key="flip_add").click().run()
    no_exceptions(at)
    assert any("not an ONNX model" in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["_flip_uploads"] == {}
    assert len(at.selectbox(key="flip_classifier").options) == len(DIGIT_CLASSIFIERS)  # the shipped ones only
    assert sorted(PRETRAINED.iterdir()) == before


def test_an_uploaded_onnx_model_is_picked_and_flipped_on_the_page(tiny_onnx):
    at = open_page(PAGE, {"index": "3"})
    at.file_uploader(key="flip_upload").set_value(("tiny.onnx", tiny_onnx, "application/octet-stream"))
    at.run()
    at.button(key="flip_add").click().run(timeout=120)
    no_exceptions(at)
    assert any("Added **tiny.onnx (uploaded)**" in s.value for s in at.success)
    assert at.selectbox(key="flip_classifier").value == "tiny.onnx (uploaded)"
    _run(at)
    assert all(c in _captions(at) for c in ANSWERS)
    assert at.query_params["classifier"] == "tiny.onnx (uploaded)"


def test_a_tiny_exported_onnx_model_works_through_the_service_with_and_without_gradients(service, tiny_onnx):
    data = tiny_onnx
    clf = service.add_upload(data, UploadOptions(name="tiny (uploaded)"))
    assert clf.engine == ENGINE_TORCH and clf.differentiable
    result = service.flip(3, clf.name, None, (), False, {clf.name: clf})
    assert result.engine == ENGINE_TORCH and list(result.answers) == ["aip", "pixel", "latent", "random"]
    assert result.answers["aip"].found, result.answers["aip"].note
    assert all(a.found == (a.reading.index != result.reading.index) and (a.found or a.note)
               for a in result.answers.values()), [(a.method, a.found, a.note) for a in result.answers.values()]
    # run by onnxruntime (no gradients): black-box AIP and the random search, and the others say why not
    ort = load_onnx_classifier(data, name="tiny (onnxruntime)", prefer_gradients=False)
    assert ort.engine == ENGINE_ORT
    result = service.flip(3, ort.name, None, (), False, {ort.name: ort})
    assert list(result.answers) == ["aip-blackbox", "random"] and set(result.skipped) == {"aip", "pixel", "latent"}
    assert result.lead == "aip-blackbox" and not result.differentiable
    with pytest.raises(OnnxUploadError, match="not a number"):
        UploadOptions.from_text("x", 255, mean="a lot")
    with pytest.raises(ValueError, match="unknown classifier"):
        service.flip(3, "tiny (uploaded)", None, (), False)  # another visitor's upload is not there
