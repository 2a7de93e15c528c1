"""ndshare.Barrier behaves as threading.Barrier, across real processes (fork
and spawn): arrival indices, abort, reset, timeouts that break the barrier for
every waiter, a party killed while waiting. The cases follow CPython's own
barrier tests (Lib/test/lock_tests.py, BarrierTests), with processes in
place of threads."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
from typing import Any, Callable

import numpy as np
import pytest

import ndshare

N = 3
#: Generous bound on waits that only a broken implementation reaches.
PATIENCE = 60.0

PASSED, BROKEN, ABORTED = 1, 2, 3

CONTEXTS = [pytest.param(mp.get_context("fork"), id="fork"), pytest.param(mp.get_context("spawn"), id="spawn")]


def wait_until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def run_parties(ctx: Any, target: Callable[..., None], *args: Any, n: int = N) -> None:
    """Runs `target(me, *args)` in `n` processes; each must exit cleanly."""
    procs = [ctx.Process(target=target, args=(me, *args)) for me in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(PATIENCE)
        assert p.exitcode == 0, f"a party exited with {p.exitcode}"


# Each party below writes what happened to it in `out[me]`.


def wait_return(me: int, b: ndshare.Barrier, out: ndshare.SharedArray) -> None:
    for r in range(out.shape[1]):
        out[me, r] = b.wait(PATIENCE)


def abort_one(me: int, b: ndshare.Barrier, out: ndshare.SharedArray) -> None:
    try:
        i = b.wait(PATIENCE)
        if i == N // 2:
            # The others are in the barrier when it is aborted.
            wait_until(lambda: b.n_waiting == N - 1, "the others to wait")
            b.abort()
            out[me] = ABORTED
            return
        b.wait(PATIENCE)
        out[me] = PASSED
    except threading.BrokenBarrierError:
        out[me] = BROKEN


def reset_one(me: int, b: ndshare.Barrier, out: ndshare.SharedArray) -> None:
    i = b.wait(PATIENCE)
    if i == N // 2:
        wait_until(lambda: b.n_waiting == N - 1, "the others to wait")
        b.reset()
    else:
        try:
            b.wait(PATIENCE)
            out[me, 0] = PASSED
        except threading.BrokenBarrierError:
            out[me, 0] = BROKEN
    # Usable again, by everyone.
    b.wait(PATIENCE)
    out[me, 1] = PASSED


def abort_and_reset(me: int, b: ndshare.Barrier, b2: ndshare.Barrier, out: ndshare.SharedArray) -> None:
    try:
        i = b.wait(PATIENCE)
        if i == N // 2:
            wait_until(lambda: b.n_waiting == N - 1, "the others to wait")
            b.abort()
            out[me, 0] = ABORTED
        else:
            b.wait(PATIENCE)
            out[me, 0] = PASSED
    except threading.BrokenBarrierError:
        out[me, 0] = BROKEN
    assert b.broken
    # Everyone has left the barrier before the reset, and no one enters it
    # before the reset.
    if b2.wait(PATIENCE) == N // 2:
        b.reset()
    b2.wait(PATIENCE)
    assert not b.broken
    b.wait(PATIENCE)
    out[me, 1] = PASSED


def one_is_late(me: int, b: ndshare.Barrier, out: ndshare.SharedArray, timeout: Any) -> None:
    i = b.wait(PATIENCE)
    if i == N // 2:
        # Late: arrives only once the others' timeout broke the barrier.
        wait_until(lambda: b.broken, "a timeout to break the barrier")
    try:
        if timeout is None:
            b.wait()
        else:
            b.wait(timeout)
        out[me] = PASSED
    except threading.BrokenBarrierError:
        out[me] = BROKEN


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_wait_returns_each_arrival_index_once_a_round(ctx: Any) -> None:
    b = ndshare.Barrier(N)
    out = ndshare.zeros((N, 5), dtype="i8")
    run_parties(ctx, wait_return, b, out)
    for r in range(out.shape[1]):
        assert sorted(out[:, r]) == list(range(N))
    assert b.n_waiting == 0 and not b.broken


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_abort_breaks_the_waiters_in_other_processes(ctx: Any) -> None:
    b = ndshare.Barrier(N)
    out = ndshare.zeros(N, dtype="i8")
    run_parties(ctx, abort_one, b, out)
    assert sorted(out) == [BROKEN] * (N - 1) + [ABORTED]
    assert b.broken and b.n_waiting == 0
    with pytest.raises(threading.BrokenBarrierError, match=f"barrier of {N} parties"):
        b.wait(PATIENCE)  # later waits fail at once, until reset()


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_reset_breaks_the_waiters_and_makes_it_usable(ctx: Any) -> None:
    b = ndshare.Barrier(N)
    out = ndshare.zeros((N, 2), dtype="i8")
    run_parties(ctx, reset_one, b, out)
    assert sorted(out[:, 0]) == [0] + [BROKEN] * (N - 1)
    assert out[:, 1].tolist() == [PASSED] * N
    assert not b.broken and b.n_waiting == 0


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_abort_then_reset(ctx: Any) -> None:
    b, b2 = ndshare.Barrier(N), ndshare.Barrier(N)
    out = ndshare.zeros((N, 2), dtype="i8")
    run_parties(ctx, abort_and_reset, b, b2, out)
    assert sorted(out[:, 0]) == [BROKEN] * (N - 1) + [ABORTED]
    assert out[:, 1].tolist() == [PASSED] * N


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_a_timeout_breaks_the_barrier_for_everyone(ctx: Any) -> None:
    b = ndshare.Barrier(N)
    out = ndshare.zeros(N, dtype="i8")
    run_parties(ctx, one_is_late, b, out, 0.3)
    assert out.tolist() == [BROKEN] * N
    assert b.broken
    b.reset()
    assert not b.broken and b.n_waiting == 0


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_the_default_timeout_given_at_creation(ctx: Any) -> None:
    b = ndshare.Barrier(N, timeout=0.3)
    assert b.timeout == 0.3
    out = ndshare.zeros(N, dtype="i8")
    run_parties(ctx, one_is_late, b, out, None)
    assert out.tolist() == [BROKEN] * N
    assert pickle.loads(pickle.dumps(b)).timeout == 0.3


def test_a_single_party_never_waits() -> None:
    b = ndshare.Barrier(1)
    assert b.wait() == 0 and b.wait() == 0 and b.wait(0) == 0
    assert b.parties == 1 and b.n_waiting == 0 and not b.broken


def wait_once(me: int, b: ndshare.Barrier, out: ndshare.SharedArray, timeout: Any) -> None:
    try:
        out[me] = 10 + b.wait(timeout)
    except threading.BrokenBarrierError as e:
        out[me] = BROKEN
        assert f"barrier of {b.parties} parties" in str(e)


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_the_timeout_message_says_which_barrier_and_how_many_arrived(ctx: Any) -> None:
    b = ndshare.Barrier(3)
    out = ndshare.zeros(1, dtype="i8")
    p = ctx.Process(target=wait_once, args=(0, b, out, PATIENCE))
    p.start()
    wait_until(lambda: b.n_waiting == 1, "the other party to wait")
    assert b.parties == 3 and not b.broken
    with pytest.raises(threading.BrokenBarrierError) as caught:
        b.wait(0.25)
    assert str(caught.value) == "barrier of 3 parties: 2 arrived before the timeout of 0.25 s"
    p.join(PATIENCE)
    assert p.exitcode == 0 and out[0] == BROKEN  # the other waiter broke too
    assert b.broken and b.n_waiting == 0


def test_wait_releases_other_threads_of_the_process() -> None:
    b = ndshare.Barrier(2)
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(b.wait(PATIENCE)))
    t.start()
    got.append(b.wait(PATIENCE))
    t.join(PATIENCE)
    assert sorted(got) == [0, 1]


def sleep_in_wait(me: int, b: ndshare.Barrier) -> None:
    b.wait()


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_a_party_killed_while_waiting_does_not_hang_the_others_with_a_timeout(ctx: Any) -> None:
    b = ndshare.Barrier(3)
    p = ctx.Process(target=sleep_in_wait, args=(0, b))
    p.start()
    wait_until(lambda: b.n_waiting == 1, "the party to wait")
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)
    p.join(PATIENCE)
    assert p.exitcode == -signal.SIGKILL
    # The dead party stays counted: the round still lacks one.
    assert b.n_waiting == 1
    with pytest.raises(threading.BrokenBarrierError, match="2 arrived before the timeout"):
        b.wait(0.2)
    assert b.broken
    b.reset()
    assert b.n_waiting == 0 and not b.broken


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        ndshare.Barrier(0)
    with pytest.raises(ValueError):
        ndshare.Barrier(2, timeout=-1)
    with pytest.raises(ValueError):
        ndshare.Barrier(2).wait(float("nan"))
    assert np.dtype("u8")  # the barrier's words are eight u64


def test_bare_threading_code_runs_unchanged() -> None:
    """A function written for threading.Barrier, given an ndshare.Barrier."""

    def worker(barrier: Any, results: list[Any]) -> None:
        try:
            barrier.wait(timeout=0.1)
        except threading.BrokenBarrierError:
            results.append("broken")

    results: list[Any] = []
    worker(ndshare.Barrier(2), results)
    worker(threading.Barrier(2), results)
    assert results == ["broken", "broken"]


def wait_until_interrupted(me: int, b: ndshare.Barrier, out: ndshare.SharedArray) -> None:
    # A test run started in the background (`make test &`) passes SIGINT
    # ignored to its processes, and Python then raises no KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        b.wait()
    except KeyboardInterrupt:
        out[me] = 1


@pytest.mark.parametrize("ctx", CONTEXTS)
def test_ctrl_c_takes_a_waiter_out_of_the_round_without_breaking_it(ctx: Any) -> None:
    b = ndshare.Barrier(2)
    out = ndshare.zeros(1, dtype="i8")
    p = ctx.Process(target=wait_until_interrupted, args=(0, b, out))
    p.start()
    wait_until(lambda: b.n_waiting == 1, "the party to wait")
    assert p.pid is not None
    os.kill(p.pid, signal.SIGINT)
    p.join(PATIENCE)
    assert p.exitcode == 0 and out[0] == 1
    assert b.n_waiting == 0 and not b.broken
