"""Reading an uploaded ONNX image classifier: size, format, operators, external files, the ONNX checker.

The upload stays in memory from start to end: it is parsed from bytes (`onnx.load_model_from_string`), and
onnxruntime is given the model as bytes too, so nothing the visitor sends is written to disk or kept after
the session.
ONNX is protobuf, not pickle: reading it runs no code of the uploader's. Two ways a file could still reach
beyond itself are refused here: operators from custom domains (which would need a custom-op library; we
never load one) and tensors kept in external data files (whose paths would point into our own disk).

What the model computes (input shape, output size, NaN) is checked later, on a probe batch, by
`explorer.models.onnx_classifier.check_classifier`; it raises the same `OnnxUploadError`.
"""

from __future__ import annotations

import re
from typing import Iterator

import onnx
import onnx.inliner
import onnxruntime as ort
from google.protobuf.message import DecodeError

from explorer.data import file_size

MAX_BYTES = 50 * 2**20  # 50 MB: a digit CNN is well under 1 MB
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
EXPORT_HINT = "Export the model again with your framework's ONNX exporter (in PyTorch, `torch.onnx.export`)."


class OnnxUploadError(ValueError):
    """The uploaded model cannot be used; the message says what is wrong and what to do."""


def read_onnx(data: bytes, *, max_bytes: int = MAX_BYTES) -> onnx.ModelProto:
    """An uploaded ONNX model, parsed from memory and checked; raises `OnnxUploadError` with the reason.

    Model-local functions (which some exporters write) are inlined, so the model returned holds plain ONNX
    operators only; run that, not the original bytes.

    Args:
        data: the file's bytes, as uploaded.
        max_bytes: the largest file accepted.
    """
    if len(data) > max_bytes:
        raise OnnxUploadError(f"The file is {file_size(len(data))}; the limit is {file_size(max_bytes)}. Upload a "
                              "smaller model (a digit classifier needs well under 1 MB), e.g. with fewer or narrower "
                              "layers.")
    if not data:
        raise OnnxUploadError("The file is empty. Upload an .onnx file exported from your model.")
    model = _parse(data)
    if model.functions:  # model-local functions are plain ONNX, not custom code: inline them, then check
        model = _inline(model)
    _refuse_custom_operators(model)
    _refuse_external_data(model)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        said = " ".join(str(err).split())[:300].rstrip(".") or "no details"  # its lines joined, e.g. a node's name
        raise OnnxUploadError(f"The ONNX checker rejects this model: {said}. {EXPORT_HINT}") from err
    return model


def _parse(data: bytes) -> onnx.ModelProto:
    """Protobuf from bytes; random bytes sometimes parse as an empty message, so a graph is required too."""
    not_onnx = ("This file is not an ONNX model (it could not be read as one). Upload the .onnx file written by "
                "your framework's ONNX export (a PyTorch checkpoint .pt/.pth or a Keras .h5 file will not do).")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise OnnxUploadError(not_onnx) from err
    if model.ir_version <= 0 or not model.graph.node or not model.graph.output:
        raise OnnxUploadError(not_onnx)
    return model


def _inline(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.inliner.inline_local_functions(model)
    except Exception as err:  # the inliner raises C++ errors of several kinds
        raise OnnxUploadError(f"The model's local functions cannot be expanded: {str(err).strip()[:200]}. "
                              f"{EXPORT_HINT}") from err


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The graph and every subgraph in it (bodies of If, Loop, Scan)."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _refuse_custom_operators(model: onnx.ModelProto) -> None:
    custom = sorted({f"{node.domain}.{node.op_type}" for graph in _graphs(model.graph) for node in graph.node
                     if node.domain not in STANDARD_DOMAINS})
    if custom:
        shown = ", ".join(custom[:5]) + (f" and {len(custom) - 5} more" if len(custom) > 5 else "")
        raise OnnxUploadError(f"The model uses operators outside the standard ONNX set ({shown}). Custom operators "
                              "need code we do not load. Export the model with standard operators only "
                              "(in PyTorch, plain layers such as Conv2d, Linear, ReLU and pooling export that way).")


def _refuse_external_data(model: onnx.ModelProto) -> None:
    for graph in _graphs(model.graph):
        tensors = list(graph.initializer) + [a.t for n in graph.node for a in n.attribute
                                             if a.type == onnx.AttributeProto.TENSOR]
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors):
            raise OnnxUploadError("The model keeps its weights in separate data files, which cannot be uploaded. "
                                  "Save it as one self-contained .onnx file (a small model is saved that way by "
                                  "default; in `onnx.save_model` use `save_as_external_data=False`).")


def ort_session(data: bytes) -> ort.InferenceSession:
    """An onnxruntime session on the CPU with one thread (the server is shared); load errors as OnnxUploadError."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: a visitor's model should not fill the server log
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's errors share no base class beyond Exception
        raise OnnxUploadError(f"onnxruntime {ort.__version__} cannot load this model: {first_line(err)}. "
                              f"{EXPORT_HINT}") from err


def first_line(err: BaseException) -> str:
    """The error's first line, without onnxruntime's status prefix, source location and C++ signature."""
    text = str(err).strip()
    text = text.splitlines()[0] if text else type(err).__name__
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"^/\S+:\d+ (\S+\(.*?\) )?", "", text)  # "/onnxruntime_src/...cc:256 ns::Model::Model(...) "
    return text[:300].rstrip(".")
