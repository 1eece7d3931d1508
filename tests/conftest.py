"""Shared fixtures: seeded RNGs and the shipped models (loaded once per test session)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one thread each (and in the commands they start) instead of two
    # threads each fighting for the same cores; small models' steps ran 2x slower with two (docs/testing.md).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)


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


@pytest.fixture(scope="session")
def space(generator, cpu):
    """The image world's search space over the shipped generator (the searches' common ground)."""
    from explorer.counterfactual.search.space import MorphoSpace

    return MorphoSpace(generator, cpu)


@pytest.fixture(scope="session")
def cnn(cpu):
    from explorer.registry import MORPHO, load_classifier

    return load_classifier(MORPHO["classifier"], cpu)


@pytest.fixture(scope="session")
def hue_cnn(cpu):
    from explorer.registry import MORPHO, load_classifier

    return load_classifier(MORPHO["classifier_hue"], cpu)


@pytest.fixture(scope="module")
def one_thread():
    """Batches of a few digits: a second thread costs more in hand-offs than it saves (5x on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
