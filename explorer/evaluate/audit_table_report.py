"""The table audit's report in words: the plain-language reading of its main numbers and its Markdown page.

Every sentence is built from the report's numbers (nothing here computes a metric), so the words and the
JSON cannot disagree. "Positive decision" is the label's positive value (for Adult: income >50K).
"""

from __future__ import annotations

from explorer.metrics.group_fairness import FOUR_FIFTHS, BootstrapConfig, gap_interval

SHOWN = ("selection_rate", "true_positive_rate", "false_positive_rate", "false_negative_rate", "accuracy")
HEADS = ("selection rate", "TPR", "FPR", "FNR", "accuracy")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def reading(report: dict, counts, boot: BootstrapConfig) -> list[str]:
    """Plain sentences: the selection gap per protected column (with its interval), the four-fifths rule, the
    equal-opportunity gap, and the smallest intersectional group's uncertainty."""
    label, positive = report["data"]["label"], report["data"]["positive"]
    out = []
    for col, groups in report["groups"].items():
        low = min(groups, key=lambda g: groups[g]["selection_rate"])
        high = max(groups, key=lambda g: groups[g]["selection_rate"])
        a, b = gap_interval(counts, col, low, high, boot)
        gap = 100 * (groups[high]["selection_rate"] - groups[low]["selection_rate"])
        span = "n/a" if a is None else f"{100 * a:.1f} to {100 * b:.1f} points"
        out.append(f"{col} = {low} got the positive decision ({label} = {positive}) {gap:.1f} points less often "
                   f"than {col} = {high} ({_pct(groups[low]['selection_rate'])} vs "
                   f"{_pct(groups[high]['selection_rate'])}; {boot.level:.0%} interval of the gap: {span}).")
        fair = report["fairness"][col]
        verdict = "passes" if fair["four_fifths_passes"] else "fails"
        out.append(f"The lowest {col} group's selection rate is {fair['four_fifths_ratio']:.0%} of the highest's: "
                   f"it {verdict} the four-fifths rule (at least {FOUR_FIFTHS:.0%} passes).")
        out.append(f"Among rows whose true {label} is {positive}, the share given the positive decision differs by "
                   f"up to {100 * fair['equal_opportunity_difference']:.1f} points between {col} groups (equal "
                   f"opportunity difference); with the false positive rate too, by up to "
                   f"{100 * fair['equalized_odds_difference']:.1f} points (equalized odds difference).")
    for key, groups in report["intersections"].items():
        small = min(groups, key=lambda g: groups[g]["count"])
        g = groups[small]
        out.append(f"The smallest {key} group, {small} ({g['count']} rows), has a selection rate of "
                   f"{_pct(g['selection_rate'])} ({boot.level:.0%} interval {_pct(g['selection_rate_ci_low'])} to "
                   f"{_pct(g['selection_rate_ci_high'])}): a small group's number is unsure.")
    return out


def _group_table(groups: dict[str, dict]) -> list[str]:
    lines = ["| group | rows | " + " | ".join(HEADS) + " |", "|---|---:|" + "---:|" * len(HEADS)]
    for name, g in groups.items():
        cells = [f"{_pct(g[m])} [{_pct(g[m + '_ci_low'])}, {_pct(g[m + '_ci_high'])}]" for m in SHOWN]
        lines.append(f"| {name} | {g['count']:,} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(report: dict) -> str:
    """The report as a Markdown page: what was audited, the reading, then the tables."""
    d, o = report["data"], report["overall"]
    lines = ["# Table audit", "",
             f"{d['rows']:,} rows of {d.get('source', 'the table')}; decisions from {d.get('predictions', 'the model')}; "
             f"label `{d['label']}` (positive: `{d['positive']}`), threshold {d['threshold']}.", "",
             f"Overall: accuracy {_pct(o['accuracy'])}, selection rate {_pct(o['selection_rate'])}, base rate "
             f"{_pct(o['base_rate'])}" + (f", AUC {o['auc']:.3f}." if o["auc"] is not None else "."), "",
             *_failed_lines(d), "## Reading", "", *[f"- {s}" for s in report["reading"]], ""]
    level = report["bootstrap"]["level"]
    for title, section in (("Groups", report["groups"]), ("Intersections", report["intersections"])):
        for col, groups in section.items():
            lines += [f"## {title}: {col}", "", f"Rate [{level:.0%} interval]", "", *_group_table(groups), ""]
    lines += ["## Fairness (fairlearn)", "", "| columns | measure | value |", "|---|---|---:|"]
    for col, fair in report["fairness"].items():
        lines += [f"| {col} | {k} | {v if isinstance(v, bool) or v is None else f'{v:.4f}'} |" for k, v in fair.items()]
    lines += _input_lines(d.get("model_inputs")) + _multiclass_lines(report.get("multiclass"), level)
    return "\n".join(lines + _cf_lines(report.get("cf_fairness")) + _recourse_lines(report.get("recourse"))) + "\n"


FAILED_TITLE = "Rows the model could not score"


def failed_rows(data: dict) -> tuple[str, list[list[str]]] | None:
    """`data.failed_rows` (the rows the model failed on, left out of every number) as its note, with how many, and
    one line per example (row, error); None when the audit has no such key, or it counts none (every row scored)."""
    failed = data.get("failed_rows")
    if not failed or not failed.get("count"):
        return None
    shown, note = failed.get("examples", []), " ".join(str(failed["note"]).split()).rstrip(".")
    more = f" Listed: the first {len(shown)} of {failed['count']:,}." if 0 < len(shown) < failed["count"] else ""
    return note[:1].upper() + note[1:] + "." + more, [[str(e["row"]), str(e["error"])] for e in shown]


def _failed_lines(data: dict) -> list[str]:
    failed = failed_rows(data)
    if failed is None:
        return []
    return ["", f"## {FAILED_TITLE}", "", failed[0], *(["", "| row | error |", "|---:|---|"] if failed[1] else []),
            *[f"| {r} | {e} |" for r, e in failed[1]], ""]


def inputs_sentence(inputs: dict | None) -> str | None:
    """Which model inputs read which column, when the user mapped some by hand (`--map`); None otherwise."""
    if not inputs or not inputs.get("by_map"):
        return None
    return ("Model inputs mapped by you: " + ", ".join(f"{c} → {i}" for i, c in inputs["by_map"].items())
            + "; matched by name: " + (", ".join(f"{c} → {i}" for i, c in inputs["by_name"].items()) or "none") + ".")


def matching_sentence(m: dict) -> str:
    """How the table's columns were matched to the causal model's variables (`cf_fairness.matching`)."""
    return ("Columns matched to the causal model's variables by name: "
            f"{', '.join(f'{c} → {v}' for c, v in m['by_name'].items()) or 'none'}; by your map: "
            f"{', '.join(f'{c} → {v}' for c, v in m['by_map'].items()) or 'none'}.")


def _input_lines(inputs: dict | None) -> list[str]:
    sentence = inputs_sentence(inputs)
    return [] if sentence is None else ["", "## Model inputs", "", sentence]


def _multiclass_lines(mc: dict | None, level: float) -> list[str]:
    """A multiclass audit: per class (one against the rest), each group set's rates and fairlearn's measures."""
    if mc is None:
        return []
    lines = ["", "## Multiclass: each class against the rest", "", mc["note"] + ".", ""]
    for c, sec in mc["per_class"].items():
        for col, groups in sec["groups"].items():
            lines += [f"### Class {c} against the rest: {col}", "", f"Rate [{level:.0%} interval]", "",
                      *_group_table(groups), ""]
            fair = sec["fairness"][col]
            lines += ["| measure | value |", "|---|---:|"] + [
                f"| {k} | {v if isinstance(v, bool) or v is None else f'{v:.4f}'} |" for k, v in fair.items()] + [""]
    return lines


ANSWER_HEADS = ["method", "answer", "cost", "probability", "seconds", "against the graph"]


def answer_rows(example: dict) -> list[list[str]]:
    """A recourse example's two answers, a line each (HTML, PDF and Markdown alike): found or not, cost, the
    probability before and after, seconds, and whether the baseline's answer is one the causal model would give."""
    out = []
    for name, key in (("causal", "causal"), ("non-causal", "noncausal")):
        a = example[key]
        graph = ("follows it" if key == "causal" else "n/a" if a.get("inconsistent") is None
                 else "inconsistent" if a["inconsistent"] else "consistent")
        out.append([name, "found" if a["found"] else "none", f"{a['cost']:.2f}" if a["found"] else "n/a",
                    f"{a['p_before']:.2f} → {a['p_after']:.2f}", f"{a['seconds']:.2f}", graph])
    return out


def settings_sentence(settings: dict | None) -> str | None:
    """The search settings of one example (the page's rows each carry theirs); None when the example has none."""
    if not settings:
        return None
    weights = ", ".join(f"{c} {w:g}" for c, w in settings.get("costs", {}).items() if w != 1) or "all 1"
    return (f"Searched with at most {settings['max_changes']} change(s) among "
            f"{', '.join(settings['actionable']) or 'no column'}; cost weights: {weights}; {settings['draws']} "
            f"posterior draws, the flip needed in {settings['min_share']:.0%} of them.")


def _recourse_lines(rec: dict | None) -> list[str]:
    """The recourse section: its reading and, per worked example, its sentence and both answers' numbers."""
    if rec is None:
        return []
    lines = ["", "## Recourse", "", *[f"- {s}" for s in rec.get("reading") or [rec["note"]]], ""]
    for ex in rec.get("examples", []):
        lines += [f"### Row {ex['row']}", "", ex["sentence"], *filter(None, [settings_sentence(ex.get("settings"))]),
                  "", "| " + " | ".join(ANSWER_HEADS) + " |", "|---" * len(ANSWER_HEADS) + "|",
                  *["| " + " | ".join(r) + " |" for r in answer_rows(ex)], ""]
    return lines


def _cf_lines(cf: dict | None) -> list[str]:
    """The counterfactual fairness section: flip rate and mean |dp| per protected column, group and path."""
    if cf is None:
        return []
    lines = ["", "## Counterfactual fairness", ""]
    if "note" in cf:
        lines += [cf["note"], ""]
    heads = ["| column | rows | flip rate | mean abs dp |", "|---|---|---:|---:|"]
    for col, sec in cf.items():
        if not isinstance(sec, dict) or "flip_rate" not in sec:
            continue
        lines += heads + [f"| {col} | all | {_pct(sec['flip_rate'])} | {sec['mean_abs_dp']:.4f} |"]
        lines += [f"| {col} | {g} | {_pct(v['flip_rate'])} | {v['mean_abs_dp']:.4f} |" for g, v in sec.items()
                  if isinstance(v, dict) and "count" in v]
        lines += [f"| {col} | path {name} | {_pct(v['flip_rate'])} | {v['mean_abs_dp']:.4f} |"
                  for name, v in sec["path"].items()] + [""]
    if "matching" in cf:
        lines.append(matching_sentence(cf["matching"]))
    if "held_columns" in cf:
        lines.append(f"Held at their factual values: {', '.join(cf['held_columns']) or 'none'}; derived: "
                     f"{', '.join(f'{c} (from {v})' for c, v in cf['derived_columns'].items()) or 'none'}.")
    return lines
