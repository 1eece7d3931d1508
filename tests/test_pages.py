"""Every page through Streamlit's AppTest: widgets set by key, assertions on what the page shows.

The page's numbers are checked against the what-if service called directly, so the tests hold for the
tiny development checkpoints and for the shipped ones alike.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.paths import PRETRAINED
from apptest_pages import APP, ROOT, no_exceptions, open_page

WHATIF = "pages/image_whatif.py"


@pytest.fixture(scope="module")
def service():
    """The same cached service the pages use (Streamlit's resource cache is per process)."""
    from explorer.ui.image_whatif import IMAGE

    return IMAGE.shared()


def _panel(at: AppTest, key: str) -> dict:
    """The parts the Image page sent to one mount of its answer panel (explorer/ui/render.py: "image_answer" beside
    the controls, "image_readers" under the classifiers' heading)."""
    (component,) = [e for e in at.get("bidi_component") if e.key == key]
    data = json.loads(component.proto.json)
    return (json.loads(data) if isinstance(data, str) else data)["parts"]


def _md(runs: list[list[str]]) -> str:
    """A panel's runs written as the page's Markdown used to write them: bold **...**, a flip :red[**...**]."""
    return "".join(t if not s else f"**{t}**" if s == "b" else f":red[**{t}**]" for t, s in runs)


def _image(at: AppTest, caption_part: str) -> str:
    urls = [p["src"] for p in _panel(at, "image_answer")["pictures"] if caption_part in p.get("caption", "")]
    assert len(urls) == 1, f"expected one picture captioned {caption_part!r}, found {len(urls)}"
    return urls[0]


def _boxes(at: AppTest) -> list[str]:
    """The panel's notes (no true answer, the knock-on effect, the classifiers' summary), as Markdown."""
    answer, readers = _panel(at, "image_answer"), _panel(at, "image_readers")
    return [_md(r) for r in (answer["unknown"], answer["knock"], readers["summary"]) if r]


def _move(at: AppTest, name: str, value: float) -> AppTest:
    """A quick slider's move (explorer/ui/quick_sliders.py), as its component's callback applies it: AppTest
    cannot run the component's JavaScript, so the test sets the session keys the callback sets, and reruns."""
    at.session_state[f"value_{name}"] = value
    at.session_state[f"do_{name}"] = True
    return at.run()


def _value(at: AppTest, name: str) -> float:
    return at.session_state[f"value_{name}"]


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _table_row(at: AppTest, label: str) -> list[str]:
    """The cells of the values table's row whose label ("**This digit**: value in the causal model") has `label`."""
    rows = _panel(at, "image_answer")["values"]["rows"]
    return next(row[2:] for row in rows if label in f"**{row[0]}**: {row[1]}")


def _prediction_lines(at: AppTest) -> list[str]:
    return [f"- {_md(line)}" for line in _panel(at, "image_readers")["lines"]]


def _lines(result) -> list[str]:
    """The prediction lines the page should show for `result`, written as `_prediction_lines` reads them."""
    from explorer.ui.image_answer import lines

    return [f"- {_md(line)}" for line in lines(result)]


def _expected_verdicts(result) -> list[str]:
    out = []
    for p, q in result.probs.values():
        a, b = int(np.argmax(p)), int(np.argmax(q))
        out.append(f"prediction flips {a} → {b}" if a != b else f"prediction stays {a}")
    return out


# --- Home ---------------------------------------------------------------------------------------------
def test_home_explains_shows_one_live_picture_cards_and_device(service):
    from explorer.device import describe

    at = open_page()
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Counterfactual Explorer"
    text = _text(at)
    for step in ("abduction", "action", "prediction"):
        assert step in text
    assert len(at.image) == 1 and "do(thickness = 5)" in at.image[0].captions[0]
    for folder in sorted(p for p in PRETRAINED.iterdir() if (p / "card.json").exists()):
        card = json.loads((folder / "card.json").read_text())
        assert f"**{folder.name}**" in text
        assert card["description"] in text
        assert card["command"] in [c.value for c in at.code]
    assert f"The models run on **{describe(service.device)}**" in text
    assert any("Computing on" in c.value for c in at.sidebar.caption)


# --- Image what-if: the slider path -------------------------------------------------------------------
def test_whatif_first_view_matches_the_service(service):
    at = open_page(WHATIF)
    assert at.number_input(key="index").value == 0
    result = service.what_if(0, {}, False)
    digit, thickness, intensity = _table_row(at, "**This digit**: value in the causal model")
    assert digit == str(int(result.obs["digit"])) and thickness == f"{result.obs['thickness']:.1f} px"
    for line, verdict in zip(_prediction_lines(at), _expected_verdicts(result), strict=True):
        assert verdict in line
    assert _image(at, "Original: test digit #0")
    assert _image(at, "the true answer")  # no do(digit): the true counterfactual exists
    assert at.query_params == {"index": "0"}


def test_moving_thickness_changes_image_values_and_predictions(service):
    prediction_lines = _lines
    factual = service.what_if(0, {}, False)
    # a thickness whose effect on the classifiers shows in the sentences (confident models may not budge)
    target = next((t for t in (1.0, 5.5, 1.5, 4.5)
                   if prediction_lines(service.what_if(0, {"thickness": t}, False)) != prediction_lines(factual)),
                  None)
    assert target is not None, "no thickness changes any classifier's answer on test digit #0"
    at = open_page(WHATIF)
    before_img, before_pred = _image(at, "drawn by the model"), _prediction_lines(at)
    assert before_pred == prediction_lines(factual)

    _move(at, "thickness", target)
    no_exceptions(at)
    assert at.checkbox(key="do_thickness").value, "moving a slider ticks its do() box"
    result = service.what_if(0, {"thickness": target}, False)
    _, thickness, intensity = _table_row(at, "**What if**: value in the causal model")
    assert thickness == f"{target:.1f} px (set by you)"
    assert intensity == f"{result.cf['intensity']:.0f} of 255 (follows)"  # thickness -> intensity downstream
    assert result.cf["intensity"] != pytest.approx(factual.obs["intensity"])
    assert any("Knock-on effect:** in this world thickness causes intensity, so intensity" in b for b in _boxes(at))
    assert _image(at, "drawn by the model") != before_img
    # the pictures come in the rerun's message as data: URIs of exactly the service's drawings (images.uri)
    from explorer.ui.image_answer import PIXELS
    from explorer.ui.images import difference_uri, png_uri

    assert _image(at, "drawn by the model") == png_uri(result.generated, PIXELS)
    assert _image(at, "the true answer") == png_uri(result.true_image, PIXELS)
    assert _image(at, "minus original") == difference_uri(result.difference, PIXELS)
    assert _prediction_lines(at) == prediction_lines(result) != before_pred
    assert at.query_params == {"index": "0", "thickness": f"{target:.1f}"}

    at.checkbox(key="do_thickness").uncheck().run()  # unticked: no intervention, slider back to the digit
    no_exceptions(at)
    assert _value(at, "thickness") == pytest.approx(factual.obs["thickness"])
    assert "(set by you)" not in "".join(_table_row(at, "**What if**: value in the causal model"))
    assert _prediction_lines(at) == before_pred
    assert at.query_params == {"index": "0"}


def test_an_older_address_is_shown_on_back_but_never_undoes_a_widget_move():
    at = open_page(WHATIF, {"index": "0"})
    _move(at, "thickness", 3.0)
    assert at.query_params == {"index": "0", "thickness": "3.0"}
    # the browser's Back: the same widgets, an older address -> the page shows what that address says
    at.query_params.clear()
    at.query_params.update({"index": "0"})
    at.run()
    no_exceptions(at)
    assert not at.checkbox(key="do_thickness").value and at.query_params == {"index": "0"}
    assert "(set by you)" not in "".join(_table_row(at, "**What if**: value in the causal model"))
    # a slider moved again before the browser showed the last link: the run carries the older address, and
    # the move wins (it used to be undone, the slider snapping back to the old link's value)
    _move(at, "thickness", 3.5)
    assert at.query_params == {"index": "0", "thickness": "3.5"}
    at.query_params.clear()
    at.query_params.update({"index": "0"})  # stale: what the browser showed before that run's link arrived
    _move(at, "thickness", 4.0)
    no_exceptions(at)
    assert at.checkbox(key="do_thickness").value and _value(at, "thickness") == pytest.approx(4.0)
    assert at.query_params == {"index": "0", "thickness": "4.0"}


def test_holding_intensity_fixed_stops_the_knock_on_effect(service):
    at = open_page(WHATIF)
    factual = service.what_if(0, {}, False).obs
    at.checkbox(key="do_intensity").check().run()
    _move(at, "thickness", 5.0)
    no_exceptions(at)
    _, thickness, intensity = _table_row(at, "**What if**: value in the causal model")
    assert thickness == "5.0 px (set by you)"
    assert intensity == f"{factual['intensity']:.0f} of 255 (set by you)"
    assert not any("Knock-on effect" in b for b in _boxes(at))


def test_flip_message_matches_the_classifiers(service):
    """do(digit) to each other class until some classifier flips; the page must say exactly that."""
    factual = int(service.what_if(0, {}, False).obs["digit"])
    target = next((d for d in range(10) if d != factual and any(service.what_if(0, {"digit": d}).flips().values())),
                  None)
    assert target is not None, "no do(digit) flips any classifier on test digit #0: the models do not react"
    at = open_page(WHATIF)
    at.slider(key="value_digit").set_value(target).run()
    no_exceptions(at)
    result = service.what_if(0, {"digit": target}, False)
    lines = _prediction_lines(at)
    for line, verdict, flips in zip(lines, _expected_verdicts(result), result.flips().values(), strict=True):
        assert verdict in line
        assert (":red[" in line) == flips
    # do(digit): the note counts the classifiers that read the digit asked for, and names the others
    read = sum(int(np.argmax(q)) == target for _, q in result.probs.values())
    n = len(result.probs)
    assert any(f"You set the digit to {target}: {read} of {n} classifiers read a {target}" in b for b in _boxes(at))
    assert not at.error  # the answer to the question asked is not a fault

    # do(digit) has no true counterfactual: the page says why instead of showing a picture
    assert not [p for p in _panel(at, "image_answer")["pictures"] if "the true answer" in p.get("caption", "")]
    assert any("no true answer" in b.lower() for b in _boxes(at))

    _move(at, "thickness", 5.0)  # without do(digit), flips are counted as flips
    at.checkbox(key="do_digit").uncheck().run()
    flips = sum(service.what_if(0, {"thickness": 5.0}, False).flips().values())
    assert not any("You set the digit" in b for b in _boxes(at))
    assert any(f"flips for {flips} of 3" in b for b in _boxes(at)) == bool(flips)


# --- Image what-if: picking, worlds, links ------------------------------------------------------------
def test_random_button_and_gallery_pick_other_digits(service):
    at = open_page(WHATIF)
    # the buttons under the pictures say what they do, not the test-set number a teacher may read as the digit
    assert {at.button(key=f"pick_{d}").label for d in range(10)} == {"Use"}
    at.button(key="pick_3").click().run()
    no_exceptions(at)
    index = at.number_input(key="index").value
    assert int(service.values[False]["digit"][index]) == 3
    assert _image(at, f"Original: test digit #{index}")
    assert _table_row(at, "**This digit**: value in the causal model")[0] == "3"
    seen = {index}
    for _ in range(3):  # a random index equals the previous one with probability 1/10000
        at.button(key="random").click().run()
        seen.add(at.number_input(key="index").value)
    no_exceptions(at)
    assert len(seen) > 1


def test_colour_world_adds_hue(service):
    at = open_page(WHATIF)
    at.toggle(key="coloured").set_value(True).run()
    no_exceptions(at)
    assert at.checkbox(key="do_hue") is not None  # its slider is a quick slider
    assert at.query_params.get("world") == "colour"
    assert "hue" in _panel(at, "image_answer")["values"]["header"]
    _move(at, "hue", 0.3)
    no_exceptions(at)
    result = service.what_if(0, {"hue": 0.3}, True)
    assert result.generated.shape == (3, 28, 28)
    assert _table_row(at, "**What if**: value in the causal model")[3].startswith("0.30")


def test_link_sets_widgets_and_out_of_range_values_are_clamped_and_reported():
    at = open_page(WHATIF, {"index": "12", "thickness": "99", "intensity": "200"})
    assert at.number_input(key="index").value == 12
    assert at.checkbox(key="do_thickness").value and at.checkbox(key="do_intensity").value
    assert _value(at, "thickness") == pytest.approx(5.5)
    warnings = [w.value for w in at.warning]
    assert any("thickness = 99 is outside its range (1.0–5.5 px), so it was clamped to 5.5 px" in w
               for w in warnings), warnings
    assert not any("intensity" in w for w in warnings)  # 200 is in range
    assert _table_row(at, "**What if**: value in the causal model")[1] == "5.5 px (set by you)"
    assert at.query_params == {"index": "12", "thickness": "5.5", "intensity": "200"}  # the link now says what is shown


def test_coming_back_from_another_page_keeps_the_digit_and_interventions():
    at = open_page(WHATIF, {"index": "12", "thickness": "99"})
    _move(at, "thickness", 4.0)
    before = _image(at, "drawn by the model")
    at.switch_page("pages/home.py").run()
    at.switch_page(WHATIF).run()
    no_exceptions(at)
    assert at.number_input(key="index").value == 12
    assert at.checkbox(key="do_thickness").value and _value(at, "thickness") == pytest.approx(4.0)
    assert _image(at, "drawn by the model") == before
    assert not at.warning  # the first link's clamping note is not repeated
    assert at.query_params == {"index": "12", "thickness": "4.0"}


def test_bad_link_values_are_named_not_raised():
    at = open_page(WHATIF, {"index": "123456", "thickness": "thick", "hue": "0.5"})
    warnings = " ".join(w.value for w in at.warning)
    assert "#123456" in warnings and "#9999 is shown" in warnings
    assert "thickness='thick' is not a number" in warnings
    assert "hue" in warnings and "world=colour" in warnings
    assert at.number_input(key="index").value == 9999


def test_a_typed_digit_number_past_the_last_is_clamped_and_said(service):
    at = open_page(WHATIF)
    at.number_input(key="index").set_value(12345).run()
    no_exceptions(at)
    last = len(service) - 1
    assert at.number_input(key="index").value == last
    assert any(f"#12,345 does not exist, so #{last} is shown" in w.value for w in at.warning)
    assert at.query_params["index"] == str(last)
    at.number_input(key="index").set_value(3).run()  # said once: the next change clears it
    assert not at.warning


def test_a_fractional_digit_in_a_link_is_said_to_be_rounded_not_out_of_range():
    at = open_page(WHATIF, {"digit": "3.7"})
    no_exceptions(at)
    warnings = [w.value for w in at.warning]
    assert any("digit = 3.7 is not a whole number, so it was rounded to 4" in w for w in warnings), warnings
    assert not any("outside its range" in w for w in warnings)


# --- Broken set-ups: a clear message, never a traceback --------------------------------------------------
_PROBE = textwrap.dedent("""
    import json
    from streamlit.testing.v1 import AppTest
    out = dict()
    for page in (None, "pages/image_whatif.py"):
        at = AppTest.from_file({app!r}, default_timeout=180)
        if page:
            at.switch_page(page)
        at.run()
        out[page or "home"] = {{"errors": [e.value for e in at.error], "warnings": [w.value for w in at.warning],
                               "exceptions": [e.value for e in at.exception], "sliders": len(at.slider)}}
    print("RESULT" + json.dumps(out))
""")


def _probe(pretrained: Path) -> subprocess.Popen:
    """Runs both pages in a fresh interpreter: PRETRAINED is read from the environment at import."""
    env = {**os.environ, "EXPLORER_PRETRAINED": str(pretrained)}
    return subprocess.Popen([sys.executable, "-c", _PROBE.format(app=APP)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=400)
    match = re.search(r"^RESULT(.*)$", out, re.M)
    assert match, f"probe failed:\n{out}\n{err[-3000:]}"
    return json.loads(match.group(1))


def test_damaged_or_missing_checkpoints_give_a_clear_message(tmp_path):
    damaged, empty = tmp_path / "damaged", tmp_path / "empty"
    shutil.copytree(PRETRAINED, damaged)
    (damaged / "morpho-cvae" / "weights.safetensors").write_bytes(b"\x00garbage, not a safetensors file")
    empty.mkdir()
    procs = {"damaged": _probe(damaged), "empty": _probe(empty)}  # in parallel: each loads torch
    results = {name: _result(p) for name, p in procs.items()}

    for name, pages in results.items():
        for page, shown in pages.items():
            assert not shown["exceptions"], (name, page, shown["exceptions"])
            assert len(shown["errors"]) == 1, (name, page, shown["errors"])
            assert "python -m explorer train morpho" in shown["errors"][0]
        assert pages["pages/image_whatif.py"]["sliders"] == 0  # the page stops after the message
    assert "damaged" in results["damaged"]["home"]["errors"][0]
    assert "morpho-cvae" in results["damaged"]["home"]["errors"][0]
    assert "missing" in results["empty"]["pages/image_whatif.py"]["errors"][0]
    assert any("No trained models found" in w for w in results["empty"]["home"]["warnings"])
