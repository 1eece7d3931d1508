"""The Causal graph lab page through AppTest: toggle arrows, move sliders, export; checked against the service."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from streamlit.testing.v1 import AppTest

from explorer.paths import PRETRAINED
from explorer.scm.pendulum import SPECS, VARIABLES
from apptest_pages import APP, ROOT, open_page

PAGE = "pages/causal_graph_lab.py"
SHIPPED = (PRETRAINED / "pendulum-causal-vae" / "card.json").exists()
needs_model = pytest.mark.skipif(not SHIPPED, reason="no shipped pendulum model: python -m explorer train pendulum")


@pytest.fixture(scope="module")
def lab():
    from explorer.ui.graph_lab import LAB

    return LAB.shared()  # the same cached instance the page uses (one per process)


ROWS = {"**This scene**": 0, "**Model reads**": 1, "**What if**: the model": 2, "**What if**: true value": 3}


def _panel(at: AppTest) -> dict:
    """The answer panel's parts as the page sent them (explorer/ui/lab_answer.py, `answer`)."""
    (panel,) = [e for e in at.get("bidi_component") if e.key == "lab_answer"]
    data = json.loads(panel.proto.json)
    return json.loads(data)["parts"]  # sent as JSON text


def _row(at: AppTest, label: str) -> list[str]:
    """A row of the panel's values table, its cells (one per concept)."""
    return _panel(at)["values"]["rows"][ROWS[label]][2:]


def _slide(at: AppTest, name: str, value: float) -> AppTest:
    """A quick slider's move (explorer/ui/quick_sliders.py) as the component's callback applies it: AppTest cannot
    run the component's JavaScript, so the session keys the callback sets are set here, then the page reruns."""
    at.session_state[f"value_{name}"], at.session_state[f"do_{name}"] = value, True
    return at.run()


def _quick(at: AppTest, name: str) -> dict:
    """The quick slider `name` as the page sent it to the component (its label, value, sweep)."""
    (component,) = [e for e in at.get("bidi_component") if e.key == "lab_quick_sliders"]
    data = json.loads(component.proto.json)
    data = json.loads(data) if isinstance(data, str) else data  # the page sends its data as JSON text
    return next(s for s in data["sliders"] if s["name"] == name)


def _fmt(name: str, value: float) -> str:
    from explorer.ui.common.format import fmt

    return fmt(SPECS[name], value, unit=True)


@needs_model
def test_first_view_shows_the_learned_graph_and_matches_the_service(lab):
    at = open_page(PAGE)
    learned = lab.learned_graph.edges
    for p in VARIABLES:
        for c in VARIABLES:
            if p != c:
                assert at.checkbox(key=f"edge_{p}__{c}").value == ((p, c) in learned)
    result = lab.what_if(0, {}, set(learned))
    assert _row(at, "**This scene**") == [_fmt(n, result.obs[n]) for n in VARIABLES]
    assert _row(at, "**Model reads**") == [_fmt(n, result.encoded[n]) for n in VARIABLES]
    # the three scenes as data: URIs at their own 64 px (the browser scales them up): the simulator's as PNG, the
    # model's as JPEG, the same address as the quick slider's picture; then the model's error against the truth
    from explorer.ui.lab_answer import drawn_uri, scene_uri

    parts = _panel(at)
    assert [p["src"] for p in parts["pictures"]] == [drawn_uri(result.original), scene_uri(result.generated),
                                                     drawn_uri(result.true_image)]
    assert [p["caption"] for p in parts["pictures"]] == ["Original: scene #0", "What if: drawn by the model",
                                                         "What if: the true answer (the simulator)"]
    assert f"MSE {result.mse:.4f}" in "".join(t for t, _ in parts["mse"])
    assert not parts["inert"]


@needs_model
def test_cutting_an_arrow_then_moving_a_slider(lab):
    edge = ("light", "shadow_position")
    assert edge in lab.learned_graph.edges, "the shipped model has not learned light -> shadow_position"
    at = open_page(PAGE)
    factual = lab.factual(0)
    at.checkbox(key="edge_light__shadow_position").uncheck().run()
    _slide(at, "light", 70.0)
    assert not at.exception, [e.value for e in at.exception]
    assert at.checkbox(key="do_light").value  # moving a slider ticks its do() box
    edges = set(lab.learned_graph.edges) - {edge}
    result = lab.what_if(0, {"light": 70.0}, edges)
    true_row, model_row = _row(at, "**What if**: true value"), _row(at, "**What if**: the model")
    assert true_row[1] == "70 ° (set by you)" and model_row[1] == "70 ° (set by you)"
    # the cut child keeps its factual value in the true world and in the model
    assert true_row[3] == _fmt("shadow_position", factual["shadow_position"]) + " (cut: keeps its value)"
    assert model_row[3] == _fmt("shadow_position", result.encoded["shadow_position"]) + " (cut: keeps its value)"
    # the intact arrow light -> shadow_length still carries the change
    assert true_row[2] == _fmt("shadow_length", result.true_cf["shadow_length"]) + " (follows)"
    assert model_row[2] == _fmt("shadow_length", result.cf["shadow_length"]) + " (follows)"
    assert result.true_cf["shadow_length"] != pytest.approx(factual["shadow_length"], abs=0.05)

    at.checkbox(key="edge_light__shadow_position").check().run()  # restore the arrow: the position follows
    result = lab.what_if(0, {"light": 70.0}, set(lab.learned_graph.edges))
    assert _row(at, "**What if**: true value")[3] == _fmt("shadow_position", result.true_cf["shadow_position"]) \
        + " (follows)"


@needs_model
def test_coming_back_from_another_page_keeps_scene_arrows_and_settings(lab):
    at = open_page(PAGE)
    at.number_input(key="lab_index").set_value(3).run()
    at.checkbox(key="edge_light__shadow_position").uncheck().run()
    _slide(at, "light", 70.0)
    at.number_input(key="export_n").set_value(250).run()
    at.number_input(key="export_seed").set_value(7).run()
    cuts = at.multiselect(key="export_cuts")
    more = [e for e in sorted(lab.learned_graph.edges) if e not in cuts.value]  # one more arrow than the default
    cuts.select(more[0]).run()
    cuts_before = at.multiselect(key="export_cuts").value
    before = _row(at, "**What if**: the model")
    at.switch_page("pages/home.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="lab_index").value == 3
    assert at.checkbox(key="edge_light__shadow_position").value is False
    assert at.checkbox(key="do_light").value and at.session_state["value_light"] == pytest.approx(70.0)
    assert _row(at, "**What if**: the model") == before
    assert at.number_input(key="export_n").value == 250 and at.number_input(key="export_seed").value == 7
    assert at.multiselect(key="export_cuts").value == cuts_before and len(cuts_before) == 2
    assert not at.warning


@needs_model
def test_scenes_outside_a_sliders_range_open_with_the_slider_at_its_end(lab):
    outside = [(i, n) for i in range(len(lab)) for n, s in lab.specs.items()
               if not s.low <= lab.factual(i)[n] <= s.high]
    assert outside, "every scene inside the sliders' ranges: this test no longer checks anything"
    at = open_page(PAGE)
    for index, name in outside[:3]:
        at.number_input(key="lab_index").set_value(index).run()
        assert not at.exception, (index, [e.value for e in at.exception])
        spec, value = lab.specs[name], lab.factual(index)[name]
        slider = _quick(at, name)
        assert slider["value"] == pytest.approx(spec.clamp(value)[0])
        assert f"this scene: {value:.1f}" in slider["label"]  # the label keeps the scene's own value
    at.checkbox(key=f"do_{name}").check().run()  # set to the slider's end: a what-if like any other
    assert not at.exception and _row(at, "**What if**: the model")


@needs_model
def test_an_arrow_that_closes_a_cycle_is_refused_with_a_message(lab):
    at = open_page(PAGE)
    p, c = sorted(lab.learned_graph.edges)[0]
    at.checkbox(key=f"edge_{c}__{p}").check().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.checkbox(key=f"edge_{c}__{p}").value is False
    assert any(f"{c} → {p} was not added" in e.value and "cycle" in e.value for e in at.error)
    at.button(key="lab_reset_graph").click().run()
    assert not at.error


@needs_model
def test_export_shows_correlations_and_offers_the_zip():
    at = open_page(PAGE)
    at.number_input(key="export_n").set_value(60)
    at.button(key="export_go").click().run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    text = at.success[0].value
    assert "**Exported 60 scenes** (seed 0," in text
    before, after = (float(x) for x in re.search(r"correlation ([+-][\d.]+) in the real scenes, ([+-][\d.]+) in "
                                                 r"the export", text).groups())
    assert before > 0.5 and abs(after) < before
    assert len(at.get("download_button")) == 1


_PROBE = textwrap.dedent("""
    import json
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file({app!r}, default_timeout=180)
    at.switch_page("pages/causal_graph_lab.py").run()
    print("RESULT" + json.dumps({{"errors": [e.value for e in at.error], "exceptions": [e.value for e in at.exception],
                                 "sliders": len(at.slider) + len(at.get("bidi_component"))}}))
""")


def test_missing_model_gives_a_clear_message(tmp_path):
    env = {**os.environ, "EXPLORER_PRETRAINED": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(app=APP)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    match = re.search(r"^RESULT(.*)$", proc.stdout, re.M)
    assert match, proc.stderr[-3000:]
    shown = json.loads(match.group(1))
    assert not shown["exceptions"] and shown["sliders"] == 0
    assert len(shown["errors"]) == 1 and "python -m explorer train pendulum" in shown["errors"][0]
    assert "missing" in shown["errors"][0]


@needs_model
def test_a_link_sets_scene_arrows_and_do_and_the_address_bar_follows(lab):
    p, c = sorted(lab.learned_graph.edges)[0]
    at = open_page(PAGE, {"scene": "7", "cut": f"{p}-{c}", "light": "70"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    assert at.number_input(key="lab_index").value == 7
    assert at.checkbox(key=f"edge_{p}__{c}").value is False
    assert at.checkbox(key="do_light").value and at.session_state["value_light"] == pytest.approx(70.0)
    expected = lab.what_if(7, {"light": 70.0}, set(lab.learned_graph.edges) - {(p, c)})
    assert _row(at, "**This scene**") == [_fmt(n, lab.factual(7)[n]) for n in VARIABLES]
    model_row = _row(at, "**What if**: the model")
    assert model_row[VARIABLES.index("light")] == "70 ° (set by you)"
    assert model_row[VARIABLES.index(c)] == _fmt(c, expected.encoded[c]) + " (cut: keeps its value)"
    assert at.query_params == {"scene": "7", "cut": f"{p}-{c}", "light": "70"}
    # moving a slider and cutting nothing more: the address bar follows what is on screen
    _slide(at, "pendulum", 10.0)
    assert at.query_params == {"scene": "7", "cut": f"{p}-{c}", "light": "70", "pendulum": "10"}


@needs_model
def test_bad_link_values_are_named_and_the_rest_applies(lab):
    at = open_page(PAGE, {"scene": "99999", "cut": "light-moon", "add": "shadow_length-pendulum",
                          "light": "abc", "pendulum": "500", "colour": "red"})
    assert not at.exception, [e.value for e in at.exception]
    notes = " ".join(w.value for w in at.warning)
    assert f"scene #99999 does not exist (0–{len(lab) - 1}); scene #{len(lab) - 1} is shown" in notes
    assert "cut='light-moon' is not an arrow" in notes
    assert "light='abc' is not a number" in notes
    assert "pendulum angle = 500 is outside its range" in notes
    assert "colour is not a setting of this page" in notes
    assert at.number_input(key="lab_index").value == len(lab) - 1
    assert at.checkbox(key="do_pendulum").value and not at.checkbox(key="do_light").value


@needs_model
def test_an_added_arrow_no_world_has_is_said_to_do_nothing(lab):
    learned = lab.learned_graph.edges
    p, c = next((p, c) for p in VARIABLES for c in VARIABLES
                if p != c and (p, c) not in learned and (p, c) not in lab.true_graph.edges
                and (c, p) not in learned)  # one that closes no cycle with the learned graph
    at = open_page(PAGE, {"scene": "2", "add": f"{p}-{c}"})
    assert not at.exception, [e.value for e in at.exception]
    note = "".join(t for t, _ in _panel(at)["inert"])
    assert f"{p} → {c}: no effect." in note and "Neither the physics nor the model" in note


@needs_model
def test_the_sweep_carries_the_answer_panel_of_every_position(lab):
    """While a slider moves, the panel swaps in the sweep's parts (`lab_answer.swept`): at every position they are
    the answer the page draws once that value is released (the model's error to the grey level of batch rounding)."""
    from explorer.scm.graph import Dag
    from explorer.ui import lab_answer

    edges = set(lab.learned_graph.edges) - {("light", "shadow_position")}
    do = {"pendulum": 20.0}
    shown = lab.what_if(4, do, edges)
    sweep = lab.sweep(4, do, edges, ["light"])["light"]
    parts = lab_answer.swept(shown, sweep, lab.specs, Dag(VARIABLES, frozenset(edges)), lab.learned_graph)
    assert len(parts) == len(sweep.values)
    for i in range(0, len(sweep.values), 5):
        exact = lab_answer.answer(lab.what_if(4, {**do, "light": float(sweep.values[i])}, edges), lab.specs)
        assert parts[i]["values"]["rows"][2:] == exact["values"]["rows"][2:], i
        assert parts[i]["pictures"][2] == exact["pictures"][2], i  # the true scene: the same picture
        assert parts[i]["pictures"][:2] == [None, None]  # the original as drawn; the model's: the slider's own
        swept_mse = float(parts[i]["mse"][1][0].split()[1])
        assert swept_mse == pytest.approx(float(exact["mse"][1][0].split()[1]), abs=2e-4), i
