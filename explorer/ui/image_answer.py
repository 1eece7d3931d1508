"""What the Image what-if page shows of one what-if, as data: the parts its answer panel draws (explorer/ui/render.py,
assets/image_panel/).

Why data and not Streamlit elements: a slider move re-sent ~35 elements, and the browser's React re-rendered every
one, changed or not (~2-3 ms each a move: docs/performance.md, "Where a class's CPU goes"). The panel is ONE
element; its script redraws only the parts whose data changed. And since the parts are data, the quick sliders'
sweep carries them for every position (`position`): while a slider moves the browser swaps the whole answer
(pictures, values, the classifiers' answers), not only the model's picture.

Text is a list of runs, [text, style] with style "" (plain), "b" (bold) or "r" (bold red: a flip); the panel sets
each run as text, never as HTML, so a name a visitor chose (an uploaded model's) cannot draw anything. No
Streamlit here: the tests and the benchmarks build the same parts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from explorer.scm.graph import Dag
from explorer.services.image import CLASSIFIERS, ImageResult, difference
from explorer.services.image_sweep import SliderSweep
from explorer.types import VarSpec
from explorer.ui.charts import flip_text
from explorer.ui.common.format import fmt
from explorer.ui.images import difference_uri, png_uri
from explorer.ui.svg_charts import probability_svg_parts

NAMES = {**CLASSIFIERS, "digit-recognizer-py": "Third-party CNN"}
PIXELS = 28  # the pictures go at their own size; the panel scales them up pixelated (a fifth of the bytes of 140 px)
Runs = list[list[str]]
CAPTIONS = ("Original: test digit #{index}", "What if: drawn by the model",
            "What if: the true answer (drawn by the world's known rules)",
            "Model's what-if minus original: red = ink added, blue = ink removed")
UNKNOWN = [["Why there is no true answer:", "b"],
           [" changing the digit itself has no known true counterfactual. The shape of each digit comes from a real "
            "person's handwriting, not from a rule we can re-run, so nobody knows how this writer would have drawn "
            "another digit. Only the model's guess is shown.", ""]]
ROWS = (("This digit", "value in the causal model"), ("This digit", "measured on the picture"),
        ("What if", "value in the causal model"), ("What if", "measured on the model's picture"))


def text(runs: Runs) -> str:
    """The runs as plain text (what a reader sees)."""
    return "".join(t for t, _ in runs)


def percent(p: float) -> str:
    """A probability as a percentage; two decimals near 0 and 100 %, where a confident classifier's answers
    all read "100%" in whole percents and a what-if's effect would be invisible."""
    return f"{p:.0%}" if 0.01 <= p <= 0.99 else f"{p:.2%}"


def pictures(result: ImageResult) -> list[dict]:
    """Original, the model's counterfactual, the true counterfactual and the difference: {src, caption} each; the
    true one {missing} (runs) after do(digit), which has no true answer."""
    true = {"missing": [["True answer: unknown", "b"], [" (see the note below)", ""]]} if result.true_image is None \
        else {"src": png_uri(result.true_image, PIXELS), "caption": CAPTIONS[2]}
    return [{"src": png_uri(result.original, PIXELS), "caption": CAPTIONS[0].format(index=result.index)},
            {"src": png_uri(result.generated, PIXELS), "caption": CAPTIONS[1]}, true,
            {"src": difference_uri(result.difference, PIXELS), "caption": CAPTIONS[3]}]


def knock_on(result: ImageResult, specs: dict[str, VarSpec]) -> Runs:
    """Which variables moved only because something upstream was set ([] when none)."""
    moved = [n for n in result.downstream if n in specs]
    if not moved:
        return []
    parts = [f"{specs[n].label} {fmt(specs[n], result.obs[n])} → {fmt(specs[n], result.cf[n], unit=True)}"
             for n in moved]
    # only the set variables that cause something: do(digit) with do(thickness) must not read "digit causes
    # intensity"
    why = [f"{n} causes {' and '.join(c for c in result.causes[n] if c in specs)}"
           for n in result.intervened if any(c in specs for c in result.causes.get(n, []))]
    return [["Knock-on effect:", "b"], [f" in this world {'; '.join(why)}, so {'; '.join(parts)} follows. "
                                        f"Tick do({moved[0]}) to hold it fixed instead.", ""]]


def values(result: ImageResult, specs: dict[str, VarSpec]) -> dict:
    """The table of the digit's values, in the causal model and as measured on the pictures: {header, rows}, a
    row [who, what, cell per variable]; the measured what-if row is None while unknown (a sweep's position)."""
    def cells(values: dict[str, float], marks: bool = False) -> list[str]:
        return [(fmt(specs[n], values[n], unit=True) + (mark(n) if marks else "")) if n in values else "–"
                for n in specs]

    def mark(name: str) -> str:
        return " (set by you)" if name in result.intervened else " (follows)" if name in result.downstream else ""

    rows = [cells(result.obs), cells(result.measured_obs), cells(result.cf, marks=True),
            cells(result.measured_cf) if result.measured_cf else None]
    return {"header": [specs[n].label for n in specs],
            "rows": [None if r is None else [*label, *r] for label, r in zip(ROWS, rows)]}


def summary(result: ImageResult) -> Runs:
    """The box over the classifiers' answers: what do(digit) was read as, or how many flipped ([] for none)."""
    flips = sum(result.flips().values())
    asked = int(round(result.cf["digit"])) if "digit" in result.intervened else None
    if asked is not None and asked != int(round(result.obs["digit"])):
        # do(digit): a flip to the digit asked for is the right answer; the ones that read anything else missed
        missed = [NAMES.get(n, n) for n, (_, q) in result.probs.items() if int(np.argmax(q)) != asked]
        read = len(result.probs) - len(missed)
        return [[f"You set the digit to {asked}: {read} of {len(result.probs)} classifiers read a {asked}.", "b"]] + (
            [[f" Not read as {asked} by: {', '.join(missed)}.", ""]] if missed else [])
    if flips:  # a flip is the answer to the question asked, not a fault: a neutral box, the flips in red below
        return [[f"The prediction flips for {flips} of {len(result.probs)} classifiers.", "b"]]
    return []


def lines(result: ImageResult) -> list[Runs]:
    """One line per classifier: what it says for the original and for the what-if (a flip in red)."""
    out = []
    for name, (p, q) in result.probs.items():
        a, b = int(np.argmax(p)), int(np.argmax(q))
        out.append([[NAMES.get(name, name), "b"], [f": original → {a} ({percent(p[a])}), "
                                                   f"what if → {b} ({percent(q[b])}): ", ""],
                    [flip_text(p, q), "r" if a != b else ""]])
    return out


def answer(result: ImageResult, specs: dict[str, VarSpec]) -> dict:
    """The parts beside the controls: pictures, the unknown-answer note, the knock-on note, the values table."""
    return {"pictures": pictures(result), "unknown": UNKNOWN if result.true_image is None else [],
            "knock": knock_on(result, specs), "values": values(result, specs)}


def readers(result: ImageResult) -> dict:
    """The parts under "What the classifiers see": the summary box, a line each, the chart (an SVG data: URI in two
    pieces, [fixed, moving]: `chart`)."""
    return {"summary": summary(result), "lines": lines(result), "chart": chart(result)}


def chart(result: ImageResult) -> list[str]:
    """The probability chart as an SVG data: URI in two pieces, [fixed, moving]: the panel shows fixed + moving +
    "</svg>", and a sweep's position carries only the moving piece (`svg_charts.probability_svg_parts`)."""
    fixed, moving = probability_svg_parts(result.probs, NAMES)
    return ["data:image/svg+xml;charset=utf-8," + _quote(fixed), _quote(moving)]


def _quote(svg: str) -> str:
    # only what a data: URI must escape; the rest of the SVG stays readable (and ~25 % smaller than base64)
    return svg.replace("%", "%25").replace("#", "%23").replace("\n", "%0A").replace('"', "%22")


def position(result: ImageResult, sweep: SliderSweep, i: int, graph: Dag) -> ImageResult:
    """The what-if at a sweep's position i, from the one on screen (`result`: the same digit, world and readers;
    the sweep holds the other do() values): the sweep's picture, values, true picture, measured values and
    probabilities."""
    done = sorted(set(result.intervened) | {sweep.name})
    cf = {k: float(v[i]) for k, v in sweep.cf.items()}
    true = None if sweep.true_pictures is None else sweep.true_pictures[i]
    return dataclasses.replace(
        result, cf=cf, true_cf=None if true is None else cf, intervened=done, clamped=[],
        downstream=sorted(graph.descendants(done) - set(done)), generated=sweep.pictures[i], true_image=true,
        difference=difference(sweep.pictures[i], result.original),
        measured_cf={k: float(v[i]) for k, v in sweep.measured.items()},
        probs={r: (p, sweep.probs[r][i]) for r, (p, _) in result.probs.items()},
        causes={n: sorted(graph.descendants([n]) - set(done)) for n in done})


def swept(result: ImageResult, sweep: SliderSweep, specs: dict[str, VarSpec], graph: Dag) -> list[dict]:
    """Per position of `sweep`, the parts that move with the slider: the pictures (the model's as None: the quick
    slider's own picture, the same URI, fills it), the knock-on note, the values table, the summary, the lines and
    the chart's moving piece (the fixed one as None: as drawn). The whole answer: a step to a position is final."""
    out = []
    for i in range(len(sweep.values)):
        at = position(result, sweep, i, graph)
        shown = pictures(at)
        shown[0] = shown[1] = None  # the original never changes; the model's comes with the quick slider's move
        table = values(at, specs)
        # the header and the original's two rows never change: "=" (as drawn); nor does the chart's fixed piece
        out.append({"pictures": shown, "unknown": UNKNOWN if at.true_image is None else [],
                    "knock": knock_on(at, specs), "values": {"rows": ["=", "=", *table["rows"][2:]]},
                    "summary": summary(at), "lines": lines(at), "chart": [None, chart(at)[1]]})
    return out
