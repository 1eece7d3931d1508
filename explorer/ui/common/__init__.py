"""What every page shares, built from the world's VarSpecs: the do() controls (`controls.py`), the link
(`link.py`), the cached loader with its one error card (`loader.py`), how values are written (`format.py`), the
export panels' button (`export.py`); and the visitor's uploaded classifiers, kept in their session for every page
that asks classifiers (`uploads.py`)."""
