"""Structural causal models: a graph, one mechanism per node, and the worlds we render ourselves."""
