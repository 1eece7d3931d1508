"""The pages bench_classroom.py puts a class on: where each visitor goes, what is watched, what is expected.

A target names, per visitor k, its own link (its own digit, scene or person), the slider it moves, the element
whose change ends a move (`arm`, a script resolving `window.__latency`), how to read what is on screen, and the
answer expected for THIS visitor at the value ITS slider shows, computed in the bench process from the page's own
service (explorer/services/...). bench_classroom.py compares the two: another visitor's answer at that value is a
leak, no visitor's a stale answer.

- image: the Image what-if page, thickness; the model's picture, compared pixel by pixel.
- lab: the Causal graph lab, do(light); the model's picture of the scene, compared pixel by pixel.
- table_lab: the Table lab, do(age) on a census-world person; the records table's cells, read from the DOM.
- baseline: bench/baseline_app.py (a slider and a picture, no model), the same round trip through Streamlit.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bench_table_lab import ARM_TEXT_JS
from serve import ARM_JS, QUICK_PICTURE_JS, drawn_selector

TOLERANCE = 3  # of 255: a picture "matches" when every pixel is within this (batched float sums may differ)
CELL_TOLERANCE = 0.11  # a number in the records: shown with one decimal, so float noise may move the last digit
# The lab's scenes are JPEGs: a grey level of batch rounding in the model's scene (the sweep draws 80 scenes a
# batch, a what-if one) can move a JPEG pixel by up to ~8 after encoding; the scenes at neighbouring light values
# differ by 51 or more (16 scenes x 21 steps, measured), so 16 still tells them apart.
JPEG_TOLERANCE = 16
READS = 5  # what is on screen can be replaced just as it is read (a newer rerun): read again, this many times

_PICTURE_JS = """([caption, slider]) => {
  const box = [...document.querySelectorAll('[data-testid=stImageContainer], .ip-root figure')]
      .find(e => e.innerText.includes(caption));
  const img = box && box.querySelector('img');
  const knob = document.querySelector(slider + ' input[type=range]');
  return {src: img ? img.src : null, value: knob ? Number(knob.value) : null};
}"""
_FETCH_JS = """async (src) => { const r = await fetch(src); if (!r.ok) return null;
  const b = await r.arrayBuffer(); let s = ''; new Uint8Array(b).forEach(c => s += String.fromCharCode(c));
  return btoa(s); }"""
# The Table lab's records table as cell texts, a list per row (the header first), and the slider's value.
_RECORDS_JS = """(slider) => {
  const table = document.querySelector('.st-key-tl_records table');
  const knob = document.querySelector(slider + ' input[type=range]');
  return {cells: table ? [...table.querySelectorAll('tr')].map(
            tr => [...tr.querySelectorAll('th, td')].map(c => c.innerText.trim())) : null,
          value: knob ? Number(knob.value) : null};
}"""

Shown = tuple[object | None, float | None]  # (what is watched, as read; the slider's value), None when unreadable


@dataclass
class Target:
    """One page under test, as a class of visitors uses it.

    Attributes:
        name: the results' key and the table's row ("whatif" for the Image page, as in earlier results).
        what: the results JSON's "what".
        path: visitor k -> the path of its own link (its slider at `start`).
        slider: the slider's container selector; ArrowRight adds `step`.
        ready: the selector a visitor's page waits for when it opens.
        arm: script taking `caption`: window.__latency resolves {src[, quick]} in ms, key press -> the rerun's
            answer on screen (rejects after 60 s, replaced by --lost-after).
        read: (page, target) -> what is on screen now.
        expected: (visitor, slider value) -> what that visitor should see at that value.
        matches: (shown, expected) -> whether they are the same answer.
        caption: the watched picture's caption, passed to `arm` ("" where no picture is watched).
        quick_js: the quick picture's watcher (window.__quick), where the page has one; None: the quick time is
            `arm`'s `quick`, or there is none. Not armed on a page without one: it would wait its 5 s out.
        leaks_detectable: False where every visitor at one value sees the same answer (the baseline).
    """

    name: str
    what: str
    path: Callable[[int], str]
    slider: str
    ready: str
    arm: str
    read: Callable[[object, Target], Awaitable[Shown]]
    expected: Callable[[int, float], object]
    matches: Callable[[object, object], bool]
    start: float
    step: float
    caption: str = ""
    quick_js: str | None = None
    leaks_detectable: bool = True

    def warm(self, visitors: int, values: int) -> None:
        """Computes every visitor's expected answer at the first `values` slider positions ahead of the run, so
        this process does not compete with the server for the CPU while it is measured."""
        for k in range(visitors):
            for i in range(values):
                self.expected(k, self.start + i * self.step)


# --- pictures --------------------------------------------------------------------------------------------
def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int16)


def _same_picture(shown: object, expected: object, tolerance: int = TOLERANCE) -> bool:
    exp = expected if expected.ndim == 3 else np.repeat(expected[..., None], 3, axis=2)
    return shown.shape == exp.shape and int(np.abs(shown - exp.astype(np.int16)).max()) <= tolerance


async def _read_picture(page, target: Target) -> Shown:
    """The picture captioned `target.caption`, decoded, and the slider's value. The server may drop a picture's
    address just as it is read (a newer rerun replaced it): read again."""
    for _ in range(READS):
        state = await page.evaluate(_PICTURE_JS, [target.caption, target.slider])
        if state["src"]:
            b64 = await page.evaluate(_FETCH_JS, state["src"])
            try:
                return _decode(base64.b64decode(b64 or "")), state["value"]
            except OSError:  # PIL's UnidentifiedImageError: not an image (the address was gone)
                pass
        await asyncio.sleep(0.2)
    return None, None


def _picture_target(name: str, what: str, path: Callable[[int], str], slider: str, caption: str,
                    draw: Callable[[int, float], bytes], start: float, step: float,
                    tolerance: int = TOLERANCE) -> Target:
    """A page whose answer is the picture captioned `caption`; `draw(k, value)` its PNG (or JPEG) for visitor k
    (kept); pixels within `tolerance` of it match."""
    cache: dict[tuple[int, float], np.ndarray] = {}

    def expected(k: int, value: float) -> np.ndarray:
        key = (k, round(value, 1))
        if key not in cache:
            cache[key] = _decode(draw(*key))
        return cache[key]

    return Target(name, what, path, slider, drawn_selector(caption), ARM_JS,
                  _read_picture, expected, functools.partial(_same_picture, tolerance=tolerance), start, step,
                  caption, QUICK_PICTURE_JS)


def image_target() -> Target:
    """The Image what-if page: test digit 100 + 37 k, thickness from 1.5 px, 0.1 px a step."""
    import torch

    from explorer.device import pick_device
    from explorer.services.image import ImageService
    from explorer.ui.image_answer import PIXELS
    from explorer.ui.images import png

    torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
    service = ImageService(pick_device())
    index = lambda k: 100 + 37 * k  # noqa: E731 - all different
    return _picture_target(
        "whatif", "N concurrent browser sessions moving the Image what-if page's thickness slider",
        lambda k: f"/image_whatif?index={index(k)}&thickness=1.5", ".st-key-value_thickness", "drawn by the model",
        lambda k, v: png(service.what_if(index(k), {"thickness": v}).generated, PIXELS), 1.5, 0.1)  # as the panel


def lab_target() -> Target:
    """The Causal graph lab: scene 7 + 29 k (of 500), do(light) from 70°, 1° a step, in the learned graph."""
    import torch

    from explorer.device import pick_device
    from explorer.services.lab import LabService
    from explorer.ui.lab_answer import scene_uri

    torch.set_num_threads(1)
    service = LabService(pick_device())
    edges = set(service.learned_graph.edges)  # the page's arrows when the link cuts and adds none
    scene = lambda k: 7 + 29 * k  # noqa: E731 - all different, the 16th is scene 442

    def draw(k: int, value: float) -> bytes:
        img = service.what_if(scene(k), {"light": value}, edges).generated  # (64, 64, 3)
        return base64.b64decode(scene_uri(img).split(",", 1)[1])  # the JPEG the answer panel shows

    return _picture_target(
        "lab", "N concurrent browser sessions moving the Causal graph lab's light slider (do(light))",
        lambda k: f"/causal_graph_lab?scene={scene(k)}&light=70", ".st-key-value_light", "drawn by the model",
        draw, 70.0, 1.0, JPEG_TOLERANCE)


def baseline_target() -> Target:
    """bench/baseline_app.py. Its picture depends on the slider only: every visitor at one value sees the same
    picture, so leaks cannot be told from right answers there (the check still finds stale pictures)."""
    def draw(_k: int, value: float) -> bytes:
        grid = np.add.outer(np.arange(28), np.arange(28)) * value % 256  # as bench/baseline_app.py draws it
        buf = io.BytesIO()
        Image.fromarray(grid.astype(np.uint8)).resize((140, 140), Image.Resampling.NEAREST).save(buf, "PNG")
        return buf.getvalue()

    target = _picture_target("baseline", "", lambda _k: "/", ".st-key-value", "baseline picture", draw, 1.5, 0.1)
    target.quick_js, target.leaks_detectable = None, False  # no quick picture: its watcher would wait 5 s a move
    return target


# --- the Table lab's records -----------------------------------------------------------------------------
def _plain(cell: list[str]) -> str:
    """A records cell ([text, mark]: explorer/ui/table_lab_answer.py) as the browser's text of it."""
    text, mark = cell
    return f"{text} (set by you)" if mark == "s" else text


def _number(text: str) -> float | None:
    try:
        return float(text.removesuffix(" (set by you)").removesuffix("%"))
    except ValueError:
        return None


def _same_cell(shown: str, expected: str) -> bool:
    a, b = _number(shown), _number(expected)
    if a is None or b is None:
        return shown == expected
    return abs(a - b) <= CELL_TOLERANCE and shown.endswith(")") == expected.endswith(")")  # both set, or neither


def _same_records(shown: object, expected: object) -> bool:
    return (len(shown) == len(expected) and all(len(r) == len(e) for r, e in zip(shown, expected))
            and all(_same_cell(a, b) for r, e in zip(shown, expected) for a, b in zip(r, e)))


async def _read_records(page, target: Target) -> Shown:
    """The records table's cells and the slider's value (the table may be between two reruns: read again)."""
    for _ in range(READS):
        state = await page.evaluate(_RECORDS_JS, target.slider)
        if state["cells"]:
            return state["cells"], state["value"]
        await asyncio.sleep(0.2)
    return None, None


def table_lab_target() -> Target:
    """The Table lab: census-world person 12 + 37 k (seed 0), do(age) from 30, a year a step. The answer is the
    whole records table: the person, the model's, TRUE and the best guess's values, and how sure."""
    import torch

    from explorer.services.table_lab import TableLabService
    from explorer.ui.table_lab_answer import records

    torch.set_num_threads(1)
    service = TableLabService()
    view = service.page()
    row = lambda k: 12 + 37 * k  # noqa: E731 - all different persons
    cache: dict[tuple[int, float], list[list[str]]] = {}

    def expected(k: int, value: float) -> list[list[str]]:
        key = (k, round(value, 1))
        if key not in cache:
            table = records(service.what_if("world", row(k), {"age": key[1]}, seed=0), view)
            cache[key] = [table["header"], *([_plain(c) for c in r] for r in table["rows"])]
        return cache[key]

    return Target("table lab", "N concurrent browser sessions moving the Table lab's age slider (do(age)) on "
                  "census-world persons; the answer read is the records table", lambda k: f"/table_lab?source=world"
                  f"&seed=0&row={row(k)}&age=30", ".st-key-value_age", ".st-key-tl_records table", ARM_TEXT_JS,
                  _read_records, expected, _same_records, 30.0, 1.0)


TARGETS: dict[str, Callable[[], Target]] = {"image": image_target, "lab": lab_target, "table_lab": table_lab_target}
