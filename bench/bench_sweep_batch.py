"""Sixteen visitors reach for a slider at once: their sweeps as one model call against one call each.

Why: under a class the model thread waits for the GIL after each torch operation while other visitors' reruns
run Python (bench/bench_gil_convoy.py), so sixteen sweeps as sixteen calls wait sixteen times as often as one
call over all their rows (`LabSweeps.sweeps_many`, `SweepCache.sweeps_many`: what the model thread now does
for the sweeps waiting together). For the lab (light slider, 79 positions) and the Image page (thickness, 46
positions), 16 scenes or digits: the time from the first call to the last sweep, alone and beside busy Python
threads (pure-Python loops standing in for reruns), and the largest difference between the two ways' pictures.

Usage: `python bench/bench_sweep_batch.py [--rounds 2] [--busy 0,2]`; writes bench/results/sweep_batch.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np
import torch

from common import stats, write

VISITORS = 16


def _busy(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i * i


def _lab(first: int):
    """(one call each, one call for all) for the lab's light sweep of 16 scenes from `first`."""
    from explorer.device import pick_device
    from explorer.services.lab import LabService
    from explorer.services.lab_sweep import LabSweeps

    lab = _lab.service = getattr(_lab, "service", None) or LabService(pick_device())
    graph, scenes = lab.learned_graph, list(range(first, first + VISITORS))
    do = [{"light": 70.0}] * VISITORS

    def each():
        store = LabSweeps()
        return [store.sweeps_many(lab.model, lab.images[[s]], [s], [do[0]], graph, lab.specs, lab.device,
                                  ["light"])[0]["light"].pictures for s in scenes]

    def together():
        out = LabSweeps().sweeps_many(lab.model, lab.images[scenes], scenes, do, graph, lab.specs, lab.device,
                                      ["light"])
        return [o["light"].pictures for o in out]

    return each, together


def _image(first: int):
    from explorer.device import pick_device
    from explorer.services.image import ImageService, MorphoMechanism, _Abducted
    from explorer.services.image_sweep import StartRow, SweepCache

    svc = _image.service = getattr(_image, "service", None) or ImageService(pick_device())
    digits = list(range(first, first + VISITORS))
    facts = [svc._factual(d, False) for d in digits]
    made = lambda rows, p: _Abducted(MorphoMechanism(svc.generator, svc.device, False), torch.cat(  # noqa: E731
        [facts[j].latents for j in rows]).repeat_interleave(p, dim=0))
    starts = [StartRow(f.noise, f.obs, f.grey) for f in facts]
    world = svc.worlds[False]

    def each():
        return [SweepCache().sweeps_many(world, lambda rows, p, j=j: made([j], p), [starts[j]], [d], False, [{}],
                                         svc.classifiers, ["thickness"])[0]["thickness"].pictures
                for j, d in enumerate(digits)]

    def together():
        out = SweepCache().sweeps_many(world, made, starts, digits, False, [{}] * VISITORS, svc.classifiers,
                                       ["thickness"])
        return [o["thickness"].pictures for o in out]

    return each, together


def _timed(fn) -> tuple[float, list]:
    t = time.perf_counter()
    with torch.inference_mode():
        out = fn()
    return time.perf_counter() - t, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--busy", default="0,2")
    args = parser.parse_args()
    try:
        busy = [int(b) for b in args.busy.split(",")]
        if args.rounds < 1 or min(busy) < 0:
            raise ValueError
    except ValueError:
        print("bench_sweep_batch: --rounds >= 1 and --busy whole numbers >= 0", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # as the server does (explorer/ui/loader.py)
    rows, first = {}, 100
    for page, make in (("lab", _lab), ("image", _image)):
        each, together = make(0)
        each(), together()  # warm: models loaded, kernels set up
        for b in busy:
            stop = threading.Event()
            threads = [threading.Thread(target=_busy, args=(stop,), daemon=True) for _ in range(b)]
            for t in threads:
                t.start()
            apart, joint, diff = [], [], 0.0
            try:
                for _ in range(args.rounds):  # new scenes/digits each round, the two ways alternating
                    each, together = make(first)
                    first += VISITORS
                    t_each, a = _timed(each)
                    t_joint, j = _timed(together)
                    apart.append(t_each)
                    joint.append(t_joint)
                    diff = max(diff, max(float(np.abs(x.astype(np.float64) - y).max()) for x, y in zip(a, j)))
            finally:
                stop.set()
                for t in threads:
                    t.join()
            rows[f"{page}, busy={b}"] = {"one_call_each_s": stats(apart), "one_call_for_all_s": stats(joint),
                                         "max_picture_difference": diff}
            print(f"{page:6} busy={b}: 16 sweeps as 16 calls {stats(apart)['median']:.2f} s, as one call "
                  f"{stats(joint)['median']:.2f} s (median of {args.rounds}); largest picture difference {diff:.3g}")
    path = write("sweep_batch", {"what": "16 visitors' sweeps: one model call each against one for all",
                                 "rows": rows, "rounds": args.rounds, "loadavg": os.getloadavg()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
