"""What a pickle of a SharedArray holds, by route: the data wherever it may
be stored (plain pickle, cloudpickle, joblib.dump, copy, np.save), a small
reference through the channels between processes that ndshare knows
(multiprocessing and its connections and managers, joblib's loky, Dask) and
inside ``ndshare.by_reference()``."""

from __future__ import annotations

import gc
import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import threading
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, Dict, List

import cloudpickle
import joblib
import numpy as np
import pytest
from conftest import open_fds, run_python
from joblib import Parallel, delayed
from joblib.externals.loky.backend.reduction import dumps as loky_dumps

import ndshare
from ndshare import _keepalive

# A creator that stores its arrays by each route, then exits: the array is
# anonymous, so nothing of its memory outlives it.
CREATOR = r"""
import copy, pickle, sys
import cloudpickle, joblib, numpy as np, ndshare
out = sys.argv[1]
a = ndshare.array(np.arange(24.0).reshape(4, 6))
views = {"whole": a, "every other row": a[1::2], "transpose": a.T, "0-d": a[2, 3, ...]}
with open(out + "/plain.pkl", "wb") as f:
    pickle.dump(views, f)
with open(out + "/cloudpickle.pkl", "wb") as f:
    f.write(cloudpickle.dumps(views))
with open(out + "/deepcopy.pkl", "wb") as f:
    pickle.dump(copy.deepcopy(views), f)
joblib.dump(views, out + "/joblib.pkl")
np.save(out + "/whole.npy", a)
np.save(out + "/transpose.npy", a.T)
"""

EXPECTED = np.arange(24.0).reshape(4, 6)
EXPECTED_VIEWS = {
    "whole": EXPECTED,
    "every other row": EXPECTED[1::2],
    "transpose": EXPECTED.T,
    "0-d": EXPECTED[2, 3, ...],
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files a creator wrote before it exited."""
    out = tmp_path_factory.mktemp("stored")
    run_python(CREATOR, str(out))  # returns once the creator has exited
    return out


def _load(how: str, path: Path) -> Dict[str, Any]:
    if how == "joblib.dump":
        return joblib.load(path / "joblib.pkl")  # type: ignore[no-any-return]
    name = {"pickle.dump": "plain", "cloudpickle.dumps": "cloudpickle", "copy.deepcopy": "deepcopy"}[how]
    with open(path / f"{name}.pkl", "rb") as f:
        return pickle.load(f)  # type: ignore[no-any-return]


@pytest.mark.parametrize("how", ["pickle.dump", "cloudpickle.dumps", "copy.deepcopy", "joblib.dump"])
def test_a_stored_array_loads_after_its_creator_exited(stored: Path, how: str) -> None:
    got = _load(how, stored)
    assert got.keys() == EXPECTED_VIEWS.keys()
    for key, want in EXPECTED_VIEWS.items():
        v = got[key]
        # Each view as its own value, as a plain array (as numpy.memmap pickles).
        assert type(v) is np.ndarray, (key, type(v))
        assert v.shape == want.shape and v.dtype == want.dtype, key
        np.testing.assert_array_equal(v, want)


def test_np_save_loads_after_its_creator_exited(stored: Path) -> None:
    for name, want in (("whole", EXPECTED), ("transpose", EXPECTED.T)):
        back = np.load(stored / f"{name}.npy")
        assert type(back) is np.ndarray
        np.testing.assert_array_equal(back, want)


def test_plain_pickling_pins_nothing_and_holds_no_descriptor() -> None:
    _keepalive.release_pins()  # what earlier tests sent by reference
    gc.collect()
    before = open_fds()
    for i in range(2000):
        a = ndshare.full(16, float(i))
        blob = pickle.dumps(a)
        del a
    gc.collect()
    assert open_fds() == before
    assert _keepalive.pinned() == 0
    assert pickle.loads(blob).tolist() == [1999.0] * 16


def test_inside_by_reference_a_pickle_is_a_small_reference() -> None:
    a = ndshare.zeros((4096, 1024))  # 32 MiB
    for v in (a, a[::2], a.T, a[10:20, 5]):
        assert len(pickle.dumps(v)) > v.nbytes  # the data, outside the block
        with ndshare.by_reference():
            blobs = [pickle.dumps(v), cloudpickle.dumps(v)]
        for blob in blobs:
            assert len(blob) < 1024, len(blob)
            w = pickle.loads(blob)
            assert type(w) is ndshare.SharedArray and (w.shape, w.strides) == (v.shape, v.strides)
            assert np.shares_memory(w, a)
    with ndshare.by_reference():
        with ndshare.by_reference():
            pass
        assert len(pickle.dumps(a)) < 1024  # still inside after a nested block
    assert len(pickle.dumps(a[:1])) > 1024


def test_by_reference_is_per_thread() -> None:
    a = ndshare.zeros(100_000)
    sizes: List[int] = []
    started, done = threading.Event(), threading.Event()

    def other() -> None:
        started.wait(60)
        sizes.append(len(pickle.dumps(a)))  # while the main thread is inside the block
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with ndshare.by_reference():
        started.set()
        assert done.wait(60)
        sizes.append(len(pickle.dumps(a)))
    t.join()
    assert sizes[0] > a.nbytes and sizes[1] < 1024


def test_multiprocessing_and_loky_picklers_write_a_small_reference() -> None:
    a = ndshare.zeros(1 << 24, dtype="i8")
    for v in (a, a[::3], a.reshape(-1, 1024).T):
        for dumps in (ForkingPickler.dumps, loky_dumps):
            blob = bytes(dumps(v))
            assert len(blob) < 1024, (dumps, len(blob))
            back = pickle.loads(blob)  # read back at once: no offer left untaken
            assert type(back) is ndshare.SharedArray and back.segment.file_id == a.segment.file_id


def _write_and_report(a: ndshare.SharedArray, i: int) -> int:
    a[i] = i + 1
    return os.getpid()


def test_joblib_loky_workers_write_into_the_array() -> None:
    a = ndshare.zeros((8, 100_000), dtype="i8")  # 6.4 MB: a copy would show
    pids = Parallel(n_jobs=2, backend="loky")(delayed(_write_and_report)(a, i) for i in range(8))
    assert os.getpid() not in pids
    np.testing.assert_array_equal(a, np.repeat(np.arange(1, 9)[:, None], 100_000, axis=1))


def _client(address: Any, authkey: bytes) -> None:
    with multiprocessing.connection.Client(address, authkey=authkey) as conn:
        v = conn.recv()
        v[:] = -1
        conn.send((type(v).__name__, v.shape))


def test_a_connection_carries_a_reference(ctx: mp.context.BaseContext) -> None:
    a = ndshare.array(np.arange(10.0))
    with multiprocessing.connection.Listener(authkey=b"ndshare-test") as listener:
        p = ctx.Process(target=_client, args=(listener.address, b"ndshare-test"))
        p.start()
        with listener.accept() as conn:
            conn.send(a[::2])
            assert conn.recv() == ("SharedArray", (5,))
        p.join(60)
    assert p.exitcode == 0
    np.testing.assert_array_equal(a, [-1, 1, -1, 3, -1, 5, -1, 7, -1, 9])


def _take_from_queue(q: Any) -> None:
    v = q.get(timeout=60)
    v[:] = 7
    q.put(type(v).__name__)


def test_a_manager_queue_carries_a_reference() -> None:
    ctx = mp.get_context("spawn")
    a = ndshare.zeros(100_000)
    with ctx.Manager() as manager:
        q = manager.Queue()
        q.put(a[1:])
        p = ctx.Process(target=_take_from_queue, args=(q,))
        p.start()
        p.join(60)
        assert p.exitcode == 0
        assert q.get(timeout=60) == "SharedArray"
    assert a[0] == 0 and (a[1:] == 7).all()


# A name whose file is replaced by something that is no array: the receiver
# still reaches the array through the sender's descriptor.
RECEIVER = r"""
import pickle, sys
v = pickle.loads(bytes.fromhex(sys.argv[1]))
print(type(v).__name__, v.tolist())
v[0] = 42
"""


@pytest.mark.parametrize("what", ["garbage", "empty", "fifo"])
def test_a_reference_reaches_its_array_past_whatever_now_holds_its_name(name: str, what: str) -> None:
    a = ndshare.full(3, 5.0, name=name)
    with ndshare.by_reference():
        blob = pickle.dumps(a)
    ndshare.unlink(name)
    path = f"/dev/shm/ndshare.{name}"
    if what == "fifo":
        os.mkfifo(path, 0o600)
    else:
        with open(path, "wb") as f:
            f.write(os.urandom(4096) if what == "garbage" else b"")
    try:
        out = run_python(RECEIVER, blob.hex(), timeout=60)
    finally:
        os.unlink(path)
    assert out.stdout.strip().split(maxsplit=1) == ["SharedArray", "[5.0, 5.0, 5.0]"]
    assert a[0] == 42
