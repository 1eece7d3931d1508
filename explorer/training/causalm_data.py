"""Turns the text corpora into what CausaLM's two stages consume.

Stage 1 trains only the encoder's top layers, so the frozen lower layers run once per text here and their
outputs are kept (float16, trimmed to each text's length) for every epoch. Masking is static (one mask per
text, drawn from a seed), as in the original BERT data pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from explorer.types import DEFAULT_SEED
from explorer.data.pos import IGNORE, pos_index  # noqa: F401  (pos_index: re-exported)
from explorer.models.text_encoder import TextEncoder

MASK_RATE = 0.15


@dataclass
class Stage1Item:
    """One text's stage-1 tensors; the states are the frozen lower layers' output."""

    clean: torch.Tensor | None  # (T, H) float16; None when the sentence heads read the masked pass
    masked: torch.Tensor  # (T, H) float16
    mlm: torch.Tensor  # (T,) target ids at masked positions, IGNORE elsewhere
    tok_control: torch.Tensor  # (T,)
    tok_concept: torch.Tensor  # (T,)
    sent_control: int
    sent_concept: int


def token_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """Word-level labels spread to every word piece; special tokens get IGNORE."""
    return [IGNORE if w is None else word_labels[w] for w in word_ids]


def static_mask(ids: torch.Tensor, special: torch.Tensor, mask_id: int, rng: np.random.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(T,) ids -> (masked ids (T,), MLM targets (T,)). At least one real token is masked per text."""
    real = (~special).nonzero().flatten().numpy()
    pick = real[rng.random(len(real)) < MASK_RATE]
    if len(pick) == 0 and len(real):
        pick = rng.choice(real, 1)
    target = torch.full_like(ids, IGNORE)
    target[pick] = ids[pick]
    masked = ids.clone()
    masked[pick] = mask_id
    return masked, target


def build_stage1(encoder: TextEncoder, tokenizer, texts: list, sent_concept: list[int], sent_control: list[int],
                 words: list[list[str]] | None = None, tok_concept: list[list[int]] | None = None,
                 tok_control: list[list[int]] | None = None, seed: int = DEFAULT_SEED, batch: int = 64,
                 progress=None, clean: bool = True) -> list[Stage1Item]:
    """Tokenises, masks and runs the frozen lower layers once for every text.

    With `words` (the reviews) the tokenizer sees the tagger's words, so word-level labels align with word
    pieces; otherwise (templates) it sees the raw text and token labels are all IGNORE.
    """
    rng = np.random.default_rng(seed)
    max_len = encoder.cfg.max_len
    items: list[Stage1Item] = []
    for start in range(0, len(texts), batch):
        stop = min(start + batch, len(texts))
        if words is not None:
            enc = tokenizer(words[start:stop], is_split_into_words=True, truncation=True, max_length=max_len,
                            padding=True, return_tensors="pt", return_special_tokens_mask=True)
        else:
            enc = tokenizer(texts[start:stop], truncation=True, max_length=max_len, padding=True,
                            return_tensors="pt", return_special_tokens_mask=True)
        ids, att = enc["input_ids"], enc["attention_mask"]  # (B, T)
        special = enc["special_tokens_mask"].bool() | (att == 0)
        masked_ids, targets = [], []
        for row in range(ids.shape[0]):
            m, t = static_mask(ids[row], special[row], tokenizer.mask_token_id, rng)
            masked_ids.append(m)
            targets.append(t)
        masked_ids = torch.stack(masked_ids)  # (B, T)
        clean_h = encoder.lower(ids, att).half() if clean else None  # (B, T, H)
        masked_h = encoder.lower(masked_ids, att).half()  # (B, T, H)
        for row in range(ids.shape[0]):
            k = start + row
            n = int(att[row].sum())
            if words is not None:
                wid = enc.word_ids(row)[:n]
                tc = torch.tensor(token_labels(wid, tok_control[k]))
                tk = torch.tensor(token_labels(wid, tok_concept[k]))
            else:
                tc = tk = torch.full((n,), IGNORE)
            items.append(Stage1Item(None if clean_h is None else clean_h[row, :n].clone(),
                                    masked_h[row, :n].clone(), targets[row][:n].clone(),
                                    tc, tk, int(sent_control[k]), int(sent_concept[k])))
        if progress is not None:
            progress(stop, len(texts))
    return items


class Stage1Data(Dataset):
    """Pre-formed batches of texts of similar length (less padding: every padded token costs two layers).

    The DataLoader shuffles the order of batches (batch_size=None); a DistributedSampler under DDP splits them.
    """

    def __init__(self, items: list[Stage1Item], batch_size: int):
        self.items = items
        order = np.argsort([len(it.mlm) for it in items], kind="stable")
        self.batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        return collate([self.items[i] for i in self.batches[k]])


def collate(items: list[Stage1Item]) -> dict[str, torch.Tensor]:
    """Pads a list of items to the longest one: states (B, T, H) float32, labels (B, T), sentences (B,)."""
    t = max(len(it.mlm) for it in items)
    h = items[0].masked.shape[-1]
    b = len(items)
    has_clean = items[0].clean is not None
    out = {"masked": torch.zeros(b, t, h), "mask": torch.zeros(b, t, dtype=torch.long)}
    out["clean"] = torch.zeros(b, t, h) if has_clean else out["masked"]  # no copy when only masked was cached
    for key in ("mlm", "tok_control", "tok_concept"):
        out[key] = torch.full((b, t), IGNORE, dtype=torch.long)
    for i, it in enumerate(items):
        n = len(it.mlm)
        if has_clean:
            out["clean"][i, :n] = it.clean.float()
        out["masked"][i, :n] = it.masked.float()
        out["mask"][i, :n] = 1
        out["mlm"][i, :n] = it.mlm
        out["tok_control"][i, :n] = it.tok_control
        out["tok_concept"][i, :n] = it.tok_concept
    out["sent_control"] = torch.tensor([it.sent_control for it in items])
    out["sent_concept"] = torch.tensor([it.sent_concept for it in items])
    return out
