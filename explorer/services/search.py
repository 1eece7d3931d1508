"""The Flip-a-classifier service: one call per Run, AIP and every baseline on one digit, everything the page shows.

`FlipService.flip` asks "what is the smallest change to test digit `index` that makes this classifier say
`target`?" of every search in `explorer.counterfactual.search.methods.METHODS` (`BLACK_BOX` for a classifier
without gradients), with the same `SearchConfig`, and returns one `FlipResult`: each method's answer with the
classifier's and the independent oracle's readings, the attribute changes, the TRUE counterfactual of AIP's do()
drawn by the SCM (none after a change of digit: the SCM takes each digit's shape from real handwriting), AIP's path
and the do() the Image what-if page can open.

It reuses the Image what-if service's test digits, their noise and values in both worlds, the generator and the
classifiers (one copy per server process); only the oracle is loaded here. Uploaded classifiers are checked here
(`add_upload`) but never kept: the page keeps them in the visitor's session and hands them back to `flip`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from explorer.counterfactual.search.base import Query, SearchConfig, SearchResult
from explorer.counterfactual.search.methods import BLACK_BOX, METHODS
from explorer.counterfactual.search.space import MorphoSpace
from explorer.data.upload_onnx import OnnxUploadError
from explorer.interfaces import Classifier
from explorer.model_thread import on_model_thread
from explorer.models.onnx_classifier import load_onnx_classifier
from explorer.registry import MORPHO, load_classifier
from explorer.scm import morphology
from explorer.services.image import ImageService
from explorer.types import VarSpec

LEAD = "aip"  # the method; for a classifier without gradients the lead is BLACK_BOX's first, black-box AIP
LATENT = "latent"  # the image's own latent ("style"): lockable, but no variable of the SCM
FRAMES = 6  # images along the lead method's path


@dataclass(frozen=True)
class Reading:
    """One classifier's reading of one image: the class it reads, its probability, all probabilities (K,)."""

    label: str
    index: int
    prob: float
    probs: np.ndarray


@dataclass(frozen=True)
class Change:
    """One variable's change in an answer ("thickness 2.1 → 3.4"); `set` False: it followed its causes."""

    name: str
    before: float
    after: float
    set: bool


@dataclass
class Answer:
    """One method's answer: the image (float 0-255, (28, 28) grey or (3, 28, 28) colour) and what it means.

    Attributes:
        found: the re-checked answer makes the classifier read the target.
        reading, oracle: the classifier's and the oracle's readings of the answer.
        do: the answer's interventions (empty for the pixel and latent searches, which name no attribute).
        changes: every variable the answer changed, set by the do() or following it.
        note: why nothing was found ("" when found).
        steps: the step at which it first flipped (-1: never); latent_shift: how far the style moved.
    """

    method: str
    found: bool
    image: np.ndarray
    reading: Reading
    oracle: Reading
    do: dict[str, float]
    changes: list[Change]
    note: str
    steps: int
    latent_shift: float


@dataclass
class FlipResult:
    """Everything the page shows for one Run.

    Attributes:
        obs: the digit's factual values; original: its picture; reading, oracle: what both read on it.
        answers: {method: Answer} for the methods run, in METHODS order; skipped: {method: why it did not run}.
        lead: the method whose do() gets the TRUE counterfactual, the path and the link ("aip"; "aip-blackbox" for
            a classifier without gradients).
        true_image: the SCM's re-drawing of the lead's do() (None: see `true_note`), with both readings.
        path: the lead's images along its search (start ... answer), up to FRAMES.
        link_do: the lead's do(), for the Image what-if page (the latent offset cannot travel in a link).
    """

    index: int
    coloured: bool
    classifier: str
    engine: str
    differentiable: bool
    target: int | None
    locks: tuple[str, ...]
    steps: int
    obs: dict[str, float]
    original: np.ndarray
    reading: Reading
    oracle: Reading
    answers: dict[str, Answer] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    lead: str = LEAD
    true_image: np.ndarray | None = None
    true_reading: Reading | None = None
    true_oracle: Reading | None = None
    true_note: str = ""
    path: list[np.ndarray] = field(default_factory=list)
    link_do: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FlipPage:
    """What the page needs before a Run.

    Attributes:
        n: how many test digits there are.
        classifiers: {name: description} of the shipped classifiers; classes: {name: their class names}.
        specs: {coloured: the world's variables}, for the locks and the changes table.
        locks: {coloured: what can be locked}: the world's variables and the latent.
        methods: the searches run, in order.
        default: the classifier picked first.
    """

    n: int
    classifiers: dict[str, str]
    classes: dict[str, tuple[str, ...]]
    specs: dict[bool, dict[str, VarSpec]]
    locks: dict[bool, tuple[str, ...]]
    methods: tuple[str, ...]
    default: str


@dataclass(frozen=True)
class DigitView:
    """A test digit as the Flip page shows it before any search: the world's drawing and what both read on it.

    Attributes:
        index, coloured: the digit (clamped into range) and its world; obs: its factual values.
        picture: (28, 28) or (3, 28, 28) on 0-255, the image every search starts from (`FlipResult.original`).
        reading, oracle: the classifier's reading and the oracle's.
    """

    index: int
    coloured: bool
    obs: dict[str, float]
    picture: np.ndarray
    reading: Reading
    oracle: Reading


@dataclass(frozen=True)
class UploadOptions:
    """What an uploaded model expects of our 0-255 images, and how it is shown."""

    name: str = "uploaded (ONNX)"
    scale: float = 255
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    classes: tuple[str, ...] | None = None

    @classmethod
    def from_text(cls, name: str, scale: float, mean: str = "", std: str = "", classes: str = "") -> UploadOptions:
        """Options as typed on the page: numbers and class names separated by commas (blank: none).

        Raises:
            OnnxUploadError: a mean or std that is not a list of numbers.
        """
        def numbers(what: str, text: str) -> tuple[float, ...] | None:
            parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
            try:
                return tuple(float(p) for p in parts) or None
            except ValueError:
                raise OnnxUploadError(f"The normalisation {what} {text!r} is not a number (or numbers separated by "
                                      "commas, one per channel).") from None

        names = tuple(c.strip() for c in classes.split(",") if c.strip()) or None
        return cls(name, scale, numbers("mean", mean), numbers("std", std), names)


class FlipService:
    """Runs every counterfactual search on one test digit, over the Image service's data and models."""

    def __init__(self, image: ImageService, steps: int | None = None):
        self.image, self.device = image, image.device
        self.oracle = load_classifier(MORPHO["oracle"], image.device)
        self.space = MorphoSpace(image.generator, image.device)
        self.config = SearchConfig() if steps is None else SearchConfig(steps=steps)
        view = image.page()
        specs = {c: w.specs for c, w in view.worlds.items()}
        self._page = FlipPage(view.n, dict(view.classifiers),
                              {n: tuple(c.classes) for n, c in image.classifiers.items()}, specs,
                              {c: (*s, LATENT) for c, s in specs.items()}, tuple(METHODS), MORPHO["classifier"])

    def page(self) -> FlipPage:
        """The digit count, the shipped classifiers, what can be locked in each world, the methods."""
        return self._page

    @on_model_thread  # the upload's probe and conversion run convolutions, as the searches do
    def add_upload(self, data: bytes, options: UploadOptions) -> Classifier:
        """An uploaded ONNX model, checked, as a classifier the page keeps in the visitor's session only.

        Raises:
            OnnxUploadError: the file is refused; the message says why, for the visitor. Nothing is kept.
        """
        return load_onnx_classifier(data, name=options.name, scale=options.scale, mean=options.mean,
                                    std=options.std, classes=options.classes, device=self.device)

    def classifier(self, name: str, uploaded: Mapping[str, Classifier] | None = None) -> Classifier:
        """A shipped classifier or one of the visitor's uploads, by name; ValueError names the choices."""
        known = {**self.image.classifiers, **(uploaded or {})}
        if name not in known:
            raise ValueError(f"unknown classifier {name!r}; there are {', '.join(known)}")
        return known[name]

    @on_model_thread  # two classifier calls, as the searches make
    def digit(self, index: int, classifier_name: str, coloured: bool,
              uploaded: Mapping[str, Classifier] | None = None) -> DigitView:
        """Test digit `index` as every search starts from it, and what the classifier and the oracle read on it.

        Raises:
            ValueError: an unknown classifier.
        """
        clf = self.classifier(classifier_name, uploaded)
        index, query, _ = self._query(index, coloured)
        return self._digits(clf, [(index, query)])[0]

    @on_model_thread
    def digits(self, indices: Sequence[int], classifier_name: str, coloured: bool,
               uploaded: Mapping[str, Classifier] | None = None) -> list[DigitView]:
        """Several test digits as `digit` gives each, read in one batch by each reader (the Flip page's neighbours
        of the picked digit, swapped in by the browser on a step)."""
        clf = self.classifier(classifier_name, uploaded)
        return self._digits(clf, [self._query(i, coloured)[:2] for i in indices])

    def _digits(self, clf: Classifier, queries: list[tuple[int, Query]]) -> list[DigitView]:
        originals = [q.images()[0].numpy() for _, q in queries]  # each (C, 28, 28), tinted in the colour world
        ours, oracle = self._readings(clf, originals)
        return [DigitView(i, q.coloured, {k: float(v[0]) for k, v in q.obs.items()}, _picture(o), r, t)
                for (i, q), o, r, t in zip(queries, originals, ours, oracle, strict=True)]

    def _query(self, index: int, coloured: bool) -> tuple[int, Query, np.ndarray]:
        """(the index clamped into range, the searches' query for that digit, its stroke's skeleton)."""
        index = int(min(max(index, 0), len(self.image) - 1))
        noise, obs = self.image.row(index, coloured)
        skel = morphology.skeleton(self.image.sources[index])
        grey = self.image.render_true(skel, obs, False)  # (28, 28): the source stroke at the factual values
        return index, Query(torch.from_numpy(grey)[None, None].float(), obs, noise, coloured), skel

    @on_model_thread  # Streamlit calls from a new thread per rerun: see explorer/model_thread.py
    def flip(self, index: int, classifier_name: str, target: int | None, locks: Sequence[str], coloured: bool,
             uploaded: Mapping[str, Classifier] | None = None) -> FlipResult:
        """Every search on test digit `index` toward `target` (None: any other class), with `locks` held.

        Args:
            index: the test digit (clamped into range).
            classifier_name: a shipped classifier, or one of `uploaded`.
            target: the class index the classifier should read, or None for any class but its current one.
            locks: what may not change: any of the world's variables and "latent".
            coloured: the colour world (the classifier sees tinted digits).
            uploaded: the visitor's uploaded classifiers by name (kept in their session, not here).

        Raises:
            ValueError: an unknown classifier, lock or target.
        """
        clf = self.classifier(classifier_name, uploaded)
        locks = self._locks(locks, coloured)
        if target is not None and not 0 <= int(target) < len(clf.classes):
            raise ValueError(f"target {target} is not a class of {classifier_name} (0-{len(clf.classes) - 1})")
        index, query, skel = self._query(index, coloured)
        config = replace(self.config, locks=locks)
        differentiable = bool(getattr(clf, "differentiable", True))
        run = METHODS if differentiable else BLACK_BOX
        results = {name: make(self.space).search(query, clf, target, config) for name, make in run.items()}
        lead = next(iter(run))  # each dict lists its lead first
        path = self._path(results[lead], query, clf, target, config)
        start = self._digits(clf, [(index, query)])[0]
        out = FlipResult(index, coloured, clf.name, getattr(clf, "engine", "PyTorch"), differentiable,
                         None if target is None else int(target), locks, config.steps,
                         start.obs, start.picture, start.reading, start.oracle, lead=lead)
        out.skipped = {m: "it needs the classifier's gradients, which a model run by onnxruntime does not give"
                       for m in METHODS if m not in results}
        out.answers = self._answers(clf, results, out.obs, coloured)
        self._lead(out, results[lead], path, clf, skel)
        return out

    def _locks(self, locks: Sequence[str], coloured: bool) -> tuple[str, ...]:
        allowed = self._page.locks[True]
        bad = [name for name in locks if name not in allowed]
        if bad:
            raise ValueError(f"cannot lock {', '.join(map(repr, bad))}; locks are {', '.join(allowed)}")
        return tuple(n for n in allowed if n in locks and n in self._page.locks[coloured])  # no hue in grey

    def _read(self, clf: Classifier, images: list[np.ndarray]) -> tuple[Reading, Reading]:
        """(the classifier's reading, the oracle's) of one image (C, 28, 28); see `_readings` for several."""
        ours, oracle = self._readings(clf, images)
        return ours[0], oracle[0]

    def _readings(self, clf: Classifier, images: list[np.ndarray]) -> tuple[list[Reading], list[Reading]]:
        batch = torch.from_numpy(np.stack(images)).float()  # (N, C, 28, 28) on 0-255
        with torch.inference_mode():
            ours = clf.predict_proba(batch).cpu().numpy()  # (N, K)
            oracle = self.oracle.predict_proba(batch).cpu().numpy()  # (N, 10)
        return ([_reading(p, clf.classes) for p in ours], [_reading(p, self.oracle.classes) for p in oracle])

    def _answers(self, clf: Classifier, results: dict[str, SearchResult], obs: dict[str, float],
                 coloured: bool) -> dict[str, Answer]:
        images = [r.images[0].detach().cpu().numpy() for r in results.values()]  # each (C, 28, 28)
        ours, oracle = self._readings(clf, images)
        specs = self._page.specs[coloured]
        out = {}
        for (name, r), image, reading, said in zip(results.items(), images, ours, oracle):
            do = {k: int(round(v)) if k == "digit" else float(v) for k, v in r.do[0].items()}
            after = {k: float(np.asarray(v)[0]) for k, v in r.values.items()}
            changes = [Change(k, obs[k], after[k], k in do) for k, spec in specs.items()  # as the sliders see them
                       if k in after and abs(after[k] - obs[k]) >= spec.step / 2]
            out[name] = Answer(name, bool(r.found[0]), _picture(image), reading, said, do, changes,
                               r.notes[0] if r.notes else "", int(r.steps[0]), float(r.latent_shift[0]))
        return out

    def _path(self, result: SearchResult, query: Query, clf: Classifier, target: int | None,
              config: SearchConfig) -> torch.Tensor | None:
        """(1, F, C, 28, 28) images along the lead's search, spread over the steps it actually took.

        AIP keeps its frames on a schedule planned for its whole step budget, and usually flips the classifier
        within a few steps of 200: its own path then holds the start only. It is deterministic, so running it
        again with the budget it used (stopping at the same step) spreads the frames over its real path.
        """
        first = int(result.steps[0])
        if result.method != LEAD or first < 1 or first + 1 >= config.steps:
            return result.path
        return METHODS[LEAD](self.space).search(query, clf, target, replace(config, steps=first + 1)).path

    def _lead(self, out: FlipResult, result: SearchResult, path: torch.Tensor | None, clf: Classifier,
              skel: np.ndarray) -> None:
        """The lead method's TRUE counterfactual, path and link into `out`."""
        answer = out.answers[out.lead]
        out.link_do = dict(answer.do)
        frames = [] if path is None else [f.detach().cpu().numpy() for f in path[0]]
        if frames or answer.found:
            frames = (frames[: FRAMES - 1] + [result.images[0].detach().cpu().numpy()])  # the answer comes last
        out.path = [_picture(f) for f in frames]
        if not answer.found:
            out.true_note = "nothing was found, so there is no answer to re-draw"
        elif "digit" in answer.do:
            out.true_note = ("the digit changed, and the world takes each digit's shape from a real person's "
                             "handwriting, not from a rule that can be re-run: nobody knows how this writer would "
                             "have drawn another digit")
        else:
            values = {k: np.asarray(v)[:1] for k, v in result.values.items()}
            true = self.image.render_true(skel, values, out.coloured)  # (28, 28) or (3, 28, 28)
            out.true_image = true
            out.true_reading, out.true_oracle = self._read(clf, [_chw(true)])


def _reading(probs: np.ndarray, classes: Sequence[str]) -> Reading:
    k = int(np.argmax(probs))
    return Reading(str(classes[k]), k, float(probs[k]), probs)


def _picture(image: np.ndarray) -> np.ndarray:
    """(C, 28, 28) -> (28, 28) for grey, kept (3, 28, 28) for colour: as the Image page's pictures are."""
    return image[0] if image.ndim == 3 and image.shape[0] == 1 else image


def _chw(image: np.ndarray) -> np.ndarray:
    return image[None] if image.ndim == 2 else image
