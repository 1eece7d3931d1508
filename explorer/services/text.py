"""The text what-if service: one call per typed text, everything the page shows comes back.

For a text and a concept, `TextService.analyse` asks both CausaLM task models of that concept, O (ordinary
encoder) and CF (encoder trained to forget the concept), and writes the explicit counterfactual text by the corpus's
own rule (`counterfactual/text.py`), so the page can put CausaLM's estimate (O vs CF on the same text) next to
the effect on the rewritten text (O on text vs O on counterfactual). `effects_table` reads the test-set
measurements written by `python -m explorer evaluate causalm`.

One instance per server process, shared read-only. The model pairs load lazily, one per concept, and each
pair's calls are serialised: a fast Hugging Face tokenizer raises "Already borrowed" when two threads call
it at once, and Streamlit runs every session in its own thread.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from explorer.services.audit import AuditModel, pair_model
from explorer.counterfactual.text import TextCounterfactual, text_counterfactual
from explorer.datasets.text_tasks import CONCEPTS, LEVELS
from explorer.models.causalm_pair import CausalmPair
from explorer.registry import load_text_pair, rebuild_causalm
from explorer.paths import PRETRAINED, ROOT

MAX_CHARS = 2_000  # the models read ~64 word pieces (a few hundred characters); the rest is cut, with a notice
EFFECTS_JSON = ROOT / "bench" / "results" / "evaluate_causalm.json"
EVALUATE = "python -m explorer evaluate causalm --json bench/results/evaluate_causalm.json"
METRICS = ("ate_gt", "treate", "conexp", "acc_o", "acc_cf", "probe_o", "probe_cf", "probe_majority",
           "realised_bias")
# Read out in words, not tabled: 95 % intervals from resampling the test set's persons (templates) or reviews,
# and the held-out probes (trained on the validation texts, whose persons no eraser saw, tested on test).
INTERVALS = ("gap_ci_low", "gap_ci_high", "probe_cf_excess_ci_low", "probe_cf_excess_ci_high",
             "probe_o_heldout", "probe_cf_heldout")
TASKS = {"adjectives": "sentiment of a film review", "gender": "emotion in a sentence about a person",
         "race": "emotion in a sentence about a person"}
ACTIONS = {"adjectives": "Removing the adjectives from a review", "gender": "Swapping the person's gender",
           "race": "Swapping the person's first name or surname for one of the other race"}


class TextInputError(ValueError):
    """The text cannot be analysed; str(err) is the message for the user."""


class EffectsMissing(FileNotFoundError):
    """The concept-effect measurements are not there yet; str(err) names the command that writes them."""


@dataclass(frozen=True)
class Example:
    """A test-set text offered on the page, with its true class."""

    text: str
    label: str


@dataclass
class TextResult:
    """Both models on a text and on its explicit counterfactual. Probabilities are (C,) arrays."""

    text: str  # as analysed (cut to MAX_CHARS)
    concept: str
    level: str
    classes: tuple[str, ...]
    counterfactual: TextCounterfactual
    probs: dict[str, np.ndarray]  # {"o", "cf"} on the text
    probs_cf_text: dict[str, np.ndarray]  # {"o", "cf"} on the counterfactual text (== probs when unchanged)
    n_tokens: int  # word pieces of the text, markers included, before truncation
    read_chars: int  # the models read text[:read_chars]
    notes: list[str]

    def top(self, which: str, on_cf_text: bool = False) -> tuple[str, float]:
        """(class, probability) of the model `which` ("o" or "cf") on the text or on its counterfactual."""
        p = (self.probs_cf_text if on_cf_text else self.probs)[which]
        return self.classes[int(np.argmax(p))], float(np.max(p))

    @property
    def effect_on_text(self) -> float:
        """Mean |P_O(y|text) - P_O(y|text_cf)| over classes: the concept's effect on O for this one text."""
        return float(np.abs(self.probs["o"] - self.probs_cf_text["o"]).mean())

    @property
    def estimate(self) -> float:
        """Mean |P_O(y|text) - P_CF(y|text)| over classes: CausaLM's estimate of that effect, for this text."""
        return float(np.abs(self.probs["o"] - self.probs["cf"]).mean())

    def reading(self) -> str:
        """The result in one paragraph of plain words (Markdown)."""
        (o, po), (cf, pcf) = self.top("o"), self.top("cf")
        text = (f"The **original model** reads your text as **{o}** ({po:.0%}); the **counterfactual model**, "
                f"whose encoder was trained to forget the {self.concept} concept, reads it as **{cf}** ({pcf:.0%}). "
                f"They differ by {_num(self.estimate)} per class on average: CausaLM's estimate of how much the "
                "concept moves the original model on this text.")
        if not self.counterfactual.changed:
            return text + (" Nothing in your text carries the concept, so there is no rewritten text to check it "
                           "against.")
        oc, poc = self.top("o", on_cf_text=True)
        return text + (f" On the rewritten text the original model says **{oc}** ({poc:.0%}): the rewrite moves it "
                       f"by {_num(self.effect_on_text)} per class, the effect CausaLM estimates without rewriting.")


def _num(x: float | None) -> str:
    """Effects span 0.001-0.5: two decimals hide the small ones, so small values get three."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.3f}"


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


class TextService:
    """The page's service: model pairs by concept (loaded on first use), examples and measured effects."""

    def __init__(self, folder: Path | None = None, device: torch.device | str = "cpu"):
        self.folder, self.device = folder or PRETRAINED, torch.device(device)
        self._pairs: dict[str, CausalmPair] = {}
        self._load_lock = threading.Lock()
        self._locks = {c: threading.Lock() for c in CONCEPTS}

    def loaded(self, concept: str) -> bool:
        return concept in self._pairs

    def pair(self, concept: str) -> CausalmPair:
        """The O/CF pair of `concept` (CheckpointError / BaseModelMissing on faults, retried on the next call)."""
        if concept not in CONCEPTS:
            raise ValueError(f"unknown concept {concept!r}; choose from {', '.join(CONCEPTS)}")
        with self._load_lock:
            if concept not in self._pairs:
                self._pairs[concept] = load_text_pair(concept, self.folder, self.device)
            return self._pairs[concept]

    def audit_model(self, name: str) -> AuditModel:
        """An audit model on the already loaded pair, sharing its lock with the what-ifs."""
        from explorer.services.audit import parse_model_name

        concept = parse_model_name(name)[1]
        return pair_model(self.pair(concept), name, self._locks[concept])

    def analyse(self, text: str, concept: str, level: str) -> TextResult:
        """Both models on `text` and on its explicit counterfactual under `concept`.

        Args:
            text: Any text; emoji and other scripts become unknown word pieces, which is said in a note.
            concept: "adjectives", "gender" or "race".
            level: Bias level of the task models' training data ("balanced", "gentle", "aggressive").

        Raises:
            TextInputError: Empty text (the message is for the user).
            ValueError: Unknown concept or level.
        """
        pair = self.pair(concept)
        if level not in pair.levels:
            raise ValueError(f"unknown bias level {level!r}; choose from {', '.join(pair.levels)}")
        text, notes = clean_text(text)
        cf = text_counterfactual(text, concept)
        texts = [text, cf.text_cf] if cf.changed else [text]  # an unchanged text needs no second pass
        with self._locks[concept]:
            probs = pair.predict(texts, level)  # {"o", "cf"}: (1 or 2, C)
            n_tokens = pair.count_tokens([text]).n_tokens[0]
            read_chars, unknown, pieces = _read_part(pair, text)
        notes += _reading_notes(text, n_tokens, pair.base.cfg.max_len, read_chars, unknown, pieces)
        last = len(texts) - 1
        return TextResult(text, concept, level, tuple(pair.classes), cf, {w: p[0] for w, p in probs.items()},
                          {w: p[last] for w, p in probs.items()}, n_tokens, read_chars, notes)


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


# --- measured effects -----------------------------------------------------------------------------------
def effects_source(folder: Path | None = None) -> tuple[Path, str]:
    """Where the measured effects of the models in `folder` are read from, and the command that writes them.

    The shipped models' numbers live in bench/results/; any other models' next to their checkpoints, so that a
    page serving other models (EXPLORER_PRETRAINED) never shows the shipped models' numbers as theirs.
    """
    folder = folder or PRETRAINED
    if folder.resolve() == (ROOT / "pretrained").resolve():
        return EFFECTS_JSON, EVALUATE
    path = folder / "evaluate_causalm.json"
    return path, f"python -m explorer evaluate causalm --folder {folder} --json {path}"


def effects_table(concept: str, path: Path | None = None, folder: Path | None = None) -> pd.DataFrame:
    """The concept's test-set measurements per bias level (rows) and metric (columns, METRICS), for the models
    in `folder` (default: the page's), or from the JSON at `path`.

    Raises:
        EffectsMissing: The JSON is missing, unreadable or has no numbers for `concept`; the message names
            the command that writes it.
    """
    source, command = effects_source(folder)
    path = path or source
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not path.exists():
        raise EffectsMissing(f"The concept effects have not been measured yet: `{where}` is missing. It is written "
                             f"by\n\n```\n{command}\n```\n\n(after the models are trained with "
                             f"`{rebuild_causalm(folder=folder)}`).")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EffectsMissing(f"`{where}` could not be read ({err}). Write it again with\n\n"
                             f"```\n{command}\n```") from err
    rows = {lv: [data.get(f"{concept}.{lv}.{m}") for m in METRICS + INTERVALS] for lv in LEVELS}
    rows = {lv: v for lv, v in rows.items() if any(x is not None for x in v[:len(METRICS)])}
    if not rows:
        raise EffectsMissing(f"`{where}` has no numbers for the {concept} concept. Write it again with\n\n"
                             f"```\n{command}\n```")
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(METRICS + INTERVALS)).astype(float)
    frame.index.name = "level"
    return frame


def level_words(concept: str, level: str) -> str:
    """What a bias level means for a concept's training data, from the constants that made it."""
    if concept == "adjectives":
        from explorer.data.rotten import BIAS_LEVELS

        return (f"the task model was trained on reviews where being rich in adjectives and being *fresh* "
                f"correlate at {BIAS_LEVELS[level]:.2f}")
    from explorer.scm.templates import TARGET_CLASS, TEMPLATE_BIAS

    who = "about a woman" if concept == "gender" else "with a Black-associated name"
    share = TEMPLATE_BIAS[level]
    if share == 0:
        return "the task model's training sentences carry no injected bias"
    return (f"in the task model's training data, {share:.0%} of the sentences {who} were relabelled "
            f"*{TARGET_CLASS[concept]}* whatever their emotion word said")


def effects_reading(frame: pd.DataFrame, concept: str, level: str) -> str:
    """The measurements of one level in plain words (Markdown), generated from the numbers."""
    if level not in frame.index:
        return f"No measurements for the {level} level."
    r = {k: (None if pd.isna(v) else float(v)) for k, v in frame.loc[level].items()}
    gt, est, corr = r.get("ate_gt"), r.get("treate"), r.get("conexp")
    what = ("probability of *fresh* (vs *rotten*)" if concept == "adjectives"
            else "probability of each emotion (averaged over the four)")
    effect = [f"At the **{level}** level ({level_words(concept, level)}), {ACTIONS[concept].lower()} changes the "
           f"original model's {what} by **{_num(gt)}** on average (ATE_gt, on the test set's true rewritten "
           f"texts); the counterfactual model estimates **{_num(est)}** without seeing any rewritten text (TReATE)."]
    if gt is not None and est is not None and corr is not None:
        better = abs(est - gt) <= abs(corr - gt)
        effect.append(f"The correlational shortcut CONEXP, which only compares test texts with and without the "
                   f"concept, says {_num(corr)}: {'further from' if better else 'closer to'} the measured effect "
                   f"than TReATE{'' if better else ' at this level'}.")
    units = "reviews" if concept == "adjectives" else "persons"
    gone: list[str] = []
    sure: list[str] = []
    acc: list[str] = []
    po, pcf, maj = r.get("probe_o"), r.get("probe_cf"), r.get("probe_majority")
    if None not in (po, pcf, maj):
        verdict = ("the counterfactual encoder has forgotten it" if pcf <= maj + 0.05
                   else "the counterfactual encoder still carries some of it")
        if pcf < maj - 0.05:  # worse than guessing: the probe fitted noise that misleads it on new texts
            verdict += (" (the probe even does worse than guessing: with nothing left to learn, it picked up "
                        "chance patterns that mislead it on new texts)")
        gone.append(f"A linear probe reads the concept from the original encoder {po:.0%} of the time and from the "
                   f"counterfactual encoder {pcf:.0%} (always guessing the commoner value: {maj:.0%}): {verdict}.")
    lo, hi = r.get("probe_cf_excess_ci_low"), r.get("probe_cf_excess_ci_high")
    if None not in (lo, hi) and lo <= 0.05 < hi:
        gone.append(f"That verdict is not firm: with another sample of test {units}, the probe on the counterfactual "
                   f"encoder could land anywhere from {lo * 100:+.0f} to {hi * 100:+.0f} points around the "
                   "majority guess (95% interval).")
    ho, hcf = r.get("probe_o_heldout"), r.get("probe_cf_heldout")
    if None not in (ho, hcf, maj):
        # The probe above learns on the training texts, the very ones CF's eraser was fitted on; this one learns
        # on other people (or reviews), so it asks whether the concept is gone for texts CF was never shown.
        held = ("gone there too" if hcf <= maj + 0.05 else "still largely there" if hcf - maj > (ho - maj) / 2
                else "partly there")
        gone.append(f"A probe that learns from other {units} (the validation set) instead reads it from the test "
                   f"{units} {ho:.0%} of the time from the original encoder and {hcf:.0%} from the counterfactual "
                   f"one: for {units} the counterfactual encoder was not trained on, the concept is {held}.")
    lo, hi = r.get("gap_ci_low"), r.get("gap_ci_high")
    if None not in (lo, hi, gt, est):
        sure.append(f"The gap between TReATE and ATE_gt, {_num(abs(est - gt))}, would be between {_num(lo)} and "
                   f"{_num(hi)} with another sample of test {units} (95% interval).")
    ao, acf = r.get("acc_o"), r.get("acc_cf")
    if ao is not None and acf is not None:
        acc.append(f"Task accuracy ({TASKS[concept]}): {ao:.1%} for the original model, {acf:.1%} for the "
                   "counterfactual one.")
    # a short paragraph per question, so a reader can stop after the first
    parts = [" ".join(effect)]
    parts += [f"**Is the concept gone from the counterfactual model?** {' '.join(gone)}"] if gone else []
    parts += [f"**How firm are these numbers?** {' '.join(sure)}"] if sure else []
    parts += [f"**Accuracy.** {' '.join(acc)}"] if acc else []
    return "\n\n".join(parts)
