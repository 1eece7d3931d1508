"""Counterfactual Explorer: causal "what if?" questions asked of machine-learning models."""

__version__ = "0.1.0"
