"""`evaluate census`, the learned model's part: the tabular causal-layer VAE against the census world's truth.

On the same world rows (sampled with their noise) and the same three interventions as the ceiling and the
baselines (explorer/evaluate/census.py), the model `pretrained/census-vae-world` sees only the observed rows:

- `recon.<column>.accuracy | mae_sd`: the VAE's reconstruction (encoder mean, decoder arg-max) of the rows;
- `gt_cf.<intervention>.<column>.accuracy | mae_sd` and `gt_cf.<intervention>.all_correct`: its counterfactual
  rows against the TRUE ones, scored as the ceiling is (`score`);
- `graph.shd`: structural Hamming distance of its learned graph to the world's (a reversed arrow counts once),
  with the arrows missing, extra and reversed listed;
- `effectiveness.<intervention>`: the share of rows whose intervened concept the decoder reads back as the asked
  value (the row itself always holds the asked value; this checks the concept the children were computed from);
- `floors`: issue 20's floors, each with its value and whether it is met.

Printed as Markdown for docs/census.md by `python -m explorer.evaluate.census_model RESULT.json`, with the
`debias.*` tables (explorer/evaluate/census_debias_eval.py) when the result has them.
"""

from __future__ import annotations

import json
import sys
from typing import Callable, Mapping

import numpy as np
import torch

from explorer.evaluate.census_debias_eval import debias_markdown
from explorer.models.table_vae import TableVAEModel, shd
from explorer.scm.table_scm import TableSCM

Score = Callable[..., dict]
FLOOR_SHD = 2
FLOOR_ACCURACY_GAP = 0.05  # a categorical column's accuracy at most this far below the ceiling's
FLOOR_MAE_SD = 0.25


def score_model(model: TableVAEModel, world: TableSCM, obs: Mapping[str, np.ndarray], noise: Mapping,
                interventions: Mapping[str, Mapping[str, object]], sd: Mapping[str, float], score: Score) -> dict:
    """The model's keys (module docstring) on rows `obs` whose TRUE noise is `noise`."""
    # Small tensors: on a shared 2-core machine two intra-op threads spin against other jobs (5 min instead of 40 s)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _score(model, world, obs, noise, interventions, sd, score)
    finally:
        torch.set_num_threads(threads)


def _score(model: TableVAEModel, world: TableSCM, obs: Mapping[str, np.ndarray], noise: Mapping,
           interventions: Mapping[str, Mapping[str, object]], sd: Mapping[str, float], score: Score) -> dict:
    recon = model.reconstruct_rows(obs)
    out: dict = {"recon": {}, "gt_cf": {}, "effectiveness": {}}
    for c, spec in world.columns.items():
        if spec.discrete:
            out["recon"][c] = {"accuracy": float(np.mean(recon[c] == obs[c]))}
        else:
            out["recon"][c] = {"mae_sd": float(np.mean(np.abs(recon[c] - obs[c])) / sd[c])}
    n = len(next(iter(obs.values())))
    for name, do in interventions.items():
        truth = world.counterfactual(noise, do)
        out["gt_cf"][name] = score(world, model.counterfactual_rows(obs, do), truth, sd)
        read = model.concept_readings(obs, do)
        hits = []
        for c, asked in world.encode_do(do, n).items():
            if world.columns[c].discrete:
                hits.append(read[c] == asked)
            else:
                hits.append(np.abs(read[c] - asked) / sd[c] <= FLOOR_MAE_SD)
        out["effectiveness"][name] = float(np.mean(np.all(hits, axis=0)))
    learned, truth_graph = model.graph, world.graph
    missing, extra = truth_graph.edges - learned.edges, learned.edges - truth_graph.edges
    out["graph"] = {"shd": float(shd(learned, truth_graph)), "edges": len(learned.edges),
                    "missing": sorted(f"{p}:{c}" for p, c in missing if (c, p) not in extra),
                    "extra": sorted(f"{p}:{c}" for p, c in extra if (c, p) not in missing),
                    "reversed": sorted(f"{p}:{c}" for p, c in missing if (c, p) in extra)}
    return out


def floors(result: dict) -> dict:
    """Issue 20's floors on the world model: {floor: {"value", "floor", "met"}}, from a result with the model's
    keys and the ceiling's."""
    out = {"graph.shd": {"value": result["graph"]["shd"], "floor": f"<= {FLOOR_SHD}",
                         "met": result["graph"]["shd"] <= FLOOR_SHD}}
    for name, cells in result["gt_cf"].items():
        for col, cell in cells.items():
            if col == "all_correct":
                continue
            if "accuracy" in cell:
                bound = result["ceiling"]["gt_cf"][name][col]["accuracy"] - FLOOR_ACCURACY_GAP
                out[f"gt_cf.{name}.{col}.accuracy"] = {"value": cell["accuracy"], "floor": f">= {bound:.4f}",
                                                       "met": cell["accuracy"] >= bound - 1e-12}
            else:
                out[f"gt_cf.{name}.{col}.mae_sd"] = {"value": cell["mae_sd"], "floor": f"<= {FLOOR_MAE_SD}",
                                                     "met": cell["mae_sd"] <= FLOOR_MAE_SD}
    return out


def model_markdown(result: dict) -> str:
    """The model's keys as Markdown: the four predictors side by side per intervention, then recon, graph,
    effectiveness and the floors (every number from `result`)."""
    methods = {"ceiling": result["ceiling"], "model": result, "column_only": result["baselines"]["column_only"],
               "no_abduction": result["baselines"]["no_abduction"]}
    lines = []
    for name in result["gt_cf"]:
        lines += [f"**{name}** (effectiveness {result['effectiveness'][name]:.3f}; floor: within "
                  f"{FLOOR_ACCURACY_GAP} of the ceiling, or MAE <= {FLOOR_MAE_SD} SD)", "",
                  "| column | metric | " + " | ".join(methods) + " | floor |", "|---|---|" + "---:|" * len(methods) + "---|"]
        for col, cell in result["gt_cf"][name].items():
            metric = "all_correct" if col == "all_correct" else next(iter(cell))
            values = [m["gt_cf"][name][col] for m in methods.values()]
            values = [v if col == "all_correct" else v[metric] for v in values]
            floor = result["floors"].get(f"gt_cf.{name}.{col}.{metric}")
            mark = "" if floor is None else ("met" if floor["met"] else "**missed**")
            lines.append(f"| {col} | {metric if col != 'all_correct' else 'share'} | "
                         + " | ".join(f"{v:.3f}" for v in values) + f" | {mark} |")
        lines.append("")
    lines += ["| column | reconstruction |", "|---|---:|"]
    lines += [f"| {c} | {next(iter(cell))} {next(iter(cell.values())):.3f} |" for c, cell in result["recon"].items()]
    g = result["graph"]
    met = sum(f["met"] for f in result["floors"].values())
    lines += ["", f"Graph: {g['edges']} arrows learned, SHD {g['shd']:.0f} to the world's 43 (floor <= {FLOOR_SHD}: "
              f"{'met' if g['shd'] <= FLOOR_SHD else 'missed'}); missing: {', '.join(g['missing']) or 'none'}; "
              f"extra: {', '.join(g['extra']) or 'none'}; reversed: {', '.join(g['reversed']) or 'none'}.", "",
              f"Floors met: {met} of {len(result['floors'])}"
              + "".join(f"; missed {k} = {f['value']:.3f} (floor {f['floor']})"
                        for k, f in result["floors"].items() if not f["met"]) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        result = json.load(fh)
    print(model_markdown(result))
    if "debias" in result:
        print(debias_markdown(result["debias"]))
