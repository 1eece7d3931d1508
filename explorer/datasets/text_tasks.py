"""One view over the text corpora, in the shape CausaLM's training and evaluation need.

A `TextTask` names a concept (what CF forgets), the task classes, and for every bias level the training texts
and labels. Validation and test sets are the same for every level and keep their true labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from explorer.types import DEFAULT_SEED
from explorer.data.pos import POS_CONTROL, pos_index

CONCEPTS = ("adjectives", "gender", "race")
LEVELS = ("balanced", "gentle", "aggressive")
SENTIMENT = ("rotten", "fresh")


@dataclass
class Split:
    texts: list[str]
    labels: list[int]
    concept: list[int]  # the treated concept per text (adjective-rich; female; Black)
    texts_cf: list[str] = field(default_factory=list)  # the TRUE counterfactual texts
    # The unit the evaluation resamples for its intervals: the person a template sentence names (its texts are
    # not independent), or empty for one unit per text (reviews).
    groups: list[str] = field(default_factory=list)


@dataclass
class TextTask:
    concept: str
    classes: tuple[str, ...]
    control_name: str
    n_control: int
    token_level: bool
    stage1: dict  # texts, sent_concept, sent_control, labels (+ words, tok_concept, tok_control for reviews)
    train: dict[str, Split]  # by bias level
    val: Split
    test: Split
    realised_bias: dict[str, float]  # by level: the concept-label correlation actually reached


def load_task(concept: str, limit: int | None = None) -> TextTask:
    """The task for `concept`; `limit` keeps the first N texts of every split (for tests and smoke runs)."""
    if concept == "adjectives":
        return _adjectives(limit)
    if concept in ("gender", "race"):
        return _templates(concept, limit)
    raise ValueError(f"unknown concept {concept!r}; choose from {', '.join(CONCEPTS)}")


def _cut(seq: list, limit: int | None) -> list:
    return seq if limit is None else seq[:limit]


def _adjectives(limit: int | None) -> TextTask:
    from explorer.data.rotten import BIAS_LEVELS, biased_subsample, load_reviews, phi

    train = _cut(load_reviews("train"), limit)
    val, test = _cut(load_reviews("val"), limit), _cut(load_reviews("test"), limit)

    def split(rows) -> Split:
        return Split([r.text for r in rows], [r.label for r in rows], [r.concept for r in rows],
                     [r.text_cf for r in rows])

    by_level, realised = {}, {}
    for level in BIAS_LEVELS:
        rows = biased_subsample(train, level, seed=DEFAULT_SEED)
        by_level[level] = split(rows)
        realised[level] = float(phi([r.concept for r in rows], [r.label for r in rows]))
    stage1 = {
        "texts": [r.text for r in train],
        "words": [list(r.words) for r in train],
        "tok_concept": [[int(p == "ADJ") for p in r.pos] for r in train],
        "tok_control": [[pos_index(p) for p in r.pos] for r in train],
        "sent_concept": [r.concept for r in train],
        "sent_control": [-100] * len(train),  # the reviews' control head is token-level (POS)
        "labels": [r.label for r in train],
    }
    return TextTask("adjectives", SENTIMENT, "part of speech", len(POS_CONTROL), True, stage1, by_level,
                    split(val), split(test), realised)


def _templates(concept: str, limit: int | None) -> TextTask:
    from explorer.scm.templates import CLASSES, TEMPLATE_BIAS, realised_bias, template_corpus

    def split(rows) -> Split:
        return Split([r.text for r in rows], [r.label for r in rows], [r.value for r in rows],
                     [r.text_cf for r in rows], [r.person for r in rows])

    by_level, realised = {}, {}
    for level in TEMPLATE_BIAS:
        rows = _cut(template_corpus(concept, "train", bias=level), limit)
        by_level[level] = split(rows)
        realised[level] = float(realised_bias(rows))
    base = by_level["balanced"]
    rows = _cut(template_corpus(concept, "train", bias="balanced"), limit)
    stage1 = {
        "texts": base.texts,
        "sent_concept": [r.value for r in rows],
        # control: the other demographic concept, where the person word carries it (-100 = unknown)
        "sent_control": [r.other if r.other >= 0 else -100 for r in rows],
        "labels": [r.label for r in rows],  # true labels: the balanced set carries no injected bias
    }
    other = "race" if concept == "gender" else "gender"
    val = _cut(template_corpus(concept, "val"), limit)
    test = _cut(template_corpus(concept, "test"), limit)
    return TextTask(concept, tuple(CLASSES), other, 2, False, stage1, by_level, split(val), split(test), realised)
