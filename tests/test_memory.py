"""Memory: nothing leaks, nothing is duplicated. Real processes, real /proc."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _procfs import ShmemWatch, holders_of, wait_until
from conftest import open_fds, pss_kib
from workers import echo, hold_on_request

import ndshare
from ndshare import _keepalive, _mapped

MiB = 1 << 20


_KILL_SCRIPT = r"""
import multiprocessing as mp, os, sys, time
import ndshare

def child(a, ready):
    a[::4096] = 2.0            # touch every page from the child too
    ready.send(True)
    time.sleep(600)

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    a = ndshare.zeros(int(sys.argv[1]) // 8)
    a[:] = 1.0
    # a Pipe, not an Event: a SIGKILLed process would leave the Event's
    # POSIX semaphore behind in /dev/shm
    ready, child_end = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(a, child_end))
    p.start()
    ready.poll(120)
    print(os.getpid(), p.pid, a.segment.fd, *a.segment.file_id, flush=True)
    time.sleep(600)
"""


def test_sigkill_of_every_holder_returns_anonymous_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    size = 256 * MiB
    script = tmp_path / "holder.py"
    script.write_text(_KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(size)], stdout=subprocess.PIPE, text=True)
    try:
        parent_pid, child_pid, fd, dev, ino = map(int, proc.stdout.readline().split())  # type: ignore[union-attr]
        # Per-file evidence, not the machine-wide Shmem level (which other
        # programs move): the memfd holds every page of the array.
        st = os.stat(f"/proc/{parent_pid}/fd/{fd}")
        assert (st.st_dev, st.st_ino) == (dev, ino)
        assert st.st_blocks * 512 >= size, f"the memfd holds {st.st_blocks * 512} bytes"
        assert holders_of((dev, ino)) == {parent_pid, child_pid}
        with ShmemWatch() as watch:
            os.kill(child_pid, signal.SIGKILL)
            os.kill(parent_pid, signal.SIGKILL)
            proc.wait(30)
            # the child is reparented and reaped by init; wait for its mapping to go
            assert wait_until(lambda: not holders_of((dev, ino)), 30), holders_of((dev, ino))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    # ... and the machine got the memory back: Shmem fell by about the
    # array's size within a second (a fall, not a level compared with one
    # read long before: other programs allocate meanwhile), allowing for a
    # quarter of it in unrelated noise.
    drop = watch.largest_drop()
    assert drop > 0.75 * size / 1024, f"Shmem fell by {drop} KiB at most; the array is {size // 1024} KiB"


def _ndshare_maps() -> int:
    with open("/proc/self/maps") as f:
        return sum("memfd:ndshare" in line or "/dev/shm/ndshare." in line for line in f)


def _ndshare_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        n += "memfd:ndshare" in target or "/dev/shm/ndshare." in target
    return n


def test_create_pickle_drop_cycles_leave_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_keepalive, "EXPORT_GRACE_SECONDS", 0.0)
    _keepalive.release_pins()  # what earlier tests pickled
    gc.collect()
    ndshare_fds = _ndshare_fds()
    fds, maps = open_fds(), _ndshare_maps()
    for i in range(2000):
        a = ndshare.full((64, 3), float(i))
        with ndshare.by_reference():
            b = pickle.loads(pickle.dumps(a[1:]))
        assert b[0, 0] == i
        del a, b
    _keepalive.pin(ndshare.zeros(1).segment)  # an expired pin is dropped by the next one
    _keepalive.release_pins()
    gc.collect()
    assert open_fds() == fds
    assert _ndshare_fds() == ndshare_fds
    assert _ndshare_maps() == maps


def _settle(pool: mp.pool.Pool) -> None:
    """Lets go of what the last round trip may still hold for a moment, then
    collects. The pool's result-handler thread drops its reference to a
    result only after it has woken the caller: once a later result has been
    delivered, it has. The descriptor server closes its duplicate just after
    the receiver has it, so a reply can overtake that close: wait for it."""
    from ndshare import _fdserver

    assert pool.apply(os.getpid) != os.getpid()  # a result that holds nothing
    _fdserver.wait_until_taken(10)
    gc.collect()


def test_pool_round_trips_leave_nothing() -> None:
    with mp.get_context("spawn").Pool(1) as pool:
        pool.apply(echo, (ndshare.zeros(1),))  # start-up
        _keepalive.release_pins()
        _settle(pool)
        fds, maps = open_fds(), _ndshare_maps()
        for i in range(2000):
            a = ndshare.full(100, float(i))
            back = pool.apply(echo, (a[::2],))
            assert back[1] == i and np.shares_memory(back, a)
            del a, back
        _settle(pool)
        assert open_fds() == fds
        assert _ndshare_maps() == maps


def test_export_pin_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    # A grace far longer than the steps between pickling and the first
    # check, so that a stall of the machine cannot expire it early.
    monkeypatch.setattr(_keepalive, "EXPORT_GRACE_SECONDS", 3.0)
    _keepalive.release_pins()
    a = ndshare.zeros(10)
    with ndshare.by_reference():
        pickle.dumps(a)
    seg_id = a.segment.file_id
    del a
    gc.collect()
    assert _mapped.lookup(seg_id, False) is not None  # pinned for the receiver
    # Then let go of, with nothing more pickled (no timing is asserted: the
    # deadline only bounds a broken implementation).
    deadline = time.monotonic() + 60
    while _mapped.lookup(seg_id, False) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        gc.collect()
    assert _mapped.lookup(seg_id, False) is None
    _keepalive.release_pins()


def test_two_workers_share_not_duplicate_512_mib() -> None:
    """PSS added by the array across the parent and two workers that read it
    all: one copy (divided among three mappers), not three."""
    size = 512 * MiB
    ctx = mp.get_context("spawn")
    links = [ctx.Pipe() for _ in range(2)]
    workers = [ctx.Process(target=hold_on_request, args=(child,)) for _, child in links]
    for w in workers:
        w.start()
    try:
        for parent_end, _ in links:
            assert parent_end.recv() == "ready"
        gc.collect()
        before = pss_kib(os.getpid()) + sum(pss_kib(w.pid) for w in workers)  # type: ignore[arg-type]
        a = ndshare.zeros(size // 8)
        a[:] = 1.0  # every page touched by the parent too
        for parent_end, _ in links:
            parent_end.send(a)
        sums = [parent_end.recv() for parent_end, _ in links]
        assert sums == [size // 8, size // 8]
        after = pss_kib(os.getpid()) + sum(pss_kib(w.pid) for w in workers)  # type: ignore[arg-type]
        for parent_end, _ in links:
            parent_end.send("drop")
    finally:
        for w in workers:
            w.join(60)
    added = after - before
    size_kib = size // 1024
    # three private copies would add 1.5 GiB; one shared copy adds 512 MiB
    assert 0.95 * size_kib < added < 1.1 * size_kib, f"PSS grew by {added} KiB for a {size_kib} KiB array"
