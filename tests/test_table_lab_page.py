"""The Table lab: its service against the census world itself, the page in AppTest, and one Chromium run.

The service's answers are checked against the world's own calls (the TRUE counterfactual is the world's
mechanisms on the row's sampled noise), a cut against the hand-checkable case where every arrow out of sex is
cut (do(sex) then moves nothing else), and bad input against its messages.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from apptest_pages import no_exceptions, open_page
from explorer.data.tables import read_adult
from explorer.paths import PRETRAINED
from explorer.scm.census import CENSUS_COLUMNS

PAGE = "pages/table_lab.py"
pytestmark = pytest.mark.skipif(not (PRETRAINED / "census_world" / "card.json").exists(),
                                reason="no census world: python -m explorer train census-world")


@pytest.fixture(scope="module")
def lab():
    from explorer.ui.table_lab import TABLE

    return TABLE.shared()  # the instance the page uses (one per process)


def _world_row(lab, index: int, seed: int):
    from explorer.services.table_lab import WORLD_ROWS

    noise, values = lab.world.sample(WORLD_ROWS, seed)
    return {c: n[index:index + 1] for c, n in noise.items()}, {c: v[index:index + 1] for c, v in values.items()}


# --- the service --------------------------------------------------------------------------------------
def test_true_counterfactual_is_the_world_on_the_rows_own_noise(lab):
    noise, values = _world_row(lab, 17, seed=3)
    result = lab.what_if("world", 17, {"sex": "Female", "age": 30}, seed=3)
    expected = lab.world.counterfactual(noise, {"sex": 0, "age": 30.0})
    assert result.obs == {c: pytest.approx(v[0]) for c, v in values.items()}
    assert result.true_cf == {c: pytest.approx(v[0]) for c, v in expected.items()}
    assert result.intervened == ["age", "sex"] and "income" in result.downstream and "race" not in result.downstream
    # with no learned model the answer is the ceiling: the world on the noise's posterior, one best guess
    if result.learned is None:
        assert result.cf == result.ceiling and "census world" in result.model


def test_empty_intervention_changes_nothing(lab):
    result = lab.what_if("world", 4, {}, seed=0)
    assert result.changed == [] and result.changed_true == []
    assert result.ceiling == pytest.approx(result.obs)  # abduction keeps the observed row under no do()


def test_a_cut_is_respected(lab):
    sex_out = [f"sex:{c}" for c in lab.world.graph.children("sex")]
    for index in range(5):
        result = lab.what_if("world", index, {"sex": 1 - lab.factual("world", index)["sex"]}, sex_out)
        # every arrow out of sex cut: its children read the factual sex, so nothing but sex moves
        assert result.changed_true == ["sex"] and result.changed == ["sex"], (index, result.changed_true)
    noise, _ = _world_row(lab, 2, seed=0)
    one = lab.what_if("world", 2, {"sex": "Female"}, ["sex:occupation"])
    expected = lab.world.counterfactual(noise, {"sex": 0}, lab.world.cut(["sex:occupation"]))
    assert one.true_cf == {c: pytest.approx(v[0]) for c, v in expected.items()}
    assert one.cut == [("sex", "occupation")]


@pytest.mark.parametrize("source, index, seed, do, cuts", [
    ("world", 17, 3, {"sex": "Female", "age": 55}, ["sex:occupation"]),
    ("adult", 40, 0, {"education": "Masters"}, []),
])
def test_the_ceiling_is_the_worlds_tiled_posterior_bit_for_bit(lab, source, index, seed, do, cuts):
    """The page's fast path (the person's posterior kept, only the columns below do() rerun, vectorised) against
    the world's own counterfactual_draws on that posterior: the same numbers, not just close ones."""
    from explorer.services.table_lab import DRAWS

    result = lab.what_if(source, index, do, cuts, seed=seed)
    values, _ = lab._rows(source, seed)
    obs = {c: v[index:index + 1] for c, v in values.items()}
    draws = lab.world.counterfactual_draws(obs, do, lab.world.cut(cuts), DRAWS, seed=0,
                                           noise=lab.world.posterior(obs, DRAWS, seed=0))
    best = lab.world.best_guess(draws)
    assert result.ceiling == {c: v[0] for c, v in best.items()}
    assert result.agreement == {c: float(np.mean(d[:, 0] == best[c][0])) for c, d in draws.items()
                                if lab.columns[c].discrete}
    assert lab.what_if(source, index, do, cuts, seed=seed) is result  # asked again: the kept result


def test_changed_cells_are_the_cells_that_differ(lab):
    result = lab.what_if("world", 11, {"education": "Doctorate"}, seed=1)
    by_hand = [c for c in CENSUS_COLUMNS if round(result.obs[c], 1) != round(result.true_cf[c], 1)]
    assert result.changed_true == by_hand and "education" in by_hand
    row = dict(result.obs)
    row |= {"age": 30.0}
    moved = row | {"age": 30.04, "hours_per_week": row["hours_per_week"] + 1.0, "income": 1 - row["income"]}
    assert lab.changed(row, moved) == ["hours_per_week", "income"]  # 30.04 shows as 30.0: no change


def test_a_real_row_is_the_adult_test_file_row_and_has_no_truth(lab):
    result = lab.what_if("adult", 3, {"age": 30})
    table = read_adult()
    row = table.frame[table.split == "test"].iloc[result.file_row]
    assert result.obs["age"] == row["age"] and lab.columns["sex"].categories[result.obs["sex"]] == row["sex"]
    assert result.true_cf is None and result.cf["age"] == 30.0
    if result.learned is None:
        assert any("python -m explorer train census" in n for n in result.notes)


class _FakeModel:
    """A learned model that answers with the observed row and records the graph it was given."""

    name = "fake-vae"

    def __init__(self, graph):
        self.graph, self.seen = graph, None

    def counterfactual_rows(self, obs, do, graph=None):
        self.seen = graph
        return {c: np.asarray(v) for c, v in obs.items()}


def test_a_learned_model_answers_in_its_own_graph_with_the_cuts(lab, monkeypatch):
    fake = _FakeModel(lab.world.graph)
    monkeypatch.setitem(lab.models, "world", fake)
    monkeypatch.setitem(lab.model_names, "world", fake.name)
    result = lab.what_if("world", 0, {"sex": "Female"}, ["sex:income"])
    assert result.model == "fake-vae" and result.learned == result.obs and result.cf == result.obs
    assert ("sex", "income") not in fake.seen.edges and ("sex", "occupation") in fake.seen.edges


def test_a_folder_that_does_not_load_is_said_so(tmp_path):
    from explorer.services.table_lab import load_learned

    assert load_learned(tmp_path / "absent") == (None, "no learned model is shipped yet (absent); train it with: "
                                                        "python -m explorer train census")
    model, why = load_learned(tmp_path)  # an empty folder: the import or the load fails, the page goes on
    assert model is None and "could not be loaded" in why


@pytest.mark.parametrize("kwargs, words", [
    ({"source": "mars"}, "unknown source 'mars'"),
    ({"index": -1}, "row -1 does not exist"),
    ({"index": 10_000}, "row 10000 does not exist"),
    ({"seed": -3}, "seed must be a whole number"),
    ({"do": {"salary": 1}}, "unknown column 'salary'"),
    ({"do": {"age": 200}}, "age = 200 is outside its range [17, 90]"),
    ({"do": {"sex": "Other"}}, "unknown category 'Other' for column 'sex'; choose one of Female, Male"),
    ({"cuts": ["age:race"]}, "age -> race is not an arrow of the census graph"),
    ({"cuts": ["sex-occupation"]}, "is not PARENT:CHILD"),
    ({"added": ["income:sex"]}, "the graph has a cycle"),
])
def test_bad_input_is_a_clear_value_error(lab, kwargs, words):
    args = {"source": "world", "index": 0, "do": {}} | kwargs
    with pytest.raises(ValueError, match=re.escape(words)):
        lab.what_if(args.pop("source"), args.pop("index"), args.pop("do"), **args)


def test_export_reports_progress_and_repeats_its_bytes(lab):
    seen = []
    one = lab.export(["sex:occupation"], 2000, 5, seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert one.csv == lab.export(["sex:occupation"], 2000, 5).csv and one.card["cuts"] == ["sex:occupation"]
    with pytest.raises(ValueError, match="at least one arrow"):
        lab.export([], 100, 0)


@pytest.mark.parametrize("source, index, do, cut", [
    ("world", 12, {}, []),  # the slider unticked on screen: the rows it cannot move are those drawn
    ("world", 3, {"sex": "Female", "age": 40.0}, ["sex:occupation"]),
    ("adult", 7, {"age": 30.0}, []),  # a real person: no TRUE column, "how sure" instead
])
def test_the_sweep_carries_the_whole_records_table_at_every_position(lab, source, index, do, cut):
    """While a quick slider moves, the answer panel swaps in the sweep's records (`table_lab_answer.swept`): at every
    position they are the table the page draws once that value is released, a row sent as "=" is the one on screen,
    and the words under it follow."""
    from explorer.ui import table_lab_answer as answer
    from explorer.ui.table_lab_controls import encoded, readers

    view = lab.page()
    shown = answer.answer(lab.what_if(source, index, do, cut), view)
    sweep = lab.sweep(source, index, do, cut, names=["hours_per_week"])["hours_per_week"]
    parts = encoded(sweep, view, readers(view, [tuple(a.split(":")) for a in cut], []))[3]
    assert len(parts) == len(sweep.values)
    sent_whole = 0
    for i in range(0, len(sweep.values), 7):
        exact = answer.answer(lab.what_if(source, index, {**do, "hours_per_week": float(sweep.values[i])}, cut), view)
        rows = [shown["records"]["rows"][r] if row == "=" else row for r, row in enumerate(parts[i]["records"]["rows"])]
        assert rows == exact["records"]["rows"] and parts[i]["changed"] == exact["changed"], i
        assert exact["records"]["header"] == shown["records"]["header"]  # the header is the one on screen
        sent_whole = max(sent_whole, sum(row != "=" for row in parts[i]["records"]["rows"]))
    assert 1 <= sent_whole < len(view.columns)  # hours per week's row and what follows it; the rest as drawn


# --- the page in AppTest ----------------------------------------------------------------------------------
def _table(at) -> dict[str, list[list[str]]]:
    """The records table the answer panel was sent (explorer/ui/table_lab_answer.py): {column label: its cells
    after the label, each [text, mark]}, mark "s" set by the visitor, "c" changed, "" neither."""
    (panel,) = [e for e in at.get("bidi_component") if e.key == "tl_records"]
    data = json.loads(panel.proto.json)
    rows = json.loads(data if isinstance(data, str) else json.dumps(data))["parts"]["records"]["rows"]
    return {r[0][0]: r[1:] for r in rows}


def _slide(at, name: str, value: float):
    """A quick slider's move (explorer/ui/quick_sliders.py) as the component's callback applies it: AppTest cannot
    run the component's JavaScript, so the session keys the callback sets are set here, then the page reruns."""
    at.session_state[f"value_{name}"], at.session_state[f"do_{name}"] = value, True
    return at.run()


def _quick(at, name: str) -> dict:
    """The quick slider `name` as the page sent it to the component (its label, value, sweep)."""
    (component,) = [e for e in at.get("bidi_component") if e.key == "tl_quick_sliders"]
    data = json.loads(component.proto.json)
    data = json.loads(data) if isinstance(data, str) else data  # the page sends its data as JSON text
    return next(s for s in data["sliders"] if s["name"] == name)


def test_a_link_that_sets_a_slider_brings_its_sweep_with_the_page():
    """A sweep is computed for a slider in use: one the link sets (its box ticked) comes with the page; with none
    set, none is computed until the visitor reaches for a slider."""
    at = open_page(PAGE, {"source": "world", "row": "3", "age": "40"})
    assert _quick(at, "age")["sweep"] and not _quick(at, "hours_per_week")["sweep"]
    at = open_page(PAGE, {"source": "world", "row": "3"})
    assert not _quick(at, "age")["sweep"] and not _quick(at, "hours_per_week")["sweep"]


def test_page_shows_the_record_and_a_do_change_gives_the_counterfactual(lab):
    at = open_page(PAGE)
    assert at.query_params == {"source": "world", "row": "0", "seed": "0"}
    obs = lab.factual("world", 0, 0)
    shown = _table(at)
    assert shown["sex"][0] == [lab.columns["sex"].categories[obs["sex"]], ""]
    other = lab.columns["sex"].categories[1 - obs["sex"]]
    at.selectbox(key="value_sex").set_value(other).run()  # the box ticks: the controls and the answer rerun
    no_exceptions(at)
    assert at.checkbox(key="do_sex").value and at.query_params["sex"] == other
    assert not at.multiselect  # only those two fragments ran (AppTest then holds their elements alone)
    result = lab.what_if("world", 0, {"sex": other}, seed=0)
    shown = _table(at)
    assert shown["sex"][1] == [other, "s"]
    for name in result.changed_true:
        label = lab.columns[name].label
        assert shown[label][2][1] in ("c", "s"), (name, shown[label])  # highlighted
    assert not any(shown[lab.columns[c].label][2][1] for c in CENSUS_COLUMNS if c not in result.changed_true)
    # a quick slider's move (its component's callback, as _slide applies it): the records follow
    _slide(at, "age", 45.0)  # ticks do(age)
    _slide(at, "age", 46.0)
    no_exceptions(at)
    assert at.query_params["age"] == "46"
    assert _table(at)["age"][1] == ["46", "s"]
    at.run()  # the whole page again (a browser keeps what the fragments did not redraw; AppTest does not)
    assert _quick(at, "age")["value"] == 46.0 and _quick(at, "age")["set"] and at.checkbox(key="do_age").value
    at.checkbox(key="do_age").uncheck().run()  # unticked: its slider goes back to the person's own age
    at.run()
    own = min(max(float(round(obs["age"], 1)), 17.0), 90.0)
    assert _quick(at, "age")["value"] == own and "age" not in at.query_params
    # the arrows' editor is drawn once opened; an arrow that closes a cycle is refused, the box goes back, and the
    # page says why
    assert not [m for m in at.multiselect if m.key.startswith("parents_")]
    at.session_state["tl_graph_open"] = True
    at.run()
    at.multiselect(key="parents_sex").select("income").run()
    assert at.multiselect(key="parents_sex").value == [] and "cycle" in at.error[0].value
    # another page and back: the person and the do() setting are as the visitor left them
    at.number_input(key="tl_row").set_value(5).run()
    at.switch_page("pages/home.py").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert at.number_input(key="tl_row").value == 5 and at.selectbox(key="value_sex").value == other


def test_a_link_sets_person_cut_and_do_and_the_export_downloads(lab):
    at = open_page(PAGE, {"source": "adult", "row": "12", "cut": "sex:occupation", "education": "Masters"})
    assert not at.warning, [w.value for w in at.warning]
    assert at.radio(key="tl_source").value == "adult" and at.number_input(key="tl_row").value == 12
    assert "~~sex~~" in next(m.value for m in at.markdown if m.value.startswith("| column | causes"))  # struck
    at.session_state["tl_graph_open"] = True  # the arrows' editor, opened, shows the cut too
    at.run()
    assert "sex" not in at.multiselect(key="parents_occupation").value
    assert at.select_slider(key="value_education").value == "Masters"
    assert _table(at)["education"][1] == ["Masters", "s"]
    at.number_input(key="tl_export_n").set_value(500)
    at.button(key="tl_export_go").click().run(timeout=120)
    no_exceptions(at)
    assert "**Exported 500 rows** (seed 0)" in at.success[0].value and len(at.get("download_button")) == 2


def test_ticking_a_box_sets_its_value_and_reset_undoes_every_do(lab):
    at = open_page(PAGE, {"source": "world", "row": "3", "age": "40", "sex": "Female"})
    at.checkbox(key="do_race").check().run()  # the box alone: the answer reruns, the widget holds the person's race
    race = lab.columns["race"].categories[lab.factual("world", 3)["race"]]
    assert _table(at)["race"][1] == [race, "s"]
    assert at.query_params["race"] == race
    at.run()
    at.button(key="tl_reset_do").click().run()
    at.run()
    no_exceptions(at)
    assert not any(box.value for box in at.checkbox) and at.query_params == {"source": "world", "row": "3", "seed": "0"}
    assert not any(mark == "s" for cells in _table(at).values() for _, mark in cells)


def test_filter_random_pick_and_switching_source(lab):
    at = open_page(PAGE, {"source": "adult", "row": "15000"})
    at.selectbox(key="tl_filter_col").set_value("sex").run()
    at.selectbox(key="tl_filter_level").set_value("Female").run()
    at.button(key="tl_random").click().run()
    row = at.number_input(key="tl_row").value
    assert lab.factual("adult", row)["sex"] == 0 and _table(at)["sex"][0] == ["Female", ""]
    at.number_input(key="tl_row").set_value(15000).run()
    at.radio(key="tl_source").set_value("world").run()  # the world's sample has 10,000 rows: the row is clamped
    no_exceptions(at)
    assert at.number_input(key="tl_row").value == 9999 and at.query_params["row"] == "9999"


@pytest.mark.parametrize("query, words", [
    ({"zzz": "1"}, "zzz is not a column or setting of this page"),
    ({"age": "500"}, "age = 500 is outside its range (17–90), so it was set to 90"),
    ({"age": "nan"}, "age='nan' is not a number"),
    ({"sex": "Alien"}, "sex='Alien' is not a category of sex; choose one of Female, Male"),
    ({"cut": "age:race"}, "cuts age → race, which is not an arrow of the published graph"),
    ({"cut": "moon:sun"}, "cut='moon\\:sun' is not an arrow"),  # ':' backslashed by echo
    ({"add": "income:sex"}, "added arrows were left out: the graph has a cycle"),
    ({"row": "-4"}, "row -4 does not exist (0–9,999)"),
    ({"row": "abc"}, "row='abc' is not a whole number"),
    ({"source": "mars"}, "source='mars' is not one of adult, world"),
    ({"seed": "1e400"}, "seed='1e400' is not a whole number"),
])
def test_bad_link_values_are_named_never_raised(query, words):
    at = open_page(PAGE, query)
    notes = " ".join(w.value for w in at.warning)
    assert words in notes, notes
    assert _table(at)  # the rest of the page still answers


# --- one real browser -------------------------------------------------------------------------------------
from test_browser import CHROMIUM, READY, STEP, browser, server  # noqa: E402,F401  (fixtures)

_ROW_JS = """(name) => { const r = [...document.querySelectorAll('.st-key-tl_records tr')]
    .find(r => r.cells.length && r.cells[0].innerText.trim() === name); return r ? r.innerText : null; }"""


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_in_chromium_a_slider_reaches_the_table_the_link_and_back_and_a_phone_fits(server, browser):  # noqa: F811
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server}/table_lab?source=world&row=0&seed=0&age=40")
    page.wait_for_function(f"() => ({_ROW_JS})('age')?.includes('40 (set by you)')", timeout=READY)
    page.locator(".st-key-value_age input[type=range]").focus()
    page.keyboard.press("ArrowRight")  # one step: 41
    page.wait_for_function(f"() => ({_ROW_JS})('age')?.includes('41 (set by you)')", timeout=STEP)
    page.wait_for_function("() => location.search.includes('age=41')", timeout=STEP)
    page.go_back()  # the address before the move: the table follows it
    page.wait_for_function(f"() => ({_ROW_JS})('age')?.includes('40 (set by you)')", timeout=STEP)
    page.get_by_text("Arrows: which columns each column reads").click()  # its editor is drawn once opened
    page.wait_for_selector(".st-key-parents_occupation", timeout=STEP)
    page.context.close()
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    phone.goto(f"{server}/table_lab?source=world&row=0&seed=0&sex=Female")
    phone.wait_for_function(f"() => ({_ROW_JS})('sex')?.includes('(set by you)')", timeout=READY)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # the page itself never scrolls sideways
    # the answer panel's table scrolls inside its own box; a rerun still under way (data-stale) would redraw it
    phone.wait_for_function("() => document.querySelectorAll('[data-stale=true]').length === 0 && "
                            "[...document.querySelectorAll('.st-key-tl_records .ip-scroll')]"
                            ".some(e => e.scrollWidth > e.clientWidth)", timeout=STEP)
    # scrolled to its end, the table's last column is on the screen (polled: a late redraw resets the scroll)
    phone.wait_for_function("""() => { const box = [...document.querySelectorAll(
        '.st-key-tl_records .ip-scroll')].find(e => e.scrollWidth > e.clientWidth);
        box.scrollLeft = box.scrollWidth; const th = [...box.querySelectorAll('th')].pop();
        return th.getBoundingClientRect().right <= 391; }""", timeout=STEP)
    phone.context.close()
