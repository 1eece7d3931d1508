"""Issue 19's training costs: the RGB generator's images/s and one training step per classifier method.

    python bench/bench_cf_training.py [--repeats 7]

Generator (robust, strength 0.99), batch 128 on one thread: forward (abduct + decode under do(hue)) and
forward + backward (the training loss and its gradient), images per second. Classifier: the time of one training
step (batch 128 factual images, plus what the method adds) of every method in explorer/training/cf_training.py,
as the same-run ratio to ERM's step, and the epoch time it implies at the grid's 20,000 digits. Each figure is the
median (and p95) of `--repeats` timed repetitions after one warm-up, all in this one process; the steps are
timed in rounds (every method once per round), so a load that changes during the run hits every method alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import print_table, stats, write  # noqa: E402
from serve import cpu_busy, training_running  # noqa: E402

from explorer.datasets.confounded import load_confounded  # noqa: E402
from explorer.models.cnn import CNNConfig, DigitCNN  # noqa: E402
from explorer.training.cf_bank import true_bank  # noqa: E402
from explorer.training.cf_training import CFTrainingModule  # noqa: E402
from explorer.training.run_configs import METHODS, CFTrainConfig  # noqa: E402
from explorer.registry import load_rgb_generator  # noqa: E402

BATCH = 128
EPOCH_DIGITS = 20_000


def timed(fn, repeats: int) -> dict[str, float]:
    fn()  # warm-up: first calls allocate
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return stats(samples)


def generator_rates(repeats: int) -> dict[str, dict[str, float]]:
    model, _ = load_rgb_generator("robust", 0.99, torch.device("cpu"))
    data = load_confounded("train", 0.99, limit=BATCH)
    x = torch.from_numpy(data.rgb())  # (B, 3, 28, 28)
    parents = {k: torch.as_tensor(data.values[k], dtype=torch.long if k == "digit" else torch.float32)
               for k in ("digit", "thickness", "intensity", "hue")}
    cf = {**parents, "hue": torch.rand(BATCH)}

    def forward():
        with torch.inference_mode():
            model.decode(model.abduct(x, parents), cf)

    def forward_backward():
        model.zero_grad()
        model.loss(x, parents)["loss"].backward()

    model.eval()
    out = {"generator forward (abduct + decode)": timed(forward, repeats)}
    model.train()
    out["generator forward + backward (training loss)"] = timed(forward_backward, repeats)
    return out


def step_times(repeats: int) -> dict[str, dict[str, float]]:
    """One optimiser step per method on the same batch; generator banks replaced by TRUE ones of the same shape
    (a step costs the same whichever images it reads)."""
    data = load_confounded("train", 0.99, limit=BATCH)
    bank = true_bank(data, 1, 0)
    bank.digit_cf, bank.digit_asked = bank.hue_cf[0], (data.values["digit"] + 1) % 10
    x = torch.from_numpy(data.rgb())
    y = torch.from_numpy(data.values["digit"]).long()
    idx = [torch.arange(BATCH)]
    steps = {}
    for method in METHODS:
        model = DigitCNN(CNNConfig(channels=3))
        module = CFTrainingModule(model, CFTrainConfig(strength=0.99, method=method), x, y, bank)
        module.log_dict = lambda *a, **k: None  # no trainer here: logging is not what is timed
        steps[method] = (module, torch.optim.AdamW(model.parameters(), lr=1e-3))

    def step(method: str) -> float:
        module, opt = steps[method]
        start = time.perf_counter()
        opt.zero_grad()
        module.training_step(idx, 0).backward()
        opt.step()
        return time.perf_counter() - start

    for method in METHODS:
        step(method)  # warm-up
    samples = {m: [] for m in METHODS}
    for _ in range(repeats):  # in rounds, every method once per round: a load that drifts hits all alike
        for method in METHODS:
            samples[method].append(step(method))
    return {f"step {m}": stats(v) for m, v in samples.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    torch.set_num_threads(1)
    contended, busy = training_running(), cpu_busy()
    gen = generator_rates(args.repeats)
    steps = step_times(args.repeats)
    print_table("Generator, batch 128, one thread", gen, contended, busy)
    print_table("One training step, batch 128, one thread", steps, contended, busy)
    erm = steps["step erm"]["median"]
    ratios = {k.removeprefix("step "): v["median"] / erm for k, v in steps.items()}
    epoch = {k.removeprefix("step "): v["median"] * EPOCH_DIGITS / BATCH for k, v in steps.items()}
    print("\nstep / ERM step (same run): " + ", ".join(f"{k} {r:.2f}x" for k, r in ratios.items()))
    print("implied epoch of 20,000 digits (s): " + ", ".join(f"{k} {s:.0f}" for k, s in epoch.items()))
    images_per_s = {k: BATCH / v["median"] for k, v in gen.items()}
    print("generator images/s: " + ", ".join(f"{k} {r:.0f}" for k, r in images_per_s.items()))
    path = write("cf_training", {"generator": gen, "generator_images_per_s": images_per_s, "steps": steps,
                                 "step_ratio_to_erm": ratios, "implied_epoch_seconds": epoch,
                                 "contended": contended, "cpu_busy_before": busy, "load": os.getloadavg()})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
