"""joblib (loky), multiprocessing.Pool and ProcessPoolExecutor: a SharedArray
goes to a worker and comes back as a reference, never as its data (a plain
pickle or cloudpickle elsewhere stores the data: test_pickle_routes.py).

Evidence, per pool: the bytes each pickler writes; the file behind the
array the worker sees; and memory. A worker that reads every page of an
array it received by reference *shares* those pages with the parent: its
PSS grows by half the array and the parent's shrinks by half. Had it
received a copy, the parent's PSS would not move.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import os
import pickle
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Tuple

import cloudpickle
import numpy as np
import pytest
from conftest import pss_kib
from joblib import Parallel, delayed
from joblib.externals.loky.backend.reduction import dumps as loky_dumps

import ndshare

MIB = 1024 * 1024
#: Large enough that the halving of PSS stands out of every other change.
BIG = 128 * MIB
RUNNERS = [
    "joblib",
    "pool-fork",
    "pool-spawn",
    "pool-forkserver",
    "executor-fork",
    "executor-spawn",
    "executor-forkserver",
]


def in_worker(runner: str, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in one worker process of the given kind of pool."""
    if runner == "joblib":
        # Two jobs, so that joblib sends the task to a loky worker process.
        return Parallel(n_jobs=2)([delayed(func)(*args)])[0]
    kind, method = runner.split("-")
    ctx = mp.get_context(method)
    if kind == "pool":
        with ctx.Pool(1) as pool:
            return pool.apply(func, args)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        return ex.submit(func, *args).result()


def read_all_pages(a: ndshare.SharedArray, parent: int) -> Tuple[Any, ...]:
    """In a worker: PSS of itself and of the parent around reading all of ``a``."""
    me0, parent0 = pss_kib(os.getpid()), pss_kib(parent)
    total = int(a.sum())
    me1, parent1 = pss_kib(os.getpid()), pss_kib(parent)
    a[-1] = 42  # and the parent sees it
    return (type(a).__name__, a.segment.file_id, total, me1 - me0, parent0 - parent1, os.getpid())


def make_array(n: int) -> Tuple[ndshare.SharedArray, Tuple[int, int], int]:
    """In a worker: a new array, dropped by the worker as soon as it is sent."""
    b = ndshare.array(np.arange(n, dtype="i8"))
    return b, b.segment.file_id, os.getpid()


def _by_reference(dumps: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def dumps_by_reference(v: Any) -> Any:
        with ndshare.by_reference():
            return dumps(v)

    return dumps_by_reference


def test_every_pool_pickler_writes_a_small_reference() -> None:
    # The pools' own picklers, and any pickler inside ndshare.by_reference().
    a = ndshare.zeros(BIG // 8, dtype="i8")
    for v in (a, a[::3], a.reshape(-1, 1024).T):
        for dumps in (ForkingPickler.dumps, loky_dumps, _by_reference(pickle.dumps), _by_reference(cloudpickle.dumps)):
            blob = bytes(dumps(v))
            assert len(blob) < 1024, (dumps, len(blob))
            # Read back at once: the same memory (and no offer left untaken).
            back = pickle.loads(blob)
            assert type(back) is ndshare.SharedArray and back.segment.file_id == a.segment.file_id
            assert (back.shape, back.strides) == (v.shape, v.strides)


@pytest.mark.parametrize("runner", RUNNERS)
def test_argument_is_shared_not_copied(runner: str) -> None:
    a = ndshare.ones(BIG // 8, dtype="i8")  # written: every page resident in the parent
    name, file_id, total, me_grew, parent_shrank, pid = in_worker(runner, read_all_pages, a, os.getpid())
    assert pid != os.getpid()
    assert (name, file_id, total) == ("SharedArray", a.segment.file_id, BIG // 8)
    assert a[-1] == 42 and a[-2] == 1
    half = BIG // 2 // 1024
    assert abs(me_grew - half) < half // 4, (me_grew, half)
    assert abs(parent_shrank - half) < half // 4, (parent_shrank, half)


@pytest.mark.parametrize("runner", RUNNERS)
def test_returned_new_array_arrives_intact(runner: str) -> None:
    n = 4 * MIB // 8
    b, worker_file, pid = in_worker(runner, make_array, n)
    # The pool is gone (or, for joblib, the worker dropped the array): the
    # parent maps the very memory the worker made, with the data intact.
    assert pid != os.getpid()
    assert type(b) is ndshare.SharedArray and b.segment.file_id == worker_file
    np.testing.assert_array_equal(b, np.arange(n, dtype="i8"))


def fill_row(a: ndshare.SharedArray, i: int) -> int:
    a[i] = i + 1
    return os.getpid()


def test_joblib_many_tasks_write_one_array() -> None:
    a = ndshare.zeros((64, 1000), dtype="i4")
    pids = Parallel(n_jobs=2)(delayed(fill_row)(a, i) for i in range(64))
    assert os.getpid() not in pids
    np.testing.assert_array_equal(a, np.repeat(np.arange(1, 65, dtype="i4")[:, None], 1000, axis=1))
