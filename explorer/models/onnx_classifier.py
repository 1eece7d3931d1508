"""Uploaded ONNX image classifiers as `Classifier`s: run by onnxruntime, or converted to PyTorch for gradients.

`load_onnx_classifier` is the one entry point: it reads and checks the upload (`explorer.data.upload_onnx`),
wraps it in an `OnnxClassifier` (onnxruntime on the CPU, one thread, no gradients), runs a probe batch
(`check_classifier`), and then tries onnx2torch. When the converted module agrees with onnxruntime on fresh
batches it returns a `TorchClassifier` over it, so gradient searches work; otherwise the `OnnxClassifier`,
for black-box searches. Either carries `.engine` ("torch (converted from ONNX)" or "onnxruntime") so a page
can say which search it gets, and `.description` says why when conversion was not possible.

Inputs are our images, (B, C, H, W) floats in 0-255. The visitor's options say what the model expects:
`scale` 255 (0-255, as given) or 1 (divided by 255), then an optional normalisation (x - mean) / std.
A model whose rows are non-negative and sum to 1 is taken to return probabilities: its log-probabilities
become the logits, so `predict_proba` (a softmax) gives the model's own probabilities back.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
import onnx.version_converter
import torch
import torch.nn as nn

from explorer.data.upload_onnx import EXPORT_HINT, MAX_BYTES, OnnxUploadError, first_line, ort_session, read_onnx
from explorer.models.cnn import DIGITS, TorchClassifier

ENGINE_TORCH = "torch (converted from ONNX)"
ENGINE_ORT = "onnxruntime"
SIDE = 28  # our digits are 28x28
AGREE = 1e-4  # largest logit gap (absolute, and relative to the logit) between the conversion and onnxruntime
TINY = 1e-12  # probabilities are clamped here before the log, so a 0 gives a finite logit (-27.6)
CONVERT_OPSETS = (18, 17)  # onnx2torch 1.5 maps these opsets' operators; newer graphs are converted down first

Norm = float | Sequence[float] | None


class Prepared(nn.Module):
    """Our 0-255 images -> the uploaded model's input; its probabilities -> log-probabilities."""

    def __init__(self, inner: nn.Module, scale: float, mean: torch.Tensor | None, std: torch.Tensor | None,
                 probabilities: bool):
        super().__init__()
        self.inner, self.scale, self.probabilities = inner, scale, probabilities
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(prepare(x, self.scale, self.mean, self.std))  # (B, K)
        return as_logits(out, self.probabilities)


def prepare(x: torch.Tensor, scale: float, mean: torch.Tensor | None, std: torch.Tensor | None) -> torch.Tensor:
    """(B, C, H, W) in 0-255 -> the model's input range, then normalised (mean, std: (1, C or 1, 1, 1))."""
    if scale == 1:
        x = x / 255.0
    if mean is not None:
        x = (x - mean.to(x.device)) / std.to(x.device)
    return x


def as_logits(out: torch.Tensor, probabilities: bool) -> torch.Tensor:
    return torch.log(out.clamp_min(TINY)) if probabilities else out


def reconcile_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """As `TorchClassifier` does: a grey model sees a colour image's brightest channel; a colour model sees
    a grey image as white ink."""
    if channels is None or x.dim() != 4 or x.shape[1] == channels:
        return x
    if channels == 1:
        return x.amax(dim=1, keepdim=True)  # (B, 1, H, W)
    return x.expand(-1, channels, -1, -1)  # (B, 3, H, W)


def looks_like_probabilities(out: torch.Tensor) -> bool:
    """Every row non-negative and summing to 1 (within 1e-3): a softmax at the end of the model."""
    return out.dim() == 2 and out.numel() > 0 and bool(torch.isfinite(out).all()) and bool((out >= 0).all()) \
        and float((out.sum(dim=1) - 1).abs().max()) <= 1e-3


class OnnxClassifier:
    """An ONNX model run by onnxruntime (CPU, one thread) behind the `Classifier` interface.

    `logits` carries no gradient (`differentiable` is False): searches must be gradient-free. Whether the
    model returns probabilities is decided on the first batch it sees (`check_classifier`'s probe) and kept.
    """

    differentiable = False
    engine = ENGINE_ORT

    def __init__(self, model: bytes | onnx.ModelProto, name: str = "uploaded (ONNX)", scale: float = 255,
                 mean: Norm = None, std: Norm = None, classes: Sequence[str] | None = None,
                 description: str = ""):
        self.name = name
        self.classes = [str(c) for c in classes] if classes else list(DIGITS)
        self.description = description or "Uploaded ONNX model, run with onnxruntime (no gradients: black-box search)."
        self.session = ort_session(model if isinstance(model, bytes) else model.SerializeToString())
        first = self.session.get_inputs()[0]
        self.input_name, self.input_type, self.input_shape = first.name, first.type, list(first.shape)
        self.output_name = self.session.get_outputs()[0].name
        dims = self.input_shape
        self.channels = dims[1] if len(dims) == 4 and dims[1] in (1, 3) else None
        self.batch = dims[0] if dims and isinstance(dims[0], int) and dims[0] > 0 else None  # None: any batch
        self.scale, self.mean, self.std = _options(scale, mean, std, self.channels)
        self.outputs: str | None = None  # "logits" or "probabilities", once a batch has been seen

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) 0-255 -> (B, len(classes)) logits, on x's device, without gradient."""
        inputs = prepare(reconcile_channels(x.detach().float().cpu(), self.channels), self.scale, self.mean, self.std)
        out = torch.from_numpy(self._run(np.ascontiguousarray(inputs.numpy(), dtype=np.float32)))  # (B, K)
        if self.outputs is None:
            self.outputs = "probabilities" if looks_like_probabilities(out) else "logits"
        return as_logits(out, self.outputs == "probabilities").to(x.device)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The session on x; a model exported with a fixed batch size gets x in chunks of that size."""
        if self.batch is None:
            return self.session.run([self.output_name], {self.input_name: x})[0]
        chunks = []
        for start in range(0, len(x), self.batch):
            part = x[start:start + self.batch]  # (b <= batch, C, H, W)
            pad = np.zeros((self.batch - len(part), *part.shape[1:]), np.float32)
            chunks.append(self.session.run([self.output_name], {self.input_name: np.concatenate([part, pad])})[0]
                          [:len(part)])
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes)), np.float32)


def _options(scale: float, mean: Norm, std: Norm, channels: int | None):
    """(scale, mean, std) checked; mean and std as (1, C or 1, 1, 1) tensors or None."""
    if scale not in (1, 255):
        raise OnnxUploadError(f"The input scale must be 1 (the model takes pixels in 0-1) or 255 (0-255), not {scale}.")
    if (mean is None) != (std is None):
        raise OnnxUploadError("Give both a mean and a std for the normalisation, or neither.")
    if mean is None:
        return scale, None, None
    m, s = (torch.tensor(v, dtype=torch.float32).reshape(1, -1, 1, 1) for v in (mean, std))
    if not (s > 0).all():
        raise OnnxUploadError("The normalisation std must be positive.")
    for what, v in (("mean", m), ("std", s)):
        if v.shape[1] not in (1, channels or 1):
            raise OnnxUploadError(f"The normalisation {what} has {v.shape[1]} values; give one, or one per channel "
                                  f"({channels}).")
    return scale, m, s


def probe_batch(channels: int, n: int = 2, seed: int = 0) -> torch.Tensor:
    """(n, channels, 28, 28) random images in 0-255, the same every time (its own generator, not the global one)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, SIDE, SIDE, generator=gen) * 255


def check_classifier(clf: OnnxClassifier) -> None:
    """Input metadata, then a probe batch: raises `OnnxUploadError` saying what is wrong and what to do."""
    _check_input(clf)
    probe = probe_batch(clf.channels)  # (2, C, 28, 28)
    try:
        with torch.inference_mode():
            out = clf.logits(probe)  # (2, K)
    except Exception as err:  # whatever onnxruntime raised while running the graph
        raise OnnxUploadError(f"The model fails to run on a probe batch of two {clf.channels}x{SIDE}x{SIDE} images: "
                              f"{first_line(err)}. Check that it runs in your framework on such a batch, then "
                              "export it again.") from err
    k = len(clf.classes)
    if out.dim() != 2 or out.shape[0] != len(probe):
        raise OnnxUploadError(f"For a batch of {len(probe)} images the model returns shape {tuple(out.shape)}; it must "
                              f"return one row of {k} scores per image, shape (batch, {k}).")
    if out.shape[1] != k:
        expected = "the ten digits 0-9" if clf.classes == DIGITS else f"the {k} class names given"
        raise OnnxUploadError(f"The model returns {out.shape[1]} scores per image, but {k} are expected "
                              f"({expected}). Upload a model with {k} outputs, or give its {out.shape[1]} class names.")
    if not torch.isfinite(out).all():
        raise OnnxUploadError("The model returns NaN or infinite scores on a probe batch of random 0-255 images. "
                              "Check its input scale and normalisation options, and that it gives finite scores "
                              "in your framework, then export it again.")


def _check_input(clf: OnnxClassifier) -> None:
    shape = "(" + ", ".join("batch" if i == 0 and not isinstance(d, int) else str(d) if d else "?"
                            for i, d in enumerate(clf.input_shape)) + ")"
    want = f"a float batch of {SIDE}x{SIDE} images, shaped (batch, 1 or 3, {SIDE}, {SIDE})"
    n_inputs = len(clf.session.get_inputs())
    if n_inputs != 1:
        raise OnnxUploadError(f"The model takes {n_inputs} inputs; it must take one: {want}.")
    ok_side = all(not isinstance(d, int) or d == SIDE for d in clf.input_shape[2:])
    if len(clf.input_shape) != 4 or clf.channels is None or not ok_side:
        raise OnnxUploadError(f"The model takes input of shape {shape}; it must take {want}. If it takes "
                              "flattened pixels, put the flattening inside the model (in PyTorch, nn.Flatten as "
                              f"its first layer) and export it with an example input of shape (1, 1, {SIDE}, {SIDE}).")
    if clf.input_type != "tensor(float)":
        raise OnnxUploadError(f"The model's input is {clf.input_type}; it must be 32-bit floats (tensor(float)). "
                              "Export it from a float32 model.")


def load_onnx_classifier(data: bytes, name: str = "uploaded (ONNX)", scale: float = 255, mean: Norm = None,
                         std: Norm = None, classes: Sequence[str] | None = None, prefer_gradients: bool = True,
                         device: torch.device | None = None,
                         max_bytes: int = MAX_BYTES) -> OnnxClassifier | TorchClassifier:
    """An uploaded ONNX model as a checked `Classifier`, differentiable where it converts cleanly to PyTorch.

    Args:
        data: the uploaded file's bytes (kept in memory only).
        name, classes: how the classifier is shown; classes default to the digits "0".."9".
        scale, mean, std: what the model expects of our 0-255 images (see the module docstring).
        prefer_gradients: try onnx2torch; False keeps onnxruntime.
        device: where a converted module runs (default CPU); onnxruntime always runs on the CPU.
        max_bytes: the largest file accepted.

    Raises:
        OnnxUploadError: the file or the model is refused; its message is meant for the visitor.
    """
    model = read_onnx(data, max_bytes=max_bytes)
    clf = OnnxClassifier(model, name, scale, mean, std, classes)
    check_classifier(clf)
    if not prefer_gradients:
        return clf
    converted, why_not = to_torch(model, clf, device or torch.device("cpu"))
    if converted is None:
        clf.description = f"Uploaded ONNX model, run with onnxruntime (no gradients: black-box search): {why_not}."
        return clf
    return converted


def to_torch(model: onnx.ModelProto, clf: OnnxClassifier,
             device: torch.device) -> tuple[TorchClassifier | None, str]:
    """(the model converted by onnx2torch and wrapped like `clf`, "") if it agrees with onnxruntime, else
    (None, why not)."""
    try:
        module = _convert(model)
    except Exception as err:  # onnx2torch raises NotImplementedError, KeyError, ... on graphs it cannot map
        return None, f"it does not convert to PyTorch ({first_line(err)})"
    wrapped = Prepared(module, clf.scale, clf.mean, clf.std, clf.outputs == "probabilities")
    cpu = TorchClassifier(clf.name, wrapped, clf.channels, torch.device("cpu"), classes=clf.classes)
    gap = _largest_gap(cpu, clf)
    if gap is None:
        return None, "its PyTorch conversion fails on batches of other sizes"
    if gap > AGREE:
        return None, f"its PyTorch conversion differs from onnxruntime by up to {gap:.2g} in a logit"
    out = TorchClassifier(clf.name, wrapped, clf.channels, device, classes=clf.classes,
                          description="Uploaded ONNX model, converted to PyTorch with onnx2torch (gradient search).",
                          card={"engine": ENGINE_TORCH})
    out.engine = ENGINE_TORCH
    return out, ""


def _convert(model: onnx.ModelProto) -> nn.Module:
    """onnx2torch on the graph as it is, else on the graph converted down to an opset onnx2torch knows."""
    # Deferred: onnx2torch imports torchvision (~2-3 s), wanted only when a visitor uploads a model.
    from onnx2torch import convert

    try:
        return convert(model)
    except NotImplementedError as first:
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        for target in (t for t in CONVERT_OPSETS if t < opset):
            try:
                return convert(onnx.version_converter.convert_version(model, target))
            except Exception:  # this target failed too: try the next, then report the first error
                continue
        raise first


def _largest_gap(converted: TorchClassifier, clf: OnnxClassifier) -> float | None:
    """Largest |logit difference| / (1 + |logit|) over fresh batches of 1 and 3 images (a graph that baked in
    the export's batch size fails one of them); None if the conversion fails to run."""
    gap = 0.0
    for n, seed in ((1, 1), (3, 2)):
        x = probe_batch(clf.channels, n, seed)  # (n, C, 28, 28)
        with torch.inference_mode():
            want = clf.logits(x)  # (n, K)
            try:
                got = converted.logits(x)
            except Exception:  # the converted graph breaks on this batch size
                return None
        if got.shape != want.shape or not torch.isfinite(got).all():
            return None
        gap = max(gap, float(((got - want).abs() / (1 + want.abs())).max()))
    return gap
