"""Server work for a move's pictures: as data: URIs (what the pages send) against bytes through Streamlit's media store.

Why: given PNG bytes, `st.image` opens them, shrinks a picture wider than its `width` (the lab's 256 px scenes to 128,
bilinear, then a PNG re-encode at the default level) and stores them for the browser to fetch over HTTP; given a
data: URI it sends the text as it is (explorer/ui/images.py, `uri`). Per move, the lab's three pictures of scene 7
under do(light = 80) and the Image page's four of test digit 12 under do(thickness = 3), one thread, both ways
alternating in the same run. The HTTP fetches the bytes way adds (one per picture per move, on the server's event
loop) are not in these figures.

Usage: `python bench/bench_picture_encoding.py [--repeats 100]`; writes bench/results/picture_encoding.json.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

import numpy as np
import torch
from common import print_table, stats, write

from explorer.device import pick_device
from explorer.services.image import ImageService
from explorer.services.lab import LabService
from explorer.ui.images import DISPLAY, difference_png, png, uri


def _through_store(pictures: list[bytes], width: int) -> int:
    """What `st.image(bytes, width=...)` does on the server before the browser fetches: the size check (and a shrink
    and re-encode), and the media store's content hash. Returns the bytes the browser then fetches."""
    from streamlit.elements.lib.image_utils import _ensure_image_size_and_format
    from streamlit.elements.lib.layout_utils import LayoutConfig

    total = 0
    for data in pictures:
        out = _ensure_image_size_and_format(data, LayoutConfig(width=width), "PNG")
        hashlib.sha224(out).hexdigest()
        total += len(out)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    if args.repeats < 1:
        print("bench_picture_encoding: --repeats must be at least 1", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    lab = LabService(pick_device())
    scene = lab.what_if(7, {"light": 80.0}, set(lab.learned_graph.edges))
    scenes = [i.transpose(2, 0, 1).astype(np.float32) for i in (scene.original, scene.generated, scene.true_image)]
    digit = ImageService(pick_device()).what_if(12, {"thickness": 3.0})
    digits = [digit.original, digit.generated, digit.true_image]
    ways = {  # name: one move's pictures, returning the bytes sent
        "lab, bytes via the media store": lambda: _through_store([png(s, 256) for s in scenes], 128),
        "lab, data: URIs": lambda: sum(len(uri(png(s, 256))) for s in scenes),
        "image page, bytes via the media store": lambda: _through_store(
            [png(d) for d in digits] + [difference_png(digit.difference)], DISPLAY),
        "image page, data: URIs": lambda: sum(len(uri(png(d))) for d in digits)
        + len(uri(difference_png(digit.difference))),
    }
    times = {name: [] for name in ways}
    sizes = {}
    for _ in range(args.repeats):  # alternating, so a slower stretch of the machine falls on every way
        for name, way in ways.items():
            start = time.perf_counter()
            sizes[name] = way()
            times[name].append(time.perf_counter() - start)
    rows = {name: stats(t) for name, t in times.items()}
    print_table("server work for one move's pictures", rows, contended=False, busy=0.0)
    print("bytes a move: " + ", ".join(f"{name} {size:,}" for name, size in sizes.items()))
    path = write("picture_encoding", {"what": __doc__.splitlines()[0], "repeats": args.repeats,
                                      "seconds": rows, "bytes_per_move": sizes})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
