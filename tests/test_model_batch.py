"""Batching the model thread's waiting calls (explorer/model_thread.py `Batcher`, `ImageService.what_if`).

While the model thread is busy, the what-ifs that arrive wait; those that can share a decoder call run as one
batch. Each caller must get exactly its own answer: the same as alone (float rounding of a bigger batch aside),
its own exception when its request is bad, and nothing of another visitor's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable

import numpy as np
import pytest

import explorer.model_thread as mt
from explorer.model_thread import Batcher, on_model_thread

PIXELS = 1e-3  # of 255: a batch of B rows against one row differs in float rounding only (measured <= 2.6e-4)
PROBS = 1e-5  # measured <= 1.2e-6


class _Gate:
    """Holds the model thread busy until opened, so that calls pile up behind it as under a classroom."""

    def __init__(self) -> None:
        self.running, self.open = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=on_model_thread(self._hold))

    def _hold(self) -> None:
        self.running.set()
        assert self.open.wait(30)

    def __enter__(self) -> _Gate:
        self.thread.start()
        assert self.running.wait(30)
        return self

    def __exit__(self, *exc) -> None:
        self.open.set()
        self.thread.join(30)


def _together(batcher: Batcher, calls: list[tuple[Hashable, object]], call: Callable[[object], object] | None = None,
              refused: int = 0) -> list[tuple[object, BaseException | None]]:
    """Runs every (key, request) from its own thread while the model thread is held, releases it once all but
    `refused` wait in their groups, and returns (result, exception) per call."""
    out: list[tuple[object, BaseException | None]] = [(None, None)] * len(calls)

    def one(i: int, key: Hashable, request: object) -> None:
        try:
            out[i] = (call(request) if call else batcher(key, request), None)
        except BaseException as err:  # noqa: BLE001 - the test compares it
            out[i] = (None, err)

    with _Gate():
        threads = [threading.Thread(target=one, args=(i, k, r)) for i, (k, r) in enumerate(calls)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while sum(batcher.pending(k) for k in {k for k, _ in calls}) < len(calls) - refused:
            assert time.monotonic() < deadline, "the callers never reached their groups"
            time.sleep(0.005)
    for t in threads:
        t.join(30)
    return out


class _Square:
    """A batch function that records its batch sizes and the thread it ran on; request -1 is bad."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.threads: set[int] = set()

    def one(self, x: int) -> int:
        self.threads.add(threading.get_ident())
        if x < 0:
            raise ValueError(f"bad request {x}")
        return x * x

    def many(self, xs: list[int]) -> list[int]:
        self.sizes.append(len(xs))
        self.threads.add(threading.get_ident())
        if any(x < 0 for x in xs):
            raise ValueError("one bad request fails the batch")
        return [x * x for x in xs]


def test_waiting_calls_of_one_key_run_as_one_batch_each_getting_its_own_result():
    sq = _Square()
    out = _together(Batcher(sq.one, sq.many), [("k", x) for x in range(6)])
    assert out == [(x * x, None) for x in range(6)]
    assert sq.sizes == [6]
    assert len(sq.threads) == 1 and threading.get_ident() not in sq.threads  # on the model thread


def test_keys_batch_apart_and_a_group_of_one_runs_alone():
    sq = _Square()
    out = _together(Batcher(sq.one, sq.many), [("a", 1), ("b", 2), ("a", 3), ("c", 4)])
    assert [r for r, _ in out] == [1, 4, 9, 16]
    assert sq.sizes == [2]  # "a" together; "b" and "c" alone, through `one`


def test_a_bad_request_fails_only_its_own_caller_with_its_own_exception():
    sq = _Square()
    out = _together(Batcher(sq.one, sq.many), [("k", 2), ("k", -1), ("k", 3)])
    assert [r for r, _ in out] == [4, None, 9]
    err = out[1][1]
    assert isinstance(err, ValueError) and str(err) == "bad request -1"  # its own, not the batch's
    assert out[0][1] is None and out[2][1] is None


def test_later_arrivals_start_the_next_batch():
    sq = _Square()
    batcher = Batcher(sq.one, sq.many)
    first = _together(batcher, [("k", 1), ("k", 2)])
    second = _together(batcher, [("k", 3), ("k", 4), ("k", 5)])
    assert [r for r, _ in first + second] == [1, 4, 9, 16, 25]
    assert sq.sizes == [2, 3]


def test_switched_off_every_call_runs_alone_on_the_model_thread(monkeypatch):
    monkeypatch.setenv("EXPLORER_MODEL_BATCH", "0")
    sq = _Square()
    batcher = Batcher(sq.one, sq.many)
    results = []
    threads = [threading.Thread(target=lambda x=x: results.append(batcher("k", x))) for x in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1, 4, 9] and sq.sizes == []
    assert len(sq.threads) == 1 and threading.get_ident() not in sq.threads


def test_a_call_from_the_model_thread_runs_in_place():
    sq = _Square()
    batcher = Batcher(sq.one, sq.many)
    inner = on_model_thread(lambda: (threading.get_ident(), batcher("k", 7)))
    where, result = inner()
    assert result == 49 and sq.threads == {where}


def test_the_stats_count_batches_and_the_calls_they_served(tmp_path, monkeypatch):
    path = tmp_path / "model_stats.json"
    monkeypatch.setattr(mt, "_STATS_FILE", str(path))
    monkeypatch.setattr(mt, "_STATS", mt._Stats())
    sq = _Square()
    _together(Batcher(sq.one, sq.many), [("k", 1), ("k", 2), ("k", 3), ("j", 4)])
    stats = json.loads(path.read_text())
    assert stats["batches"] == 2 and stats["batched_calls"] == 4 and stats["shared_calls"] == 3
    assert stats["calls"] == 5  # the four and the gate's own call
    assert stats["found_busy"] >= 4 and stats["wait_s"] > 0 and stats["run_s"] > 0


# --- the Image what-if service ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def service(one_thread):
    from explorer.device import pick_device
    from explorer.services.image import ImageService

    return ImageService(pick_device())


def _asks(service, coloured: bool, dos: list[tuple[int, dict]]):
    from explorer.services.common import clamp_do
    from explorer.services.image import WhatIfAsk

    specs = service.worlds[coloured].specs
    return [WhatIfAsk(i, coloured, *clamp_do(do, specs), {}) for i, do in dos]


def _agree(alone, batched) -> None:
    assert batched.index == alone.index and batched.cf == alone.cf and batched.obs == alone.obs
    assert batched.intervened == alone.intervened and batched.clamped == alone.clamped
    assert np.abs(batched.generated - alone.generated).max() < PIXELS
    assert (batched.true_image is None) == (alone.true_image is None)
    if alone.true_image is not None:
        assert np.array_equal(batched.true_image, alone.true_image)  # the SCM's own drawing: no model
    assert list(batched.probs) == list(alone.probs)
    for n, (before, after) in alone.probs.items():
        assert np.array_equal(batched.probs[n][0], before)
        assert np.abs(batched.probs[n][1] - after).max() < PROBS


@pytest.mark.parametrize("coloured, dos", [
    (False, [(12, {"thickness": 4.5}), (3, {"thickness": 1.2}), (12, {"thickness": 2.0}), (40, {"thickness": 99.0})]),
    (True, [(7, {"digit": 4, "hue": 0.3}), (8, {"digit": 8, "hue": 0.9}), (5, {"digit": 1, "hue": 0.0})]),
])
def test_a_batch_of_what_ifs_agrees_with_each_alone(service, coloured, dos):
    asks = _asks(service, coloured, dos)
    batched = service.what_ifs(asks)
    assert len(batched) == len(asks)
    for ask, result in zip(asks, batched):
        _agree(service.what_ifs([ask])[0], result)
    pictures = [r.generated for r in batched]
    assert not np.allclose(pictures[0], pictures[1])  # each its own digit and value, not one row repeated


def test_waiting_what_ifs_are_batched_and_each_visitor_gets_its_own(service, cnn, monkeypatch):
    sizes: list[int] = []
    many = service._batcher.many

    def counted(asks):
        sizes.append(len(asks))
        return many(asks)

    monkeypatch.setattr(service._batcher, "many", counted)
    mine = {"mine": cnn}  # one visitor's upload: asked for that visitor's pictures only
    calls = [(12, {"thickness": 4.0}, False, None), (3, {"thickness": 2.5}, False, mine),
             (9, {"intensity": 90.0}, False, None), (5, {"thickness": 3.3}, False, None),
             (3, {"nope": 1.0}, False, None)]  # a variable the world does not have: refused to its caller alone
    keys = [(False, tuple(sorted(do))) for _, do, _, _ in calls]  # the groups `what_if` puts them in
    out = _together(service._batcher, list(zip(keys, calls)), call=lambda c: service.what_if(*c), refused=1)
    assert sizes == [3]  # the three thickness moves together; intensity alone; the bad call never queued
    assert isinstance(out[4][1], ValueError) and "nope" in str(out[4][1])
    for (index, do, coloured, uploaded), (result, err) in zip(calls[:4], out[:4]):
        assert err is None
        _agree(service.what_if(index, do, coloured, uploaded), result)
    assert "mine" in out[1][0].probs and "mine" not in out[0][0].probs


class _BrokenUpload:
    """A visitor's uploaded classifier that fails on every input, as a bad ONNX file might."""

    name, classes, differentiable = "broken", list(range(10)), False

    def predict_proba(self, x):
        raise RuntimeError("this upload cannot read 28 x 28 pictures")


def test_a_visitors_broken_upload_fails_its_own_what_if_only(service):
    calls = [(12, {"thickness": 4.0}, False, None), (3, {"thickness": 2.0}, False, {"broken": _BrokenUpload()}),
             (9, {"thickness": 3.0}, False, None)]
    key = (False, ("thickness",))
    out = _together(service._batcher, [(key, c) for c in calls], call=lambda c: service.what_if(*c))
    assert isinstance(out[1][1], RuntimeError) and "cannot read" in str(out[1][1])  # its own error, unchanged
    for (index, do, coloured, _), (result, err) in zip(calls[::2], out[::2]):
        assert err is None
        _agree(service.what_if(index, do, coloured), result)


# --- the causal graph lab -----------------------------------------------------------------------------------------

LAB_GREY_LEVELS = 1  # uint8 scenes: a float a hair either side of .5 rounds one level apart (measured: at most 1)
LAB_CONCEPTS = 1e-4  # degrees and scene units (measured <= 5e-6)


@pytest.fixture(scope="module")
def lab(one_thread):
    from explorer.device import pick_device
    from explorer.services.lab import LabService

    return LabService(pick_device())


def test_waiting_lab_what_ifs_are_batched_and_agree_with_each_alone(lab, monkeypatch):
    sizes: list[int] = []
    many = lab._batcher.many
    monkeypatch.setattr(lab._batcher, "many", lambda asks: (sizes.append(len(asks)), many(asks))[1])
    learned = set(lab.learned_graph.edges)
    cut = learned - {sorted(learned)[0]}  # another visitor's edited graph: another group
    calls = [(3, {"light": 70.0}, None), (8, {"light": 120.0}, None), (3, {"light": 95.0}, None),
             (5, {"light": 70.0}, cut), (9, {"pendulum": 10.0}, None)]
    graph = lambda edges: lab._scene_graph(0, edges)[1]  # noqa: E731 - the groups `what_if` puts them in
    keys = [(graph(e), tuple(sorted(do))) for _, do, e in calls]
    out = _together(lab._batcher, list(zip(keys, calls)), call=lambda c: lab.what_if(*c))
    assert sizes == [3]  # the three light moves in the learned graph together; the others alone
    for (index, do, edges), (result, err) in zip(calls, out):
        assert err is None
        alone = lab.what_if(index, do, edges)
        assert result.index == alone.index and result.cut == alone.cut and result.true_cf == alone.true_cf
        assert np.array_equal(result.true_image, alone.true_image)  # the simulator's: no model
        for part in ("generated", "recon"):
            diff = np.abs(getattr(result, part).astype(int) - getattr(alone, part).astype(int)).max()
            assert diff <= LAB_GREY_LEVELS, part
        for concept, value in alone.cf.items():
            assert abs(result.cf[concept] - value) < LAB_CONCEPTS and abs(result.encoded[concept] -
                                                                         alone.encoded[concept]) < LAB_CONCEPTS
    pictures = [r.generated for r, _ in out[:3]]
    assert not np.array_equal(pictures[0], pictures[1])  # each its own scene and value, not one row repeated


@pytest.mark.parametrize("coloured", [False, True])
def test_waiting_image_sweeps_are_one_call_and_agree_with_each_alone(service, monkeypatch, coloured):
    from explorer.services.image import MorphoMechanism, _Abducted
    from explorer.services.image_sweep import StartRow, SweepCache

    sizes: list[int] = []
    many = service._sweep_batcher.many
    monkeypatch.setattr(service._sweep_batcher, "many", lambda asks: (sizes.append(len(asks)), many(asks))[1])
    monkeypatch.setattr(service, "sweeps", SweepCache())  # none kept: each is computed
    readers = service.classifiers
    # three visitors reach for thickness (two on one digit), one for intensity: another group
    calls = [(21, {"thickness": 2.0}, ["thickness"]), (22, {"thickness": 3.5}, ["thickness"]),
             (21, {"thickness": 4.0}, ["thickness"]), (23, {}, ["intensity"])]
    keys = [("sweep", coloured, tuple(sorted(do)), tuple(names), tuple((n, id(c)) for n, c in readers.items()))
            for _, do, names in calls]
    out = _together(service._sweep_batcher, list(zip(keys, calls)),
                    call=lambda c: service.sweep(c[0], c[1], coloured, names=c[2]))
    assert sizes == [3]
    assert service.sweeps.computed == 3  # digit 21's thickness sweep once: a slider's own value does not change it
    assert out[0][0]["thickness"] is out[2][0]["thickness"]
    for (index, do, names), (result, err) in zip(calls, out):
        assert err is None
        f = service._factual(index, coloured)
        mechanism = _Abducted(MorphoMechanism(service.generator, service.device, coloured), f.latents)
        alone = SweepCache().sweeps(service.worlds[coloured], mechanism, StartRow(f.noise, f.obs, f.grey), index,
                                    coloured, do, readers, names)
        for name in names:
            assert np.array_equal(result[name].values, alone[name].values)
            assert np.abs(result[name].pictures - alone[name].pictures).max() < 1e-3  # grey levels, 0-255
            for reader, probs in alone[name].probs.items():
                assert np.abs(result[name].probs[reader] - probs).max() < 1e-5
    assert not np.array_equal(out[0][0]["thickness"].pictures, out[1][0]["thickness"].pictures)  # its own digit


def test_waiting_lab_sweeps_are_one_call_and_agree_with_each_alone(lab, monkeypatch):
    from explorer.services.lab_sweep import LabSweeps

    sizes: list[int] = []
    many = lab._sweep_batcher.many
    monkeypatch.setattr(lab._sweep_batcher, "many", lambda asks: (sizes.append(len(asks)), many(asks))[1])
    monkeypatch.setattr(lab, "sweeps", LabSweeps())  # none kept: each is computed
    graph = lab._scene_graph(0, None)[1]
    # three visitors reach for the light slider (two on one scene), one for another slider: another group
    calls = [(11, {"light": 70.0}, ["light"]), (12, {"light": 95.0}, ["light"]), (11, {"light": 80.0}, ["light"]),
             (13, {"light": 70.0}, ["pendulum"])]
    keys = [("sweep", tuple(sorted(graph.edges)), tuple(sorted(do)), tuple(names)) for _, do, names in calls]
    out = _together(lab._sweep_batcher, list(zip(keys, calls)), call=lambda c: lab.sweep(c[0], c[1], names=c[2]))
    assert sizes == [3]
    assert lab.sweeps.computed == 3  # scene 11's light sweep once: a slider's own value does not change it
    assert out[0][0]["light"] is out[2][0]["light"]
    for (index, do, names), (result, err) in zip(calls, out):
        assert err is None
        alone = LabSweeps().sweeps(lab.model, lab.images[index:index + 1], index, do, graph, lab.specs, lab.device,
                                   names)
        for name in names:
            assert np.array_equal(result[name].values, alone[name].values)
            diff = np.abs(result[name].pictures.astype(int) - alone[name].pictures.astype(int)).max()
            assert diff <= LAB_GREY_LEVELS
            for concept, values in alone[name].cf.items():
                assert np.abs(result[name].cf[concept] - values).max() < LAB_CONCEPTS
    assert not np.array_equal(out[0][0]["light"].pictures, out[1][0]["light"].pictures)  # each its own scene


def _done_while_held(call: Callable[[], object]) -> tuple[bool, object]:
    """Whether `call`, from its own thread, finished while the model thread was held busy; and its result."""
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(call()))
    with _Gate():
        thread.start()
        thread.join(10)  # generous: a lookup takes microseconds; a model call cannot finish before the gate opens
        done = not thread.is_alive()
    thread.join(60)
    return done, out[0]


def test_a_kept_sweep_does_not_queue_for_the_model_thread_and_a_missing_one_does(service):
    """A rerun after a release asks for the sweep it already has: answered from the caller's thread, it does not
    wait behind other visitors' model calls; a sweep not yet kept is computed on the model thread."""
    first = service.sweep(5, {"thickness": 3.0}, names=["thickness"])
    done, again = _done_while_held(lambda: service.sweep(5, {"thickness": 4.5}, names=["thickness"]))
    assert done and again["thickness"] is first["thickness"]  # its own value does not change its sweep
    done, other = _done_while_held(lambda: service.sweep(5, {"thickness": 3.0, "intensity": 200.0},
                                                          names=["thickness"]))
    assert not done and other["thickness"] is not first["thickness"]  # another do() of intensity: a new sweep


def test_a_kept_lab_sweep_does_not_queue_for_the_model_thread(lab):
    name = next(iter(lab.specs))
    first = lab.sweep(2, {}, names=[name])
    done, again = _done_while_held(lambda: lab.sweep(2, {}, names=[name]))
    assert done and again[name] is first[name]


def test_a_kept_table_lab_answer_does_not_queue_for_the_model_thread():
    from explorer.services.table_lab import TableLabService

    table = TableLabService()
    first = table.what_if("adult", 7, {"age": 40.0})
    done, again = _done_while_held(lambda: table.what_if("adult", 7, {"age": 40.0}))
    assert done and again is first
    done, other = _done_while_held(lambda: table.what_if("adult", 7, {"age": 41.0}))
    assert not done and other.cf["age"] == 41.0 and first.cf["age"] == 40.0  # a new answer: the model thread's
