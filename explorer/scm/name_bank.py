"""A bank of first names read in fixed template sentences: where name identity lives in a representation.

The race eraser (explorer/models/erasure.py, `NameBank`) removes the subspace along which many names differ.
Names come from the Tzioumis table (explorer/data/race_names.py) whose gender is clear in the census lists.
The persons of every validation and test split are left out, so no evaluated name shapes the eraser; names that
are also emotion words (Joy, Hope...) are left out too, since they would read as the label.
"""

from __future__ import annotations

import functools

from explorer.data.race_names import load_first_name_races
from explorer.scm.templates import (CLASSES, CONCEPTS, EMOTIONS, GENDER_SHARE, TEMPLATES, census, fill_template,
                                    persons)

# The fixed sentences every bank name is read in: (template index, emotion class, emotion word index). Every
# name meets the same sentences, so the differences between names' mean representations are the names' own.
BANK_SENTENCES = ((0, "anger", 0), (1, "fear", 0), (2, "joy", 0))


@functools.lru_cache(maxsize=None)
def name_bank() -> tuple[tuple[str, int], ...]:
    """((Name, gender 1 female / 0 male), ...) by the table's order; no val or test person of any concept."""
    female, male = dict(census("dist.female.first")), dict(census("dist.male.first"))
    held_out = {p.words.upper() for c in CONCEPTS for s in ("val", "test") for p in persons(c, s)}
    emotion_words = {w.upper() for words in EMOTIONS.values() for w in words} | {c.upper() for c in CLASSES}
    out = []
    for name in load_first_name_races():
        if not name.isalpha() or name in held_out or name in emotion_words:
            continue
        f, m = female.get(name, 0.0), male.get(name, 0.0)
        if f >= GENDER_SHARE * (f + m) > 0:
            out.append((name.title(), 1))
        elif m >= GENDER_SHARE * (f + m) > 0:
            out.append((name.title(), 0))
    return tuple(out)


def bank_texts(names: tuple[tuple[str, int], ...]) -> list[str]:
    """(N,) names -> (N * S,) sentences, name-major: the S fixed sentences of the first name, then the next."""
    return [fill_template(TEMPLATES[t], name, EMOTIONS[c][w])[0] for name, _ in names for t, c, w in BANK_SENTENCES]
