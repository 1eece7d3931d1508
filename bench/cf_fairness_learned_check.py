"""Counterfactual fairness through the LEARNED table model, scored against the census world's TRUE flip rate.

On n rows sampled from the census world with their noise (sample seed 1, as docs/audit-table.md's truth check),
for the shipped Adult models (adult-logreg, adult-gbm) and do(sex = the other value):

- true: the world's mechanisms rerun on the rows' own noise (`world_check`);
- world-mechanism estimate: the noise abducted from the values alone through the world's mechanisms (`world_check`);
- learned-VAE estimate: through pretrained/census-vae-world, the VAE trained on world rows
  (`explorer.metrics.cf_fairness_learned.learned_world_check`);
- column alone: sex changed, every other column kept (what a search that ignores the graph does).

Then, to see which columns carry the learned estimate's gap, per descendant column of sex: how often the TRUE
counterfactual changes it, how often each estimate's draws change it, each estimate's agreement with the TRUE
counterfactual (accuracy over draws; MAE in SDs for a number), and per model the "swap" effect: the flip rate of
the TRUE counterfactual row with that one column taken from the estimate's draws, minus the true flip rate (what
that column alone adds to the gap). These draws come from one call over all rows (seed `--seed`), so they are
the estimate's draws up to the chunking (the estimate gives each chunk of 2,000 rows its own stream).

Usage: `PYTHONPATH=. .venv/bin/python bench/cf_fairness_learned_check.py [--n 5000] [--draws 20]`; prints Markdown
and writes bench/results/cf_fairness_learned.json (every number computed here).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from explorer.cli_checks import save
from explorer.data.tables import read_adult
from explorer.metrics.cf_fairness import (CfConfig, cf_fairness, cf_frame, derived_columns, distinct_rows, row_effects,
                                          scm_columns, world_frame)
from explorer.metrics.cf_fairness_learned import (CHUNK_ROWS, LearnedCausalModel, cf_fairness_learned,
                                                  learned_world_check)
from explorer.models.table_vae import load_table_vae
from explorer.paths import PRETRAINED
from explorer.registry import load_table_classifier
from explorer.scm.table_posterior import descendants
from explorer.scm.census import load_census_world

FILL = {"capital_gain": 0.0, "capital_loss": 0.0}  # model inputs the world lacks: their most common value
FLOOR = 0.02  # issue 21: |estimate - truth| <= 0.02
MODELS = {"adult-logreg": "adult-logreg", "adult-gbm": "adult-gbm"}
OUT = Path(__file__).resolve().parent / "results" / "cf_fairness_learned.json"


def column_errors(world, values, truth, estimates: dict, columns: list[str], sd: dict) -> dict:
    """Per column: the TRUE change rate, each estimate's (mean over draws) and its agreement with the truth."""
    out = {}
    for c in columns:
        spec = world.columns[c]
        row = {}
        if spec.discrete:
            row["changed_true"] = float(np.mean(truth[c] != values[c]))
        else:
            row["moved_sd_true"] = float(np.mean(np.abs(truth[c] - values[c])) / sd[c])
        for name, cf in estimates.items():
            v = np.atleast_2d(cf[c])  # (draws or 1, n)
            if spec.discrete:
                row[f"changed_{name}"] = float(np.mean(v != values[c]))
                row[f"accuracy_{name}"] = float(np.mean(v == truth[c]))
            else:
                row[f"moved_sd_{name}"] = float(np.mean(np.abs(v - values[c])) / sd[c])
                row[f"mae_sd_{name}"] = float(np.mean(np.abs(v - truth[c])) / sd[c])
        out[c] = row
    return out


def flip_rate(predict, factual_frame, p0, cf: dict, world, draws: int, derived: dict, threshold: float = 0.5
              ) -> float:
    """Flip rate over draws of the rows `cf` ({variable: (n,) or (draws, n)}) against the factual decisions;
    `derived` columns (education_num) follow their variable, as in the estimate."""
    n = len(factual_frame)
    mapping = {v: v for v in world.columns}
    pick, inverse = distinct_rows(cf, mapping, draws, n)
    p = predict(cf_frame(factual_frame, cf, mapping, world, derived, pick))[inverse].reshape(draws, n)
    return float(((p >= threshold) != (p0 >= threshold)).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-seed", type=int, default=1)
    parser.add_argument("--vae", default="census-vae-world")
    parser.add_argument("--adult-vae", default="census-vae-adult",
                        help="the learned model for Adult's test split ('' to skip that part)")
    parser.add_argument("--json", default=str(OUT))
    parser.add_argument("--spread-seeds", default="1,2,3,4",
                        help="other seeds of the learned estimate's draws, to show its spread ('' for none)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small tensors on a shared 2-core machine
    world = load_census_world()[0]
    vae = load_table_vae(PRETRAINED / args.vae, "cpu")
    adult = read_adult().rows("test", complete=True).reset_index(drop=True)
    derived = derived_columns(adult, scm_columns(world, adult.columns), world)  # education_num from education
    models = {name: load_table_classifier(folder)[0].predict_proba for name, folder in MODELS.items()}
    config = CfConfig("sex", draws=args.draws, seed=args.seed)
    seeds = [int(x) for x in args.spread_seeds.split(",") if x.strip()]
    result = {"command": " ".join(["PYTHONPATH=. .venv/bin/python bench/cf_fairness_learned_check.py",
                                   *(sys.argv[1:] if argv is None else argv)]),
              "rows": args.n, "draws": args.draws, "seed": args.seed, "sample_seed": args.sample_seed,
              "spread_seeds": seeds, "protected": "sex", "vae": vae.name, "vae_data": vae.card.get("data"),
              "floor": FLOOR, "fill": FILL, "derived_columns": {c: v for c, (v, _) in derived.items()},
              "torch_threads": torch.get_num_threads(),
              "world_edges_out_of_sex": sorted(world.graph.children("sex")),
              "learned_edges_out_of_sex": sorted(vae.graph.children("sex"))}

    t0 = time.perf_counter()
    check = learned_world_check(world, vae, models, args.n, config, FILL, derived, args.sample_seed)
    result["seconds_check"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    per_column, swaps, moved = column_analysis(world, vae, models, args, derived)
    result |= {"seconds_column_analysis": time.perf_counter() - t0, "columns": per_column,
               "descendant_columns": moved}
    t0 = time.perf_counter()
    spread = seed_spread(world, vae, models, args, derived, seeds)
    result["seconds_spread"] = time.perf_counter() - t0
    result["models"] = {name: model_row(check, f"world.{name}.sex.", swaps[name], spread[name]) for name in models}
    if args.adult_vae:
        result["adult_test"] = adult_table(adult, world, load_table_vae(PRETRAINED / args.adult_vae, "cpu"), models,
                                           config)
    save(args.json, json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


def column_analysis(world, vae, models: dict, args, derived: dict) -> tuple[dict, dict, list[str]]:
    """Which columns carry the gap (module docstring): per column errors, and per model the swap effects."""
    noise, values = world.sample(args.n, args.sample_seed)  # the rows of the truth check
    other = {"sex": 1 - values["sex"]}
    truth = world.counterfactual(noise, other)
    estimates = {name: scm.posterior_draws(values, args.draws, args.seed, ["sex"]).counterfactual(
                     scm.encode_do(other, args.n)) for name, scm in (("world", world),
                                                                      ("learned", LearnedCausalModel(vae)))}
    moved = sorted((descendants(world.graph, ["sex"]) | descendants(vae.graph, ["sex"])) - {"sex"},
                   key=list(world.columns).index)
    sd = {c: float(values[c].std()) for c, s in world.columns.items() if not s.discrete}
    per_column = column_errors(world, values, truth, estimates, moved, sd)
    factual = world_frame(world, values, FILL, derived)
    swaps: dict = {}
    for name, predict in models.items():
        p0 = predict(factual)
        true_flip = flip_rate(predict, factual, p0, truth, world, 1, derived)
        swaps[name] = {"flip_rate_true_check": true_flip}
        for est, cf in estimates.items():
            swaps[name][f"flip_rate_{est}_one_call"] = flip_rate(predict, factual, p0, cf, world, args.draws, derived)
            swaps[name][f"swap_{est}"] = {c: flip_rate(predict, factual, p0, {**truth, c: cf[c]}, world, args.draws,
                                                       derived) - true_flip for c in moved}
    return per_column, swaps, moved


def seed_spread(world, vae, models: dict, args, derived: dict, seeds: list[int]) -> dict[str, list[float]]:
    """The learned estimate's flip rate with other seeds of its posterior draws, on the same rows."""
    factual = world_frame(world, world.sample(args.n, args.sample_seed)[1], FILL, derived)
    out: dict[str, list[float]] = {name: [] for name in models}
    for seed in seeds:
        for name, predict in models.items():
            eff, _ = row_effects(factual, predict, LearnedCausalModel(vae),
                                 CfConfig("sex", args.draws, seed, paths={}), None, derived)
            out[name].append(float(eff.flip.mean()))
    return out


def model_row(check: dict, k: str, swaps: dict, spread: list[float]) -> dict:
    truth, learned = check[k + "flip_rate_true"], check[k + "flip_rate_learned"]
    flips = [learned, *spread]
    return {"flip_rate_true": truth, "flip_rate_world": check[k + "flip_rate_estimate"], "flip_rate_learned": learned,
            "flip_rate_column_only": check[k + "flip_rate_column_only"], "abs_error_world": check[k + "abs_error"],
            "abs_error_learned": check[k + "abs_error_learned"],
            "abs_error_column_only": check[k + "abs_error_column_only"], "learned_minus_truth": learned - truth,
            "learned_meets_floor": check[k + "abs_error_learned"] <= FLOOR,
            "learned_over_floor_by": max(0.0, check[k + "abs_error_learned"] - FLOOR),
            "mean_abs_dp_learned": check[k + "mean_abs_dp_learned"], **swaps,
            "spread_flip_rate_learned": flips, "spread_abs_error_learned": [abs(f - truth) for f in flips]}


def adult_table(adult, world, vae, models: dict, config: CfConfig) -> dict:
    """Counterfactual fairness on Adult's complete test rows through the world and through the learned model
    trained on Adult rows (no truth here: real rows have no known counterfactual)."""
    out: dict = {"rows": len(adult), "vae": vae.name, "vae_data": vae.card.get("data"), "models": {}}
    for name, predict in models.items():
        p0 = predict(adult)
        for causal, run in (("world", lambda: cf_fairness(adult, predict, world, config, p0, chunk_rows=CHUNK_ROWS)),
                            ("learned", lambda: cf_fairness_learned(adult, predict, vae, config, p0))):
            t0 = time.perf_counter()
            report, _ = run()
            sec = report["sex"]
            out["models"].setdefault(name, {})[causal] = {
                "causal_model": report["causal_model"], "flip_rate": sec["flip_rate"],
                "mean_abs_dp": sec["mean_abs_dp"], "flip_rate_female": sec["Female"]["flip_rate"],
                "flip_rate_male": sec["Male"]["flip_rate"],
                **{f"flip_rate_path_{p}": v["flip_rate"] for p, v in sec["path"].items()},
                "held_columns": report["held_columns"], "derived_columns": report["derived_columns"],
                "seconds": time.perf_counter() - t0}
    return out


def markdown(r: dict) -> str:
    out = [f"{r['rows']:,} census-world rows (sample seed {r['sample_seed']}), {r['draws']} draws, seed {r['seed']}, "
           f"learned model {r['vae']}; truth check {r['seconds_check']:.1f} s (both models), column analysis "
           f"{r['seconds_column_analysis']:.1f} s, seed spread {r['seconds_spread']:.1f} s", "",
           "| model | true flip rate | world-mechanism estimate | learned-VAE estimate | \\|learned − truth\\| "
           "| column alone | floor (≤ 0.02) |", "|---|---:|---:|---:|---:|---:|---|"]
    for name, m in r["models"].items():
        verdict = "met" if m["learned_meets_floor"] else f"missed by {m['learned_over_floor_by']:.4f}"
        out.append(f"| `{name}` | {m['flip_rate_true']:.4f} | {m['flip_rate_world']:.4f} | "
                   f"{m['flip_rate_learned']:.4f} | {m['abs_error_learned']:.4f} | {m['flip_rate_column_only']:.4f} "
                   f"| {verdict} |")
    if r["spread_seeds"]:
        seeds = ", ".join(map(str, [r["seed"], *r["spread_seeds"]]))
        out += ["", f"The learned estimate over seeds {seeds} of its posterior draws (the truth is fixed by the rows' "
                "noise), min to max:"]
        for name, m in r["models"].items():
            f, e = m["spread_flip_rate_learned"], m["spread_abs_error_learned"]
            out.append(f"- `{name}`: flip rate {min(f):.4f} to {max(f):.4f}, |learned − truth| {min(e):.4f} to "
                       f"{max(e):.4f} (floor met for {sum(x <= r['floor'] for x in e)} of {len(e)} seeds)")
    out += ["", "Per column under do(sex = other): how often it changes (TRUE, world estimate, learned), and each "
            "estimate's agreement with the TRUE counterfactual (accuracy; for a number: mean move and MAE in SDs)", "",
            "| column | changed, true | changed, world est. | changed, learned | accuracy, world est. | "
            "accuracy, learned |", "|---|---:|---:|---:|---:|---:|"]
    for c, v in r["columns"].items():
        if "changed_true" in v:
            out.append(f"| {c} | {v['changed_true']:.3f} | {v['changed_world']:.3f} | {v['changed_learned']:.3f} "
                       f"| {v['accuracy_world']:.3f} | {v['accuracy_learned']:.3f} |")
        else:
            out.append(f"| {c} (SD) | {v['moved_sd_true']:.3f} | {v['moved_sd_world']:.3f} | "
                       f"{v['moved_sd_learned']:.3f} | MAE {v['mae_sd_world']:.3f} | MAE {v['mae_sd_learned']:.3f} |")
    names = list(r["models"])
    out += ["", "Swap: the flip rate of the TRUE counterfactual row with one column taken from the estimate's draws, "
            "minus the true flip rate", "",
            "| column | " + " | ".join(f"`{n}` learned | `{n}` world est." for n in names) + " |",
            "|---|" + "---:|" * (2 * len(names))]
    for c in r["descendant_columns"]:
        out.append(f"| {c} | " + " | ".join(f"{r['models'][n]['swap_learned'][c]:+.4f} | "
                                              f"{r['models'][n]['swap_world'][c]:+.4f}" for n in names) + " |")
    if "adult_test" in r:
        a = r["adult_test"]
        out += ["", f"Adult's complete test rows ({a['rows']:,}), {r['draws']} draws, seed {r['seed']}: through the "
                f"census world and through the learned model {a['vae']} (no truth on real rows)", "",
                "| model | causal model | flip rate | mean \\|Δp\\| | women | men | path `direct` | "
                "path `not_marital_status` | seconds |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, by in a["models"].items():
            for causal, m in by.items():
                label = m["causal_model"] if causal == "learned" else "world"
                out.append(f"| `{name}` | {label} | {m['flip_rate']:.4f} | {m['mean_abs_dp']:.4f} | "
                           f"{m['flip_rate_female']:.4f} | {m['flip_rate_male']:.4f} | "
                           f"{m['flip_rate_path_direct']:.4f} | {m['flip_rate_path_not_marital_status']:.4f} | "
                           f"{m['seconds']:.1f} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
