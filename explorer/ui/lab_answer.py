"""What the Causal graph lab shows of one what-if, as data: the parts its answer panel draws (the Image page's
panel, assets/image_panel/, mounted by explorer/ui/lab_render.py).

Why data and not Streamlit elements: as on the Image page (explorer/ui/image_answer.py), every element a move
re-sends costs the browser a re-render, and data can also be swept: the lab's sweep holds, at every position of a
slider, the model's and the TRUE answer (explorer/services/lab_sweep.py), so while a slider moves the browser swaps
the whole answer (both scenes, the model's error, the values table), not only the model's scene.

Text is a list of runs, [text, style] (explorer/ui/image_answer.py says how the panel draws them). No Streamlit here.
"""

from __future__ import annotations

import base64
import dataclasses
import io

import numpy as np
from PIL import Image

from explorer.scm.graph import Dag
from explorer.scm.pendulum import VARIABLES
from explorer.services.lab import LabResult, follows
from explorer.services.lab_sweep import ConceptSweep
from explorer.types import VarSpec
from explorer.ui.common.format import fmt
from explorer.ui.images import png_uri

Runs = list[list[str]]  # [text, style] each, as on the Image page
CAPTIONS = ("Original: scene #{index}", "What if: drawn by the model", "What if: the true answer (the simulator)")
ROWS = (("This scene", "true value"), ("This scene", "the model's reading"),
        ("What if", "the model"), ("What if", "true value"))


def scene_uri(img: np.ndarray) -> str:
    """A (64, 64, 3) uint8 scene as a JPEG data: URI, shown scaled up by the browser. JPEG, not PNG as the digits:
    the model's scenes are noisy enough that a PNG takes ~5.4 kB and a sweep of 79 ~570 kB; JPEG at quality 90
    without chroma subsampling ~1.3-2 kB, and 0.06 ms to encode."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="JPEG", quality=90, subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def drawn_uri(img: np.ndarray) -> str:
    """A (64, 64, 3) uint8 scene the simulator drew (flat colours: the real scenes and the true answers) as a PNG
    data: URI at its own size: lossless, and ~1.1 kB against `scene_uri`'s ~1.9 kB JPEG."""
    return png_uri(img.transpose(2, 0, 1), img.shape[0])  # (3, 64, 64)


def pictures(result: LabResult) -> list[dict]:
    """The real scene, the model's what-if and the true what-if: {src, caption} each."""
    uris = (drawn_uri(result.original), scene_uri(result.generated), drawn_uri(result.true_image))
    return [{"src": uri, "caption": caption.format(index=result.index)} for uri, caption in zip(uris, CAPTIONS)]


def error(mse: float) -> Runs:
    """The model's pixel error against the true answer, in words."""
    return [["Pixel error of the model's answer against the true one: ", ""], [f"MSE {mse:.4f}", "b"],
            [" (pixels in 0–1; 0 is a perfect match).", ""]]


def inert(result: LabResult) -> Runs:
    """The added arrows that do nothing ([] for none)."""
    if not result.inert:
        return []
    arrows = ", ".join(f"{p} → {c}" for p, c in result.inert)
    return [[f"{arrows}: no effect.", "b"], [" Neither the physics nor the model has this arrow, so neither world "
                                             "has a mechanism that reads it.", ""]]


def values(result: LabResult, specs: dict[str, VarSpec]) -> dict:
    """The scene's values: true, as the model reads them, and under the what-if (model and truth): {header, rows},
    a row [who, what, cell per concept]."""
    cut_children, downstream = {c for _, c in result.cut}, set(result.downstream)

    def mark(name: str) -> str:
        if name in result.intervened:
            return " (set by you)"
        if name in cut_children and name not in downstream:
            return " (cut: keeps its value)"
        return " (follows)" if name in downstream else ""

    rows = [(result.obs, False), (result.encoded, False), (result.cf, True), (result.true_cf, True)]
    return {"header": [specs[n].label for n in VARIABLES],
            "rows": [[*label, *(fmt(specs[n], vals[n], unit=True) + (mark(n) if marked else "") for n in VARIABLES)]
                     for label, (vals, marked) in zip(ROWS, rows)]}


def answer(result: LabResult, specs: dict[str, VarSpec]) -> dict:
    """The panel's parts: the idle-arrow note, the three scenes, the model's error, the values table."""
    return {"inert": inert(result), "pictures": pictures(result), "mse": error(result.mse),
            "values": values(result, specs)}


def position(result: LabResult, sweep: ConceptSweep, i: int, graph: Dag, learned: Dag,
             downstream: list[str] | None = None) -> LabResult:
    """The what-if at a sweep's position i, from the one on screen (`result`: the same scene and edited `graph`; the
    sweep holds the other do() values): the sweep's scenes, concepts and error. What follows, as the service says:
    along the arrows both the model learned and the edited graph keeps (`downstream`, when already known)."""
    done = sorted(set(result.intervened) | {sweep.name})
    if downstream is None:
        downstream = follows(learned, graph.edges, done)
    return dataclasses.replace(
        result, cf={k: float(v[i]) for k, v in sweep.cf.items()},
        true_cf={k: float(v[i]) for k, v in sweep.true_cf.items()}, intervened=done, clamped=[],
        downstream=downstream, generated=sweep.pictures[i], true_image=sweep.true_pictures[i],
        mse=float(sweep.mse[i]))


def swept(result: LabResult, sweep: ConceptSweep, specs: dict[str, VarSpec], graph: Dag,
          learned: Dag) -> list[dict]:
    """Per position of `sweep`, the parts that move with the slider: the true scene (the model's is the quick
    slider's own picture, the same URI: None here, as the unchanged original), the error, the what-if rows."""
    first = position(result, sweep, 0, graph, learned)  # what follows is the same at every position
    out = []
    for i in range(len(sweep.values)):
        at = position(result, sweep, i, graph, learned, first.downstream)
        table = values(at, specs)
        out.append({"pictures": [None, None, {"src": drawn_uri(at.true_image), "caption": CAPTIONS[2]}],
                    "mse": error(at.mse), "values": {"rows": ["=", "=", *table["rows"][2:]]}})  # "=": as drawn
    return out
