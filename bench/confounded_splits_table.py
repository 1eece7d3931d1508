"""The digit-hue confounding of every split of the confounded colour worlds (docs/confounding.md), printed.

    python -m bench.confounded_splits_table        # from the repository root

Values only (no image is rendered): each split's real MNIST labels with its own noise, as
`explorer/datasets/confounded.py` defines them. The generators of issue 19 are trained on the first 20,000 rows
of the training split, so that subset is shown beside the whole split.
"""

from __future__ import annotations

import numpy as np

from explorer.datasets.confounded import KINDS, STRENGTHS, band, confounded_values
from explorer.metrics.split_confounding import digit_hue
from explorer.training.run_configs import RGBTrainConfig


def main() -> None:
    subset = RGBTrainConfig.limit
    print("| strength | split | rows | C(digit, hue) | share in own colour band |")
    print("|---|---|---|---|---|")
    for s in STRENGTHS:
        for kind in KINDS:
            _, values = confounded_values(kind, s)
            rows = [(kind, values)]
            if kind == "train":
                rows.append((f"train, first {subset}", {k: v[:subset] for k, v in values.items()}))
            for name, v in rows:
                own = float(np.mean(band(v["hue"]) == v["digit"]))
                print(f"| {s:g} | {name} | {len(v['digit'])} | {digit_hue(v):.3f} | {own:.3f} |")


if __name__ == "__main__":
    main()
