"""`python -m explorer evaluate causalm`: concept effects of the shipped CausaLM models against ground truth.

For each concept and bias level, on the test split (true labels, natural concept distribution):
- ate_gt: the O task model's mean change from each text to its TRUE counterfactual text;
- treate: the mean difference between the O and CF task models on the factual texts alone;
- conexp: the O model's correlational contrast between texts with and without the concept;
- acc_o, acc_cf: task accuracy; probe_o, probe_cf: a fresh linear probe's accuracy at recovering the concept
  from each encoder's representation (trained on the training split), against probe_majority;
  probe_cf_no_erasure: the same probe on CF's representation before its LEACE eraser (what gradient reversal
  alone achieved), and probe_cf_mlp: a fresh one-hidden-layer probe on CF, which a linear eraser does not stop;
- probe_o_heldout, probe_cf_heldout: a linear probe trained on the validation split instead, whose persons
  (templates) the eraser never saw, and tested on the test split's persons: does the concept still separate
  names that neither the eraser nor the probe has seen? (An addition to the issue's probes, not a bar.)
- for the templates, the two probes by kind of person (`probes_by_kind`: first names, surnames, phrases...);
- 95 % cluster-bootstrap intervals (explorer/metrics/bootstrap.py; resampling persons for the templates, reviews
  for adjectives) of the two numbers the bars hinge on: gap_ci_* for abs(treate - ate_gt) and
  probe_cf_excess_ci_* for probe_cf - probe_majority.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from explorer.types import DEFAULT_SEED
from explorer.datasets.text_tasks import CONCEPTS, load_task
from explorer.metrics.bootstrap import bootstrap_means, interval
from explorer.metrics.effects import ate_gt, conexp, treate
from explorer.models.causalm_pair import WHICH
from explorer.registry import load_text_pair
from explorer.paths import PRETRAINED
from explorer.scm.templates import persons
from explorer.training.linear import LinearConfig, accuracy, fit_linear


PROBE_TRAIN = 4000


def _probs(pair, z: torch.Tensor, which: str, level: str) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(pair.head(which, level)(z), -1).numpy()


def mlp_probe(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
              hidden: int = 256, steps: int = 600, seed: int = DEFAULT_SEED) -> float:
    """(N, H) features and (N,) binary labels -> test accuracy of a fresh one-hidden-layer probe.

    A fixed full-batch recipe, like the linear probe: nothing here is tuned on any split.
    """
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)  # standardise: the eraser leaves some axes tiny
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net((x - mean) / std), y.long()).backward()
            opt.step()
    with torch.no_grad():
        return float((net((x_test - mean) / std).argmax(-1) == y_test).float().mean())


def evaluate_concept(concept: str, limit: int | None = None, folder: Path = PRETRAINED,
                     split: str = "test") -> dict[str, float]:
    """The effect table of one concept on `split` ("test" for reporting; "val" for choosing settings)."""
    pair = load_text_pair(concept, folder)
    task = load_task(concept, limit)
    test = task.test if split == "test" else task.val
    z_raw = pair.represent(test.texts, erase=False)  # {which: (N, H)} before CF's eraser
    z = pair.erase(z_raw)
    z_cf_text = pair.represent(test.texts_cf)["o"]  # (N, H): O on the true counterfactual texts
    labels, concept_values = np.asarray(test.labels), np.asarray(test.concept)
    out: dict[str, float] = {}
    # Probes: does the representation still carry the concept? (level-free: the encoders are shared)
    # The probe trains on (at most PROBE_TRAIN of) the training split: enough for a linear probe on 384
    # features, and it keeps the evaluation's cost dominated by the test texts.
    train = task.train["balanced"]
    z_train_raw = pair.represent(train.texts[:PROBE_TRAIN], erase=False)
    z_train = pair.erase(z_train_raw)
    c_train, c_test = torch.tensor(train.concept[:PROBE_TRAIN]), torch.tensor(test.concept)
    probe_heads = {w: fit_linear(z_train[w], c_train, 2, LinearConfig()) for w in WHICH}
    probe = {w: accuracy(probe_heads[w], z[w], c_test) for w in WHICH}
    with torch.no_grad():
        hits = {w: (probe_heads[w](z[w].float()).argmax(-1) == c_test).numpy() for w in WHICH}  # (N,) per text
    # (B,) replicates of probe_cf - majority, the majority rate recomputed on every resample
    boot = bootstrap_means(np.stack([hits["cf"], concept_values], 1), test.groups)  # (B, 2)
    excess = interval(boot[:, 0] - np.maximum(boot[:, 1], 1 - boot[:, 1]))
    probe["cf_no_erasure"] = accuracy(fit_linear(z_train_raw["cf"], c_train, 2, LinearConfig()), z_raw["cf"], c_test)
    probe["cf_mlp"] = mlp_probe(z_train["cf"], c_train, z["cf"], c_test)
    z_val, c_val = pair.represent(task.val.texts), torch.tensor(task.val.concept)  # {which: (M, H)}, (M,)
    for w in WHICH:
        probe[f"{w}_heldout"] = accuracy(fit_linear(z_val[w], c_val, 2, LinearConfig()), z[w], c_test)
    majority = float(max(c_test.float().mean(), 1 - c_test.float().mean()))
    if concept != "adjectives":
        out |= probes_by_kind(concept, split, test.groups, hits, concept_values)
    for level in task.train:
        p_o, p_cf = _probs(pair, z["o"], "o", level), _probs(pair, z["cf"], "cf", level)
        p_o_x_cf = _probs(pair, z_cf_text, "o", level)
        key = f"{concept}.{level}"
        out[f"{key}.ate_gt"] = ate_gt(p_o, p_o_x_cf)
        per_text = np.stack([np.abs(p_o - p_cf).mean(1), np.abs(p_o - p_o_x_cf).mean(1)], 1)  # (N, 2)
        b = bootstrap_means(per_text, test.groups)  # (B, 2) treate, ate_gt
        out[f"{key}.gap_ci_low"], out[f"{key}.gap_ci_high"] = interval(np.abs(b[:, 0] - b[:, 1]))
        out[f"{key}.probe_cf_excess_ci_low"], out[f"{key}.probe_cf_excess_ci_high"] = excess
        out[f"{key}.treate"] = treate(p_o, p_cf)
        out[f"{key}.conexp"] = conexp(p_o, concept_values)
        out[f"{key}.acc_o"] = float((p_o.argmax(1) == labels).mean())
        out[f"{key}.acc_cf"] = float((p_cf.argmax(1) == labels).mean())
        out[f"{key}.probe_o"] = probe["o"]
        out[f"{key}.probe_cf"] = probe["cf"]
        out[f"{key}.probe_cf_no_erasure"] = probe["cf_no_erasure"]
        out[f"{key}.probe_cf_mlp"] = probe["cf_mlp"]
        out[f"{key}.probe_o_heldout"], out[f"{key}.probe_cf_heldout"] = probe["o_heldout"], probe["cf_heldout"]
        out[f"{key}.probe_majority"] = majority
        out[f"{key}.realised_bias"] = task.realised_bias[level]
        out[f"{key}.n_test"] = float(len(labels))
    return out


def probes_by_kind(concept: str, split: str, people: list[str], hits: dict[str, np.ndarray],
                   values: np.ndarray) -> dict[str, float]:
    """The issue's probes (per-text hits of O's and CF's) split by the kind of person a sentence names: for race,
    ResumeNames and Tzioumis first names against surnames, which carry the concept differently to the encoder.

    Keys "<concept>.by_kind.<kind>.{n_persons, n_texts, probe_o, probe_cf, probe_majority}".
    """
    kind_of = {p.words: p.kind for p in persons(concept, split)}
    kinds = np.array([kind_of[p] for p in people])  # (N,)
    out: dict[str, float] = {}
    for kind in sorted(set(kinds)):
        m = kinds == kind
        key, share = f"{concept}.by_kind.{kind}", float(values[m].mean())
        out[f"{key}.n_persons"] = float(len(set(np.asarray(people)[m])))
        out[f"{key}.n_texts"] = float(m.sum())
        out |= {f"{key}.probe_{w}": float(hits[w][m].mean()) for w in WHICH}
        out[f"{key}.probe_majority"] = max(share, 1 - share)
    return out


def evaluate_causalm(concepts: tuple[str, ...] = CONCEPTS, limit: int | None = None,
                     folder: Path = PRETRAINED, split: str = "test") -> dict[str, float]:
    out: dict[str, float] = {}
    for concept in concepts:
        t0 = time.time()
        out |= evaluate_concept(concept, limit, folder, split)
        print(f"[evaluate causalm] {concept} done in {time.time() - t0:.0f} s", flush=True)
    out |= acceptance(out, concepts)
    return out


def acceptance(res: dict[str, float], concepts: tuple[str, ...]) -> dict[str, float]:
    """The issue's checks, computed (1.0 = met) so the README table can show them next to the numbers."""
    checks: dict[str, float] = {}
    levels = ("balanced", "gentle", "aggressive")
    for c in concepts:
        if c == "adjectives":
            checks["check.adjectives.treate_close"] = float(all(
                abs(res[f"{c}.{lv}.treate"] - res[f"{c}.{lv}.ate_gt"]) <= 0.05 for lv in levels))
        gt = [res[f"{c}.{lv}.ate_gt"] for lv in levels]
        tr = [res[f"{c}.{lv}.treate"] for lv in levels]
        pairs = [(i, i + 1) for i in range(len(levels) - 1) if gt[i] <= gt[i + 1]]
        checks[f"check.{c}.ordering_kept"] = float(all(tr[i] <= tr[j] for i, j in pairs))
        lv = levels[0]
        checks[f"check.{c}.probe_cf_at_majority"] = float(res[f"{c}.{lv}.probe_cf"] <= res[f"{c}.{lv}.probe_majority"] + 0.05)
        checks[f"check.{c}.probe_o_above"] = float(res[f"{c}.{lv}.probe_o"] > res[f"{c}.{lv}.probe_majority"] + 0.05)
        checks[f"check.{c}.acc_within_3pts"] = float(all(
            res[f"{c}.{x}.acc_o"] - res[f"{c}.{x}.acc_cf"] <= 0.03 for x in levels))
    return checks


def _rows(res: dict[str, float], needed: str):
    """(concept, level, "concept.level") for every concept and level whose `needed` metric is in `res`."""
    for concept in CONCEPTS:
        for level in ("balanced", "gentle", "aggressive"):
            if f"{concept}.{level}.{needed}" in res:
                yield concept, level, f"{concept}.{level}"


def markdown_table(res: dict[str, float]) -> str:
    """The README's table, straight from an evaluation JSON (so no number is typed by hand)."""
    cols = ("ate_gt", "treate", "conexp", "acc_o", "acc_cf", "probe_o", "probe_cf", "probe_majority",
            "probe_cf_no_erasure", "probe_cf_mlp", "probe_o_heldout", "probe_cf_heldout")
    lines = ["| concept | level | realised bias | " + " | ".join(cols) + " | abs(treate − ate_gt) |",
             "|" + "---|" * (len(cols) + 4)]
    for concept, level, key in _rows(res, "treate"):
        gap = abs(res[f"{key}.treate"] - res[f"{key}.ate_gt"])
        lines.append(f"| {concept} | {level} | {res[f'{key}.realised_bias']:.2f} | "
                     + " | ".join(f"{res.get(f'{key}.{c}', float('nan')):.3f}" for c in cols) + f" | {gap:.3f} |")
    return "\n".join(lines)


def interval_table(res: dict[str, float]) -> str:
    """The two bar-deciding numbers with their 95 % cluster-bootstrap intervals, from an evaluation JSON."""
    lines = ["| concept | level | abs(treate − ate_gt) [95 % interval] | probe_cf − probe_majority [95 % interval] |",
             "|---|---|---|---|"]
    for concept, level, k in _rows(res, "gap_ci_low"):
        gap = abs(res[f"{k}.treate"] - res[f"{k}.ate_gt"])
        excess = res[f"{k}.probe_cf"] - res[f"{k}.probe_majority"]
        lines.append(f"| {concept} | {level} | {gap:.3f} [{res[f'{k}.gap_ci_low']:.3f}, {res[f'{k}.gap_ci_high']:.3f}] | "
                     f"{excess:+.3f} [{res[f'{k}.probe_cf_excess_ci_low']:+.3f}, "
                     f"{res[f'{k}.probe_cf_excess_ci_high']:+.3f}] |")
    return "\n".join(lines)
