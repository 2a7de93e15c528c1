"""Handle strings: an array handed over as text to any process, Python or
Rust, that multiprocessing did not start (the Rust side is in
test_rust_interop.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import run_python

import ndshare


def test_named_handle_is_the_name_and_the_file_and_opens_the_same_memory(name: str) -> None:
    a = ndshare.zeros((2, 3), dtype="i4", name=name)
    dev, ino = a.segment.file_id  # type: ignore[union-attr]
    assert a.handle() == f"ndshare:named:{dev}:{ino}:{name}"
    assert a[1:, ::2].handle() == a.handle()  # the whole array, whatever the view
    b = ndshare.from_handle(a.handle())
    assert type(b) is ndshare.SharedArray and b.shape == (2, 3) and b.dtype == np.int32
    b[1, 2] = 42
    assert a[1, 2] == 42
    ro = ndshare.from_handle(a.handle(), readonly=True)
    with pytest.raises(ValueError, match="read-only"):
        ro[0, 0] = 1


def test_a_named_handle_refuses_the_array_that_took_over_its_name(name: str) -> None:
    a = ndshare.full(3, 1.0, name=name)
    handle = a.handle()
    read = "import sys, ndshare\nprint(ndshare.from_handle(sys.argv[1]).tolist())\n"
    assert run_python(read, handle).stdout == "[1.0, 1.0, 1.0]\n"
    # Another process removes the name and gives it to another array.
    run_python(
        "import sys, ndshare\nndshare.unlink(sys.argv[1])\nndshare.full(3, 2.0, name=sys.argv[1])\n",
        name,
    )
    del a
    with pytest.raises(ndshare.UnreachableError, match="the name now names another array"):
        ndshare.from_handle(handle)
    r = run_python(read, handle, check=False)
    assert r.returncode == 1
    last = r.stderr.splitlines()[-1]
    assert last.startswith("ndshare.UnreachableError") and "the name now names another array" in last, r.stderr
    # The name alone attaches whatever the name holds now.
    assert run_python(read, f"ndshare:name:{name}").stdout == "[2.0, 2.0, 2.0]\n"
    ndshare.unlink(name)
    with pytest.raises(FileNotFoundError, match=name):
        ndshare.from_handle(handle)


def test_anonymous_array_reaches_a_separate_process_by_its_handle() -> None:
    a = ndshare.zeros((4, 5), order="F")
    handle = a.handle()
    pid, fd = handle.split(":")[2:4]
    assert handle.startswith("ndshare:proc:") and int(pid) == os.getpid()
    assert int(fd) == a.segment.fd  # type: ignore[union-attr]
    r = run_python(
        "import sys, ndshare\n"
        "b = ndshare.from_handle(sys.argv[1])\n"
        "assert b.name is None and b.flags.f_contiguous, b.flags\n"
        "b[:, 1] = 7\n"
        "print(b.shape, b.dtype)\n",
        handle,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(4, 5) float64"
    want = np.zeros((4, 5))
    want[:, 1] = 7
    np.testing.assert_array_equal(a, want)


def test_a_dropped_anonymous_array_is_unreachable_by_its_old_handle() -> None:
    a = ndshare.zeros(3)
    handle = a.handle()
    del a  # the descriptor is closed, or now names another file
    r = run_python("import sys, ndshare\nndshare.from_handle(sys.argv[1])\n", handle, check=False)
    assert r.returncode == 1
    assert "UnreachableError" in r.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "results",
        "ndshare:",
        "ndshare:name:",
        "ndshare:name:a/b",
        "ndshare:proc:1:2:3",
        "ndshare:proc:1:2:3:4:5",
        "ndshare:proc:x:2:3:4",
        "ndshare:file:/dev/shm/x",
    ],
)
def test_text_that_is_no_handle_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        ndshare.from_handle(text)


def test_a_missing_name_is_file_not_found(name: str) -> None:
    with pytest.raises(FileNotFoundError, match=name):
        ndshare.from_handle(f"ndshare:name:{name}")


def test_an_array_outside_shared_memory_has_no_handle() -> None:
    with pytest.raises(ValueError, match="does not live in shared memory"):
        np.zeros(3).view(ndshare.SharedArray).handle()
