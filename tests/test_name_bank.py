"""The name bank behind the race eraser's identity subspace: no evaluated person, no emotion word, clear gender."""

from __future__ import annotations

from explorer.scm.name_bank import BANK_SENTENCES, bank_texts, name_bank
from explorer.scm.templates import CONCEPTS, EMOTIONS, census, persons


def test_the_bank_never_holds_a_validation_or_test_person_and_no_emotion_word():
    bank = name_bank()
    names = {n for n, _ in bank}
    assert len(bank) > 2000 and len(names) == len(bank)
    held_out = {p.words for c in CONCEPTS for s in ("val", "test") for p in persons(c, s)}
    assert not names & held_out
    assert not {n.lower() for n in names} & {w for words in EMOTIONS.values() for w in words}
    assert {g for _, g in bank} == {0, 1}
    female, male = dict(census("dist.female.first")), dict(census("dist.male.first"))
    assert all((female.get(n.upper(), 0) > male.get(n.upper(), 0)) == bool(g) for n, g in bank)
    # training persons may be in it: they are what the eraser is fitted on anyway
    assert names & {p.words for p in persons("race", "train")}


def test_every_name_is_read_in_the_same_sentences_name_major():
    texts = bank_texts((("Mary", 1), ("James", 0)))
    s = len(BANK_SENTENCES)
    assert len(texts) == 2 * s
    assert all("Mary" in t for t in texts[:s]) and all("James" in t for t in texts[s:])
    assert [t.replace("Mary", "James") for t in texts[:s]] == texts[s:]
