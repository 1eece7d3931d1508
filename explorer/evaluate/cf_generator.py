"""Counterfactual generation under confounding, measured against the TRUE counterfactual (issue 19, section 2).

    python -m explorer.evaluate.cf_generator --n 2000 --json bench/results/evaluate_cf_generator.json

For every strength and variant (plain, robust), on the first `n` test digits of that strength's IID test split,
the generator trained at that strength answers do(hue) through the standard procedure (abduction, action,
prediction: explorer/counterfactual/procedure.py) for two kinds of asked hue:
    rare     the centre of the OPPOSITE band, that of digit (d + 5) mod 10: absent from the training data at
             strength 1 (bar the hue noise's far tail), seen in 0.1 % of the digits at 0.99, 1 % at 0.9;
    random   uniform on the colour wheel, independent of the digit.
Each answer is scored on
    hue_mae      the hue measured on the answer (stroke-weighted mean colour, `measured_hue`) against the asked
                 hue, round the wheel (0-0.5; 0.1 is one colour band);
    l1_true      mean |answer - TRUE counterfactual| on 0-255, the TRUE one being the same stroke (same skeleton,
                 thickness, intensity: do(hue) changes none of them) tinted with the asked hue by the world's renderer;
    oracle_same  the share the oracle still reads as the original digit.
Keys: generator.<variant>.s<strength>.<metric> for rare hues, <metric>_random for random ones, recon_l1 for the
factual reconstruction, train_seconds and val_neg_elbo from the card; generator.true.<metric> scores the TRUE counterfactuals themselves (the rulers' floor).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from explorer.counterfactual.image import RGBMechanism
from explorer.counterfactual.procedure import counterfactual
from explorer.datasets.confounded import STRENGTHS, load_confounded
from explorer.device import pick_device
from explorer.models.rgb_cvae import RGBCVAE, circular_error, measured_hue
from explorer.registry import MORPHO, load_classifier, load_rgb_generator
from explorer.scm.morpho import MorphoSCM, tint
from explorer.training.run_configs import VARIANTS

TARGETS = ("rare", "random")
METRICS = ("hue_mae", "l1_true", "oracle_same")
CARD_METRICS = ("train_seconds", "val_neg_elbo")  # copied from each generator's card into the result


def asked_hues(digit: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """(n,) digits -> {target kind: (n,) asked hues} (module docstring)."""
    return {"rare": (((np.asarray(digit) + 5) % 10) + 0.5) / 10.0,
            "random": np.random.default_rng([seed, 5]).random(len(digit))}


def score(x_cf: torch.Tensor, true_cf: torch.Tensor, hue: np.ndarray, digit: np.ndarray, oracle) -> dict:
    """One batch of answers (B, 3, 28, 28) against the TRUE ones and the asked hues -> {metric: value}."""
    read = oracle.predict_proba(x_cf).argmax(1).cpu().numpy()  # (B,)
    return {"hue_mae": float(circular_error(measured_hue(x_cf), hue).mean()),
            "l1_true": float((x_cf - true_cf).abs().mean()),
            "oracle_same": float((read == digit).mean())}


def evaluate_one(model: RGBCVAE, strength: float, n: int, oracle, device: torch.device, seed: int) -> dict:
    """{metric: value} of one generator on the first `n` digits of its own world's IID test split."""
    data = load_confounded("iid", strength, limit=n)
    scm = MorphoSCM(strength)
    obs = {k: v for k, v in data.values.items()}
    x = torch.from_numpy(data.rgb()).to(device)  # (n, 3, 28, 28) factual images
    mech, out = RGBMechanism(model, device), {}
    with torch.inference_mode():
        for kind, hue in asked_hues(data.values["digit"], seed).items():
            cf = counterfactual(scm, mech, x, {"hue": hue}, obs=obs, known=data.noise, reconstruct=True)
            true_cf = torch.from_numpy(tint(data.grey.astype(np.float32), cf.cf["hue"])).to(device)  # (n, 3, 28, 28)
            suffix = "" if kind == "rare" else "_random"
            out.update({m + suffix: v for m, v in score(cf.x_cf, true_cf, hue, data.values["digit"], oracle).items()})
        out["recon_l1"] = float((cf.x_recon - x).abs().mean())
    return out


def true_floor(n: int, oracle, device: torch.device, seed: int) -> dict:
    """The TRUE counterfactuals scored by the same rulers: what a perfect generator would get."""
    data = load_confounded("iid", 1.0, limit=n)  # the TRUE cf depends on stroke and asked hue only, not strength
    out = {}
    for kind, hue in asked_hues(data.values["digit"], seed).items():
        true_cf = torch.from_numpy(tint(data.grey.astype(np.float32), hue)).to(device)
        suffix = "" if kind == "rare" else "_random"
        out.update({m + suffix: v for m, v in score(true_cf, true_cf, hue, data.values["digit"], oracle).items()})
    return out


def evaluate_cf_generator(n: int = 2000, seed: int = 0, strengths=STRENGTHS, variants=VARIANTS,
                          device: torch.device | None = None) -> dict[str, float]:
    """The flat result: generator.<variant>.s<strength>.<metric> and generator.true.<metric>."""
    device = device or pick_device()
    oracle = load_classifier(MORPHO["oracle"], device)
    result: dict[str, float] = {"n": n, "seed": seed}
    with torch.inference_mode():
        result.update({f"generator.true.{k}": v for k, v in true_floor(n, oracle, device, seed).items()})
    for s in strengths:
        for v in variants:
            model, card = load_rgb_generator(v, s, device)
            start = time.time()
            scores = evaluate_one(model, s, n, oracle, device, seed)
            scores.update({k: card["metrics"][k] for k in CARD_METRICS if k in card.get("metrics", {})})
            result.update({f"generator.{v}.s{s:g}.{k}": val for k, val in scores.items()})
            print(f"[{v} s{s:g}] {time.time() - start:.1f} s", flush=True)
    return result


def to_markdown(result: dict) -> str:
    """The table of docs/confounding.md, from the flat result."""
    cols = [(m + sfx, f"{m} ({kind})") for kind, sfx in (("rare", ""), ("random", "_random")) for m in METRICS]
    lines = ["| generator | strength | " + " | ".join(h for _, h in cols) + " | recon_l1 | train min |",
             "|---|---|" + "---|" * (len(cols) + 2)]
    rows = {k.rsplit(".", 1)[0].removeprefix("generator.") for k in result if k.startswith("generator.")}
    rows = sorted((r.split(".s", 1) for r in rows if r != "true"), key=lambda vs: (float(vs[1]), vs[0]))
    for variant, strength in rows:
        row = f"{variant}.s{strength}"
        cells = [f"{result[f'generator.{row}.{k}']:.3f}" for k, _ in cols]
        minutes = result.get(f"generator.{row}.train_seconds", float("nan")) / 60
        lines.append(f"| {variant} | {strength} | " + " | ".join(cells)
                     + f" | {result[f'generator.{row}.recon_l1']:.2f} | {minutes:.1f} |")
    true = [f"{result[f'generator.true.{k}']:.3f}" for k, _ in cols]
    lines.append("| TRUE counterfactual (floor) | — | " + " | ".join(true) + " | 0 | — |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m explorer.evaluate.cf_generator", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    result = evaluate_cf_generator(args.n, args.seed)
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        tmp.replace(args.json)
    print(to_markdown(result))


if __name__ == "__main__":
    main()
