"""How close a generator's counterfactuals do(thickness = t) come to the TRUE ones, across the slider's range.

For validation digits (never test digits: this is where a generator is chosen), each digit is redrawn by each
generator under do(thickness = t) for t on a grid over 1.0-5.5 px, and by the SCM from the same noise (the TRUE
counterfactual). Per t and generator: L1 (0-255) to the TRUE image, and for the grey and third-party CNNs how far
the generator moves the classifier's lead of the true class against the TRUE image (|lead_gen - lead_true|, in
logits, median and 90th percentile) and how often the two are read as different classes. Style-only searches
flip a classifier exactly where these gaps exceed their margin, so a generator with smaller gaps at the edges of
the range is one whose style-only flips hold on the TRUE counterfactual more often.

Usage: `PYTHONPATH=. .venv/bin/python bench/generator_cover_check.py --generator NAME=DIR [...] [--n 300]`;
writes bench/results/generator_cover_check.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from explorer.counterfactual.image import image_counterfactual
from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import load_morpho
from explorer.device import pick_device
from explorer.paths import PRETRAINED
from explorer.registry import MORPHO, THIRD_PARTY, load_classifier, load_generator
from explorer.scm import morphology
from explorer.scm.morpho import MorphoSCM

GRID = (1.0, 1.5, 2.5, 3.5, 4.0, 4.5, 5.0, 5.5)
CLASSIFIERS = (MORPHO["classifier"], THIRD_PARTY)


def _lead(logits: torch.Tensor, label: np.ndarray) -> np.ndarray:
    """(B,) the true class's logit minus the best other class's."""
    own = logits[torch.arange(len(label)), torch.as_tensor(label)]
    other = logits.clone()
    other[torch.arange(len(label)), torch.as_tensor(label)] = -torch.inf
    return (own - other.amax(1)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", action="append", default=[],
                        help="NAME=DIR (repeatable); the shipped generator is always included as 'shipped'")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    device, scm = pick_device(), MorphoSCM()
    gens = {"shipped": PRETRAINED / MORPHO["generator"]} | {g.split("=")[0]: Path(g.split("=")[1])
                                                            for g in args.generator}
    data = load_morpho("val", limit=args.n)
    skels = [morphology.skeleton(s) for s in load_mnist("val").images[:args.n]]
    grey = torch.from_numpy(data.images).float()[:, None]  # (N, 1, 28, 28)
    label = data.values["digit"]
    clfs = {name: load_classifier(name, device) for name in CLASSIFIERS}
    out: dict[str, float] = {"n": float(args.n)}
    for t in GRID:
        do = {"thickness": t}
        cf_values = scm.counterfactual(data.noise, do)
        true = torch.from_numpy(np.stack([scm.render(s, {k: float(v[j]) for k, v in cf_values.items()})
                                          for j, s in enumerate(skels)])).float()[:, None]  # (N, 1, 28, 28)
        with torch.inference_mode():
            true_logits = {c: clf.logits(true).cpu() for c, clf in clfs.items()}
        for g, folder in gens.items():
            model = load_generator(device, folder)[0]
            with torch.inference_mode():
                _, x = image_counterfactual(model, scm, grey, data.values, data.noise, do, device)
                x = x.cpu()
                key = f"{g}.t{t}"
                out[f"{key}.l1"] = float((x - true).abs().mean())
                for c, clf in clfs.items():
                    logits = clf.logits(x).cpu()
                    gap = np.abs(_lead(logits, label) - _lead(true_logits[c], label))
                    out[f"{key}.{c}.lead_gap_median"] = float(np.median(gap))
                    out[f"{key}.{c}.lead_gap_p90"] = float(np.percentile(gap, 90))
                    out[f"{key}.{c}.disagree"] = float((logits.argmax(1) != true_logits[c].argmax(1)).float().mean())
        print(f"t={t}", {k.split(f".t{t}.")[0] + ":" + k.split(f".t{t}.")[1]: round(v, 3)
                         for k, v in out.items() if f".t{t}." in k and ("l1" in k or "p90" in k)}, flush=True)
    path = Path(__file__).parent / "results" / "generator_cover_check.json"
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
