"""The Text what-if result and the measured effects, each one Markdown string (explorer/ui/text_view.py): their
blocks, their bar pictures and their escaping, on hand-made results and tables (no models needed)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from explorer.counterfactual.text import text_counterfactual
from explorer.services.text import TextResult
from explorer.ui.text_charts import prediction_lines
from explorer.ui.text_view import (
    BARS_H,
    CHART_ID,
    EFFECT_H,
    EFFECTS_ID,
    effects_markdown,
    effects_svg,
    probability_html,
    result_markdown,
)

SVG = "{http://www.w3.org/2000/svg}"
CLASSES = ("anger", "fear", "joy", "sadness")


def _result(text: str, classes: tuple[str, ...] = CLASSES) -> TextResult:
    cf = text_counterfactual(text, "gender")
    o, c = np.array([0.7, 0.1, 0.1, 0.1]), np.array([0.2, 0.5, 0.2, 0.1])  # (C,) each
    o2 = np.array([0.6, 0.2, 0.1, 0.1]) if cf.changed else o
    return TextResult(obs=text, cf=cf.text_cf, true_cf=cf.text_cf, intervened=["gender"], downstream=[], clamped=[],
                      probs={"o": (o, o2), "cf": (c, c)}, concept="gender", level="balanced", classes=classes,
                      rewrite=cf, n_tokens=10, read_chars=len(text))


def _pictures(markup: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", markup)]


def test_two_panels_and_a_legend_when_the_text_was_rewritten_one_panel_when_not():
    changed, same = _result("My sister was furious."), _result("The rent was late.")
    assert changed.rewrite.changed and not same.rewrite.changed
    assert len(_pictures(probability_html(changed))) == 3  # text, rewrite, legend
    assert len(_pictures(probability_html(same))) == 2
    titles = [t.text for p in _pictures(probability_html(changed)) for t in p.iter(f"{SVG}text")]
    assert "Your text" in titles and "Rewritten text" in titles
    assert all(titles.count(c) == 2 for c in CLASSES)  # every class named under both panels


def test_bar_heights_are_the_probabilities():
    panel = _pictures(probability_html(_result("My sister was furious.")))[0]
    heights = [float(r.get("height")) for r in panel.iter(f"{SVG}rect")]
    # per class: O's bar then CF's (explorer.ui.text_charts.MODELS)
    assert heights == pytest.approx([BARS_H * p for pair in zip([0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1])
                                     for p in pair], abs=0.06)


def test_the_result_is_one_markdown_string_with_the_texts_the_predictions_and_the_chart():
    result = _result("My sister was furious.")
    markup = result_markdown(result)
    assert f"id='{CHART_ID}'" in markup
    lines = markup.splitlines()
    assert [line for line in lines if line.startswith("- **")] == prediction_lines(result)
    assert "My <span" in markup and ">brother</span>" in markup  # the rewrite's new word marked
    assert ":small[:gray[The rewrite:" in markup
    blocks = markup.split("\n\n")  # Markdown reads each HTML block whole: none may hold a blank line
    assert blocks[0].startswith("<div") and blocks[-1].startswith("<div") and "\n" not in blocks[-1]


def test_visitor_text_and_class_names_are_escaped():
    payload = "<script>alert(1)</script> <b>Mary</b> & *her* $5"
    markup = result_markdown(_result(payload, classes=("<img src=x>", "fear", "joy", "sadness")))
    assert "<script>" not in markup and "<b>Mary" not in markup and "<img" not in markup
    assert "&#60;script&#62;alert(1)" in markup and "&lt;img src=x&gt;" in markup


def test_a_text_asked_again_is_answered_from_the_kept_results():
    from explorer.ui.text_whatif import answer

    class Counting:  # stands in for TextService: counts the model calls
        calls = 0

        def what_if(self, text: str, concept: str, level: str) -> str:
            self.calls += 1
            if not text.strip():
                raise ValueError("empty")
            return f"{text}|{concept}|{level}"

    service = Counting()
    assert answer(service, "Mary was glad.", "gender", "balanced") == "Mary was glad.|gender|balanced"
    assert answer(service, "Mary was glad.", "gender", "balanced") == "Mary was glad.|gender|balanced"
    assert service.calls == 1
    answer(service, "Mary was glad.", "gender", "gentle")  # another level: another call
    for _ in range(2):
        with pytest.raises(ValueError):
            answer(service, " ", "gender", "balanced")  # errors are not kept: asked each time
    assert service.calls == 4


def _effects() -> pd.DataFrame:
    return pd.DataFrame({"ate_gt": [0.004, 0.13, 0.21], "treate": [0.003, float("nan"), 0.11],
                         "conexp": [0.02, 0.12, 0.21]}, index=pd.Index(["balanced", "gentle", "aggressive"],
                                                                        name="level"))


def test_effect_bars_fit_the_largest_effect_and_a_missing_number_says_so():
    chart, legend = _pictures(effects_svg(_effects(), "gentle"))
    heights = [float(r.get("height")) for r in chart.iter(f"{SVG}rect")]
    # the axis tops at 0.3 (the first nice top over 0.21); the missing TReATE draws no bar
    assert heights == pytest.approx([EFFECT_H * v / 0.3 for v in (0.004, 0.003, 0.02, 0.13, 0.12, 0.21, 0.11, 0.21)],
                                    abs=0.06)
    words = [t.text for t in chart.iter(f"{SVG}text")]
    assert "n/a" in words and "0.13" in words and "0.004" in words and "0.3" in words
    bold = [t.text for t in chart.iter(f"{SVG}text") if t.get("font-weight") == "bold"]
    assert bold == ["gentle"]  # the level on screen
    assert len(list(legend.iter(f"{SVG}rect"))) == 3


def test_the_effects_are_one_markdown_string_reading_bars_table_caption():
    table = _effects().rename(columns={"ate_gt": "ATE_gt", "treate": "TReATE", "conexp": "CONEXP <b>"})
    markup = effects_markdown("At the **gentle** level …", _effects(), table, "gentle", "ATE_gt: a <i>note</i>")
    blocks = markup.split("\n\n")
    assert blocks[0] == "At the **gentle** level …" and blocks[1].startswith(f"<div id='{EFFECTS_ID}'>")
    assert blocks[2].splitlines()[:2] == ["| level | ATE_gt | TReATE | CONEXP &lt;b&gt; |", "|---|---|---|---|"]
    assert "| gentle | 0.130 | n/a | 0.120 |" in blocks[2]
    assert blocks[3] == ":small[:gray[ATE_gt: a &lt;i&gt;note&lt;/i&gt;]]"
