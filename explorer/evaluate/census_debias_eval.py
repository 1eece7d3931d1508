"""`evaluate census`, the de-biased tables (issue 20, section 4): the learned model's export against the world's.

For each cut set, the learned world model (pretrained/census-vae-world) and the census world each export the same
cut from the same `n` world rows with the same seed and the same shuffle (explorer/counterfactual/census_debias.py):
the model from the rows alone (abduction), the world from their TRUE noise. The measure is the export's: the
bias-corrected Cramer's V of every pair of columns, continuous columns binned at the factual rows' deciles.

- `debias.<cut set>.<a>:<b>.dependence_after` (the model's export), `.dependence_after_true` (the world's) and
  `.dependence_before` (the factual rows), for every pair of columns;
- `debias.<cut set>.max_abs_gap` (the largest |model - TRUE| over the pairs) and `.sex_max_dependence` (sex's
  largest dependence with any column in the model's export; `.sex_max_dependence_true` the world's);
- `debias.classifier.*`: a logistic regression on one-hot columns predicting income from the ten others, trained
  on the factual rows, on each cut set's de-biased rows (the model's and the world's), and, with the Adult model
  (pretrained/census-vae-adult), on the real Adult training rows and on their de-biased export; every one tested
  on the same held-out real rows (the complete Adult test rows): accuracy and the selection-rate gap between the
  sexes (fairlearn's demographic_parity_difference).

Cut sets: `sex_all` cuts every arrow out of sex (in each one's own graph: the model's learned graph and the world's
have the same seven children of sex), `sex_occupation` sex -> occupation alone. `n` defaults to 20,000 rows: at
2,000 the bias-corrected V of two independent columns still scatters by a few hundredths, as much as the floors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_difference
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from explorer.counterfactual.census_debias import export_learned, export_world
from explorer.data.tables import read_adult, to_values
from explorer.models.table_vae import TableVAEModel
from explorer.scm.census import census_rows
from explorer.scm.table_scm import TableSCM

DEBIAS_N = 20_000
FLOOR_SEX = 0.05  # with every arrow out of sex cut, sex's dependence with every column
FLOOR_GAP = 0.05  # |model - TRUE| for every cut set and pair
TARGET = "income"


def cut_sets(model: TableVAEModel, world: TableSCM) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """name -> {"model": arrows cut in the learned graph, "true": the same in the world's graph}."""
    return {"sex_all": {"model": [("sex", c) for c in sorted(model.graph.children("sex"))],
                        "true": [("sex", c) for c in sorted(world.graph.children("sex"))]},
            "sex_occupation": {"model": [("sex", "occupation")], "true": [("sex", "occupation")]}}


def evaluate_debias(model: TableVAEModel, world: TableSCM, n: int = DEBIAS_N, seed: int = 0,
                    adult_model: TableVAEModel | None = None) -> dict:
    """The `debias.*` keys (module docstring), JSON-ready."""
    out: dict = {"n": n, "seed": seed, "measure": "bias-corrected Cramer's V (the export card's)"}
    tables = {}
    for name, cuts in cut_sets(model, world).items():
        frame_m, card_m = export_learned("learned-world", cuts["model"], n, seed, world=world, model=model)
        frame_t, card_t = export_world(cuts["true"], n, seed, world)
        tables[name] = {"model": frame_m, "true": frame_t}
        cell = {pair: {"dependence_before": v["before"], "dependence_after": v["after"],
                       "dependence_after_true": card_t["pairs"][pair]["after"]} for pair, v in card_m["pairs"].items()}
        gaps = {p: abs(v["dependence_after"] - v["dependence_after_true"]) for p, v in cell.items()}
        worst = max(gaps, key=gaps.get)
        sex = {p: v for p, v in cell.items() if "sex" in p.split(":")}
        out[name] = {**cell, "cuts": card_m["cuts"], "max_abs_gap": round(gaps[worst], 4), "max_abs_gap_pair": worst,
                     "sex_max_dependence": max(v["dependence_after"] for v in sex.values()),
                     "sex_max_dependence_true": max(v["dependence_after_true"] for v in sex.values())}
    _, factual = world.sample(n, seed)
    out["classifier"] = classifier_table(world, factual, tables, adult_model, seed)
    return out


def classifier_table(world: TableSCM, factual: dict, tables: dict, adult_model: TableVAEModel | None,
                     seed: int) -> dict:
    """Accuracy and the sexes' selection-rate gap on the real Adult test rows of a classifier trained on each table."""
    adult = read_adult()
    test = census_rows(adult, "test")
    out: dict = {"test_rows": f"{len(test['sex'])} complete real Adult test rows", "factual": _fit_score(factual, test, world)}
    for name, pair in tables.items():
        out[name] = {k: _fit_score(to_values(frame, world.columns), test, world) for k, frame in pair.items()}
    if adult_model is not None:
        real = census_rows(adult, "train")
        cuts = [("sex", c) for c in sorted(adult_model.graph.children("sex"))]
        frame, _ = export_learned("learned-adult", cuts, len(real["sex"]), seed, model=adult_model)
        out["adult"] = {"real": _fit_score(real, test, world),
                        "sex_all_model": _fit_score(to_values(frame, world.columns), test, world)}
    return out


def _fit_score(train: dict, test: dict, world: TableSCM) -> dict:
    features = [c for c in world.columns if c != TARGET]
    cats = [c for c in features if world.columns[c].discrete]
    nums = [c for c in features if not world.columns[c].discrete]
    prep = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), cats), ("num", StandardScaler(), nums)])
    clf = Pipeline([("prep", prep), ("logreg", LogisticRegression(max_iter=2000))])

    def frame(values: dict) -> pd.DataFrame:
        return pd.DataFrame({c: np.asarray(values[c]) for c in features})

    positive = len(world.columns[TARGET].categories) - 1  # the top level: >50K
    with threadpool_limits(1):
        clf.fit(frame(train), np.asarray(train[TARGET]) == positive)
        pred = clf.predict(frame(test))
    truth = np.asarray(test[TARGET]) == positive
    gap = demographic_parity_difference(truth, pred, sensitive_features=np.asarray(test["sex"]))
    return {"accuracy": round(float(np.mean(pred == truth)), 4), "selection_rate_gap": round(float(gap), 4),
            "selection_rate": round(float(np.mean(pred)), 4)}


def debias_floors(debias: dict) -> dict:
    """Issue 20's section-4 floors: {key: {"value", "floor", "met"}}."""
    out = {"debias.sex_all.sex_max_dependence": {"value": debias["sex_all"]["sex_max_dependence"],
                                                 "floor": f"<= {FLOOR_SEX}",
                                                 "met": debias["sex_all"]["sex_max_dependence"] <= FLOOR_SEX}}
    for name in ("sex_all", "sex_occupation"):
        gap = debias[name]["max_abs_gap"]
        out[f"debias.{name}.max_abs_gap"] = {"value": gap, "floor": f"<= {FLOOR_GAP}", "met": gap <= FLOOR_GAP}
    return out


def debias_markdown(debias: dict, shown: int = 5) -> str:
    """Per cut set, sex against every column (before, TRUE after, model after) and the largest gaps; then the
    classifiers side by side. Every number from `debias`."""
    lines = [f"De-biased exports of {debias['n']:,} world rows (seed {debias['seed']}); bias-corrected Cramer's V.", ""]
    for name in ("sex_all", "sex_occupation"):
        cell = debias[name]
        pairs = {p: v for p, v in cell.items() if isinstance(v, dict)}
        lines += [f"**{name}** (cut: {', '.join(cell['cuts'])}; largest |model - TRUE| {cell['max_abs_gap']:.3f} "
                  f"at {cell['max_abs_gap_pair']}; sex's largest dependence after: model "
                  f"{cell['sex_max_dependence']:.3f}, TRUE {cell['sex_max_dependence_true']:.3f})", "",
                  "| pair | before | after (TRUE) | after (model) | abs gap |", "|---|---:|---:|---:|---:|"]
        sex = [p for p in pairs if "sex" in p.split(":")]
        rest = sorted((p for p in pairs if p not in sex),
                      key=lambda p: -abs(pairs[p]["dependence_after"] - pairs[p]["dependence_after_true"]))[:shown]
        for p in sex + rest:
            v = pairs[p]
            lines.append(f"| {p} | {v['dependence_before']:.3f} | {v['dependence_after_true']:.3f} | "
                         f"{v['dependence_after']:.3f} | {abs(v['dependence_after'] - v['dependence_after_true']):.3f} |")
        lines += ["", f"(the pairs with sex, then the {shown} other pairs with the largest gaps)", ""]
    clf = debias["classifier"]
    lines += [f"Logistic regression predicting income, tested on {clf['test_rows']}:", "",
              "| trained on | accuracy | selection-rate gap between sexes | selection rate |", "|---|---:|---:|---:|"]
    rows = [("world rows, factual", clf["factual"])]
    for name in ("sex_all", "sex_occupation"):
        rows += [(f"world rows, {name} de-biased by the world (TRUE)", clf[name]["true"]),
                 (f"world rows, {name} de-biased by the model", clf[name]["model"])]
    if "adult" in clf:
        rows += [("real Adult training rows", clf["adult"]["real"]),
                 ("real Adult training rows, sex_all de-biased by census-vae-adult", clf["adult"]["sex_all_model"])]
    lines += [f"| {label} | {r['accuracy']:.3f} | {r['selection_rate_gap']:.3f} | {r['selection_rate']:.3f} |"
              for label, r in rows]
    return "\n".join(lines) + "\n"
