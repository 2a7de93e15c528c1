"""Handle strings: an array handed over as text to any process, Python or
Rust, that multiprocessing did not start (the Rust side is in
test_rust_interop.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ndshare
from conftest import run_python


def test_named_handle_is_the_name_and_opens_the_same_memory(name: str) -> None:
    a = ndshare.zeros((2, 3), dtype="i4", name=name)
    assert a.handle() == f"ndshare:name:{name}"
    assert a[1:, ::2].handle() == a.handle()  # the whole array, whatever the view
    b = ndshare.from_handle(a.handle())
    assert type(b) is ndshare.SharedArray and b.shape == (2, 3) and b.dtype == np.int32
    b[1, 2] = 42
    assert a[1, 2] == 42
    ro = ndshare.from_handle(a.handle(), readonly=True)
    with pytest.raises(ValueError, match="read-only"):
        ro[0, 0] = 1


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
    ["", "results", "ndshare:", "ndshare:name:", "ndshare:name:a/b", "ndshare:proc:1:2:3",
     "ndshare:proc:1:2:3:4:5", "ndshare:proc:x:2:3:4", "ndshare:file:/dev/shm/x"],
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
