"""How often style alone TRULY flips a classifier: the SCM's own renderings over the world's plausible styles.

For each digit, the TRUE counterfactual of every do(thickness, intensity) on a grid over the sliders' ranges is
rendered by the SCM from the digit's own source stroke; grid points the world could not draw (implausibility > 0,
`MorphoSpace.implausibility`, the rule style-only searches obey) are skipped. A digit counts as truly flippable by
style when some point makes the classifier read another class by at least the search's margin. This is the most a
style-only search could find that holds on the TRUE counterfactual. For those digits, the generator's drawings of
the same do() sets are read too: `generator_sees` counts the digits where some TRUE flip point also flips on the
generator's drawing, the only flips a search through the generator can find and see hold.

Usage: `PYTHONPATH=. .venv/bin/python bench/true_style_flips.py [--n 300] [--split val]`; writes
bench/results/true_style_flips[_<split>].json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from explorer.counterfactual.image import image_counterfactual
from explorer.counterfactual.search.base import lead
from explorer.counterfactual.search.space import MorphoSpace
from explorer.data.mnist import load_mnist
from explorer.datasets.morpho import load_morpho
from explorer.device import pick_device
from explorer.registry import MORPHO, THIRD_PARTY, load_classifier, load_generator
from explorer.scm import morphology
from explorer.scm.morpho import SPECS, MorphoSCM

CLASSIFIERS = (MORPHO["classifier"], THIRD_PARTY)
MARGIN = 1.0  # logits: SearchConfig's default margin


def grid() -> dict[str, np.ndarray]:
    """The plausible (thickness, intensity) points of a 19 x 16 grid over the sliders' ranges."""
    t, i = np.meshgrid(np.linspace(SPECS["thickness"].low, SPECS["thickness"].high, 19),
                       np.linspace(SPECS["intensity"].low, SPECS["intensity"].high, 16), indexing="ij")
    values = {"thickness": torch.tensor(t.ravel(), dtype=torch.float32),
              "intensity": torch.tensor(i.ravel(), dtype=torch.float32)}
    keep = (MorphoSpace.implausibility(None, values) == 0).numpy()  # a method that reads no state of its own
    return {k: v.numpy()[keep] for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--generator", type=Path, help="a generator's folder (default: the shipped one)")
    args = parser.parse_args()
    device, scm, points = pick_device(), MorphoSCM(), grid()
    generator, p = load_generator(device, args.generator)[0], len(points["thickness"])
    data = load_morpho(args.split, limit=args.n)
    sources = load_mnist(args.split).images[:args.n]
    clfs = {name: load_classifier(name, device) for name in CLASSIFIERS}
    flips, seen = {name: [] for name in clfs}, {name: [] for name in clfs}
    for j in range(args.n):
        skel = morphology.skeleton(sources[j])
        true = np.stack([scm.render(skel, {"thickness": float(t), "intensity": float(i)})
                         for t, i in zip(points["thickness"], points["intensity"])])  # (P, 28, 28)
        factual = torch.from_numpy(data.images[j:j + 1]).float()[:, None]  # (1, 1, 28, 28)
        drawn = None
        with torch.inference_mode():
            for name, clf in clfs.items():
                read = clf.logits(factual).argmax(1).expand(p)  # (P,)
                true_flip = lead(clf.logits(torch.from_numpy(true).float()[:, None]).cpu(), read) <= -MARGIN  # (P,)
                flips[name].append(bool(true_flip.any()))
                if not true_flip.any():
                    continue
                if drawn is None:  # the generator's drawings of the same do() sets, from this digit's abduction
                    rows = {a: np.repeat(v[j:j + 1], p) for a, v in data.values.items()}
                    noise = {a: np.repeat(v[j:j + 1], p) for a, v in data.noise.items()}
                    drawn = image_counterfactual(generator, scm, factual.expand(p, -1, -1, -1), rows, noise,
                                                 points, device)[1].cpu()  # (P, 1, 28, 28)
                seen[name].append(bool((true_flip & (lead(clf.logits(drawn).cpu(), read) <= -MARGIN)).any()))
        if (j + 1) % 50 == 0:
            print(f"{j + 1} digits", {k: int(sum(v)) for k, v in flips.items()}, flush=True)
    out = {"n": args.n, "split": args.split, "grid_points": int(len(points["thickness"])), "margin": MARGIN}
    for name, f in flips.items():
        out[f"{name}.truly_flippable"] = float(np.mean(f))
        out[f"{name}.truly_flippable_count"] = int(np.sum(f))
        out[f"{name}.generator_sees_count"] = int(np.sum(seen[name]))
    path = Path(__file__).parent / "results" / f"true_style_flips_{args.split}.json"
    path.write_text(json.dumps(out, indent=1))
    print(out)


if __name__ == "__main__":
    main()
