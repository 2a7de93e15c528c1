"""Synchronization across real processes: the lock of every array (robust to
a holder killed with SIGKILL), the read/write lock, Barrier, Event, atomics."""

from __future__ import annotations

import multiprocessing as mp
import os
import pathlib
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from typing import Any

import numpy as np
import pytest
from conftest import run_python

import ndshare
from ndshare import atomic

FORK = mp.get_context("fork")
SPAWN = mp.get_context("spawn")

#: Generous bound on waits that only a broken implementation reaches.
PATIENCE = 60.0


def wait_until(cond: Any, what: str) -> None:
    """Polls `cond` until true; fails the test after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def wait_until_asleep(pid: int, what: str) -> None:
    """Waits until the main thread of ``pid`` sleeps on a futex: blocked in
    a lock or event wait (ndshare's waits wake every 50 ms to check the
    holder, so a few polls may find it awake)."""
    wchan = pathlib.Path(f"/proc/{pid}/wchan")
    wait_until(lambda: "futex" in wchan.read_text(), what)


def join_all(procs: list[Any]) -> None:
    for p in procs:
        p.join(PATIENCE)
        assert p.exitcode == 0, f"worker exited with {p.exitcode}"


# ---------------------------------------------------------------- the lock


def locked_increments(a: ndshare.SharedArray, n: int) -> None:
    for _ in range(n):
        with a.lock():
            a[0] += 1  # a read and a write: only the lock keeps them together


def test_locked_increments_are_exact() -> None:
    a = ndshare.zeros(1, dtype="i8")
    procs = [FORK.Process(target=locked_increments, args=(a, 20_000)) for _ in range(8)]
    for p in procs:
        p.start()
    join_all(procs)
    assert a[0] == 8 * 20_000
    assert not a.lock().locked()


def hold_until(a: ndshare.SharedArray, mode: str, held: Any, release: Any) -> None:
    lock = {"lock": a.lock, "read": a.read_lock, "write": a.write_lock}[mode]()
    with lock:
        held.set()
        assert release.wait(PATIENCE)


def test_views_and_pickled_copies_share_the_lock() -> None:
    a = ndshare.zeros((4, 6), dtype="f4")
    with a[1:, ::2].lock():
        assert a.lock().locked() and a.T.lock().locked()
        # The same thread asking again is a clear error, not a hang.
        with pytest.raises(RuntimeError, match="holds this lock already"):
            a.reshape(24).lock().acquire()
        with ndshare.by_reference():
            b = pickle.loads(pickle.dumps(a[2]))
        assert b.lock().locked()
    assert not a.lock().locked()
    assert a.lock().owner is None


def test_timeout_and_try() -> None:
    a = ndshare.zeros(3)
    held, release = ndshare.Event(), ndshare.Event()
    p = SPAWN.Process(target=hold_until, args=(a, "lock", held, release))
    p.start()
    try:
        assert held.wait(PATIENCE)
        assert a.lock().owner == p.pid  # a single-threaded process: its main thread's id is its pid
        with pytest.raises(TimeoutError):
            with a.lock(timeout=0.2):
                pass
        lock = a.lock()
        assert lock.acquire(timeout=0.05) is False
        assert lock.acquire(blocking=False) is False
        assert lock.acquire(timeout=0) is False
        with pytest.raises(RuntimeError, match="does not hold"):
            lock.release()
        with pytest.raises(ValueError):
            a.lock(timeout=-1)
    finally:
        release.set()
    join_all([p])
    with a.lock(timeout=5):
        assert a.lock().owner == threading.get_native_id()


def hold_and_die(a: ndshare.SharedArray, mode: str, held: Any) -> None:
    lock = {"lock": a.lock, "read": a.read_lock, "write": a.write_lock}[mode]()
    lock.acquire()
    a[0] = -1  # mid-section: half-updated data
    held.set()
    time.sleep(PATIENCE)


def kill_holder(a: ndshare.SharedArray, mode: str) -> int:
    held = ndshare.Event()
    p = FORK.Process(target=hold_and_die, args=(a, mode, held))
    p.start()
    assert held.wait(PATIENCE)
    os.kill(p.pid, signal.SIGKILL)
    p.join(PATIENCE)
    assert p.exitcode == -signal.SIGKILL
    assert p.pid is not None
    return p.pid


def test_killed_holder_next_locker_recovers_and_is_told() -> None:
    a = ndshare.zeros(2, dtype="i8")
    dead = kill_holder(a, "lock")
    assert a.lock().locked() and a.lock().owner == dead
    lock = a.lock(timeout=PATIENCE)
    with pytest.warns(ndshare.LockOwnerDied, match=f"thread {dead}") as caught:
        with lock:
            assert a[0] == -1  # what the dead holder left
            assert lock.owner == threading.get_native_id()
            a[0] = 0  # repaired
    warning = caught[0].message
    assert isinstance(warning, ndshare.LockOwnerDied)
    assert warning.lock is lock and warning.previous_owner == dead  # type: ignore[attr-defined]
    # The lock works on, cleanly, here and in other processes.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with a.lock(timeout=5):
            pass
    locked_increments(a, 10)
    procs = [FORK.Process(target=locked_increments, args=(a, 100)) for _ in range(2)]
    for p in procs:
        p.start()
    join_all(procs)
    assert a[0] == 210


def test_owner_died_as_an_error_still_holds_the_lock() -> None:
    a = ndshare.zeros(2, dtype="i8")
    kill_holder(a, "lock")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ndshare.LockOwnerDied)
        with pytest.raises(ndshare.LockOwnerDied) as info:
            with a.lock(timeout=PATIENCE):
                raise AssertionError("the body must not run")
    held = info.value.lock  # type: ignore[attr-defined]
    assert held.owner == threading.get_native_id()  # held by the caller
    held.release()
    assert not a.lock().locked()


def take_lock_with_owner_died_as_error(a: ndshare.SharedArray) -> None:
    warnings.simplefilter("error", ndshare.LockOwnerDied)
    with a.lock(timeout=PATIENCE):
        pass


def test_owner_died_raised_in_a_worker_reaches_the_parent_as_itself() -> None:
    # A worker that turned the warning into an error sends it back through
    # the pool: it pickles as ndshare.LockOwnerDied, without the lock (held
    # in the worker), with the dead holder's thread id.
    a = ndshare.zeros(2, dtype="i8")
    dead = kill_holder(a, "lock")
    with SPAWN.Pool(1) as pool:
        with pytest.raises(ndshare.LockOwnerDied, match=f"thread {dead}") as info:
            pool.apply(take_lock_with_owner_died_as_error, (a,))
    assert info.value.lock is None  # type: ignore[attr-defined]
    assert info.value.previous_owner == dead  # type: ignore[attr-defined]


def test_killed_writer_is_reported_to_the_next_reader_and_dead_reader_cleared() -> None:
    a = ndshare.zeros(2, dtype="i8")
    kill_holder(a, "write")
    with pytest.warns(ndshare.LockOwnerDied):
        with a.read_lock(timeout=PATIENCE):
            assert a[0] == -1
    # A reader killed while reading does not block writers forever.
    kill_holder(a, "read")
    assert a.read_lock().locked()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with a.write_lock(timeout=PATIENCE):
            assert not a.read_lock().locked()


def test_blocked_wait_releases_the_gil_and_yields_to_ctrl_c(name: str) -> None:
    a = ndshare.zeros(1, name=name)
    with a.lock():
        # Another thread of this process runs while one waits for the lock.
        waiter_done = threading.Event()

        def waiter() -> None:
            with a.lock(timeout=PATIENCE):
                pass
            waiter_done.set()

        t = threading.Thread(target=waiter)
        t.start()
        # If the waiting thread kept the GIL, this loop could not run until
        # its wait timed out, and it would be over by the end of the loop.
        for _ in range(200):
            sum(range(1000))
            time.sleep(0.001)
        assert t.is_alive() and not waiter_done.is_set()
        # Ctrl-C ends a wait in another process with KeyboardInterrupt. (The
        # child sets Python's SIGINT handler itself: it would inherit SIGINT
        # ignored from a test run started in the background.)
        code = (
            "import signal, sys, ndshare\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "a = ndshare.attach(sys.argv[1])\n"
            "try:\n"
            "    print('waiting', flush=True)\n"
            "    a.lock().acquire()\n"
            "except KeyboardInterrupt:\n"
            "    sys.exit(7)\n"
        )
        with subprocess.Popen([sys.executable, "-c", code, name], stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None and child.stdout.readline() == "waiting\n"
            wait_until_asleep(child.pid, "the child to sleep on the lock")
            child.send_signal(signal.SIGINT)
            assert child.wait(PATIENCE) == 7
    t.join(PATIENCE)
    assert waiter_done.is_set()


def test_header_mapped_read_only_cannot_lock(name: str) -> None:
    from ndshare._array import view_of_segment
    from ndshare._ndshare import Segment

    a = ndshare.zeros(4, dtype="i8", name=name)
    fd = os.open(f"{ndshare._ndshare.SHM_DIR}/ndshare.{name}", os.O_RDONLY)
    try:
        seg = Segment.from_fd(fd, readonly=True)
    finally:
        os.close(fd)
    ro = view_of_segment(seg, np.dtype("i8"), (4,), (8,), 0, True)
    for make in (ro.lock, ro.read_lock, ro.write_lock):
        with pytest.raises(PermissionError, match="header read-only"):
            make()
    # A read-only attach that could map the header writable locks fine.
    with ndshare.attach(name, readonly=True).lock():
        assert a.lock().locked()


def test_results_that_are_not_shared_have_no_lock() -> None:
    plain = np.zeros(3).view(ndshare.SharedArray)  # the type, without shared memory
    with pytest.raises(TypeError, match="not in shared memory"):
        plain.lock()


# ------------------------------------------------------ the read/write lock


def read_together(a: ndshare.SharedArray, inside: ndshare.Barrier, leave: ndshare.Barrier) -> None:
    with a.read_lock(timeout=PATIENCE):
        atomic.add(a, 0, 1)
        inside.wait(PATIENCE)  # both readers hold their read lock here at once
        leave.wait(PATIENCE)


def try_read(a: ndshare.SharedArray, slot: int, timeout: float) -> None:
    try:
        with a.read_lock(timeout=timeout):
            a[slot] = 1
    except TimeoutError:
        a[slot] = 2


def test_readers_run_together_and_a_writer_excludes_them() -> None:
    a = ndshare.zeros(4, dtype="i8")
    inside, leave = ndshare.Barrier(3), ndshare.Barrier(3)
    readers = [SPAWN.Process(target=read_together, args=(a, inside, leave)) for _ in range(2)]
    for p in readers:
        p.start()
    inside.wait(PATIENCE)
    assert a[0] == 2 and a.read_lock().locked()
    with pytest.raises(TimeoutError):
        with a.write_lock(timeout=0.2):
            pass
    leave.wait(PATIENCE)
    join_all(readers)
    with a.write_lock(timeout=PATIENCE):
        # A writer holds it: readers wait, and time out.
        p = FORK.Process(target=try_read, args=(a, 1, 0.2))
        p.start()
        join_all([p])
        assert a[1] == 2
        blocked = FORK.Process(target=try_read, args=(a, 2, PATIENCE))
        blocked.start()
        assert blocked.pid is not None
        wait_until_asleep(blocked.pid, "the reader to wait for the writer")
        assert a[2] == 0  # still waiting
    join_all([blocked])
    assert a[2] == 1


# ------------------------------------------------------------------ atomics


def atomic_increments(a: ndshare.SharedArray, n: int) -> None:
    for _ in range(n):
        atomic.add(a, 1, 1)


def test_atomic_increments_are_exact() -> None:
    a = ndshare.zeros(3, dtype="u4")
    procs = [FORK.Process(target=atomic_increments, args=(a, 20_000)) for _ in range(8)]
    for p in procs:
        p.start()
    join_all(procs)
    assert a.tolist() == [0, 160_000, 0]


def histogram_part(values: ndshare.SharedArray, hist: ndshare.SharedArray, part: int, parts: int) -> None:
    n = len(values)
    chunk = values[part * n // parts : (part + 1) * n // parts]
    for start in range(0, len(chunk), 1 << 20):
        atomic.add(hist, chunk[start : start + (1 << 20)], 1)


def test_histogram_by_four_processes_equals_bincount() -> None:
    rng = np.random.default_rng(2024)
    values = ndshare.array(rng.integers(0, 1000, size=10**7, dtype=np.uint16))
    hist = ndshare.zeros(1000, dtype="i8")
    procs = [FORK.Process(target=histogram_part, args=(values, hist, i, 4)) for i in range(4)]
    for p in procs:
        p.start()
    join_all(procs)
    np.testing.assert_array_equal(hist, np.bincount(values, minlength=1000))


@pytest.mark.parametrize("dtype", ["i4", "i8", "u4", "u8"])
def test_every_operation(dtype: str) -> None:
    a = ndshare.zeros(5, dtype=dtype)
    assert atomic.add(a, 0, 7) == 0
    assert atomic.sub(a, -5, 2) == 7
    assert atomic.max(a, 0, 9) == 5
    assert atomic.min(a, 0, 3) == 9
    assert atomic.exchange(a, 0, 4) == 3
    assert atomic.store(a, 0, 6) is None
    assert atomic.load(a, 0) == 6
    assert atomic.compare_exchange(a, 0, 5, 1) == 6 and a[0] == 6
    assert atomic.compare_exchange(a, 0, 6, 1) == 6 and a[0] == 1
    info = np.iinfo(dtype)
    atomic.store(a, 1, info.max)
    atomic.add(a, 1, 1)  # wraps, as numpy's integers do
    assert a[1] == info.min
    # The vectorized forms, with repeated indices, like np.add.at.
    b = ndshare.zeros(4, dtype=dtype)
    ref = np.zeros(4, dtype=dtype)
    idx = np.array([3, 0, 3, 3, 1])
    assert atomic.add(b, idx, 2) is None
    np.add.at(ref, idx, 2)
    np.testing.assert_array_equal(b, ref)
    atomic.max(b, [0, 1], [5, 1])
    atomic.min(b, [3], 4)
    atomic.sub(b, [2, 2], [0, 0])
    assert b.tolist() == [5, 2, 0, 4]
    np.testing.assert_array_equal(atomic.exchange(b, [0, 3], [8, 9]), [5, 4])
    np.testing.assert_array_equal(atomic.load(b, np.array([[0, 3], [1, 1]])), [[8, 9], [2, 2]])
    np.testing.assert_array_equal(atomic.compare_exchange(b, [0, 3], [8, 0], [1, 1]), [8, 9])
    assert b.tolist() == [1, 2, 0, 9]
    atomic.store(b, [2], 3)
    assert b[2] == 3


def test_views_and_several_dimensions() -> None:
    a = ndshare.zeros((3, 4), dtype="i8")
    t = a.T[1:]  # a strided view: shape (3, 3)
    assert atomic.add(t, (0, 2), 5) == 0 and a[2, 1] == 5
    atomic.add(a, (np.array([0, 0, 2]), np.array([1, 1, -1])), np.array([1, 2, 3]))
    assert a[0, 1] == 3 and a[2, 3] == 3
    atomic.add(a, ([1], [0, 1, 2]), 1)  # index arrays broadcast
    assert a[1].tolist() == [1, 1, 1, 0]
    with pytest.raises(IndexError):
        atomic.add(a, 1, 1)  # one index for two dimensions
    # Pickled views in another process update the same elements.
    p = SPAWN.Process(target=atomic_increments, args=(a[2], 50))
    p.start()
    join_all([p])
    assert a[2, 1] == 55


def test_refusals_are_clear() -> None:
    a = ndshare.zeros(8, dtype="i8")
    with pytest.raises(TypeError, match="int32, int64"):
        atomic.add(ndshare.zeros(4, dtype="f8"), 0, 1)
    with pytest.raises(TypeError, match="int32, int64"):
        atomic.add(ndshare.zeros(4, dtype=">i8"), 0, 1)
    with pytest.raises(TypeError, match="not shared"):
        atomic.add(np.zeros(4, dtype="i8"), 0, 1)
    with pytest.raises(TypeError, match="not shared"):
        atomic.add(a + 1, 0, 1)
    with pytest.raises(TypeError, match="shared numpy arrays"):
        atomic.add([1, 2], 0, 1)  # type: ignore[arg-type]
    misaligned = a.view(np.uint8)[1:33].view(np.int64)
    with pytest.raises(TypeError, match="misaligned"):
        atomic.add(misaligned, 0, 1)
    ro = a[:]
    ro.flags.writeable = False
    with pytest.raises(TypeError, match="read-only"):
        atomic.add(ro, 0, 1)
    with pytest.raises(TypeError):
        atomic.add(a, 0, 1.5)
    with pytest.raises(TypeError, match="integers"):
        atomic.add(a, [0, 1], [1.5, 2.5])
    with pytest.raises(OverflowError):
        atomic.add(ndshare.zeros(2, dtype="u4"), 0, -1)
    with pytest.raises(OverflowError):
        atomic.add(ndshare.zeros(2, dtype="u4"), [0], [2**40])
    with pytest.raises(IndexError):
        atomic.add(a, 8, 1)
    with pytest.raises(IndexError):
        atomic.add(a, [0, 1, 8], 1)  # checked before any change
    with pytest.raises(IndexError, match="boolean"):
        atomic.add(a, np.ones(8, dtype=bool), 1)
    assert not a.any()


# ----------------------------------------------------------- Barrier, Event


def barrier_rounds(b: ndshare.Barrier, board: ndshare.SharedArray, me: int, seen: ndshare.SharedArray) -> None:
    for r in range(board.shape[0]):
        board[r, me] = r + 1
        b.wait(PATIENCE)
        # Everyone wrote round r before anyone passed the barrier.
        seen[me, r] = int((board[r] == r + 1).all())
        b.wait(PATIENCE)


def test_barrier_across_spawned_processes() -> None:
    parties, rounds = 3, 20
    b = ndshare.Barrier(parties)
    board = ndshare.zeros((rounds, parties), dtype="i4")
    seen = ndshare.zeros((parties, rounds), dtype="i4")
    procs = [SPAWN.Process(target=barrier_rounds, args=(b, board, i, seen)) for i in (1, 2)]
    for p in procs:
        p.start()
    barrier_rounds(b, board, 0, seen)
    join_all(procs)
    assert seen.sum() == parties * rounds
    assert b.n_waiting == 0 and b.parties == 3
    with pytest.raises(threading.BrokenBarrierError, match="1 arrived before the timeout of 0.05 s"):
        b.wait(timeout=0.05)
    assert b.n_waiting == 0 and b.broken
    with pytest.raises(ValueError):
        ndshare.Barrier(0)


def wait_for_event(e: ndshare.Event, out: ndshare.SharedArray, slot: int) -> None:
    out[slot] = 1 + int(e.wait(PATIENCE))


def test_event_across_spawned_processes_and_plain_pickle() -> None:
    e = ndshare.Event()
    out = ndshare.zeros(3, dtype="i4")
    procs = [SPAWN.Process(target=wait_for_event, args=(e, out, i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        assert p.pid is not None
        wait_until_asleep(p.pid, "a worker to wait for the event")
    assert not out.any() and not e.is_set()
    e.set()
    join_all(procs)
    assert out.tolist() == [2, 2, 0]
    e.clear()
    assert not e.is_set() and e.wait(timeout=0.01) is False
    # Plain pickle (no descriptor passing) reaches it while this process lives.
    code = "import pickle, sys; e = pickle.loads(bytes.fromhex(sys.argv[1])); e.set()"
    run_python(code, pickle.dumps(e).hex())
    assert e.wait(PATIENCE) and e.is_set()


def test_primitive_segments_are_checked() -> None:
    from ndshare._ndshare import SegmentBarrier, SegmentEvent

    with pytest.raises(TypeError, match="barrier"):
        SegmentBarrier(ndshare.Event()._array.segment)
    with pytest.raises(TypeError, match="event"):
        SegmentEvent(ndshare.zeros(8, dtype="u8").segment)


# ------------------------------------------- the protocol, from C, as documented


@pytest.fixture(scope="module")
def c_locker(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/c/lock_protocol.c: the lock written from docs/format.md alone."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on PATH to build tests/c/lock_protocol.c")
    exe = tmp_path_factory.mktemp("c") / "lock_protocol"
    src = pathlib.Path(__file__).parent / "c" / "lock_protocol.c"
    subprocess.run([cc, "-O2", "-Wall", "-Werror", "-o", str(exe), str(src)], check=True)
    return str(exe)


def test_c_program_following_the_documented_protocol_interoperates(c_locker: str, name: str) -> None:
    a = ndshare.zeros(2, dtype="i8", name=name)
    with (
        subprocess.Popen([c_locker, name, "20000"], stdout=subprocess.PIPE, text=True) as c1,
        subprocess.Popen([c_locker, name, "20000"], stdout=subprocess.PIPE, text=True) as c2,
    ):
        procs = [FORK.Process(target=locked_increments, args=(a, 20_000)) for _ in range(2)]
        for p in procs:
            p.start()
        join_all(procs)
        outs = [c.communicate(timeout=PATIENCE)[0] for c in (c1, c2)]
    assert (c1.returncode, c2.returncode, outs) == (0, 0, ["0\n", "0\n"])
    assert a[0] == 80_000

    # A C holder killed: Python recovers and is told.
    with subprocess.Popen([c_locker, name, "0", "hold"], stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        assert a.lock().owner == holder.pid
        holder.kill()
    with pytest.warns(ndshare.LockOwnerDied):
        with a.lock(timeout=PATIENCE):
            assert a[1] == -1
            a[1] = 0
    # A Python holder killed: C recovers and says so.
    kill_holder(a, "lock")  # which left a[0] == -1
    done = subprocess.run([c_locker, name, "1"], capture_output=True, text=True, timeout=PATIENCE, check=True)
    assert done.stdout == "1\n" and a[0] == 0 and not a.lock().locked()


def test_benchmark_script_runs() -> None:
    """benches/bench_sync.py at its smallest, so that it cannot rot. Its own
    checks (no lost update, every histogram count) run; no timing is
    asserted."""
    script = pathlib.Path(__file__).parent.parent / "benches" / "bench_sync.py"
    out = subprocess.run(
        [sys.executable, str(script), "--smoke"], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| operation")]
    assert len(rows) == 11
    assert any("multiprocessing.Lock" in r for r in rows) and any("vectorized" in r for r in rows)


def test_copies_of_a_barrier_or_event_are_the_same_primitive() -> None:
    import copy

    e = ndshare.Event()
    b = ndshare.Barrier(1)
    for c in (copy.copy(e), copy.deepcopy(e), copy.deepcopy({"k": [e]})["k"][0]):
        c.set()
        assert e.is_set()
        e.clear()
        assert not c.is_set()
    for d in (copy.copy(b), copy.deepcopy(b)):
        assert d.parties == 1 and d.wait() == 0
