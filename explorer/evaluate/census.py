"""`evaluate census`, the part that needs no learned model: the ceiling and the two baselines (issue 20, §3).

On `n` rows of the census world sampled WITH their noise, for do(sex = the other value), do(age = 30) and
do(education = Bachelors), the TRUE counterfactual row is the world's mechanisms run again on the sampled noise.
Three predictors see only the observed row and are scored against it:

- ceiling: the world's TRUE mechanisms with the noise ABDUCTED from the observed row (its posterior, `draws`
  draws); the best guess is the most frequent category (categorical) or the median (continuous: the smallest
  expected absolute error). No model that sees only the row can expect to do better.
- column_only: the intervened column changed, every other column kept (what DiCE-style tools do).
- no_abduction: the intervened column's descendants re-sampled from the TRUE mechanisms with FRESH noise; the
  other columns kept.

Keys: `<method>.gt_cf.<intervention>.<column>.accuracy` (categorical) or `.mae_sd` (continuous, mean absolute error
in SDs of the column over the factual rows), and `.all_correct` (share of rows with every column right, a
continuous one within 0.25 SD); the ceiling under `ceiling.`, the baselines under `baselines.<name>.`.

When the learned model `pretrained/census-vae-world` exists (or `model_folder` is given), its own keys are added
at the top level on the same rows: `recon.*`, `gt_cf.*`, `graph.shd`, `effectiveness.*` and `floors`
(explorer/evaluate/census_model.py), and `debias.*` (issue 20, section 4: the model's de-biased exports against
the world's, and classifiers trained on them; explorer/evaluate/census_debias_eval.py) with its floors.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path
from typing import Mapping

import numpy as np

from explorer.evaluate.census_debias_eval import DEBIAS_N, debias_floors, evaluate_debias
from explorer.evaluate.census_model import floors, score_model
from explorer.models.table_vae import load_table_vae
from explorer.paths import PRETRAINED
from explorer.scm.table_scm import TableSCM

DRAWS = 50  # posterior draws of the ceiling
TOLERANCE_SD = 0.25  # a continuous value within this many SDs is "right" for all_correct
N_MAX = 10_000
MODEL_FOLDER = PRETRAINED / "census-vae-world"
ADULT_FOLDER = PRETRAINED / "census-vae-adult"  # its de-biased real rows train one more classifier, when present


def interventions(world: TableSCM, obs: Mapping[str, np.ndarray]) -> dict[str, dict[str, object]]:
    """name -> do(): sex flipped per row, age 30, education Bachelors."""
    return {"do_sex_flip": {"sex": 1 - obs["sex"]}, "do_age_30": {"age": 30.0},
            "do_education_bachelors": {"education": "Bachelors"}}


def column_only(world: TableSCM, obs: Mapping[str, np.ndarray], do: Mapping[str, object]) -> dict[str, np.ndarray]:
    n = len(next(iter(obs.values())))
    return {**{k: np.asarray(v) for k, v in obs.items()}, **world.encode_do(do, n)}


def no_abduction(world: TableSCM, obs: Mapping[str, np.ndarray], do: Mapping[str, object],
                 seed: int) -> dict[str, np.ndarray]:
    """The intervened columns set, their descendants from the mechanisms with fresh noise, the rest observed."""
    n = len(next(iter(obs.values())))
    moved = world.graph.descendants(list(do)) | set(do)
    kept = {c: obs[c] for c in world.columns if c not in moved}
    return world.counterfactual(world.sample_noise(n, seed), {**kept, **do})


def ceiling(world: TableSCM, obs: Mapping[str, np.ndarray], do: Mapping[str, object], draws: int,
            seed: int) -> dict[str, np.ndarray]:
    return world.best_guess(world.counterfactual_draws(obs, do, draws=draws, seed=seed))


def score(world: TableSCM, guess: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray],
          sd: Mapping[str, float]) -> dict[str, object]:
    """Per column accuracy or mae_sd against the TRUE counterfactual, and all_correct."""
    out: dict[str, object] = {}
    right = np.ones(len(next(iter(truth.values()))), bool)
    for c, spec in world.columns.items():
        if spec.discrete:
            ok = guess[c] == truth[c]
            out[c] = {"accuracy": float(ok.mean())}
        else:
            err = np.abs(np.asarray(guess[c], float) - truth[c]) / sd[c]
            ok = err <= TOLERANCE_SD
            out[c] = {"mae_sd": float(err.mean())}
        right &= ok
    out["all_correct"] = float(right.mean())
    return out


def evaluate_census(n: int = 2000, seed: int = 0, draws: int = DRAWS, world: TableSCM | None = None,
                    model_folder: Path | None = None, debias_n: int = DEBIAS_N) -> dict:
    """The ceiling and both baselines on `n` world rows of `seed` (nested dict, JSON-ready), and the learned
    model's keys when `model_folder` (default: pretrained/census-vae-world, if present) holds one, with its
    de-biased exports of `debias_n` rows (0: none)."""
    if not 1 <= n <= N_MAX:
        raise ValueError(f"--n must be from 1 to {N_MAX:,}, got {n}")
    if world is None:
        from explorer.scm.census import load_census_world

        world, _ = load_census_world()
    start = time.time()
    noise, obs = world.sample(n, seed)
    sd = {c: float(np.std(obs[c])) or 1.0 for c, s in world.columns.items() if not s.discrete}
    result: dict = {"ceiling": {"gt_cf": {}}, "baselines": {"column_only": {"gt_cf": {}},
                                                            "no_abduction": {"gt_cf": {}}}}
    for name, do in interventions(world, obs).items():
        truth = world.counterfactual(noise, do)
        sub = zlib.crc32(name.encode())
        guesses = {("ceiling",): ceiling(world, obs, do, draws, seed=seed + sub),
                   ("baselines", "column_only"): column_only(world, obs, do),
                   ("baselines", "no_abduction"): no_abduction(world, obs, do, seed=seed + sub + 1)}
        for path, guess in guesses.items():
            node = result
            for key in path:
                node = node[key]
            node["gt_cf"][name] = score(world, guess, truth, sd)
    result["setup"] = {"n": n, "seed": seed, "draws": draws, "tolerance_sd": TOLERANCE_SD,
                       "sd": sd, "seconds": round(time.time() - start, 2),
                       "descendants": {name: sorted(world.graph.descendants(list(do)))
                                       for name, do in interventions(world, obs).items()}}
    folder = model_folder or (MODEL_FOLDER if MODEL_FOLDER.exists() else None)
    if folder is not None:
        start = time.time()
        model = load_table_vae(Path(folder))
        result.update(score_model(model, world, obs, noise, interventions(world, obs), sd, score))
        result["floors"] = floors(result)
        if debias_n:
            adult = load_table_vae(ADULT_FOLDER, "cpu") if ADULT_FOLDER.exists() else None
            result["debias"] = evaluate_debias(model, world, debias_n, seed, adult)
            result["floors"].update(debias_floors(result["debias"]))
        result["setup"]["model"] = {"folder": str(folder), "name": model.name, "graph_mode": model.card.get("graph_mode"),
                                    "seconds": round(time.time() - start, 2)}
    return result


def to_markdown(result: dict) -> str:
    """One table per intervention: columns as rows, the ceiling and the baselines side by side."""
    methods = {"ceiling": result["ceiling"], "column_only": result["baselines"]["column_only"],
               "no_abduction": result["baselines"]["no_abduction"]}
    lines = []
    for name in result["ceiling"]["gt_cf"]:
        lines += [f"**{name}** (descendants: {', '.join(result['setup']['descendants'][name])})", "",
                  "| column | metric | " + " | ".join(methods) + " |", "|---|---|" + "---:|" * len(methods)]
        for col, cell in result["ceiling"]["gt_cf"][name].items():
            metric = "all_correct" if col == "all_correct" else next(iter(cell))
            values = [m["gt_cf"][name][col] for m in methods.values()]
            values = [v if col == "all_correct" else v[metric] for v in values]
            lines.append(f"| {col} | {metric if col != 'all_correct' else 'share'} | "
                         + " | ".join(f"{v:.3f}" for v in values) + " |")
        lines.append("")
    return "\n".join(lines)
