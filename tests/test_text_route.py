"""The Text page's answer route (explorer/ui/text_route.py): what it accepts, what it sends back (the result's
markup as a tree of allowed tags and attributes, the visitor's text as text), and that the page's kept answers
compute a text asked twice at once only once. In Chromium: tests/test_text_drafts.py."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from explorer.paths import PRETRAINED
from explorer.services.text import TextService
from explorer.ui import text_route
from explorer.ui.text_route import NotInTree, tree
from explorer.ui.text_view import result_html
from explorer.ui.text_whatif import answer

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<img src="x" onerror="window.hacked=1"> <script>alert(1)</script> Mary & Jamal were angry.'
needs_gender = pytest.mark.skipif(
    not all((PRETRAINED / f"causalm-gender-{w}" / "card.json").exists() for w in ("o", "cf")),
    reason="no CausaLM gender checkpoints: python -m explorer train causalm")


def _text(nodes: list) -> str:
    return "".join(n if isinstance(n, str) else _text(n[2:]) for n in nodes)


def test_a_tree_keeps_elements_attributes_and_text_and_decodes_entities():
    got = tree("<div style='a:b'><p>x &#60;b&#62; &amp; <strong>y</strong></p>"
               "<img src='data:image/svg+xml;charset=utf-8,%3Csvg' alt='bars'><br></div>")
    assert got == [["div", {"style": "a:b"}, ["p", {}, "x <b> & ", ["strong", {}, "y"]],
                    ["img", {"src": "data:image/svg+xml;charset=utf-8,%3Csvg", "alt": "bars"}], ["br", {}]]]


@pytest.mark.parametrize("markup", ["<script>alert(1)</script>", "<a href='javascript:x'>a</a>",
                                    "<img src='x' onerror='alert(1)'>", "<img src='https://example.com/x.png'>",
                                    "<div onclick='x'>a</div>", "<div><p>a</div>", "<div>a", "<iframe></iframe>"])
def test_a_tag_or_attribute_the_result_never_has_is_refused(markup):
    with pytest.raises(NotInTree):
        tree(markup)


@needs_gender
@pytest.mark.parametrize("concept, text", [("gender", HOSTILE), ("gender", "My brother was furious.\nYes."),
                                           ("race", "Jamal and Emily were happy.")])
def test_the_results_markup_fits_the_tree_with_the_visitors_text_as_characters(concept, text):
    result = answer(TextService(), text, concept, "balanced")
    nodes = tree(result_html(result))
    assert {e[0] for e in _elements(nodes)} <= set(text_route.TAGS)
    elements = list(_elements(nodes))
    assert all(e[1].get("src", "").startswith(text_route.IMAGE_SRC) for e in elements if e[0] == "img")
    assert {name for e in elements for name in e[1]} <= set(text_route.ATTRS)
    if text == HOSTILE:  # the text arrives as characters: the tags are words, no element carries them
        assert '<img src="x" onerror="window.hacked=1">' in _text(nodes) and "<script>alert(1)</script>" in _text(nodes)


def _elements(nodes: list):
    for n in nodes:
        if isinstance(n, list):
            yield n
            yield from _elements(n[2:])


def test_the_components_lists_are_the_routes():
    code = (ROOT / "assets" / "text_drafts" / "text_drafts.js").read_text()
    for name, values in (("TAGS", text_route.TAGS), ("ATTRS", text_route.ATTRS)):
        listed = re.search(rf"const {name} = new Set\(\[([^\]]*)\]\)", code).group(1)
        assert re.findall(r'"([^"]+)"', listed) == list(values)
    assert f'"{text_route.IMAGE_SRC}"' in code


@pytest.fixture(scope="module")
def client():
    return TestClient(Starlette(routes=text_route.ROUTES))


@needs_gender
def test_the_route_answers_with_the_tree_of_what_the_rerun_draws(client):
    text = "My sister was glad about the rent."
    service = text_route_service()
    service.load("gender")  # as the page does before its text box is drawn
    reply = client.post(text_route.PATH, json={"concept": "gender", "level": "balanced", "text": text})
    assert reply.status_code == 200 and reply.headers["cache-control"] == "no-store"
    assert reply.json() == {"answer": {"text": text, "tree": json.loads(json.dumps(
        tree(result_html(answer(service, text, "gender", "balanced")))))}}
    # nothing to rewrite (an info box goes with it), or nothing typed: the rerun draws it
    for other in ("The sky was grey over the harbour.", "   "):
        reply = client.post(text_route.PATH, json={"concept": "gender", "level": "balanced", "text": other})
        assert reply.status_code == 200 and reply.json() == {"answer": None}


def text_route_service() -> TextService:
    from explorer.ui import text_whatif

    return text_whatif.TEXT.shared()


def test_a_concept_this_server_has_not_loaded_is_not_loaded_for_a_request(client, monkeypatch):
    service = text_route_service()
    monkeypatch.setattr(service, "loaded", lambda concept: False)
    monkeypatch.setattr(service, "load", lambda concept: pytest.fail("a request loaded a concept's models"))
    reply = client.post(text_route.PATH, json={"concept": "race", "level": "balanced", "text": "Jamal was glad."})
    assert reply.status_code == 200 and reply.json() == {"answer": None}


@pytest.mark.parametrize("body, status, words", [
    (b"not json", 400, "not JSON"), (b"[1, 2]", 400, "names no text"), (b'{"text": 3}', 400, "names no text"),
    (b'{"concept": "age", "level": "balanced", "text": "a"}', 400, "concept must be one of"),
    (b'{"concept": "gender", "level": "extreme", "text": "a"}', 400, "level one of"),
    (b'{"concept": ["gender"], "level": "balanced", "text": "a"}', 400, "concept must be one of"),
    (b'{"text": "' + b"a" * (text_route.MAX_BODY + 10) + b'"}', 413, "over 65,536 bytes")])
def test_a_bad_request_gets_its_reason(client, body, status, words):
    reply = client.post(text_route.PATH, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == status and words in reply.json()["error"]
    assert client.get(text_route.PATH).status_code == 405  # it changes nothing, but answers POST only


def test_a_text_asked_twice_at_once_is_computed_once():
    class Slow:  # stands in for TextService: a model call that takes a while, counted
        calls = 0

        def what_if(self, text: str, concept: str, level: str) -> str:
            self.calls += 1
            time.sleep(0.2)
            return f"{text}|{concept}|{level}"

    service, got = Slow(), []
    threads = [threading.Thread(target=lambda: got.append(answer(service, "Mary was glad.", "gender", "balanced")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["Mary was glad.|gender|balanced"] * 3 and service.calls == 1
