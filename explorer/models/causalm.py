"""CausaLM (Feder et al., 2021): a counterfactual encoder that forgets one concept, and the task models on top.

Stage 1 re-trains the encoder's top layers with masked-LM, control heads (what must be kept) and — for the
counterfactual encoder CF only — adversarial heads behind a gradient-reversal layer (what must be forgotten).
The original encoder O gets the same stage 1 without the adversarial heads, so the two differ only in the
concept. Stage 2 trains the same task head on each frozen encoder. Comparing P_O(y|x) with P_CF(y|x) then
estimates the concept's causal effect on the task model (TReATE) without writing any counterfactual text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.data.pos import IGNORE
from explorer.models.text_encoder import TextEncoder, TextEncoderConfig, mean_pool



class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by -lam backward (the encoder learns to fool the head)."""
    return _GradReverse.apply(x, lam)


def mlp_head(hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, n_out))


class MLMHead(nn.Module):
    """BERT's masked-LM head: a trained transform, then a decoder tied to the (frozen) word embeddings.

    all-MiniLM-L6-v2 ships without this head, so the transform and the output bias are learned here.
    """

    def __init__(self, encoder: TextEncoder):
        super().__init__()
        h = encoder.hidden
        self.transform = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h, eps=1e-12))
        self.embeddings = encoder.embeddings.word_embeddings  # tied and frozen: (V, H)
        self.bias = nn.Parameter(torch.zeros(self.embeddings.num_embeddings))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(M, H) states at masked positions -> (M, V) logits."""
        return self.transform(h) @ self.embeddings.weight.t() + self.bias


@dataclass
class CausalmConfig:
    """Stage-1 set-up for one concept."""

    concept: str  # "adjectives", "gender" or "race"
    adversarial: bool  # True: the CF encoder; False: the O encoder
    token_level: bool  # adjectives: token heads (is-masked-adjective, POS); templates: sentence heads
    n_control: int  # classes of the control head
    lam: float = 1.0  # gradient-reversal strength at the end of the ramp
    w_control: float = 0.5
    w_adv: float = 1.0
    # A second pass over the unmasked text for the sentence-level heads (what inference sees) costs as much as
    # the masked pass; without it those heads read the masked text's states, as in the paper's joint setup.
    clean_pass: bool = False
    encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)


class CausalmPretrainer(nn.Module):
    """Encoder + stage-1 heads. Consumes cached lower-layer states, so only the top layers run per step."""

    def __init__(self, cfg: CausalmConfig, encoder: TextEncoder | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder or TextEncoder(cfg.encoder)
        h = self.encoder.hidden
        self.mlm = MLMHead(self.encoder)
        self.control = mlp_head(h, cfg.n_control)
        # Two adversaries for the CF encoder: one per sentence (what the task head and the probes read) and,
        # in the adjectives setting, CausaLM's token-level "is this masked token an adjective?" head.
        self.adv_sentence = mlp_head(h, 2) if cfg.adversarial else None
        self.adv_token = mlp_head(h, 2) if cfg.adversarial and cfg.token_level else None

    def losses(self, batch: dict[str, torch.Tensor], lam: float) -> dict[str, torch.Tensor]:
        """Every stage-1 loss for one batch of cached states. Keys of `batch`:

        masked (B, T, H) lower states of the masked text, clean (B, T, H) of the original text, mask (B, T),
        mlm (B, T) target ids or IGNORE, tok_control / tok_concept (B, T) token labels or IGNORE,
        sent_control / sent_concept (B,) sentence labels or IGNORE.
        """
        enc, out = self.encoder, {}
        hm = enc.upper_states(batch["masked"], batch["mask"])  # (B, T, H)
        at = batch["mlm"] != IGNORE  # (B, T) masked positions
        out["mlm"] = F.cross_entropy(self.mlm(hm[at]), batch["mlm"][at])
        hc = enc.upper_states(batch["clean"], batch["mask"]) if self.cfg.clean_pass else hm  # (B, T, H)
        pooled = mean_pool(hc, batch["mask"])  # (B, H)
        if self.cfg.token_level:
            out["control"] = _ce(self.control(hc), batch["tok_control"])
        else:
            out["control"] = _ce(self.control(pooled), batch["sent_control"])
        if self.adv_sentence is not None:
            out["adv_sentence"] = _ce(self.adv_sentence(grad_reverse(pooled, lam)), batch["sent_concept"])
        if self.adv_token is not None:
            concept_at_mask = torch.where(at, batch["tok_concept"], torch.full_like(batch["mlm"], IGNORE))
            out["adv_token"] = _ce(self.adv_token(grad_reverse(hm, lam)), concept_at_mask)
        return out

    def total(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = parts["mlm"] + self.cfg.w_control * parts["control"]
        for key in ("adv_sentence", "adv_token"):
            if key in parts:
                loss = loss + self.cfg.w_adv * parts[key]
        return loss


def _ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the last axis that is 0 (not NaN) when every target is IGNORE."""
    logits, target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
    if not (target != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=IGNORE)
