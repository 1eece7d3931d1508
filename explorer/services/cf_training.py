"""The "Train with counterfactuals" service: everything its page shows, and the one training worker of the server.

Per confounding strength (`STRENGTHS`): training samples drawn by the world itself (TRUE renders, four of each
digit), the training split's confounding matrix, and the counterfactuals the methods train with (do(hue) and
do(digit) answered by that strength's robust RGB generator, beside the TRUE do(hue)). Over the whole grid: the
shipped results (`evaluate cf-training`'s JSON) and a plain-language reading computed from them.

**Train now** (`submit`): a small run of the chosen methods at one strength, queued behind any other visitor's
(`TrainQueue`: one training per server process, on one torch thread, so the other pages stay responsive). While it
runs, `LiveCurves` (explorer/services/cf_live_curves.py) scores the model on fixed IID and OOD test subsets every few
steps; a cancel stops Lightning at the next step and nothing is saved. The models are saved to a temporary folder of
the job, loaded back as classifiers the visitor's session keeps for the Flip page, and the folder is removed: nothing
stays on disk.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from explorer.datasets.confounded import STRENGTHS, ConfoundedData, band, confounded_values, load_confounded
from explorer.device import pick_device
from explorer.metrics.split_confounding import split_confounding
from explorer.model_thread import on_model_thread
from explorer.models.cnn import TorchClassifier
from explorer.paths import ROOT
from explorer.registry import load_rgb_generator
from explorer.scm.morpho import tint
from explorer.training.cf_bank import generator_bank
from explorer.training.cf_runs import folder_name, load_cf_classifier
from explorer.training.run_configs import METHODS, CFTrainConfig
from explorer.types import DEFAULT_SEED

TRAINABLE = tuple(m for m in METHODS if m != "unconfounded")  # the reference trains on other data: not offered
LABELS = {"erm": "Plain training (ERM)", "cf_augment": "CF augmentation", "cf_regularise": "CF regularisation",
          "grad_supervision": "Gradient supervision",
          "grad_supervision_random": "Gradient supervision, random pairs (control)",
          "true_augment": "TRUE-renderer augmentation (reference)", "unconfounded": "Unconfounded data (reference)"}
CF_METHODS = ("cf_augment", "cf_regularise", "grad_supervision")  # the readings' "with counterfactuals"
RESULTS = ROOT / "bench" / "results" / "evaluate_cf_training.json"
EVALUATE = "python -m explorer evaluate cf-training --json bench/results/evaluate_cf_training.json"
TRAIN_ROWS = CFTrainConfig(0.0).limit  # the grid trains on the first 20,000 training digits: its matrix is theirs
PER_DIGIT = 4  # training samples shown per digit
# Train now's size: ~20 s per method on this 2-core machine while other jobs run (docs/confounding.md).
# Two epochs = the grid's two counterfactual views per digit, so the cached 20,000-row banks are sliced, not remade.
NOW_LIMIT, NOW_EPOCHS = 8_000, 2
CURVE_N, CURVE_EVERY = 500, 8  # test digits per curve point (IID and OOD each); steps between points
MAX_WAITING = 8  # jobs in line at most: beyond, a visitor is asked to come back rather than wait for hours


@dataclass(frozen=True)
class StrengthView:
    """One strength's training data: samples (digits in columns), the share in their own colour band, the matrix."""

    strength: float
    images: np.ndarray  # (PER_DIGIT, 10, 3, 28, 28) float 0-255: row r, column d = the r-th digit d
    own_band: float  # share of the training rows whose hue lies in their own digit's colour band
    rows: int
    names: list[str]
    matrix: np.ndarray  # (k, k) confounding between the generative factors


@dataclass(frozen=True)
class Examples:
    """The counterfactuals the methods train with, for one training digit of each class (column k = digit)."""

    strength: float
    factual: np.ndarray  # (K, 3, 28, 28)
    digits: np.ndarray  # (K,)
    hue_cf: np.ndarray  # (V, K, 3, 28, 28) the generator's do(hue = hue_asked)
    hue_true: np.ndarray  # (V, K, 3, 28, 28) the world's own do(hue): the same stroke, tinted
    hue_asked: np.ndarray  # (V, K)
    digit_cf: np.ndarray  # (K, 3, 28, 28) the generator's do(digit = digit_asked), hue held: gradient supervision
    digit_asked: np.ndarray  # (K,)


@dataclass(frozen=True)
class Score:
    """One (strength, method) of the grid, over its seeds."""

    ood: float
    ood_sd: float
    iid: float
    anti: float | None
    hue_invariance: float | None
    seeds: int


@dataclass(frozen=True)
class Results:
    """The grid's shipped results, or why there are none (`note`, with the command that builds them)."""

    scores: dict[tuple[float, str], Score] = field(default_factory=dict)
    confounding: dict[float, float] = field(default_factory=dict)
    readings: list[str] = field(default_factory=list)
    note: str = ""
    command: str = EVALUATE


@dataclass(eq=False)  # a job is itself: two alike requests are two places in the queue
class Job:
    """One visitor's Train now: read by their page while the worker fills it in."""

    strength: float
    methods: tuple[str, ...]
    limit: int = NOW_LIMIT
    epochs: int = NOW_EPOCHS
    state: str = "queued"  # queued -> running -> done | failed | cancelled
    phase: str = "Waiting for the trainer"
    progress: float = 0.0
    curves: dict[str, list[tuple[int, float, float]]] = field(default_factory=dict)  # method -> (step, iid, ood)
    message: str = ""
    seconds: float = 0.0
    classifiers: dict[str, TorchClassifier] = field(default_factory=dict)
    folder: Path | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def cancelled(self) -> bool:
        return self.stop.is_set()


class TrainedClassifier(TorchClassifier):
    """A Train-now model as the Flip page lists it beside the uploads."""

    engine = "PyTorch"


class TrainQueue:
    """One worker thread running one job at a time, first come first served."""

    def __init__(self, run: Callable[[Job], None]):
        self._run, self._lock = run, threading.Condition()
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: Job) -> None:
        """Puts `job` in line (ValueError when MAX_WAITING jobs already wait)."""
        with self._lock:
            if len(self._waiting) >= MAX_WAITING:
                raise ValueError(f"The trainer is busy: {len(self._waiting)} trainings are waiting already. "
                                 "Try again in a few minutes.")
            self._waiting.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="cf-train-now", daemon=True)
                self._thread.start()
            self._lock.notify()

    def place(self, job: Job) -> int:
        """0: running; k: the k-th in line (k - 1 jobs wait before it, besides the running one); -1: not queued."""
        with self._lock:
            if job is self._running:
                return 0
            return next((k + 1 for k, j in enumerate(self._waiting) if j is job), -1)

    def cancel(self, job: Job) -> None:
        job.stop.set()
        with self._lock:
            if job in self._waiting:  # never started: nothing to stop
                self._waiting.remove(job)
                job.state, job.phase = "cancelled", "Cancelled before it started"

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._lock.wait()
                job = self._running = self._waiting.popleft()
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running = None


class CFTrainingService:
    """The page's calls; built once per server process (its queue is the server's one trainer)."""

    def __init__(self, results: Path = RESULTS, device: torch.device | None = None, limit: int = NOW_LIMIT,
                 epochs: int = NOW_EPOCHS, curve_n: int = CURVE_N, every: int = CURVE_EVERY):
        self.results_path, self.device = Path(results), device or pick_device()
        self.limit, self.epochs, self.curve_n, self.every = limit, epochs, curve_n, every
        self.queue = TrainQueue(self._train)
        self._cache: dict[tuple[str, float], object] = {}
        self._lock = threading.Lock()

    # --- what the page shows ----------------------------------------------------------------------------
    def strength(self, strength: float) -> StrengthView:
        """The strength's training samples and confounding matrix (ValueError for a strength not in the grid)."""
        return self._cached("view", check_strength(strength), self._view)

    def examples(self, strength: float) -> Examples:
        """One training digit of each class and its counterfactuals by the strength's robust generator.

        Raises:
            CheckpointError: the generator is missing (its message names the command that trains it).
        """
        return self._cached("examples", check_strength(strength), self._examples)

    def results(self) -> Results:
        """The grid's results from RESULTS, read on every call (so a finished evaluation shows without a restart)."""
        if not self.results_path.exists():
            return Results(note="The results of the grid are not built yet.")
        try:
            flat = json.loads(self.results_path.read_text())
            if not isinstance(flat, dict):
                raise ValueError("it is not a JSON object")
            return read_results(flat)
        except (ValueError, TypeError, KeyError) as err:
            return Results(note=f"The results file {self.results_path.name} could not be read ({err}).")

    # --- Train now --------------------------------------------------------------------------------------
    def submit(self, strength: float, methods: tuple[str, ...] | list[str]) -> Job:
        """Queues a small training of `methods` at `strength`; the returned job fills in as it runs."""
        strength, methods = check_strength(strength), tuple(dict.fromkeys(methods))
        bad = [m for m in methods if m not in TRAINABLE]
        if bad or not methods:
            raise ValueError(f"methods must be some of {', '.join(TRAINABLE)}; got {', '.join(bad) or 'none'}")
        job = Job(strength, methods, self.limit, self.epochs)
        self.queue.submit(job)
        return job

    def place(self, job: Job) -> int:
        return self.queue.place(job)

    def cancel(self, job: Job) -> None:
        self.queue.cancel(job)

    def _train(self, job: Job) -> None:
        """The worker's run of one job: each method in turn, then the models loaded as classifiers."""
        if job.cancelled():  # cancelled between leaving the queue and starting
            job.state = "cancelled"
            return
        job.state, start = "running", time.time()
        try:  # Lightning (~10 s to import) only once a training starts: the page itself does not wait for it
            from explorer.services.cf_live_curves import LiveCurves
            from explorer.training.cf_training import train_cf_classifier

            job.folder = Path(tempfile.mkdtemp(prefix="cf-train-now-"))
            job.phase = "Loading the test digits for the curves"
            sets = self._curve_sets(job.strength)
            for method in job.methods:
                job.phase = f"Training {LABELS[method]} at strength {job.strength:g} (data first, then steps)"
                cfg = CFTrainConfig(job.strength, method, limit=job.limit, epochs=job.epochs, out=job.folder,
                                    threads=1, command="Train now (the Train with counterfactuals page)")
                card = train_cf_classifier(cfg, progress=LiveCurves(job, method, sets, self.every),
                                           cancelled=job.cancelled)
                if job.cancelled() or not card:
                    break
                model, card = load_cf_classifier(job.folder / folder_name(method, job.strength, cfg.seed))
                name = f"Your {LABELS[method]}, strength {job.strength:g} (trained here)"
                job.classifiers[method] = TrainedClassifier(
                    name, model, 3, self.device, card=card,
                    description=f"Trained on this page for {job.epochs} epochs on {job.limit:,} colour digits where "
                                f"hue follows the digit with probability {job.strength:g}; in your session only.")
        except Exception as err:  # noqa: BLE001 - any failure is the visitor's message, not the worker's end
            job.message = f"{type(err).__name__}: {err}"
        kept = not job.message and not job.cancelled()
        if not kept:  # a cancelled or failed job keeps nothing, not even its finished methods
            job.classifiers.clear()
        if job.folder is not None:  # the models are in memory now: nothing stays on disk
            shutil.rmtree(job.folder, ignore_errors=True)
        job.phase, job.seconds, job.progress = "", time.time() - start, 1.0 if kept else job.progress
        job.state = "done" if kept else "failed" if job.message else "cancelled"  # last: the page reads it first

    # --- helpers ----------------------------------------------------------------------------------------
    def _cached(self, what: str, strength: float, make: Callable[[float], object]):
        with self._lock:  # two visitors asking at once build it once
            if (what, strength) not in self._cache:
                self._cache[(what, strength)] = make(strength)
            return self._cache[(what, strength)]

    def _view(self, strength: float) -> StrengthView:
        _, values = confounded_values("train", strength)
        values = {k: v[:TRAIN_ROWS] for k, v in values.items()}
        names, matrix = split_confounding(values)
        data = load_confounded("train", strength, limit=2_000)  # enough for four of every digit
        digits = data.values["digit"]
        rows = np.stack([np.flatnonzero(digits == d)[:PER_DIGIT] for d in range(10)], axis=1)  # (PER_DIGIT, 10)
        images = data.rgb(rows.ravel()).reshape(PER_DIGIT, 10, 3, 28, 28)
        own = float((band(values["hue"]) == values["digit"]).mean())
        return StrengthView(strength, images, own, len(values["digit"]), list(names), matrix)

    @on_model_thread  # the generator's convolutions, like every interactive model call
    def _examples(self, strength: float) -> Examples:
        data = load_confounded("train", strength, limit=500)
        rows = np.array([np.flatnonzero(data.values["digit"] == d)[0] for d in range(10)])  # (10,) one per digit
        part = ConfoundedData(data.grey[rows], {k: v[rows] for k, v in data.values.items()},
                              {k: v[rows] for k, v in data.noise.items()}, "train", strength)
        generator, _ = load_rgb_generator("robust", strength, self.device)
        bank = generator_bank(part, generator, self.device, views=2, seed=DEFAULT_SEED)
        true = np.stack([tint(part.grey.astype(np.float32), h) for h in bank.hue_asked])  # (V, K, 3, 28, 28)
        return Examples(strength, part.rgb(), part.values["digit"], bank.hue_cf.astype(np.float32), true,
                        bank.hue_asked, bank.digit_cf.astype(np.float32), bank.digit_asked)

    def _curve_sets(self, strength: float) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
        def make(s: float):
            out = {}
            for kind in ("iid", "ood"):
                data = load_confounded(kind, s, limit=self.curve_n)
                out[kind] = (torch.from_numpy(data.rgb()), data.values["digit"])
            return out
        return self._cached("curves", strength, make)


def check_strength(strength: float) -> float:
    """`strength` as one of STRENGTHS; ValueError naming them otherwise."""
    for s in STRENGTHS:
        if abs(float(strength) - s) < 1e-9:
            return s
    raise ValueError(f"strength {strength:g} is not one of the grid's ({', '.join(f'{s:g}' for s in STRENGTHS)})")


def read_results(flat: dict) -> Results:
    """The evaluation's flat keys (`s0.99.erm.ood_acc_mean`...) as scores per (strength, method), with readings."""
    scores, confounding = {}, {}
    for s in STRENGTHS:
        if f"s{s:g}.confounding_before" in flat:
            confounding[s] = float(flat[f"s{s:g}.confounding_before"])
        for m in METHODS:
            p = f"s{s:g}.{m}."
            if p + "ood_acc_mean" in flat:
                scores[(s, m)] = Score(float(flat[p + "ood_acc_mean"]), float(flat.get(p + "ood_acc_sd", 0.0)),
                                       float(flat[p + "iid_acc_mean"]), flat.get(p + "anti_acc_mean"),
                                       flat.get(p + "hue_invariance_mean"), int(flat.get(p + "n_seeds", 1)))
    if not scores:
        return Results(note="The results file holds no trained model's scores yet.")
    return Results(scores, confounding, [r for s in STRENGTHS if (r := reading(s, scores))])


def pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def reading(strength: float, scores: dict[tuple[float, str], Score]) -> str:
    """One strength's results in plain words, from the numbers ("" when ERM was not scored there)."""
    erm = scores.get((strength, "erm"))
    if erm is None:
        return ""
    where = ("where colour says nothing about the digit" if strength == 0 else
             f"where the hue follows the digit {pct(strength)} of the time")
    shortcut = erm.iid - erm.ood > 0.10
    text = (f"**Strength {strength:g}.** Trained {where}, the plain model "
            + ("reads colour" if shortcut else "does not lean on colour")
            + f": on digits coloured like its training data it is right {pct(erm.iid)} of the time, on digits "
              f"coloured at random {pct(erm.ood)}")
    best = max((m for m in CF_METHODS if (strength, m) in scores), key=lambda m: scores[(strength, m)].ood,
               default=None)
    if best is not None:
        text += f"; with counterfactuals ({LABELS[best]}) {pct(scores[(strength, best)].ood)}"
    return text + "."
