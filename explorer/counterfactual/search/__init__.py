"""Counterfactual searches: AIP and its baselines, one method per file, all with one `search` signature."""
