"""The grid of classifiers trained with counterfactuals, judged in and out of distribution (issue 19, section 3).

    python -m explorer evaluate cf-training --json bench/results/evaluate_cf_training.json

Every model the grid left in the runs folder (`cf-cnn-*`, explorer/training/cf_training.py) is scored on the
10,000 test digits of its strength's splits:
    iid_acc         same strength as training;
    ood_acc         hue independent of the digit;
    anti_acc        each digit in another digit's colour band;
    hue_invariance  the share of IID test predictions unchanged when the hue is redrawn uniformly by the TRUE
                    renderer (do(hue): the same stroke, another colour; the digit fixed).
Per (strength, method) over seeds: `s<S>.<method>.<metric>_mean` and `_sd` (sample sd; 0 for one seed),
`n_seeds`, `train_seconds_mean`, `confounding_after_mean`; `s<S>.confounding_before` is the training split's
C(digit, hue). The unconfounded reference is one model per seed, reported under every strength. The floors of
the issue at 0.99 are computed, not typed: `floors.*` (1 met, 0 missed). The generators' own scores
(`generator.<variant>.s<S>.*`) are copied from explorer/evaluate/cf_generator.py's result file when present.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from explorer.datasets.confounded import STRENGTHS, load_confounded
from explorer.device import pick_device
from explorer.paths import ROOT
from explorer.scm.morpho import tint
from explorer.training.cf_runs import load_cf_classifier
from explorer.training.run_configs import METHODS, runs_dir

SPLITS = ("iid", "ood", "anti")
METRICS = ("iid_acc", "ood_acc", "anti_acc", "hue_invariance")
GENERATOR_RESULT = ROOT / "bench" / "results" / "evaluate_cf_generator.json"
NAME = re.compile(r"cf-cnn-(?:s(?P<strength>[0-9.]+)-(?P<method>\w+)|(?P<unconf>unconfounded))-seed(?P<seed>\d+)$")


def predict(model: torch.nn.Module, x: np.ndarray, device: torch.device, batch: int = 1000) -> np.ndarray:
    """(n, 3, 28, 28) 0-255 -> (n,) predicted digits."""
    out = []
    with torch.inference_mode():
        for s in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[s:s + batch]).to(device)).argmax(1).cpu().numpy())
    return np.concatenate(out)


class TestSets:
    """The test images of one strength, built once and shared by every model of that strength."""

    def __init__(self, strength: float, n: int | None, seed: int):
        data = {kind: load_confounded(kind, strength, limit=n) for kind in SPLITS}
        self.splits = {kind: (d.rgb(), d.values["digit"]) for kind, d in data.items()}
        new_hue = np.random.default_rng([seed, 19]).random(len(data["iid"]))  # (n,) uniform: the TRUE do(hue)
        self.iid_cf = tint(data["iid"].grey.astype(np.float32), new_hue)


def score(model: torch.nn.Module, sets: TestSets, device: torch.device) -> dict[str, float]:
    model.eval().to(device)
    out = {}
    for kind, (x, y) in sets.splits.items():
        pred = predict(model, x, device)
        out[f"{kind}_acc"] = float((pred == y).mean())
        if kind == "iid":
            out["hue_invariance"] = float((predict(model, sets.iid_cf, device) == pred).mean())
    return out


def find_runs(folder: Path) -> list[tuple[float | None, str, int, Path]]:
    """(strength or None for the unconfounded reference, method, seed, folder) of every run in `folder`."""
    runs = []
    for path in sorted(folder.glob("cf-cnn-*")):
        m = NAME.match(path.name)
        if m and (path / "card.json").exists():
            strength = None if m["unconf"] else float(m["strength"])
            runs.append((strength, "unconfounded" if m["unconf"] else m["method"], int(m["seed"]), path))
    return runs


def mean_sd(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def floors(result: dict, s: str = "s0.99") -> dict[str, float]:
    """The issue's floors at strength 0.99, from the result (missing numbers: the floor is not counted)."""
    def get(method: str, metric: str) -> float | None:
        return result.get(f"{s}.{method}.{metric}_mean")

    out = {}
    erm, ref, true = get("erm", "ood_acc"), get("unconfounded", "ood_acc"), get("true_augment", "ood_acc")
    for method in ("cf_augment", "cf_regularise"):
        ood = get(method, "ood_acc")
        if None in (ood, erm, ref, true):
            continue
        gain = ood >= erm + 0.10 if erm < ref - 0.10 else ood >= ref - 0.02
        out[f"floors.{method}_ood_gain"] = float(gain)
        out[f"floors.{method}_within_0.03_of_true_augment"] = float(ood >= true - 0.03)
    if get("cf_regularise", "hue_invariance") is not None:
        out["floors.cf_regularise_hue_invariance_0.95"] = float(get("cf_regularise", "hue_invariance") >= 0.95)
    gs, rnd = get("grad_supervision", "ood_acc"), get("grad_supervision_random", "ood_acc")
    if None not in (gs, rnd, erm):
        out["floors.grad_supervision_beats_erm_ood"] = float(gs > erm)
        out["floors.grad_supervision_random_does_not"] = float(rnd <= erm)
    return out


def evaluate_cf_training(folder: Path | None = None, n: int | None = None, seed: int = 0,
                         device: torch.device | None = None) -> dict:
    """The flat result over every run in `folder` (default: the runs folder)."""
    folder, device = folder or runs_dir(), device or pick_device()
    runs = find_runs(folder)
    per: dict[tuple[str, str], dict[str, list[float]]] = {}
    result: dict = {"n_test": n or 10_000, "runs": len(runs)}
    cached: dict[float, TestSets] = {}
    for strength, method, _, path in runs:
        model, card = load_cf_classifier(path)
        targets = STRENGTHS if strength is None else (strength,)  # the reference is scored in every world
        for s in targets:
            if s not in cached:
                cached.clear()  # one strength's images at a time: runs are sorted by name, so by strength
                cached[s] = TestSets(s, n, seed)
            scores = {**score(model, cached[s], device), **{k: card["metrics"][k] for k in
                                                           ("train_seconds", "confounding_after")}}
            for k, v in scores.items():
                per.setdefault((f"s{s:g}", method), {}).setdefault(k, []).append(v)
            if method == "erm":
                result[f"s{s:g}.confounding_before"] = card["metrics"]["confounding_before"]
    for (s, method), metrics in sorted(per.items()):
        result[f"{s}.{method}.n_seeds"] = len(metrics["iid_acc"])
        for k, values in metrics.items():
            m, sd = mean_sd(values)
            result[f"{s}.{method}.{k}_mean"] = m
            if k in METRICS:
                result[f"{s}.{method}.{k}_sd"] = sd
    result.update(floors(result))
    if GENERATOR_RESULT.exists():
        result.update({k: v for k, v in json.loads(GENERATOR_RESULT.read_text()).items()
                       if k.startswith("generator.")})
    return result


def to_markdown(result: dict) -> str:
    """One table per strength: methods as rows, accuracies mean ± sd over seeds."""
    lines = []
    for s in STRENGTHS:
        key = f"s{s:g}"
        if f"{key}.erm.n_seeds" not in result and f"{key}.unconfounded.n_seeds" not in result:
            continue
        lines += [f"Strength {s:g} (training split's C(digit, hue) = "
                  f"{result.get(key + '.confounding_before', float('nan')):.3f}):", "",
                  "| method | seeds | IID | OOD | anti | hue invariance | C after | train s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for method in METHODS:
            p = f"{key}.{method}"
            if f"{p}.n_seeds" not in result:
                continue
            cells = [f"{result[f'{p}.{m}_mean']:.3f} ± {result[f'{p}.{m}_sd']:.3f}" for m in METRICS]
            lines.append(f"| {method} | {result[f'{p}.n_seeds']} | " + " | ".join(cells)
                         + f" | {result[f'{p}.confounding_after_mean']:.3f} | {result[f'{p}.train_seconds_mean']:.0f} |")
        lines.append("")
    met = {k: v for k, v in result.items() if k.startswith("floors.")}
    if met:
        lines += ["Floors at 0.99: " + ", ".join(f"{k.removeprefix('floors.')} {'met' if v else 'MISSED'}"
                                                 for k, v in sorted(met.items()))]
    return "\n".join(lines)
