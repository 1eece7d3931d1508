"""The one cached loader of every page's service, and the one error card for what goes wrong while loading.

A `Backend` says what a page loads: how to build its service (once per server process, shared read-only by
every session: the services' calls are pure in their arguments), what to say meanwhile, and how to repair each
kind of failure. A service whose parts load on first use (the text page's models, one pair per concept) has
`loaded(part)` and `load(part)`, and the loader loads a part the same way. Failures become one card, never a
traceback: what failed, the error itself, and the command that repairs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import streamlit as st

_COMMAND = re.compile(r"Rebuild (?:it|them) with: (.+?)\s*$")  # how explorer.checkpoints names its command
SETUP_ERRORS = (ImportError, OSError, RuntimeError, ValueError)  # anything else raised while loading is set-up
RUN_THIS = "Run this in the project folder, then reload the page"


@dataclass(frozen=True)
class Fix:
    """What the error card says for one kind of failure.

    Attributes:
        errors: the exception types this fix is for.
        headline: what failed, in bold.
        command: the command that repairs it.
        advice: what to do with the command.
        quote: the error's message on its own line; False puts its type and message in brackets after the
            headline (an unexpected error, worth its type).
        own_command: use the command the error names ("Rebuild it with: …") when it names one.
    """

    errors: tuple[type[BaseException], ...]
    headline: str
    command: str
    advice: str = RUN_THIS
    quote: bool = True
    own_command: bool = False

    def message(self, err: BaseException) -> str:
        """The card's Markdown for `err`."""
        command = self.command
        if self.own_command and (match := _COMMAND.search(str(err))):
            command = match.group(1)
        head = f"**{self.headline}**\n\n{err}" if self.quote else f"**{self.headline}** ({type(err).__name__}: {err})."
        return f"{head}\n\n{self.advice}:\n\n```\n{command}\n```"


class Backend:
    """What one page loads: its service, built once per server process, and the words of its error card.

    Args:
        name: the page's name.
        build: makes the service (a module-level function: Streamlit caches by the function).
        loading: the spinner's words while the service builds ("" for none: a quick build).
        fixes: the card's words per kind of failure, first match wins, for a part (None: the service itself).
        part_loading: the spinner's words while a part loads; {part} is the part's name.

    Attributes:
        shared: the cached builder: `backend.shared()` is the one instance of this server process.
    """

    def __init__(self, name: str, build: Callable[[], Any], loading: str,
                 fixes: Callable[[str | None], Sequence[Fix]], part_loading: str = ""):
        self.name, self.loading, self.part_loading, self.fixes = name, loading, part_loading, fixes
        # Streamlit caches the instance per process and does not cache exceptions, so after a fix a page reload
        # retries; its own spinner shows only while building, never on the runs that find it built.
        self.shared = st.cache_resource(show_spinner=loading or False)(build)

    def card(self, err: BaseException, part: str | None = None) -> bool:
        """Shows the error card for `err` when it is a failure this backend knows; returns whether it did."""
        fix = next((f for f in self.fixes(part) if isinstance(err, f.errors)), None)
        if fix is not None:
            st.error(fix.message(err))
        return fix is not None


def load(backend: Backend, part: str | None = None, stop: bool = True) -> Any:
    """The page's shared service (and its `part` loaded); on failure the error card.

    Args:
        backend: what the page loads.
        part: a part the page needs now (a concept's models), loaded on first use with a spinner.
        stop: end the page after the card (pages that need the service); False returns None so the page can
            still show what does not depend on it.
    """
    try:
        service = backend.shared()
        if part is not None and not service.loaded(part):
            with st.spinner(backend.part_loading.format(part=part)):
                service.load(part)
        return service
    except Exception as err:  # noqa: BLE001 - the card names the failures it knows; the others are re-raised
        if not backend.card(err, part):
            raise
    if stop:
        st.stop()
    return None
