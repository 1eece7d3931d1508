"""Rendering Morpho-MNIST in worker processes from inside a Streamlit script run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_render_pool_does_not_run_the_page_script_that_is_main(tmp_path):
    # Under `streamlit run` and AppTest, __main__ is the page being run. A spawned worker re-runs __main__'s file
    # first: this "page" fails there (as AppTest's generated scripts do outside their run), so a pool that let its
    # workers run it would replace dead workers forever, and one that ran a real page would run it in each worker.
    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('the page script ran in a rendering worker')\n")
    code = textwrap.dedent(f"""
        import sys, types
        import numpy as np
        from explorer.data.mnist import load_mnist
        from explorer.datasets import morpho
        page = types.ModuleType("__main__")
        page.__file__ = {str(page)!r}
        sys.modules["__main__"] = page  # what Streamlit's script runner does for each run
        sources = load_mnist("test").images[:6]
        values = {{"thickness": np.full(6, 3.0), "intensity": np.full(6, 200.0)}}
        pooled = morpho._render_all(sources, values, None, workers=2)
        assert sys.modules["__main__"] is page  # given back as it was
        assert np.array_equal(pooled, morpho._render_all(sources, values, None, workers=1))
        print("rendered", pooled.shape)
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "rendered (6, 28, 28)" in run.stdout, run.stderr[-2000:]
    assert "ran in a rendering worker" not in run.stderr
