"""Soundness of counterfactuals, for any world: effectiveness, composition, reversibility, and the
error against the TRUE counterfactual where the world's mechanism is known.

After Monteiro et al., "Measuring axiomatic soundness of counterfactual image models" (ICLR 2023),
written here from the definitions:
- effectiveness: did the intervention happen? A measurement (or judge) of the counterfactual against the
  value asked for;
- composition: the null intervention should change nothing, once or applied repeatedly;
- reversibility: intervening and then intervening back should return the original;
- true counterfactual error: distance to the answer the known mechanisms give from the same noise.
Each function takes the world's own counterfactual as a callable, so images, scenes and tables share them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import torch

# x -> x under the null intervention
NullCounterfactual = Callable[[torch.Tensor], torch.Tensor]


def l1(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two batches (pixels in the images' own scale)."""
    return float((a.float() - b.float()).abs().mean())


def pixel_mse(a: np.ndarray, b: np.ndarray, scale: float = 255.0) -> float:
    """Mean squared difference of two uint8 image batches, pixels rescaled to [0, 1]."""
    return float((((a.astype(np.float32) - b.astype(np.float32)) / scale) ** 2).mean())


def effectiveness(measured: np.ndarray, target: np.ndarray, span: float = 1.0) -> float:
    """Mean absolute error of what was measured on the counterfactual against what do() asked for,
    as a fraction of `span` (1: in the variable's own units)."""
    return float(np.abs(np.asarray(measured) - np.asarray(target)).mean() / span)


def accuracy(predicted: np.ndarray, target: np.ndarray) -> float:
    """Effectiveness for a categorical variable: how often a judge reads the value asked for."""
    return float((np.asarray(predicted) == np.asarray(target)).mean())


def composition(null_cf: NullCounterfactual, x: torch.Tensor, steps: Iterable[int] = (1, 10),
                distance: Callable[[Any, Any], float] = l1) -> dict[int, float]:
    """Distance from `x` after applying the null intervention k times, for each k in `steps`."""
    wanted, out, cur = sorted(steps), {}, x
    for step in range(1, wanted[-1] + 1):
        cur = null_cf(cur)
        if step in wanted:
            out[step] = distance(cur, x)
    return out


def reversibility(there: Callable[[], tuple[Any, torch.Tensor]],
                  back: Callable[[Any, torch.Tensor], torch.Tensor], x: torch.Tensor) -> np.ndarray:
    """Per-sample mean absolute error between `x` and its there-and-back counterfactual, (B,).

    Args:
        there: computes the counterfactual of `x` under do(new): (its values, its data).
        back: computes, from those, the counterfactual under do(original value).
        x: the original data (B, ...).
    """
    values, cf = there()
    return (back(values, cf) - x).abs().flatten(1).mean(1).numpy()


def true_cf_error(model_cf: Any, true_cf: Any, distance: Callable[[Any, Any], float] = l1) -> float:
    """Distance between the model's counterfactual and the TRUE one (same noise, known mechanisms)."""
    return distance(model_cf, true_cf)
