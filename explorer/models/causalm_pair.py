"""The shipped CausaLM models of one concept, O and CF, loaded for inference.

Both encoders share the packaged base's frozen lower layers, so a sentence runs those once and then each
encoder's own top layers: one sentence through both models costs 4 + 2 + 2 layers, not 12. The layers run
through the packed inference pass (explorer/models/bert_packed.py), in torch, or in ONNX Runtime once
`use_onnx_runtime()` has built it (explorer/models/bert_ort.py: the Text page's setting; the evaluation jobs keep
torch). A CF checkpoint may carry a LEACE eraser (explorer/models/erasure.py) that is part of CF's representation.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from explorer import checkpoints
from explorer.checkpoints import CheckpointError
from explorer.models.bert_ort import OrtPackedPass, build_ort_pass
from explorer.models.bert_packed import PackedLayer, pack_layer, run_packed
from explorer.models.erasure import LinearEraser
from explorer.models.text_encoder import BaseModelMissing, TextEncoder, TextEncoderConfig, load_tokenizer, mean_pool

WHICH = ("o", "cf")
log = logging.getLogger(__name__)


@dataclass
class TextBatch:
    """Truncation facts the page reports to the user."""

    n_tokens: list[int]  # tokens each text had before truncation
    max_len: int


class CausalmPair(nn.Module):
    """O and CF encoders of one concept + their linear task heads for every bias level."""

    def __init__(self, base: TextEncoder, uppers: dict[str, nn.ModuleList], heads: dict[str, nn.Linear],
                 concept: str, classes: tuple[str, ...], levels: tuple[str, ...], cards: dict[str, dict],
                 erasers: dict[str, LinearEraser | None] | None = None):
        super().__init__()
        self.base, self.concept, self.classes, self.levels, self.cards = base, concept, classes, levels, cards
        self.erasers = {w: None for w in WHICH} | (erasers or {})
        self.uppers = nn.ModuleDict(uppers)
        self.heads = nn.ModuleDict(heads)  # keys "<which>_<level>" (ModuleDict refuses dots)
        self.tokenizer = load_tokenizer(base.cfg)
        self._packed: dict[str, list[PackedLayer]] | None = None  # built on first use, after any .to(device)
        self.ort: OrtPackedPass | None = None  # the packed pass in ONNX Runtime, once use_onnx_runtime() built it

    @property
    def device(self) -> torch.device:
        return next(self.heads.parameters()).device

    def count_tokens(self, texts: list[str]) -> TextBatch:
        ids = self.tokenizer(list(texts), truncation=False)["input_ids"]
        return TextBatch([len(x) for x in ids], self.base.cfg.max_len)

    def _apply(self, fn, recurse=True):
        self._packed = None  # .to() / .half() make new tensors; the packed layers must be rebuilt from them
        self.ort = None  # exported from the old tensors: back to torch until use_onnx_runtime() runs again
        return super()._apply(fn, recurse)

    def packed(self) -> dict[str, list[PackedLayer]]:
        """{"lower", "o", "cf"}: the layers for the packed pass (the pair's weights never change after loading)."""
        if self._packed is None:
            heads = self.base.config.num_attention_heads
            groups = {"lower": self.base.lower_layers} | {w: self.uppers[w] for w in WHICH}
            self._packed = {k: [pack_layer(layer, heads) for layer in v] for k, v in groups.items()}
        return self._packed

    def use_onnx_runtime(self) -> bool:
        """Runs the packed pass in ONNX Runtime from now on, when it is installed and the export works (else the
        torch pass stays, logged). CPU only (the session runs on ORT's CPU provider; a pair on a GPU keeps torch,
        not measured against it here). Returns whether ORT is in use."""
        if self.device.type != "cpu":
            log.info("ONNX Runtime not used for the %s pair: it is on %s", self.concept, self.device)
            return False
        if self.ort is None:
            packed = self.packed()
            self.ort = build_ort_pass(packed["lower"], {w: packed[w] for w in WHICH}, self.base.hidden,
                                      name=f"causalm-{self.concept}")
        return self.ort is not None

    @torch.no_grad()
    def represent(self, texts: list[str], batch_size: int = 128, erase: bool = True,
                  reference: bool = False, onnx: bool = True) -> dict[str, torch.Tensor]:
        """(N,) texts -> {"o": (N, H), "cf": (N, H)} pooled representations.

        erase=False skips CF's eraser: the adversarially trained encoder alone (for the evaluation's probes).
        reference=True runs the `transformers` modules instead of the packed pass (same numbers, slower; kept
        for the test that compares them and for the benchmark's baseline). onnx=False keeps the packed pass in
        torch even when ONNX Runtime is in use (equal within 1e-5 in probability; for the test and the benchmark).
        """
        out: dict[str, list[torch.Tensor]] = {w: [] for w in WHICH}
        packed = None if reference else self.packed()
        ort = self.ort if onnx and not reference else None  # read once: use_onnx_runtime() may set it meanwhile
        for i in range(0, len(texts), batch_size):
            b = self.tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True,
                               max_length=self.base.cfg.max_len, return_tensors="pt").to(self.device)
            att = b["attention_mask"]  # (B, T)
            if packed is None:
                low = self.base.lower(b["input_ids"], att)  # (B, T, H) shared by O and CF
                tops = {w: self.base._run(self.uppers[w], low, att) for w in WHICH}  # (B, T, H) each
            else:
                emb = self.base.embeddings(input_ids=b["input_ids"])  # (B, T, H)
                if ort is not None:
                    tops = ort.run(emb, att)  # {"o", "cf"}: (B, T, H) each, all 8 layers in one session call
                else:
                    mask = self.base._mask(emb, att)  # built once for all 8 layers
                    low = run_packed(packed["lower"], emb, mask)  # (B, T, H) shared by O and CF
                    tops = {w: run_packed(packed[w], low, mask) for w in WHICH}  # (B, T, H) each
            for w in WHICH:
                out[w].append(mean_pool(tops[w], att))  # (B, H)
        hidden = self.base.hidden
        z = {w: torch.cat(v) if v else torch.zeros(0, hidden, device=self.device) for w, v in out.items()}
        return self.erase(z) if erase else z

    def erase(self, z: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Applies each model's eraser (if it has one) to representations from `represent(..., erase=False)`."""
        return {w: x if self.erasers[w] is None else self.erasers[w](x) for w, x in z.items()}

    @torch.no_grad()
    def predict(self, texts: list[str], level: str, batch_size: int = 128, reference: bool = False,
                onnx: bool = True) -> dict[str, np.ndarray]:
        """(N,) texts -> {"o": (N, C), "cf": (N, C)} class probabilities of the two task models."""
        z = self.represent(texts, batch_size, reference=reference, onnx=onnx)
        return {w: torch.softmax(self.head(w, level)(z[w]), -1).cpu().numpy() for w in WHICH}

    def head(self, which: str, level: str) -> nn.Linear:
        """The linear task head of model `which` ("o" or "cf") trained at bias `level`."""
        return self.heads[f"{which}_{level}"]

    def classifier(self, which: str, level: str) -> "PairClassifier":
        return PairClassifier(self, which, level)


class PairClassifier:
    """One task model of the pair (O or CF, at one bias level) as a `Classifier` over texts.

    Its input is strings, so no gradient reaches it: `differentiable` is False, and a counterfactual search
    over texts must be gradient-free.
    """

    differentiable = False

    def __init__(self, pair: CausalmPair, which: str, level: str):
        self.pair, self.which, self.level = pair, which, level
        self.name = f"causalm-{pair.concept}-{which}:{level}"
        self.classes = pair.classes

    def logits(self, texts: list[str]) -> torch.Tensor:
        """(N,) texts -> (N, C) logits of the task head."""
        with torch.inference_mode():
            z = self.pair.represent(texts)[self.which]  # (N, H)
            return self.pair.head(self.which, self.level)(z)

    def predict_proba(self, texts: list[str]) -> torch.Tensor:
        return torch.softmax(self.logits(texts), -1)  # (N, C)


def load_pair(concept: str, folders: dict[str, Path], rebuild: str, device: torch.device | str = "cpu"
              ) -> CausalmPair:
    """Loads the O and CF checkpoints in `folders` ({"o": ..., "cf": ...}); any fault becomes a CheckpointError
    naming `rebuild`. Callers load through `explorer.registry.load_text_pair`, which knows the folder names."""
    states, cards = {}, {}
    for w in WHICH:
        states[w], cards[w] = checkpoints.load(folders[w], rebuild, "cpu")
    try:
        enc_cfg = TextEncoderConfig(**cards["o"]["config"]["encoder"])
        base = TextEncoder(enc_cfg).eval()
        uppers, heads, erasers = {}, {}, {}
        for w in WHICH:
            eraser = LinearEraser.from_state(states[w])
            erasers[w] = None if eraser is None else eraser.to(device)
            upper = copy.deepcopy(base.upper)
            upper.load_state_dict({k[len("upper."):]: v.float() for k, v in states[w].items()
                                   if k.startswith("upper.")})
            uppers[w] = upper
            for level in cards[w]["levels"]:
                weight = states[w][f"head.{level}.weight"]  # (C, H)
                head = nn.Linear(weight.shape[1], weight.shape[0])
                head.load_state_dict({"weight": weight.float(), "bias": states[w][f"head.{level}.bias"].float()})
                heads[f"{w}_{level}"] = head
        pair = CausalmPair(base, uppers, heads, concept, tuple(cards["o"]["classes"]),
                           tuple(cards["o"]["levels"]), cards, erasers)
    except BaseModelMissing:
        raise
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"The CausaLM checkpoints for `{concept}` in {folders['o'].parent} do not match the code ({err}). "
                              f"Rebuild them with: {rebuild}") from err
    return pair.to(device).eval()
