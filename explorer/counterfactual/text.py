"""Explicit counterfactual texts for any typed sentence: one function per concept behind one signature.

`text_counterfactual(text, concept)` rewrites `text` as it would read without the concept, by the same rule
that made the corpora's TRUE counterfactuals, so a user can see the rewritten text next to what the CausaLM
models say without it:
- adjectives: spaCy tags the text and `rotten.remove_adjectives` drops its adjectives (and the words left
  dangling by them), exactly as the Rotten Tomatoes counterfactuals were made;
- gender: every gendered person word of the template lexicon is swapped for its partner (census and
  ResumeNames first names, and the nouns of its phrases: "my sister" <-> "my brother");
- race: every ResumeNames first name is swapped for its partner of the other race and the same gender.

Every `Change` is a character span of the original and its replacement, so `apply_changes(text, changes)`
gives the counterfactual back, and `TextCounterfactual.cf_spans` says where each new word stands, so a page
can highlight the changed words in both texts.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Callable, NamedTuple

CONCEPTS = ("adjectives", "gender", "race")
# What each rewrite does, in the words the page shows next to it.
RULES = {
    "adjectives": "every adjective is removed (with a degree word such as *very* before it, and the commas "
                  "or *and* left between removed adjectives), as in the review corpus's true counterfactuals",
    "gender": "every gendered first name and person word the emotion corpus uses is swapped for its partner "
              "of the other gender (*Mary* ↔ *James*, *sister* ↔ *brother*, *wife* ↔ *husband*)",
    "race": "every first name of the race lexicon (the names of the ResumeNames audit study, plus first names "
            "that US mortgage records show are mostly carried by Black or by white people) is swapped for its "
            "partner of the other race and the same gender (*Lakisha* ↔ *Jill*, *Jamal* ↔ *Brett*, "
            "*Althea* ↔ *Erin*)",
}
# Pronouns are not in the template lexicon (its sentences have none), so they are left as written and
# said so: "her" would need the grammar to choose between "him" and "his".
_PRONOUNS = re.compile(r"\b(she|he|her|hers|herself|him|his|himself)\b", re.IGNORECASE)
# Words, runs of whitespace and single punctuation marks: together they cover every character of a text.
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
# Plurals of the lexicon's person nouns that do not just add "s".
_IRREGULAR_PLURALS = {"woman": "women", "man": "men", "wife": "wives", "lady": "ladies",
                      "gentleman": "gentlemen", "actress": "actresses"}


class Change(NamedTuple):
    """`text[start:end]` (== old) reads `new` in the counterfactual."""

    start: int
    end: int
    old: str
    new: str


@dataclass(frozen=True)
class TextCounterfactual:
    """A text, its counterfactual under one concept, and the changes between them."""

    text: str
    text_cf: str
    concept: str
    changes: list[Change] = field(default_factory=list)
    note: str = ""  # why nothing changed, or what was left as written; "" when there is nothing to say

    @property
    def changed(self) -> bool:
        """True when some word changed (whitespace- or case-only edits do not count)."""
        return any(visible(c) for c in self.changes)

    @property
    def changed_words(self) -> list[Change]:
        """The changes a reader sees: words replaced, removed or added."""
        return [c for c in self.changes if visible(c)]

    def cf_spans(self) -> list[tuple[int, int]]:
        """Where each change's `new` stands in `text_cf`, in the order of `changes`."""
        spans, shift = [], 0
        for c in self.changes:
            start = c.start + shift
            spans.append((start, start + len(c.new)))
            shift += len(c.new) - (c.end - c.start)
        return spans


def visible(change: Change) -> bool:
    """A change of words, not only of spacing or letter case."""
    return change.old.split() != change.new.split() and change.old.lower().split() != change.new.lower().split()


def apply_changes(text: str, changes: list[Change]) -> str:
    """`text` with every change applied (changes sorted by position, not overlapping)."""
    out, pos = [], 0
    for c in changes:
        out += [text[pos:c.start], c.new]
        pos = c.end
    return "".join(out) + text[pos:]


def word_diff(text: str, text_cf: str) -> list[Change]:
    """Word-level changes turning `text` into `text_cf` (letter case compared separately from words).

    Tokens are words, whitespace runs and punctuation marks, so the changes rebuild `text_cf` exactly:
    `apply_changes(text, word_diff(text, text_cf)) == text_cf`.
    """
    a = [m.span() for m in _TOKEN.finditer(text)]
    b = [m.span() for m in _TOKEN.finditer(text_cf)]
    # Matched on lower case, so a word only re-capitalised at the start of the text is not "removed".
    matcher = SequenceMatcher(None, [text[s:e].lower() for s, e in a], [text_cf[s:e].lower() for s, e in b],
                              autojunk=False)
    changes = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            changes += [Change(s, e, text[s:e], text_cf[t:u]) for (s, e), (t, u) in zip(a[i1:i2], b[j1:j2])
                        if text[s:e] != text_cf[t:u]]
            continue
        start = a[i1][0] if i1 < len(a) else len(text)
        end = a[i2 - 1][1] if i2 > i1 else start
        new = text_cf[b[j1][0]:b[j2 - 1][1]] if j2 > j1 else ""
        changes.append(Change(start, end, text[start:end], new))
    return changes


# --- adjectives -------------------------------------------------------------------------------------------
_TAGGER_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def tagger():
    """spaCy's en_core_web_sm, loaded once per process (~1 s) and shared."""
    from explorer.data.rotten import load_tagger

    return load_tagger()


def remove_adjectives(text: str) -> TextCounterfactual:
    """The text without its adjectives, by the rule of the review corpus (`rotten.remove_adjectives`)."""
    from explorer.data.rotten import remove_adjectives as clean_up

    nlp = tagger()
    with _TAGGER_LOCK:  # one spaCy pipeline shared by every session; its caches are not meant for threads
        doc = nlp(text)
    words, spaces, pos = [t.text for t in doc], [bool(t.whitespace_) for t in doc], [t.pos_ for t in doc]
    if "ADJ" not in pos:
        return TextCounterfactual(text, text, "adjectives", [], "spaCy found no adjective in this text, so its "
                                  "counterfactual is the text itself: both models should agree with themselves.")
    # remove_adjectives joins the tokens on single spaces; leading spaces and newlines are not words
    text_cf = clean_up(words, spaces, pos)
    adjectives = [w for w, p in zip(words, pos) if p == "ADJ"]
    note = "" if text_cf.strip() else "The text is made of adjectives only: without them nothing is left."
    return TextCounterfactual(text, text_cf, "adjectives", word_diff(text, text_cf),
                              note or f"{len(adjectives)} adjective{'s' * (len(adjectives) != 1)} removed.")


# --- gender and race: swaps from the template lexicon -------------------------------------------------------
@dataclass(frozen=True)
class Swaps:
    """One concept's word -> partner table, as two regexes: names match as written, nouns in any case."""

    names: dict[str, str]
    nouns: dict[str, str]

    @functools.cached_property
    def pattern(self) -> re.Pattern:
        # Names match only capitalised or in capitals ("Rose", "ROSE"), so the flower "rose" and the verb
        # "mark" stay; nouns match in any case. Longest first, so no entry shadows a longer one.
        names = sorted({v for k in self.names for v in (k, k.upper())}, key=len, reverse=True)
        nouns = sorted(self.nouns, key=len, reverse=True)
        parts = [f"(?-i:{'|'.join(map(re.escape, names))})"] if names else []
        parts += [f"(?i:{'|'.join(map(re.escape, nouns))})"] if nouns else []
        return re.compile(r"\b(?:" + "|".join(parts) + r")\b")

    def partner(self, word: str) -> str:
        """The partner of `word`, in the same case pattern ("SISTER" -> "BROTHER", "Mary" -> "James")."""
        key = word if word in self.names else word.title() if word.title() in self.names else word.lower()
        new = self.names.get(key) or self.nouns[key]
        if word.isupper() and len(word) > 1:
            return new.upper()
        return new[:1].upper() + new[1:] if word[:1].isupper() else new


@functools.lru_cache(maxsize=None)
def swaps(concept: str) -> Swaps:
    """The swap table of "gender" or "race", built from the template lexicon (every split's persons)."""
    from explorer.scm.templates import persons

    names, nouns = {}, {}
    for person in persons(concept, "train") + persons(concept, "val") + persons(concept, "test"):
        words, partner = person.words.split(), person.partner.split()
        if len(words) == 1 and len(partner) == 1:
            names.setdefault(person.words, person.partner)
            continue
        # a phrase pair ("my sister", "my brother"): the words that differ are the person words
        for old, new in zip(words, partner):
            if old != new:
                nouns.setdefault(old.lower(), new.lower())
                nouns.setdefault(_plural(old.lower()), _plural(new.lower()))
    return Swaps(names, nouns)


def _plural(noun: str) -> str:
    return _IRREGULAR_PLURALS.get(noun, noun + "s")


def _swap(text: str, concept: str) -> TextCounterfactual:
    table = swaps(concept)
    changes = [Change(m.start(), m.end(), m.group(), table.partner(m.group())) for m in table.pattern.finditer(text)]
    pronouns = sorted({m.group().lower() for m in _PRONOUNS.finditer(text)}) if concept == "gender" else []
    left = (f" The pronouns ({', '.join(pronouns)}) are left as written: the emotion corpus has none, "
            "and the lexicon only pairs names and person nouns.") if pronouns else ""
    if not changes:
        what = ("no first name or person word from the gender lexicon (e.g. Mary, James, sister, husband)"
                if concept == "gender" else "no first name from the race lexicon (the 36 ResumeNames names, "
                "e.g. Lakisha, Jamal, Emily, Greg)")
        return TextCounterfactual(text, text, concept, [], f"The text contains {what}, so its counterfactual "
                                  f"is the text itself.{left}")
    note = f"{len(changes)} word{'s' * (len(changes) != 1)} swapped.{left}"
    return TextCounterfactual(text, apply_changes(text, changes), concept, changes, note)


def swap_gender(text: str) -> TextCounterfactual:
    """Every gendered name and person noun of the lexicon swapped for its partner."""
    return _swap(text, "gender")


def swap_race(text: str) -> TextCounterfactual:
    """Every ResumeNames first name swapped for its partner of the other race (same gender)."""
    return _swap(text, "race")


METHODS: dict[str, Callable[[str], TextCounterfactual]] = {
    "adjectives": remove_adjectives, "gender": swap_gender, "race": swap_race}


def text_counterfactual(text: str, concept: str) -> TextCounterfactual:
    """The counterfactual of `text` without (or with the other value of) `concept`.

    Args:
        text: Any text; an empty one comes back unchanged.
        concept: "adjectives", "gender" or "race".

    Returns:
        The text, its counterfactual, the changes between them and a note for the reader.

    Raises:
        ValueError: Unknown concept.
    """
    if concept not in METHODS:
        raise ValueError(f"unknown concept {concept!r}; choose from {', '.join(METHODS)}")
    if not text.strip():
        return TextCounterfactual(text, text, concept, [], "The text is empty.")
    return METHODS[concept](text)
