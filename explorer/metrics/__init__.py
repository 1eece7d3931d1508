"""Metrics of counterfactual quality and of the classifiers we explain."""
