"""Retrains the whole grid of issue 19, section 3: every method x strength x seed, then nothing else.

    python -m explorer.training.cf_grid [--strengths 0 0.9 0.99 1] [--seeds 0 1 2] [--methods erm ...] [--jobs 2]

First the counterfactual banks, one strength at a time (each is shared by every method and seed of its strength,
explorer/training/cf_bank.py); then the runs, `--jobs` at a time, each its own `python -m explorer train
cf-training` process with one thread. A run whose folder already holds a card is skipped, so an interrupted grid
resumes. The unconfounded reference does not depend on the strength: it is trained once per seed. The wall time is
printed and written to `<runs>/grid_time.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from explorer.datasets.confounded import STRENGTHS, load_confounded
from explorer.device import pick_device
from explorer.registry import load_rgb_generator
from explorer.training.cf_bank import load_bank
from explorer.training.cf_runs import folder_name
from explorer.training.run_configs import METHODS, CFTrainConfig, runs_dir
from explorer.types import DEFAULT_SEED


def build_banks(strengths: list[float], cfg: CFTrainConfig) -> None:
    device = pick_device()
    for s in strengths:
        data = load_confounded("train", s, DEFAULT_SEED, cfg.limit)
        load_bank(data, cfg.generator, cfg.epochs, DEFAULT_SEED,
                  lambda s=s: load_rgb_generator(cfg.generator, s, device)[0], device)


def jobs(strengths: list[float], methods: list[str], seeds: list[int], out: Path) -> list[list[str]]:
    """The command lines of the runs not done yet (the unconfounded reference once per seed)."""
    todo, seen = [], set()
    for s in strengths:
        for method in methods:
            for seed in seeds:
                name = folder_name(method, s, seed)
                if name in seen or (out / name / "card.json").exists():
                    continue
                seen.add(name)
                todo.append([sys.executable, "-m", "explorer", "train", "cf-training", "--strength", f"{s:g}",
                             "--method", method, "--seed", str(seed), "--out", str(out)])
    return todo


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m explorer.training.cf_grid", description=__doc__.split("\n")[0])
    p.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=runs_dir())
    args = p.parse_args(argv)
    start = time.time()
    torch.set_num_threads(args.jobs)
    build_banks(args.strengths, CFTrainConfig(strength=args.strengths[0]))
    banks_seconds = time.time() - start
    todo = jobs(args.strengths, args.methods, args.seeds, args.out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    failed = []

    def run(cmd: list[str]) -> None:
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        tag = " ".join(cmd[cmd.index("--strength"):cmd.index("--out")])
        print(f"[grid] {'done' if done.returncode == 0 else 'FAILED'}: {tag} "
              f"({(time.time() - start) / 60:.1f} min)", flush=True)
        if done.returncode:
            failed.append((tag, done.stderr.strip().splitlines()[-1:]))

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(run, todo))
    seconds = time.time() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grid_time.json").write_text(json.dumps(
        {"seconds": seconds, "banks_seconds": banks_seconds, "runs": len(todo), "jobs": args.jobs,
         "failed": failed}, indent=2) + "\n")
    print(f"[grid] {len(todo)} runs in {seconds / 60:.1f} min (banks {banks_seconds / 60:.1f} min); "
          f"{len(failed)} failed", flush=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
