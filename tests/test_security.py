"""Security basics: the server listens on this machine only, with XSRF protection on and upload caps that agree
with the app's own; an uploaded model is parsed as ONNX, never run as code; no text from a visitor or a link
reaches the page as HTML (every text box and every link setting of every page gets a `<script>` and an
`<img onerror>`, and the elements that render HTML must not contain them unescaped)."""

from __future__ import annotations

import ast
import contextlib
import pickle
import zipfile
from io import BytesIO
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from apptest_pages import ROOT, no_exceptions, open_page
from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.data.upload_onnx import MAX_BYTES, OnnxUploadError, read_onnx
from explorer.models.onnx_classifier import load_onnx_classifier

PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
RAW = ("<script", "<img src=x")  # either payload unescaped in HTML would run the visitor's or a link's code
# every setting each page reads from its link, and one it does not
LINK_SETTINGS = {
    None: ["zzz"],
    "pages/image_whatif.py": ["index", "world", "digit", "thickness", "intensity", "hue", "zzz"],
    "pages/causal_graph_lab.py": ["scene", "cut", "add", "pendulum", "light", "shadow_length", "zzz"],
    "pages/text_whatif.py": ["concept", "level", "text", "zzz"],
    "pages/flip_classifier.py": ["index", "world", "classifier", "target", "locks", "tab", "zzz"],
    "pages/table_lab.py": ["source", "seed", "row", "cut", "add", "sex", "education", "occupation", "zzz"],
    "pages/audit_model.py": ["data", "model", "label", "positive", "protected", "rows", "cf", "zzz"],
    "pages/train_with_counterfactuals.py": ["strength", "methods", "zzz"],
}


# --- the server -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server_config():
    """The options Streamlit itself reads from this project's .streamlit/config.toml (found from the cwd)."""
    from streamlit import config

    with contextlib.chdir(ROOT):
        config.get_config_options(force_reparse=True)
    return config


def test_the_server_listens_on_this_machine_only_with_xsrf_protection(server_config):
    here = str(ROOT / ".streamlit" / "config.toml")
    for option, value in [("server.address", "127.0.0.1"), ("browser.serverAddress", "127.0.0.1"),
                          ("server.enableXsrfProtection", True), ("server.enableCORS", True),
                          ("runner.postScriptGC", False)]:
        assert server_config.get_option(option) == value, option
        assert server_config.get_where_defined(option) == here, f"{option} is not set by the project's config"


def test_the_upload_caps_agree_with_the_servers(server_config):
    server = server_config.get_option("server.maxUploadSize") * 2**20  # Streamlit's MB are MiB
    assert MAX_UPLOAD_BYTES <= MAX_BYTES == server  # nothing bigger than the largest app cap reaches the app
    flip, text = open_page("pages/flip_classifier.py"), open_page("pages/text_whatif.py")
    assert flip.file_uploader(key="flip_upload").proto.max_upload_size_mb * 2**20 == MAX_BYTES
    assert text.file_uploader(key="audit_file").proto.max_upload_size_mb * 2**20 == MAX_UPLOAD_BYTES


# --- uploaded models ------------------------------------------------------------------------------------
class _Trap:
    """Unpickling this creates `path`: the proof that a pickle ran."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def _torch_style_checkpoint(trap: Path) -> bytes:
    """A `.pt` file as torch.save writes it (a zip around a pickle), whose pickle would create `trap`."""
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/data.pkl", pickle.dumps(_Trap(trap)))
    return buf.getvalue()


def _custom_operator_model() -> bytes:
    """A valid ONNX graph whose one node needs a custom-op library (code from outside the standard set)."""
    node = helper.make_node("Backdoor", ["x"], ["y"], domain="com.example.evil")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example.evil", 1)])
    return model.SerializeToString()


@pytest.mark.parametrize("kind", ["pickle", "torch checkpoint", "custom operator"])
def test_an_uploaded_model_is_parsed_as_onnx_never_run(kind, tmp_path):
    trap = tmp_path / "ran"
    data = {"pickle": lambda: pickle.dumps(_Trap(trap)), "torch checkpoint": lambda: _torch_style_checkpoint(trap),
            "custom operator": _custom_operator_model}[kind]()
    with pytest.raises(OnnxUploadError, match="not an ONNX model|outside the standard ONNX set"):
        load_onnx_classifier(data, name="upload")
    with pytest.raises(OnnxUploadError):
        read_onnx(data)
    assert not trap.exists()


def test_the_upload_path_imports_no_unpickler_and_evaluates_no_code():
    """The modules an upload passes through: no pickle, joblib, dill or marshal; no eval, exec or compile."""
    upload_path = ["explorer/data/upload_onnx.py", "explorer/data/upload_csv.py", "explorer/models/onnx_classifier.py",
                   "explorer/services/search.py", "explorer/services/text.py", "explorer/ui/flip.py",
                   "explorer/ui/text_audit.py", "explorer/ui/common/uploads.py", "explorer/services/audit_table_page.py",
                   "explorer/ui/audit_table.py", "explorer/data/table_csv.py", "explorer/services/audit_table_data.py"]
    for name in upload_path:
        tree = ast.parse((ROOT / name).read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
            n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"pickle", "joblib", "dill", "marshal", "cloudpickle"}, name
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not called & {"eval", "exec", "compile", "__import__"}, name
    assert onnx.__name__ == "onnx"  # the parser: protobuf, which holds data, not code


# --- no visitor's or link's text rendered as HTML -------------------------------------------------------
def _html_bodies(at) -> list[str]:
    """The bodies of every element that renders HTML: markdown or captions with unsafe_allow_html, st.html."""
    out, stack = [], [at._tree]
    while stack:
        node = stack.pop()
        stack += list(getattr(node, "children", {}).values())
        if getattr(node, "type", "") == "html" or getattr(node, "allow_html", False):
            out.append(node.proto.body)
    return out


def _hostile(at) -> None:
    for body in _html_bodies(at):
        assert not any(raw in body.lower() for raw in RAW), body[:300]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("page", list(LINK_SETTINGS), ids=lambda p: p or "home")
def test_hostile_links_and_typed_text_never_become_html(page, payload):
    at = open_page(page, {name: payload for name in LINK_SETTINGS[page]})
    _hostile(at)
    boxes = [*at.text_input, *at.text_area]
    for box in boxes:
        box.input(payload)
    at.run()
    no_exceptions(at)
    _hostile(at)
    if page == "pages/text_whatif.py":  # the one page that renders a visitor's text as HTML: escaped there
        assert any("&#60;" in body and "alert(1)" in body for body in _html_bodies(at))
        assert boxes, "the Text page's text box was not found"


def test_an_uploads_class_names_never_become_html(tmp_path):
    from test_onnx_classifier import cnn, export

    at = open_page("pages/flip_classifier.py")
    at.file_uploader(key="flip_upload").set_value(("<img src=x onerror=alert(1)>.onnx", export(cnn(), (1, 1, 28, 28)),
                                                    "application/octet-stream")).run()
    at.text_input(key="flip_classes").input(",".join(f"{PAYLOADS[i % 2]}{i}" for i in range(10))).run()
    at.button(key="flip_add").click().run()
    no_exceptions(at)
    assert len(at.session_state["_flip_uploads"]) == 1  # the model was added, with its hostile names
    _hostile(at)


def test_the_components_scripts_set_text_never_html():
    """The custom components (assets/*/ : the quick sliders, the Image page's answer panel, the Text page's drafts,
    the step cards of the Flip and Audit pages) draw names a visitor chose (an uploaded model's), a link's values
    and a visitor's text: their scripts set text and attributes only, never markup. The drafts and the step cards
    draw none of their own: they copy nodes Streamlit's st.html already sanitised and drew (the drafts' hidden on the
    page, the step cards' in an inert template there); assets/common/ (the link a component writes) draws nothing."""
    scripts = sorted((ROOT / "assets").glob("*/*.js"))
    assert {p.parent.name for p in scripts} >= {"quick_sliders", "image_panel", "text_drafts", "step_cards"}
    for path in scripts:
        code = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser", "eval(",
                     "new Function", "createContextualFragment", "setHTML"):
            assert sink not in code, f"{path.name} uses {sink}"
        assert {"text_drafts": "cloneNode", "step_cards": "importNode", "common": ""}.get(path.parent.name,
                                                                                   "textContent") in code
