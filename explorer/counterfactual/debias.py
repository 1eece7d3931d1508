"""De-biased datasets from the causal-layer VAE: cut edges, generate images + labels, zip them.

How a de-biased sample is made (CCGM's recipe, with this project's cut-edge convention):
  1. draw a real scene from the observational distribution (seeded) and render it;
  2. for every cut edge parent -> child, give the parent a value drawn independently of everything else:
     the parent's values are shuffled across the dataset, which keeps its distribution;
  3. the model abducts the scene, applies do(parent = new value) in the graph without the cut edges
     (a cut child keeps its factual value, other children follow), and redraws the image.
So in the export the cut pair is independent, and every image is a counterfactual of a real scene.

The zip holds `images/000000.png ...` and `labels.csv` (file + the model's concept values). It is
byte-identical for the same (cuts, n, seed, model): fixed time stamps, fixed PNG settings, rounded labels.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from explorer.checkpoints import CheckpointError
from explorer.counterfactual.pendulum import graph_of, model_counterfactual
from explorer.device import pick_device
from explorer.metrics.confounding import confounding_matrix
from explorer.models.causal_vae import CausalVAE
from explorer.registry import load_vae
from explorer.scm.graph import CycleError, Dag
from explorer.scm.pendulum import VARIABLES, PendulumSCM

BATCH = 500
MAX_N = 100_000
DEFAULT_CUT = ("light", "shadow_position")  # the strongest dependence in the scene (corr ~ 0.85)
_STAMP = (1980, 1, 1, 0, 0, 0)  # zip time stamps fixed, so the same seed gives the same bytes


class ExportError(ValueError):
    """The request cannot be served (unknown edge, bad size); the message says what to change."""


@dataclass
class ExportResult:
    """Generated images (n, 64, 64, 3) uint8 and labels, with correlation matrices before and after."""

    cuts: list[tuple[str, str]]
    n: int
    seed: int
    values: dict[str, np.ndarray]
    images: np.ndarray
    corr_before: np.ndarray  # (d, d) of the real scenes' values
    corr_after: np.ndarray  # (d, d) of the exported labels
    seconds: float = 0.0
    path: Path | None = None
    extra: dict = field(default_factory=dict)
    # (d, d) confounding C of every pair (docs/confounding.md: 0 independent, 1 one determines the other), which
    # unlike a correlation also sees dependence that is not linear; same order as the correlations
    confounding_before: np.ndarray | None = None
    confounding_after: np.ndarray | None = None

    def summary(self) -> str:
        lines = [f"exported {self.n} samples (seed {self.seed}) in {self.seconds:.1f} s"
                 + (f" to {self.path}" if self.path else "")]
        for p, c in self.cuts:
            i, j = VARIABLES.index(p), VARIABLES.index(c)
            note = " (not an edge of the model's graph)" if (p, c) in self.extra.get("not_in_graph", []) else ""
            lines.append(f"cut {p} -> {c}{note}: correlation {self.corr_before[i, j]:+.3f} before, "
                         f"{self.corr_after[i, j]:+.3f} after" + ("" if self.confounding_before is None else
                         f"; confounding {self.confounding_before[i, j]:.3f} before, "
                         f"{self.confounding_after[i, j]:.3f} after"))
        return "\n".join(lines)


def parse_cuts(cuts: list[str] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    """'PARENT:CHILD' strings (or pairs) -> unique (parent, child) pairs; raises ExportError naming the problem.

    A pair the model's graph lacks is still a valid request: the parent is shuffled all the same, and
    since the model does not let the child follow it, the pair ends up independent too.
    """
    out = []
    for cut in cuts:
        pair = tuple(cut.split(":")) if isinstance(cut, str) else tuple(cut)
        if len(pair) != 2 or not all(pair):
            raise ExportError(f"--cut {cut!r} is not PARENT:CHILD, e.g. --cut light:shadow_position")
        unknown = [v for v in pair if v not in VARIABLES]
        if unknown:
            raise ExportError(f"unknown concept(s) {', '.join(unknown)} in {cut!r}; the scene has "
                              f"{', '.join(VARIABLES)}")
        if pair[0] == pair[1]:
            raise ExportError(f"{cut!r} joins a concept to itself; a cut needs two different concepts")
        if pair not in out:
            out.append(pair)
    return out


def _corr(values: dict[str, np.ndarray]) -> np.ndarray:
    return np.corrcoef(np.stack([values[k] for k in VARIABLES]))  # (d, d)


def _confounding(values: dict[str, np.ndarray]) -> np.ndarray:
    """(d, d) confounding matrix of the scene's concepts, all continuous, in VARIABLES order."""
    _, matrix = confounding_matrix({k: np.asarray(values[k]) for k in VARIABLES},
                                   dict.fromkeys(VARIABLES, "continuous"))
    return matrix


def generate(model: CausalVAE, cuts: list, n: int, seed: int, device: torch.device | str = "cpu",
             progress: Callable[[float], None] | None = None) -> ExportResult:
    """The de-biased dataset in memory (see the module docstring for the recipe)."""
    if not 1 <= n <= MAX_N:
        raise ExportError(f"the size must be between 1 and {MAX_N:,}; got {n}")
    start = time.time()
    learned = graph_of(model)
    cuts = parse_cuts(cuts)
    try:
        edited = Dag(VARIABLES, learned.edges - set(cuts))
    except CycleError as err:  # cannot happen (a subgraph of a DAG), kept for a clear message
        raise ExportError(str(err)) from err
    scm = PendulumSCM()
    rng = np.random.default_rng(seed)
    noise, values = scm.sample(n, int(rng.integers(2 ** 31)))
    perm = rng.permutation(n)
    do = {p: values[p][perm] for p in dict.fromkeys(p for p, _ in cuts)}  # each cut parent, shuffled once
    images = np.empty((n, scm.size, scm.size, 3), np.uint8)
    labels = {k: np.empty(n) for k in VARIABLES}
    for s in range(0, n, BATCH):
        sl = slice(s, min(n, s + BATCH))
        real = scm.render({k: v[sl] for k, v in values.items()})
        with torch.inference_mode():
            out = model_counterfactual(model, real, {k: v[sl] for k, v in do.items()}, edited, device,
                                       reconstruct=False)
        images[sl] = out["image"]
        for k in VARIABLES:
            labels[k][sl] = out["cf"][k]
        if progress is not None:
            progress(sl.stop / n)
    return ExportResult(cuts=cuts, n=n, seed=seed, values=labels, images=images, corr_before=_corr(values),
                        corr_after=_corr(labels), seconds=time.time() - start,
                        extra={"not_in_graph": [e for e in cuts if e not in learned.edges]},
                        confounding_before=_confounding(values), confounding_after=_confounding(labels))


def to_zip(result: ExportResult) -> bytes:
    """The zip's bytes: PNGs stored (already compressed), the CSV deflated, every time stamp fixed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        rows = ["file," + ",".join(VARIABLES)]
        for i, img in enumerate(result.images):
            name = f"images/{i:06d}.png"
            png = io.BytesIO()
            Image.fromarray(img).save(png, format="PNG", compress_level=1)
            zf.writestr(zipfile.ZipInfo(name, _STAMP), png.getvalue(), compress_type=zipfile.ZIP_STORED)
            rows.append(name + "," + ",".join(f"{result.values[k][i]:.4f}" for k in VARIABLES))
        cuts = ";".join(f"{p}:{c}" for p, c in result.cuts) or "(none)"
        readme = (f"De-biased pendulum scenes from the causal-layer VAE.\ncut edges: {cuts}\nn: {result.n}\n"
                  f"seed: {result.seed}\nlabels: the model's counterfactual concept values (degrees, scene units)\n")
        zf.writestr(zipfile.ZipInfo("README.txt", _STAMP), readme, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo("labels.csv", _STAMP), "\n".join(rows) + "\n",
                    compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def export_pendulum(cuts: list[str], n: int, seed: int, out: Path, device: torch.device | None = None,
                    model: CausalVAE | None = None) -> ExportResult:
    """`python -m explorer export pendulum`: generate, zip and write; raises ExportError or CheckpointError."""
    start = time.time()
    cuts = parse_cuts(cuts)  # a typo fails before the model loads
    device = device or pick_device()
    if model is None:
        try:
            model, _ = load_vae(device)
        except CheckpointError as err:
            raise ExportError(str(err)) from err
    result = generate(model, cuts, n, seed, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(to_zip(result))
    result.seconds, result.path = time.time() - start, out  # loading, generating, zipping and writing
    return result
