"""The packed BERT pass (explorer/models/bert_packed.py) exported to ONNX and run by ONNX Runtime.

Why: on this project's CPU, ONNX Runtime's matrix-product kernels (which use AVX-512) run the pair's shared and
top layers 1.5-2x faster than torch for one sentence and its rewrite, with class probabilities equal to the
torch pass's within 1e-5 (tests/test_bert_ort.py; docs/performance.md#text-models). Only inference uses it: the
Text page opts in (`CausalmPair.use_onnx_runtime`), while training and the evaluation jobs keep torch.

The export is offline: `run_packed` is traced by torch's own exporter into bytes in memory, the weights become
constants of the graph, nothing is fetched. A graph that uses an operator outside the standard ONNX domain (one
that would need a custom-op library) is refused. The checked bytes are kept under `cache_dir()/ort/`, named by a
hash of the exported weights and the exporter's version, so a server's start reads them (~0.2 s) instead of
exporting again (1.4-2.4 s in a fresh process, most of it the exporter's and `onnx`'s own start-up). Anything
that goes wrong (onnxruntime or onnx not installed, an export or session error) leaves the caller on the torch
pass, logged; a cache that cannot be written only costs the next start an export.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from explorer.models.bert_packed import PackedLayer, run_packed
from explorer.paths import cache_dir

log = logging.getLogger(__name__)

STANDARD_DOMAINS = ("", "ai.onnx")  # the default operator set; anything else needs a custom-op library


@dataclass(frozen=True)
class OrtConfig:
    """How the packed pass is exported and run."""

    opset: int = 17  # the exporter's tested range; LayerNormalization is a single op from 17 on
    threads: int = 1  # the app's setting (explorer/ui/loader.py): one core per visitor, no spinning pool
    cache: bool = True  # keep the exported bytes under cache_dir()/ort/ (one file per name, ~57 MB for a pair)


class _PackedGraph(nn.Module):
    """What is traced: embeddings (B, T, H) and the attention mask (B, T) -> each top group's (B, T, H) states."""

    def __init__(self, lower: list[PackedLayer], tops: dict[str, list[PackedLayer]]):
        super().__init__()
        # The trace stores every weight as a constant, which must not require grad. The pair's own upper layers
        # do (they are ordinary modules), so the export works on copies (freed after it) and leaves them as they are.
        self.lower, self.tops = _frozen_copy(lower), {name: _frozen_copy(layers) for name, layers in tops.items()}

    def forward(self, emb: torch.Tensor, att: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # A boolean mask (True = attend), broadcast over heads and query positions. The torch pass passes
        # `transformers`' mask (None without padding) instead: the same attention, within float rounding.
        mask = att[:, None, None, :].bool()  # (B, 1, 1, T)
        low = run_packed(self.lower, emb, mask)  # (B, T, H) shared by every top group
        return tuple(run_packed(layers, low, mask) for layers in self.tops.values())  # each (B, T, H)


def _frozen_copy(layers: list[PackedLayer]) -> list[PackedLayer]:
    out = copy.deepcopy(layers)
    for p in out:
        for module in (p.attn_out, p.attn_norm, p.ffn_in, p.ffn_out, p.ffn_norm):
            module.requires_grad_(False)
    return out


class OrtPackedPass:
    """A built ONNX Runtime session for one set of packed layers; `run` mirrors the torch pass.

    Safe to share between Streamlit's session threads: ONNX Runtime documents concurrent `InferenceSession.run`
    calls on one session as thread-safe, and this object holds no other mutable state.
    """

    def __init__(self, session, names: tuple[str, ...], build_seconds: float):
        self.session, self.names, self.build_seconds = session, names, build_seconds

    def run(self, emb: torch.Tensor, att: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, T, H) float32 embeddings, (B, T) attention mask -> {top group: (B, T, H) states}."""
        feeds = {"emb": emb.detach().float().cpu().numpy(), "att": att.detach().to(torch.int64).cpu().numpy()}
        outs = self.session.run(list(self.names), feeds)  # each (B, T, H) float32
        return {name: torch.from_numpy(out) for name, out in zip(self.names, outs)}


def export_packed(lower: list[PackedLayer], tops: dict[str, list[PackedLayer]], hidden: int,
                  cfg: OrtConfig = OrtConfig()) -> bytes:
    """The packed layers as an ONNX model (bytes), with dynamic batch and length; ValueError on custom ops."""
    graph = _PackedGraph(lower, tops).eval()
    emb = torch.zeros(2, 7, hidden)  # (B, T, H): any sizes; both axes are declared dynamic below
    att = torch.ones(2, 7, dtype=torch.int64)  # (B, T)
    names = tuple(tops)
    axes = {k: {0: "batch", 1: "tokens"} for k in ("emb", "att", *names)}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer flags the q, k, v unpacking (an iteration over a dimension that is always 3, so recorded
        # rightly), and the TorchScript exporter announces its deprecation: neither is news in a server's log.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        # dynamo=False: the tracer; the newer exporter needs `onnxscript`, which is not a requirement here
        torch.onnx.export(graph, (emb, att), buf, input_names=["emb", "att"], output_names=list(names),
                          dynamic_axes=axes, opset_version=cfg.opset, dynamo=False)
    data = buf.getvalue()
    check_standard_ops(data)
    return data


def check_standard_ops(data: bytes) -> None:
    """Raises ValueError unless every node and operator-set import of the ONNX model is in the standard domain."""
    import onnx

    model = onnx.load_model_from_string(data)
    custom = {n.domain for n in model.graph.node if n.domain not in STANDARD_DOMAINS}
    custom |= {o.domain for o in model.opset_import if o.domain not in STANDARD_DOMAINS}
    if custom:
        raise ValueError(f"the exported graph uses operators outside the standard ONNX domain: {sorted(custom)}")
    onnx.checker.check_model(model)


def session_from_bytes(data: bytes, cfg: OrtConfig = OrtConfig()):
    """An ONNX Runtime CPU session over the model bytes, `cfg.threads` intra-op threads, sequential execution."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cfg.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # fuses attention, GELU, norms
    opts.log_severity_level = 3  # errors only: its warnings about unused initializers are not news to a user
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def weights_key(lower: list[PackedLayer], tops: dict[str, list[PackedLayer]], cfg: OrtConfig) -> str:
    """A hash of everything the exported graph depends on: every packed tensor, the heads, the opset and the
    exporter (torch's version). ~0.03 s for a pair's 8 layers, against 1.4 s or more for an export."""
    h = hashlib.sha256(f"opset={cfg.opset};torch={torch.__version__}".encode())
    for name, layers in {"lower": lower, **tops}.items():
        h.update(f"[{name}:{len(layers)}]".encode())
        for p in layers:
            tensors = [p.qkv_weight, p.qkv_bias]
            for module in (p.attn_out, p.attn_norm, p.ffn_in, p.ffn_out, p.ffn_norm):
                tensors += [module.weight, module.bias]
            h.update(f"heads={p.heads};eps={p.attn_norm.eps},{p.ffn_norm.eps}".encode())
            for t in tensors:
                h.update(f"{t.dtype}{tuple(t.shape)}".encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def _cached_or_exported(lower: list[PackedLayer], tops: dict[str, list[PackedLayer]], hidden: int, name: str,
                        cfg: OrtConfig) -> bytes:
    """The model bytes from the cache when a file for these weights is there whole, else a new export, written to
    the cache whole (a temporary file renamed) with the name's older files removed.

    A file is named `<name>-<weights key>-<digest of its bytes>.onnx` and read only if its bytes match the digest:
    it is then byte for byte an export that passed `check_standard_ops`. Not re-checking saves the `onnx`
    package's import (0.65 s) on a server's start; a cache folder that others can write to is not defended against
    (nor is the environment the code runs from).
    """
    if not cfg.cache:
        return export_packed(lower, tops, hidden, cfg)
    folder = cache_dir() / "ort"
    stem = f"{name}-{weights_key(lower, tops, cfg)}"
    for path in folder.glob(f"{stem}-*.onnx"):
        try:
            data = path.read_bytes()
        except OSError:  # removed meanwhile by another server's export: export here too
            continue
        if hashlib.sha256(data).hexdigest()[:16] == path.stem.rsplit("-", 1)[-1]:
            return data
        log.warning("ignoring the damaged cached ONNX file %s", path)
    data = export_packed(lower, tops, hidden, cfg)
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}.onnx"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}-", suffix=".tmp", delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)  # atomic: a reader sees no file or the whole one
        for old in folder.glob(f"{name}-{'[0-9a-f]' * 32}-*.onnx"):  # older weights or a damaged copy of these
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as err:
        log.info("could not cache the ONNX export in %s (%s); the next start exports again", folder, err)
    return data


def build_ort_pass(lower: list[PackedLayer], tops: dict[str, list[PackedLayer]], hidden: int, name: str,
                   cfg: OrtConfig = OrtConfig()) -> OrtPackedPass | None:
    """The packed layers in ONNX Runtime, or None (logged) when it is not installed or the export fails.

    `name` names the cache file (one per set of models, e.g. "causalm-gender"); `tops` are the groups run on the
    lower layers' output, in the order `OrtPackedPass.run` returns them.
    """
    t0 = time.perf_counter()
    try:
        import onnxruntime  # noqa: F401 - fail before an export whose result could not be run

        session = session_from_bytes(_cached_or_exported(lower, tops, hidden, name, cfg), cfg)
        names = tuple(tops)
        probe = session.run(list(names), {"emb": np.zeros((1, 3, hidden), np.float32),  # (1, 3, H)
                                          "att": np.ones((1, 3), np.int64)})
        if any(p.shape != (1, 3, hidden) for p in probe):
            raise ValueError(f"the exported graph returns shapes {[p.shape for p in probe]}, not (1, 3, {hidden})")
    except ImportError as err:
        log.info("ONNX Runtime not used for the packed pass (%s); the torch pass runs instead", err)
        return None
    except Exception:  # noqa: BLE001 - the exporter and ORT raise many types; the torch pass is always there
        log.warning("exporting the packed pass to ONNX Runtime failed; the torch pass runs instead", exc_info=True)
        return None
    seconds = time.perf_counter() - t0
    log.info("packed pass in ONNX Runtime: ready in %.2f s", seconds)
    return OrtPackedPass(session, names, seconds)
