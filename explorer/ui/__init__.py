"""The only Streamlit code in the package: what every page shares (`common/`: the do() controls, the link, the
cached loader and its error card, all built from VarSpecs), one module of widgets and rendering per page, and
the app's shell (`loader.py`: the sidebar, the route through app.py, the background load).

Pages stay thin: widgets -> one service call -> render.
"""

from explorer.ui.loader import prewarm, run_through_app, sidebar

__all__ = ["prewarm", "run_through_app", "sidebar"]
