"""Explicit text counterfactuals: swaps from the template lexicon, pronouns, adjective removal, the word diff.

The swaps need only the lexicon's data packages; adjective removal, and the gender swap of "her" / "his",
run spaCy's small English model on a few sentences (about a second to load).
"""

from __future__ import annotations

import re

import pytest

from explorer.counterfactual.text import (RULES, Change, apply_changes, swaps, text_counterfactual, visible,
                                          word_diff)
from explorer.scm.templates import template_corpus


def _check_rebuilds(cf) -> None:
    """The changes turn the text into its counterfactual, and the cf spans point at the new words."""
    assert apply_changes(cf.text, cf.changes) == cf.text_cf
    for change, (start, end) in zip(cf.changes, cf.cf_spans()):
        assert cf.text[change.start:change.end] == change.old
        assert cf.text_cf[start:end] == change.new


# --- gender and race --------------------------------------------------------------------------------------
def test_gender_swaps_names_and_person_nouns_only():
    text = "Mary told my sister that James and the boys were furious."
    cf = text_counterfactual(text, "gender")
    assert cf.text_cf == "James told my brother that Mary and the girls were furious."
    assert [(c.old, c.new) for c in cf.changes] == [("Mary", "James"), ("sister", "brother"),
                                                    ("James", "Mary"), ("boys", "girls")]
    _check_rebuilds(cf)
    # everything outside the changed words is untouched, character for character
    assert re.sub(r"Mary|James|sister|brother|boys|girls", "_", text) == \
        re.sub(r"Mary|James|sister|brother|boys|girls", "_", cf.text_cf)


def test_swaps_preserve_case_and_respect_word_boundaries():
    cf = text_counterfactual("SISTER! Sister, my sister's WIFE saw MARY and Rose.", "gender")
    assert cf.text_cf == "BROTHER! Brother, my brother's HUSBAND saw JAMES and Benjamin."
    # inside longer words, and names written in lower case (a flower, a verb), nothing changes
    for text in ("Sisterhood and womanly manners.", "A rose; mark my words; frank talk."):
        same = text_counterfactual(text, "gender")
        assert same.text_cf == text and same.changes == []


def test_swapping_twice_gives_the_text_back():
    text = "Tyrone, Lakisha and Emily met my aunt."
    for concept in ("gender", "race"):
        once = text_counterfactual(text, concept)
        assert once.changed
        assert text_counterfactual(once.text_cf, concept).text_cf == text


@pytest.mark.parametrize("concept", ["gender", "race"])
def test_rewrite_reproduces_the_corpus_true_counterfactuals(concept):
    rows = template_corpus(concept, "test")[:300]
    for row in rows:
        cf = text_counterfactual(row.text, concept)
        assert cf.text_cf == row.text_cf, row.text
        # a name is the whole span; in "my sister" or "Ms. Gaines" the one changed word lies inside it
        changed = [(c.start, c.end) for c in cf.changed_words]
        assert changed == [row.span] or (row.person.startswith(("my ", "th", "Mr. ", "Ms. "))
                                         and len(changed) == 1 and row.span[0] < changed[0][0]
                                         and changed[0][1] <= row.span[1])


def test_race_swaps_only_resume_names_and_keeps_gender():
    table = swaps("race")
    cf = text_counterfactual("Lakisha called Greg; Mary listened.", "race")
    assert cf.text_cf == f"{table.names['Lakisha']} called {table.names['Greg']}; Mary listened."
    assert table.names["Lakisha"] == "Jill" and table.names["Greg"] == "Kareem"  # the lexicon's fixed pairing
    assert {c.old for c in cf.changes} == {"Lakisha", "Greg"}
    assert not table.nouns  # race has no person nouns


def test_race_swaps_surnames_after_any_title_and_keeps_the_title():
    table = swaps("race")
    partner = table.names["Gaines"]  # the commonest surname of the lexicon, paired by frequency rank
    assert partner == "Wagner" and table.names["Wagner"] == "Gaines"
    cf = text_counterfactual("Ms. Gaines met Dr. Wagner and Mr. O'Brien; gaines is a word here.", "race")
    irish = table.names["O'Brien"]
    assert cf.text_cf == f"Ms. Wagner met Dr. Gaines and Mr. {irish}; gaines is a word here."
    assert table.names["McCray"] == "Johnston"  # census capitals written as surnames are written


def test_no_concept_in_the_text_says_so():
    for concept, text in (("gender", "The weather is nice today."), ("race", "Mary and James are angry.")):
        cf = text_counterfactual(text, concept)
        assert cf.text_cf == text and cf.changes == [] and not cf.changed
        assert "so its counterfactual is the text itself" in cf.note
    assert "empty" in text_counterfactual("   ", "gender").note


def test_gender_swaps_the_pronouns_of_the_teachers_examples():
    cf = text_counterfactual("She was furious with him.", "gender")
    assert cf.text_cf == "He was furious with her." and cf.changed
    assert [(c.old, c.new) for c in cf.changes] == [("She", "He"), ("him", "her")]
    _check_rebuilds(cf)
    cf = text_counterfactual("Mary was so angry at her brother because he forgot her birthday", "gender")
    assert cf.text_cf == "James was so angry at his sister because she forgot his birthday"
    assert [(c.old, c.new) for c in cf.changes] == [("Mary", "James"), ("her", "his"), ("brother", "sister"),
                                                    ("he", "she"), ("her", "his")]
    _check_rebuilds(cf)
    assert "left as written" not in cf.note and "spaCy's tagger" in cf.note


@pytest.mark.parametrize("text, text_cf", [
    ("She was angry with her.", "He was angry with him."),        # object: PRP
    ("She said her husband was angry.", "He said his wife was angry."),  # determiner: PRP$
    ("I gave her the book.", "I gave him the book."),             # a word follows, yet the tag says object
    ("Give it to her!", "Give it to him!"),
    ("His dog bit her.", "Her dog bit him."),                     # his as determiner -> her
    ("The book is his.", "The book is hers."),                    # standalone his -> hers
    ("That car is his, not hers.", "That car is hers, not his."),
    ("His was the best.", "Hers was the best."),
    ("He hurt himself and she laughed at herself.", "She hurt herself and he laughed at himself."),
])
def test_her_and_his_follow_the_tagger(text, text_cf):
    cf = text_counterfactual(text, "gender")
    assert cf.text_cf == text_cf
    _check_rebuilds(cf)


def _fake_tagger(tags):
    """A stand-in for spaCy whose tags we choose: proves the tag, not the next word, decides."""
    import spacy
    from spacy.tokens import Doc

    vocab = spacy.blank("en").vocab

    def nlp(text):
        words = text.rstrip(".").split() + ["."]
        return Doc(vocab, words=words, spaces=[True] * (len(words) - 2) + [False, False], tags=tags)
    return nlp


@pytest.mark.parametrize("tag, expected", [("PRP$", "I saw his dog."), ("PRP", "I saw him dog.")])
def test_her_is_decided_by_its_tag(monkeypatch, tag, expected):
    import explorer.counterfactual.text as module

    monkeypatch.setattr(module, "tagger", lambda: _fake_tagger(["PRP", "VBD", tag, "NN", "."]))
    assert text_counterfactual("I saw her dog.", "gender").text_cf == expected


def test_case_is_kept_at_sentence_start_and_in_capitals():
    cf = text_counterfactual("HER mother called. SHE was angry at HIM. Her son? He said so.", "gender")
    assert cf.text_cf == "HIS father called. HE was angry at HER. His daughter? She said so."
    _check_rebuilds(cf)
    # whole words only: nothing inside "Hermione", "these", "shell", "history", "Sheriff"
    same = "Hermione saw these shells in the history book of the Sheriff."
    assert text_counterfactual(same, "gender").changes == []


def test_titles_and_common_gendered_words_with_plurals():
    cf = text_counterfactual("Mr. Smith and Mrs. Jones met Ms Lee.", "gender")
    assert cf.text_cf == "Ms. Smith and Mr. Jones met Mr Lee."  # documented choice: Mr. -> Ms., Mrs./Ms. -> Mr.
    assert [(c.old, c.new) for c in cf.changes] == [("Mr", "Ms"), ("Mrs", "Mr"), ("Ms", "Mr")]
    _check_rebuilds(cf)
    # only the capitalised title: "MS" (a manuscript) and "ms" (milliseconds) stay
    assert text_counterfactual("The MS draft took 10 ms.", "gender").changes == []
    text = "Mom and Dad; the Queen and the kings; grandmas and GRANDPAS; my granddaughter."
    cf = text_counterfactual(text, "gender")
    assert cf.text_cf == "Dad and Mom; the King and the queens; grandpas and GRANDMAS; my grandson."
    _check_rebuilds(cf)
    cf = text_counterfactual("Women and men, ladies and gentlemen, girls and boys, wives and actresses.", "gender")
    assert cf.text_cf == "Men and women, gentlemen and ladies, boys and girls, husbands and actors."
    # a text that writes "mum" keeps the British spelling for "dad"; otherwise "dad" becomes "mom"
    assert text_counterfactual("My mum and dad are here.", "gender").text_cf == "My dad and mum are here."
    assert text_counterfactual("My dad is here.", "gender").text_cf == "My mom is here."


def test_swapping_twice_gives_pronouns_back_where_the_mapping_is_one_to_one():
    for text in ("She was furious with him.", "Mary was so angry at her brother because he forgot her birthday",
                 "The book is his.", "Her brother and his wife argued with her and him.",
                 "I told her that his idea was good.", "He hurt himself.", "Mom met the Queen.",
                 "My mum and dad are here.", "Mr. Smith left."):
        once = text_counterfactual(text, "gender")
        assert once.changed and text_counterfactual(once.text_cf, "gender").text_cf == text, text
    # Not one to one, by design: Mrs. -> Mr. -> Ms., and "mum" -> "dad" -> "mom" in a text without "mum".
    assert text_counterfactual("Mr. Jones", "gender").text_cf == "Ms. Jones"
    assert text_counterfactual(text_counterfactual("Mrs. Jones", "gender").text_cf, "gender").text_cf == "Ms. Jones"
    assert text_counterfactual(text_counterfactual("Mum!", "gender").text_cf, "gender").text_cf == "Mom!"
    # Not one to one, by the language: him -> her -> his when the new "her" can read as a determiner. "She
    # gave him flowers." -> "He gave her flowers." -> "She gave his flowers.": the tagger reads "her flowers"
    # as possessive, and without the speaker's meaning it cannot be told apart. Likewise the tagger reads
    # "He made her cry." as "her cry" (PRP$) and writes "She made his cry.": a known slip of the small model.


def test_plain_sentences_do_not_run_spacy(monkeypatch):
    import explorer.counterfactual.text as module

    def no_tagger():
        raise AssertionError("spaCy was run")

    monkeypatch.setattr(module, "tagger", no_tagger)
    assert text_counterfactual("She was furious with him.", "gender").text_cf == "He was furious with her."
    assert text_counterfactual("My sister met Mr. Lee.", "gender").text_cf == "My brother met Ms. Lee."
    cf = text_counterfactual("The weather is nice today.", "gender")
    assert not cf.changed and "tagger" not in cf.note
    for row in template_corpus("gender", "test"):  # the whole test split: no template has a pronoun
        assert text_counterfactual(row.text, "gender").text_cf == row.text_cf, row.text
    with pytest.raises(AssertionError, match="spaCy was run"):
        text_counterfactual("She saw her.", "gender")


def test_race_and_adjectives_ignore_pronouns_and_gendered_words():
    table = swaps("race")
    cf = text_counterfactual("She told Lakisha's mom and Mr. Lee about him and his wife.", "race")
    assert cf.text_cf == f"She told {table.names['Lakisha']}'s mom and Mr. Lee about him and his wife."
    assert [c.old for c in cf.changes] == ["Lakisha"] and not table.titles
    assert "tagger" not in cf.note
    cf = text_counterfactual("She gave her brother a lovely gift.", "adjectives")
    assert cf.text_cf == "She gave her brother a gift."


def test_the_gender_rule_describes_pronouns():
    assert "*her* becomes *his* before a noun" in RULES["gender"] and "*Mr.* → *Ms.*" in RULES["gender"]
    assert "pronoun" not in RULES["race"] and "pronoun" not in RULES["adjectives"]


def test_unknown_concept_is_refused():
    with pytest.raises(ValueError, match="unknown concept"):
        text_counterfactual("Mary is here.", "age")


# --- adjectives (spaCy) -----------------------------------------------------------------------------------
def test_adjective_removal_on_a_fixed_sentence():
    cf = text_counterfactual("A funny, clever and very charming film with a dull ending.", "adjectives")
    assert cf.text_cf == "A film with an ending."
    _check_rebuilds(cf)
    removed = " ".join(c.old for c in cf.changed_words)
    for word in ("funny", "clever", "charming", "dull", "very"):
        assert word in removed
    assert "film" not in removed and "ending" not in removed
    assert cf.note == "4 adjectives removed."


def test_no_adjective_says_so_and_emoji_or_other_scripts_do_not_crash():
    cf = text_counterfactual("The film ends at noon.", "adjectives")
    assert cf.text_cf == cf.text and not cf.changed and "no adjective" in cf.note
    for text in ("🎬🍿 great 😀", "Это был хороший фильм.", "这部电影很好。"):
        cf = text_counterfactual(text, "adjectives")
        _check_rebuilds(cf)


# --- the word diff ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b", [
    ("A very funny film.", "A film."),
    ("Good.", ""),
    ("great  acting,\nweak plot", "Acting, plot"),
    ("", "new text"),
    ("same", "same"),
])
def test_word_diff_rebuilds_the_counterfactual(a, b):
    changes = word_diff(a, b)
    assert apply_changes(a, changes) == b
    assert all(isinstance(c, Change) for c in changes)


def test_case_and_spacing_only_changes_are_not_visible():
    assert not visible(Change(0, 5, "great", "Great"))
    assert not visible(Change(0, 2, "  ", " "))
    assert visible(Change(0, 5, "great", ""))


def test_more_gendered_words_and_their_plurals_are_swapped():
    from explorer.counterfactual.text import swap_gender

    assert swap_gender("The chairman and the businesswoman met the policemen.").text_cf == \
        "The chairwoman and the businessman met the policewomen."
    assert swap_gender("The bride thanked the waitresses and the princes.").text_cf == \
        "The groom thanked the waiters and the princesses."
    assert swap_gender("Sir, my fiancée and the nuns are here.").text_cf == "Madam, my fiancé and the monks are here."


def test_groom_as_a_verb_is_not_swapped():
    from explorer.counterfactual.text import swap_gender

    verb = swap_gender("They groom the horses every day.")
    assert verb.text_cf == "They groom the horses every day." and not verb.changed
    assert swap_gender("She grooms her dog.").text_cf == "He grooms his dog."
    noun = swap_gender("The bride and groom danced.")
    assert noun.text_cf == "The groom and bride danced." and "tagger" in noun.note


def test_king_after_a_name_is_a_surname_and_stays():
    from explorer.counterfactual.text import swap_gender

    assert swap_gender("Stephen King wrote a scary book.").text_cf.endswith(" King wrote a scary book.")
    assert swap_gender("The King and the queens left.").text_cf == "The Queen and the kings left."
    assert swap_gender("Queen Elizabeth waved.").text_cf.startswith("King ")
