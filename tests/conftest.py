"""Shared fixtures: seeded RNGs and the shipped models (loaded once per test session)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def cpu() -> torch.device:
    return torch.device("cpu")


@pytest.fixture(scope="session")
def generator(cpu):
    from explorer.registry import load_generator

    return load_generator(cpu)[0]


@pytest.fixture(scope="session")
def test_data():
    from explorer.datasets.morpho import load_morpho

    return load_morpho("test", limit=200)
