"""The Flip page's second tab, "What flips this model?": the global audit of one classifier (issue 18 §4).

The audit itself is `explorer.evaluate.audit_classifier`: over test digits, which attribute sets (hue alone,
thickness alone, intensity alone, all style, style + the image's own latent) flip the classifier, with the digit
locked and then free. This service only gets it to the page:
- a shipped classifier's audit is precomputed by `python -m explorer audit-classifier` (`make audits`) into
  `assets/audits/<classifier>.<world>.json` and read here (`shipped`);
- a visitor's uploaded classifier is audited on request (`compute`), in chunks: one attribute set over a few
  digits per call on the shared model thread (`explorer.model_thread`), so that other visitors' what-ifs and
  flips run between two chunks instead of waiting for the whole audit. The chunks' reports are merged into one
  report of the library's shape (`merge_reports`).

`audit_classifier` draws its digits itself from a seed, so a chunk of k digits is an audit of k digits with its
own seed, the seeds chosen so that no digit is audited twice (`digit_groups`). The page's audit of 20 digits is
then a sample of 20 digits like the command line's, not the same 20.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from explorer.evaluate.audit_classifier import (LABELS, SEARCHES, SINGLE, WORLDS, attribute_sets, audit_classifier,
                                                check_request, reading, to_markdown)
from explorer.evaluate.search import queries
from explorer.interfaces import Classifier
from explorer.model_thread import on_model_thread
from explorer.paths import ASSETS
from explorer.services.search import FlipService

FOLDER_ENV = "EXPLORER_AUDITS"  # another folder of precomputed audits (tests); unset: assets/audits
GROUP = 4  # digits per chunk: one chunk (an attribute set, both passes) takes ~1-3 s on a 2-core CPU at 200 steps
MIN_N, MAX_N, DEFAULT_N = 10, 50, 20  # digits an uploaded model is audited on, on the page
MAKE = "make audits"

Chunk = tuple[int, int, str]  # (the digit group's seed, its size, the attribute set)


@dataclass(frozen=True)
class AuditRow:
    """One attribute set: the share of digits it flips with the digit locked (`kept`) and free (`free`).

    None: not searched (the random search, when asked for, cannot move the image's latent).
    """

    name: str
    label: str
    kept: float | None
    free: float | None


@dataclass(frozen=True)
class AuditView:
    """Everything the tab shows of one audit.

    Attributes:
        report: the flat report (`explorer.evaluate.audit_classifier`); json and markdown: it for download.
        rows: the attribute sets in the world's order; reading: the audit in one sentence.
        search: how the classifier was searched, in words; source: where the audit comes from, in words.
        precomputed: read from a file (`seconds` is then the offline run's).
    """

    classifier: str
    world: str
    n: int
    rows: tuple[AuditRow, ...]
    reading: str
    search: str
    note: str
    markdown: str
    json: str
    source: str
    seconds: float
    report: dict
    precomputed: bool = False


class AuditUnavailable(Exception):
    """No precomputed audit can be shown: the message says why, `command` makes one."""

    def __init__(self, message: str, command: str):
        super().__init__(message)
        self.command = command


@dataclass(frozen=True)
class AuditPlan:
    """An uploaded classifier's audit as chunks: every attribute set over every digit group."""

    classifier: str
    world: str
    n: int
    seed: int
    groups: tuple[tuple[int, int], ...]  # (seed, size) per digit group
    sets: tuple[str, ...]

    @property
    def chunks(self) -> list[Chunk]:
        return [(s, k, name) for s, k in self.groups for name in self.sets]


@functools.lru_cache(maxsize=64)
def digit_groups(n: int, coloured: bool, seed: int = 0, group: int = GROUP) -> tuple[tuple[int, int], ...]:
    """`n` digits as groups of at most `group`, each (seed, size) such that no test digit is in two groups."""
    count = math.ceil(n / group)
    sizes = [n // count + (i < n % count) for i in range(count)]
    seen: set[int] = set()
    out, s = [], seed
    for k in sizes:
        while True:
            picked = set(queries(k, coloured, s)[1].tolist())  # the digits audit_classifier draws with seed s
            s += 1
            if not picked & seen:
                break
        seen |= picked
        out.append((s - 1, k))
    return tuple(out)


def merge_reports(parts: Sequence[dict], seed: int = 0) -> dict:
    """Chunks' reports (over disjoint digits, and any attribute sets) as one report of the library's shape.

    Shares of digits (`success`, `locks_held`) are weighted by each chunk's digits; means over the flipped digits
    (`mean_change.*`, `follows.*`, `digit_changed`) by each chunk's flips of that set (None where none flipped);
    `n_flipped` adds up.
    """
    first = parts[0]
    sums: dict[str, list[float]] = {}  # key -> [weighted sum, weight]
    flipped: dict[str, float] = {}
    digits: dict[str, float] = {}  # attribute set -> digits audited
    merged: dict = {}
    for part in parts:
        for key, value in part.items():
            prefix, hit, rest = key.partition("by_attributes.")
            if not hit:
                continue
            name, _, metric = rest.partition(".")
            merged.setdefault(key, None)  # the key's place in the report, and None if no chunk has a value
            if metric == "success" and not prefix:
                digits[name] = digits.get(name, 0.0) + part["n"]
            if metric == "n_flipped":
                flipped[key] = flipped.get(key, 0.0) + value
            elif value is not None:
                weight = part["n"] if metric in ("success", "locks_held") else \
                    part[f"{prefix}by_attributes.{name}.n_flipped"]
                total = sums.setdefault(key, [0.0, 0.0])
                total[0] += value * weight
                total[1] += weight
    merged |= {k: s / w for k, (s, w) in sums.items() if w} | flipped
    world = first["world"]
    sets = [name for name in attribute_sets(world == "colour") if name in digits]
    report: dict = {"classifier": first["classifier"], "world": world, "method": first["method"],
                    "n": max(digits.values(), default=0.0), "seed": float(seed), "steps": first["steps"],
                    "sets": ",".join(sets),
                    "digit_seeds": ",".join(dict.fromkeys(str(int(p["seed"])) for p in parts))}
    if first.get("note"):
        report["note"] = first["note"]
    report |= merged
    singles = [a for a in SINGLE if a in sets]
    for prefix in ("", "digit_free.") if singles else ():  # as audit_classifier names it
        best = max(singles, key=lambda a: report[f"{prefix}by_attributes.{a}.success"])
        report[f"{prefix}most_flipping"] = best if report[f"{prefix}by_attributes.{best}.success"] > 0 else "none"
    report["reading"] = reading(report)
    report["seconds"] = float(sum(p.get("seconds", 0.0) for p in parts))
    return report


def view_of(report: dict, source: str, precomputed: bool = False) -> AuditView:
    """The tab's view of a report.

    Raises:
        KeyError, TypeError, ValueError: the report is not one `audit_classifier` wrote.
    """
    report = report | {"reading": reading(report)}  # in the library's words of today, whatever the file says
    world = report["world"]
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}")
    rows = tuple(AuditRow(name, LABELS[name], report.get(f"by_attributes.{name}.success"),
                          report.get(f"digit_free.by_attributes.{name}.success"))
                 for name in attribute_sets(world == "colour"))
    if all(r.kept is None and r.free is None for r in rows):
        raise ValueError("it holds no attribute set's success rate")
    return AuditView(str(report["classifier"]), world, int(report["n"]), rows, report["reading"],
                     SEARCHES[report["method"]], str(report.get("note", "")), to_markdown(report),
                     json.dumps(report, indent=2), source, float(report.get("seconds", 0.0)), report, precomputed)


class AuditService:
    """The tab's calls, over the Flip page's service (its classifiers, its search space and step budget)."""

    def __init__(self, flip: FlipService, folder: Path | None = None):
        self.flip = flip
        self.folder = folder or Path(os.environ.get(FOLDER_ENV, ASSETS / "audits"))
        self.steps = flip.config.steps

    def path(self, name: str, world: str) -> Path:
        """Where the precomputed audit of a shipped classifier in a world lives."""
        return self.folder / f"{name}.{world}.json"

    def command(self, name: str, world: str) -> str:
        """The commands that write the precomputed audit of `name` in `world`."""
        return (f"{MAKE}\n# or this one alone:\n.venv/bin/python -m explorer audit-classifier --classifier {name} "
                f"--world {world} --n 100 --json assets/audits/{name}.{world}.json")

    def shipped(self, name: str, world: str) -> AuditView:
        """The precomputed audit of a shipped classifier in `world` ("grey" or "colour").

        Raises:
            AuditUnavailable: no file, or a file that is not this classifier's audit; says how to make it.
        """
        path = self.path(name, world)
        if not path.is_file():
            raise AuditUnavailable(f"No precomputed audit of {name} in the {world} world yet: {path.name} is not in "
                                   f"{self.folder}.", self.command(name, world))
        try:
            report = json.loads(path.read_text())
            if not isinstance(report, dict) or (report.get("classifier"), report.get("world")) != (name, world):
                raise ValueError(f"it is not the audit of {name} in the {world} world")
            return view_of(report, f"precomputed on {int(report['n'])} test digits ({path.name})", precomputed=True)
        except (OSError, KeyError, TypeError, ValueError) as err:  # json's errors are ValueErrors
            raise AuditUnavailable(f"The precomputed audit {path.name} cannot be read ({type(err).__name__}: "
                                   f"{err}).", self.command(name, world)) from None

    def plan(self, name: str, world: str, n: int, uploaded: Mapping[str, Classifier] | None = None,
             seed: int = 0) -> AuditPlan:
        """The chunks of an audit of `n` digits.

        Raises:
            ValueError: an unknown classifier or world, or `n` outside MIN_N-MAX_N.
        """
        clf = self.flip.classifier(name, uploaded)
        if not MIN_N <= n <= MAX_N:
            raise ValueError(f"the page audits {MIN_N} to {MAX_N} digits, not {n}; for more, use the command line "
                             "(python -m explorer audit-classifier)")
        sets = tuple(check_request(clf, n, world, self.steps)[3])  # AIP with gradients, else black-box AIP
        return AuditPlan(name, world, n, seed, digit_groups(n, world == "colour", seed), sets)

    def compute(self, name: str, world: str, n: int, uploaded: Mapping[str, Classifier] | None = None,
                progress: Callable[[int, int], None] | None = None,
                done: MutableMapping[Chunk, dict] | None = None, seed: int = 0) -> AuditView:
        """Audits a classifier (an upload, or a shipped one) on `n` test digits of `world`, chunk by chunk.

        Args:
            name, uploaded: the classifier, shipped or one of the visitor's uploads (kept in their session).
            progress: called with (chunks done, chunks in all) before the first chunk and after each.
            done: chunks already audited, by chunk; each new one is added, so an audit interrupted (the visitor
                moved a widget while it ran) resumes where it stopped when called again with the same `done`.

        Raises:
            ValueError: see `plan`.
        """
        plan = self.plan(name, world, n, uploaded, seed)
        clf = self.flip.classifier(name, uploaded)
        done = {} if done is None else done
        chunks = plan.chunks
        for chunk in chunks:
            if chunk not in done:
                if progress:
                    progress(sum(c in done for c in chunks), len(chunks))
                done[chunk] = self.chunk(clf, world, *chunk)  # not the whole loop: others' calls run in between
        if progress:
            progress(len(chunks), len(chunks))
        return view_of(merge_reports([done[c] for c in chunks], seed), f"computed on this page on {n} test digits")

    @on_model_thread  # one chunk: the searches' convolutions, on the warm model thread
    def chunk(self, clf: Classifier, world: str, seed: int, size: int, name: str) -> dict:
        """One attribute set over one digit group: the library's report of it."""
        return audit_classifier(clf, size, world, seed, self.steps, space=self.flip.space, sets=(name,))
