"""`python -m explorer evaluate causalm-names`: how many name-identity directions CF's eraser should remove.

For each rank in RANKS, CF's eraser is refitted on the shipped CF encoder's training representations: the
concept within each task class as shipped, plus (rank > 0) the top `rank` directions of a name bank's identity
subspace with the control concept kept (explorer/models/erasure.py); each rank without and with the
direction of the bank names' concept as O's linear probe reads it (`NameBank.scores`). On the evaluation split
(val by default, where the rank is chosen), whose persons neither the eraser nor the probes ever saw, it reports:
- probe: the evaluation's linear concept probe (trained on training persons), and probe_mlp;
- probe_halves: a linear probe trained on half of the evaluation persons and tested on the other half (and back),
  averaged over HALVINGS random halvings, which asks whether the concept still separates names the eraser never
  saw, without the training persons' help;
- control: a linear probe of the control concept (gender, for race), trained on the training texts, on the
  evaluation persons; the rank rule keeps it at O's level or above;
- per bias level: abs(TReATE - ATE_gt) and CF's task accuracy (task heads refitted as in training).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from explorer.types import DEFAULT_SEED
from explorer.datasets.text_tasks import load_task
from explorer.metrics.effects import ate_gt, treate
from explorer.evaluate.causalm import mlp_probe
from explorer.registry import load_text_pair
from explorer.models.erasure import NameBank, fit_eraser
from explorer.paths import PRETRAINED
from explorer.scm.name_bank import BANK_SENTENCES, bank_texts, name_bank
from explorer.scm.templates import persons, template_corpus
from explorer.training.linear import LinearConfig, accuracy, bank_reading, fit_linear

RANKS = (0, 16, 32, 64, 128)
PROBE_TRAIN = 4000  # as in evaluate_causalm
HALVINGS = 30
# Each rank is measured without and with O's reading of the concept on the bank (`NameBank.scores`): the keys
# "<concept>.rank<r>" and "<concept>.rank<r>_reading".
VARIANTS = {"": False, "_reading": True}


def _softmax(head: torch.nn.Linear, z: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(head(z), -1).numpy()


def _halvings(concept: str, split: str, people: list[str], n: int = HALVINGS, seed: int = 0) -> list[torch.Tensor]:
    """n random halvings of the split's person pairs (a pair stays together): each (N,) 0/1 over the texts."""
    pairs = [(p.words, p.partner) for p in persons(concept, split) if p.value == 1]
    rng, out = np.random.default_rng(seed), []
    for _ in range(n):
        half = {}
        for i, j in enumerate(rng.permutation(len(pairs))):
            half[pairs[j][0]] = half[pairs[j][1]] = int(i < len(pairs) // 2)
        out.append(torch.tensor([half[p] for p in people]))
    return out


def _cross_halves(z: torch.Tensor, y: torch.Tensor, halvings: list[torch.Tensor]) -> float:
    """Mean accuracy of a linear probe trained on one half of the persons and tested on the other (and back),
    over the halvings: one halving of 16 persons moves the number by several points."""
    return float(np.mean([accuracy(fit_linear(z[h == k], y[h == k], 2, LinearConfig()), z[h != k], y[h != k])
                          for h in halvings if 0 < int(h.sum()) < len(h) for k in (0, 1)]))


@torch.no_grad()
def sweep_concept(concept: str, split: str = "val", folder: Path = PRETRAINED, limit: int | None = None,
                  ranks: tuple[int, ...] = RANKS, seed: int = DEFAULT_SEED, keep_between: bool = False,
                  halvings: int = HALVINGS) -> dict[str, float]:
    """keep_between: also keep the bank's gender gap out of the erased directions (`NameBank.keep_between`);
    halvings: how many random halvings of the persons probe_halves averages over (fewer in smoke runs)."""
    pair, task = load_text_pair(concept, folder), load_task(concept, limit)
    ev = task.val if split == "val" else task.test
    rows = template_corpus(concept, split)[:len(ev.texts)]  # the same sentences, with their persons
    s1 = task.stage1
    texts = sorted(set(s1["texts"]) | {t for s in task.train.values() for t in s.texts})
    row = {t: i for i, t in enumerate(texts)}
    z_raw, z_ev = pair.represent(texts, erase=False), pair.represent(ev.texts, erase=False)  # {which: (N, H)}
    z_o_ev = pair.erase(z_ev)["o"]  # O has no eraser; kept general
    z_ev_cf_text = pair.represent(ev.texts_cf)["o"]  # (M, H) O on the TRUE counterfactual texts
    bank = name_bank()[:limit]  # limit: smoke runs
    zb = pair.represent(bank_texts(bank), erase=False)  # {which: (N * S, H)}
    z_bank = zb["cf"].reshape(len(bank), len(BANK_SENTENCES), -1)  # (N, S, H)
    gender_bank = torch.tensor([g for _, g in bank])
    idx = [row[t] for t in s1["texts"]]
    c_s1, l_s1, k_s1 = (torch.tensor(s1[k]) for k in ("sent_concept", "labels", "sent_control"))
    labels, c_ev = np.asarray(ev.labels), torch.tensor(ev.concept)
    k_ev = torch.tensor([r.other for r in rows])  # -1 where the person does not carry the control (gender's nouns)
    halves = _halvings(concept, split, [r.person for r in rows], halvings)
    probe_rows = [row[t] for t in task.train["balanced"].texts[:PROBE_TRAIN]]
    c_probe = torch.tensor(task.train["balanced"].concept[:PROBE_TRAIN])
    known = [i for i, k in enumerate(k_s1[:PROBE_TRAIN].tolist()) if k >= 0]
    k_rows, k_probe, k_mask = [idx[i] for i in known], k_s1[known], k_ev >= 0
    out: dict[str, float] = {f"{concept}.probe_majority": float(max(c_ev.float().mean(), 1 - c_ev.float().mean())),
                             f"{concept}.bank_names": float(len(bank))}
    z_o = z_raw["o"]
    out[f"{concept}.o.probe"] = accuracy(fit_linear(z_o[probe_rows], c_probe, 2, LinearConfig()), z_o_ev, c_ev)
    out[f"{concept}.o.probe_halves"] = _cross_halves(z_o_ev, c_ev, halves)
    out[f"{concept}.o.control"] = accuracy(fit_linear(z_o[k_rows], k_probe, 2, LinearConfig()), z_o_ev[k_mask],
                                                k_ev[k_mask])
    p_o = {lv: _softmax(pair.head("o", lv), z_o_ev) for lv in task.train}
    gt = {lv: ate_gt(p_o[lv], _softmax(pair.head("o", lv), z_ev_cf_text)) for lv in task.train}
    for lv in task.train:
        out[f"{concept}.{lv}.acc_o"] = float((p_o[lv].argmax(1) == labels).mean())
    # O's reading of the concept on the bank's names (NameBank.scores), fitted on the stage-1 texts as in training
    reading = bank_reading(z_o[idx], c_s1, zb["o"], len(bank))  # (N, 1)
    for (rank, suffix) in ((r, v) for r in ranks for v in VARIANTS):
        scores = reading if VARIANTS[suffix] else None
        names = NameBank(z_bank, gender_bank, rank, keep_between, scores) if rank or scores is not None else None
        eraser = fit_eraser(z_raw["cf"][idx], c_s1, groups=l_s1, names=names, keep=k_s1 if names else None)
        z_tr, z_e = eraser(z_raw["cf"]), eraser(z_ev["cf"])
        key = f"{concept}.rank{rank}{suffix}"
        out[f"{key}.probe"] = accuracy(fit_linear(z_tr[probe_rows], c_probe, 2, LinearConfig()), z_e, c_ev)
        out[f"{key}.probe_mlp"] = mlp_probe(z_tr[probe_rows], c_probe, z_e, c_ev)
        out[f"{key}.probe_halves"] = _cross_halves(z_e, c_ev, halves)
        out[f"{key}.control"] = accuracy(fit_linear(z_tr[k_rows], k_probe, 2, LinearConfig()), z_e[k_mask],
                                             k_ev[k_mask])
        for level, train in task.train.items():
            head = fit_linear(z_tr[[row[t] for t in train.texts]], torch.tensor(train.labels), len(task.classes),
                              LinearConfig(seed=seed))
            p_cf = _softmax(head, z_e)
            out[f"{key}.{level}.gap"] = abs(treate(p_o[level], p_cf) - gt[level])
            out[f"{key}.{level}.acc"] = float((p_cf.argmax(1) == labels).mean())
    return out


def name_rank_sweep(concepts: tuple[str, ...] = ("race",), limit: int | None = None, folder: Path = PRETRAINED,
                    split: str = "val", keep_between: bool = False, halvings: int = HALVINGS,
                    ranks: tuple[int, ...] = RANKS) -> dict[str, float]:
    """ranks and halvings: fewer in smoke runs (each rank refits the eraser and every probe twice)."""
    out: dict[str, float] = {"split_is_val": float(split == "val"), "keep_between": float(keep_between)}
    for concept in concepts:
        if concept not in ("gender", "race"):
            raise ValueError(f"the name bank applies to the template concepts (gender, race), not {concept!r}")
        t0 = time.time()
        out |= sweep_concept(concept, split, folder, limit, ranks=ranks, keep_between=keep_between,
                             halvings=halvings)
        print(f"[evaluate causalm-names] {concept} done in {time.time() - t0:.0f} s", flush=True)
    return out


def markdown_table(res: dict[str, float], concept: str = "race") -> str:
    """One row per rank (and O): probes, control, and per level gap / CF accuracy."""
    levels = ("balanced", "gentle", "aggressive")
    lines = ["| model | linear probe | MLP probe | probe across person halves | control probe | "
             + " | ".join(f"{lv}: gap / acc" for lv in levels) + " |", "|" + "---|" * (5 + len(levels))]
    lines.append(f"| O | {res[f'{concept}.o.probe']:.3f} | | {res[f'{concept}.o.probe_halves']:.3f} | "
                 f"{res[f'{concept}.o.control']:.3f} | "
                 + " | ".join(f"— / {res[f'{concept}.{lv}.acc_o']:.3f}" for lv in levels) + " |")
    for rank, suffix in ((r, v) for v in VARIANTS for r in RANKS):
        k = f"{concept}.rank{rank}{suffix}"
        if f"{k}.probe" in res:
            lines.append(f"| CF, rank {rank}{' + O reading' if suffix else ''} | {res[f'{k}.probe']:.3f} | "
                         f"{res[f'{k}.probe_mlp']:.3f} | "
                         f"{res[f'{k}.probe_halves']:.3f} | {res[f'{k}.control']:.3f} | "
                         + " | ".join(f"{res[f'{k}.{lv}.gap']:.3f} / {res[f'{k}.{lv}.acc']:.3f}" for lv in levels)
                         + " |")
    return "\n".join(lines) + f"\n\nProbe majority rate: {res[f'{concept}.probe_majority']:.3f}."
