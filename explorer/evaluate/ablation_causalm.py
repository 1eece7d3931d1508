"""`python -m explorer evaluate causalm-erasure`: what the adversary and the LEACE eraser each contribute.

Five counterfactual models are compared against the same O model, with freshly fitted task heads where the
shipped ones do not apply (the same linear recipe and seed as training):
- adversary: the CF encoder alone (gradient reversal, no eraser) — CausaLM as published;
- adversary+eraser: the shipped CF model (its eraser and heads as shipped);
- eraser: O's own encoder with a LEACE eraser fitted on O's stage-1 representations — no adversary at all;
- adversary+overall-eraser and adversary+label-eraser: the CF encoder with a freshly fitted eraser of the
  concept over all texts, or within each task class (`fit_eraser(..., groups=labels)`), whichever of the two
  the shipped model carries (CausalmTrainConfig.erase_within_label).
Everything is fitted on training texts only; the default split is validation, where settings are chosen.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from explorer.types import DEFAULT_SEED
from explorer.datasets.text_tasks import CONCEPTS, load_task
from explorer.metrics.effects import ate_gt, treate
from explorer.registry import load_text_pair
from explorer.models.erasure import fit_eraser
from explorer.paths import PRETRAINED
from explorer.training.linear import LinearConfig, accuracy, fit_linear

VARIANTS = ("adversary", "adversary+eraser", "eraser", "adversary+overall-eraser", "adversary+label-eraser")
PROBE_TRAIN = 4000  # as in evaluate_causalm


def _softmax(head: torch.nn.Linear, z: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(head(z), -1).numpy()


def ablate_concept(concept: str, split: str = "val", folder: Path = PRETRAINED,
                   limit: int | None = None, seed: int = DEFAULT_SEED) -> dict[str, float]:
    pair = load_text_pair(concept, folder)
    task = load_task(concept, limit)
    ev = task.val if split == "val" else task.test
    texts = sorted(set(task.stage1["texts"]) | {t for s in task.train.values() for t in s.texts})
    row = {t: i for i, t in enumerate(texts)}
    z_raw, z_ev_raw = pair.represent(texts, erase=False), pair.represent(ev.texts, erase=False)  # {which: (N, H)}
    z_all, z_ev = pair.erase(z_raw), pair.erase(z_ev_raw)
    z_ev_cf_text = pair.represent(ev.texts_cf)["o"]  # (M, H) O on the TRUE counterfactual texts
    s1 = [row[t] for t in task.stage1["texts"]]
    concept_s1, labels_s1 = torch.tensor(task.stage1["sent_concept"]), torch.tensor(task.stage1["labels"])
    o_eraser = fit_eraser(z_all["o"][s1], concept_s1)
    overall_eraser = fit_eraser(z_raw["cf"][s1], concept_s1)
    label_eraser = fit_eraser(z_raw["cf"][s1], concept_s1, groups=labels_s1)
    # (features on training texts, features on the evaluation texts, whether the shipped CF heads apply)
    variants = {"adversary": (z_raw["cf"], z_ev_raw["cf"], False),
                "adversary+eraser": (z_all["cf"], z_ev["cf"], pair.erasers["cf"] is not None),
                "eraser": (o_eraser(z_all["o"]), o_eraser(z_ev["o"]), False),
                "adversary+overall-eraser": (overall_eraser(z_raw["cf"]), overall_eraser(z_ev_raw["cf"]), False),
                "adversary+label-eraser": (label_eraser(z_raw["cf"]), label_eraser(z_ev_raw["cf"]), False)}
    labels, c_ev = np.asarray(ev.labels), torch.tensor(ev.concept)
    probe_rows = [row[t] for t in task.train["balanced"].texts[:PROBE_TRAIN]]
    c_probe = torch.tensor(task.train["balanced"].concept[:PROBE_TRAIN])
    out: dict[str, float] = {}
    p_o: dict[str, np.ndarray] = {}  # by level: O's probabilities, shared by every variant
    for level in task.train:
        p_o[level] = _softmax(pair.head("o", level), z_ev["o"])
        out[f"{concept}.{level}.ate_gt"] = ate_gt(p_o[level], _softmax(pair.head("o", level), z_ev_cf_text))
        out[f"{concept}.{level}.acc_o"] = float((p_o[level].argmax(1) == labels).mean())
    for name, (z_tr, z_e, shipped) in variants.items():
        out[f"{concept}.{name}.probe"] = accuracy(fit_linear(z_tr[probe_rows], c_probe, 2, LinearConfig()), z_e, c_ev)
        for level, train in task.train.items():
            head = pair.head("cf", level) if shipped else fit_linear(
                z_tr[[row[t] for t in train.texts]], torch.tensor(train.labels), len(task.classes),
                LinearConfig(seed=seed))
            p_cf = _softmax(head, z_e)
            out[f"{concept}.{level}.{name}.treate"] = treate(p_o[level], p_cf)
            out[f"{concept}.{level}.{name}.acc"] = float((p_cf.argmax(1) == labels).mean())
    out[f"{concept}.probe_majority"] = float(max(c_ev.float().mean(), 1 - c_ev.float().mean()))
    return out


def erasure_ablation(concepts: tuple[str, ...] = CONCEPTS, split: str = "val", folder: Path = PRETRAINED,
                     limit: int | None = None) -> dict[str, float]:
    out: dict[str, float] = {"split_is_val": float(split == "val")}
    for concept in concepts:
        t0 = time.time()
        out |= ablate_concept(concept, split, folder, limit)
        print(f"[evaluate causalm-erasure] {concept} done in {time.time() - t0:.0f} s", flush=True)
    return out


def markdown_table(res: dict[str, float]) -> str:
    """Per concept and level: ATE_gt, then TReATE (gap) and accuracy of each variant; probes per concept."""
    lines = ["| concept | level | ate_gt | acc_o | " + " | ".join(f"{v}: treate (gap) / acc" for v in VARIANTS) + " |",
             "|" + "---|" * (4 + len(VARIANTS))]
    for concept in CONCEPTS:
        if f"{concept}.probe_majority" not in res:
            continue
        for level in ("balanced", "gentle", "aggressive"):
            k = f"{concept}.{level}"
            cells = [f"{res[f'{k}.{v}.treate']:.3f} ({abs(res[f'{k}.{v}.treate'] - res[f'{k}.ate_gt']):.3f}) / "
                     f"{res[f'{k}.{v}.acc']:.3f}" for v in VARIANTS]
            lines.append(f"| {concept} | {level} | {res[f'{k}.ate_gt']:.3f} | {res[f'{k}.acc_o']:.3f} | "
                         + " | ".join(cells) + " |")
    lines += ["", "| concept | probe majority | " + " | ".join(f"{v}: linear probe" for v in VARIANTS) + " |",
              "|" + "---|" * (2 + len(VARIANTS))]
    for concept in CONCEPTS:
        if f"{concept}.probe_majority" in res:
            lines.append(f"| {concept} | {res[f'{concept}.probe_majority']:.3f} | "
                         + " | ".join(f"{res[f'{concept}.{v}.probe']:.3f}" for v in VARIANTS) + " |")
    return "\n".join(lines)
