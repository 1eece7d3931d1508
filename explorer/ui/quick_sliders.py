"""Quick sliders: continuous do() sliders that redraw the model's picture and its readings in the browser.

Why a custom component: a Python rerun per slider move costs 2.7-5x a page with no model, and most of that is
the rerun itself and the browser redrawing the fragment (docs/performance.md, "Image what-if", "Causal graph lab").
Here each continuous slider is a range input in one `st.components.v2` component (assets/quick_sliders/) that also
holds the model's picture and its readings. While a slider moves, the browser swaps them from the page's
precomputed sweep of that slider; when the move ends (release, or a key press) the value reaches Python as the
component's `move` state, the callback puts it in session state, and the fragment's rerun draws everything else.

The component knows no world: a page passes its sliders' sweeps already encoded (`Encoded`: positions, pictures
as data: URIs, per position each reading's text) and what it shows around them (`QuickView`). The Image what-if
page calls `quick_sliders` (classifiers' readings of a digit); the Causal graph lab encodes its own sweep
(explorer/ui/graph_lab.py: the model's concept readings of a scene) and calls `draw`, and so does the Table lab
(explorer/ui/table_lab_controls.py: no picture, the counterfactual row's values as readings).

Each sweep goes to the browser once (issue 22: a lab rerun re-sent 115-168 kB of it): it is named by a hash of its
encoded content (`Packed.key`), the browser keeps the sweeps it got (per component mount) and reports their keys with
each move or request (`held`), and a rerun sends only the key of a sweep the browser holds. A key names its content,
so a stale sweep cannot be shown: another example, world, classifier or do() of the other sliders gives other
pictures or readings, hence another key. A browser that lacks a key it is sent (a remount: a page switch, the
fragment re-creating the component) asks for it once (`want` with `need`): one more rerun, never a wrong picture.
The browser also coalesces moves: one in flight at a time (a newer value goes when it is answered, or after a
120 ms pause), and while a key is held only its release is sent; the newest value always goes last. A move the page
already shows whole, of a slider whose box is ticked, goes after SETTLE_MS without another (or at the visitor's next
action on the page); the browser writes its link at once. `EXPLORER_QUICK_SETTLE=<ms>` changes the pause (0: each
move at once); `EXPLORER_QUICK_RESEND=1` restores the old traffic (every sweep sent on every rerun, every key press a
move, nothing settled), for A/B benchmarks (bench/bench_quick_ab.py).

What else on a page follows the sliders listens on the document (the answer panel of the Image page and the lab,
assets/image_panel/): each step sends `quick-move` with the sweep's `extra` at that position (and `on`: the position
is the value itself), each move sent `quick-sent` with its number and `swept` (the page shows its whole answer at
that value already: `swept_whole`); a page whose move reruns only its answer or its link (not the sliders'
fragment) sends `quick-applied` back with the number the rerun applied (the panel, or `echo`), and the sliders then
send their next value, or ask for a sweep they lost.

Session keys are the ones Streamlit's sliders had: `value_<var>` (the value), `do_<var>` (its do() box, still a
Streamlit checkbox), so links, tests (AppTest sets them directly: it cannot run the component's JavaScript) and
the rest of the page read them unchanged. Each slider wrapper carries the class `st-key-value_<var>`, so browser
tests and benchmarks find its range input as they found Streamlit's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.components.v2 import component
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.services.image_sweep import SliderSweep
from explorer.types import VarSpec
from explorer.ui.common.controls import DoWords, asked
from explorer.ui.common.format import decimals, fmt, slider_value, value_range
from explorer.ui.common.kept import Kept
from explorer.ui.images import png_uri

KEY = "quick_sliders"  # the Image page's component key; another page passes its own
# ms without a new move before a value shown whole goes to Python: a visitor's run of key presses, and moves a few
# seconds apart (a look at each answer between them), cost one script run, whose redraw in the browser cost more
# than the rest of a move (docs/performance.md, "Image what-if"). Nothing on screen waits for it: the answer and
# the link are the browser's; a press elsewhere, leaving the slider or hiding the tab sends it at once.
SETTLE_MS = 8000
# one slider's sweep: positions, picture URIs ([] for none), readings, and optionally per position what else the
# page redraws from it (the Image page's answer panel: the browser passes it on with each step, `quick-move` below)
Encoded = tuple[list[float], list[str], list] | tuple[list[float], list[str], list, list]
Moved = Callable[[str, bool], None]  # a page's step after a move: (slider, whether its box was ticked before)


def applied(key: str) -> int | None:
    """The number of the last move of component `key` applied (what follows the sliders waits for it too)."""
    return st.session_state.get(_applied(key))


def _applied(key: str) -> str:
    return f"_{key}_applied"  # session key: the number of the last move applied (the browser waits for it)


def _live(key: str) -> str:
    return f"_{key}_live"  # session key: the slider whose sweep the page sends (the one last moved or asked for)


_ASSETS = Path(__file__).resolve().parents[2] / "assets" / "quick_sliders"
_COMPONENT = component(
    "explorer_quick_sliders", html=(_ASSETS / "quick_sliders.html").read_text(),
    css=(_ASSETS / "quick_sliders.css").read_text(),
    js=(_ASSETS.parent / "common" / "address.js").read_text() + (_ASSETS / "quick_sliders.js").read_text(),
    isolate_styles=False)  # no shadow root: tests address the sliders as they addressed Streamlit's
_ECHO = component(  # `echo`: passes the number of the move a rerun applied on to the sliders
    "explorer_quick_applied", html="<span hidden></span>", js="""export default function (component) {
  if (!component.data) return;
  const {key, n} = JSON.parse(component.data);
  document.dispatchEvent(new CustomEvent("quick-applied", {detail: {key, n}}));
}""")


def continuous(specs: dict[str, VarSpec]) -> dict[str, VarSpec]:
    """The variables the quick sliders set (the others keep Streamlit's controls)."""
    return {n: s for n, s in specs.items() if s.kind == "continuous"}


def _ticked(name: str, shown: float) -> None:
    st.session_state[f"value_{name}"] = shown  # ticked or unticked, the slider starts from the example's value


def ticks(page: str, specs: dict[str, VarSpec], factual: dict[str, float], words: DoWords) -> dict[str, float]:
    """A do() checkbox per continuous variable; returns `do` for the ticked ones, each at its session value.

    A value a link asked for (maybe out of range) goes to the service as asked, so the service clamps and reports
    it; once the slider moves, the slider wins (as in `explorer.ui.common.controls.do_controls`).
    """
    for name, spec in specs.items():
        shown = slider_value(spec, factual[name])
        if st.checkbox(f"**do({name})**", key=f"do_{name}", on_change=_ticked, args=(name, shown),
                       help=words.tick_help.format(**_say(spec, factual[name], words))):
            st.session_state.setdefault(f"value_{name}", shown)
    return ticked(page, specs, factual)


def ticked(page: str, specs: dict[str, VarSpec], factual: dict[str, float]) -> dict[str, float]:
    """`ticks`' answer without drawing the boxes: `do` for the ticked continuous variables, from the session (a
    fragment that holds only the sliders' answer reads it here after a move)."""
    do = {}
    for name, spec in specs.items():
        if st.session_state.get(f"do_{name}"):
            value = st.session_state.get(f"value_{name}", slider_value(spec, factual[name]))
            linked = asked(page, name)
            do[name] = linked if linked is not None and slider_value(spec, linked) == value \
                else round(float(value), decimals(spec))
    return do


def _say(spec: VarSpec, own: float, words: DoWords) -> dict[str, str]:
    return {"name": spec.name, "label": spec.label, "item": words.item, "range": value_range(spec),
            "value": fmt(spec, own, unit=True)}


def live(specs: dict[str, VarSpec], key: str = KEY, ticked: Iterable[str] = ()) -> list[str]:
    """The slider whose sweep the page computes and sends: the one the visitor last moved or reached for; until
    then the first whose do() box is ticked (`ticked`: a link that sets light is followed by moves of light), else
    the first.

    One, not all: a sweep depends on the other sliders' values, so after a thickness move every other slider's
    sweep would be recomputed (55-90 ms of server CPU per slider on this 2-core box, against 20-45 ms for the rest
    of the rerun). Another slider asks for its sweep when the pointer rests on it, it gets the focus or is pressed
    (`want`): one rerun.
    """
    return reached(specs, key, ticked) or [next(iter(specs))]


def reached(specs: dict[str, VarSpec], key: str, ticked: Iterable[str] = ()) -> list[str]:
    """As `live`, but until the visitor moves or reaches for a slider, only one whose do() box is ticked (a link
    that sets age), else none: for a page whose sweep is dearer (the Table lab's), computed only for a slider
    likely to be used."""
    name, ticked = st.session_state.get(_live(key)), set(ticked)
    if name in specs:
        return [name]
    return [n for n in specs if n in ticked][:1]


def forget_reached(key: str) -> None:
    """No slider is in use any more (the page changed something else): the next sweep waits to be asked for."""
    st.session_state.pop(_live(key), None)


def _moved(specs: dict[str, VarSpec], key: str, then: Moved | None = None) -> None:
    """The component's callback: a move ended in the browser; its value becomes the slider's, its box ticked;
    then the page's `then(name, was_ticked)`, last (it may call st.rerun)."""
    move = (st.session_state.get(key) or {}).get("move")
    if not isinstance(move, dict) or move.get("name") not in specs:
        return
    spec, value = specs[move["name"]], move.get("value")
    was_ticked = bool(st.session_state.get(f"do_{spec.name}"))
    if isinstance(value, (int, float)) and math.isfinite(value):
        st.session_state[f"value_{spec.name}"] = round(slider_value(spec, value), decimals(spec))
        st.session_state[f"do_{spec.name}"] = True  # moving a slider means "set this", as before
        st.session_state[_live(key)] = spec.name
    st.session_state[_applied(key)] = move.get("n")
    st.session_state[_whole(key)] = move.get("swept") is True
    # `then` narrows the run (st.rerun of named fragments), which is right only for the move's own run: a settled
    # value goes as the visitor changes another widget, and when both reach the same run, narrowing it would
    # leave that widget's change undrawn
    ctx = get_script_run_ctx()
    if then is not None and ctx is not None and len(ctx.fragment_ids_this_run or ()) == 1:
        then(spec.name, was_ticked)


def _whole(key: str) -> str:
    return f"_{key}_swept_whole"


def swept_whole(key: str) -> bool:
    """Whether the browser already shows the whole answer at the value of the last move applied: its answer panel
    swapped in the sweep's parts at exactly that value (not the nearest position of a slider with more steps than
    positions, nor a step made while the sweep was on its way). A page whose sweep holds its whole answer then only
    stores the value and writes the link (`echo`), and draws nothing again."""
    return bool(st.session_state.get(_whole(key)))


def echo(key: str) -> None:
    """Tells the quick sliders `key` that their last move was applied (`quick-applied`), for a rerun that draws no
    answer panel (which otherwise says it): a hidden element of a few bytes."""
    _ECHO(key=f"{key}_echo", data=json.dumps({"key": key, "n": applied(key)}))


def held(state: object) -> set[str]:
    """The keys of the sweeps the browser holds, from the component's state (`st.session_state[key]`), as reported
    with its newest move or request. None reported (a fresh mount: after a page switch Streamlit drops the
    component's state) means none held."""
    state = state if isinstance(state, dict) else {}
    sent = [p for p in (state.get("move"), state.get("want")) if isinstance(p, dict) and isinstance(p.get("n"), int)]
    newest = max(sent, key=lambda p: p["n"], default={})
    keys = newest.get("held")
    return {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()


def _wanted(specs: dict[str, VarSpec], key: str) -> None:
    """The component's callback: the visitor reached for a slider whose sweep the page did not send."""
    want = (st.session_state.get(key) or {}).get("want")
    if isinstance(want, dict) and want.get("name") in specs:
        st.session_state[_live(key)] = want["name"]


def data_uri(img: np.ndarray) -> str:
    """A 28 px PNG as a data: URI (the browser scales it up, pixelated): a few hundred bytes a picture."""
    return png_uri(img, 28)


def percent(p: float) -> str:
    """A probability as the readings show it: whole percents, two decimals near 0 and 1 ("99.76%")."""
    return f"{p * 100:.0f}%" if 0.01 <= p <= 0.99 else f"{p * 100:.2f}%"


def _class_text(probs: np.ndarray) -> tuple[int, str]:
    best = int(np.argmax(probs))
    return best, f"{best} ({percent(round(float(probs[best]), 5))})"  # "9 (99.76%)"


@functools.lru_cache(maxsize=32)  # by identity (SliderSweep has eq=False): the service returns the same object
def _encoded(sweep: SliderSweep, readers: tuple[str, ...], original: tuple[int, ...]) -> Encoded:
    """One digit sweep as the component reads it: positions, pictures, and per position each reader's
    "digit (p)" with whether it differs from the reader's class on the original (`original`)."""
    best = {r: sweep.probs[r].argmax(axis=1) for r in readers}  # (P,)
    readings = [[[f"{best[r][i]} ({percent(round(float(sweep.probs[r][i, best[r][i]]), 5))})",
                  int(best[r][i] != was)] for r, was in zip(readers, original)] for i in range(len(sweep.values))]
    return [float(v) for v in sweep.values], [data_uri(p) for p in sweep.pictures], readings


@dataclass(frozen=True)
class Packed:
    """One slider's encoded sweep as the component receives it: its content key and its bulk as JSON text."""

    key: str  # a hash of `text`: equal keys, equal pictures and readings
    text: str  # {"grid": positions, "pictures": data: URIs, "readings": per position, per reader [text, mark],
    #            "extra": per position, the page's own (optional)}


def pack(encoded: Encoded) -> Packed:
    """Serialises one encoded sweep once, and names it by its content."""
    grid, pictures, readings, *extra = encoded
    bulk = {"grid": grid, "pictures": pictures, "readings": readings} | ({"extra": extra[0]} if extra else {})
    text = json.dumps(bulk, separators=(",", ":"))
    return Packed(hashlib.blake2b(text.encode(), digest_size=10).hexdigest(), text)


_PACKS = Kept()  # `pack` per encoded sweep


def _data_text(data: dict, sweeps: list[Packed]) -> str:
    """`data` as JSON text with the sweeps' bulk spliced in under "sweeps" (each serialised once, by `pack`)."""
    bulk = ",".join(f"{json.dumps(p.key)}:{p.text}" for p in sweeps)
    return json.dumps(data)[:-1] + ',"sweeps":{' + bulk + "}}"


@dataclass(frozen=True)
class QuickView:
    """What a page's quick sliders show around the sliders, under the intervention on screen.

    Attributes:
        picture: the model's picture under `do`, as a data: URI (shown when no slider moves), or "" for a page
            with no picture (the Table lab: its readings are the counterfactual row's values).
        caption: the words under the picture.
        readers: a name per reading ("morpho-cnn", "light angle").
        original: per reader, the reading before the what-if ("9 (99.97%)", "118 °").
        current: per reader, [the reading under `do`, 1 when marked, else 0].
        mark: the words after a marked reading (" flips"), or "" for none.
        size: the picture's size on screen, px.
    """

    picture: str
    caption: str
    readers: list[str]
    original: list[str]
    current: list[list]
    mark: str = ""
    size: int = 112


def draw(key: str, specs: dict[str, VarSpec], factual: dict[str, float], do: dict[str, float],
         swept: dict[str, Encoded], view: QuickView, words: DoWords, then: Moved | None = None) -> None:
    """Draws the component: a slider per continuous variable, the model's picture and its readings.

    Args:
        key: the component's key (one per page); its session keys derive from it.
        specs: the continuous variables, in display order.
        factual: the example's own values (an unticked slider shows them).
        do: the intervention on screen (a ticked slider shows its value, clamped into range).
        swept: {slider: its encoded sweep} under `do`, for the `live` slider(s); the others ask for theirs. Pass
            the same object for the same sweep (the pages' encoders are cached): it is packed once (`_PACKS`), and
            its bulk goes only to a browser that does not hold its key.
        view: the picture and readings under `do`, and how the page words them.
        words: the page's wording of its controls.
        then: called after a move is applied (`_moved`), e.g. to choose which fragments rerun; None: the one the
            component is in.
    """
    resend = os.environ.get("EXPLORER_QUICK_RESEND") == "1"  # the old traffic, for A/B benchmarks
    packed = {name: _PACKS(e, pack) for name, e in swept.items()}
    holds = set() if resend else held(st.session_state.get(key))
    sliders = []
    for name, spec in specs.items():
        say = _say(spec, factual[name], words)
        sliders.append({"name": name, "label": words.label.format(**say),
                        "help": words.slider_help.format(**say) if words.slider_help else "",
                        "low": spec.low, "high": spec.high, "step": spec.step, "decimals": decimals(spec),
                        "unit": spec.unit, "value": slider_value(spec, do.get(name, factual[name])),
                        "set": name in do, "sweep": packed[name].key if name in packed else ""})
    data = {"sliders": sliders, "readers": view.readers, "original": view.original, "current": view.current,
            "mark": view.mark, "picture": view.picture, "caption": view.caption, "size": view.size,
            "applied": st.session_state.get(_applied(key)), "coalesce": not resend, "key": key,
            "settle": 0 if resend else settle_ms()}
    # as JSON text: a dict is walked by Streamlit for dataframes to send apart (~16 ms a run for this one), a str
    # goes as it is; a sweep's bulk only when the browser does not hold it
    text = _data_text(data, [p for p in packed.values() if p.key not in holds])
    _COMPONENT(key=key, data=text, on_move_change=functools.partial(_moved, specs, key, then),
               on_want_change=functools.partial(_wanted, specs, key), default={"move": None, "want": None})


def settle_ms() -> int:
    """SETTLE_MS, or `EXPLORER_QUICK_SETTLE` (ms) when set to a whole number (0: every move goes at once)."""
    text = os.environ.get("EXPLORER_QUICK_SETTLE", "")
    return max(0, int(text)) if text.strip().isdigit() else SETTLE_MS


_EXTRAS = Kept()  # per sweep (and readers), its encoding with the page's `extra`: made and packed once


def quick_sliders(specs: dict[str, VarSpec], factual: dict[str, float], do: dict[str, float],
                  sweeps: dict[str, SliderSweep], generated: np.ndarray,
                  probs: dict[str, tuple[np.ndarray, np.ndarray]], names: dict[str, str], words: DoWords,
                  extra: Callable[[SliderSweep], list] | None = None, then: Moved | None = None) -> None:
    """The Image what-if page's quick sliders: the model's digit and each classifier's reading.

    Args:
        specs: the continuous variables, in display order.
        factual: the example's own values (an unticked slider shows them).
        do: the intervention on screen (a ticked slider shows its value, clamped into range).
        sweeps: `ImageService.sweep` under `do`, for the `live` slider(s); the others ask for theirs.
        generated: the model's counterfactual under `do` (`what_if`), shown when no slider moves.
        probs: {reader: (on the original, on the counterfactual)}, from the same `what_if`.
        names: {reader: the name the page gives it}.
        words: the page's wording of its controls.
        extra: per sweep, per position what else the page redraws while the slider moves (the answer panel's
            parts: explorer/ui/image_answer.py), passed on with each step in the browser's `quick-move` event.
        then: called after a move is applied (`draw`).
    """
    readers = tuple(probs)
    before = [_class_text(p) for p, _ in probs.values()]
    original = tuple(best for best, _ in before)
    current = [[text, int(best != was)] for (best, text), was in zip((_class_text(q) for _, q in probs.values()),
                                                                     original)]
    view = QuickView(data_uri(generated), "The model's what-if, redrawn while you move a slider",
                     [names.get(r, r) for r in readers], [text for _, text in before], current, mark=" flips")

    def encode(sweep: SliderSweep) -> Encoded:
        if extra is None:
            return _encoded(sweep, readers, original)
        return _EXTRAS(sweep, lambda s: (*_encoded(s, readers, original), extra(s)), readers, original)

    draw(KEY, specs, factual, do, {n: encode(s) for n, s in sweeps.items()}, view, words, then)
