"""`python -m explorer audit-classifier`: what flips this model? A global audit by attribute set (issue 18 §3).

Over `n` test digits, for each attribute set (hue alone in the colour world, thickness alone, intensity alone,
all style attributes, style + the image's own latent) everything else is locked and the search looks for a
change that makes the classifier read any other class: AIP when the classifier has gradients, else
black-box AIP (CMA-ES; `method` may also ask for the random search, or both AIP and the random search: a flip
by either counts). First with the digit
locked (a flip there is the classifier changing its mind about a digit that did not change: a shortcut), then
with the digit free (where changing the digit is the expected way to flip it).

Attributes outside a set are not intervened on, but still follow the SCM's mechanisms: do(thickness) moves
intensity, as on the Image what-if page. Those consequences are reported apart (`follows`), not as edits.

The report is one flat dict of dotted keys (floats and strings; None where nothing flipped), e.g.
`by_attributes.hue.success`, `by_attributes.thickness.mean_change.thickness`, `most_flipping`,
`digit_free.by_attributes.style.digit_changed`; `most_flipping` is "none" when no attribute alone flipped it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.base import ANY, Query, SearchConfig
from explorer.counterfactual.search.blackbox import BlackBoxAIPSearch
from explorer.counterfactual.search.random_search import RandomSearch
from explorer.counterfactual.search.space import MorphoSpace
from explorer.device import pick_device
from explorer.evaluate.search import CHUNK, queries
from explorer.interfaces import Classifier
from explorer.registry import load_generator
from explorer.scm.morpho import SPECS

WORLDS = ("grey", "colour")
METHODS = ("auto", "aip", "aip-blackbox", "random", "both")
SINGLE = ("hue", "thickness", "intensity")  # the candidates for `most_flipping`
EVERYTHING = ("digit", "thickness", "intensity", "hue", "latent")  # what a search may lock
FOLLOWS = {"intensity": "thickness", "hue": "digit"}  # attribute -> the parent it follows through the SCM
LABELS = {"hue": "colour (hue) alone", "thickness": "thickness alone", "intensity": "intensity alone",
          "style": "all style attributes", "style_latent": "style + the image's own latent"}
SEARCHES = {"aip": "AIP (gradient search)", "aip-blackbox": "black-box AIP (CMA-ES, no gradients needed)",
            "random": "random search (no gradients needed)",
            "aip+random": "AIP and random search (a flip by either counts)"}
PLAIN = {"hue": "the colour", "thickness": "the stroke thickness", "intensity": "the brightness"}
FOOTNOTE = ("Attributes not searched follow the world's mechanisms (thicker strokes are drawn brighter; the colour "
            "follows the digit), shown in brackets.")
RELIES, SENSITIVE = 0.5, 0.2  # an attribute alone flipping this share of digits: "relies on", "is sensitive to"
HELD = 1e-3  # a locked attribute moved by less than this share of its range has held

Progress = Callable[[int, int], None]


def attribute_sets(coloured: bool) -> dict[str, tuple[str, ...]]:
    """The attribute sets audited in a world, by report name; "latent" is the image's own latent."""
    style = ("thickness", "intensity", "hue") if coloured else ("thickness", "intensity")
    sets = {"hue": ("hue",)} if coloured else {}
    return sets | {"thickness": ("thickness",), "intensity": ("intensity",), "style": style,
                   "style_latent": style + ("latent",)}


def locks_for(moves: tuple[str, ...], digit_free: bool) -> tuple[str, ...]:
    """Everything the search may not change when only `moves` (and the digit, if free) may."""
    return tuple(v for v in EVERYTHING if v not in moves and not (digit_free and v == "digit"))


def audit_classifier(classifier: Classifier, n: int, world: str = "grey", seed: int = 0, steps: int = 200,
                     progress: Progress | None = None, space: MorphoSpace | None = None, method: str = "auto",
                     sets: tuple[str, ...] | None = None) -> dict:
    """What flips `classifier`, by attribute set, over `n` test digits of `world` ("grey" or "colour").

    Args:
        classifier: any `Classifier` over (B, 1 or 3, 28, 28) images on 0-255; AIP is used when it is
            `differentiable`, else black-box AIP (CMA-ES), which only reads its outputs.
        n, seed: how many test digits, and which (`explorer.evaluate.search.queries`); the searches' seed.
        steps: optimisation steps (AIP) or generations (black-box AIP, random search) per query at most.
        progress: called with (queries done, queries in all) after every chunk of searches.
        space: the search space over the shipped generator (loaded when None).
        method: "auto" (AIP when the classifier has gradients, else black-box AIP), "aip", "aip-blackbox",
            "random", or "both" (AIP and the random search: a flip by either counts; needs gradients).
        sets: the attribute sets to audit, by report name (default: all of the world's; see `attribute_sets`).

    Returns:
        The flat report described in the module docstring; `to_markdown` renders it.

    Raises:
        ValueError: a bad request (see `check_request`), before anything is loaded or searched.
    """
    searches, chosen, note, chosen_sets = check_request(classifier, n, world, steps, method, sets)
    start = time.time()
    space = space or MorphoSpace(load_generator(pick_device())[0], pick_device())
    searchers = [search(space) for search in searches]
    query, _ = queries(n, world == "colour", seed)
    report: dict = {"classifier": classifier.name, "world": world, "method": chosen, "n": float(len(query)),
                    "seed": float(seed), "steps": float(steps), "sets": ",".join(chosen_sets)}
    if note:
        report["note"] = note
    jobs = [(prefix, name, moves) for prefix in ("", "digit_free.") for name, moves in chosen_sets.items()]
    counter = _Counter(len(jobs) * len(query), progress)
    for prefix, name, moves in jobs:
        config = SearchConfig(locks=locks_for(moves, bool(prefix)), steps=steps, seed=seed)
        for key, value in _run_set(searchers, query, classifier, moves, config, counter).items():
            report[f"{prefix}by_attributes.{name}.{key}"] = value
    singles = [a for a in SINGLE if a in chosen_sets]
    for prefix in ("", "digit_free.") if singles else ():
        best = max(singles, key=lambda a: report[f"{prefix}by_attributes.{a}.success"])
        report[f"{prefix}most_flipping"] = best if report[f"{prefix}by_attributes.{best}.success"] > 0 else "none"
    report["reading"] = reading(report)
    report["seconds"] = time.time() - start
    return report


def check_request(classifier: Classifier, n: int, world: str, steps: int = 200, method: str = "auto",
                  sets: tuple[str, ...] | None = None) -> tuple[tuple[type, ...], str, str, dict[str, tuple[str, ...]]]:
    """Checks an audit's options: (the search classes, the method's name, a note, the attribute sets).

    Raises:
        ValueError: with a one-line message for the user (the command line prints it and exits with status 2).
    """
    if world not in WORLDS:
        raise ValueError(f"the world must be one of {', '.join(WORLDS)}, not {world!r}")
    if n < 1 or steps < 1:
        raise ValueError(f"the number of digits and of steps must be at least 1 (got {n} and {steps})")
    searches, chosen, note = _method(classifier, method)
    return searches, chosen, note, _sets(world == "colour", sets, searches == (RandomSearch,))


def _method(classifier: Classifier, method: str) -> tuple[tuple[type, ...], str, str]:
    """(the search classes, the method's name in the report, a note for the report) for `method`."""
    gradients = bool(getattr(classifier, "differentiable", False))
    if method not in METHODS:
        raise ValueError(f"the method must be one of {', '.join(METHODS)}, not {method!r}")
    if method in ("aip", "both") and not gradients:
        raise ValueError(f"AIP needs gradients, and {classifier.name} has none: use black-box AIP (aip-blackbox) "
                         "or the random search")
    if method == "both":
        return (AIPSearch, RandomSearch), "aip+random", ("A digit counts as flipped when either AIP or the random "
                                                         "search flips it; AIP's answer is kept when both do.")
    if method == "aip" or (method == "auto" and gradients):
        return (AIPSearch,), "aip", ""
    if method in ("aip-blackbox", "auto"):
        why = "The classifier has no gradients, so" if not gradients else "As asked,"
        return (BlackBoxAIPSearch,), "aip-blackbox", (f"{why} black-box AIP (CMA-ES) was used: it only reads the "
                                                      "classifier's outputs, and moves the image's own latent "
                                                      "along 6 directions.")
    return (RandomSearch,), "random", ("As asked, the gradient-free random search was used; it keeps the image's "
                                       "own latent at the factual, so `style + latent` was not searched.")


def _sets(coloured: bool, only: tuple[str, ...] | None, random: bool) -> dict[str, tuple[str, ...]]:
    """The attribute sets to audit: the world's (less `style_latent` for the random search), or `only` those."""
    sets = attribute_sets(coloured)
    unknown = sorted(set(only or ()) - set(sets))
    if unknown:
        raise ValueError(f"no attribute set {', '.join(unknown)} in this world; there are {', '.join(sets)}")
    if random:  # the random search keeps the latent at the factual: that row would repeat `style`
        sets.pop("style_latent")
    return {k: v for k, v in sets.items() if only is None or k in only}


class _Counter:
    """Counts queries searched and tells `progress`."""

    def __init__(self, total: int, progress: Progress | None):
        self.done, self.total, self.progress = 0, total, progress

    def add(self, k: int) -> None:
        self.done += k
        if self.progress:
            self.progress(self.done, self.total)


def _part(query: Query, sl: slice) -> Query:
    return Query(query.grey[sl], {a: v[sl] for a, v in query.obs.items()},
                 {a: v[sl] for a, v in query.noise.items()}, query.coloured)


def _run_set(searchers: list, query: Query, classifier: Classifier, moves: tuple[str, ...], config: SearchConfig,
             counter: _Counter) -> dict:
    """One attribute set's searches over every query, in chunks: success, changes, whether the locks held."""
    parts = []
    for s in range(0, len(query), CHUNK):
        part = _part(query, slice(s, s + CHUNK))
        parts.append(_search_part(searchers, part, classifier, moves, config))
        counter.add(len(part))
    found = np.concatenate([p[0] for p in parts])  # (B,)
    values = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}  # each (B,)
    do, shift = [d for p in parts for d in p[2]], np.concatenate([p[3] for p in parts])
    obs = {k: np.asarray(v, np.float64) for k, v in query.obs.items()}
    out: dict = {"success": float(found.mean()), "n_flipped": float(found.sum()),
                 "locks_held": float(held(values, obs, do, shift, config.locks).mean())}
    if "digit" not in config.locks:
        out["digit_changed"] = float((values["digit"] != obs["digit"])[found].mean()) if found.any() else None
    if "latent" in moves:  # the L2 distance of the image's latent from the factual one
        out["mean_change.latent"] = float(shift[found].mean()) if found.any() else None
    for a in (a for a in SPECS if a != "digit" and a in obs):
        change = _change(a, values[a], obs[a])[found]  # (F,) on the flipped digits
        if a in moves:
            out[f"mean_change.{a}"] = float(change.mean()) if found.any() else None
        elif a in FOLLOWS and FOLLOWS[a] not in config.locks:
            out[f"follows.{a}"] = float(change.mean()) if found.any() else None
    return out


def _search_part(searchers: list, part: Query, classifier: Classifier, moves: tuple[str, ...],
                 config: SearchConfig) -> tuple[np.ndarray, dict[str, np.ndarray], list[dict], np.ndarray]:
    """(found, values, do, latent shift) per query: the first search's answer, or a later one's where only it
    flipped the classifier."""
    best = None
    for searcher in searchers:
        if best is not None and isinstance(searcher, RandomSearch) and "latent" in moves:
            continue  # the random search cannot move the latent: it would repeat the style set
        r = searcher.search(part, classifier, ANY, config)
        now = (r.found, {k: np.asarray(v, np.float64) for k, v in r.values.items()}, list(r.do),
               np.asarray(r.latent_shift, np.float64))
        if best is None:
            best = now
            continue
        take = now[0] & ~best[0]  # (B,) flipped only by this search
        best = (best[0] | take, {k: np.where(take, now[1][k], v) for k, v in best[1].items()},
                [n if t else b for n, b, t in zip(now[2], best[2], take)], np.where(take, now[3], best[3]))
    return best


def _change(name: str, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """|new - old| in the attribute's own units; hue is a circle, so 0.95 is 0.1 from 0.05."""
    d = np.abs(new - old)
    return np.minimum(d, 1.0 - d) if name == "hue" else d


def held(values: dict[str, np.ndarray], obs: dict[str, np.ndarray], do: list[dict], shift: np.ndarray,
         locks: tuple[str, ...]) -> np.ndarray:
    """(B,) whether each answer kept its locks: no do() on a locked variable, locked values unmoved (except
    where they follow an unlocked parent), and the latent unmoved when locked."""
    ok = np.array([not (set(d) & set(locks)) for d in do])
    for a in locks:
        if a == "latent":
            ok &= shift < 1e-6
        elif a in obs and not (a in FOLLOWS and FOLLOWS[a] not in locks):
            span = SPECS[a].high - SPECS[a].low
            ok &= _change(a, values[a], obs[a]) <= HELD * span
    return ok


def reading(report: dict) -> str:
    """One sentence for a non-programmer: what the digit-locked audit says the model relies on."""
    best = report.get("most_flipping")
    if best is None:
        return "No attribute was audited alone, so none can be named as the one the model relies on."
    share = 0.0 if best == "none" else report[f"by_attributes.{best}.success"]
    if share >= SENSITIVE:
        but = "it relies on" if share >= RELIES else "it is sensitive to"
        tail = "." if share >= RELIES else ", though the digit's shape still matters most."
        return (f"This model changes its mind on {PLAIN[best]} alone for {100 * share:.0f} % of digits: "
                f"{but} {PLAIN[best]}{tail}")
    alone = ("No single style attribute flipped this model" if best == "none" else
             f"No single style attribute flips this model often (at most {100 * share:.0f} % of digits, by "
             f"{PLAIN[best]})")
    style = report.get("by_attributes.style.success")
    if style is not None and style >= RELIES:
        return (f"{alone}, but all of them together flip it for {100 * style:.0f} % of digits: it relies on style "
                "as well as on the digit's shape.")
    together = "" if style is None else f"; all style attributes together flip it for {100 * style:.0f} %"
    return f"{alone}{together}: it reads the digit's shape."


def _typical(report: dict, prefix: str, name: str, moves: tuple[str, ...]) -> str:
    parts = []
    for a in (m for m in moves if m != "latent"):
        v = report.get(f"{prefix}by_attributes.{name}.mean_change.{a}")
        if v is not None:
            parts.append(_amount(a, v))
    for a, parent in FOLLOWS.items():
        v = report.get(f"{prefix}by_attributes.{name}.follows.{a}")
        if v is not None:
            parts.append(f"({_amount(a, v)}, following {parent})")
    changed = report.get(f"{prefix}by_attributes.{name}.digit_changed")
    if changed is not None:
        parts.append(f"digit changed in {100 * changed:.0f} % of flips")
    latent = report.get(f"{prefix}by_attributes.{name}.mean_change.latent")
    if latent is not None:
        parts.append(f"the image's own latent moved {latent:.2f}")
    return ", ".join(parts) if parts else "–"


def _amount(name: str, value: float) -> str:
    if value < SPECS[name].step / 2:  # less than half a slider step: would not show on the page
        return f"{name} unchanged"
    if name == "hue":
        return f"hue ±{360 * value:.0f}°"
    return f"thickness ±{value:.1f} px" if name == "thickness" else f"{name} ±{value:.0f} of 255"


def _table(report: dict, prefix: str) -> list[str]:
    sets = attribute_sets(report["world"] == "colour")
    rows = ["| what may change | flips the model | typical change when it flips |", "|---|---|---|"]
    for name, moves in sets.items():
        key = f"{prefix}by_attributes.{name}.success"
        if key not in report:
            if name == "style_latent" and report["method"] == "random":
                rows.append(f"| {LABELS[name]} | not searched | the gradient-free search keeps the latent |")
            continue
        typical = _typical(report, prefix, name, moves)
        rows.append(f"| {LABELS[name]} | {100 * report[key]:.0f} % of digits | {typical} |")
    return rows


def to_markdown(report: dict) -> str:
    """The report as a short Markdown page: a table per part and the one-sentence reading."""
    search = SEARCHES[report["method"]]
    lines = [f"# What flips {report['classifier']}?", "",
             f"{int(report['n'])} test digits of the {report['world']} world; search: {search}; "
             + "target: any other class.",
             "", f"**{report['reading']}**", ""]
    if report.get("note"):
        lines += [report["note"], ""]
    lines += ["## The digit kept the same", "",
              "A flip here means the model changed its mind about a digit that did not change.", ""]
    lines += _table(report, "")
    if report.get("most_flipping"):
        lines += ["", f"Flips it most often alone: **{report['most_flipping']}**."]
    lines += ["", "## The digit free to change too", "",
              "Here changing the digit itself is the expected way to flip it.", ""]
    lines += _table(report, "digit_free.")
    lines += ["", FOOTNOTE, ""]
    return "\n".join(lines)
