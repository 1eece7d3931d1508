"""Text data: the safe pickle reader, adjective removal, biased subsampling, the template world.

Fast by design: remove_adjectives runs on hand-tagged inputs, spaCy tags a handful of sentences, and
the full review corpus is only checked when its tag cache has already been built.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections import Counter

import numpy as np
import pytest

from explorer.data import rotten
from explorer.data.rotten import BIAS_LEVELS, PHI_TOLERANCE, ReviewExample, biased_subsample, phi, remove_adjectives
from explorer.data.race_names import english_words, load_first_name_races, load_surname_races
from explorer.data.safe_pickle import UnsafePickleError, load_resume_names, safe_load
from explorer.scm import templates as T


# --- safe pickle ----------------------------------------------------------------------------------

class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_safe_pickle_refuses_code():
    payload = pickle.dumps(_Payload())  # dumping stores the reference; nothing runs
    with pytest.raises(UnsafePickleError, match="system"):
        safe_load(io.BytesIO(payload))
    with pytest.raises(UnsafePickleError, match="eval"):
        safe_load(io.BytesIO(b"cbuiltins\neval\n(S'1+1'\ntR."))


def test_safe_pickle_loads_plain_arrays():
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(safe_load(io.BytesIO(pickle.dumps(arr))), arr)


def test_resume_names_content():
    rows = load_resume_names()
    assert len(rows) == 36 and len({name for name, _, _ in rows}) == 36
    cells = Counter((gender, race) for _, gender, race in rows)
    assert cells == {(g, r): 9 for g in ("female", "male") for r in ("white", "black")}
    assert ("Lakisha", "female", "black") in rows and ("Greg", "male", "white") in rows


# --- adjective removal on hand-tagged inputs ------------------------------------------------------

def _tokens(spec: str):
    """'a/DET funny/ADJ ,/PUNCT' -> words, spaces, pos; '_' before a token means no space before it."""
    words, spaces, pos = [], [], []
    for item in spec.split():
        glued = item.startswith("_")
        word, tag = item.lstrip("_").rsplit("/", 1)
        if glued and spaces:
            spaces[-1] = False
        words.append(word)
        spaces.append(True)
        pos.append(tag)
    spaces[-1] = False
    return words, spaces, pos


@pytest.mark.parametrize("spec, expected", [
    ("a/DET funny/ADJ _,/PUNCT touching/ADJ and/CCONJ smart/ADJ film/NOUN _./PUNCT", "a film."),
    ("The/DET film/NOUN is/AUX very/ADV good/ADJ _./PUNCT", "The film is."),
    ("It/PRON _'s/AUX smart/ADJ _,/PUNCT funny/ADJ _,/PUNCT and/CCONJ moving/ADJ _./PUNCT", "It's."),
    ("Funny/ADJ and/CCONJ wise/ADJ _,/PUNCT this/DET film/NOUN soars/VERB _./PUNCT", "This film soars."),
    ("An/DET entertaining/ADJ movie/NOUN _,/PUNCT brisk/ADJ and/CCONJ clever/ADJ _./PUNCT", "A movie."),
    ("a/DET long/ADJ _,/PUNCT long/ADJ evening/NOUN", "an evening"),
    ("It/PRON _'s/AUX a/DET fine/ADJ _,/PUNCT old/ADJ _-/PUNCT _fashioned/VERB movie/NOUN _./PUNCT",
     "It's a movie."),
    ("a/DET hellish/ADJ _,/PUNCT numbing/VERB ride/NOUN", "a numbing ride"),
    ("an/DET overly/ADV deliberate/ADJ pace/NOUN", "a pace"),
    ("Fine/ADJ _./PUNCT It/PRON works/VERB _./PUNCT Dull/ADJ _!/PUNCT", "It works."),
    ("It/PRON _'s/AUX mildly/ADV sentimental/ADJ _,/PUNCT unabashedly/ADV clever/ADJ _./PUNCT", "It's."),
    ("Too/ADV silly/ADJ to/PART be/AUX scary/ADJ _;/PUNCT skip/VERB it/PRON _./PUNCT", "To be; skip it."),
    ("I/PRON loved/VERB it/PRON _,/PUNCT and/CCONJ so/ADV did/AUX she/PRON _!/PUNCT",
     "I loved it, and so did she!"),
])
def test_remove_adjectives(spec, expected):
    words, spaces, pos = _tokens(spec)
    assert remove_adjectives(words, spaces, pos) == expected


def test_remove_adjectives_sees_through_space_tokens():
    # "sharp and  honest.\nSee it." as spaCy tokenises it: extra whitespace becomes SPACE tokens.
    words = ["sharp", "and", " ", "honest", ".", "\n", "See", "it", "."]
    spaces = [True, True, False, False, False, False, True, False, False]
    pos = ["ADJ", "CCONJ", "SPACE", "ADJ", "PUNCT", "SPACE", "VERB", "PRON", "PUNCT"]
    assert remove_adjectives(words, spaces, pos) == "See it."


def test_remove_adjectives_without_adjectives_is_identity():
    words, spaces, pos = _tokens("I/PRON laughed/VERB _,/PUNCT then/ADV I/PRON cried/VERB _./PUNCT")
    assert remove_adjectives(words, spaces, pos) == "".join(w + " " * s for w, s in zip(words, spaces))


def test_spacy_tags_round_trip():
    docs = rotten.tag(["A funny, touching and smart film.", "Dull  and overlong;\nskip it."])
    for doc, text in zip(docs, ["A funny, touching and smart film.", "Dull  and overlong;\nskip it."]):
        assert "".join(w + " " * s for w, s, in zip(doc["words"], doc["spaces"])) == text
    assert [w for w, p in zip(docs[0]["words"], docs[0]["pos"]) if p == "ADJ"] == ["funny", "touching", "smart"]
    assert remove_adjectives(**docs[0]) == "A film."


# --- phi and biased subsampling -------------------------------------------------------------------

def _synthetic(n=4000, seed=0) -> list[ReviewExample]:
    rng = np.random.default_rng(seed)
    concept = rng.random(n) < 0.5
    label = np.where(rng.random(n) < 0.6, concept, rng.random(n) < 0.55)  # natural phi about 0.6
    return [ReviewExample("t", "t", int(y), [], [], [], 0, int(c)) for c, y in zip(concept, label)]


def test_phi_matches_known_tables():
    assert phi([1, 1, 0, 0], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert phi([1, 1, 0, 0], [0, 0, 1, 1]) == pytest.approx(-1.0)
    assert phi([1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.0)
    assert phi([1, 1, 1], [0, 1, 0]) == 0.0  # constant concept: no correlation defined, reported as 0


@pytest.mark.parametrize("level", list(BIAS_LEVELS))
def test_biased_subsample_reaches_target(level):
    examples = _synthetic()
    kept = biased_subsample(examples, level, seed=3)
    realised = phi([e.concept for e in kept], [e.label for e in kept])
    assert abs(realised - BIAS_LEVELS[level]) <= PHI_TOLERANCE
    assert len(kept) > len(examples) // 4
    assert [id(e) for e in biased_subsample(examples, level, seed=3)] == [id(e) for e in kept]
    if len(kept) < len(examples):  # a different seed draws other examples for the same cell counts
        assert [id(e) for e in biased_subsample(examples, level, seed=4)] != [id(e) for e in kept]


# --- template world -------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=T.CONCEPTS)
def concept(request):
    return request.param


def test_templates_have_no_gendered_pronouns():
    pronouns = {"he", "she", "him", "her", "his", "hers", "himself", "herself"}
    for template in T.TEMPLATES:
        assert not pronouns & set(re.findall(r"[a-z]+", template.lower()))


def test_template_cf_changes_only_the_person(concept):
    for ex in T.template_corpus(concept, "test", n=500):
        (s, e), (s_cf, e_cf) = ex.span, ex.span_cf
        assert ex.text[:s] == ex.text_cf[:s_cf] and ex.text[e:] == ex.text_cf[e_cf:]
        assert ex.text[s:e].lower() == ex.person.lower() and ex.text_cf[s_cf:e_cf].lower() == ex.person_cf.lower()
        assert ex.person != ex.person_cf
        assert T.swap(T.swap(ex)) == ex and T.swap(ex).text == ex.text_cf


def test_partners_are_an_involution(concept):
    people = {p.words: p for split in T.SPLITS for p in T.persons(concept, split)}
    for p in people.values():
        partner = people[p.partner]
        assert partner.partner == p.words and partner.value == 1 - p.value and partner.other == p.other


def test_person_splits_are_disjoint_and_keep_pairs(concept):
    split = {s: {p.words for p in T.persons(concept, s)} for s in T.SPLITS}
    assert all(split.values())
    assert not split["train"] & split["val"] and not split["train"] & split["test"] and not split["val"] & split["test"]
    for s in T.SPLITS:
        assert {p.partner for p in T.persons(concept, s)} == split[s]
        assert {ex.person for ex in T.template_corpus(concept, s)} <= split[s]  # sentences name own persons
    total = sum(len(v) for v in split.values())
    assert 0.6 < (len(split["train"]) + len(split["val"])) / total < 0.8
    assert 0.08 < len(split["val"]) / total < 0.2
    # Every kind of person (census names, phrases, ResumeNames, Tzioumis names) reaches every split.
    kinds = {s: {p.kind for p in T.persons(concept, s)} for s in T.SPLITS}
    assert kinds["train"] == kinds["val"] == kinds["test"]


def test_race_persons_are_resume_tzioumis_or_surname_names():
    resume = {(n, g, r) for n, g, r in load_resume_names()}
    shares, surnames = load_first_name_races(), load_surname_races()
    female, male = (dict(T.census(f)) for f in ("dist.female.first", "dist.male.first"))
    people = [p for s in T.SPLITS for p in T.persons("race", s)]
    assert {p.kind for p in people} == {"resume", "tzioumis", "surname"}
    assert sum(p.kind == "tzioumis" for p in people) > sum(p.kind == "resume" for p in people)
    assert sum(p.kind == "surname" for p in people) >= 400  # the point of surnames: hundreds of persons
    words = english_words()
    for p in people:
        gender = "female" if p.other == 1 else "male"
        black, white = (p.words, p.partner) if p.value else (p.partner, p.words)
        if p.kind == "resume":
            assert (black, gender, "black") in resume and (white, gender, "white") in resume
            continue
        if p.kind == "surname":
            title = "Ms." if gender == "female" else "Mr."
            assert black.startswith(title + " ") and white.startswith(title + " ")  # the title carries gender
            b, w = (n.split(" ", 1)[1].replace("'", "").upper() for n in (black, white))
            assert surnames[b]["black"] >= T.BLACK_SHARE and surnames[w]["white"] >= T.SURNAME_WHITE
            assert not {b, w} & set(shares) and not {b.lower(), w.lower()} & words  # names, not words
            continue
        assert shares[black.upper()]["black"] >= T.BLACK_SHARE and shares[white.upper()]["white"] >= T.WHITE_SHARE
        own, other = (female, male) if gender == "female" else (male, female)
        for name in (black.upper(), white.upper()):
            assert own[name] >= T.GENDER_SHARE * (own[name] + other.get(name, 0.0))
        assert not {n for n, _, _ in resume} & {black, white}


def test_surnames_are_written_as_surnames():
    assert T._surname_case("MCCRAY") == "McCray" and T._surname_case("OBRIEN") == "O'Brien"
    assert T._surname_case("GAINES") == "Gaines" and T._surname_case("OLSON") == "Olson"


FIRST_NAME_TEST_HEAD = ["Althea", "Amber", "Amy", "Brett"]  # read before surnames were added


def test_adding_surnames_kept_the_first_name_splits():
    # Surname groups are shuffled after the first-name groups, so the first names' person splits (and with them
    # the name bank, which leaves out every val and test first name) are what they were before surnames came.
    first = {s: sorted(p.words for p in T.persons("race", s) if p.kind != "surname") for s in T.SPLITS}
    assert first["test"][:4] == FIRST_NAME_TEST_HEAD and len(first["test"]) == 32 and len(first["val"]) == 16


def _true_label(ex: T.TemplateExample) -> int:
    after = re.findall(r"[a-z]+", ex.text[ex.span[1]:].lower())
    return next(T.CLASSES.index(c) for c in T.CLASSES for w in after if w in T.EMOTIONS[c])


def test_bias_only_in_train_and_increasing(concept):
    for split in ("val", "test"):
        assert all(ex.label == _true_label(ex) for ex in T.template_corpus(concept, split, bias="aggressive"))
    bias = {level: T.realised_bias(T.template_corpus(concept, "train", bias=level)) for level in T.TEMPLATE_BIAS}
    assert abs(bias["balanced"]) < 0.05
    assert bias["gentle"] > bias["balanced"] + 0.1 and bias["aggressive"] > bias["gentle"] + 0.1
    train = T.template_corpus(concept, "train", bias="aggressive")
    flipped = [ex for ex in train if ex.label != _true_label(ex)]
    assert flipped and all(ex.value == 1 for ex in flipped)


def test_template_sizes_and_train_val_disjoint(concept):
    train, val = T.template_corpus(concept, "train"), T.template_corpus(concept, "val")
    assert (len(train), len(val), len(T.template_corpus(concept, "test"))) == (6000, 1000, 2000)
    assert not {ex.text for ex in train} & {ex.text for ex in val}
    assert not {ex.person for ex in train} & {ex.person for ex in val}
    for split in T.SPLITS:  # sentences come in mixed order, so the first few name several persons
        head = T.template_corpus(concept, split)[:12]
        assert len({ex.person for ex in head}) >= 6 and len({ex.value for ex in head}) == 2
    assert T.template_corpus(concept, "train", n=50) == T.template_corpus(concept, "train", n=50)


# --- reviews --------------------------------------------------------------------------------------

def test_review_source_counts():
    source = rotten.read_source()
    labels = Counter(label for _, label in source)
    # The file has 7403 fresh, 5405 rotten and 1097 plot rows; a few empty or repeated texts are dropped.
    assert labels[1] <= 7403 and labels[0] <= 5405 and len(source) > 12_700
    assert 0.5 < labels[1] / len(source) < 0.65  # fresh is the larger class: labels are not rebalanced


def test_reviews_loader(monkeypatch):
    # The real tagger on the corpus's first 2,000 reviews (~7 s on a fresh clone, then cached), through the same
    # code a user's first `train causalm` runs on all 12,700 (about a minute): exercised for real, not skipped.
    head = rotten.read_source()[:2000]
    monkeypatch.setattr(rotten, "read_source", lambda: head)
    texts = [text for text, _ in head]
    corpus = rotten.load_corpus()
    sizes = {k: len(v) for k, v in corpus.splits.items()}
    assert sum(sizes.values()) == len(texts)
    assert abs(sizes["train"] / len(texts) - 0.7) < 0.01 and abs(sizes["test"] / len(texts) - 0.2) < 0.01
    for ex in corpus.splits["val"][:200]:
        assert "".join(w + " " * s for w, s in zip(ex.words, ex.spaces)) == ex.text
        assert ex.concept == int(ex.n_adj >= corpus.threshold)
    train = rotten.load_reviews("train")
    for level, target in BIAS_LEVELS.items():
        kept = biased_subsample(train, level)
        assert abs(phi([e.concept for e in kept], [e.label for e in kept]) - target) <= PHI_TOLERANCE
