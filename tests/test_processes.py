"""Sharing across real processes: every start method, pools, queues, pipes."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing as mp
import os
import pickle
import time

import numpy as np
import pytest
from workers import digest, make_array, pipe_child, put_and_return, queue_echo, scale_in_place, zero_all

import ndshare
from ndshare import SharedArray


def test_seed_scenario(ctx: mp.context.BaseContext) -> None:
    a = ndshare.array(np.ones(10_000))
    child = ctx.Process(target=zero_all, args=(a,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert a.shape == (10_000,) and not a.any()


DTYPES = [
    "?",
    "i1",
    "u1",
    "i2",
    "u2",
    "i4",
    "u4",
    "i8",
    "u8",
    "f2",
    "f4",
    "f8",
    "g",
    "c8",
    "c16",
    "M8[ns]",
    "M8[D]",
    "m8[s]",
    "S7",
    "U5",
    ">i4",
    ">f8",
    "V6",
    [("x", "<f4"), ("y", "<i8"), ("tag", "S3")],
    np.dtype([("a", "u1"), ("b", "<f8")], align=True),
    [("pos", "<f4", (3,)), ("id", "<u2")],
]


def _sample(dtype: np.dtype, shape: tuple) -> np.ndarray:
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * dtype.itemsize, dtype=np.uint8)
    out = raw.view(dtype).reshape(shape) if dtype.itemsize else np.zeros(shape, dtype)
    if dtype.kind == "b":
        out = raw.astype(bool)[: int(np.prod(shape))].reshape(shape)
    if dtype.kind == "U":  # random code points are not valid strings
        out = np.array(["héllo", "x", "", "abcde"] * 5)[: int(np.prod(shape))].astype(dtype).reshape(shape)
    return out


@pytest.fixture(scope="module")
def spawn_pool():  # type: ignore[no-untyped-def]
    with mp.get_context("spawn").Pool(2) as pool:
        yield pool


@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_every_dtype_through_spawned_worker(spawn_pool, dt) -> None:  # type: ignore[no-untyped-def]
    dtype = np.dtype(dt)
    src = _sample(dtype, (4, 5))
    a = ndshare.array(src)
    assert a.dtype == dtype
    kind, sha, shape, strides, writeable = spawn_pool.apply(digest, (a,))
    assert kind == "SharedArray" and shape == (4, 5) and writeable
    # the worker sees exactly the parent's bytes ...
    assert sha == hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
    # ... and those are the source's values (field by field: numpy does not
    # copy the padding bytes of aligned structured dtypes)
    for field in dtype.names or [None]:
        x, y = (a, src) if field is None else (a[field], src[field])
        assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes()


def test_views_pickled_into_pool(spawn_pool) -> None:  # type: ignore[no-untyped-def]
    a = ndshare.array(np.arange(48, dtype="i8").reshape(6, 8))
    views = [a[1:], a.T, a[::2, ::-3], a[2], a.reshape(4, 12)[1:3], a[..., 5]]
    for v, (kind, sha, shape, strides, _) in zip(views, spawn_pool.map(digest, views)):
        assert kind == "SharedArray" and shape == v.shape and strides == v.strides
        assert sha == hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
    # writes through views land in the parent's array
    spawn_pool.starmap(scale_in_place, [(a[:3], 10), (a[3:], -1)])
    expected = np.arange(48).reshape(6, 8) * np.r_[[10] * 3, [-1] * 3][:, None]
    np.testing.assert_array_equal(a, expected)


def test_read_only_view_arrives_read_only(spawn_pool) -> None:  # type: ignore[no-untyped-def]
    a = ndshare.zeros(10)
    v = a[2:]
    v.flags.writeable = False
    assert spawn_pool.apply(digest, (v,))[4] is False


def test_worker_returns_new_array(spawn_pool) -> None:  # type: ignore[no-untyped-def]
    results = spawn_pool.starmap(make_array, [(1000, float(i)) for i in range(8)])
    for i, r in enumerate(results):
        assert type(r) is SharedArray and r.shape == (1000, 3) and (r == i).all()
        r += 1  # writable in the parent
        assert (r == i + 1).all()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_process_pool_executor_round_trip(method: str) -> None:
    a = ndshare.array(np.arange(10.0))
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as ex:
        pids = set(ex.map(scale_in_place, [a[:5], a[5:]], [2, 3]))
        made = ex.submit(make_array, 4, 9.0).result()
    assert os.getpid() not in pids
    np.testing.assert_array_equal(a, np.r_[np.arange(5) * 2, np.arange(5, 10) * 3])
    assert type(made) is SharedArray and (made == 9).all()


def test_queue_round_trip(ctx: mp.context.BaseContext) -> None:
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=queue_echo, args=(q_in, q_out))
    p.start()
    a = ndshare.zeros((3, 3))
    for i in range(3):
        q_in.put(a[i])
    back = [q_out.get(timeout=60) for _ in range(3)]
    q_in.put(None)
    p.join(60)
    assert p.exitcode == 0
    np.testing.assert_array_equal(a[:, 0], [1, 1, 1])
    for row in back:
        assert type(row) is SharedArray and np.shares_memory(row, a)


def test_pipe_round_trip(ctx: mp.context.BaseContext) -> None:
    parent, child_end = ctx.Pipe()
    p = ctx.Process(target=pipe_child, args=(child_end,))
    p.start()
    a = ndshare.zeros((2, 5), dtype="i4")
    parent.send(a)
    doubled = parent.recv()
    p.join(60)
    assert p.exitcode == 0
    np.testing.assert_array_equal(a, np.arange(10).reshape(2, 5))
    np.testing.assert_array_equal(doubled, np.arange(10).reshape(2, 5) * 2)
    assert type(doubled) is SharedArray


def test_one_mapping_per_segment_in_receiver(spawn_pool) -> None:  # type: ignore[no-untyped-def]
    a = ndshare.zeros(1 << 20)
    counts = spawn_pool.apply(_count_maps_of_views, ([a[i::7] for i in range(50)],))
    assert counts == 1


def _count_maps_of_views(views: list) -> int:
    return len({id(v.segment) for v in views})


def test_pickle_by_reference_reaches_anonymous_array_in_other_process() -> None:
    from conftest import run_python

    a = ndshare.array(np.arange(6.0))
    with ndshare.by_reference():
        blob = pickle.dumps(a[1::2])
    code = (
        "import pickle, sys, numpy as np\n"
        "v = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
        "print(type(v).__name__, v.tolist()); v[:] = -1\n"
    )
    out = run_python(code, blob.hex()).stdout.split()
    assert out[0] == "SharedArray"
    np.testing.assert_array_equal(a, [0, -1, 2, -1, 4, -1])


def test_child_puts_arrays_in_queue_and_returns(ctx: mp.context.BaseContext) -> None:
    q = ctx.Queue()
    p = ctx.Process(target=put_and_return, args=(q, 5))
    p.start()
    got = [q.get(timeout=60) for _ in range(5)]
    p.join(60)
    assert p.exitcode == 0
    for i, a in enumerate(got):
        assert type(a) is SharedArray and a.shape == (1000,) and (a == i).all()


def test_reference_taken_twice_is_unreachable(spawn_pool) -> None:  # type: ignore[no-untyped-def]
    from multiprocessing.reduction import ForkingPickler

    blob = bytes(ForkingPickler.dumps(ndshare.zeros(3)))
    pickle.loads(blob)
    with pytest.raises(ndshare.UnreachableError, match="unpickled twice"):
        pickle.loads(blob)


# Forking with a thread running is the point (Python 3.12+ warns of it).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_child_forked_while_offer_lock_held_can_send() -> None:
    # A fork while another thread holds the descriptor server's table lock
    # (offering, or serving a receiver) must leave a child that can offer and
    # fetch, and that holds none of the parent's offers.
    import threading
    from multiprocessing.reduction import ForkingPickler

    from ndshare import _fdserver

    a = ndshare.zeros(4)
    a[:] = [1, 2, 3, 4]
    pending = bytes(ForkingPickler.dumps(a))  # an offer the children must not keep
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            pickle.loads(bytes(ForkingPickler.dumps(a)))

    busy = threading.Thread(target=churn)
    busy.start()
    try:
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    if _fdserver.wait_until_taken(0):
                        b = pickle.loads(bytes(ForkingPickler.dumps(a)))
                        code = 0 if b.tolist() == [1.0, 2.0, 3.0, 4.0] else 2
                finally:
                    os._exit(code)
            for _ in range(3000):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.01)
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung on the descriptor server's lock")
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        stop.set()
        busy.join()
    assert pickle.loads(pending).tolist() == [1.0, 2.0, 3.0, 4.0]
