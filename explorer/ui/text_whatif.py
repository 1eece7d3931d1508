"""Streamlit pieces of the Text what-if page: the cached service, pickers, the result, measured effects, audit.

Widget keys (tests address them): `text_concept`, `text_level`, `text_example`, `text_input`, `audit_model`,
`audit_file`, `audit_example`, `audit_json`, `audit_markdown`. The address bar is a shareable link to what is on
screen: `?concept=race&level=gentle&text=…`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.services.audit import (METRIC_NAMES, METRIC_WORDS, AuditError, AuditReport, audit, describe_model,
                            interval_words, model_for, model_names, parse_model_name, read_audit_csv)
from explorer.checkpoints import CheckpointError
from explorer.counterfactual.text import RULES
from explorer.data.safe_pickle import DataPackageError
from explorer.datasets.text_tasks import CONCEPTS, LEVELS
from explorer.device import pick_device
from explorer.registry import rebuild_causalm
from explorer.models.text_encoder import BaseModelMissing
from explorer.services.text import (EffectsMissing, Example, TextResult, TextService, effects_reading, effects_table,
                                 example_csv, examples, level_words)
from explorer.ui import address
from explorer.ui.charts import fast_figure
from explorer.ui.text_charts import (counterfactual_html, effects_spec, original_html, shown_table,
                                     prediction_lines, probability_spec)

CONCEPT_LABELS = {"adjectives": "Adjectives · film-review sentiment (fresh / rotten)",
                  "gender": "Gender · emotion in a sentence about a person",
                  "race": "Race, signalled by a name · emotion in a sentence"}
REWRITE_TITLES = {"adjectives": "Without its adjectives", "gender": "With the other gender",
                  "race": "With a name of the other race"}
DEFAULT_CONCEPT = "gender"  # simple sentences, no tagger to load: the quickest first view
PAGE_MAX_ROWS = 2_000  # ~10 s of audit on a 2-core CPU; the CLI takes whole files
STATIC = {"displayModeBar": False, "staticPlot": True}
_OWN = "_text_own"  # the visitor typed the text: a change of concept must not replace it with an example
_REPORT = "_audit_report"
_AUDIT_FOLLOWS = "_audit_follows"  # the audit model last set from section 1's concept and level
_AUDIT_PICKED = "_audit_picked"  # the visitor chose the audit model: section 1 no longer moves it
_LINK_NOTES = "_text_link_notes"
_WRITTEN = "_text_link_written"  # the query the page last wrote into the address bar
_LAST = "_text_last"  # what the page showed last: restored when the visitor comes back from another page
LINK_MAX_CHARS = 2_000  # longer texts stay out of the address bar (the models read ~300 characters anyway)


@st.cache_resource(show_spinner=False)
def shared_text_whatif() -> TextService:
    # One per server process, shared read-only: the pairs load lazily per concept and their calls are
    # serialised inside the service, so sessions never see each other's results.
    return TextService(device=pick_device())


def _fix(message: str, command: str) -> None:
    st.error(f"{message}\n\nRun this in the project folder, then reload the page:\n\n```\n{command}\n```")


def load_models(service: TextService, concept: str) -> bool:
    """Loads the concept's two models on first use; on failure says what went wrong and how to fix it."""
    if service.loaded(concept):
        return True
    rebuild = rebuild_causalm(concept, service.folder)
    try:
        with st.spinner(f"Loading the {concept} models (once per server, a few seconds)…"):
            service.pair(concept)
        return True
    except CheckpointError as err:
        _fix(f"**The {concept} models could not be loaded.**\n\n{err}", rebuild)
    except BaseModelMissing as err:
        _fix(f"**The text encoder's base model is missing.**\n\n{err}", "make install")
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        _fix(f"**The {concept} models could not be loaded** ({type(err).__name__}: {err}).", f"make install\n{rebuild}")
    return False


# --- links ----------------------------------------------------------------------------------------------
def apply_link() -> list[str]:
    """Sets the page's widgets from a shared link on the session's first visit or after the browser's Back or
    Forward buttons, or back to what the visitor left when they return from another page (Streamlit drops a
    page's widget state when another page runs).

    Returns what was wrong with the link, for notes on the first visit (empty otherwise).
    """
    if _LINK_NOTES not in st.session_state:
        st.session_state[_LINK_NOTES] = _read_link()
        return st.session_state[_LINK_NOTES]
    query = address.moved(_WRITTEN)
    if query:
        st.session_state[_LINK_NOTES] = _read_link()
    elif "text_concept" not in st.session_state and _LAST in st.session_state:
        st.session_state[_LINK_NOTES] = []  # the link's notes were read on the first visit
        _set_state(**st.session_state[_LAST])
    elif query is not None:
        address.hold(_WRITTEN)
    return st.session_state[_LINK_NOTES]


def _read_link() -> list[str]:
    """`?concept=race&level=gentle&text=…` -> the widgets' state; returns the link's problems. Values are matched
    loosely (case, spaces); anything unusable is named and the page's default is kept."""
    params, notes = st.query_params.to_dict(), []
    concept = params.get("concept", DEFAULT_CONCEPT).strip().lower()
    if concept not in CONCEPTS:
        notes.append(f"The link's concept={params['concept']!r} is not one of {', '.join(CONCEPTS)}, so "
                     f"{DEFAULT_CONCEPT} is shown.")
        concept = DEFAULT_CONCEPT
    level = params.get("level", LEVELS[0]).strip().lower()
    if level not in LEVELS:
        notes.append(f"The link's level={params['level']!r} is not one of {', '.join(LEVELS)}, so "
                     f"{LEVELS[0]} is shown.")
        level = LEVELS[0]
    text = params.get("text", "")
    if len(text) > LINK_MAX_CHARS:
        notes.append(f"The link's text has {len(text):,} characters; its first {LINK_MAX_CHARS:,} are shown.")
        text = text[:LINK_MAX_CHARS]
    if "text" in params and not text.strip():
        notes.append("The link's text is empty, so an example from the test set is shown.")
    _set_state(concept, level, text if text.strip() else None)
    return notes


def _set_state(concept: str, level: str, text: str | None) -> None:
    """The widgets' state for `concept`, `level` and `text` (None: the concept's first example)."""
    st.session_state["text_concept"], st.session_state["text_level"] = concept, level
    if text is None:
        return
    st.session_state["text_input"] = text
    options = [e.text for e in _examples(concept)]
    st.session_state[_OWN] = text not in options  # a test-set example behaves as if picked from the list
    st.session_state["text_example"] = options.index(text) if text in options else None


def write_link(concept: str, level: str, text: str) -> None:
    """Keeps the address bar a shareable link to exactly what is on screen (texts up to LINK_MAX_CHARS)."""
    st.session_state[_LAST] = {"concept": concept, "level": level, "text": text if text.strip() else None}
    params = {"concept": concept, "level": level}
    if text.strip() and len(text) <= LINK_MAX_CHARS:
        params["text"] = text
    elif text.strip():
        st.caption(f":material/link_off: This text is longer than {LINK_MAX_CHARS:,} characters, so the address "
                   "bar's link leaves it out: a shared link opens with the concept and level only.")
    address.write(_WRITTEN, params, ("text_concept", "text_level", "text_input", "text_example"))


# --- concept, level, text -------------------------------------------------------------------------------
def _examples(concept: str) -> tuple[Example, ...]:
    try:
        return examples(concept)
    except (DataPackageError, OSError) as err:
        st.warning(f"The example texts could not be read ({err}); type your own. `make install` restores them.")
        return ()


def _use_example() -> None:
    options = _examples(st.session_state["text_concept"])
    if options and st.session_state.get("text_example") is not None:
        st.session_state["text_input"] = options[min(st.session_state.get("text_example", 0), len(options) - 1)].text
        st.session_state[_OWN] = False


def _concept_changed() -> None:
    own = st.session_state.get(_OWN)
    st.session_state["text_example"] = None if own else 0  # the visitor's own text stays, and unnamed
    if not own:
        _use_example()


def _typed() -> None:
    st.session_state[_OWN] = True
    st.session_state["text_example"] = None  # the picker no longer names the text on screen


def concept_picker() -> tuple[str, str]:
    """The concept (radio) and the bias level of the task models (select); returns (concept, level)."""
    left, right = st.columns([3, 2])
    st.session_state.setdefault("text_concept", DEFAULT_CONCEPT)  # in state, not `index=`: a link may set it
    concept = left.radio("Concept to take out of the text", CONCEPTS, key="text_concept",
                         format_func=CONCEPT_LABELS.get, on_change=_concept_changed,
                         help="Each concept has its own pair of models: the original one (O) and one whose "
                              "encoder was trained to forget the concept (CF), after which a linear eraser "
                              "removes what a linear reader could still find of it.")
    level = right.selectbox("Bias in the task models' training data", LEVELS, key="text_level",
                            help="The same concept, three task models: trained on data where the concept and the "
                                 "label were unrelated (balanced) or more and more tied (gentle, aggressive).")
    right.caption(f"**{level}**: {level_words(concept, level)}.")
    return concept, level


def text_input(concept: str) -> str:
    """An example picker and the text area (the picker copies its example into the text area)."""
    options = _examples(concept)
    if options:
        st.session_state.setdefault("text_input", options[0].text)
        st.selectbox("Pick a text from the test set", range(len(options)), key="text_example",
                     format_func=lambda i: f"{options[i].text}   [{options[i].label}]", on_change=_use_example,
                     placeholder="Your own text (pick an example to replace it)")
    return st.text_area("… or type your own (the models were trained on English; longer texts are cut)",
                        key="text_input", height=110, on_change=_typed,
                        help="Press Ctrl+Enter (⌘+Enter) or click outside the box to analyse.")


def result_view(result: TextResult) -> None:
    """The text and its rewrite with the changes marked, both models' answers, and their bars."""
    for note in result.notes:
        st.warning(note)
    cf = result.counterfactual
    left, right = st.columns(2)
    left.markdown("**Your text** (the rewrite changes the marked words)")
    left.markdown(original_html(result), unsafe_allow_html=True)
    right.markdown(f"**{REWRITE_TITLES[result.concept]}** (the rewrite's new words marked)")
    right.markdown(counterfactual_html(result), unsafe_allow_html=True)
    st.caption(f"The rewrite: {RULES[result.concept]}." + (f" {cf.note}" if cf.changed else ""))
    if not cf.changed:
        st.info(f"**Nothing to rewrite.** {cf.note}")
    st.markdown("\n".join(prediction_lines(result)))
    st.markdown(result.reading())
    st.plotly_chart(fast_figure(probability_spec(result)), key="text_probabilities", config=STATIC)


# --- measured effects -------------------------------------------------------------------------------------
def effects_section(concept: str, level: str) -> None:
    """The concept's effects measured on the test set, per bias level: reading, chart and table."""
    try:
        frame = effects_table(concept)
    except EffectsMissing as err:
        st.info(str(err))
        return
    st.markdown(effects_reading(frame, concept, level))
    st.plotly_chart(fast_figure(effects_spec(frame, level)), key="text_effects", config=STATIC)
    st.dataframe(shown_table(frame))
    st.caption(" · ".join(METRIC_WORDS[k] for k in ("ate_gt", "treate", "conexp")) + ". Probes: accuracy of a "
               "linear classifier reading the concept from each encoder's sentence vector.")


# --- audit ------------------------------------------------------------------------------------------------
def audit_section(service: TextService, concept: str, level: str) -> None:
    """Upload a CSV, audit it with one model, show the report and offer it for download.

    The model follows the concept and level chosen above until the visitor picks another one here."""
    st.markdown("Upload a CSV file with a **`text`** column; optional columns unlock more numbers: **`label`** "
                "(the true class: accuracy), **`concept`** (0 or 1: CONEXP), **`text_cf`** (each text's true "
                "counterfactual: ATE_gt) and **`group`** (rows that belong together, such as texts about one "
                f"person: the intervals resample them together). The page audits the first {PAGE_MAX_ROWS:,} rows; "
                "for a whole file use "
                "`python -m explorer audit-text --csv FILE --json report.json`.")
    st.download_button("Download an example CSV", example_csv(), file_name="audit_example.csv", mime="text/csv",
                       key="audit_example", icon=":material/download:")
    follow = model_for(concept, level)
    # the concept or level above changed: follow it, unless the visitor has picked a model here
    if st.session_state.get(_AUDIT_FOLLOWS) != follow and not st.session_state.get(_AUDIT_PICKED):
        st.session_state["audit_model"] = st.session_state[_AUDIT_FOLLOWS] = follow
    model = st.selectbox("Model to audit", model_names(), key="audit_model", format_func=describe_model,
                         on_change=st.session_state.__setitem__, args=(_AUDIT_PICKED, True),
                         help="Which pair of models (O and CF) reads your texts. It follows the concept and bias "
                              "level chosen in section 1 until you pick another here.")
    upload = st.file_uploader("Your CSV file (UTF-8)", type=["csv", "txt"], key="audit_file")
    if upload is None:
        st.session_state.pop(_REPORT, None)
        return
    key = (upload.file_id, model)
    if st.session_state.get(_REPORT, (None,))[0] != key:
        report = _run_audit(service, upload.getvalue(), model)
        if report is None:
            return
        st.session_state[_REPORT] = (key, report)
    report_view(st.session_state[_REPORT][1])


def _run_audit(service: TextService, data: bytes, model: str) -> AuditReport | None:
    try:
        frame = read_audit_csv(data)
    except AuditError as err:
        st.error(f"**This file cannot be audited.** {err}")
        return None
    if not load_models(service, parse_model_name(model)[1]):
        return None
    bar = st.progress(0.0, text="Auditing…")
    try:
        report = audit(frame, service.audit_model(model), max_rows=PAGE_MAX_ROWS,
                       progress=lambda done, total: bar.progress(done / total, text=f"Auditing… {done:,} of "
                                                                                   f"{total:,} texts"))
    except AuditError as err:
        st.error(f"**This file cannot be audited.** {err}")
        return None
    finally:
        bar.empty()
    return report


def report_view(report: AuditReport) -> None:
    """The audit's numbers, its notes and the download buttons."""
    took = "under 0.1 s" if report.seconds < 0.1 else f"{report.seconds:.1f} s"
    st.success(f"Audited {report.n_audited:,} of {report.n_rows:,} rows with **{describe_model(report.model)}** "
               f"in {took}.")
    shown = [(k, v) for k, v in report.metrics.items() if v is not None]
    for col, (key, value) in zip(st.columns(max(1, len(shown))), shown):
        share = key.startswith("acc")
        col.metric(METRIC_NAMES[key], f"{value:.1%}" if share else f"{value:.3f}",
                   help=f"{METRIC_WORDS[key]} ({report.n_used[key]:,} rows)")
        if key in report.intervals:
            low, high = report.intervals[key]
            col.caption(f"95 % interval {low:.1%}–{high:.1%}" if share else f"95 % interval {low:.3f}–{high:.3f}")
    words = interval_words(report.grouped)
    st.caption(words[0].upper() + words[1:])
    if report.notes:
        st.markdown("**What could not be computed, and other notes**\n\n" + "\n".join(f"- {n}" for n in report.notes))
    if report.largest:
        st.caption("The rows where the two models disagree most: where the concept matters most to the model.")
        st.dataframe(pd.DataFrame(report.largest).rename(columns={"o": "O says", "cf": "CF says",
                                                                   "difference": "O–CF difference"}),
                     hide_index=True)
    left, middle, right = st.columns(3)
    left.download_button("Download the report (JSON)", report.to_json(), file_name="text_audit.json",
                         mime="application/json", key="audit_json", icon=":material/download:")
    middle.download_button("Download the report (Markdown)", report.to_markdown(), file_name="text_audit.md",
                           mime="text/markdown", key="audit_markdown", icon=":material/download:")
    right.download_button("Download every row's predictions (CSV)", report.to_rows_csv(),
                          file_name="text_audit_rows.csv", mime="text/csv", key="audit_rows",
                          icon=":material/download:",
                          help="One line per audited row: what O and CF say, their probabilities, and what "
                               "your optional columns add.")
