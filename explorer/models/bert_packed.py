"""An inference-only forward pass for BERT layers, built from the Hugging Face modules' own weights.

Why: for one short sentence on a CPU, a BERT layer from `transformers` spends about a third of its time outside
the matrix products (module calls, hooks, reshapes, three separate Q/K/V projections). This pass does the same
arithmetic with four matrix products per layer (Q, K and V fused into one) and plain functional calls. It gives
the same numbers as the modules (tests/test_bert_packed.py compares them on padded batches) and is used only
where nothing trains: no dropout, no gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class PackedLayer:
    """One BERT layer's weights, Q/K/V concatenated; the other tensors are the module's own (not copies)."""

    qkv_weight: torch.Tensor  # (3H, H)
    qkv_bias: torch.Tensor  # (3H,)
    attn_out: nn.Linear
    attn_norm: nn.LayerNorm
    ffn_in: nn.Linear
    ffn_out: nn.Linear
    ffn_norm: nn.LayerNorm
    heads: int


def pack_layer(layer: nn.Module, heads: int) -> PackedLayer:
    """A `transformers` BertLayer -> PackedLayer. Its GELU must be the exact (erf) one, BERT's default."""
    act = getattr(layer.intermediate, "intermediate_act_fn", None)
    if getattr(act, "act", None) is not F.gelu:  # transformers' GELUActivation wraps F.gelu
        raise ValueError(f"packed BERT layers implement the exact GELU only, not {type(act).__name__}")
    att = layer.attention.self
    return PackedLayer(
        qkv_weight=torch.cat([att.query.weight, att.key.weight, att.value.weight]).detach(),
        qkv_bias=torch.cat([att.query.bias, att.key.bias, att.value.bias]).detach(),
        attn_out=layer.attention.output.dense, attn_norm=layer.attention.output.LayerNorm,
        ffn_in=layer.intermediate.dense, ffn_out=layer.output.dense, ffn_norm=layer.output.LayerNorm, heads=heads)


def _norm(x: torch.Tensor, ln: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


@torch.no_grad()
def run_packed(layers: list[PackedLayer], h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, T, H) states through `layers` -> (B, T, H).

    `mask` is what `transformers` builds for its SDPA attention (None when no token is padding): passing the same
    mask keeps the attention kernel, and so the numbers, the same as the modules'.
    """
    b, t, hidden = h.shape
    for p in layers:
        qkv = F.linear(h, p.qkv_weight, p.qkv_bias)  # (B, T, 3H)
        q, k, v = qkv.view(b, t, 3, p.heads, hidden // p.heads).permute(2, 0, 3, 1, 4)  # each (B, heads, T, H/heads)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, T, H/heads)
        att = att.transpose(1, 2).reshape(b, t, hidden)  # (B, T, H)
        h = _norm(F.linear(att, p.attn_out.weight, p.attn_out.bias) + h, p.attn_norm)
        ffn = F.gelu(F.linear(h, p.ffn_in.weight, p.ffn_in.bias))  # (B, T, 4H)
        h = _norm(F.linear(ffn, p.ffn_out.weight, p.ffn_out.bias) + h, p.ffn_norm)
    return h
