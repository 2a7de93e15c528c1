"""Named arrays appear whole or not at all: a name is linked only once the
header and the data are final, and a failed or killed creation leaves none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any, Callable

import numpy as np
import pytest
from _procfs import SHM_DIR, shm_free_bytes

import ndshare

MiB = 1 << 20

#: The child makes a big named array whose every byte is 7, then waits to be killed.
CREATORS = {
    "full": "ndshare.full(n, 7, dtype='u1', name=name)",
    "full_like": "ndshare.full_like(np.empty(n, dtype='u1'), 7, name=name)",
    "array": "ndshare.array(np.full(n, 7, dtype='u1'), name=name)",
}

CHILD = """
import sys, time
import numpy as np, ndshare
name, n = sys.argv[1], int(sys.argv[2])
sys.stdout.write("ready\\n"); sys.stdout.flush()
{create}
time.sleep(120)
"""


def _array_bytes() -> int:
    """As large as /dev/shm allows, up to 256 MiB: the larger the array, the
    longer its data takes to write, and the surer a kill lands mid-way."""
    free = shm_free_bytes()
    for size in (256 * MiB, 128 * MiB, 64 * MiB):
        if free > 2 * size + 16 * MiB:
            return size
    pytest.skip(f"/dev/shm has {free} bytes free; this test needs 144 MiB")


def _kill_when_named(create: str, name: str, nbytes: int) -> None:
    """Starts a process that creates the array, and SIGKILLs it the moment
    the name appears in /dev/shm (or fails if the process ends first)."""
    path = f"{SHM_DIR}/ndshare.{name}"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(create=create), name, str(nbytes)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n", proc.communicate()
        deadline = time.monotonic() + 60
        while not os.path.exists(path):
            if proc.poll() is not None:
                pytest.fail(f"the creator ended ({proc.returncode}) without naming the array: {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("the creator never named the array")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("creator", sorted(CREATORS))
def test_killed_creator_leaves_no_name_or_a_whole_array(creator: str) -> None:
    nbytes = _array_bytes()
    for _ in range(3):
        name = f"test-whole-{uuid.uuid4().hex[:12]}"
        try:
            _kill_when_named(CREATORS[creator], name, nbytes)
            try:
                a = ndshare.attach(name, readonly=True)
            except FileNotFoundError:
                continue  # killed before the name was linked: nothing is left
            assert a.shape == (nbytes,) and a.dtype == np.uint8
            final = int(np.count_nonzero(a == 7))
            assert final == nbytes, f"only {final} of {nbytes} bytes were written when the name appeared"
            del a
        finally:
            try:
                ndshare.unlink(name)
            except FileNotFoundError:
                pass


FAILED_FILLS: dict[str, tuple[Callable[..., Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = {
    "string into int": (ndshare.full, np.full, (3, "abc"), {"dtype": "i8"}),
    "too large for int8": (ndshare.full, np.full, (3, 2**70), {"dtype": "i1"}),
    "wrong shape": (ndshare.full, np.full, ((2, 3), [1, 2]), {}),
    "None into int": (ndshare.full, np.full, (3, None), {"dtype": "i8"}),
    "full_like string": (ndshare.full_like, np.full_like, (np.zeros(3, "i8"), "abc"), {}),
    "full_like wrong shape": (ndshare.full_like, np.full_like, (np.zeros((2, 3)), [1, 2]), {}),
}


def _numpy_error(make: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> type[BaseException]:
    try:
        make(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - whatever numpy raises is the reference
        return type(e)
    raise AssertionError("numpy accepted it")


def _unnamed_shm_files() -> set[str]:
    """The files of /dev/shm without a name that this process holds open or
    mapped (a named array still being made is one: ``/dev/shm/#<inode>``)."""
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{SHM_DIR}/#"):
            held.add(target)
    with open("/proc/self/maps") as f:
        held.update(line.split(maxsplit=5)[5].strip() for line in f if f" {SHM_DIR}/#" in line)
    return held


@pytest.mark.parametrize("case", sorted(FAILED_FILLS))
def test_failed_fill_leaves_no_name(case: str, name: str) -> None:
    ours, numpys, args, kwargs = FAILED_FILLS[case]
    expected = _numpy_error(numpys, args, kwargs)
    before = _unnamed_shm_files()
    with pytest.raises(expected) as failure:
        ours(*args, **kwargs, name=name)
    # The failed array is kept by nothing, not even the traceback still held.
    assert failure.tb is not None and _unnamed_shm_files() == before
    assert not os.path.exists(f"{SHM_DIR}/ndshare.{name}")
    with pytest.raises(FileNotFoundError):
        ndshare.attach(name)
    # The name is free: the same creation with a valid value succeeds.
    made = ndshare.full(3, 5, dtype="i8", name=name)
    assert made.name == name
    assert (ndshare.attach(name) == 5).all()


def test_filled_named_arrays_keep_their_name(name: str) -> None:
    """Arrays published after their fill still know their name and are
    attachable with the data in place."""
    for make in (
        lambda n: ndshare.full((2, 3), 4.5, name=n),
        lambda n: ndshare.ones((2, 3), name=n, order="F"),
        lambda n: ndshare.array(np.arange(6.0).reshape(2, 3).T, name=n),
        lambda n: ndshare.ones_like(np.zeros((3, 2), order="F"), name=n),
    ):
        a = make(name)
        assert a.name == name and ndshare.from_handle(a.handle()).segment.file_id == a.segment.file_id
        b = ndshare.attach(name)
        assert b.shape == a.shape and b.strides == a.strides and (b == a).all()
        assert a.info().name == name
        ndshare.unlink(name)
