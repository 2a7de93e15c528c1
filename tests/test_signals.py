"""A creator or attacher killed at any moment leaves nothing half-made: a
name appears only once its header is complete."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

import ndshare

# Creates named arrays of varied sizes as fast as it can until killed (or,
# should the test itself die first, for 60 s and at most 2,000 arrays, so an
# orphan cannot fill /dev/shm). Each name says what the array must be:
# <prefix>-<i>-<rows>. Python raises KeyboardInterrupt on SIGINT only if
# SIGINT was not ignored when it started, and a test run started in the
# background (`make test &`, a CI job) passes SIGINT ignored to its
# children: each child sets Python's handler itself.
CREATOR = """
import signal, sys, time, ndshare
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
prefix = sys.argv[1]
print("ready", flush=True)
i = 0
deadline = time.monotonic() + 60
while i < 2000 and time.monotonic() < deadline:
    rows = 1 + (i * 7919) % 300
    ndshare.full((rows, 1024), i % 127, dtype="i8", name=f"{prefix}-{i}-{rows}")
    i += 1
"""

ATTACHER = """
import signal, sys, time, ndshare
signal.signal(signal.SIGINT, signal.default_int_handler)
print("ready", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    a = ndshare.attach(sys.argv[1], readonly=True)
    assert a.shape == (64, 64)
    del a
"""


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert p.stdout is not None and p.stdout.readline() == "ready\n"
    return p


def _kill(p: subprocess.Popen[str], sig: int) -> None:
    # Python reports a KeyboardInterrupt raised inside a finalizer (here the
    # weakref callback of a dropped array, which runs right after the unmap a
    # signal most often interrupts) as "Exception ignored" and carries on:
    # the signal is sent again until one lands in the loop itself. Either
    # way the process dies mid-loop, by that signal.
    for _ in range(50):
        p.send_signal(sig)
        try:
            p.wait(timeout=1)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        p.kill()
        p.wait()
        raise AssertionError(f"signal {sig} did not end the process")
    assert p.stdout is not None
    p.stdout.close()


def _ours(prefix: str) -> list[str]:
    """Our names in /dev/shm: `prefix` and `prefix-*` (other tests' names differ)."""
    return sorted(
        f[len("ndshare.") :]
        for f in os.listdir("/dev/shm")
        if f == f"ndshare.{prefix}" or f.startswith(f"ndshare.{prefix}-")
    )


def test_creators_killed_at_random_moments_leave_only_whole_arrays(name: str) -> None:
    rng = random.Random(8)
    prefix = name
    sigs = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
    try:
        for round_ in range(24):
            p = _start(CREATOR, f"{prefix}-r{round_}")
            time.sleep(rng.uniform(0.0, 0.08))
            _kill(p, sigs[round_ % 3])
            assert p.returncode != 0
        names = _ours(prefix)
        assert len(names) >= 5, "the creators got arrays made before being killed"
        for n in names:
            _, i, rows = n.rsplit("-", 2)
            a = ndshare.attach(n, readonly=True)  # a complete header, or FormatError fails the test
            assert a.shape == (int(rows), 1024) and a.dtype == np.int64
            del a
    finally:
        for n in _ours(prefix):
            ndshare.unlink(n)


def test_attachers_killed_at_random_moments_leave_the_array_intact(name: str) -> None:
    rng = random.Random(9)
    a = ndshare.full((64, 64), 3, dtype="i2", name=name)
    before = _ours(name)
    assert before == [name]
    for round_ in range(12):
        p = _start(ATTACHER, name)
        time.sleep(rng.uniform(0.0, 0.05))
        _kill(p, [signal.SIGTERM, signal.SIGINT, signal.SIGKILL][round_ % 3])
    b = ndshare.attach(name)
    assert int(b.sum()) == 3 * 64 * 64 and b.shape == (64, 64)
    assert _ours(name) == before, "attaching creates no file"
    del a
