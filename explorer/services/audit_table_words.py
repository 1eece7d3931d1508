"""The "Audit a model" page's words and tables: every headline number of a table audit read out in a sentence.

Built from the report's numbers only (nothing here computes a metric), as `explorer.evaluate.audit_table_report`
builds the group sentences the command line writes; these add the overall numbers and counterfactual fairness.
"""

from __future__ import annotations

import pandas as pd

from explorer.evaluate.audit_table_report import HEADS, SHOWN

WORDS = {"demographic_parity_difference": "largest minus smallest selection rate",
         "demographic_parity_ratio": "smallest over largest selection rate",
         "equalized_odds_difference": "the larger of the TPR and FPR gaps",
         "equalized_odds_ratio": "the smaller of the TPR and FPR ratios",
         "equal_opportunity_difference": "largest minus smallest TPR (among rows truly positive)",
         "equal_opportunity_ratio": "smallest over largest TPR",
         "demographic_parity_difference_ci_low": "95 % interval of the selection gap: low end",
         "demographic_parity_difference_ci_high": "95 % interval of the selection gap: high end",
         "four_fifths_ratio": "the demographic parity ratio, read against 80 %",
         "four_fifths_passes": "at least 80 %: passes the four-fifths rule"}


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def overall_reading(report: dict) -> list[str]:
    """What was audited and the overall numbers, in words."""
    d, o = report["data"], report["overall"]
    out = [f"Audited: {d['rows']:,} rows of {d.get('source', 'the table')}; the decisions come from "
           f"{d.get('predictions', 'the model')}.",
           f"The positive decision ({d['label']} = {d['positive']}) went to {pct(o['selection_rate'])} of the rows; "
           f"{pct(o['base_rate'])} truly have it. The decision equals the true {d['label']} for "
           f"{pct(o['accuracy'])} of the rows."]
    if o.get("auc") is not None:
        out.append(f"Ranked by the model's probability, a row truly {d['positive']} comes before one that is not "
                   f"{100 * o['auc']:.0f} times in 100 (AUC {o['auc']:.3f}).")
    return out


BINARY_ONLY = ("Counterfactual fairness and recourse are binary only: they ask whether a yes/no decision turns, and "
               "this model chooses among {n} classes. The command line says the same (docs/audit-table.md).")


def multiclass_overall(report: dict) -> list[str]:
    """What was audited and the overall accuracy of a multiclass model, in words."""
    d, classes = report["data"], report["multiclass"]["classes"]
    return [f"Audited: {d['rows']:,} rows of {d.get('source', 'the table')}; the decisions come from "
            f"{d.get('predictions', 'the model')}.",
            f"{d['label']} has {len(classes)} classes ({', '.join(map(str, classes))}): each is audited against the "
            f"rest, its prediction as the decision. The predicted class equals the true {d['label']} for "
            f"{pct(report['overall']['accuracy'])} of the rows."]


def label_note(label: str, values: int, model: bool) -> str:
    """What the audit does with a label of `values` distinct values other than two (`model`: a model, not a
    predictions column, gives the decisions)."""
    if values > 2 and model:
        return (f"{label} has {values} values: the model is audited one class against the rest (counterfactual "
                "fairness and recourse are binary only).")
    return (f"{label} has {values} distinct value(s); the audit needs a yes/no outcome"
            + (" (or, with a model, more than two classes)." if values > 2 else "."))


def cf_reading(cf: dict, protected: tuple[str, ...]) -> list[str]:
    """Counterfactual fairness in words: per protected column the flip rate overall, per group and per path."""
    out = []
    for col in protected:
        sec = cf.get(col)
        if not isinstance(sec, dict):
            continue
        groups = [f"{g}: {pct(v['flip_rate'])}" for g, v in sec.items() if isinstance(v, dict) and "count" in v]
        out.append(f"Had the same people had another {col}, with everything that follows from it in the causal "
                   f"model, {pct(sec['flip_rate'])} of the decisions would change (by the people's {col} today: "
                   f"{', '.join(groups)}); the probability would move by {100 * sec['mean_abs_dp']:.1f} points on "
                   "average.")
        for name, v in sec.get("path", {}).items():
            how = (f"only the model's own reading of the {col} column changed (every arrow out of {col} cut)"
                   if name == "direct" else f"the arrow {', '.join(v['cut']).replace(':', ' → ')} were cut")
            out.append(f"If {how}, {pct(v['flip_rate'])} of the decisions would change (path {name}).")
    if cf.get("held_columns") is not None:
        out.append("Columns the causal model does not know keep their values in the counterfactual row: "
                   f"{', '.join(cf['held_columns']) or 'none'}; derived from a modelled column: "
                   f"{', '.join(f'{c} (from {v})' for c, v in cf.get('derived_columns', {}).items()) or 'none'}.")
    if cf.get("note"):
        out.append(cf["note"])
    return out


def group_table(groups: dict[str, dict]) -> pd.DataFrame:
    """One line per group: its rows and each rate with its 95 % interval."""
    return pd.DataFrame([{"group": str(name), "rows": g["count"],
                          **{h: f"{pct(g[m])} [{pct(g[m + '_ci_low'])}, {pct(g[m + '_ci_high'])}]"
                             for m, h in zip(SHOWN, HEADS)}} for name, g in groups.items()])


def fairness_table(fair: dict) -> pd.DataFrame:
    """One line per fairness measure: its value and what it is."""
    def shown(v) -> str:
        return "—" if v is None else ("yes" if v else "no") if isinstance(v, bool) else f"{v:.3f}"

    return pd.DataFrame([{"measure": k.replace("_", " "), "value": shown(v), "what it is": WORDS.get(k, "")}
                         for k, v in fair.items()])


def cf_table(sec: dict) -> pd.DataFrame:
    """Flip rate and mean |Δp| for all rows, each group and each path."""
    lines = [("all rows", sec["flip_rate"], sec["mean_abs_dp"], "")]
    lines += [(f"{g} ({v['count']:,} rows)", v["flip_rate"], v["mean_abs_dp"], "") for g, v in sec.items()
              if isinstance(v, dict) and "count" in v]
    lines += [(f"path: {name}", v["flip_rate"], v["mean_abs_dp"], ", ".join(v["cut"]))
              for name, v in sec.get("path", {}).items()]
    return pd.DataFrame([{"rows": a, "decisions that flip": f"{100 * f:.1f} %", "mean |Δp|": f"{dp:.3f}",
                          "arrows cut": cut.replace(":", " → ")} for a, f, dp, cut in lines])


def cf_caption(cf: dict) -> str:
    """What the counterfactual fairness tab says of the causal model its numbers went through."""
    if str(cf.get("causal_model", "")).startswith("learned:"):
        return (f"Abduction, action, prediction through the learned model {cf['causal_model'][8:]} (the Table lab's "
                "VAE trained on Adult's rows, its own learned graph; explorer/metrics/cf_fairness_learned.py). On the "
                "census world, where the truth is known, its flip rates run 0.01–0.02 high (docs/audit-table.md).")
    return ("Abduction, action, prediction through the census world (explorer/scm/census.py), fitted to Adult: it "
            "stands in for a causal model of your own table. A wrong graph gives wrong counterfactuals.")
