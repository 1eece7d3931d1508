"""Generator throughput: counterfactual images per second at batch 1 and 256.

Baseline in the same run: the TRUE counterfactual renderer (skeleton + disk, numpy), which is what a
user would otherwise wait for. Usage: `PYTHONPATH=. python bench/bench_throughput.py [--runs 7]`.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from common import stats, write  # noqa: E402  (bench/ is on the path when run as a script)

from explorer.counterfactual.image import image_counterfactual  # noqa: E402
from explorer.data.mnist import load_mnist  # noqa: E402
from explorer.datasets.morpho import load_morpho  # noqa: E402
from explorer.device import pick_device  # noqa: E402
from explorer.scm import morphology  # noqa: E402
from explorer.scm.morpho import MorphoSCM  # noqa: E402
from explorer.registry import load_generator  # noqa: E402


def _time(fn, runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    device = pick_device()
    model, _ = load_generator(device)
    scm = MorphoSCM()
    data = load_morpho("test", limit=256)
    sources = load_mnist("test").images[:256]
    rows = {}
    default_threads = torch.get_num_threads()
    # One thread is what the app uses per call; the default count shows what oversubscription costs.
    for threads, batch in [(1, 1), (default_threads, 1), (1, 256), (default_threads, 256)]:
        torch.set_num_threads(threads)
        x = torch.from_numpy(data.images[:batch]).float()[:, None]
        obs = {k: v[:batch] for k, v in data.values.items()}
        noise = {k: v[:batch] for k, v in data.noise.items()}
        do = {"thickness": np.full(batch, 4.0)}

        def generated():
            with torch.inference_mode():  # as the page service calls it
                image_counterfactual(model, scm, x, obs, noise, do, device)

        gen = _time(generated, args.runs)

        def true_cf():
            cf = scm.counterfactual(scm.abduct(obs, noise), do)
            for j in range(batch):
                scm.render(morphology.skeleton(sources[j]), {k: float(v[j]) for k, v in cf.items()})

        base = _time(true_cf, args.runs)
        g, b = stats(gen), stats(base)
        rows[f"batch_{batch}_threads_{threads}"] = {
            "generator_seconds": g, "true_renderer_seconds": b,
            "generator_cf_per_second": batch / g["median"], "true_renderer_cf_per_second": batch / b["median"],
            "speedup_vs_true_renderer": b["median"] / g["median"]}
    path = write("throughput", {"device": str(device), "runs": args.runs, "loadavg": os.getloadavg(), **rows})
    print(f"{'run':>22} {'generator cf/s':>15} {'p95 ms':>8} {'true renderer cf/s':>19} {'ratio':>6}")
    for name, r in rows.items():
        print(f"{name:>22} {r['generator_cf_per_second']:>15.1f} {1000 * r['generator_seconds']['p95']:>8.2f} "
              f"{r['true_renderer_cf_per_second']:>19.1f} {r['speedup_vs_true_renderer']:>6.2f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
