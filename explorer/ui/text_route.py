"""The Text what-if page's answer over HTTP: `POST /explorer/text-answer` {concept, level, text} -> the result's
markup as a tree of elements, which the page's drafts component (assets/text_drafts/) builds in place on a Ctrl+Enter
that found no draft held (a text submitted without a pause), before the commit's rerun draws the same.

Why: a commit is a Streamlit rerun, and the page's answer on it costs about 2x the same round trip on a page with no
model (docs/performance.md, "Text what-if"): the model call (~14 ms) plus the result's redraw in a page React walks
whole. A plain request to the same server, asked in the key press's own event, brings the answer back in about the
model call's time and changes one element. It goes through the page's own answer (`text_whatif.answer`: kept per
server, and computed once when the rerun asks for the same text at the same moment), so the rerun then costs no
model call either.

Served by the app's own server (`app.py` is an `st.App` with this route), so there is no second port or process.
What it accepts: a JSON body of at most MAX_BODY bytes naming one of the concepts and levels; a concept whose models
this server has not loaded yet is not loaded for a request (the answer is null: the rerun loads and answers). What it
sends: a tree of the tags and attributes the result uses (TAGS, ATTRS), text as text nodes (the visitor's text
arrives as characters, never as markup); the component builds elements from the same lists and nothing else.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from explorer.services.text import TextService

PATH = "/explorer/text-answer"
MAX_BODY = 64 * 1024  # bytes: the service reads MAX_CHARS characters of a text, far fewer than this
TAGS = ("div", "p", "strong", "em", "span", "br", "ul", "li", "img")  # what result_html draws
ATTRS = ("style", "id", "alt", "src", "role", "aria-label")
VOID = ("br", "img")  # elements with no closing tag
IMAGE_SRC = "data:image/svg+xml"  # the only pictures the result holds: its bars


class NotInTree(ValueError):
    """The markup holds a tag or attribute the tree does not carry."""


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities become the characters they stand for: text, not markup
        self.root: list = ["root", {}]
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            raise NotInTree(f"tag {tag}")
        kept = {}
        for name, value in attrs:
            if name not in ATTRS or (name == "src" and not (value or "").startswith(IMAGE_SRC)):
                raise NotInTree(f"attribute {name} of {tag}")
            kept[name] = value or ""
        node = [tag, kept]
        self.open[-1].append(node)
        if tag not in VOID:
            self.open.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if len(self.open) < 2 or self.open[-1][0] != tag:
            raise NotInTree(f"unbalanced </{tag}>")
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].append(data)


def tree(markup: str) -> list:
    """`markup` as a list of nodes: a text is a str, an element [tag, {attribute: value}, *children].

    Raises:
        NotInTree: a tag or attribute outside TAGS / ATTRS (or a picture that is not an SVG data: URI), or
            unbalanced tags.
    """
    parser = _Tree()
    parser.feed(markup)
    parser.close()
    if len(parser.open) != 1:
        raise NotInTree(f"<{parser.open[-1][0]}> not closed")
    return parser.root[2:]


def plain_html(service: TextService, text: str, concept: str, level: str) -> str | None:
    """The HTML the commit's rerun will draw for `text`, when that is the result's only element; else None (the
    rerun draws it with its notes, or the error). Used for drafts too (explorer/ui/text_drafts.py)."""
    from explorer.services.text import TextInputError
    from explorer.ui.text_view import result_html
    from explorer.ui.text_whatif import answer

    try:
        result = answer(service, text, concept, level)
    except TextInputError:
        return None
    if result.notes or not result.rewrite.changed:
        return None
    return result_html(result)


def _answer(concept: str, level: str, text: str) -> dict | None:
    from explorer.ui.text_whatif import TEXT  # imported by the page before any request reaches here

    service = TEXT.shared()  # the page's one service of this server (Streamlit's resource cache)
    if not service.loaded(concept):
        return None
    markup = plain_html(service, text, concept, level)  # None: notes or an error, which the rerun draws
    return None if markup is None else {"text": text, "tree": tree(markup)}


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"Cache-Control": "no-store"})


async def text_answer(request: Request) -> JSONResponse:
    """The route: the answer for one text, or null when the page's rerun must draw it; a bad request gets its
    reason with status 400 (413 for a body over MAX_BODY)."""
    from explorer.datasets.text_tasks import CONCEPTS, LEVELS

    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _bad(f"the request is over {MAX_BODY:,} bytes", 413)
    try:
        asked = json.loads(body)
    except ValueError:
        return _bad("the request is not JSON")
    if not isinstance(asked, dict) or not isinstance(asked.get("text"), str):
        return _bad("the request names no text")
    concept, level, text = asked.get("concept"), asked.get("level"), asked["text"]
    if concept not in CONCEPTS or level not in LEVELS:
        return _bad(f"concept must be one of {', '.join(CONCEPTS)} and level one of {', '.join(LEVELS)}")
    try:
        answer = await run_in_threadpool(_answer, concept, level, text) if text.strip() else None
    except Exception:  # noqa: BLE001 - the page's rerun answers the same text and shows its error card, if any
        answer = None
    return JSONResponse({"answer": answer}, headers={"Cache-Control": "no-store"})


ROUTES = [Route(PATH, text_answer, methods=["POST"])]
