"""The text what-if service: one call per typed text, everything the page shows comes back.

For a text and a concept, `TextService.what_if` asks both CausaLM task models of that concept, O (ordinary
encoder) and CF (encoder trained to forget the concept), and writes the explicit counterfactual text by the corpus's
own rule (`counterfactual/text.py`), so the page can put CausaLM's estimate (O vs CF on the same text) next to
the effect on the rewritten text (O on text vs O on counterfactual). `TextService.page` gives the rest of the page:
the example texts, and the test-set measurements written by `python -m explorer evaluate causalm`
(`text_effects.py`); `TextService.audit` audits an uploaded CSV.

One instance per server process, shared read-only. The model pairs load lazily, one per concept, and each
pair's calls are serialised: a fast Hugging Face tokenizer raises "Already borrowed" when two threads call
it at once, and Streamlit runs every session in its own thread.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from explorer.counterfactual.text import TextCounterfactual, text_counterfactual
from explorer.data.safe_pickle import DataPackageError
from explorer.data.upload_csv import MAX_UPLOAD_BYTES
from explorer.datasets.text_tasks import CONCEPTS
from explorer.interfaces import WhatIfResult
from explorer.models.causalm_pair import CausalmPair
from explorer.paths import PRETRAINED
from explorer.registry import load_text_pair
from explorer.services.audit import (AuditModel, AuditReport, audit, describe_model, model_for, model_names,
                                     pair_model, parse_model_name, read_audit_csv)
from explorer.services.text_effects import EffectsMissing, effects_reading, effects_table, level_words, num
from explorer.types import VarSpec

MAX_CHARS = 2_000  # the models read ~64 word pieces (a few hundred characters); the rest is cut, with a notice


class TextInputError(ValueError):
    """The text cannot be analysed; str(err) is the message for the user."""


@dataclass(frozen=True)
class Example:
    """A test-set text offered on the page, with its true class."""

    text: str
    label: str


@dataclass
class TextResult(WhatIfResult):
    """Both models on a text and on its explicit counterfactual, in the fields every world's result has.

    `obs` is the text as analysed (cut to MAX_CHARS), `cf` its rewrite without the concept. `true_cf` is the
    rewrite too: the rule that writes it is the one that made the corpora's true counterfactuals (the texts
    ATE_gt is measured on), so in this world the rule is the ground truth, not a model's guess; the models'
    side of the what-if is in `probs`. `intervened` is [concept]: the concept is taken out, nothing follows
    from it (`downstream` is empty); `clamped` is ["text"] when the text was cut. `probs` is {"o": (on the
    text, on the rewrite), "cf": (on the text, on the rewrite)} for the original (O) and the counterfactual
    (CF) model, (C,) arrays; the rewrite's are the text's when the rule changed nothing.
    """

    concept: str = ""
    level: str = ""
    classes: tuple[str, ...] = ()
    rewrite: TextCounterfactual | None = None  # the rewrite's changes, for highlighting them in both texts
    n_tokens: int = 0  # word pieces of the text, markers included, before truncation
    read_chars: int = 0  # the models read obs[:read_chars]
    notes: list[str] = field(default_factory=list)

    def top(self, which: str, on_cf_text: bool = False) -> tuple[str, float]:
        """(class, probability) of the model `which` ("o" or "cf") on the text or on its counterfactual."""
        p = self.probs[which][1 if on_cf_text else 0]
        return self.classes[int(np.argmax(p))], float(np.max(p))

    @property
    def effect_on_text(self) -> float:
        """Mean |P_O(y|text) - P_O(y|text_cf)| over classes: the concept's effect on O for this one text."""
        on_text, on_cf = self.probs["o"]
        return float(np.abs(on_text - on_cf).mean())

    @property
    def estimate(self) -> float:
        """Mean |P_O(y|text) - P_CF(y|text)| over classes: CausaLM's estimate of that effect, for this text."""
        return float(np.abs(self.probs["o"][0] - self.probs["cf"][0]).mean())

    def reading(self) -> str:
        """The result in one paragraph of plain words (Markdown)."""
        (o, po), (cf, pcf) = self.top("o"), self.top("cf")
        text = (f"The **original model** reads your text as **{o}** ({po:.0%}); the **counterfactual model**, "
                f"whose encoder was trained to forget the {self.concept} concept, reads it as **{cf}** ({pcf:.0%}). "
                f"They differ by {num(self.estimate)} per class on average: CausaLM's estimate of how much the "
                "concept moves the original model on this text.")
        if not self.rewrite.changed:
            return text + (" Nothing in your text carries the concept, so there is no rewritten text to check it "
                           "against.")
        oc, poc = self.top("o", on_cf_text=True)
        return text + (f" On the rewritten text the original model says **{oc}** ({poc:.0%}): the rewrite moves it "
                       f"by {num(self.effect_on_text)} per class, the effect CausaLM estimates without rewriting.")


def clean_text(text: str | None) -> tuple[str, list[str]]:
    """The text to analyse and notices about it; TextInputError when there is nothing to analyse."""
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise TextInputError("Type a sentence (or pick an example) first: the text is empty.")
    if len(text) <= MAX_CHARS:
        return text, []
    cut = text.rfind(" ", MAX_CHARS - 200, MAX_CHARS)  # end on a word boundary when there is one nearby
    short = text[:cut if cut > 0 else MAX_CHARS].rstrip()
    return short, [f"Your text has {len(text):,} characters; only the first {len(short):,} were analysed. "
                   "The models read at most 64 word pieces (a few hundred characters) anyway."]


@dataclass(frozen=True)
class TextPage:
    """What the page shows besides a what-if, for one concept and bias level.

    Attributes:
        examples: test-set texts to pick from (empty when they could not be read: `examples_error` says why).
        examples_error: why the example texts could not be read, or None.
        level_words: what the bias level means for the concept's training data.
        effects: the concept's test-set measurements per level (METRICS), or None when not measured yet.
        effects_reading: those measurements of this level in plain words ("" without them).
        effects_missing: why there are no measurements and the command that writes them, or None.
        audit_models: {name: description} of the models an upload can be audited with.
        audit_default: the audit model of this concept and level.
        example_csv: a small CSV in the audit format, to download.
    """

    examples: tuple[Example, ...]
    examples_error: str | None
    level_words: str
    effects: pd.DataFrame | None
    effects_reading: str
    effects_missing: str | None
    audit_models: dict[str, str]
    audit_default: str
    example_csv: bytes


class TextService:
    """The page's service: model pairs by concept (loaded on first use), examples and measured effects."""

    def __init__(self, folder: Path | None = None, device: torch.device | str = "cpu"):
        self.folder, self.device = folder or PRETRAINED, torch.device(device)
        self._pairs: dict[str, CausalmPair] = {}
        self._load_lock = threading.Lock()
        self._locks = {c: threading.Lock() for c in CONCEPTS}

    @property
    def specs(self) -> dict[str, VarSpec]:
        """None: a text has no numeric variables to set. Its one intervention is taking a concept out (a
        name from CONCEPTS, with the bias level of the models that read it), chosen from a list."""
        return {}

    def loaded(self, concept: str) -> bool:
        """Whether `concept`'s models are loaded (the page then needs no spinner)."""
        return concept in self._pairs

    def load(self, concept: str) -> CausalmPair:
        """The O/CF pair of `concept`, loaded on first use (CheckpointError / BaseModelMissing on faults,
        retried on the next call), its packed pass in ONNX Runtime when that builds (1.5-2x faster here)."""
        if concept not in CONCEPTS:
            raise ValueError(f"unknown concept {concept!r}; choose from {', '.join(CONCEPTS)}")
        with self._load_lock:
            if concept not in self._pairs:
                pair = load_text_pair(concept, self.folder, self.device)
                pair.use_onnx_runtime()  # the packed pass in ONNX Runtime when it builds, else torch (logged)
                self._pairs[concept] = pair
            return self._pairs[concept]

    def audit_model(self, name: str) -> AuditModel:
        """An audit model on its concept's pair (loaded on first use), sharing its lock with the what-ifs."""
        concept = parse_model_name(name)[1]
        return pair_model(self.load(concept), name, self._locks[concept])

    def page(self, concept: str, level: str) -> TextPage:
        """The examples, the measured effects and the audit's models for `concept` at bias `level`."""
        try:
            texts, texts_error = examples(concept), None
        except (DataPackageError, OSError) as err:
            texts, texts_error = (), str(err)
        try:
            frame, missing = effects_table(concept, folder=self.folder), None
        except EffectsMissing as err:
            frame, missing = None, str(err)
        return TextPage(texts, texts_error, level_words(concept, level), frame,
                        "" if frame is None else effects_reading(frame, concept, level), missing,
                        {name: describe_model(name) for name in model_names()}, model_for(concept, level),
                        example_csv())

    def what_if(self, text: str, concept: str, level: str) -> TextResult:
        """Both models on `text` and on its explicit counterfactual under `concept`.

        Args:
            text: Any text; emoji and other scripts become unknown word pieces, which is said in a note.
            concept: "adjectives", "gender" or "race".
            level: Bias level of the task models' training data ("balanced", "gentle", "aggressive").

        Raises:
            TextInputError: Empty text (the message is for the user).
            ValueError: Unknown concept or level.
        """
        pair = self.load(concept)
        if level not in pair.levels:
            raise ValueError(f"unknown bias level {level!r}; choose from {', '.join(pair.levels)}")
        text, cut = clean_text(text)  # a note when the text was cut to MAX_CHARS
        notes = list(cut)
        cf = text_counterfactual(text, concept)
        texts = [text, cf.text_cf] if cf.changed else [text]  # an unchanged text needs no second pass
        with self._locks[concept], torch.inference_mode():
            probs = pair.predict(texts, level)  # {"o", "cf"}: (1 or 2, C)
            n_tokens = pair.count_tokens([text]).n_tokens[0]
            read_chars, unknown, pieces = _read_part(pair, text)
        notes += _reading_notes(text, n_tokens, pair.base.cfg.max_len, read_chars, unknown, pieces)
        last = len(texts) - 1
        return TextResult(obs=text, cf=cf.text_cf, true_cf=cf.text_cf, intervened=[concept], downstream=[],
                          clamped=["text"] if cut else [],
                          probs={w: (p[0], p[last]) for w, p in probs.items()}, concept=concept, level=level,
                          classes=tuple(pair.classes), rewrite=cf, n_tokens=n_tokens, read_chars=read_chars,
                          notes=notes)

    def audit(self, data: bytes, model: str, max_rows: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> AuditReport:
        """An uploaded CSV audited with one model (see `explorer.services.audit.audit`).

        The file is read first, so a file that cannot be audited is said before any model loads.

        Raises:
            AuditError: the file cannot be audited (the message says why, for the user).
        """
        frame = read_audit_csv(data, max_bytes=MAX_UPLOAD_BYTES)  # the command line reads whole files
        return audit(frame, self.audit_model(model), max_rows=max_rows, progress=progress)


def _reading_notes(text: str, n_tokens: int, max_len: int, read_chars: int, unknown: int, pieces: int) -> list[str]:
    """What the models could not read: the part past max_len word pieces, unknown pieces, other languages."""
    notes = []
    if n_tokens > max_len:
        tail = text[max(0, read_chars - 40):read_chars]
        tail = tail.split(" ", 1)[-1] if read_chars > 40 else tail  # start the quote on a word
        notes.append(f"Your text has {n_tokens:,} word pieces; the models read only the first {max_len} (markers "
                     f"included), up to “…{tail}”. The rest does not change their answer.")
    if pieces and unknown == pieces:
        notes.append("None of the word pieces the models read is in their (English, lower-case) vocabulary; emoji "
                     "and many non-Latin scripts are not. Their answer says nothing about your text.")
    elif pieces and unknown / pieces >= 0.25:
        notes.append(f"{unknown} of the {pieces} word pieces the models read are not in their (English, lower-case) "
                     f"vocabulary (emoji and many non-Latin scripts are not): their answer rests on the other "
                     f"{pieces - unknown}.")
    letters = [c for c in text[:read_chars] if c.isalpha()]
    if letters and sum(unicodedata.name(c, "").startswith("LATIN") for c in letters) < len(letters) / 2:
        notes.append("Most of the letters the models read are not Latin: both models were trained on English "
                     "text only, so treat their answer with caution.")
    return notes


def _read_part(pair: CausalmPair, text: str) -> tuple[int, int, int]:
    """(characters the models read, unknown word pieces among them, word pieces among them)."""
    enc = pair.tokenizer(text, truncation=True, max_length=pair.base.cfg.max_len, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    specials = {pair.tokenizer.cls_token_id, pair.tokenizer.sep_token_id}
    pieces = [i for i in ids if i not in specials]
    ends = [end for (_, end), i in zip(offsets, ids) if i not in specials]
    return max(ends, default=0), pieces.count(pair.tokenizer.unk_token_id), len(pieces)


# --- examples -------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def examples(concept: str, k: int = 8) -> tuple[Example, ...]:
    """k short test-split texts of a concept's task, both classes / all emotions and both concept values."""
    if concept == "adjectives":
        from explorer.data.rotten import read_source, split_indices

        source = read_source()  # no tagging needed: the split is a seeded partition of the file's rows
        test = [source[i] for i in split_indices(len(source))["test"] if 50 <= len(source[i][0]) <= 150]
        fresh = [Example(t, "fresh") for t, y in test if y == 1][: k // 2]
        rotten = [Example(t, "rotten") for t, y in test if y == 0][: k - k // 2]
        return tuple(x for pair in zip(fresh, rotten) for x in pair)
    from explorer.scm.templates import CLASSES, template_corpus

    rows, seen = [], set()
    for ex in template_corpus(concept, "test"):
        key = (ex.value, ex.label)  # one per (concept value, emotion): a varied, balanced handful
        if key not in seen:
            seen.add(key)
            rows.append(Example(ex.text, CLASSES[ex.label]))
    return tuple(rows[:k])


@functools.lru_cache(maxsize=1)
def example_csv(n: int = 12) -> bytes:
    """A small CSV in the audit format (text, label, concept, text_cf, group), from the gender test sentences;
    the group is the person, so a person's sentences are resampled together."""
    from explorer.scm.templates import CLASSES, template_corpus

    rows = template_corpus("gender", "test")[:n]
    frame = pd.DataFrame({"text": [r.text for r in rows], "label": [CLASSES[r.label] for r in rows],
                          "concept": [r.value for r in rows], "text_cf": [r.text_cf for r in rows],
                          "group": [r.person for r in rows]})
    return frame.to_csv(index=False).encode("utf-8")


