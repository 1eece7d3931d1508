"""`python -m explorer evaluate pendulum`: the shipped causal-layer VAE against the TRUE counterfactuals.

Scenes come from the test seed, never seen in training or model selection. Interventions are drawn
uniformly over each concept's range (the page's slider range), independently of the scene they are
applied to, so many of them break the physics (a long shadow under a high sun): exactly the cases a
de-biased dataset is made of.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from explorer.datasets.pendulum import SEEDS, scenes
from explorer.device import pick_device
from explorer.counterfactual.debias import DEFAULT_CUT, generate
from explorer.counterfactual.pendulum import graph_of, model_counterfactual
from explorer.metrics.soundness import effectiveness, pixel_mse, true_cf_error
from explorer.registry import load_regressor, load_vae
from explorer.scm.graph import Dag
from explorer.scm.pendulum import TRUE_GRAPH, VARIABLES, X_RANGE, PendulumSCM, normalise
from explorer.training.pendulum import predict_batches

BATCH = 250
LATENT_SPAN = 2.0  # concept latents run from -1 to 1 over each slider's range
DEBIAS_N = 5000  # correlations of 1,000 samples wobble by ~0.03 around their value; 5,000 by ~0.014


def shd(learned: Dag, truth: Dag) -> int:
    """Structural Hamming distance: node pairs whose edge differs (missing, extra or reversed count 1)."""
    nodes = truth.nodes
    out = 0
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            state = lambda g: ((a, b) in g.edges, (b, a) in g.edges)  # noqa: E731
            out += state(learned) != state(truth)
    return out


def _batched_cf(model, images: np.ndarray, do: dict[str, np.ndarray], device) -> dict:
    parts = []
    for s in range(0, len(images), BATCH):
        sl = slice(s, s + BATCH)
        parts.append(model_counterfactual(model, images[sl], {k: v[sl] for k, v in do.items()}, None, device))
    return {"cf": {k: np.concatenate([p["cf"][k] for p in parts]) for k in VARIABLES},
            "recon": np.concatenate([p["recon"] for p in parts]), "image": np.concatenate([p["image"] for p in parts])}


def _read(regressor, images: np.ndarray) -> np.ndarray:
    return predict_batches(regressor, images).numpy()  # (n, d) latent units


def evaluate_pendulum(n: int = 1000, seed: int = 0, debias_n: int = DEBIAS_N) -> dict[str, float]:
    """Every metric of issue 3 section 4, plus reference values measured on the TRUE counterfactuals.

    Args:
        n: test scenes.
        seed: seeds the interventions and the export.
        debias_n: size of the export whose correlations `debias.*` report.
    """
    start = time.time()
    device = pick_device()
    model, _ = load_vae(device)
    regressor = load_regressor(device)
    scm = PendulumSCM()
    noise, values, images = scenes(n, SEEDS["test"])
    rng = np.random.default_rng(seed)
    r: dict[str, float] = {"n": float(n)}

    # reconstruction: the empty intervention, decoded
    with torch.no_grad():
        recon = np.concatenate([_batched_cf(model, images[s:s + BATCH], {}, device)["recon"]
                                for s in range(0, n, BATCH)])
    r["recon.mse"] = pixel_mse(recon, images)

    # one intervention per concept, value uniform over its range; the true answer from the same noise
    gt, eff, floor = [], [], []
    for j, name in enumerate(VARIABLES):
        spec = scm.specs[name]
        new = rng.uniform(spec.low, spec.high, n)
        true_vals = scm.counterfactual(noise, {name: new})
        true_img = scm.render(true_vals)
        with torch.no_grad():
            out = _batched_cf(model, images, {name: new}, device)
        r[f"gt_cf.mse_by_var.{name}"] = true_cf_error(out["image"], true_img, pixel_mse)
        # what a model that ignored the intervention would score: the factual scene vs the true answer
        r[f"reference.unchanged_image_mse.{name}"] = pixel_mse(images, true_img)
        gt.append(r[f"gt_cf.mse_by_var.{name}"])
        target = normalise(name, new)
        read_model, read_true = _read(regressor, out["image"]), _read(regressor, true_img)
        # latent units span 2 (from -1 to 1): dividing by 2 gives a fraction of the slider's range
        r[f"effectiveness.mae_by_var.{name}"] = effectiveness(read_model[:, j], target, LATENT_SPAN)
        r[f"reference.true_cf.mae_by_var.{name}"] = effectiveness(read_true[:, j], target, LATENT_SPAN)
        # the shadow can leave the 20-unit frame (long shadows near an edge): its length or position is then
        # not on the picture at all, for the model's image and the true one alike; scored apart here
        seen = (true_vals["shadow_position"] - true_vals["shadow_length"] / 2 >= X_RANGE[0]) & \
            (true_vals["shadow_position"] + true_vals["shadow_length"] / 2 <= X_RANGE[1])
        in_frame = lambda read: effectiveness(read[seen, j], target[seen], LATENT_SPAN)  # noqa: E731
        r[f"effectiveness.mae_by_var_shadow_in_frame.{name}"] = in_frame(read_model)
        r[f"reference.true_cf.mae_by_var_shadow_in_frame.{name}"] = in_frame(read_true)
        r[f"shadow_in_frame_fraction.{name}"] = float(seen.mean())
        eff.append(r[f"effectiveness.mae_by_var.{name}"])
        floor.append(r[f"reference.true_cf.mae_by_var.{name}"])
        # the knock-on effect: do the children the model redraws match the TRUE children?
        children = TRUE_GRAPH.children(name)
        if children:
            k = [VARIABLES.index(c) for c in children]
            truth = np.stack([normalise(c, true_vals[c]) for c in children], 1)
            r[f"effectiveness.downstream_mae.{name}"] = effectiveness(read_model[:, k], truth, LATENT_SPAN)
            model_vals = np.stack([normalise(c, out["cf"][c]) for c in children], 1)
            r[f"latent.downstream_mae.{name}"] = effectiveness(model_vals, truth, LATENT_SPAN)
    r["gt_cf.mse"] = float(np.mean(gt))
    r["effectiveness.mae"] = float(np.mean(eff))
    r["reference.true_cf.mae"] = float(np.mean(floor))

    # the graph
    learned = graph_of(model)
    r["graph.shd"] = float(shd(learned, TRUE_GRAPH))
    r["graph.n_edges"] = float(len(learned.edges))

    # de-biasing: cut the strongest edge and export
    p, c = DEFAULT_CUT
    i, k = VARIABLES.index(p), VARIABLES.index(c)
    export = generate(model, [DEFAULT_CUT], debias_n, seed, device)
    r["debias.corr_before"] = float(export.corr_before[i, k])
    r["debias.corr_after"] = float(export.corr_after[i, k])
    r["debias.confounding_before"] = float(export.confounding_before[i, k])  # C of docs/confounding.md
    r["debias.confounding_after"] = float(export.confounding_after[i, k])
    read = _read(regressor, export.images)
    r["debias.corr_after_measured"] = float(np.corrcoef(read[:, i], read[:, k])[0, 1])
    r["debias.n"] = float(debias_n)
    r["seconds"] = time.time() - start
    return r

