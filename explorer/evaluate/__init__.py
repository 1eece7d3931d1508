"""The `python -m explorer evaluate ...` jobs: shipped models scored against the truth."""
