"""Named arrays: attach from unrelated processes, unlink, read-only, no clobber,
names checked, corrupt segments refused."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from conftest import run_python

import ndshare

SHM = "/dev/shm"


def test_attach_from_separate_process_and_unlink(name: str) -> None:
    a = ndshare.zeros((3, 4), dtype="i8", name=name)
    a[:] = np.arange(12).reshape(3, 4)
    code = (
        "import sys, ndshare\n"
        "b = ndshare.attach(sys.argv[1])\n"
        "print(type(b).__name__, b.shape, b.dtype, int(b.sum()))\n"
        "b[0, 0] = 100\n"
    )
    out = run_python(code, name).stdout.strip()
    assert out == "SharedArray (3, 4) int64 66"
    assert a[0, 0] == 100
    assert a.name == name
    ndshare.unlink(name)
    assert not os.path.exists(f"{SHM}/ndshare.{name}")
    with pytest.raises(FileNotFoundError):
        ndshare.attach(name)
    a[1, 1] = 7  # the memory stays for those who map it
    assert a[1, 1] == 7


def test_named_file_is_private_to_the_user(name: str) -> None:
    ndshare.zeros(10, name=name)
    st = os.stat(f"{SHM}/ndshare.{name}")
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()
    other = name + "-m"
    try:
        ndshare.zeros(10, name=other, mode=0o640)
        assert stat.S_IMODE(os.stat(f"{SHM}/ndshare.{other}").st_mode) == 0o640
    finally:
        ndshare.unlink(other)


def test_no_clobber(name: str) -> None:
    a = ndshare.full(5, 3.0, name=name)
    # The error says how to use the array there, or how to remove it.
    hint = f'use it with `ndshare.attach("{name}")`, or remove it with `ndshare rm {name}`'
    for make in (lambda: ndshare.zeros(100, name=name), lambda: ndshare.full(100, 7.0, name=name)):
        with pytest.raises(FileExistsError) as e:
            make()
        assert hint in str(e.value), e.value
    assert (ndshare.attach(name) == 3.0).all() and (a == 3).all()
    assert ndshare.attach(name).shape == (5,)


def test_read_only_attach(name: str) -> None:
    a = ndshare.array(np.arange(6.0), name=name)
    r = ndshare.attach(name, readonly=True)
    assert not r.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        r[0] = 1
    with pytest.raises(ValueError):
        r.flags.writeable = True
    a[0] = 42  # writers are seen by the reader
    assert r[0] == 42
    # the mapping itself is read-only: a child that forces a write dies of SIGSEGV
    code = (
        "import sys, ctypes, ndshare\n"
        "r = ndshare.attach(sys.argv[1], readonly=True)\n"
        "ctypes.c_double.from_address(r.segment.data_address).value = 1.0\n"
    )
    proc = run_python(code, name, check=False)
    assert proc.returncode == -11
    assert a[0] == 42


def test_read_only_attach_of_read_only_file(name: str) -> None:
    ndshare.zeros(4, name=name, mode=0o400)
    r = ndshare.attach(name, readonly=True)
    assert (r == 0).all() and not r.flags.writeable


@pytest.mark.parametrize(
    "bad",
    ["", "a/b", "../etc", ".hidden", "x" * 248, "with space", "tab\t", "nul\0"],
)
def test_bad_names(bad: str) -> None:
    with pytest.raises(ValueError):
        ndshare.zeros(1, name=bad)
    with pytest.raises(ValueError):
        ndshare.attach(bad)


def test_missing_name() -> None:
    missing = "does-not-exist-" + os.urandom(4).hex()
    with pytest.raises(
        FileNotFoundError, match=f'no shared array named "{missing}" \\(see `ndshare list` for the named arrays\\)'
    ):
        ndshare.attach(missing)
    with pytest.raises(FileNotFoundError):
        ndshare.unlink("does-not-exist-" + os.urandom(4).hex())


def test_list_shows_named_arrays(name: str) -> None:
    ndshare.zeros((2, 3), dtype="u2", name=name)
    entries = {e.name: e for e in ndshare.list()}
    e = entries[name]
    assert e.shape == (2, 3) and e.dtype == "<u2" and e.nbytes == 12
    assert e.creator_pid == os.getpid() and e.creator_alive and e.error is None


def _write_file(name: str, data: bytes) -> str:
    path = f"{SHM}/ndshare.{name}"
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage" * 10, os.urandom(4096), os.urandom(8192), b"NDSHARE\0" + b"\0" * 5000],
    ids=["empty", "short", "random-page", "random-2pages", "magic-only"],
)
def test_garbage_segments_are_format_errors(name: str, content: bytes) -> None:
    _write_file(name, content)
    with pytest.raises(ndshare.FormatError):
        ndshare.attach(name)
    assert issubclass(ndshare.FormatError, ValueError)


def _segment_bytes(name: str) -> bytes:
    ndshare.array(np.arange(1000.0), name=name)
    with open(f"{SHM}/ndshare.{name}", "rb") as f:
        return f.read()


def test_truncated_segment_is_refused(name: str) -> None:
    good = _segment_bytes(name)
    ndshare.unlink(name)
    for cut in (4095, 4096, 4096 + 8000 - 1, len(good) - 1):
        _write_file(name, good[:cut])
        with pytest.raises(ndshare.FormatError):
            ndshare.attach(name)
        ndshare.unlink(name)


def test_future_version_is_refused(name: str) -> None:
    good = bytearray(_segment_bytes(name))
    ndshare.unlink(name)
    good[8:10] = (2).to_bytes(2, "little")
    _write_file(name, bytes(good))
    with pytest.raises(ndshare.FormatError, match="version 2"):
        ndshare.attach(name)


def test_lying_header_fields_are_refused(name: str) -> None:
    good = bytearray(_segment_bytes(name))
    ndshare.unlink(name)
    cases = {
        "shape past data": (1280, (10**6).to_bytes(8, "little")),
        "itemsize lies": (48, (4).to_bytes(8, "little")),
        "stride past data": (1288, (10**5).to_bytes(8, "little")),
        "negative stride": (1288, (-8).to_bytes(8, "little", signed=True)),
        "data length": (24, (16).to_bytes(8, "little")),
        "ndim huge": (40, (1000).to_bytes(4, "little")),
    }
    for _what, (off, patch) in cases.items():
        bad = bytearray(good)
        bad[off : off + len(patch)] = patch
        _write_file(name, bytes(bad))
        with pytest.raises(ndshare.FormatError):
            ndshare.attach(name)
        ndshare.unlink(name)


def test_dtype_descriptor_that_lies_about_itemsize(name: str) -> None:
    good = bytearray(_segment_bytes(name))
    ndshare.unlink(name)
    at = good.index(b"<f8")
    good[at : at + 3] = b"<f4"
    _write_file(name, bytes(good))
    with pytest.raises(ndshare.FormatError, match="itemsize"):
        ndshare.attach(name)
