"""Renders one ImageResult: pictures, the digit's attributes, predictions and the causal graph."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.scm.graph import Dag
from explorer.services.image import CLASSIFIERS, ImageResult
from explorer.types import VarSpec
from explorer.ui.charts import flip_text
from explorer.ui.common.controls import asked
from explorer.ui.common.format import fmt, value_range
from explorer.ui.image_whatif import PAGE
from explorer.ui.images import DISPLAY, difference_uri, png_uri, side_by_side
from explorer.ui.svg_charts import G_WIDTH, WIDTH, graph_svg, probability_svg

NAMES = {**CLASSIFIERS, "digit-recognizer-py": "Third-party CNN"}
SHORT = NAMES  # chart titles have room for ~30 characters: the names fit


_PICTURES_CSS = """<style>
.st-key-image_pictures {container-type: inline-size}
.st-key-image_pictures_grid {display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 0.75rem 0.5rem;
                             align-items: start}
@container (max-width: 34rem) {.st-key-image_pictures_grid {grid-template-columns: repeat(2, minmax(0, 1fr))}}
.st-key-image_pictures_grid > [data-testid=stElementContainer] {width: auto !important; min-width: 0}
.st-key-image_pictures_grid [data-testid=stImageContainer] > img,
.st-key-image_pictures_grid [data-testid=stImageCaption] {width: 100% !important; max-width: 140px !important}
.st-key-image_pictures_grid [data-testid=stImageContainer] > img {image-rendering: pixelated}
/* the two SVG charts: their own width on a laptop, the column's on a phone */
[class*=st-key-image_chart_] [data-testid=stImageContainer], [class*=st-key-image_chart_] img {
  max-width: 100% !important; height: auto !important}
</style>"""


def pictures(result: ImageResult) -> None:
    """Original, the model's counterfactual, the true counterfactual and the difference, side by side."""
    # One grid, not st.columns(4): on a phone Streamlit stacks columns one per row, ~900 px of pictures. The grid
    # keeps four in a row where the column is wide enough (a laptop) and makes a 2 x 2 block where it is narrow (a
    # phone: ~175 px a cell); a picture shrinks below its 140 px only in a very narrow column, and stays crisp.
    # Still four st.image elements, one caption each: the tests find a picture by its caption. As data: URIs, so
    # a move's pictures come in its message (explorer/ui/images.py, `uri`, says why).
    st.html(_PICTURES_CSS)  # style only: Streamlit puts it in the event container, it takes no space
    with st.container(key="image_pictures"), st.container(key="image_pictures_grid"):  # the outer one is measured
        # output_format="PNG" everywhere: Streamlit's "auto" re-encodes opaque images as JPEG, which blurs strokes.
        st.image(png_uri(result.original), width=DISPLAY, output_format="PNG",
                 caption=f"Original: test digit #{result.index}")
        st.image(png_uri(result.generated), width=DISPLAY, output_format="PNG", caption="What if: drawn by the model")
        if result.true_image is None:
            st.markdown("**True answer: unknown** (see the note below)")
        else:
            st.image(png_uri(result.true_image), width=DISPLAY, output_format="PNG",
                     caption="What if: the true answer (drawn by the world's known rules)")
        st.image(difference_uri(result.difference), width=DISPLAY, output_format="PNG",
                 caption="Model's what-if minus original: red = ink added, blue = ink removed")
    if result.true_image is None:
        st.info("**Why there is no true answer:** changing the digit itself has no known true counterfactual. "
                "The shape of each digit comes from a real person's handwriting, not from a rule we can re-run, "
                "so nobody knows how this writer would have drawn another digit. Only the model's guess is shown.")


_TABLE_CSS = """<style>
.st-key-image_values [data-testid=stMarkdownContainer] {overflow-x: auto; -webkit-overflow-scrolling: touch}
.st-key-image_values table {font-size: 0.875rem; margin-bottom: 0.25rem}
.st-key-image_values th, .st-key-image_values td {padding: 0.3rem 0.45rem}
/* "155 of 255", "212° (follows)": values stay on one line; the labels in the first column wrap */
.st-key-image_values td:not(:first-child) {white-space: nowrap}
@media (max-width: 640px) {
  .st-key-image_values table {min-width: 27rem}
  .st-key-image_values table:has(th:nth-child(5)) {min-width: 31rem}  /* the colour world's hue column */
  .st-key-image_values td:first-child {width: 8rem}  /* the labels wrap, so the values need not */
  .st-key-image_values::after {content: "Swipe the table sideways to see every column →"; font-size: 0.8rem;
                               color: #808495; margin-top: -0.5rem}
}
</style>"""


def attributes(result: ImageResult, specs: dict[str, VarSpec]) -> None:
    """A table of the digit's values: in the causal model and as measured on the pictures."""
    def cell(name: str, values: dict[str, float]) -> str:
        return fmt(specs[name], values[name], unit=True) if name in values else "–"

    def mark(name: str) -> str:
        return " (set by you)" if name in result.intervened else " (follows)" if name in result.downstream else ""

    names = list(specs)
    rows = [
        ("**This digit**: value in the causal model", {n: cell(n, result.obs) for n in names}),
        ("**This digit**: measured on the picture", {n: cell(n, result.measured_obs) for n in names}),
        ("**What if**: value in the causal model", {n: cell(n, result.cf) + mark(n) for n in names}),
        ("**What if**: measured on the model's picture", {n: cell(n, result.measured_cf) for n in names}),
    ]
    lines = ["| | " + " | ".join(specs[n].label for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(row[n] for n in names) + " |" for label, row in rows]
    # Wider than a phone (390 px): the table scrolls sideways inside its own box instead of running off the
    # screen's edge (on a phone it is laid out a little wider than the screen, so its cells wrap less).
    st.html(_TABLE_CSS)  # style only: Streamlit puts it in the event container, it takes no space
    with st.container(key="image_values"):
        st.markdown("\n".join(lines))
    st.caption("Measured values are read off the pixels (stroke width, brightness of the ink). When the model "
               "draws well, they follow the causal model's values.")


def downstream_note(result: ImageResult, specs: dict[str, VarSpec]) -> None:
    """Says which variables moved only because something upstream was set."""
    moved = [n for n in result.downstream if n in specs]
    if not moved:
        return
    parts = [f"{specs[n].label} {fmt(specs[n], result.obs[n])} → {fmt(specs[n], result.cf[n], unit=True)}"
             for n in moved]
    # only the set variables that cause something: do(digit) with do(thickness) must not read "digit causes
    # intensity"
    why = [f"{n} causes {' and '.join(c for c in result.causes[n] if c in specs)}"
           for n in result.intervened if any(c in specs for c in result.causes.get(n, []))]
    st.info(f"**Knock-on effect:** in this world {'; '.join(why)}, so {'; '.join(parts)} follows. "
            f"Tick do({moved[0]}) to hold it fixed instead.")


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


def percent(p: float) -> str:
    """A probability as a percentage; two decimals near 0 and 100 %, where a confident classifier's answers
    all read "100%" in whole percents and a what-if's effect would be invisible."""
    return f"{p:.0%}" if 0.01 <= p <= 0.99 else f"{p:.2%}"


def prediction_lines(result: ImageResult) -> list[str]:
    """One sentence per classifier: what it says for the original and for the what-if."""
    lines = []
    for name, (p, q) in result.probs.items():
        a, b = int(np.argmax(p)), int(np.argmax(q))
        verdict = f":red[**{flip_text(p, q)}**]" if a != b else flip_text(p, q)
        lines.append(f"- **{NAMES.get(name, name)}**: original → {a} ({percent(p[a])}), "
                     f"what if → {b} ({percent(q[b])}): {verdict}")
    return lines


def predictions(result: ImageResult) -> None:
    """The classifiers' answers as text (flips in red) and as bars."""
    flips = sum(result.flips().values())
    asked = int(round(result.cf["digit"])) if "digit" in result.intervened else None
    if asked is not None and asked != int(round(result.obs["digit"])):
        # do(digit): a flip to the digit asked for is the right answer; the ones that read anything else missed
        missed = [NAMES.get(n, n) for n, (_, q) in result.probs.items() if int(np.argmax(q)) != asked]
        read = len(result.probs) - len(missed)
        st.info(f"**You set the digit to {asked}: {read} of {len(result.probs)} classifiers read a {asked}.**"
                + (f" Not read as {asked} by: {', '.join(missed)}." if missed else ""), icon=":material/swap_horiz:")
    elif flips:
        # a flip is the answer to the question asked, not a fault: a neutral box, the flips in red below
        st.info(f"**The prediction flips for {flips} of {len(result.probs)} classifiers.**",
                icon=":material/swap_horiz:")
    st.markdown("\n".join(prediction_lines(result)))
    st.caption("The colour-trained CNN learned on tinted digits, where the tint usually gives the digit away: "
               "on grey digits it is often unsure, and in the colour world a change of hue alone can fool it. "
               "The third-party CNN never saw Morpho-MNIST's thickness and brightness changes.")
    # An SVG picture, not a Plotly chart: it is redrawn on every slider move (explorer/ui/svg_charts.py says why)
    with st.container(key="image_chart_probabilities"):
        st.image(probability_svg(result.probs, SHORT), width=WIDTH,
                 caption="Each classifier's probability for every digit: grey before, orange after your change.")


def causal_graph(result: ImageResult, graph: Dag) -> None:
    """The world's causal graph with the intervention and its consequences highlighted."""
    # No values on the nodes (the table has them): the picture then stays identical while a slider moves, and is
    # drawn once per server for each set of ticked boxes (explorer/ui/svg_charts.py).
    with st.container(key="image_chart_graph"):
        st.image(graph_svg(graph, tuple(sorted(result.intervened)), tuple(sorted(result.downstream))), width=G_WIDTH)
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
