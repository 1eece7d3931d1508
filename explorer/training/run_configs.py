"""Training commands' settings, apart from their trainers: checking them imports no Lightning (~10 s here, most of it
torchmetrics), so `train cf-generator`, `cf-training`, `morpho` and `pendulum` answer a wrong setting in under a
second (explorer/__main__.py, explorer/cli_cf_generator.py). The trainers import them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from explorer.paths import PRETRAINED, cache_dir
from explorer.types import DEFAULT_SEED

VARIANTS = ("plain", "robust")
MORPHO_COMPONENTS = ("classifier", "classifier_hue", "oracle", "generator")  # `train morpho --only`
PENDULUM_COMPONENTS = ("regressor", "vae")  # `train pendulum --only`


@dataclass
class RGBTrainConfig:
    """One training run; every field is on the command line."""

    strength: float
    variant: str = "plain"
    epochs: int = 3
    limit: int = 20_000  # training images (of the split's 50,000): the 45-minute budget for all eight runs
    val_limit: int = 2_000
    batch: int = 128
    lr: float = 2e-3
    warmup: int = 200  # KL warm-up steps: ~ half an epoch at this size (the grey generator's 1,000 is 2 epochs)
    seed: int = DEFAULT_SEED
    threads: int = 1  # two runs share the machine's two cores
    devices: int = 1
    strategy: str = "auto"
    out: Path = PRETRAINED
    command: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"the strength must be from 0 to 1, got {self.strength}")
        if self.limit < self.batch:  # an epoch is whole batches: fewer images than one make no step at all
            raise ValueError(f"--limit {self.limit} is less than one batch; pass at least {self.batch}")


METHODS = ("erm", "cf_augment", "cf_regularise", "grad_supervision", "grad_supervision_random", "true_augment",
           "unconfounded")
USES_HUE_CF = ("cf_augment", "cf_regularise", "true_augment")


def runs_dir() -> Path:
    """Where the grid's models go by default: rebuildable, not shipped (two of them are, with `--out pretrained`)."""
    return cache_dir() / "cf-training"


@dataclass
class CFTrainConfig:
    """One run of the grid; every field is on the command line."""

    strength: float
    method: str = "erm"
    seed: int = 0
    epochs: int = 2
    limit: int = 20_000  # training digits (of 50,000): the whole grid (84 runs) in under 3 hours here
    batch: int = 128
    lr: float = 2e-3
    generator: str = "robust"  # the RGB generator variant that makes the counterfactuals
    reg_weight: float = 1.0  # cf_regularise: 1 - cos is in [0, 2]
    gs_weight: float = 1.0  # grad_supervision: 1 - cos is in [0, 2]
    threads: int = 1  # two runs share the machine's two cores
    devices: int = 1
    strategy: str = "auto"
    out: Path = field(default_factory=runs_dir)
    command: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"the strength must be from 0 to 1, got {self.strength}")
        if self.limit < self.batch:
            raise ValueError(f"--limit {self.limit} is less than one batch; pass at least {self.batch}")

    @property
    def data_strength(self) -> float:
        return 0.0 if self.method == "unconfounded" else self.strength
