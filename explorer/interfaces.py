"""The contracts every world is written against: an SCM, a learned mechanism, a classifier, a
counterfactual search and a page service's result.

Each is a small `Protocol` (structural: a class satisfies it by having the members, no inheritance
needed), so third-party and uploaded models are wrapped, not special-cased. Values travel as dicts
keyed by variable name (`explorer.types.Values`); the array type is the world's own (numpy for the
rendered SCMs, torch for learned mechanisms).

No method here disables autograd: searches and training need gradients through exactly these calls,
so callers that only read (services, evaluations, exports) wrap them in `torch.inference_mode()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from explorer.types import VarSpec


@runtime_checkable
class SCM(Protocol):
    """A structural causal model: variables, a graph, and the three steps of a counterfactual."""

    @property
    def specs(self) -> dict[str, VarSpec]:
        """The variables a visitor may intervene on, in display order."""
        ...

    @property
    def graph(self) -> Any:
        """The causal graph (`explorer.scm.graph.Dag`) over the variables (and the image, where drawn)."""
        ...

    def sample(self, n: int, seed: int) -> tuple[Any, dict[str, Any]]:
        """(exogenous noise, values) of `n` samples from the observational distribution."""
        ...

    def abduct(self, obs: Mapping[str, Any], known: Mapping[str, Any] | None = None) -> Any:
        """Exogenous noise from observed values; `known` carries noise the values cannot reveal."""
        ...

    def counterfactual(self, noise: Any, do: Mapping[str, Any] | None = None, graph: Any = None) -> dict[str, Any]:
        """Every variable's value under hard interventions `do`, in `graph` (default: the model's own)."""
        ...


@runtime_checkable
class Mechanism(Protocol):
    """A learned mechanism for a high-dimensional variable (an image) given its parents.

    `abduct` recovers the exogenous noise specific to `x`; `decode` draws `x` again from that noise
    under any parents. `explorer.counterfactual.procedure.counterfactual` composes them with an SCM.
    """

    def abduct(self, x: torch.Tensor, parents: Mapping[str, Any]) -> torch.Tensor:
        """x (B, ...) + parents -> latents (B, ...)."""
        ...

    def decode(self, latents: torch.Tensor, parents: Mapping[str, Any]) -> torch.Tensor:
        """latents (B, ...) + parents -> x (B, ...)."""
        ...


@runtime_checkable
class ReadsParents(Protocol):
    """A mechanism whose encoder also reads the parents off the data (the causal-layer VAE)."""

    def encode(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """x (B, ...) -> (parents read off x, latents)."""
        ...


@runtime_checkable
class Classifier(Protocol):
    """A model to explain, of any input: images (B, C, H, W) of any size, table rows (B, F), texts.

    `differentiable` says whether `logits` carries gradients back to its input: an ONNX model or a text
    model (whose input is strings) has none, and a search must then use a gradient-free method.
    """

    name: str
    classes: Sequence[str]
    differentiable: bool

    def logits(self, x: Any) -> torch.Tensor:
        """x (B, ...) -> (B, len(classes)) unnormalised scores."""
        ...

    def predict_proba(self, x: Any) -> torch.Tensor:
        """x (B, ...) -> (B, len(classes)) probabilities."""
        ...


@runtime_checkable
class CounterfactualSearch(Protocol):
    """A method that finds a counterfactual input moving `classifier` to `target` (filled by AIP & co.)."""

    def config_spec(self) -> dict[str, VarSpec]:
        """The controls the method needs, as typed specs the UI turns into widgets."""
        ...

    def search(self, x: Any, classifier: Classifier, target: int, config: Mapping[str, float]) -> Any:
        """The counterfactual of `x` (and what the method reports about it)."""
        ...


@dataclass
class WhatIfResult:
    """What every page service returns for one what-if; field names are the same in every world.

    Attributes:
        obs: factual values of the example ({variable: value}; the text itself in the text world).
        cf: the model's counterfactual values (the counterfactual text in the text world).
        true_cf: the TRUE counterfactual values where the world's mechanism is known, else None.
        intervened: variables set by do(), sorted.
        downstream: variables that follow the intervention through the graph (intervened excluded).
        clamped: requested values that were out of range and clamped (or otherwise adjusted).
        probs: {classifier: (probabilities on the original, on the counterfactual)}, (C,) arrays.
    """

    obs: Any
    cf: Any
    true_cf: Any
    intervened: list[str]
    downstream: list[str]
    clamped: list[str]
    probs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def flips(self) -> dict[str, bool]:
        """Per classifier: does the predicted class change from original to counterfactual?"""
        return {name: int(p.argmax()) != int(q.argmax()) for name, (p, q) in self.probs.items()}


@runtime_checkable
class PageService(Protocol):
    """A page's back end: its variables, an example's factual values, and the one what-if call."""

    @property
    def specs(self) -> dict[str, VarSpec]:
        ...

    def factual(self, index: int) -> dict[str, Any]:
        ...

    def what_if(self, *args: Any, **kwargs: Any) -> WhatIfResult:
        ...
