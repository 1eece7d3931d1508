"""The text page's measured effects: the test-set numbers `python -m explorer evaluate causalm` writes, read per
concept and bias level, and said in plain words.

Split from `text.py` (the what-if) so each stays small; the page gets all of it through `TextService.page`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from explorer.datasets.text_tasks import LEVELS
from explorer.paths import PRETRAINED, ROOT
from explorer.registry import rebuild_causalm

EFFECTS_JSON = ROOT / "bench" / "results" / "evaluate_causalm.json"
EVALUATE = "python -m explorer evaluate causalm --json bench/results/evaluate_causalm.json"
METRICS = ("ate_gt", "treate", "conexp", "acc_o", "acc_cf", "probe_o", "probe_cf", "probe_majority",
           "realised_bias")
# Read out in words, not tabled: 95 % intervals from resampling the test set's persons (templates) or reviews,
# and the held-out probes (trained on the validation texts, whose persons no eraser saw, tested on test).
INTERVALS = ("gap_ci_low", "gap_ci_high", "probe_cf_excess_ci_low", "probe_cf_excess_ci_high",
             "probe_o_heldout", "probe_cf_heldout")
TASKS = {"adjectives": "sentiment of a film review", "gender": "emotion in a sentence about a person",
         "race": "emotion in a sentence about a person"}
ACTIONS = {"adjectives": "Removing the adjectives from a review", "gender": "Swapping the person's gender",
           "race": "Swapping the person's first name or surname for one of the other race"}


class EffectsMissing(FileNotFoundError):
    """The concept-effect measurements are not there yet; str(err) names the command that writes them."""


def num(x: float | None) -> str:
    """An effect in words. Effects span 0.001-0.5: two decimals hide the small ones, so small values get three."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.3f}"


def effects_source(folder: Path | None = None) -> tuple[Path, str]:
    """Where the measured effects of the models in `folder` are read from, and the command that writes them.

    The shipped models' numbers live in bench/results/; any other models' next to their checkpoints, so that a
    page serving other models (EXPLORER_PRETRAINED) never shows the shipped models' numbers as theirs.
    """
    folder = folder or PRETRAINED
    if folder.resolve() == (ROOT / "pretrained").resolve():
        return EFFECTS_JSON, EVALUATE
    path = folder / "evaluate_causalm.json"
    return path, f"python -m explorer evaluate causalm --folder {folder} --json {path}"


def effects_table(concept: str, path: Path | None = None, folder: Path | None = None) -> pd.DataFrame:
    """The concept's test-set measurements per bias level (rows) and metric (columns, METRICS), for the models
    in `folder` (default: the page's), or from the JSON at `path`.

    Raises:
        EffectsMissing: The JSON is missing, unreadable or has no numbers for `concept`; the message names
            the command that writes it.
    """
    source, command = effects_source(folder)
    path = path or source
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not path.exists():
        raise EffectsMissing(f"The concept effects have not been measured yet: `{where}` is missing. It is written "
                             f"by\n\n```\n{command}\n```\n\n(after the models are trained with "
                             f"`{rebuild_causalm(folder=folder)}`).")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EffectsMissing(f"`{where}` could not be read ({err}). Write it again with\n\n"
                             f"```\n{command}\n```") from err
    rows = {lv: [data.get(f"{concept}.{lv}.{m}") for m in METRICS + INTERVALS] for lv in LEVELS}
    rows = {lv: v for lv, v in rows.items() if any(x is not None for x in v[:len(METRICS)])}
    if not rows:
        raise EffectsMissing(f"`{where}` has no numbers for the {concept} concept. Write it again with\n\n"
                             f"```\n{command}\n```")
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(METRICS + INTERVALS)).astype(float)
    frame.index.name = "level"
    return frame


def level_words(concept: str, level: str) -> str:
    """What a bias level means for a concept's training data, from the constants that made it."""
    if concept == "adjectives":
        from explorer.data.rotten import BIAS_LEVELS

        return (f"the task model was trained on reviews where being rich in adjectives and being *fresh* "
                f"correlate at {BIAS_LEVELS[level]:.2f}")
    from explorer.scm.templates import TARGET_CLASS, TEMPLATE_BIAS

    who = "about a woman" if concept == "gender" else "with a Black-associated name"
    share = TEMPLATE_BIAS[level]
    if share == 0:
        return "the task model's training sentences carry no injected bias"
    return (f"in the task model's training data, {share:.0%} of the sentences {who} were relabelled "
            f"*{TARGET_CLASS[concept]}* whatever their emotion word said")


def effects_reading(frame: pd.DataFrame, concept: str, level: str) -> str:
    """The measurements of one level in plain words (Markdown), generated from the numbers."""
    if level not in frame.index:
        return f"No measurements for the {level} level."
    r = {k: (None if pd.isna(v) else float(v)) for k, v in frame.loc[level].items()}
    gt, est, corr = r.get("ate_gt"), r.get("treate"), r.get("conexp")
    what = ("probability of *fresh* (vs *rotten*)" if concept == "adjectives"
            else "probability of each emotion (averaged over the four)")
    effect = [f"At the **{level}** level ({level_words(concept, level)}), {ACTIONS[concept].lower()} changes the "
           f"original model's {what} by **{num(gt)}** on average (ATE_gt, on the test set's true rewritten "
           f"texts); the counterfactual model estimates **{num(est)}** without seeing any rewritten text (TReATE)."]
    if gt is not None and est is not None and corr is not None:
        better = abs(est - gt) <= abs(corr - gt)
        effect.append(f"The correlational shortcut CONEXP, which only compares test texts with and without the "
                   f"concept, says {num(corr)}: {'further from' if better else 'closer to'} the measured effect "
                   f"than TReATE{'' if better else ' at this level'}.")
    units = "reviews" if concept == "adjectives" else "persons"
    gone: list[str] = []
    sure: list[str] = []
    acc: list[str] = []
    po, pcf, maj = r.get("probe_o"), r.get("probe_cf"), r.get("probe_majority")
    if None not in (po, pcf, maj):
        verdict = ("the counterfactual encoder has forgotten it" if pcf <= maj + 0.05
                   else "the counterfactual encoder still carries some of it")
        if pcf < maj - 0.05:  # worse than guessing: the probe fitted noise that misleads it on new texts
            verdict += (" (the probe even does worse than guessing: with nothing left to learn, it picked up "
                        "chance patterns that mislead it on new texts)")
        gone.append(f"A linear probe reads the concept from the original encoder {po:.0%} of the time and from the "
                   f"counterfactual encoder {pcf:.0%} (always guessing the commoner value: {maj:.0%}): {verdict}.")
    lo, hi = r.get("probe_cf_excess_ci_low"), r.get("probe_cf_excess_ci_high")
    if None not in (lo, hi) and lo <= 0.05 < hi:
        gone.append(f"That verdict is not firm: with another sample of test {units}, the probe on the counterfactual "
                   f"encoder could land anywhere from {lo * 100:+.0f} to {hi * 100:+.0f} points around the "
                   "majority guess (95% interval).")
    ho, hcf = r.get("probe_o_heldout"), r.get("probe_cf_heldout")
    if None not in (ho, hcf, maj):
        # The probe above learns on the training texts, the very ones CF's eraser was fitted on; this one learns
        # on other people (or reviews), so it asks whether the concept is gone for texts CF was never shown.
        held = ("gone there too" if hcf <= maj + 0.05 else "still largely there" if hcf - maj > (ho - maj) / 2
                else "partly there")
        gone.append(f"A probe that learns from other {units} (the validation set) instead reads it from the test "
                   f"{units} {ho:.0%} of the time from the original encoder and {hcf:.0%} from the counterfactual "
                   f"one: for {units} the counterfactual encoder was not trained on, the concept is {held}.")
    lo, hi = r.get("gap_ci_low"), r.get("gap_ci_high")
    if None not in (lo, hi, gt, est):
        sure.append(f"The gap between TReATE and ATE_gt, {num(abs(est - gt))}, would be between {num(lo)} and "
                   f"{num(hi)} with another sample of test {units} (95% interval).")
    ao, acf = r.get("acc_o"), r.get("acc_cf")
    if ao is not None and acf is not None:
        acc.append(f"Task accuracy ({TASKS[concept]}): {ao:.1%} for the original model, {acf:.1%} for the "
                   "counterfactual one.")
    # a short paragraph per question, so a reader can stop after the first
    parts = [" ".join(effect)]
    parts += [f"**Is the concept gone from the counterfactual model?** {' '.join(gone)}"] if gone else []
    parts += [f"**How firm are these numbers?** {' '.join(sure)}"] if sure else []
    parts += [f"**Accuracy.** {' '.join(acc)}"] if acc else []
    return "\n\n".join(parts)
