"""The Text what-if page through AppTest: typed texts, hostile inputs, measured effects and the audit upload.

Results are checked against the service called directly, so the tests hold for any shipped checkpoints.
Tests that need the CausaLM models skip until `python -m explorer train causalm` has written them.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from streamlit.testing.v1 import AppTest

from explorer.paths import PRETRAINED
from apptest_pages import APP, FIRST_LOAD, ROOT, RUN, no_exceptions, open_page

PAGE = "pages/text_whatif.py"


def _shipped(concept: str) -> bool:
    return all((PRETRAINED / f"causalm-{concept}-{w}" / "card.json").exists() for w in ("o", "cf"))


TRAIN = "python -m explorer train causalm"
needs_gender = pytest.mark.skipif(not _shipped("gender"), reason=f"no CausaLM gender checkpoints: {TRAIN}")
needs_adjectives = pytest.mark.skipif(not _shipped("adjectives"), reason=f"no CausaLM adjectives checkpoints: {TRAIN}")


@pytest.fixture(scope="module")
def service():
    from explorer.ui.text_whatif import TEXT

    return TEXT.shared()  # the same cached instance the page uses (one per process)


def _type(at: AppTest, text: str) -> AppTest:
    at.text_area(key="text_input").input(text).run(timeout=RUN)
    no_exceptions(at)
    return at


def _result(at: AppTest) -> str:
    """The HTML of the result: one st.html element (explorer/ui/text_view.py), or "" when there is none."""
    return next((h.proto.body for h in at.get("html") if "<li>" in h.proto.body), "")


def _predictions(at: AppTest) -> list[str]:
    """The prediction list's lines in words, out of the one HTML element that holds the whole result."""
    return [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", _result(at))]


# --- with the models ----------------------------------------------------------------------------------------
@needs_gender
def test_typed_sentence_shows_both_models_and_the_rewrite(service):
    from explorer.ui.text_charts import counterfactual_html, prediction_lines
    from explorer.ui.text_view import CHART_ID

    at = open_page(PAGE)
    at.radio(key="text_concept").set_value("gender").run()
    text = "My sister was furious about the letter from Lakisha."
    _type(at, text)
    result = service.what_if(text, "gender", at.selectbox(key="text_level").value)
    assert _predictions(at) == prediction_lines(result)
    assert len(_predictions(at)) == 4  # O and CF, on the text and on its rewrite
    assert counterfactual_html(result) in _result(at)
    assert "brother" in result.cf and "brother" in _result(at)
    pictures = re.findall(r"<img src='data:image/svg\+xml;charset=utf-8,%3Csvg", _result(at))
    assert len(pictures) == 3 and f"id='{CHART_ID}'" in _result(at)  # the bars (text, rewrite, legend), same element


@needs_gender
def test_empty_text_gives_a_message_not_a_result():
    at = _type(open_page(PAGE), "   \n ")
    assert any("the text is empty" in i.value for i in at.info)
    assert not _result(at) and not _predictions(at)


@needs_gender
def test_ten_thousand_characters_are_cut_with_a_notice(service):
    at = open_page(PAGE)
    text = ("Mary was angry about the long meeting with the landlord. " * 200)[:9_999] + "!"  # 10,000 characters
    _type(at, text)
    warnings = " ".join(w.value for w in at.warning)
    assert "10,000 characters; only the first" in warnings
    assert "the models read only the first 64" in warnings
    assert _predictions(at)


@needs_gender
@pytest.mark.parametrize("text", ["😡😡😡 🤬", "Мария очень сердита.", "玛丽很生气。", "مريم غاضبة جدا"])
def test_emoji_and_other_scripts_get_a_result_and_a_caution(text):
    at = _type(open_page(PAGE), text)
    assert len(_predictions(at)) >= 2
    warnings = " ".join(w.value for w in at.warning)
    assert "vocabulary" in warnings or "not Latin" in warnings


@needs_gender
def test_the_visitors_text_is_shown_escaped():
    at = _type(open_page(PAGE), "<script>alert(1)</script> <b>Mary</b> paid $5 & *left*")
    shown = _result(at)
    assert shown and "<script>" not in shown and "<b>Mary" not in shown
    assert "&#60;script&#62;" in shown and "&#36;5 &#38; &#42;left&#42;" in shown


@needs_adjectives
def test_switching_concept_loads_its_examples_unless_the_text_was_typed(service):
    from explorer.services.text import examples

    at = open_page(PAGE)
    at.radio(key="text_concept").set_value("adjectives").run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert at.text_area(key="text_input").value == examples("adjectives")[0].text
    at.selectbox(key="text_example").set_value(1).run()
    assert at.text_area(key="text_input").value == examples("adjectives")[1].text
    _type(at, "A dull and lifeless film.")
    at.radio(key="text_concept").set_value("gender").run()
    assert at.text_area(key="text_input").value == "A dull and lifeless film."  # typed text is kept


@needs_gender
def test_a_shared_link_opens_its_concept_level_and_text_and_the_address_bar_follows(service):
    text = "Lakisha was furious about the rent."
    at = open_page(PAGE, {"concept": " Race", "level": "GENTLE", "text": text})  # matched loosely
    assert not at.warning
    assert (at.radio(key="text_concept").value, at.selectbox(key="text_level").value) == ("race", "gentle")
    assert at.text_area(key="text_input").value == text
    from explorer.ui.text_charts import prediction_lines
    assert _predictions(at) == prediction_lines(service.what_if(text, "race", "gentle"))
    assert at.query_params == {"concept": "race", "level": "gentle", "text": text}
    _type(at, "My sister was glad.")
    assert at.query_params == {"concept": "race", "level": "gentle", "text": "My sister was glad."}
    at.selectbox(key="text_level").set_value("aggressive").run()
    assert at.query_params["level"] == "aggressive"
    _type(at, "x" * 2_001)  # too long for an address bar: the link keeps concept and level only
    assert at.query_params == {"concept": "race", "level": "aggressive"}


@needs_gender
def test_coming_back_from_another_page_keeps_the_visitors_text():
    at = open_page(PAGE)
    at.radio(key="text_concept").set_value("race").run()
    _type(at, "Lakisha was glad about the rent.")
    at.switch_page("pages/home.py").run(timeout=RUN)
    at.switch_page(PAGE).run(timeout=RUN)
    no_exceptions(at)
    assert at.radio(key="text_concept").value == "race"
    assert at.text_area(key="text_input").value == "Lakisha was glad about the rent."
    assert at.query_params["text"] == "Lakisha was glad about the rent."
    assert at.selectbox(key="text_example").value is None  # the picker does not name an example not on screen
    at.radio(key="text_concept").set_value("gender").run(timeout=RUN)  # the own text stays, still unnamed
    assert at.text_area(key="text_input").value == "Lakisha was glad about the rent."
    assert at.selectbox(key="text_example").value is None
    at.selectbox(key="text_example").set_value(2).run(timeout=RUN)  # picking an example replaces it
    from explorer.services.text import examples

    assert at.text_area(key="text_input").value == examples("gender")[2].text
    long = "Mary was glad. " * 200  # 3,000 characters: too long for the address bar, and the page says so
    _type(at, long)
    assert "text" not in at.query_params
    assert any("longer than 2,000 characters" in c.value and "leaves it out" in c.value for c in at.caption)


@needs_gender
def test_a_linked_example_acts_as_picked_and_bad_link_values_are_named():
    from explorer.services.text import examples

    second = examples("gender")[1].text
    at = open_page(PAGE, {"text": second})
    assert at.selectbox(key="text_example").value == 1  # a test-set example: a concept change may replace it
    at = open_page(PAGE, {"concept": "religion", "level": "extreme", "text": "y" * 3_000})
    notes = " ".join(w.value for w in at.warning)
    assert "concept='religion' is not one of adjectives, gender, race, so gender is shown" in notes
    assert "level='extreme' is not one of balanced, gentle, aggressive, so balanced is shown" in notes
    assert "3,000 characters; its first 2,000 are shown" in notes
    assert at.text_area(key="text_input").value == "y" * 2_000
    assert (at.radio(key="text_concept").value, at.selectbox(key="text_level").value) == ("gender", "balanced")


@needs_gender
def test_audit_upload_shows_the_report_and_offers_downloads():
    from explorer.services.text import example_csv

    at = open_page(PAGE)
    at.file_uploader(key="audit_file").set_value(("mine.csv", example_csv(), "text/csv")).run(timeout=FIRST_LOAD)
    no_exceptions(at)
    assert any("Audited 12 of 12 rows with **Emotion classifier, gender models, balanced bias level "
               "(emotion-gender:balanced)**" in s.value for s in at.success)
    assert {m.label for m in at.metric} >= {"TReATE", "ATE_gt", "CONEXP", "accuracy O", "accuracy CF"}
    # the example CSV, the JSON and Markdown reports, every row's predictions
    assert len(at.get("download_button")) == 4
    captions = [c.value for c in at.caption]
    assert sum(c.startswith("95 % interval ") for c in captions) == 5  # one under each number
    assert any("resampled together" in c for c in captions)


@needs_gender
def test_the_audit_model_follows_the_concept_until_the_visitor_picks_one():
    at = open_page(PAGE)
    assert at.selectbox(key="audit_model").value == "emotion-gender:balanced"
    at.radio(key="text_concept").set_value("race").run()
    at.selectbox(key="text_level").set_value("gentle").run()
    assert at.selectbox(key="audit_model").value == "emotion-race:gentle"
    at.selectbox(key="audit_model").set_value("sentiment-adjectives:aggressive").run()
    at.text_area(key="text_input").input("Lakisha was scared.").run()  # other widgets leave the choice alone
    assert at.selectbox(key="audit_model").value == "sentiment-adjectives:aggressive"
    at.selectbox(key="text_level").set_value("balanced").run()  # nor does section 1, once the visitor picked
    assert at.selectbox(key="audit_model").value == "sentiment-adjectives:aggressive"
    no_exceptions(at)
    assert not at.warning or all("default" not in w.value for w in at.warning)


# --- without the models -------------------------------------------------------------------------------------
def test_a_bad_upload_is_named_not_raised():
    at = open_page(PAGE)
    at.file_uploader(key="audit_file").set_value(("scores.csv", b"name,score\nMary,3\n", "text/csv")).run()
    no_exceptions(at)
    assert any("cannot be audited" in e.value and "no column named `text`" in e.value for e in at.error)


def test_effects_section_reads_the_measurements(tmp_path, monkeypatch):
    from explorer.services import text_effects

    numbers = {"ate_gt": 0.38, "treate": 0.35, "conexp": 0.10, "acc_o": 0.8, "acc_cf": 0.79, "probe_o": 0.9,
               "probe_cf": 0.52, "probe_majority": 0.5, "realised_bias": 0.05, "gap_ci_low": 0.01,
               "gap_ci_high": 0.05, "probe_cf_excess_ci_low": -0.1, "probe_cf_excess_ci_high": 0.12,
               "probe_o_heldout": 0.88, "probe_cf_heldout": 0.77}
    data = {f"gender.{lv}.{k}": v for lv in ("balanced", "gentle", "aggressive") for k, v in numbers.items()}
    path = tmp_path / "evaluate_causalm.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(text_effects, "EFFECTS_JSON", path)
    at = open_page(PAGE)
    at.radio(key="text_concept").set_value("gender").run()
    text = "\n".join(m.value for m in at.markdown)
    assert "swapping the person's gender changes the original model's probability of each emotion" in text
    assert "by **0.38** on average" in text
    assert "the counterfactual model estimates **0.35**" in text
    assert "has forgotten it" in text
    assert "not firm: with another sample of test persons" in text and "from -10 to +12 points" in text
    assert "The gap between TReATE and ATE_gt, 0.030, would be between 0.010 and 0.050" in text
    # The training-persons probe says forgotten; the one that learns on other persons says otherwise.
    assert ("reads it from the test persons 88% of the time from the original encoder and 77% from the "
            "counterfactual one: for persons the counterfactual encoder was not trained on, the concept is still "
            "largely there") in text
    # The table and the bars: static, in the same Markdown element (no chart or grid to redraw on each text).
    header = next(line for line in text.splitlines() if line.startswith("| level |"))
    assert "ATE_gt | TReATE | CONEXP" in header and "ci" not in header and "heldout" not in header
    rows = [line.split(" | ")[0][2:] for line in text.splitlines() if line.startswith("| ") and line != header]
    assert rows == ["balanced", "gentle", "aggressive"]
    assert "| balanced | 0.380 | 0.350 | 0.100 | 0.800 |" in text
    assert "<div id='text-effects'>" in text and ">0.35</text>" in text and not at.get("plotly_chart")

    monkeypatch.setattr(text_effects, "EFFECTS_JSON", tmp_path / "nothing.json")
    at = open_page(PAGE)
    assert any("python -m explorer evaluate causalm --json bench/results/evaluate_causalm.json" in i.value
               for i in at.info)


def test_a_probe_below_the_guess_rate_is_explained(tmp_path):
    from explorer.services.text_effects import effects_reading, effects_table

    numbers = {"ate_gt": 0.2, "treate": 0.18, "probe_o": 0.78, "probe_majority": 0.67}
    path = tmp_path / "e.json"
    for probe_cf, said in ((0.56, True), (0.66, False)):
        path.write_text(json.dumps({f"adjectives.balanced.{k}": v for k, v in (numbers | {"probe_cf": probe_cf}).items()}))
        text = effects_reading(effects_table("adjectives", path=path), "adjectives", "balanced")
        assert "has forgotten it" in text
        assert ("does worse than guessing" in text) is said


def test_other_models_never_show_the_shipped_models_numbers(tmp_path):
    from explorer.services.text_effects import EFFECTS_JSON, EffectsMissing, effects_source, effects_table

    assert effects_source(ROOT / "pretrained")[0] == EFFECTS_JSON  # the shipped models: bench/results/
    path, command = effects_source(tmp_path)  # anyone else's: next to their checkpoints
    assert path == tmp_path / "evaluate_causalm.json"
    assert command == f"python -m explorer evaluate causalm --folder {tmp_path} --json {path}"
    with pytest.raises(EffectsMissing, match="--folder"):
        effects_table("gender", folder=tmp_path)
    path.write_text(json.dumps({"gender.balanced.ate_gt": 0.5}))
    assert effects_table("gender", folder=tmp_path)["ate_gt"].iloc[0] == 0.5


_PROBE = textwrap.dedent("""
    import json
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file({app!r}, default_timeout=180)
    at.switch_page({page!r}).run()
    print("RESULT" + json.dumps({{"errors": [e.value for e in at.error], "exceptions": [e.value for e in at.exception],
                                 "text_areas": len(at.text_area), "subheaders": [s.value for s in at.subheader]}}))
""")


def test_missing_models_give_a_clear_message_and_the_rest_of_the_page(tmp_path):
    env = {**os.environ, "EXPLORER_PRETRAINED": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(app=APP, page=PAGE)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    match = re.search(r"^RESULT(.*)$", proc.stdout, re.M)
    assert match, proc.stderr[-3000:]
    shown = json.loads(match.group(1))
    assert not shown["exceptions"] and shown["text_areas"] == 0
    assert len(shown["errors"]) == 1
    # the command names this folder and only the concept on screen, so it can be run as printed
    assert f"python -m explorer train causalm --only gender --out {tmp_path}" in shown["errors"][0]
    assert any("measured on the test set" in s for s in shown["subheaders"])
    assert any("Audit your own texts" in s for s in shown["subheaders"])
