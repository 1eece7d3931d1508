"""The counterfactual searches by name, each built on the image world's search space.

The page and `evaluate search` take their methods from here, so a new method is one file plus one line.
"""

from __future__ import annotations

from typing import Callable

from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.blackbox import BlackBoxAIPSearch
from explorer.counterfactual.search.latent import LatentSearch
from explorer.counterfactual.search.pixel import PixelSearch
from explorer.counterfactual.search.random_search import RandomSearch
from explorer.counterfactual.search.space import MorphoSpace

# AIP first: the method; then the baselines it is measured against in the same run.
METHODS: dict[str, Callable[[MorphoSpace], object]] = {
    "aip": AIPSearch, "pixel": PixelSearch, "latent": LatentSearch, "random": RandomSearch}
# For classifiers without gradients (an ONNX model run by onnxruntime): black-box AIP first, then the one baseline
# that only reads the classifier.
BLACK_BOX: dict[str, Callable[[MorphoSpace], object]] = {"aip-blackbox": BlackBoxAIPSearch, "random": RandomSearch}
