"""Explicit text counterfactuals: swaps from the template lexicon, adjective removal, the word diff.

The swaps need only the lexicon's data packages; adjective removal runs spaCy's small English model on a
few sentences (about a second to load).
"""

from __future__ import annotations

import re

import pytest

from explorer.counterfactual.text import (Change, apply_changes, swaps, text_counterfactual, visible, word_diff)
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
        assert [(c.start, c.end) for c in cf.changed_words] == [row.span] or row.person.startswith(("my ", "th"))


def test_race_swaps_only_resume_names_and_keeps_gender():
    table = swaps("race")
    cf = text_counterfactual("Lakisha called Greg; Mary listened.", "race")
    assert cf.text_cf == f"{table.names['Lakisha']} called {table.names['Greg']}; Mary listened."
    assert table.names["Lakisha"] == "Jill" and table.names["Greg"] == "Kareem"  # the lexicon's fixed pairing
    assert {c.old for c in cf.changes} == {"Lakisha", "Greg"}
    assert not table.nouns  # race has no person nouns


def test_no_concept_in_the_text_says_so():
    for concept, text in (("gender", "The weather is nice today."), ("race", "Mary and James are angry.")):
        cf = text_counterfactual(text, concept)
        assert cf.text_cf == text and cf.changes == [] and not cf.changed
        assert "so its counterfactual is the text itself" in cf.note
    assert "empty" in text_counterfactual("   ", "gender").note


def test_pronouns_are_named_not_swapped():
    cf = text_counterfactual("She said her husband was angry.", "gender")
    assert cf.text_cf == "She said her wife was angry."
    assert "pronouns (her, she) are left as written" in cf.note


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
