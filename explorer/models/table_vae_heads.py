"""K-logit mechanisms for the table VAE's categorical columns (`TableVAEConfig.logit_heads`, default off).

The scalar model's P(k | parents) is the decoder's softmax averaged over the causal layer's Normal for one latent
score: a window sliding along one learned ordering of the categories, a one-parameter family. The census world's
mechanisms are Gumbel-max over K logits that each move on their own (multinomial logistic regression). A head
gives a categorical column that family:

    P(x_j = k | parents) = softmax_k(h_j(inputs of the parents in the graph))    h_j: an MLP -> K logits

Two kinds of input, masked by the same graph as the causal layer (an input reaches column j's head when the arrow
from its column to j is present):
- "concepts": the parents' concepts (a continuous parent's standardised value, a categorical parent's latent
  score). The encoder sees the whole row, so a categorical parent's score also varies WITHIN its category with
  the row's other columns; a head learns to read that variation, which do() then replaces by the category's
  centre. In trials (docs/census.md) it did no better than the scalar model under do(sex).
- "categories": the parents' values themselves (one-hot categories, standardised numbers), as the world's
  mechanisms read them: nothing of a child leaks into what its head reads.

A head is fitted by the cross-entropy of the observed category; its inputs are detached, so the heads fit the
VAE's concepts and never shape them. While the graph is learned, the heads see relaxed Bernoulli masks drawn from
the causal layer's edge logits (the layer's own recipe), so their likelihood also speaks for the arrows; once it
is frozen, the frozen graph. The causal layer stays the VAE's prior over every concept.

The counterfactual (`TableVAE._counterfactual`) draws a category by Gumbel-max over the head's logits on the
counterfactual parents, with the Gumbels from their posterior given the observed category under the factual
parents' logits (Oberst & Sontag 2019), exactly as with the quadrature's P(k | parents), which it replaces; a
cut arrow feeds the head its parent's factual input.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.models.causal_vae import CausalLayer


class CategoryHeads(nn.Module):
    """One MLP per categorical column, its masked inputs in, K logits out (padded levels at -1e9).

    Args:
        owner: (n_in,) the column (node) each input belongs to: its concept units (`concepts`) or its features,
            one-hot categories and standardised numbers (`categories`); an input reaches column j's head when the
            arrow owner -> j is in the graph.
        disc: the categorical columns' node indices, (D,).
        valid: (D, K) bool, which of the K padded levels each column has.
        hidden: the heads' width.
    """

    def __init__(self, owner: torch.Tensor, disc: list[int], valid: torch.Tensor, hidden: int):
        super().__init__()
        (d, k), n = valid.shape, len(owner)
        self.register_buffer("owner", owner.clone(), persistent=False)
        self.register_buffer("disc", torch.tensor(disc, dtype=torch.long), persistent=False)
        self.register_buffer("valid", valid.clone(), persistent=False)  # the VAE's own `valid` is the stored one
        self.w1 = nn.Parameter(torch.randn(d, n, hidden) / math.sqrt(n))
        self.b1 = nn.Parameter(torch.zeros(d, hidden))
        self.w2 = nn.Parameter(torch.randn(d, hidden, hidden) / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(d, hidden))
        self.w3 = nn.Parameter(torch.zeros(d, hidden, k))  # zero: every head starts at the uniform distribution
        self.b3 = nn.Parameter(torch.zeros(d, k))

    def input_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """A node mask (..., d, d) [parent, child] -> (..., n_in, D): which inputs reach each categorical head."""
        return mask[..., self.owner, :][..., self.disc]

    def all_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, D, n_in) each column's masked inputs -> (B, D, K) logits."""
        h = F.silu(torch.einsum("bdi,dih->bdh", inputs, self.w1) + self.b1)
        h = F.silu(torch.einsum("bdh,dhg->bdg", h, self.w2) + self.b2)
        out = torch.einsum("bdh,dhk->bdk", h, self.w3) + self.b3  # (B, D, K)
        return out.masked_fill(~self.valid, -1e9)

    def logits(self, j: int, now: torch.Tensor, factual: torch.Tensor, live: torch.Tensor, cut: torch.Tensor,
               k: int) -> torch.Tensor:
        """Column j's (a node index) log P(k | parents) on its k levels, (B, k): the inputs `now` (B, n_in) through
        the live arrows (d, d) of the graph, the `factual` ones through the cut arrows (the cut-arrow convention)."""
        i = int((self.disc == j).nonzero())
        inputs = now * live[self.owner, j] + factual * cut[self.owner, j]  # (B, n_in)
        h = F.silu(inputs @ self.w1[i] + self.b1[i])
        h = F.silu(h @ self.w2[i] + self.b2[i])
        return F.log_softmax(h @ self.w3[i, :, :k] + self.b3[i, :k], -1)

    def loss(self, causal: CausalLayer, inputs: torch.Tensor, codes: torch.Tensor, temperature: float = 0.5
             ) -> torch.Tensor:
        """Summed over the columns, mean over rows: cross-entropy of the observed categories `codes` (B, D) given
        the detached `inputs` (B, n_in) of their parents under the graph (relaxed masks while it is learned)."""
        d = causal.d
        if causal.hardened:
            mask = causal.hard.expand(len(inputs), d, d)
        else:  # the causal layer's relaxed Bernoulli masks, an independent draw
            u = torch.rand(len(inputs), d, d, device=inputs.device).clamp(1e-6, 1 - 1e-6)
            sample = torch.sigmoid((causal.logits + torch.log(u) - torch.log1p(-u)) / temperature)  # (B, d, d)
            mask = torch.where(causal.fixed >= 0, causal.fixed, sample) * (1 - torch.eye(d, device=inputs.device))
        masked = inputs.detach()[:, None, :] * self.input_mask(mask).transpose(1, 2)  # (B, D, n_in)
        return F.cross_entropy(self.all_logits(masked).transpose(1, 2), codes, reduction="none").sum(1).mean()
