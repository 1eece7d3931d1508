"""Uploaded ONNX classifiers: models exported here from tiny CNNs, loaded both ways, and every refusal."""

from __future__ import annotations

import io

import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper

from explorer.data.upload_onnx import OnnxUploadError, read_onnx
from explorer.models import onnx_classifier
from explorer.models.cnn import CNNConfig, DigitCNN, TorchClassifier
from explorer.models.onnx_classifier import ENGINE_ORT, ENGINE_TORCH, OnnxClassifier, load_onnx_classifier
from explorer.paths import ROOT


def export(module: nn.Module, shape: tuple[int, ...], dynamic: bool = True) -> bytes:
    """The module as ONNX bytes (never a file), with a dynamic batch axis unless told otherwise."""
    buf = io.BytesIO()
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None
    torch.onnx.export(module.eval(), (torch.rand(*shape) * 255,), buf, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes=axes)
    return buf.getvalue()


def cnn(channels: int = 1) -> nn.Module:
    return DigitCNN(CNNConfig(channels=channels, width=8, hidden=16)).eval()


def images(n: int = 4, channels: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, 28, 28) * 255  # (n, C, 28, 28), our 0-255 range


@pytest.fixture(scope="module")
def grey():
    torch.manual_seed(0)
    module = cnn()
    return module, export(module, (1, 1, 28, 28))


@pytest.mark.parametrize("gradients", [True, False])
def test_predictions_match_the_torch_module(grey, gradients):
    module, data = grey
    clf = load_onnx_classifier(data, scale=255, prefer_gradients=gradients)
    x = images(5)
    with torch.inference_mode():
        want = module(x)  # (5, 10)
        got = clf.logits(x)
    assert got.shape == (5, 10) and clf.classes == [str(d) for d in range(10)]
    assert torch.allclose(got, want, atol=1e-4)
    assert torch.allclose(clf.predict_proba(x), torch.softmax(want, 1), atol=1e-4)
    assert clf.engine == (ENGINE_TORCH if gradients else ENGINE_ORT)
    assert isinstance(clf, TorchClassifier if gradients else OnnxClassifier)


def test_converted_model_passes_gradients_and_onnxruntime_says_it_does_not(grey):
    _, data = grey
    converted = load_onnx_classifier(data)
    assert converted.differentiable
    x = images(2).requires_grad_(True)
    converted.logits(x)[:, 3].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    runtime = load_onnx_classifier(data, prefer_gradients=False)
    assert runtime.differentiable is False
    assert runtime.logits(images(2).requires_grad_(True)).grad_fn is None


def test_probability_outputs_become_log_probabilities(grey):
    module, _ = grey
    data = export(nn.Sequential(module, nn.Softmax(dim=1)), (1, 1, 28, 28))
    x = images(3)
    with torch.inference_mode():
        want = torch.softmax(module(x), 1)  # (3, 10), the model's own probabilities
    for gradients in (True, False):
        clf = load_onnx_classifier(data, prefer_gradients=gradients)
        with torch.inference_mode():
            assert torch.allclose(clf.predict_proba(x), want, atol=1e-4)
            assert torch.allclose(clf.logits(x), torch.log(want), atol=1e-3)
    assert clf.outputs == "probabilities"


def test_colour_model_shown_a_grey_image_sees_white_ink():
    module = cnn(channels=3)
    x = images(2, channels=1)
    with torch.inference_mode():
        want = module(x.expand(-1, 3, -1, -1))
    for gradients in (True, False):
        clf = load_onnx_classifier(export(module, (1, 3, 28, 28)), prefer_gradients=gradients)
        assert clf.channels == 3
        with torch.inference_mode():
            assert torch.allclose(clf.logits(x), want, atol=1e-4)


def test_scale_and_normalisation_options():
    inner = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))  # a model trained on (x / 255 - 0.1) / 0.3

    class Reference(nn.Module):
        def forward(self, x):
            return inner((x / 255 - 0.1) / 0.3)

    x = images(3)
    with torch.inference_mode():
        want = Reference()(x)
    data = export(inner, (1, 1, 28, 28))
    for gradients in (True, False):
        clf = load_onnx_classifier(data, scale=1, mean=0.1, std=0.3, prefer_gradients=gradients)
        with torch.inference_mode():
            assert torch.allclose(clf.logits(x), want, atol=1e-4)


def test_fixed_batch_export_runs_any_batch(grey):
    module, _ = grey
    data = export(module, (1, 1, 28, 28), dynamic=False)  # batch axis fixed at 1, as many exports are
    x = images(5)
    with torch.inference_mode():
        want = module(x)
        for gradients in (True, False):
            assert torch.allclose(load_onnx_classifier(data, prefer_gradients=gradients).logits(x), want, atol=1e-4)


def test_batch_size_baked_into_the_graph_keeps_onnxruntime():
    class FlattensTwo(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(784, 10)

        def forward(self, x):
            return self.linear(x.reshape(2, 784))  # the export's batch size, 2, becomes a constant of the graph

    module = FlattensTwo()
    clf = load_onnx_classifier(export(module, (2, 1, 28, 28), dynamic=False))
    assert clf.engine == ENGINE_ORT and "fails on batches of other sizes" in clf.description
    x = images(5)  # run as 2 + 2 + (1 padded to 2)
    with torch.inference_mode():
        assert torch.allclose(clf.logits(x), module.linear(x.flatten(1)), atol=1e-4)


def test_conversion_that_disagrees_falls_back_to_onnxruntime(grey, monkeypatch):
    _, data = grey
    torch.manual_seed(1)
    other = cnn()  # the same network with other weights: other logits
    monkeypatch.setattr(onnx_classifier, "_convert", lambda model: other)
    clf = load_onnx_classifier(data)
    assert clf.engine == ENGINE_ORT and not clf.differentiable
    assert "differs from onnxruntime" in clf.description


def test_nothing_is_written_under_pretrained(grey):
    before = sorted((p, p.stat().st_mtime_ns) for p in (ROOT / "pretrained").rglob("*"))
    load_onnx_classifier(grey[1])
    assert sorted((p, p.stat().st_mtime_ns) for p in (ROOT / "pretrained").rglob("*")) == before


# --- refusals, each with its own message -------------------------------------------------------------------


def refused(data: bytes, **options) -> str:
    with pytest.raises(OnnxUploadError) as info:
        load_onnx_classifier(data, **options)
    return str(info.value)


def test_random_bytes_are_not_onnx():
    data = bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).tolist())
    assert "not an ONNX model" in refused(data)
    assert "not an ONNX model" in refused(b"PK\x03\x04 a zip, or a .pth checkpoint")


def test_file_over_the_cap(grey):
    message = refused(grey[1], max_bytes=1024)
    assert "the limit is 1.0 KB" in message


def test_custom_operator_is_refused():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])
    graph = helper.make_graph([helper.make_node("Flatten", ["x"], ["f"]),
                               helper.make_node("Secret", ["f"], ["y"], domain="com.example")], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    message = refused(model.SerializeToString())
    assert "outside the standard ONNX set (com.example.Secret)" in message


def test_model_local_functions_are_inlined_not_refused():
    """Some exporters wrap plain operators in model-local functions of their own domain: that is no custom code."""
    double = helper.make_function("my.functions", "Double", ["X"], ["Y"], [helper.make_node("Add", ["X", "X"], ["Y"])],
                                  [helper.make_opsetid("", 17)])
    weight = torch.randn(784, 10)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Double", ["f"], ["d"], domain="my.functions"),
             helper.make_node("MatMul", ["d", "w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y], [helper.make_tensor("w", TensorProto.FLOAT, [784, 10],
                                                                        weight.flatten().tolist())])
    model = helper.make_model(graph, functions=[double], opset_imports=[helper.make_opsetid("", 17),
                                                                       helper.make_opsetid("my.functions", 1)])
    model.ir_version = 10  # onnx 1.23 writes IR 14; onnxruntime 1.31 reads up to 13
    clf = load_onnx_classifier(model.SerializeToString(), scale=1)
    batch = images(2)
    assert torch.allclose(clf.logits(batch), 2 * (batch.flatten(1) / 255) @ weight, atol=1e-4)


def test_weights_in_external_files_are_refused(grey):
    model = onnx.load_model_from_string(grey[1])
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="../../etc/passwd")
    assert "separate data files" in refused(model.SerializeToString())


def test_checker_errors_are_reported(grey):
    model = onnx.load_model_from_string(grey[1])
    model.graph.node[1].input[0] = "nowhere"  # an input no node produces
    assert "ONNX checker rejects" in refused(model.SerializeToString())


def test_model_onnxruntime_cannot_load_says_why(grey):
    model = onnx.load_model_from_string(grey[1])
    model.ir_version = 14  # what onnx 1.23 writes; the pinned onnxruntime 1.31 reads up to 13
    message = refused(model.SerializeToString())
    assert message.startswith("onnxruntime") and "IR version: 14" in message and "onnxruntime_src" not in message


def test_flat_input_is_refused():
    message = refused(export(nn.Linear(784, 10), (1, 784)))
    assert "input of shape (batch, 784)" in message and "(batch, 1 or 3, 28, 28)" in message


def test_five_outputs_are_refused_unless_five_classes_are_named():
    data = export(nn.Sequential(nn.Flatten(), nn.Linear(784, 5)), (1, 1, 28, 28))
    assert "returns 5 scores per image, but 10 are expected" in refused(data)
    clf = load_onnx_classifier(data, classes=list("abcde"))
    assert clf.classes == list("abcde") and clf.logits(images(2)).shape == (2, 5)


def test_nan_outputs_are_refused():
    class LogOfNegative(nn.Module):
        def forward(self, x):
            return torch.log(-1 - x.flatten(1)[:, :10])  # (B, 10), all NaN for 0-255 inputs

    assert "NaN" in refused(export(LogOfNegative(), (1, 1, 28, 28)))


def test_bad_options_are_refused(grey):
    assert "input scale must be 1" in refused(grey[1], scale=100)
    assert "both a mean and a std" in refused(grey[1], mean=0.5)


def test_read_onnx_returns_the_model(grey):
    model = read_onnx(grey[1])
    assert [n.op_type for n in model.graph.node][-1] == "Gemm"
