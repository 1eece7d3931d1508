"""Two app replicas behind Debian's nginx (deploy/replicas.py): sticky sessions, a working page through the proxy.

The configuration is checked by `nginx -t`; then a real deployment: a browser's requests all reach one replica
(its state and pictures live there), other browsers are spread over both, and the Image page works through the
proxy, websocket and pictures included.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from test_browser import ARGS, CHROMIUM, READY, STEP, _slider, _state, _wait_changed

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("replicas", ROOT / "deploy" / "replicas.py")
replicas = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replicas)

pytestmark = pytest.mark.skipif(not Path(replicas.NGINX).exists(),
                                reason="needs Debian's nginx (`make browser-deps` installs nginx-light)")


def _get(url: str, cookie: str | None = None) -> tuple[str, str | None]:
    """(the replica that answered, the route cookie nginx set)."""
    request = urllib.request.Request(url, headers={"Cookie": f"explorer_route={cookie}"} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as r:
        route = next((c.split(";")[0].split("=", 1)[1] for c in r.headers.get_all("Set-Cookie") or []
                      if c.startswith("explorer_route=")), None)
        return r.headers["X-Explorer-Replica"], route


def test_nginx_accepts_the_generated_configuration(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(replicas.nginx_config(["127.0.0.1:8601", "127.0.0.1:8602"], "127.0.0.1:8080", tmp_path))
    done = subprocess.run([replicas.NGINX, "-t", "-c", str(conf), "-p", str(tmp_path), "-e",
                           str(tmp_path / "error.log")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_bad_replica_count_is_one_line_and_status_2():
    done = subprocess.run([sys.executable, "deploy/replicas.py", "--replicas", "0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "at least 1" in done.stderr


@pytest.fixture(scope="module")
def deployment():
    with replicas.Deployment(replicas=2, timeout=240) as d:
        yield d


def test_sessions_stick_to_one_replica_and_spread_over_both(deployment):
    replica, route = _get(deployment.url + "/")
    assert route and replica in {u.removeprefix("http://") for u in deployment.replica_urls}
    assert all(_get(deployment.url + "/", route)[0] == replica for _ in range(5))  # sticky
    # other browsers (other route keys) land on both replicas: the hash spreads them
    seen = {_get(deployment.url + "/", f"visitor-{k}")[0] for k in range(16)}
    assert len(seen) == 2


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_image_page_works_through_nginx_with_every_request_on_one_replica(deployment):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        answered: list[str] = []
        context = browser.new_context()
        context.on("response", lambda r: answered.append(r.headers.get("x-explorer-replica", "")))
        page = context.new_page()
        page.goto(f"{deployment.url}/image_whatif?index=7&thickness=1.5")
        page.wait_for_function("() => [...document.querySelectorAll('.ip-root figure')]"
                               ".some(e => e.innerText.includes('drawn by the model'))", timeout=READY)
        page.wait_for_function("() => document.querySelectorAll('[data-stale=true]').length === 0", timeout=STEP)
        before = _state(page)
        _slider(page, "value_thickness").focus()
        page.keyboard.press("ArrowRight")
        after = _wait_changed(page, before)  # the websocket carried the move, the new picture came back
        assert after["src"] != before["src"]
        assert page.evaluate("(src) => fetch(src).then(r => r.ok)", after["src"])  # served by the same replica
        browser.close()
    replicas_seen = {a for a in answered if a}
    assert len(replicas_seen) == 1, replicas_seen
