"""Shared value types: named-variable dicts and typed variable specs that drive the UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # torch only for the annotation: a command's check of its settings need not import it (~3 s)
    import torch

# Every observation, intervention and counterfactual travels as one of these, keyed by variable name.
Values = dict[str, "torch.Tensor"]

# The project's default seed: data splits, corpora, bootstrap resampling and training start from it unless a
# run asks for another, so every shipped number can be reproduced from the commands in docs/.
DEFAULT_SEED = 2026


@dataclass(frozen=True)
class VarSpec:
    """A variable of a causal model, with what a widget needs to offer it.

    Attributes:
        name: variable name, as used in `Values` dicts, the CLI and JSON.
        kind: "categorical" (integer levels 0..levels-1) or "continuous".
        low: smallest value offered (continuous) or 0 (categorical).
        high: largest value offered (continuous) or levels - 1 (categorical).
        default: the value a control starts at.
        step: slider step.
        label: human-readable name for the page.
        unit: unit shown next to the value, may be empty.
    """

    name: str
    kind: Literal["categorical", "continuous"]
    low: float
    high: float
    default: float
    step: float
    label: str
    unit: str = ""

    def clamp(self, value: float) -> tuple[float, bool]:
        """Clamps `value` into [low, high]; returns (value, whether it was changed)."""
        clamped = min(max(float(value), self.low), self.high)
        if self.kind == "categorical":
            clamped = float(round(clamped))
        return clamped, clamped != float(value)
