"""Explicit counterfactual texts for any typed sentence: one function per concept behind one signature.

`text_counterfactual(text, concept)` rewrites `text` as it would read without the concept, by the same rule
that made the corpora's TRUE counterfactuals, so a user can see the rewritten text next to what the CausaLM
models say without it:
- adjectives: spaCy tags the text and `rotten.remove_adjectives` drops its adjectives (and the words left
  dangling by them), exactly as the Rotten Tomatoes counterfactuals were made;
- gender: every gendered person word of the template lexicon is swapped for its partner (census and
  ResumeNames first names, and the nouns of its phrases: "my sister" <-> "my brother"), and so are a few
  common gendered words it lacks (mom/dad, queen/king, Mr./Ms. ...) and the gendered pronouns; "her" and
  "his" are read by spaCy's tagger (a possessive determiner, PRP$, or not) to choose "his"/"him", "her"/"hers";
- race: every first name of the race lexicon is swapped for its partner of the other race and the same gender,
  and every surname of the lexicon for its partner.

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
    "gender": "every gendered first name of a fixed list (the US census lists' commonest and the audit-study "
              "names), person word of a fixed list (*bride* ↔ *groom*, *chairman* ↔ *chairwoman*, with plurals), "
              "title and pronoun is swapped for its partner of the other gender (*Mary* ↔ *James*, *sister* ↔ "
              "*brother*, *mom* ↔ *dad*, *Mr.* → *Ms.*, *Mrs.* and *Ms.* → *Mr.*, *she* ↔ *he*, *him* → *her*, "
              "*hers* → *his*); *her* becomes *his* before a noun (*her birthday*) and *him* otherwise (*with "
              "her*), *his* becomes *her* or *hers* (*the book is his*), as spaCy's tagger reads the sentence",
    "race": "every first name of the race lexicon (the names of the ResumeNames audit study, plus first names "
            "that US mortgage records show are mostly carried by Black or by white people) is swapped for its "
            "partner of the other race and the same gender (*Lakisha* ↔ *Jill*, *Jamal* ↔ *Brett*, "
            "*Althea* ↔ *Erin*), and every surname of the lexicon (common US surnames that the 2010 census "
            "shows are mostly carried by Black or by white people) for its partner (*Gaines* ↔ *Wagner*, "
            "*McCray* ↔ *Johnston*)",
}
# Gendered pronouns (the template sentences have none, so the corpus rewrite never meets them), in any case.
_PRONOUNS = re.compile(r"\b(?:she|he|herself|himself|him|hers|her|his)\b", re.IGNORECASE)
_PRONOUN_PARTNERS = {"she": "he", "he": "she", "herself": "himself", "himself": "herself", "him": "her",
                     "hers": "his"}
# "her" and "his" each have two partners: (as a possessive determiner, PRP$: "her birthday", otherwise:
# "with her", "the book is his"). spaCy's tagger decides; only the words needing it make the page run spaCy.
_AMBIGUOUS = {"her": ("his", "him"), "his": ("her", "hers")}
# A determiner needs a noun phrase after it: a PRP$ followed by the end, punctuation or a finite verb ("is
# his.", "his is blue", "his, not hers") is a tagger slip for a standalone pronoun ("hers", "him").
_NO_NOUN_AFTER = frozenset({".", ",", ":", "-RRB-", "''", "VB", "VBD", "VBP", "VBZ", "MD"})
# Gendered words the lexicon's phrases lack (they already pair woman/man, girl/boy, lady/gentleman, mother/
# father, sister/brother, daughter/son, wife/husband, aunt/uncle, niece/nephew, grandmother/grandfather,
# actress/actor, girlfriend/boyfriend, with plurals): (female, male), plurals adding "s", in any case.
_EXTRA_PAIRS = (("mom", "dad"), ("grandma", "grandpa"), ("queen", "king"), ("granddaughter", "grandson"),
                ("princess", "prince"), ("duchess", "duke"), ("bride", "groom"), ("waitress", "waiter"),
                ("nun", "monk"), ("stepmother", "stepfather"), ("stepdaughter", "stepson"), ("madam", "sir"),
                ("heroine", "hero"), ("chairwoman", "chairman"), ("businesswoman", "businessman"),
                ("policewoman", "policeman"), ("congresswoman", "congressman"), ("spokeswoman", "spokesman"),
                ("fiancée", "fiancé"))
# Person nouns that are also common verbs ("they groom the horse"): swapped only where spaCy's tagger reads a noun.
_ALSO_VERBS = frozenset({"groom", "grooms"})
# Titles that are also surnames ("Stephen King"): kept where they follow a name, as spaCy's tagger reads it.
_ALSO_SURNAMES = frozenset({"King", "Queen"})
# One way only: British "mum" becomes "dad", and "dad" becomes "mom" unless the text itself writes "mum".
_ONE_WAY = {"mum": "dad", "mums": "dads"}
_MUM = re.compile(r"\bmums?\b", re.IGNORECASE)
# Titles, matched only as written ("Mr", "Mr."; a dot stays as it is; "MS" or "ms" are not titles): "Mr."
# becomes "Ms.", which says nothing of marriage, and both "Mrs." and "Ms." become "Mr.".
_TITLES = {"Mr": "Ms", "Mrs": "Mr", "Ms": "Mr"}
# Words, runs of whitespace and single punctuation marks: together they cover every character of a text.
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
# Plurals of the lexicon's person nouns that do not just add "s".
_IRREGULAR_PLURALS = {"woman": "women", "man": "men", "wife": "wives", "lady": "ladies",
                      "gentleman": "gentlemen", "actress": "actresses", "princess": "princesses",
                      "duchess": "duchesses", "waitress": "waitresses", "hero": "heroes", "madam": "madams"}


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
        return TextCounterfactual(text, text, "adjectives", [], "The part-of-speech tagger (spaCy) found no "
                                  "adjective in this text, so its counterfactual is the text itself: both models "
                                  "should agree with themselves.")
    # remove_adjectives joins the tokens on single spaces; leading spaces and newlines are not words
    text_cf = clean_up(words, spaces, pos)
    adjectives = [w for w, p in zip(words, pos) if p == "ADJ"]
    note = "" if text_cf.strip() else "The text is made of adjectives only: without them nothing is left."
    return TextCounterfactual(text, text_cf, "adjectives", word_diff(text, text_cf),
                              note or f"{len(adjectives)} adjective{'s' * (len(adjectives) != 1)} removed.")


# --- gender and race: swaps from the template lexicon -------------------------------------------------------
@dataclass(frozen=True)
class Swaps:
    """One concept's word -> partner table as one regex: names capitalised, titles as written, nouns in any case."""

    names: dict[str, str]
    nouns: dict[str, str]
    titles: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def pattern(self) -> re.Pattern:
        # Names match only capitalised or in capitals ("Rose", "ROSE"), so the flower "rose" and the verb
        # "mark" stay; titles only as written ("Ms", not "MS"); nouns in any case. Longest first, so no entry
        # shadows a longer one.
        names = sorted({v for k in self.names for v in (k, k.upper())}, key=len, reverse=True)
        nouns = sorted(self.nouns, key=len, reverse=True)
        titles = sorted(self.titles, key=len, reverse=True)
        parts = [f"(?-i:{'|'.join(map(re.escape, names + titles))})"] if names or titles else []
        parts += [f"(?i:{'|'.join(map(re.escape, nouns))})"] if nouns else []
        return re.compile(r"\b(?:" + "|".join(parts) + r")\b")

    def partner(self, word: str) -> str:
        """The partner of `word`, in the same case pattern ("SISTER" -> "BROTHER", "Mary" -> "James")."""
        if word in self.titles:
            return self.titles[word]
        key = word if word in self.names else word.title() if word.title() in self.names else word.lower()
        return _like(word, self.names.get(key) or self.nouns[key])


def _like(word: str, new: str) -> str:
    """`new` in the case pattern of `word`: "SHE" -> "HE", "She" -> "He", "she" -> "he"."""
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
        # a phrase pair ("my sister", "my brother"; "Ms. Gaines", "Ms. Wagner"): the words that differ are the
        # person words, capitalised ones being surnames
        for old, new in zip(words, partner):
            if old != new and old[:1].isupper():
                names.setdefault(old, new)
            elif old != new:
                nouns.setdefault(old.lower(), new.lower())
                nouns.setdefault(_plural(old.lower()), _plural(new.lower()))
    if concept != "gender":
        return Swaps(names, nouns)
    for female, male in _EXTRA_PAIRS:  # setdefault: the lexicon's own pairs stay as they are
        for f, m in ((female, male), (_plural(female), _plural(male))):
            nouns.setdefault(f, m)
            nouns.setdefault(m, f)
    for old, new in _ONE_WAY.items():
        nouns.setdefault(old, new)
    return Swaps(names, nouns, dict(_TITLES))


def _plural(noun: str) -> str:
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    return noun[:-3] + "men" if noun.endswith("man") else noun + "s"  # chairman, policewoman -> ...men


def _swap(text: str, concept: str) -> TextCounterfactual:
    table = swaps(concept)
    changes = [Change(m.start(), m.end(), m.group(), table.partner(m.group())) for m in table.pattern.finditer(text)]
    tagged = False
    if concept == "gender":
        unsure = [(c.start, c.end) for c in changes if c.old.lower() in _ALSO_VERBS or c.old in _ALSO_SURNAMES]
        if unsure:
            kept = _not_person_words(text, unsure)
            changes = [c for c in changes if c.start not in kept]
        pronouns, tagged = pronoun_changes(text)
        tagged = tagged or bool(unsure)
        changes = sorted(changes + pronouns)  # whole words of disjoint vocabularies: they never overlap
        if _MUM.search(text):  # a text that says "mum" gets "mum" for "dad"
            changes = [c._replace(new=_like(c.old, "mum" + c.old[3:])) if c.old.lower() in ("dad", "dads") else c
                       for c in changes]
    if not changes:
        what = ("no first name, person word, title or gendered pronoun of the gender lexicon (e.g. Mary, James, "
                "sister, husband, Mr., she, him)" if concept == "gender" else "no first name from the race "
                "lexicon (e.g. Lakisha, Jamal, Emily, Greg) and no surname from it (e.g. Gaines, Mosley, Wagner, "
                "Olson)")
        return TextCounterfactual(text, text, concept, [], f"The text contains {what}, so its counterfactual "
                                  "is the text itself.")
    read = (" Whether a word such as *her* stands before a noun, *groom* is a noun or *King* a surname, was "
            "read by spaCy's tagger, which can misread one.") if tagged else ""
    note = f"{len(changes)} word{'s' * (len(changes) != 1)} swapped.{read}"
    return TextCounterfactual(text, apply_changes(text, changes), concept, changes, note)


def pronoun_changes(text: str) -> tuple[list[Change], bool]:
    """Every gendered pronoun of `text` swapped, in its case; True when spaCy had to read a "her" or "his"."""
    matches = list(_PRONOUNS.finditer(text))
    ambiguous = [m.span() for m in matches if m.group().lower() in _AMBIGUOUS]
    determiner = _determiners(text, ambiguous) if ambiguous else {}  # spaCy only when a word needs it
    changes = []
    for m in matches:
        word = m.group()
        low = word.lower()
        new = _AMBIGUOUS[low][0 if determiner[m.start()] else 1] if low in _AMBIGUOUS else _PRONOUN_PARTNERS[low]
        changes.append(Change(m.start(), m.end(), word, _like(word, new)))
    return changes, bool(ambiguous)


def _determiners(text: str, spans: list[tuple[int, int]]) -> dict[int, bool]:
    """{start: is the word at text[start:end] a possessive determiner (PRP$) with a noun phrase after it?}."""
    nlp = tagger()
    with _TAGGER_LOCK:  # the pipeline is shared by every session (see remove_adjectives)
        doc = nlp(text)
    out = {}
    for start, end in spans:
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is None or not len(span):  # cannot happen for a whole word; read it as a determiner
            out[start] = True
            continue
        token = span[0]
        after = next((t for t in doc[token.i + 1:] if not t.is_space), None)
        out[start] = token.tag_ == "PRP$" and after is not None and after.tag_ not in _NO_NOUN_AFTER
    return out


def _not_person_words(text: str, spans: list[tuple[int, int]]) -> set[int]:
    """The starts of the words at `spans` that spaCy's tagger reads as something other than a gendered person
    word: a verb ("they groom the horse"), or a surname after a name ("Stephen King")."""
    nlp = tagger()
    with _TAGGER_LOCK:
        doc = nlp(text)
    out = set()
    for start, end in spans:
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is None or not len(span):
            continue
        token = span[0]
        before = doc[token.i - 1] if token.i > 0 else None
        after_name = before is not None and before.pos_ == "PROPN" and before.text[:1].isupper()
        if token.pos_ in ("VERB", "AUX") or (token.text in _ALSO_SURNAMES and after_name):
            out.add(start)
    return out


def swap_gender(text: str) -> TextCounterfactual:
    """Every gendered name, person noun, title and pronoun swapped for its partner."""
    return _swap(text, "gender")


def swap_race(text: str) -> TextCounterfactual:
    """Every first name and surname of the race lexicon swapped for its partner of the other race."""
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
