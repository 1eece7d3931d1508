"""Counterfactual procedures: abduction -> action -> prediction, and searches built on them."""
