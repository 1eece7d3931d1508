"""Streamlit pieces of the "Train with counterfactuals" page: its backend, its link, the controls, the renders.

Widget keys (tests and links address them): `cf_strength` (the strengths' tabs; its state is the open tab's
label), `cf_methods` (Train now's methods), `cf_train`, `cf_cancel`. The address bar is a shareable link:
`?strength=0.99&methods=erm,cf_regularise`. A Train now job lives in the visitor's session (`_cf_job`); its models
join the visitor's uploaded classifiers (`explorer.ui.common.uploads`), so the Flip page lists them.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer.checkpoints import CheckpointError
from explorer.datasets.confounded import STRENGTHS
from explorer.services.cf_training import (
    LABELS,
    TRAINABLE,
    CFTrainingService,
    Examples,
    Job,
    Results,
    StrengthView,
    check_strength,
)
from explorer.ui.cf_training_charts import curves_figure, grid_png, matrix_svg, results_figure
from explorer.ui.charts import fast_figure
from explorer.ui.common.format import echo, listed
from explorer.ui.common.link import PageLink, ignored
from explorer.ui.common.loader import SETUP_ERRORS, Backend, Fix
from explorer.ui.common.uploads import uploads
from explorer.ui.images import uri

PAGE = "cf"
LINK = PageLink(PAGE, ("cf_strength", "cf_methods"), marker="cf_strength")
DEFAULT_STRENGTH, DEFAULT_METHODS = 0.99, ["erm", "cf_regularise"]
LIMIT_ENV = "EXPLORER_TRAIN_NOW_LIMIT"  # a smaller Train now for tests; unset: NOW_LIMIT digits
RESULTS_ENV = "EXPLORER_CF_RESULTS"  # another results file (tests); unset: the shipped bench/results one
POLL = 1.0  # s between two looks at a running job
_JOB, _ADDED, _REDRAWN = "_cf_job", "_cf_job_added", "_cf_job_redrawn"
_BAD = ("The link's strength=", "The link's methods ")  # link_notes: errors, not warnings
_TRAIN, _CANCEL = "_cf_train_asked", "_cf_cancel_asked"  # clicks kept by callbacks (a fragment may lose them)


def _service() -> CFTrainingService:
    limit, results = os.environ.get(LIMIT_ENV), os.environ.get(RESULTS_ENV)
    return CFTrainingService(**({"limit": int(limit)} if limit else {}), **({"results": results} if results else {}))


def _fixes(part: str | None) -> list[Fix]:
    return [Fix(SETUP_ERRORS, "The Train with counterfactuals page could not start", "make install",
                "Check the installation, then reload the page", quote=False)]


CF = Backend(PAGE, _service, "", _fixes)


def strength_text(s: float) -> str:
    return f"{s:g}"


def strength_label(s: float) -> str:
    """A strength's tab label (and the `cf_strength` state that names the open tab)."""
    return f"{s:g} ({100 * s:g} %)"  # short: the four tabs fit a phone's width


_BY_LABEL = {strength_label(s): s for s in STRENGTHS}


# --- the link -------------------------------------------------------------------------------------------
def _apply(params: dict[str, str]) -> list[str]:
    """`?strength=0.99&methods=erm,cf_regularise` -> the widgets' state; returns the problems (shown as errors)."""
    notes, state = [], st.session_state
    state["cf_strength"] = strength_label(DEFAULT_STRENGTH)
    if "strength" in params:
        try:
            state["cf_strength"] = strength_label(check_strength(float(params["strength"])))
        except (ValueError, OverflowError):
            notes.append(f"The link's strength={echo(params['strength'])} is not one of this page's strengths "
                         f"({', '.join(map(strength_text, STRENGTHS))}), so {DEFAULT_STRENGTH:g} is shown.")
    asked = [m for m in params.get("methods", ",".join(DEFAULT_METHODS)).split(",") if m]
    bad = [m for m in asked if m not in TRAINABLE]
    if bad:
        notes.append(f"The link's methods {listed(bad)} are not methods Train now offers "
                     f"({', '.join(TRAINABLE)}); ignored.")
    state["cf_methods"] = [m for m in asked if m in TRAINABLE] or list(DEFAULT_METHODS)
    return notes + ignored(params, ("strength", "methods"))


def read_link() -> list[str]:
    """The settings from the address bar when it says what to show; returns its notes."""
    return LINK.read(_apply)


def link_notes(notes: list[str]) -> None:
    """A strength or method the page cannot show is an error; a setting it does not read, a warning."""
    for note in notes:
        (st.error if note.startswith(_BAD) else st.warning)(note)


def write_link(strength: float, methods: list[str]) -> None:
    LINK.write({"strength": strength_text(strength), "methods": ",".join(methods)})


# --- the controls ---------------------------------------------------------------------------------------
def strength_tabs() -> list[tuple[float, DeltaGenerator]]:
    """The four strengths as tabs, the open one first: every tab is drawn on each run, so a change of strength is
    the browser's alone (no round trip); the rerun it starts (its fragment's) only writes the link."""
    st.session_state.setdefault("cf_strength", strength_label(DEFAULT_STRENGTH))
    st.markdown("**Confounding strength**: how often the hue follows the digit (the share of training digits drawn "
                "in their own digit's colour). At 0.99, 99 of 100 do; at 0 colour is random.")
    tabs = dict(zip(STRENGTHS, st.tabs([strength_label(s) for s in STRENGTHS], key="cf_strength", on_change="rerun")))
    first = chosen_strength()
    return [(first, tabs[first])] + [(s, tab) for s, tab in tabs.items() if s != first]


def chosen_strength() -> float:
    """The strength whose tab is open."""
    return _BY_LABEL.get(st.session_state.get("cf_strength"), DEFAULT_STRENGTH)


def chosen_methods() -> list[str]:
    """The methods the multiselect shows (for the strength's fragment, drawn before it)."""
    return list(st.session_state.get("cf_methods", DEFAULT_METHODS))


def method_picker() -> list[str]:
    st.session_state.setdefault("cf_methods", list(DEFAULT_METHODS))
    return st.multiselect("Methods to train", TRAINABLE, key="cf_methods", format_func=LABELS.get,
                          help="Each method trains the same small CNN on the same digits, one after the other.")


# --- the data and the grid's results ---------------------------------------------------------------------
# The two grids as PNG data: URIs, kept per server and strength (the service keeps what they show): a strength
# change then sends pictures inside its message, without encoding them again and without the browser fetching
# them back from the media store (images.uri; bench/bench_train_page.py).
@functools.lru_cache(maxsize=16)
def _training_uri(service: CFTrainingService, strength: float) -> str:
    return uri(grid_png(service.strength(strength).images))


@functools.lru_cache(maxsize=16)
def _examples_uri(service: CFTrainingService, strength: float) -> str:
    ex = service.examples(strength)
    rows = np.stack([ex.factual, ex.hue_cf[0], ex.hue_true[0], ex.hue_cf[1], ex.digit_cf])  # (5, K, 3, 28, 28)
    return uri(grid_png(rows))


def training_data(service: CFTrainingService, strength: float) -> None:
    try:
        view: StrengthView = service.strength(strength)
    except SETUP_ERRORS as err:  # the packaged digits missing or damaged: said, not a traceback
        st.error(f"**The training digits could not be read.** {err}")
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.image(_training_uri(service, strength), caption=f"Training digits at strength {view.strength:g}: each "
                 "column is one digit (0 to 9), drawn by the world itself")
        st.markdown(f"**{100 * view.own_band:.1f} %** of the {view.rows:,} training digits wear their own digit's "
                    "colour band (colour band of digit d: the d-th tenth of the colour wheel).")
    with right:
        st.image(matrix_svg(view.names, view.matrix))  # a picture: see cf_training_charts.matrix_svg
        st.caption("Confounding between the generative factors of these training digits: 0 when two factors are "
                   "independent, 1 when one settles the other (docs/confounding.md). Digit–hue is the confounded "
                   "pair; thickness–intensity are tied by the world's own mechanism at every strength.")


def results(res: Results) -> None:
    if res.note:
        st.info(f"{res.note} Build them with:\n\n```\n{res.command}\n```")
        return
    st.plotly_chart(fast_figure(results_figure(res.scores, STRENGTHS, tuple(LABELS), LABELS)), key="cf_results",
                    config={"displayModeBar": False})
    st.caption("Accuracy on test digits whose colour is drawn at random (out of distribution), mean over seeds; "
               "the error bars are the seeds' standard deviation. Chance is 10 %.")
    for line in res.readings:
        st.markdown(line)


def examples(service: CFTrainingService, strength: float) -> None:
    try:
        ex: Examples = service.examples(strength)
    except CheckpointError as err:
        st.error(f"**The generator of strength {strength:g} is missing, so its counterfactuals cannot be shown.** "
                 f"{err}")
        return
    st.image(_examples_uri(service, strength),
             caption="Rows: the training digit · do(hue) by the generator · the TRUE do(hue) · another do(hue) by "
                     "the generator · do(digit), hue held, by the generator")
    asked = ", ".join(f"{d}→{a}" for d, a in zip(ex.digits, ex.digit_asked))
    st.caption(f"The hues asked for are drawn at random on the colour wheel, independent of the digit: what CF "
               f"augmentation and CF regularisation train with. The last row's pairs (digit → asked digit: {asked}) "
               "are gradient supervision's: the smallest change of the label's cause, colour and style kept.")


# --- Train now ------------------------------------------------------------------------------------------
def job() -> Job | None:
    return st.session_state.get(_JOB)


def train_button(methods: list[str]) -> bool:
    running = job() is not None and not job().finished
    clicked = st.button("Train now", key="cf_train", type="primary", icon=":material/model_training:",
                        disabled=running or not methods, on_click=st.session_state.__setitem__, args=(_TRAIN, True))
    if not methods:
        st.caption("Pick at least one method to train.")
    return bool(st.session_state.pop(_TRAIN, False) or clicked)


def started(new: Job) -> None:
    """Keeps the visitor's new job and redraws the page with the Train button off while it runs."""
    st.session_state[_JOB] = new
    st.session_state[_ADDED] = False
    st.rerun()


def refused(err: Exception) -> None:
    st.error(f"**This training cannot start.** {err}")


def _cancel_button() -> bool:
    clicked = st.button("Cancel", key="cf_cancel", icon=":material/stop:",
                        on_click=st.session_state.__setitem__, args=(_CANCEL, True))
    return bool(st.session_state.pop(_CANCEL, False) or clicked)


def live(service: CFTrainingService) -> None:
    """The job's panel; while it runs, a fragment redraws it every POLL seconds (the rest of the page stays)."""
    current = job()
    if current is None:
        st.caption(f"Trains the chosen methods at the chosen strength on {service.limit:,} training digits for "
                   f"{service.epochs} epochs each (20–30 s per method on this server's 2 cores), one training per server: if "
                   "someone else is training, yours waits its turn.")
        return
    st.fragment(run_every=None if current.finished else POLL)(_panel)(service, current)


def _panel(service: CFTrainingService, current: Job) -> None:
    if not current.finished and _cancel_button():
        service.cancel(current)
    place = service.place(current)
    if current.state == "queued" and place > 0:
        ahead = f", and {place - 1} more wait before yours" if place > 1 else ""
        st.info(f"Waiting: your training is number {place} in line. Someone else's is training now{ahead}.")
    elif not current.finished:
        st.progress(min(current.progress, 1.0), text=f"{current.phase}… {100 * current.progress:.0f} %")
    if current.curves:
        st.plotly_chart(fast_figure(curves_figure(dict(current.curves), LABELS)), key="cf_curves",
                        config={"displayModeBar": False})
        st.caption("Accuracy every few steps on 500 test digits coloured like the training data (IID, solid) "
                   "and 500 coloured at random (OOD, dashed).")
    _outcome(current)
    if current.finished and st.session_state.get(_REDRAWN) is not current:
        st.session_state[_REDRAWN] = current
        st.rerun(scope="app")  # the whole page once: the Train button comes back and polling stops


def _outcome(current: Job) -> None:
    if current.state == "failed":
        st.error(f"**The training failed**, so nothing was kept. {current.message}")
    elif current.state == "cancelled":
        st.warning("**Cancelled.** Nothing was kept.")
    elif current.state == "done":
        if not st.session_state.get(_ADDED):
            for clf in current.classifiers.values():
                uploads()[clf.name] = clf  # this session only, beside the visitor's uploaded models
            st.session_state[_ADDED] = True
        last = {m: c[-1] for m, c in current.curves.items() if c}
        st.success(f"**Trained in {current.seconds:.0f} s.** " + "; ".join(
            f"{LABELS[m]}: IID {100 * p[1]:.0f} %, OOD {100 * p[2]:.0f} %" for m, p in last.items()) + ".")
        for clf in current.classifiers.values():
            st.page_link("pages/flip_classifier.py", label=f"Flip {clf.name} on the Flip page",
                         icon=":material/swap_horiz:", query_params={"world": "colour", "classifier": clf.name})
        st.caption("Your models stay in this browser session only, listed with the Flip page's classifiers.")
