"""Generators, classifiers and the interfaces they share."""
