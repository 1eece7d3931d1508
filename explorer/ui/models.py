"""The Home page's model list: the classifiers' descriptions and the shipped checkpoints' cards, as the services
read them (`ImageService.page`, `explorer.services.common.model_cards`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.services.image import REBUILD
from explorer.ui.image_answer import NAMES

# Card metric -> what it means for a reader who does not train models. Keys ending in a variable's or a bias
# level's name ("val_mae_light", "val_acc.gentle") are read by their stem.
METRIC_WORDS = {
    "val_acc": "accuracy on held-out data",
    "val_recon_l1_0_255": "average pixel error when redrawing a digit (0–255 scale, lower is better)",
    "val_recon_mse": "pixel error when redrawing a scene (lower is better)",
    "graph_edge_differences": "arrows of the learned graph that differ from the true one",
    "val_mae": "error reading the {x} off a picture (average, held-out scenes)",
    "val_concept_mae": "error reading the {x} off a picture (average, held-out scenes)",
    "val_effectiveness_mae": "after do({x}), how far the drawn scene's {x} is from the value set",
    "val_gt_cf_mse": "pixel error of the what-if against the true answer after do({x})",
}
# Whole card keys of the census world (pretrained/census_world): how close the fitted world is to the real table.
CENSUS_WORDS = {
    "classifier.real_to_real.accuracy": "income read right by a model trained and tested on real rows",
    "classifier.world_to_real.accuracy": "income read right on real rows by a model trained on the world's rows",
    "classifier.real_to_world.accuracy": "income read right on the world's rows by a model trained on real rows",
    "tv.median": "typical column's difference from the real table (total variation, median; 0 is identical)",
    "tv.max": "most different column's difference from the real table (total variation, 0 is identical)",
    "dependence.mean_abs_diff": "pairs of columns: average dependence difference from the real table (Cramér's V)",
    "dependence.max_abs_diff": "pairs of columns: largest dependence difference from the real table (Cramér's V)",
}
# Whole card keys of the shipped table classifiers (pretrained/adult-logreg, adult-gbm), measured on Adult's test rows.
TABLE_WORDS = {
    "test_accuracy": "income read right on held-out people (accuracy)",
    "test_auc": "how well it ranks higher earners above the rest (AUC: 0.5 is chance, 1 is perfect)",
}


# What each kind of model does in the app, for a reader who does not train models (the card's own description,
# written by the training code, goes under "Technical details").
KIND_WORDS = {
    "classifier": "Reads which digit a picture shows; asked about every what-if on the Image page.",
    "generator": "Draws the what-if digit on the Image page.",
    "causal-vae": "Draws the what-if pendulum scene and holds the arrows it learned (Causal graph lab).",
    "regressor": "Reads a scene's values off a picture, to check what the lab's model drew (Causal graph lab).",
    "census-world": "A census world fitted to the Adult table, whose counterfactuals are known exactly (table lab, "
                    "to come).",
    "table-classifier": "Predicts whether a person's income is above 50K from the Adult table's columns; shipped "
                        "so that an audit (`python -m explorer audit-table`) has a model to examine.",
}
_LEVEL_ORDER = {"balanced": 0, "gentle": 1, "aggressive": 2}


def plain_words(name: str, card: dict) -> str:
    """One sentence on what the model is for, from its folder name and kind."""
    if card.get("kind") == "causalm":
        _, concept, which = (name.split("-") + ["", ""])[:3]
        role = ("the **original** model (O)" if which == "o" else
                f"the **counterfactual** model (CF), trained to forget {concept}")
        return f"Text what-if page, concept **{concept}**: {role}, with one task model per bias level."
    if name.endswith("oracle"):
        return "A judge for the evaluation: does a digit drawn after do(digit) read as that digit? Not on the pages."
    return KIND_WORDS.get(card.get("kind", ""), "")


def _order(key: str) -> tuple:
    """Card metrics in reading order: training time last, bias levels balanced → gentle → aggressive."""
    stem, _, level = key.partition(".")
    return (stem.startswith("train_"), stem, _LEVEL_ORDER.get(level, 9), level)


def _words(name: str) -> tuple[str, bool]:
    """(the metric's words, whether its value is a share) for a card key."""
    if name in CENSUS_WORDS:
        return CENSUS_WORDS[name], name.endswith(".accuracy")
    if name in TABLE_WORDS:
        return TABLE_WORDS[name], name == "test_accuracy"
    stem, _, level = name.partition(".")
    if stem == "val_acc":
        return METRIC_WORDS[stem] + (f" ({level} bias level)" if level else ""), True
    for prefix in sorted(METRIC_WORDS, key=len, reverse=True):  # longest first: val_concept_mae before val_mae
        if stem.startswith(prefix + "_") and "{x}" in METRIC_WORDS[prefix]:
            return METRIC_WORDS[prefix].format(x=stem[len(prefix) + 1:].replace("_", " ")), False
    return METRIC_WORDS.get(stem, name.replace("_", " ")), False


def _metric(name: str, value: object) -> str:
    if name in ("train_seconds", "train_minutes") and isinstance(value, (int, float)):
        minutes = value / 60 if name == "train_seconds" else value
        took = f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"
        return f"- training time: **{took}**"
    words, share = _words(name)
    shown = (f"{value:.1%}" if share else f"{value:.4g}") if isinstance(value, float) else str(value)
    return f"- {words}: **{shown}**"


def classifier_list(classifiers: dict[str, str]) -> None:
    """The digit classifiers every what-if asks ({name: description}), by the names the Image page uses."""
    st.markdown("Classifiers asked *\"which digit is this?\"* on every what-if:\n"
                + "\n".join(f"- **{NAMES.get(n, n)}**: {words}" for n, words in classifiers.items()))


def model_cards(cards: list[tuple[str, dict]], folder: Path) -> int:
    """One bordered box per checkpoint (folder name, card) with its description, metrics, date and command.

    Args:
        cards: the checkpoints' cards, as `explorer.services.common.model_cards` reads them from `folder`.
        folder: where they were read from, named when there are none.

    Returns:
        The number of cards shown (0 shows how to build them).
    """
    if not cards:
        st.warning(f"No trained models found in `{folder}`. Build them with:\n\n```\n{REBUILD}\n```")
        return 0
    for name, card in cards:
        with st.container(border=True):
            st.markdown(f"**{name}** · trained {card.get('date', 'unknown date')}")
            st.markdown(plain_words(name, card))
            metrics = card.get("metrics", {})
            if metrics:
                st.markdown("\n".join(_metric(k, metrics[k]) for k in sorted(metrics, key=_order)))
            with st.expander("Technical details and how to rebuild it"):
                st.markdown(card.get("description", "(no description)"))
                if "data" in card:
                    st.caption(f"Data: {card['data']}")
                if "command" in card:
                    st.code(card["command"], language="bash")
    return len(cards)
