"""`python -m explorer audit-classifier`: what flips this model? A global audit by attribute set (issue 18 §3).

Over `n` test digits, for each attribute set (hue alone in the colour world, thickness alone, intensity alone,
all style attributes, style + the image's own latent) everything else is locked and the search looks for a
change that makes the classifier read any other class: AIP when the classifier has gradients, else the
gradient-free random search. First with the digit locked (a flip there is the classifier changing its mind
about a digit that did not change: a shortcut), then with the digit free (where changing the digit is the
expected way to flip it).

Attributes outside a set are not intervened on, but still follow the SCM's mechanisms: do(thickness) moves
intensity, as on the Image what-if page. Those consequences are reported apart (`follows`), not as edits.

The report is one flat dict of dotted keys (floats and strings; None where nothing flipped), e.g.
`by_attributes.hue.success`, `by_attributes.thickness.mean_change.thickness`, `most_flipping`,
`digit_free.by_attributes.style.digit_changed`.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.base import ANY, Query, SearchConfig
from explorer.counterfactual.search.random_search import RandomSearch
from explorer.counterfactual.search.space import MorphoSpace
from explorer.device import pick_device
from explorer.evaluate.search import CHUNK, queries
from explorer.interfaces import Classifier
from explorer.registry import load_generator
from explorer.scm.morpho import SPECS

WORLDS = ("grey", "colour")
METHODS = ("auto", "aip", "random")
SINGLE = ("hue", "thickness", "intensity")  # the candidates for `most_flipping`
EVERYTHING = ("digit", "thickness", "intensity", "hue", "latent")  # what a search may lock
FOLLOWS = {"intensity": "thickness", "hue": "digit"}  # attribute -> the parent it follows through the SCM
LABELS = {"hue": "colour (hue) alone", "thickness": "thickness alone", "intensity": "intensity alone",
          "style": "all style attributes", "style_latent": "style + the image's own latent"}
PLAIN = {"hue": "the colour", "thickness": "the stroke thickness", "intensity": "the brightness"}
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
            `differentiable`, else the gradient-free random search.
        n, seed: how many test digits, and which (`explorer.evaluate.search.queries`); the searches' seed.
        steps: optimisation steps (AIP) or generations (random search) per query at most.
        progress: called with (queries done, queries in all) after every chunk of searches.
        space: the search space over the shipped generator (loaded when None).
        method: "auto" (AIP when the classifier has gradients, else the random search), "aip" or "random".
        sets: the attribute sets to audit, by report name (default: all of the world's; see `attribute_sets`).

    Returns:
        The flat report described in the module docstring; `to_markdown` renders it.
    """
    if world not in WORLDS:
        raise ValueError(f"the world must be one of {', '.join(WORLDS)}, not {world!r}")
    start, coloured = time.time(), world == "colour"
    search, chosen, note = _method(classifier, method)
    chosen_sets = _sets(coloured, sets, search is RandomSearch)
    searcher = search(space or MorphoSpace(load_generator(pick_device())[0], pick_device()))
    query, _ = queries(n, coloured, seed)
    report: dict = {"classifier": classifier.name, "world": world, "method": chosen, "n": float(len(query)),
                    "seed": float(seed), "steps": float(steps), "sets": ",".join(chosen_sets)}
    if note:
        report["note"] = note
    jobs = [(prefix, name, moves) for prefix in ("", "digit_free.") for name, moves in chosen_sets.items()]
    counter = _Counter(len(jobs) * len(query), progress)
    for prefix, name, moves in jobs:
        config = SearchConfig(locks=locks_for(moves, bool(prefix)), steps=steps, seed=seed)
        for key, value in _run_set(searcher, query, classifier, moves, config, counter).items():
            report[f"{prefix}by_attributes.{name}.{key}"] = value
    singles = [a for a in SINGLE if a in chosen_sets]
    for prefix in ("", "digit_free.") if singles else ():
        best = max(singles, key=lambda a: report[f"{prefix}by_attributes.{a}.success"])
        report[f"{prefix}most_flipping"] = best
    report["reading"] = reading(report)
    report["seconds"] = time.time() - start
    return report


def _method(classifier: Classifier, method: str) -> tuple[type, str, str]:
    """(the search class, its name, a note for the report) for `method` on `classifier`."""
    gradients = bool(getattr(classifier, "differentiable", False))
    if method not in METHODS:
        raise ValueError(f"the method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "aip" and not gradients:
        raise ValueError(f"AIP needs gradients, and {classifier.name} has none: use the random search")
    if method == "aip" or (method == "auto" and gradients):
        return AIPSearch, "aip", ""
    why = "The classifier has no gradients, so" if not gradients else "As asked,"
    return RandomSearch, "random", (f"{why} the gradient-free random search was used; it keeps the image's own "
                                    "latent at the factual, so `style + latent` was not searched.")


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


def _run_set(method, query: Query, classifier: Classifier, moves: tuple[str, ...], config: SearchConfig,
             counter: _Counter) -> dict:
    """One attribute set's searches over every query, in chunks: success, changes, whether the locks held."""
    found, values, do, shift = [], [], [], []
    for s in range(0, len(query), CHUNK):
        part = _part(query, slice(s, s + CHUNK))
        result = method.search(part, classifier, ANY, config)
        found.append(result.found)
        values.append({k: np.asarray(v, np.float64) for k, v in result.values.items()})
        do += result.do
        shift.append(np.asarray(result.latent_shift, np.float64))
        counter.add(len(part))
    found = np.concatenate(found)  # (B,)
    values = {k: np.concatenate([v[k] for v in values]) for k in values[0]}  # each (B,)
    obs = {k: np.asarray(v, np.float64) for k, v in query.obs.items()}
    out: dict = {"success": float(found.mean()), "n_flipped": float(found.sum()),
                 "locks_held": float(_held(values, obs, do, np.concatenate(shift), config.locks).mean())}
    digit_moved = values["digit"] != obs["digit"]  # (B,)
    if "digit" not in config.locks:
        out["digit_changed"] = float(digit_moved[found].mean()) if found.any() else None
    for a in (a for a in SPECS if a != "digit" and a in obs):
        change = _change(a, values[a], obs[a])[found]  # (F,) on the flipped digits
        if a in moves:
            out[f"mean_change.{a}"] = float(change.mean()) if found.any() else None
        elif a in FOLLOWS and FOLLOWS[a] not in config.locks:
            out[f"follows.{a}"] = float(change.mean()) if found.any() else None
    return out


def _change(name: str, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """|new - old| in the attribute's own units; hue is a circle, so 0.95 is 0.1 from 0.05."""
    d = np.abs(new - old)
    return np.minimum(d, 1.0 - d) if name == "hue" else d


def _held(values: dict[str, np.ndarray], obs: dict[str, np.ndarray], do: list[dict], shift: np.ndarray,
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
    share = report[f"by_attributes.{best}.success"]
    pct = f"{100 * share:.0f} %"
    if share >= RELIES:
        return f"This model changes its mind on {PLAIN[best]} alone for {pct} of digits: it relies on {PLAIN[best]}."
    if share >= SENSITIVE:
        return (f"This model changes its mind on {PLAIN[best]} alone for {pct} of digits: it is sensitive to "
                f"{PLAIN[best]}, though the digit's shape still matters most.")
    style = report.get("by_attributes.style.success")
    together = "" if style is None else f"; {100 * style:.0f} % with all style attributes together"
    return (f"No single style attribute flips this model often (at most {pct} of digits, by {PLAIN[best]}"
            f"{together}): it reads the digit's shape.")


def _typical(report: dict, prefix: str, name: str, moves: tuple[str, ...]) -> str:
    parts = []
    for a in moves:
        v = report.get(f"{prefix}by_attributes.{name}.mean_change.{a}")
        if v is not None:
            parts.append(_amount(a, v))
    for a in FOLLOWS:
        v = report.get(f"{prefix}by_attributes.{name}.follows.{a}")
        if v is not None:
            parts.append(f"({_amount(a, v)}, following {FOLLOWS[a]})")
    changed = report.get(f"{prefix}by_attributes.{name}.digit_changed")
    if changed is not None:
        parts.append(f"digit changed in {100 * changed:.0f} % of flips")
    if "latent" in moves:
        parts.append("plus the image's latent")
    return ", ".join(parts) if parts else "–"


def _amount(name: str, value: float) -> str:
    if name == "hue":
        return f"hue ±{360 * value:.0f}°"
    return f"{name} ±{value:.2f}{' px' if name == 'thickness' else ' of 255'}"


def _table(report: dict, prefix: str) -> list[str]:
    sets = attribute_sets(report["world"] == "colour")
    rows = ["| what may change | flips the model | typical change when it flips |", "|---|---|---|"]
    for name, moves in sets.items():
        key = f"{prefix}by_attributes.{name}.success"
        if key not in report:
            if name == "style_latent" and report["method"] == "random":
                rows.append(f"| {LABELS[name]} | not searched | the gradient-free search keeps the latent |")
            continue
        rows.append(f"| {LABELS[name]} | {100 * report[key]:.0f} % of digits | {_typical(report, prefix, name, moves)} |")
    return rows


def to_markdown(report: dict) -> str:
    """The report as a short Markdown page: a table per part and the one-sentence reading."""
    search = "AIP (gradient search)" if report["method"] == "aip" else "random search (no gradients needed)"
    lines = [f"# What flips {report['classifier']}?", "",
             f"{int(report['n'])} test digits of the {report['world']} world; search: {search}; "
             f"target: any other class.", "", f"**{report['reading']}**", ""]
    if report.get("note"):
        lines += [report["note"], ""]
    lines += ["## The digit kept the same", "",
              "A flip here means the model changed its mind about a digit that did not change.", ""]
    lines += _table(report, "")
    if report.get("most_flipping"):
        lines += ["", f"Flips it most often alone: **{report['most_flipping']}**."]
    lines += ["", "## The digit free to change too", "", "Here changing the digit itself is the expected way to flip it.",
              ""]
    lines += _table(report, "digit_free.")
    lines += ["", "Attributes not searched follow the world's mechanisms (thicker strokes are drawn brighter; the "
              "colour follows the digit), shown in brackets.", ""]
    return "\n".join(lines)
