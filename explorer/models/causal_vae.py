"""A VAE with a partly trainable causal layer over its concept latents (CausalVAE / CCGM style).

    image --encoder--> concept latents z (one per concept, supervised by the labels) + style latents s
    z_j = g_j(A[:, j] * z) + eps_j        the causal layer: one small MLP per node, parents masked by A
    (z, s) --decoder--> image             a spatial-broadcast decoder

Concept latents live in [-1, 1] over each concept's range (`explorer.scm.pendulum.normalise`). The
adjacency A mixes fixed entries (known present / known absent) with learned ones, which carry a
sparsity and a NOTEARS acyclicity penalty while the graph is being learned; `harden()` then freezes the
learned graph to the DAG the page and the counterfactuals use. With additive noise, abduction is exact:
eps = z - g(A * z), so the empty intervention gives back exactly the encoded latents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.scm.graph import Dag


@dataclass
class CausalVAEConfig:
    """Everything needed to rebuild the model; stored in the checkpoint's card.

    `fixed[i][j]` says what is known about the edge concepts[i] -> concepts[j]: 1 present, 0 absent,
    -1 learned. All -1 off the diagonal is a fully learned graph; no -1 is a fixed graph.
    """

    concepts: tuple[str, ...] = ("pendulum", "light", "shadow_length", "shadow_position")
    fixed: list[list[int]] = field(default_factory=list)
    style_dim: int = 2
    size: int = 64
    enc_width: int = 16
    dec_hidden: int = 64
    dec_grid: int = 32  # the per-pixel MLP runs on a 32 x 32 grid, each cell drawing 2 x 2 pixels
    fourier: int = 6  # sine/cosine frequencies per concept and per pixel coordinate, fed to the decoder
    mech_hidden: int = 64
    # latent dims per concept (the causal layer's vector nodes; () = one each, the pendulum's): a width-m node is
    # m scalar units that share the node's parents (the mask's rows and columns are tied per node block)
    widths: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.concepts = tuple(self.concepts)
        d = len(self.concepts)
        self.widths = tuple(int(w) for w in self.widths) or (1,) * d
        if len(self.widths) != d or min(self.widths) < 1:
            raise ValueError(f"widths must give each of the {d} concepts at least one unit, not {self.widths}")
        if not self.fixed:
            self.fixed = [[0 if i == j else -1 for j in range(d)] for i in range(d)]

    def to_dict(self) -> dict:
        return asdict(self)


class Encoder(nn.Module):
    """(B, 3, 64, 64) in [0, 1] -> concept latents (B, d) and the style posterior (mean, log-variance)."""

    def __init__(self, cfg: CausalVAEConfig):
        super().__init__()
        w, d = cfg.enc_width, len(cfg.concepts)
        self.style_dim = cfg.style_dim
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.SiLU(),  # (B, w, 32, 32)
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.SiLU(),  # (B, 2w, 16, 16)
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.SiLU(),  # (B, 4w, 8, 8)
            nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.SiLU(),  # (B, 4w, 4, 4)
            nn.Flatten(), nn.Linear(4 * w * 16, 256), nn.SiLU(),
            nn.Linear(256, d + 2 * cfg.style_dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.net(x)  # (B, d + 2S)
        s = self.style_dim
        return h[:, :-2 * s], h[:, -2 * s:-s], h[:, -s:]  # z (B, d), style mean (B, S), log-var (B, S)


def _fourier(v: torch.Tensor, k: int) -> torch.Tensor:
    """(..., n) -> (..., n * (1 + 2k)): each value with sin/cos of pi * f * value, f = 1..k."""
    freqs = torch.arange(1, k + 1, dtype=v.dtype, device=v.device) * math.pi  # (k,)
    ang = v[..., None] * freqs  # (..., n, k)
    return torch.cat([v, ang.sin().flatten(-2), ang.cos().flatten(-2)], dim=-1)


class BroadcastDecoder(nn.Module):
    """Spatial broadcast decoder: every pixel runs the same small MLP on (latents, its coordinates).

    Why this decoder: the scene's objects sit where the concepts say, so a per-pixel function of
    (concepts, x, y) is the natural form, and it keeps the shadow a function of the shadow concepts alone
    more readily than a deconvolution stack, which helps interventions that break the physics.
    """

    def __init__(self, cfg: CausalVAEConfig):
        super().__init__()
        d, h, k, n = len(cfg.concepts), cfg.dec_hidden, cfg.fourier, cfg.dec_grid
        self.k = k
        self.latent_in = nn.Linear(d * (1 + 2 * k) + cfg.style_dim, h)
        self.coord_in = nn.Linear(2 * (1 + 2 * k), h, bias=False)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys], -1).reshape(n * n, 2), persistent=False)  # (P, 2)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(),
                                 nn.Linear(h, h // 2), nn.SiLU())  # (B, P, H) -> (B, P, H/2)
        # Each grid cell's features give its 2 x 2 block of output pixels (sub-pixel read-out): 4x cheaper
        # than running the MLP at 64 x 64, and 3x cheaper at export time than a transposed convolution.
        self.read = nn.Linear(h // 2, 3 * 4)
        self.size = n

    def forward(self, z: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, n = z.shape[0], self.size
        lat = self.latent_in(torch.cat([_fourier(z, self.k), style], 1))  # (B, H)
        pos = self.coord_in(_fourier(self.coords, self.k))  # (P, H)
        h = self.read(self._mlp(lat[:, None, :] + pos[None]))  # (B, P, 12)
        h = h.transpose(1, 2).reshape(b, 12, n, n)  # (B, 12, 32, 32)
        return torch.sigmoid(F.pixel_shuffle(h, 2))  # (B, 3, 64, 64) in [0, 1]

    def _mlp(self, h: torch.Tensor) -> torch.Tensor:
        """(B, P, H) -> (B, P, H/2). Without autograd the activations run in place: at export sizes each
        (B, P, H) tensor is ~130 MB, and in a profile of the export SiLU on fresh tensors took 30 % of the CPU."""
        if torch.is_grad_enabled():
            return self.mlp(h)
        for layer in self.mlp:
            h = F.silu(h, inplace=True) if isinstance(layer, nn.SiLU) else layer(h)
        return h


class CausalLayer(nn.Module):
    """z_j = g_j(A[:, j] * z) + eps_j for every node j; A = fixed entries + learned edge probabilities.

    A node may be a vector (`cfg.widths`): its units are scalar units of the layer, each with its own g and noise,
    that read the same parents. The graph (A, the penalties, `harden`, `order`) is over the d nodes; the masks of
    the mechanisms are over the n units (`unit_mask`). With width 1 everywhere (the pendulum) n = d and nothing
    differs from the scalar layer.
    """

    def __init__(self, cfg: CausalVAEConfig):
        super().__init__()
        d, h = len(cfg.concepts), cfg.mech_hidden
        self.d, self.names = d, tuple(cfg.concepts)
        node = torch.repeat_interleave(torch.arange(d), torch.tensor(cfg.widths))  # (n,): each unit's node
        self.register_buffer("node", node, persistent=False)
        self.units = [[u for u in range(len(node)) if node[u] == j] for j in range(d)]  # node j's units
        n = len(node)
        fixed = torch.tensor(cfg.fixed, dtype=torch.float32)  # (d, d): 1, 0 or -1 (learn)
        self.register_buffer("fixed", fixed)
        self.logits = nn.Parameter(torch.zeros(d, d))  # learned edges start undecided (p = 0.5)
        self.register_buffer("hard", torch.full((d, d), -1.0))  # -1 until harden(); then the 0/1 graph
        self.register_buffer("frozen_probs", torch.zeros(d, d))  # the edge probabilities harden() decided on
        self.w1 = nn.Parameter(torch.randn(n, n, h) / math.sqrt(n))  # unit u's MLP: n inputs -> h
        self.b1 = nn.Parameter(torch.zeros(n, h))
        self.w2 = nn.Parameter(torch.randn(n, h, h) / math.sqrt(h))
        self.b2 = nn.Parameter(torch.zeros(n, h))
        self.w3 = nn.Parameter(torch.zeros(n, h))
        self.b3 = nn.Parameter(torch.zeros(n))
        self.log_sd = nn.Parameter(torch.full((n,), -1.0))  # residual scale per unit

    @property
    def hardened(self) -> bool:
        return bool((self.hard >= 0).all())

    def probabilities(self) -> torch.Tensor:
        """(d, d) edge probabilities: fixed entries as given, learned ones sigmoid(logits), no self-loops.

        Once the graph is frozen, the probabilities it was frozen from (the optimiser's momentum would
        otherwise keep moving the now idle logits).
        """
        if self.hardened:
            return self.frozen_probs
        p = torch.where(self.fixed >= 0, self.fixed, torch.sigmoid(self.logits))
        return p * (1 - torch.eye(self.d, device=p.device))

    def adjacency(self) -> torch.Tensor:
        """The 0/1 graph in use: the hardened one, or the current probabilities rounded."""
        return self.hard if self.hardened else (self.probabilities() > 0.5).float()

    def unit_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """A node mask (..., d, d) [parent, child] -> the units' (..., n, n): each node's block tied (width 1
        everywhere: the same values)."""
        return mask[..., self.node, :][..., :, self.node]

    def mechanisms(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, n, n) per-unit masked inputs (row u feeds unit u) -> (B, n) predictions g_u."""
        h = F.silu(torch.einsum("bji,jih->bjh", inputs, self.w1) + self.b1)  # (B, d, H)
        h = F.silu(torch.einsum("bjh,jhk->bjk", h, self.w2) + self.b2)  # (B, d, H)
        return (h * self.w3).sum(-1) + self.b3  # (B, d)

    def mechanism(self, j: int, inputs: torch.Tensor) -> torch.Tensor:
        """Unit j's prediction alone, g_j: (B, n) masked inputs -> (B,); `mechanisms` computes every unit's, n
        times the work when a caller that walks the graph node by node needs one (the table VAE)."""
        h = F.silu(inputs @ self.w1[j] + self.b1[j])  # (B, H)
        h = F.silu(h @ self.w2[j] + self.b2[j])  # (B, H)
        return h @ self.w3[j] + self.b3[j]  # (B,)

    def predict(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """g(mask * z): (B, n) latents, (d, d) or (B, d, d) node mask [parent, child] -> (B, n)."""
        m = self.unit_mask(mask).transpose(-1, -2)  # (..., child, parent) over units
        return self.mechanisms(z[:, None, :] * m)  # (B, d)

    def loss(self, z: torch.Tensor, sparsity: float, acyclic: float, temperature: float = 0.5,
             intervened: torch.Tensor | None = None) -> dict:
        """Gaussian NLL of each node given its (sampled) parents, plus the graph penalties while learning.

        Args:
            z: (B, n) latents (labels) of the scenes (n = d at width 1).
            intervened: (B, n) 0/1, which nodes of each scene were set by do(). A do() cuts the node from
                its parents, so its mechanism is fitted on the other scenes only (each node's NLL is a mean
                over the scenes where it was not intervened on); it still feeds its children as a parent.
        """
        if self.hardened:
            mask = self.hard
        else:
            # relaxed Bernoulli masks: the mechanisms see a parent or nothing, so they cannot undo a small
            # gate by growing their weights, and the edge probabilities get honest gradients
            u = torch.rand(z.shape[0], self.d, self.d, device=z.device).clamp(1e-6, 1 - 1e-6)
            sample = torch.sigmoid((self.logits + torch.log(u) - torch.log1p(-u)) / temperature)  # (B, d, d)
            mask = torch.where(self.fixed >= 0, self.fixed, sample) * (1 - torch.eye(self.d, device=z.device))
        resid = (z - self.predict(z, mask)) / self.log_sd.exp()  # (B, n)
        keep = torch.ones_like(z) if intervened is None else 1.0 - intervened.to(z.dtype)  # (B, n)
        per_node = ((0.5 * resid ** 2 + self.log_sd) * keep).sum(0) / keep.sum(0).clamp(min=1.0)  # (n,)
        nll = per_node.sum()
        out = {"nll": nll, "loss": nll}
        if not self.hardened:
            p = self.probabilities()
            learned = (self.fixed < 0).float()
            h = torch.trace(torch.matrix_exp(p * p)) - self.d  # NOTEARS: zero iff the graph is acyclic
            out["acyclic"] = h
            out["loss"] = nll + sparsity * (p * learned).sum() + acyclic * h
        return out

    def _dag(self, a: torch.Tensor) -> Dag:
        """The 0/1 matrix `a` as a Dag over the concept names (raises CycleError)."""
        n = self.names
        return Dag(n, frozenset((n[i], n[j]) for i in range(self.d) for j in range(self.d) if a[i, j] > 0))

    @torch.no_grad()
    def harden(self) -> Dag:
        """Freezes the learned graph: probability > 0.5, the weakest edge on a cycle dropped until acyclic.

        Only edges on a cycle are candidates: dropping the weakest edge anywhere (as this did at first) removed,
        on the 11-column census graph, confident arrows out of the roots, which lie on no cycle, before any arrow
        of a two-cycle. A hardened checkpoint stores its graph, so the shipped pendulum model is unchanged.
        """
        p = self.probabilities()
        a = (p > 0.5).float()
        while True:
            try:
                dag = self._dag(a)
                break
            except ValueError:  # CycleError: drop the weakest learned edge that lies on a cycle and try again
                reach = a.clone()  # (d, d): reach[i, j] > 0 when j can be reached from i
                for _ in range(self.d):
                    reach = ((reach + reach @ a) > 0).float()
                on_cycle = (a > 0) & (reach.T > 0)  # the edge i -> j, and j reaches back to i
                cand = torch.where(on_cycle & (self.fixed < 0), p, torch.full_like(p, 2.0))
                k = int(cand.argmin())
                a[k // self.d, k % self.d] = 0
        self.frozen_probs.copy_(p)
        self.hard.copy_(a)
        return dag

    def order(self) -> list[int]:
        """Node indices in a topological order of the graph in use."""
        return [self.names.index(n) for n in self._dag(self.adjacency()).topological_order()]

    def abduct(self, z: torch.Tensor) -> torch.Tensor:
        """Exogenous noise eps = z - g(A * z): (B, n) -> (B, n)."""
        return z - self.predict(z, self.adjacency())

    def propagate(self, eps: torch.Tensor, z_factual: torch.Tensor, do: dict[int, torch.Tensor],
                  keep: torch.Tensor | None = None) -> torch.Tensor:
        """Counterfactual latents in topological order (scalar nodes only: the table VAE walks vector ones itself).

        Args:
            eps: abducted noise (B, d).
            z_factual: the factual latents (B, d); a cut edge feeds the parent's factual value.
            do: {node index: (B,) or scalar value in latent units}.
            keep: (d, d) 0/1, the edges of the edited graph; edges of A missing from it are cut.

        Returns:
            (B, d) counterfactual latents.
        """
        a = self.adjacency()
        live = a * keep if keep is not None else a  # (d, d)
        cut = a - live
        z = z_factual.clone()
        for j in self.order():
            if j in do:
                z[:, j] = torch.as_tensor(do[j], dtype=z.dtype, device=z.device).expand(z.shape[0])
                continue
            inputs = z * live[:, j] + z_factual * cut[:, j]  # (B, d): live parents now, cut ones factual
            z[:, j] = self.mechanisms(inputs[:, None, :].expand(-1, self.d, -1))[:, j] + eps[:, j]
        return z


class CausalVAE(nn.Module):
    """Encoder, causal layer and decoder; images are (B, 3, 64, 64) floats in [0, 1]."""

    def __init__(self, cfg: CausalVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.causal = CausalLayer(cfg)
        self.decoder = BroadcastDecoder(cfg)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Abduction of the latents: concept latents (B, d) and style means (B, S)."""
        z, mu, _ = self.encoder(x)
        return z, mu

    def decode(self, z: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.decoder(z, style)  # (B, 3, 64, 64)

    def vae_loss(self, x: torch.Tensor, labels: torch.Tensor, beta: float, concept_weight: float,
                 latent_noise: float, teacher: float = 0.5) -> dict[str, torch.Tensor]:
        """Reconstruction (summed squared error per image) + concept supervision + style KL.

        A `teacher` fraction of the scenes is decoded from their labels instead of the encoder's reading:
        the decoder then learns what a concept value means from the labels themselves, which is what
        do(concept = value) feeds it.
        """
        z, mu, logvar = self.encoder(x)
        style = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # (B, S)
        use_label = (torch.rand(z.shape[0], 1, device=z.device) < teacher).float()  # (B, 1)
        z_in = use_label * labels + (1 - use_label) * z  # (B, d)
        # small noise on the concept latents: the decoder then varies smoothly between training scenes
        recon = self.decode(z_in + latent_noise * torch.randn_like(z), style)
        rec = F.mse_loss(recon, x, reduction="sum") / x.shape[0]
        concept = F.mse_loss(z, labels)
        kl = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)).mean()
        loss = rec + concept_weight * concept + beta * kl
        return {"loss": loss, "rec": rec, "concept": concept, "kl": kl}


class ConceptRegressor(nn.Module):
    """The judge of `evaluate pendulum`: reads the four concepts off an image, (B, 3, 64, 64) -> (B, d).

    Same convolutional trunk as the encoder, trained apart on true renders of independent concepts.
    """

    def __init__(self, cfg: CausalVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.trunk = Encoder(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)[0]  # (B, d) in latent units [-1, 1]
