"""The MNIST source: real data from the package, loaded without trusting its pickle."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from explorer.data import mnist


def test_splits_have_the_published_sizes():
    sizes = {s: len(mnist.load_mnist(s).labels) for s in mnist.SPLITS}
    assert sizes == {"train": 50000, "val": 10000, "test": 10000}
    test = mnist.load_mnist("test")
    assert test.images.shape == (10000, 28, 28) and test.images.dtype == np.uint8
    assert list(test.labels[:5]) == [7, 2, 1, 0, 4]  # the well-known first MNIST test labels


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_anything_but_arrays():
    payload = pickle.dumps(_Evil())
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        mnist._ArrayOnlyUnpickler(io.BytesIO(payload)).load()
    ok = pickle.dumps((np.arange(3.0), np.arange(2)))
    loaded = mnist._ArrayOnlyUnpickler(io.BytesIO(ok)).load()
    assert loaded[0].tolist() == [0.0, 1.0, 2.0]


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown split"):
        mnist.load_mnist("holdout")


def test_two_servers_filling_the_cache_at_once_both_get_the_digits(tmp_path, monkeypatch):
    # two replicas (or two test workers) starting on an empty cache build the same file at once: both get the
    # digits, one file stays and no temporary one. (That they write different temporary files: test_paths.py;
    # threads here rarely overlap in the write itself.)
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(mnist.load_mnist, ["test", "test"]))
    assert all(list(g.labels[:5]) == [7, 2, 1, 0, 4] for g in got)
    assert [p.name for p in tmp_path.iterdir()] == ["mnist.npz"]  # no temporary file left behind
