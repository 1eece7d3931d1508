"""The UI every page shares, on a world no page has: do() controls, the link and the error card from VarSpecs alone.

A table world (two columns, one continuous and one categorical) gets its controls, its link and its error card
without a line of its own, which is what a new world (a bring-your-own table) relies on.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.checkpoints import CheckpointError
from explorer.types import VarSpec
from explorer.ui.common.format import decimals, fmt, slider_value, value_range
from explorer.ui.common.loader import SETUP_ERRORS, Fix

AGE = VarSpec("age", "continuous", 18, 90, 40, 0.5, "age", "years")
SMOKER = VarSpec("smoker", "categorical", 0, 1, 0, 1, "smoker")


def _table_page() -> None:
    """A page for a table world: one row picker, the shared controls and link, `do` written out as text."""
    import json

    import streamlit as st

    from explorer.types import VarSpec
    from explorer.ui.common.controls import DoWords, do_controls
    from explorer.ui.common.link import PageLink, read_values, value_params

    specs = {"age": VarSpec("age", "continuous", 18, 90, 40, 0.5, "age", "years"),
             "smoker": VarSpec("smoker", "categorical", 0, 1, 0, 1, "smoker")}
    rows = [{"age": 33.0, "smoker": 1}, {"age": 71.5, "smoker": 0}]
    words = DoWords(item="row")
    link = PageLink("table", ("row", "do_", "value_"), marker="row")

    def apply(params: dict[str, str]) -> list[str]:
        if "row" in params:
            st.session_state["row"] = int(params["row"])
        return read_values(params, specs, "table", words, skip=("row",))[0]

    for note in link.read(apply, specs):
        st.warning(note)
    row = st.number_input("row", 0, len(rows) - 1, key="row")
    do = do_controls("table", specs, rows[row], row, words)
    st.markdown("DO " + json.dumps(do))
    link.write({"row": str(row)} | value_params(do, specs))


def _do(at: AppTest) -> dict:
    import json

    return json.loads(next(m.value for m in at.markdown if m.value.startswith("DO "))[3:])


def _open(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_function(_table_page, default_timeout=30)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_values_are_written_as_their_sliders_show_them():
    assert decimals(AGE) == 1 and decimals(SMOKER) == 0
    assert fmt(AGE, 40.25, unit=True) == "40.2 years" and fmt(SMOKER, 1.0) == "1"
    assert value_range(AGE) == "18.0–90.0 years"
    assert slider_value(AGE, 120.0) == 90.0 and slider_value(SMOKER, 0.7) == 1 and isinstance(
        slider_value(SMOKER, 0.7), int)


def test_a_new_world_gets_controls_that_follow_the_row_and_a_link_that_follows_the_controls():
    at = _open()
    assert _do(at) == {} and at.query_params == {"row": "0"}
    assert at.slider(key="value_age").value == pytest.approx(33.0)  # unticked: the row's own value
    assert "this row: 33.0 years" in at.slider(key="value_age").label
    at.slider(key="value_age").set_value(50.5).run()
    assert at.checkbox(key="do_age").value and _do(at) == {"age": 50.5}  # moving a slider ticks its box
    assert at.query_params == {"row": "0", "age": "50.5"}
    at.number_input(key="row").set_value(1).run()
    assert at.slider(key="value_smoker").value == 0  # unticked sliders follow the new row; the set one stays
    assert at.slider(key="value_age").value == pytest.approx(50.5)
    at.button(key="reset").click().run()
    assert _do(at) == {} and at.slider(key="value_age").value == pytest.approx(71.5)


def test_a_new_worlds_link_sets_the_controls_and_names_what_it_cannot_use():
    at = _open({"row": "1", "age": "120", "smoker": "yes", "height": "180"})
    notes = " ".join(w.value for w in at.warning)
    assert "smoker='yes' is not a number" in notes
    assert "height='180' is not a variable of this world" in notes
    assert at.checkbox(key="do_age").value and at.slider(key="value_age").value == pytest.approx(90.0)
    assert _do(at) == {"age": 120.0}  # as asked: the service clamps it and says so
    assert at.query_params == {"row": "1", "age": "90.0"}  # the link now says what is shown
    at.run()  # the notes are said on the run that read the link
    assert not at.warning


def test_the_error_card_names_the_failure_and_the_command_that_repairs_it():
    own = Fix((CheckpointError,), "The models could not be loaded.", "python -m explorer train x", own_command=True)
    err = CheckpointError("The model files in /p are missing. Rebuild them with: python -m explorer train x --only y")
    assert own.message(err) == ("**The models could not be loaded.**\n\nThe model files in /p are missing. Rebuild "
                                "them with: python -m explorer train x --only y\n\nRun this in the project folder, "
                                "then reload the page:\n\n```\npython -m explorer train x --only y\n```")
    other = Fix(SETUP_ERRORS, "The models could not be loaded", "make install", "Reinstall, then reload the page",
                quote=False)
    assert other.message(OSError("disk")) == ("**The models could not be loaded** (OSError: disk).\n\nReinstall, then "
                                              "reload the page:\n\n```\nmake install\n```")
