"""The two small interfaces every page and metric is written against."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from explorer.types import Values


@runtime_checkable
class Classifier(Protocol):
    """A model to explain. Images come in as float (B, C, 28, 28) on the 0-255 scale."""

    name: str
    classes: list[str]

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 28, 28) -> (B, len(classes)) probabilities."""
        ...


@runtime_checkable
class CounterfactualModel(Protocol):
    """A learned image mechanism: abduction of the image noise, and decoding from it under given parents."""

    def abduct(self, x: torch.Tensor, parents: Values) -> torch.Tensor:
        """(B, C, 28, 28) 0-255 + parents -> exogenous latents (B, Z)."""
        ...

    def decode(self, latents: torch.Tensor, parents: Values) -> torch.Tensor:
        """(B, Z) + parents -> images (B, C, 28, 28) on 0-255."""
        ...
