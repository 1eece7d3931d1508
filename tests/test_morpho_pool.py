"""Rendering Morpho-MNIST: in worker processes from inside a Streamlit script run, and only the rows asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from explorer.datasets import morpho

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


def test_rows_asked_are_the_split_s_own_pixels_drawn_alone_or_read_from_the_whole_split(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    first = morpho.load_morpho("val", limit=120)  # drawn by the pool, cached as the first 120 only
    rows = np.array([97, 3, 3, 64, 0, 119])  # any order, repeats allowed
    drawn = morpho.load_morpho_rows("val", rows)
    assert np.array_equal(drawn.images, first.images[rows])
    assert all(np.array_equal(drawn.values[k], first.values[k][rows]) for k in first.values)
    assert all(np.array_equal(drawn.noise[k], first.noise[k][rows]) for k in first.noise)
    assert not (tmp_path / "morpho_val_seed2026.npz").exists()  # drawing a few rows caches no "whole split"
    # with the whole split cached, its rows are read from it, not drawn again (a marked stand-in shows which)
    marked = np.zeros((10_000, 28, 28), np.uint8)
    marked[rows, 0, 0] = rows.astype(np.uint8) + 1
    np.savez_compressed(tmp_path / "morpho_val_seed2026.npz", images=marked)
    assert list(morpho.load_morpho_rows("val", rows).images[:, 0, 0]) == list(rows + 1)
