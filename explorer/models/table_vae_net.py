"""The tabular causal-layer VAE's network (CCGM's tabular half): one concept per column, the pendulum's causal layer.

    row --encoder--> concepts z (B, n): one per column, a scalar or (categorical, `concept_dim` m) m units
    z_u = g_u(A[:, node(u)] * z) + eps_u    the SAME `CausalLayer` as the pendulum model (causal_vae.py); a
                                            vector node's m units share its parents (tied mask blocks)
    z --decoder--> row                      each column from its own concept

- A continuous column's concept is its standardised value (observed, like the pendulum's label-supervised
  concepts), so its exogenous noise is the residual, exactly, as in the census world's additive mechanisms.
- A categorical or ordinal column's concept is a latent score: q(z_j | row) = Normal(mu_j(row), sigma_j(row)^2)
  from an MLP over the whole row, and p(x_j = k | z_j) = softmax_k(w_jk z_j + b_jk): the arg-max of lines gives
  every category one interval of the score, a one-dimensional ordering of the categories learned with the rest.
  With `concept_dim` m > 1 the concept is a vector: q is a diagonal Normal over m units, p(x_j = k | z_j) =
  softmax_k(w_jk . z_j + b_jk) gives every category a convex region of the plane (m = 2), and the layer's node
  for the column has m units with one parent set (`CausalLayer`'s vector nodes), so P(k | parents) is no longer
  a window sliding along one ordering. m = 1 is the scalar model (and the shipped checkpoints' layout).
- `logit_heads` (default "", off; census-vae-world is trained with "categories", census-vae-adult without):
  P(x_j = k | parents) = softmax of K logits an MLP computes from the parents' concepts ("concepts") or their
  categories and numbers ("categories"), in place of the quadrature below (explorer/models/table_vae_heads.py).
- The prior of z is the causal layer, so the KL term of the ELBO is E_q[-log p_causal(z)] - H(q): the causal
  layer's Gaussian NLL on sampled concepts, minus the encoder's entropy. While the graph is learned the layer
  adds its sparsity and NOTEARS acyclicity penalties; `harden()` then freezes the DAG (as for the pendulum).

The counterfactual (`TableVAE.counterfactual`, one posterior draw):
- abduction: z = the encoder's mean; eps = z - g(A z), exact for a continuous column.
- action: do(column = value) sets the column to the value and its concept to the value standardised, or, for a
  category k, to the centre of k's concept (the mean encoder score of the training rows in k).
- prediction: in causal order, each mechanism runs again on its counterfactual parents and the same noise. A
  continuous column moves by its concept's change times its SD. A categorical column is NOT read off its shifted
  score: a shift of a score shared by 14 occupations crosses narrow intervals and changed most rows' occupation
  in trials, where the world's Gumbel-max mechanisms keep most. It is drawn, as the world's are, by Gumbel-max
  over the model's own P(k | parents) (the decoder's softmax averaged over the causal layer's Normal for the
  concept), with the Gumbels from their posterior given the observed category (Oberst & Sontag 2019): a column
  whose parents do not move keeps its value, and one whose parents move changes only as far as its odds do. Its
  concept stays the factual one if its category stays, else becomes the new category's centre.
- cut arrows: an arrow of the learned graph missing from the edited graph feeds the child its parent's FACTUAL
  concept (before any intervention), as in the pendulum lab and `explorer.scm.table_scm`; arrows the learned
  graph lacks are ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.models.causal_vae import CausalLayer, CausalVAEConfig
from explorer.models.table_vae_heads import CategoryHeads
from explorer.scm.graph import Dag

GH_POINTS = 16  # quadrature points over a concept's Normal when a category's probability is computed


@dataclass
class TableVAEConfig:
    """Everything needed to rebuild the model; stored in the checkpoint's card.

    `fixed[i][j]` says what is known about the arrow columns[i] -> columns[j]: 1 present, 0 absent, -1 learned
    (the causal layer's convention). `mean` and `sd` standardise the continuous columns (0 and 1 elsewhere).
    """

    columns: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()  # categories per column; 0 for a continuous column
    mean: tuple[float, ...] = ()
    sd: tuple[float, ...] = ()
    fixed: list[list[int]] = field(default_factory=list)
    hidden: int = 128
    mech_hidden: int = 64
    concept_dim: int = 1  # latent dims of a categorical column's concept (a vector node of the causal layer)
    logit_heads: str = ""  # K-logit mechanisms of the categorical columns: "", "concepts", "categories"

    def __post_init__(self) -> None:
        self.columns, self.levels = tuple(self.columns), tuple(int(k) for k in self.levels)
        self.mean, self.sd = tuple(map(float, self.mean)), tuple(map(float, self.sd))
        if self.logit_heads not in ("", "concepts", "categories"):
            raise ValueError(f"logit_heads must be '', 'concepts' or 'categories', not {self.logit_heads!r}")
        if not self.fixed:
            d = len(self.columns)
            self.fixed = [[0 if i == j else -1 for j in range(d)] for i in range(d)]

    def to_dict(self) -> dict:
        return asdict(self)


class TableVAE(nn.Module):
    """Encoder, the shared causal layer, per-column decoders. Rows are (B, C) floats: codes or raw values."""

    def __init__(self, cfg: TableVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.disc = [j for j, k in enumerate(cfg.levels) if k > 0]  # the categorical / ordinal columns
        self.cont = [j for j, k in enumerate(cfg.levels) if k == 0]
        n_in = sum(k if k else 1 for k in cfg.levels)
        kmax, nd, m = max([k for k in cfg.levels] + [1]), len(self.disc), cfg.concept_dim
        self.register_buffer("mean", torch.tensor(cfg.mean, dtype=torch.float32))  # (C,)
        self.register_buffer("sd", torch.tensor(cfg.sd, dtype=torch.float32))  # (C,)
        widths = tuple(m if k else 1 for k in cfg.levels)
        self.causal = CausalLayer(CausalVAEConfig(concepts=cfg.columns, fixed=cfg.fixed, mech_hidden=cfg.mech_hidden,
                                                  widths=widths))
        self.units = self.causal.units  # column j's concept units (1, or m for a categorical column)
        self.cont_units = [self.units[j][0] for j in self.cont]
        self.register_buffer("disc_units", torch.tensor([self.units[j] for j in self.disc]).view(nd, m),
                             persistent=False)  # (D, m)
        self.encoder = nn.Sequential(nn.Linear(n_in, cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, cfg.hidden),
                                     nn.SiLU(), nn.Linear(cfg.hidden, 2 * nd * m))  # (B, F) -> (B, 2Dm)
        # distinct slopes from the start, so every category can own an interval of its concept (its first dim;
        # the others start random, so the categories spread over the plane)
        slopes = torch.linspace(-2.0, 2.0, kmax).repeat(nd, 1)  # (D, K)
        w = slopes + 0.1 * torch.randn(nd, kmax)
        if m > 1:  # (D, K, m); at m = 1 the shipped (D, K) layout is kept
            w = torch.cat([w[..., None], torch.randn(nd, kmax, m - 1)], -1)
        self.dec_w = nn.Parameter(w)
        self.dec_b = nn.Parameter(torch.zeros(nd, kmax))
        valid = torch.stack([torch.arange(kmax) < cfg.levels[j] for j in self.disc]) if nd else torch.ones(0, kmax)
        self.register_buffer("valid", valid.bool())  # (D, K): which padded levels exist
        owner = self.causal.node if cfg.logit_heads == "concepts" else torch.repeat_interleave(
            torch.arange(len(cfg.levels)), torch.tensor([k if k else 1 for k in cfg.levels]))  # features' columns
        self.heads = CategoryHeads(owner, self.disc, valid.bool(), cfg.mech_hidden) if cfg.logit_heads else None
        # each category's concept, set after training: (D, K) at m = 1 (the shipped layout), else (D, K, m)
        self.register_buffer("centres", torch.zeros((nd, kmax) if m == 1 else (nd, kmax, m)))
        q = GH_POINTS if m == 1 else 6  # quadrature points per dim: a product grid of q^m points
        nodes, weights = np.polynomial.hermite_e.hermegauss(q)  # for the weight exp(-t^2 / 2)
        grid = np.stack(np.meshgrid(*[nodes] * m, indexing="ij"), -1).reshape(-1, m)  # (Q, m)
        logw = np.log(weights / weights.sum())
        logw = np.stack(np.meshgrid(*[logw] * m, indexing="ij"), -1).reshape(-1, m).sum(1)  # (Q,)
        self.register_buffer("gh_nodes", torch.tensor(grid, dtype=torch.float32), persistent=False)  # (Q, m)
        self.register_buffer("gh_logw", torch.tensor(logw, dtype=torch.float32), persistent=False)  # (Q,)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's slopes (D, K, m) and the category centres (D, K, m), whatever the stored layout."""
        nd, kmax = self.dec_b.shape
        m = self.cfg.concept_dim
        return self.dec_w.view(nd, kmax, m), self.centres.view(nd, kmax, m)

    # --- the three parts ------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C) codes / values -> (B, F): one-hot categories, standardised numbers."""
        parts = []
        for j, k in enumerate(self.cfg.levels):
            if k:
                parts.append(F.one_hot(x[:, j].long().clamp(0, k - 1), k).to(x.dtype))  # (B, k)
            else:
                parts.append(((x[:, j] - self.mean[j]) / self.sd[j])[:, None])  # (B, 1)
        return torch.cat(parts, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | row): means (B, n) over the concept units (a continuous column's: its standardised value) and the
        log-variances (B, Dm) of the categorical units (in `disc_units` order)."""
        h = self.encoder(self.features(x))  # (B, 2Dm)
        nu = self.disc_units.numel()
        z = x.new_zeros(len(x), len(self.causal.node))  # (B, n)
        z[:, self.cont_units] = (x[:, self.cont] - self.mean[self.cont]) / self.sd[self.cont]
        z[:, self.disc_units.flatten()] = h[:, :nu]
        return z, h[:, nu:].clamp(-12.0, 4.0)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, n) concepts -> (B, D, K) category logits of the discrete columns (padding at -1e9)."""
        zd = z[:, self.disc_units]  # (B, D, m)
        w, _ = self.weights()
        out = (zd[:, :, None, :] * w).sum(-1) + self.dec_b  # (B, D, K)
        return out.masked_fill(~self.valid, -1e9)

    def loss(self, x: torch.Tensor, beta: float, sparsity: float, acyclic: float) -> dict[str, torch.Tensor]:
        """Negative ELBO with the causal layer as the prior, plus the graph penalties while it is learned."""
        mu, logvar = self.encode(x)
        z = mu.clone()
        du = self.disc_units.flatten()
        z[:, du] = mu[:, du] + torch.randn_like(logvar) * (0.5 * logvar).exp()  # (B, n)
        codes = x[:, self.disc].long()  # (B, D)
        rec = F.cross_entropy(self.logits(z).transpose(1, 2), codes, reduction="none").sum(1).mean()
        g = self.causal.loss(z, sparsity, acyclic)
        entropy = 0.5 * logvar.sum(1).mean()  # H(q) up to a constant
        kl = g["nll"] - entropy
        heads = self.heads.loss(self.causal, self._head_in(x, z), codes) if self.heads is not None else torch.zeros(())
        # beta < 1: at beta = 1 a concept that does not encode its column costs no more than one that does (the
        # KL pays what the reconstruction gains), and training settled on the columns' marginals (posterior
        # collapse). The graph penalties are scaled with the prior, so `sparsity` is relative to its NLL.
        # the heads' cross-entropy is a likelihood of the observed columns, as `rec` is: weight 1
        return {"loss": rec + beta * (g["loss"] - entropy) + heads, "rec": rec, "kl": kl, "nll": g["nll"],
                "heads": heads}

    # --- after training ----------------------------------------------------------------------------------
    @torch.no_grad()
    def set_centres(self, x: torch.Tensor) -> None:
        """Each category's concept: the mean encoder score of the rows `x` (B, C) in it; a category without rows
        gets the score where the decoder is surest of it (a grid search)."""
        mu, _ = self.encode(x)
        w, centres = self.weights()  # centres: a view of the buffer, filled in place
        grid = torch.linspace(-8, 8, 1601, device=x.device)  # (G,)
        for i, j in enumerate(self.disc):
            probs = torch.softmax(grid[:, None] * w[i, :, 0] + self.dec_b[i], -1)  # (G, K), along the first dim
            for k in range(self.cfg.levels[j]):
                rows = x[:, j] == k
                if rows.any():
                    centres[i, k] = mu[rows][:, self.disc_units[i]].mean(0)
                else:
                    centres[i, k] = 0.0
                    centres[i, k, 0] = grid[probs[:, k].argmax()]

    def graph(self) -> Dag:
        """The DAG the causal layer uses (after `harden()`)."""
        a = self.causal.adjacency()
        names = self.cfg.columns
        return Dag(names, frozenset((names[i], names[j]) for i in range(len(names)) for j in range(len(names))
                                    if a[i, j] > 0))

    # --- the counterfactual ----------------------------------------------------------------------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, n) concepts -> (B, C) codes / values: the decoder's arg-max category, the de-standardised number."""
        out = z.new_zeros(len(z), len(self.cfg.columns))  # (B, C)
        out[:, self.cont] = z[:, self.cont_units] * self.sd[self.cont] + self.mean[self.cont]
        out[:, self.disc] = self.logits(z).argmax(-1).to(out.dtype)
        return out

    def abduct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Abduction: concepts z (B, n) (the encoder's mean) and their exogenous noise eps = z - g(A z) (B, n)."""
        z, _ = self.encode(x)
        return z, self.causal.abduct(z)

    def do_concept(self, j: int, value: torch.Tensor) -> torch.Tensor:
        """Column j's concept for do(column j = value): (B,) codes or values -> (B, w) concepts (w its units)."""
        if self.cfg.levels[j]:
            return self.weights()[1][self.disc.index(j)][value.long()]  # (B, m)
        return ((value - self.mean[j]) / self.sd[j])[:, None]

    def category_logits(self, mean: torch.Tensor, j: int) -> torch.Tensor:
        """log P(column j = k | its parents): the decoder's softmax averaged over the causal layer's
        Normal(mean, diag sd_j^2) for the concept (Gauss-Hermite quadrature); (B, m) means -> (B, K).

        Computed once per distinct mean: across the posterior draws of a row most means repeat (every column whose
        parents are not drawn categories), and the quadrature's (B, Q, K) tensors are most of a counterfactual's
        time. Each row's arithmetic is elementwise, so the numbers are those of the full batch, bit for bit."""
        if mean.shape[1] == 1:  # a scalar concept: the flat unique is several times faster than unique over rows
            uniq, inverse = torch.unique(mean[:, 0], return_inverse=True)
            uniq = uniq[:, None]  # (U, 1), (B,)
        else:
            uniq, inverse = torch.unique(mean, dim=0, return_inverse=True)  # (U, m), (B,)
        if len(uniq) < len(mean):
            return self._quadrature(uniq, j)[inverse]
        return self._quadrature(mean, j)

    def _quadrature(self, mean: torch.Tensor, j: int) -> torch.Tensor:
        """`category_logits` on every row of `mean` (B, m) -> (B, K)."""
        i, k = self.disc.index(j), self.cfg.levels[j]
        sd = self.causal.log_sd[self.units[j]].exp()  # (m,)
        z = mean[:, None, :] + sd * self.gh_nodes  # (B, Q, m)
        w = self.weights()[0][i, :k]  # (K, m): this column's levels only
        logits = (z[:, :, None, :] * w).sum(-1) + self.dec_b[i, :k]  # (B, Q, K)
        return torch.logsumexp(F.log_softmax(logits, -1) + self.gh_logw[:, None], dim=1)  # (B, K)

    def counterfactual(self, x: torch.Tensor, do: dict[int, torch.Tensor], keep: torch.Tensor | None = None,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One counterfactual draw of rows (B, C) under do {column index: (B,) codes or values}.

        Args:
            keep: (C, C) 0/1, the edited graph's arrows; arrows of the learned graph missing from it are cut.
            generator: the random stream of the categorical columns' posterior Gumbels.

        Returns:
            (counterfactual rows (B, C), the decoder's reading of every counterfactual concept (B, C): for an
            intervened column, what its concept decodes to, which `evaluate census` compares with the asked value).
        """
        x_cf, z_cf = self._counterfactual(x, do, keep, generator, 1)
        return x_cf, self.decode(z_cf)

    def counterfactual_draws(self, x: torch.Tensor, do: dict[int, torch.Tensor], keep: torch.Tensor | None,
                             generator: torch.Generator | None, repeats: int) -> torch.Tensor:
        """`repeats` counterfactual draws of the rows x (n, C) under do {column index: (n,)}: (repeats * n, C),
        draw r's row i at r * n + i; the same rows, bit for bit, as `counterfactual(x.repeat(repeats, 1), ...)`
        with do tiled alike, but the abduction and the factual parents' category probabilities (the same in every
        draw) are computed once, and the concepts are not decoded (callers of draws read the rows only)."""
        return self._counterfactual(x, do, keep, generator, repeats)[0]

    def _counterfactual(self, x: torch.Tensor, do: dict[int, torch.Tensor], keep: torch.Tensor | None,
                        generator: torch.Generator | None, repeats: int, mask: dict[int, torch.Tensor] | None = None,
                        gumbels: dict[int, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(counterfactual rows, their concepts), both (B, C) with B = repeats * n, of the n rows x; see the two
        above. `do` values (and `mask`) are (n,), tiled over the repeats, or already (B,).

        Args:
            mask: {column index: (B,) bool}: do() holds only in these rows; elsewhere the column follows its
                mechanism (recourse scores candidates that change different columns in one pass).
            gumbels: {categorical column index: (B, K)}: the categorical noise abducted beforehand
                (`posterior_noise`), so every candidate of a recourse search meets the same draws of it; None:
                drawn here from `generator`. A column it lacks is drawn and added to it.
        """
        # abduction: concepts and their noise from the observed row
        z1, eps1 = self.abduct(x)  # (n, C): the draws differ only in their Gumbels, so once per row
        prior1 = z1 - eps1  # (n, C): g(A z), each concept's mean under its factual parents
        x1 = x  # (n, C)
        z, eps, x = z1.repeat(repeats, 1), eps1.repeat(repeats, 1), x.repeat(repeats, 1)  # (B, C), B = repeats * n
        do = {j: v if len(v) == len(x) else v.repeat(repeats) for j, v in do.items()}
        mask = {j: v if len(v) == len(x) else v.repeat(repeats) for j, v in (mask or {}).items()}
        a = self.causal.adjacency()
        live = a * keep if keep is not None else a  # (C, C)
        cut = a - live
        live_u, cut_u = self.causal.unit_mask(live), self.causal.unit_mask(cut)  # (n, n): each column's block tied
        z_cf, x_cf = z.clone(), x.clone()
        moved = set(do)
        fact = None  # what the K-logit heads read of the factual rows (B, ...), made once when first needed
        for j in self.causal.order():
            if j not in do and not any(live[i, j] > 0 for i in moved):
                continue  # nothing upstream moved (or its arrows are cut): the factual value stands
            # action: an intervened concept is set, its column is the asked value
            u = self.units[j]  # this column's concept units
            if j in do and j not in mask:
                x_cf[:, j] = do[j].to(x.dtype)
                z_cf[:, u] = self.do_concept(j, do[j].to(z.dtype))
                continue
            # prediction: the mechanism again, live parents counterfactual, cut ones factual, on the same noise
            inputs = z_cf * live_u[:, u[0]] + z * cut_u[:, u[0]]  # (B, n): the units of a column share parents
            mean = torch.stack([self.causal.mechanism(v, inputs) for v in u], 1)  # (B, w)
            moved.add(j)
            if not self.cfg.levels[j]:
                z_cf[:, u[0]] = mean[:, 0] + eps[:, u[0]]
                x_cf[:, j] = x[:, j] + (z_cf[:, u[0]] - z[:, u[0]]) * self.sd[j]  # exact when unmoved
                if j in mask:
                    self._set(x_cf, z_cf, j, do[j], mask[j])
                continue
            # a category by Gumbel-max over the model's own P(k | parents), its Gumbels drawn from their posterior
            # given the observed category (as the census world abducts), so an unmoved column keeps its value
            if gumbels is None or j not in gumbels:
                logits_f = self._factual_logits(x1, z1, prior1, j).repeat(repeats, 1)  # (B, K): factual, one per row
                noise = posterior_gumbels(logits_f, x[:, j].long(), generator)
                if gumbels is not None:  # a caller's empty dict records the draws (a sweep repeats a row's)
                    gumbels[j] = noise
            else:
                noise = gumbels[j]
            if self.heads is None:
                k = (self.category_logits(mean, j) + noise).argmax(-1)  # (B,)
            else:
                fact = self._head_in(x, z) if fact is None else fact
                now = self._head_in(x_cf, z_cf)  # x_cf changes column by column: read again
                k = (self.heads.logits(j, now, fact, live, cut, self.cfg.levels[j]) + noise).argmax(-1)
            x_cf[:, j] = k.to(x.dtype)
            centre = self.weights()[1][self.disc.index(j)][k]  # (B, m): a moved category's concept is its centre
            z_cf[:, u] = torch.where((k == x[:, j].long())[:, None], z[:, u], centre)
            if j in mask:  # action on the masked rows only: the asked value and its concept
                self._set(x_cf, z_cf, j, do[j], mask[j])
        return x_cf, z_cf

    def _set(self, x_cf: torch.Tensor, z_cf: torch.Tensor, j: int, value: torch.Tensor, rows: torch.Tensor) -> None:
        """do(column j = value) on the rows `rows` (B,) bool of x_cf (B, C) and z_cf (B, n), in place."""
        u = self.units[j]
        x_cf[:, j] = torch.where(rows, value.to(x_cf.dtype), x_cf[:, j])
        z_cf[:, u] = torch.where(rows[:, None], self.do_concept(j, value.to(z_cf.dtype)), z_cf[:, u])

    def posterior_noise(self, x: torch.Tensor, repeats: int, generator: torch.Generator | None
                        ) -> dict[int, torch.Tensor]:
        """The categorical columns' exogenous noise, abducted: `repeats` draws per row of x (n, C) of the Gumbels
        from their posterior given the observed category, {column index: (repeats * n, K)}, draw r's row i at
        r * n + i. (The continuous columns' noise is exact: `abduct`.) With it, `_counterfactual(gumbels=...)`
        is a deterministic function of the action, as the census world's mechanisms on abducted noise are."""
        z, eps = self.abduct(x)
        prior = z - eps  # (n, C)
        return {j: posterior_gumbels(self._factual_logits(x, z, prior, j).repeat(repeats, 1),
                                     x[:, j].long().repeat(repeats), generator) for j in self.disc}

    def _factual_logits(self, x: torch.Tensor, z: torch.Tensor, prior: torch.Tensor, j: int) -> torch.Tensor:
        """log P(column j = k | its factual parents), (n, K): from the rows x (n, C), their concepts z (n, n_units)
        and the concepts' means under the factual parents `prior` (z - eps)."""
        if self.heads is None:
            return self._quadrature(prior[:, self.units[j]], j)
        a = self.causal.adjacency()
        inputs = self._head_in(x, z)
        return self.heads.logits(j, inputs, inputs, a, torch.zeros_like(a), self.cfg.levels[j])

    def _head_in(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """What the K-logit heads read of rows x (B, C) with concepts z (B, n): the concepts, or the features."""
        return z if self.cfg.logit_heads == "concepts" else self.features(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The VAE's own reconstruction (encoder mean, decoder arg-max): (B, C)."""
        return self.decode(self.encode(x)[0])


def posterior_gumbels(logits: torch.Tensor, observed: torch.Tensor, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
    """Gumbels (B, K) drawn from their posterior given that category `observed` (B,) won under `logits` (B, K):
    the top-down construction (Maddison, Tarlow & Minka 2014), as `explorer.scm.table_mechanisms.GumbelMax`."""
    def gumbel(shape: tuple[int, ...]) -> torch.Tensor:
        u = torch.rand(shape, generator=generator, device=logits.device).clamp(1e-12, 1 - 1e-7)
        return -torch.log(-torch.log(u))

    top = torch.logsumexp(logits, -1, keepdim=True) + gumbel((len(logits), 1))  # (B, 1): the maximum
    others = logits + gumbel(tuple(logits.shape))  # (B, K), then truncated below the maximum
    # (the parentheses matter: negating after the scatter put -top at the observed category, which then won only
    # by chance, so columns whose parents did not move changed anyway)
    perturbed = (-torch.logaddexp(-top, -others)).scatter(1, observed[:, None], top)  # (B, K): each < top
    return perturbed - logits
