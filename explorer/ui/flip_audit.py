"""Streamlit pieces of the Flip page's second tab, "What flips this model?": the global audit of the classifier.

The page makes the calls (`AuditService.shipped` for a shipped classifier, `AuditService.compute` for an upload);
these pieces draw. Widget keys (tests address them): `flip_audit_n` (digits to audit an upload on),
`flip_audit_run`, `flip_audit_chart`, `flip_audit_json`, `flip_audit_markdown`.
"""

from __future__ import annotations

import textwrap
import weakref
from dataclasses import dataclass, field

import streamlit as st

from explorer.interfaces import Classifier
from explorer.services.audit_page import DEFAULT_N, MAX_N, MIN_N, AuditService, AuditUnavailable, AuditView, Chunk
from explorer.ui.charts import CF_COLOUR, fast_figure
from explorer.ui.common.loader import Backend
from explorer.ui.flip import FLIP, name_of

KEPT_COLOUR, FREE_COLOUR = CF_COLOUR, "#4e79a7"  # the digit kept: a flip there is a shortcut; the digit free
BAR_PX = 24  # one bar; two per attribute set
_JOBS = "_flip_audit_jobs"  # {(classifier, world, weakref to the upload): _Job}: a visitor's audits, session only
_ASKED = "_flip_audit_asked"  # the button's click, recorded by its callback (as the Run button's)


def _audit_service() -> AuditService:
    return AuditService(FLIP.shared())  # the Flip page's classifiers, search space and step budget


AUDIT = Backend("flip_audit", _audit_service, "", FLIP.fixes)


@dataclass
class _Job:
    """One upload's audit in one world: the chunks done so far, and the view once every chunk is done (or why it
    failed: not retried until the button is pressed again)."""

    n: int
    done: dict[Chunk, dict] = field(default_factory=dict)
    view: AuditView | None = None
    error: str = ""

    @property
    def pending(self) -> bool:
        return self.view is None and not self.error


def heading(name: str, world: str) -> None:
    """What the tab asks, in words."""
    st.subheader(f"2 · What flips {name_of(name)}?")
    st.markdown(f"Not one digit this time, but many test digits of the {world} world. For each set of attributes "
                "the search may change **only those**, and looks for the smallest change that makes the classifier "
                "read another class. With the **digit kept the same**, a flip means the classifier changed its mind "
                "about a digit that did not change: it relies on that attribute, a shortcut. With the **digit free**, "
                "changing the digit itself is the expected way to flip it.")


def missing(err: AuditUnavailable) -> None:
    """No precomputed audit to show: why, and the command that makes it."""
    st.info(f"**{err}**\n\nThe shipped classifiers' audits are computed once, ahead of time (several minutes each "
            f"on a 2-core CPU). Run this in the project folder, then reload the page:\n\n```\n{err.command}\n```",
            icon=":material/pending:")


def why(err: Exception) -> str:
    """Why the audit could not run, for the visitor (the error's type too, when it is not a refused request)."""
    return str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"


def request(name: str, world: str, clf: Classifier) -> _Job | None:
    """The digits slider and the Audit button for an uploaded model; returns its audit in this world.

    The audit is new when the button was pressed, else the one kept from an earlier run (finished, or still to
    finish: an audit the visitor interrupted by moving a widget resumes on the next run), or None.
    """
    jobs = st.session_state.setdefault(_JOBS, {})
    # a new upload under the same name is another model; a weak reference, not id(), which a later upload may reuse
    key = (name, world, weakref.ref(clf))
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    n = left.slider("Test digits to audit", MIN_N, MAX_N, DEFAULT_N, step=5, key="flip_audit_n",
                    help="More digits, steadier numbers, a longer wait: a few seconds per digit on this server "
                         "(20 digits: a minute or two).")
    clicked = right.button("Audit this model", key="flip_audit_run", type="primary", icon=":material/play_arrow:",
                           on_click=st.session_state.__setitem__, args=(_ASKED, True))
    if st.session_state.pop(_ASKED, False) or clicked:
        jobs[key] = _Job(int(n))
    job = jobs.get(key)
    if job is None:
        st.caption(f"Your model is not shipped with the app, so nobody has audited it yet: press **Audit this "
                   f"model**. It runs on this server in small parts (other visitors' requests go in between) and "
                   f"the result stays in your session only. For more than {MAX_N} digits, run "
                   "`python -m explorer audit-classifier` on your own machine.")
    elif job.view is not None and job.n != n:
        st.caption(f"Shown: the audit on {job.n} digits. Press **Audit this model** to audit {n}.")
    return job


class Progress:
    """The audit's progress bar: "Auditing… 6 of 20 parts"."""

    def __init__(self) -> None:
        self.bar = st.progress(0.0, text="Auditing…")

    def __call__(self, done: int, total: int) -> None:
        """Called by the audit before each part (one attribute set on a few digits) and at the end."""
        self.bar.progress(done / total, text=f"Auditing… {done} of {total} parts (each: one attribute set on a "
                                             "few digits)")

    def close(self) -> None:
        self.bar.empty()


def figure(view: AuditView) -> dict:
    """Horizontal bars per attribute set: the share of digits flipped with the digit kept, and with it free."""
    labels = ["<br>".join(textwrap.wrap(r.label, 20)) for r in view.rows]  # two short lines: room on a phone
    data = []
    for series, pick, colour in (("digit kept the same", lambda r: r.kept, KEPT_COLOUR),
                                 ("digit free to change", lambda r: r.free, FREE_COLOUR)):
        values = [pick(r) for r in view.rows]
        data.append({"type": "bar", "orientation": "h", "name": series, "y": labels,
                     "x": [v or 0.0 for v in values], "marker": {"color": colour},
                     "text": ["not searched" if v is None else f"{v:.0%}" for v in values],
                     "textposition": "outside", "cliponaxis": False,
                     "hovertemplate": f"%{{y}}: %{{x:.0%}} of digits flip<extra>{series}</extra>"})
    height = 2 * BAR_PX * len(labels) * 1.4 + 110
    layout = {"barmode": "group", "height": int(height), "bargap": 0.25, "bargroupgap": 0.05,
              "margin": {"l": 10, "r": 40, "t": 40, "b": 10},  # the legend sits above the bars
              "xaxis": {"range": [0, 1.12], "tickvals": [0, 0.25, 0.5, 0.75, 1], "tickformat": ".0%",
                        "fixedrange": True, "title": {"text": "share of digits the search flipped"}},
              "yaxis": {"autorange": "reversed", "fixedrange": True, "automargin": True},
              "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}}
    return {"data": data, "layout": layout}


def outcome(job: _Job) -> None:
    """An upload's audit once it has run: the audit, or why it could not run."""
    if job.error:
        st.error(f"**This model cannot be audited.** {job.error}")
    elif job.view is not None:
        show(job.view)


def show(view: AuditView) -> None:
    """The audit: its reading in words, the chart, the tables and the downloads."""
    took = f"; took {view.seconds:.0f} s" if not view.precomputed and view.seconds >= 1 else ""
    st.caption(f"{view.source[0].upper()}{view.source[1:]}, searched with {view.search}; target: any other "
               f"class{took}.")
    st.info(f"**{view.reading}**", icon=":material/lightbulb:")
    st.plotly_chart(fast_figure(figure(view)), key="flip_audit_chart", config={"displayModeBar": False})
    st.caption("Each bar is the share of digits for which the search found a change of only that attribute set "
               "that flips the classifier. Attributes outside the set are not set, but still follow the world's "
               "rules (a thicker pen writes brighter; the colour follows the digit).")
    if view.note:
        st.caption(view.note)
    with st.expander("The numbers, and the typical change that flips it"):
        tables = view.markdown[view.markdown.find("## "):] if "## " in view.markdown else view.markdown
        st.markdown(tables.replace("## ", "#### "))
    left, right = st.columns(2)
    stem = f"audit_{view.classifier}.{view.world}".replace(" ", "_")
    left.download_button("Download the audit (JSON)", view.json, file_name=f"{stem}.json", mime="application/json",
                         key="flip_audit_json", icon=":material/download:")
    right.download_button("Download the audit (Markdown)", view.markdown, file_name=f"{stem}.md",
                          mime="text/markdown", key="flip_audit_markdown", icon=":material/download:")
