"""The Text what-if result (one HTML string) and the measured effects (one Markdown string), from
explorer/ui/text_view.py: their blocks, their bar pictures and their escaping, on hand-made results and tables (no
models needed)."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

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
    result_html,
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
    """The SVG pictures in `markup`: inline, or as <img> data: URIs (the result's, for st.html)."""
    inline = re.findall(r"<svg.*?</svg>", markup)
    uris = [unquote(u) for u in re.findall(r"<img src='data:image/svg\+xml;charset=utf-8,([^']*)'", markup)]
    return [ET.fromstring(s) for s in inline + uris]


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
    rects = list(panel.iter(f"{SVG}rect"))
    assert rects[0].get("height") == "100%" and rects[0].get("fill") == "#ffffff"  # the card (fixed ink on it)
    heights = [float(r.get("height")) for r in rects[1:]]
    # per class: O's bar then CF's (explorer.ui.text_charts.MODELS)
    assert heights == pytest.approx([BARS_H * p for pair in zip([0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1])
                                     for p in pair], abs=0.06)


def test_the_result_is_one_html_string_with_the_texts_the_predictions_and_the_chart():
    result = _result("My sister was furious.")
    markup = result_html(result)
    assert f"id='{CHART_ID}'" in markup and "<svg" not in markup  # st.html keeps no inline SVG: pictures
    items = [html.unescape(re.sub(r"<[^>]+>", "", i)) for i in re.findall(r"<li>(.*?)</li>", markup)]
    assert items == prediction_lines(result) and len(items) == 4
    assert items[0] == "Original model (O) on your text → anger (70%)"
    assert "My <span" in markup and ">brother</span>" in markup  # the rewrite's new word marked
    assert "The rewrite: every gendered" in markup and "<em>" in markup  # the rule, its quoted words in italics
    assert "The <strong>original model</strong> reads your text as <strong>anger</strong>" in markup
    assert markup.startswith("<div") and markup.endswith("</div>") and "\n" not in markup


def test_visitor_text_and_class_names_are_escaped():
    payload = "<script>alert(1)</script> <b>Mary</b> & *her* $5"
    markup = result_html(_result(payload, classes=("<img src=x>", "fear", "joy", "sadness")))
    assert "<script>" not in markup and "<b>Mary" not in markup and "<img src=x" not in markup
    assert "&#60;script&#62;alert(1)" in markup and "&lt;img src=x&gt;" in markup
    names = [t.text for p in _pictures(markup) for t in p.iter(f"{SVG}text")]
    assert "<img src=x>" in names  # inside the picture it is text, not markup


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
