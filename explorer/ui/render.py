"""Renders one ImageResult: the answer panel (pictures, values, the classifiers' answers), notes and the causal graph."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from explorer.scm.graph import Dag
from explorer.services.image import ImageResult
from explorer.services.image_sweep import SliderSweep
from explorer.types import VarSpec
from explorer.ui import answer_panel, image_answer
from explorer.ui.common.controls import asked
from explorer.ui.common.format import fmt, value_range
from explorer.ui.image_answer import NAMES
from explorer.ui.image_whatif import PAGE
from explorer.ui.images import side_by_side
from explorer.ui.svg_charts import G_WIDTH, graph_svg

__all__ = ["NAMES", "answer", "readers", "swept", "clamp_notes", "causal_graph", "example_picture"]


ANSWER, READERS = "image_answer", "image_readers"  # the panel's two mounts (keys)
VALUES_NOTE = ("Measured values are read off the pixels (stroke width, brightness of the ink). When the model "
               "draws well, they follow the causal model's values.")
LINES_NOTE = ("The colour-trained CNN learned on tinted digits, where the tint usually gives the digit away: on grey "
              "digits it is often unsure, and in the colour world a change of hue alone can fool it. The third-party "
              "CNN never saw Morpho-MNIST's thickness and brightness changes.")
CHART_NOTE = "Each classifier's probability for every digit: grey before, orange after your change."


def answer(result: ImageResult, specs: dict[str, VarSpec]) -> None:
    """Original, the model's counterfactual, the true one and the difference side by side; the knock-on note; the
    table of the digit's values, in the causal model and as measured on the pictures (`image_answer.answer`)."""
    answer_panel.mount(ANSWER, image_answer.answer(result, specs), {"values": VALUES_NOTE}, whole=True)


def readers(result: ImageResult) -> None:
    """The classifiers' answers: the summary box, a line each (flips in red), the chart of every probability."""
    answer_panel.mount(READERS, image_answer.readers(result), {"lines": LINES_NOTE, "chart": CHART_NOTE}, whole=True)


def swept(result: ImageResult, specs: dict[str, VarSpec], graph: Dag) -> Callable[[SliderSweep], list]:
    """What the quick sliders pass to the panel at each position of a sweep (`image_answer.swept`)."""
    return lambda sweep: image_answer.swept(result, sweep, specs, graph)


def clamp_notes(result: ImageResult, specs: dict[str, VarSpec]) -> None:
    """Says when a requested value was outside its range and was clamped (e.g. from a shared link)."""
    for name in result.clamped:
        spec, value = specs[name], asked(PAGE, name)
        asked_text = f"{value:g}" if value is not None else "a value"
        if value is not None and spec.kind == "categorical" and spec.low <= value <= spec.high:
            st.warning(f"**{spec.label} = {asked_text} is not a whole number, so it was rounded to "
                       f"{fmt(spec, result.cf[name], unit=True)}.**")
            continue
        st.warning(f"**{spec.label} = {asked_text} is outside its range ({value_range(spec)}), so it was clamped "
                   f"to {fmt(spec, result.cf[name], unit=True)}.**")


def causal_graph(graph: Dag, do: dict[str, float]) -> None:
    """The world's causal graph with the intervention `do` and its consequences highlighted."""
    # No values on the nodes (the table has them): the picture then stays identical while a slider moves, and is
    # drawn once per server for each set of ticked boxes (explorer/ui/svg_charts.py).
    downstream = graph.descendants(list(do)) - set(do)
    with st.container(key="image_chart_graph"):
        st.image(graph_svg(graph, tuple(sorted(do)), tuple(sorted(downstream))), width=G_WIDTH)
    st.caption("Arrows point from cause to effect. Setting a variable with do(...) cuts the arrows into it: "
               "its usual causes no longer matter, but everything it causes still follows.")


def example_picture(result: ImageResult) -> None:
    """The Home page's one picture: a real digit and the model's answer to one what-if."""
    change = ", ".join(f"{n} = {result.cf[n]:g}" for n in result.intervened)
    size, gap = 168, 4  # the Home page has room for bigger digits than the what-if page
    st.image(side_by_side(result.original, result.generated, gap, size), output_format="PNG",
             width=(28 * 2 + gap) * (size // 28),
             caption=f"Left: test digit #{result.index} as written (thickness {result.obs['thickness']:.1f} px). "
                     f"Right: the model's answer to *what if do({change})?* Same digit, thicker pen; "
                     f"its ink also got brighter, because in this world thickness causes brightness.")
